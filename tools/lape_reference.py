#!/usr/bin/env python3
"""LAPE's selection of language-specific neurons, ported to numpy from the reference code
(RUCAIBox/Language-Specific-Neurons, identify.py: Tang et al., ACL 2024), run on a sweep's extract
fragments and compared with its sweep.h5.

Usage: lape_reference.py SWEEP_DIR [--sweep FILE]   (the thresholds come from the config inside sweep.h5)

Per checkpoint: activation_probs[layer, unit, language] = over_zero / n (the counts each extract
fragment stores under lape/); entropy of the probabilities normalised across languages (0·log 0 = 0,
a never-active unit normalises to 0); units with no language above the filter_rate quantile of all
probabilities get infinite entropy; the round(top_rate · units) lowest-entropy units are selected
(equal entropies by flat index: the reference's torch.topk leaves their order open); a selected unit
is specific to each language whose probability exceeds the activation_bar_ratio quantile. Quantiles
are torch.kthvalue(round(count · ratio)) with Python's round. Prints one line per checkpoint; exits 1
on any difference from sweep.h5's activation_probability or language_specific.
"""
import argparse
import os
import sys

import h5py
import numpy as np
import yaml


def fragment_name(task_id):
    safe = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
    return "+".join("".join(chr(b) if b in safe else "%%%02X" % b for b in part.encode()) for part in task_id.split("/")) + ".h5"


def kthvalue(values, k):
    """torch.kthvalue: the k-th smallest (1-based)."""
    return np.sort(values, kind="stable")[min(max(k, 1), values.size) - 1]


def activation(n, over_zero, top_rate, filter_rate, activation_bar_ratio):
    """The reference's `activation()`: over_zero [layers, units, languages], n [languages]."""
    num_layers, intermediate_size, _ = over_zero.shape
    activation_probs = over_zero / n
    with np.errstate(invalid="ignore", divide="ignore"):
        normed = activation_probs / activation_probs.sum(axis=-1, keepdims=True)
    normed[np.isnan(normed)] = 0
    with np.errstate(divide="ignore"):
        log_probs = np.where(normed > 0, np.log(np.where(normed > 0, normed, 1)), 0)
    entropy = -np.sum(normed * log_probs, axis=-1)
    flattened_probs = activation_probs.flatten()
    top_prob_value = kthvalue(flattened_probs, round(len(flattened_probs) * filter_rate))
    top_position = (activation_probs > top_prob_value).sum(axis=-1)
    entropy[top_position == 0] = np.inf
    flattened_entropy = entropy.flatten()
    count = round(len(flattened_entropy) * top_rate)
    index = np.lexsort((np.arange(flattened_entropy.size), flattened_entropy))[:count]
    row_index, col_index = index // intermediate_size, index % intermediate_size
    selected_probs = activation_probs[row_index, col_index].T   # languages × selected
    activation_bar = kthvalue(flattened_probs, round(len(flattened_probs) * activation_bar_ratio))
    specific = np.zeros((over_zero.shape[2], num_layers * intermediate_size), dtype=np.int32)
    lang, which = np.nonzero(selected_probs > activation_bar)
    specific[lang, index[which]] = 1
    return activation_probs, specific


def main():
    p = argparse.ArgumentParser()
    p.add_argument("directory")
    p.add_argument("--sweep", help="sweep.h5 to check (default DIRECTORY/sweep.h5)")
    a = p.parse_args()
    f = h5py.File(a.sweep or os.path.join(a.directory, "sweep.h5"), "r")
    cfg = (yaml.safe_load(f["config_text"].asstr()[()]) or {}).get("lape", {}) or {}
    top_rate = float(cfg.get("top_rate", 0.01))
    filter_rate = float(cfg.get("filter_rate", 0.95))
    bar_ratio = float(cfg.get("activation_bar_ratio", 0.95))
    checkpoints, languages = list(f["checkpoint"].asstr()[:]), list(f["language"].asstr()[:])
    failures = 0
    for ci, ck in enumerate(checkpoints):
        counts, tokens = [], []
        for lang in languages:
            with h5py.File(os.path.join(a.directory, "fragments", fragment_name(f"extract/{ck}/{lang}")), "r") as x:
                counts.append(x["lape/active_count"][:])
                tokens.append(int(x["lape/tokens"][0]))
        over_zero = np.stack(counts, axis=-1).astype(np.float64)   # layers × units × languages
        probs, specific = activation(np.array(tokens, dtype=np.float64), over_zero, top_rate, filter_rate, bar_ratio)
        want_probs = np.moveaxis(probs, -1, 0).reshape(len(languages), -1)
        got_probs, got_specific = f["activation_probability"][ci], f["language_specific"][ci]
        same_probs = np.array_equal(got_probs, want_probs)
        same_specific = np.array_equal(got_specific, specific)
        per_language = specific.sum(axis=1).tolist()
        print(f"{ck}: {'ok' if same_probs and same_specific else 'MISMATCH'} — language-specific units per language "
              f"{dict(zip(languages, per_language))}")
        if not same_probs:
            print(f"MISMATCH activation_probability {ck}: {int((got_probs != want_probs).sum())} values differ")
        if not same_specific:
            print(f"MISMATCH language_specific {ck}: {int((got_specific != specific).sum())} units differ")
        failures += (not same_probs) + (not same_specific)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
