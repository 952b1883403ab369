#!/usr/bin/env python3
"""What bf16 changes in the science: the default sweep's last checkpoint run twice, weights in
fp32 and in bf16 (`dtype:` in the config), then compared.

  - hidden states: `xlsweep extract` of 64 held-out verses per language in both precisions;
    relative error per layer (max |bf16 − fp32| / max |fp32|, and RMS ratio);
  - language-ID probe accuracy per layer (sweep.h5 `probe_accuracy`, mean over seeds);
  - experts: overlap of the top-k units by AP (k = 100 and 500) per (language, concept) with ≥
    min_positives, and the largest AP change.

Usage: python3 tools/precision_study.py [--xlsweep .build/release/xlsweep] [--checkpoint step3000]
       [--out out/precision]   (needs data/demo: tools/demo.sh or tools/build_data.py builds it)
Prints a Markdown table for BENCHMARKS.md.
"""
import argparse
import json
import os
import re
import subprocess
import sys

import h5py
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def config_for(dtype: str, checkpoint: str, out: str) -> str:
    """configs/demo.yaml with one checkpoint, its own output directory and `dtype`."""
    with open(os.path.join(ROOT, "configs", "demo.yaml")) as f:
        text = f.read()
    lines, keep = [], True
    for line in text.splitlines():
        if line.startswith("checkpoints:"):
            keep = False
            lines.append(line)
            continue
        if not keep and line.startswith("  - "):
            if f"name: {checkpoint}," in line:
                lines.append(line.replace("../", ROOT + "/"))
            continue
        keep = True
        if line.startswith("output:"):
            line = f"output: {out}/{dtype}"
        elif line.startswith("data:"):
            line = f"data: {ROOT}/data/demo"
        elif line.startswith("name:"):
            line = f"name: precision-{dtype}\ndtype: {dtype}"
        lines.append(line)
    path = os.path.join(out, f"{dtype}.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def run(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"precision_study: {' '.join(cmd)} failed:\n{r.stderr}")
    return r.stdout


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--xlsweep", default=os.path.join(ROOT, ".build", "release", "xlsweep"))
    p.add_argument("--checkpoint", default="step3000")
    p.add_argument("--out", default=os.path.join(ROOT, "out", "precision"))
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)

    results = {}
    for dtype in ("fp32", "bf16"):
        cfg = config_for(dtype, a.checkpoint, a.out)
        run([a.xlsweep, "run", cfg, "--workers", "2"])
        results[dtype] = h5py.File(os.path.join(a.out, dtype, "sweep.h5"), "r")

    # Hidden states of held-out verses in both precisions.
    m = re.search(rf"name: {a.checkpoint}, path: \.\./(\S+)\}}", open(os.path.join(ROOT, "configs", "demo.yaml")).read())
    model = os.path.join(ROOT, m.group(1))
    texts = []
    for lang in json.load(open(os.path.join(ROOT, "data", "demo", "manifest.json")))["languages"]:
        with open(os.path.join(ROOT, "data", "demo", f"{lang}.jsonl")) as f:
            texts += [json.loads(l)["text"] for l in f.readlines()[-64:]]
    with open(os.path.join(a.out, "verses.jsonl"), "w") as f:
        f.writelines(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts)
    states = {}
    for dtype in ("fp32", "bf16"):
        h5 = os.path.join(a.out, f"hidden-{dtype}.h5")
        run([a.xlsweep, "extract", "--model", model, "--input", os.path.join(a.out, "verses.jsonl"), "--sites", "hidden.*",
             "--dtype", dtype, "--out", h5])
        with h5py.File(h5, "r") as f:
            states[dtype] = {k: f["activations"][k][...] for k in f["activations"].keys()}

    fp32, bf16 = results["fp32"], results["bf16"]
    print(f"Checkpoint {a.checkpoint} of the bundled series, {len(texts)} held-out verses; `xlsweep` fp32 vs bf16.\n")
    print("| layer | hidden max-abs rel. error | hidden RMS rel. error | probe accuracy fp32 | probe accuracy bf16 |")
    print("|---:|---:|---:|---:|---:|")
    acc32, acc16 = fp32["probe_accuracy"][0].mean(axis=-1), bf16["probe_accuracy"][0].mean(axis=-1)
    for layer in range(acc32.shape[0]):
        x, y = states["fp32"][f"hidden.{layer}"], states["bf16"][f"hidden.{layer}"]
        maxrel = np.abs(y - x).max() / np.abs(x).max()
        rms = np.sqrt(((y - x) ** 2).mean() / (x ** 2).mean())
        print(f"| {layer} | {maxrel:.2e} | {rms:.2e} | {acc32[layer]:.4f} | {acc16[layer]:.4f} |")

    ap32, ap16 = fp32["expert_ap"][0], bf16["expert_ap"][0]      # [language, concept, unit]
    pos = fp32["positives"][0]
    units = ap32.shape[-1]
    print(f"\nExperts over {units} MLP units, (language, concept) pairs with AP computed:\n")
    print("| top-k | pairs | mean overlap | min overlap |")
    print("|---:|---:|---:|---:|")
    for k in (100, 500):
        overlaps = []
        for li in range(ap32.shape[0]):
            for ci in range(ap32.shape[1]):
                if pos[li, ci] <= 0 or np.isnan(ap32[li, ci]).all():
                    continue
                top32 = set(np.argsort(-ap32[li, ci], kind="stable")[:k])
                top16 = set(np.argsort(-ap16[li, ci], kind="stable")[:k])
                overlaps.append(len(top32 & top16) / k)
        print(f"| {k} | {len(overlaps)} | {np.mean(overlaps):.4f} | {np.min(overlaps):.4f} |")
    valid = ~np.isnan(ap32)
    print(f"\nLargest |AP(bf16) − AP(fp32)| over all units and pairs: {np.abs(ap16 - ap32)[valid].max():.2e}; "
          f"mean {np.abs(ap16 - ap32)[valid].mean():.2e}.")


if __name__ == "__main__":
    main()
