#!/usr/bin/env python3
"""Compare hidden states written by `xlsweep extract --out FILE.h5` with transformers on the same
model and texts: per site, max |ours − theirs| / max |theirs| and the RMS ratio.

Usage: python3 tools/compare_hidden.py --model DIR --input TEXTS.txt --h5 OURS.h5 [--dtype bf16|fp32]
(the texts one per line, as given to extract; the model loads with `dtype` in transformers).
"""
import argparse

import h5py
import numpy as np
import torch
import transformers


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--h5", required=True)
    p.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    a = p.parse_args()
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    model = transformers.AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype).eval()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_file=f"{a.model}/tokenizer.json")
    texts = [t for t in open(a.input, encoding="utf-8").read().split("\n") if t]
    with h5py.File(a.h5, "r") as f:
        offsets = f["offsets"][...]
        ours = {k: f["activations"][k][...] for k in f["activations"]}
    theirs = {k: [] for k in ours}
    with torch.inference_mode():
        for t in texts:
            ids = tok(t)["input_ids"]
            h = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
            for k in ours:
                theirs[k].append(h[int(k.split(".")[1])][0].float().numpy())
    for k in sorted(ours, key=lambda s: int(s.split(".")[1])):
        y = np.concatenate(theirs[k])
        x = ours[k]
        assert x.shape == y.shape, (k, x.shape, y.shape, offsets)
        print(f"{k}: max-abs rel. error {np.abs(x - y).max() / np.abs(y).max():.2e}, "
              f"RMS rel. error {np.sqrt(((x - y) ** 2).mean() / (y ** 2).mean()):.2e} over {x.shape[0]} tokens")


if __name__ == "__main__":
    main()
