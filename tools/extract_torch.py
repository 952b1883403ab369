#!/usr/bin/env python3
"""The transformers side of BENCHMARKS.md's whole-process extract: load a checkpoint, tokenize
one text per line with its tokenizer.json, run the base model in batches (padded on the right,
attention mask set) and write the last hidden state of every real token to an .npy file, as
`xlsweep extract --sites hidden.L --out F.h5` does. Time it whole (`/usr/bin/time`).

Usage: python3 tools/extract_torch.py --model DIR --input TEXTS.txt --out OUT.npy [--batch-size 8]
"""
import argparse

import numpy as np
import torch
import transformers


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--batch-size", type=int, default=8)
    a = p.parse_args()
    model = transformers.AutoModel.from_pretrained(a.model, dtype=torch.float32).eval()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_file=f"{a.model}/tokenizer.json")
    texts = [t for t in open(a.input, encoding="utf-8").read().split("\n") if t]
    rows = []
    with torch.inference_mode():
        for b in range(0, len(texts), a.batch_size):
            ids = [tok(t)["input_ids"] for t in texts[b:b + a.batch_size]]
            width = max(map(len, ids))
            x = torch.tensor([i + [0] * (width - len(i)) for i in ids])
            mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
            h = model(input_ids=x, attention_mask=mask).last_hidden_state
            rows += [h[r, :len(i)].numpy() for r, i in enumerate(ids)]
    np.save(a.out, np.concatenate(rows))
    print(f"wrote {a.out}: {len(texts)} sequences, {sum(len(r) for r in rows)} tokens")


if __name__ == "__main__":
    main()
