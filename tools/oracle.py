#!/usr/bin/env python3
"""An independent check of a merged sweep: recompute its results with numpy and scikit-learn.

Usage: oracle.py SWEEP_DIR [--sweep FILE]

From the activations stored in the sweep's extract fragments (SWEEP_DIR/fragments) and the data set
the config names (config_text inside sweep.h5), this recomputes, without any of xlsweep's code:

- the language-ID probe per (checkpoint, layer, seed): the split (a port of the specified seeded
  stratified split: SplitMix64, Fisher-Yates per class), StandardScaler + LogisticRegression(C) fitted
  on the training rows, accuracy on the held-out rows;
- per (checkpoint, language, concept): the positives (from the data set's concept lists), every MLP
  unit's average_precision_score, on_p50 / on_p90 (numpy's linear percentiles over positives),
  off_mean (mean over negatives), and whether `experts` are the top K by AP (ties by unit index);
- per checkpoint: expert overlap and its hypergeometric chance level (overall and per block),
  cross-language AP and its label-permutation baseline (the specified SplitMix64 draws);
- the control units, bootstrap intervals and shared/exclusive histogram;
- the logit lens (tools/oracle_lens.py): token attribution, lens tokens, masses and accuracy from
  the checkpoint's weights and tokenizer;

and compares each with sweep.h5. Prints one line per check and exits 1 if any disagrees.
"""
import argparse
import hashlib
import json
import os
import sys
import warnings

import h5py
import numpy as np
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_lens  # noqa: E402
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.preprocessing import StandardScaler

MASK = (1 << 64) - 1


class SplitMix64:
    """Steele, Lea & Flood 2014, as DESIGN.md specifies the sweep's streams."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def task_seed(sweep_seed, task_id):
    """First 8 bytes (big-endian) of SHA-256 of "xlsweep/<sweep seed>/<task id>"."""
    return int.from_bytes(hashlib.sha256(f"xlsweep/{sweep_seed}/{task_id}".encode()).digest()[:8], "big")


def fragment_name(task_id):
    """Task id → fragment file: components joined by '+', bytes outside [A-Za-z0-9._-] as %XX."""
    safe = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
    return "+".join("".join(chr(b) if b in safe else "%%%02X" % b for b in part.encode()) for part in task_id.split("/")) + ".h5"


def stratified_split(labels, fraction, seed):
    rng = SplitMix64(seed)
    test = []
    for c in sorted(set(labels.tolist())):
        rows = [i for i in range(len(labels)) if labels[i] == c]
        for i in range(len(rows) - 1, 0, -1):
            j = rng.next() % (i + 1)
            rows[i], rows[j] = rows[j], rows[i]
        t = int(np.floor(fraction * len(rows) + 0.5))   # Swift's .rounded(): half away from zero
        t = min(max(t, 1), len(rows) - 1) if len(rows) >= 2 else 0
        test += rows[:t]
    return np.array(sorted(test), dtype=np.int64)


class Ranking:
    """Every unit's ranking of one sentence pool (scores [sentences, units]), made once and used for
    any labels: AP as scikit-learn's average_precision_score defines it, Σ over distinct thresholds
    of ΔR·P, vectorised over units in numpy."""

    def __init__(self, scores):
        self.scores = scores
        self.order = np.argsort(-scores, axis=0, kind="stable")
        ranked = np.take_along_axis(scores, self.order, axis=0)
        n = scores.shape[0]
        # The last row of each run of equal scores ends a threshold.
        self.last = np.ones_like(ranked, dtype=bool)
        self.last[:-1] = ranked[:-1] != ranked[1:]
        rows = np.arange(n)[:, None]
        marked = np.where(self.last, rows, -1)
        previous = np.maximum.accumulate(np.vstack([np.full((1, scores.shape[1]), -1), marked[:-1]]), axis=0)
        self.previous = previous
        self.rank = rows + 1.0

    def average_precision(self, labels, checks=None):
        y = labels.astype(np.float64)[self.order]
        tps = np.cumsum(y, axis=0)
        before = np.where(self.previous >= 0, np.take_along_axis(tps, np.clip(self.previous, 0, None), axis=0), 0.0)
        total = tps[-1]
        ap = np.sum(np.where(self.last, (tps - before) / total * (tps / self.rank), 0.0), axis=0)
        if checks is not None:
            for u in range(0, self.scores.shape[1], max(1, self.scores.shape[1] // 7)):
                checks.close("numpy AP = average_precision_score", ap[u], average_precision_score(labels, self.scores[:, u]), atol=1e-12)
        return ap


class Checks:
    def __init__(self):
        self.failures = []
        self.count = 0

    def close(self, name, got, want, atol, rtol=0.0):
        got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
        self.count += 1
        both_nan = np.isnan(got) & np.isnan(want)
        bad = ~both_nan & ~(np.abs(got - want) <= atol + rtol * np.abs(want))
        if got.shape != want.shape or bad.any():
            where = np.argwhere(bad)[:3].tolist() if got.shape == want.shape else "shape"
            detail = f"{int(bad.sum())} of {bad.size} differ, e.g. at {where}" if got.shape == want.shape else f"shapes {got.shape} vs {want.shape}"
            if got.shape == want.shape and bad.any():
                i = tuple(np.argwhere(bad)[0])
                detail += f": sweep.h5 {got[i]!r}, recomputed {want[i]!r}"
            self.failures.append(f"{name}: {detail}")

    def true(self, name, ok, detail=""):
        self.count += 1
        if not ok:
            self.failures.append(f"{name}: {detail}")


def control_units(experts, n_layers, width, seed):
    """Random units matched to the experts layer by layer: per layer in order, every non-expert unit
    in ascending order keys on the stream's next value; the smallest (key, unit) are taken."""
    rng, chosen, expert_set = SplitMix64(seed), [], set(int(x) for x in experts)
    for layer in range(n_layers):
        lo, hi = layer * width, (layer + 1) * width
        wanted = sum(1 for x in experts if lo <= x < hi)
        keyed = [(rng.next(), u) for u in range(lo, hi) if u not in expert_set]
        chosen += [u for _, u in sorted(keyed)[:wanted]]
    return sorted(chosen)


def bootstrap(series, seed, resamples=1000):
    """95% percentile bootstrap of each series' mean, one index stream shared by the series."""
    rng, n = SplitMix64(seed), len(series[0])
    means = [[] for _ in series]
    for _ in range(resamples):
        idx = [min(n - 1, int(((rng.next() >> 11) * 2.0 ** -53) * n)) for _ in range(n)]
        for m, s in enumerate(series):
            total = 0.0
            for i in idx:
                total += s[i]
            means[m].append(total / n)
    return [(np.nan, np.nan) if not np.all(np.isfinite(m)) else tuple(np.percentile(m, [2.5, 97.5])) for m in means]


def check_controls(f, checks, sweep_seed, ck, ci, ki, li, concept, lang, experts, n_layers, languages):
    """The cell's control draws (matched, disjoint from the experts, the specified seeds) and the
    shares of experts and controls with their bootstrap intervals."""
    units = f["control_units"][ci, ki, li]
    width = f["unit"].shape[0] // n_layers
    name = f"{ck}/{concept}/{lang}"
    for d in range(units.shape[0]):
        got = units[d][units[d] >= 0]
        want = control_units(experts, n_layers, width, task_seed(sweep_seed, f"generate/{name}/control/{d}"))
        checks.true(f"control_units {name}/{d}", np.array_equal(got, want), f"sweep.h5 {got[:5].tolist()}…, recomputed {want[:5]}…")
        checks.true(f"control disjoint {name}/{d}", not set(got.tolist()) & set(experts.tolist()), "a control unit is an expert")
        checks.true(f"control per-layer counts {name}/{d}",
                    np.array_equal(np.bincount(got // width, minlength=n_layers), np.bincount(experts // width, minlength=n_layers)),
                    "the control's units per layer differ from the experts'")
    english = languages.index("en") if "en" in languages else None
    arms = {"experts": (f["generation_language"][ci, ki, li], f["generation_concept_present"][ci, ki, li]),
            "controls": (f["control_generation_language"][ci, ki, li].reshape(-1), f["control_generation_concept_present"][ci, ki, li].reshape(-1)),
            "unforced": (f["unforced_generation_language"][ci], f["unforced_generation_concept_present"][ci, ki])}
    for a, (arm, (out, present)) in enumerate(arms.items()):
        if len(out) == 0 or np.all(out == -2):
            checks.true(f"generation_share {name}/{arm} not run", np.isnan(f["generation_share"][ci, ki, li, a]).all(), "a share without samples")
            continue
        series = [[1.0 if o == li else 0.0 for o in out],
                  [(1.0 if o == english else 0.0) if english is not None else np.nan for o in out],
                  [float(p) for p in present]]
        bounds = bootstrap(series, task_seed(sweep_seed, f"bootstrap/{name}/{arm}"))
        share = [sum(s) / len(s) for s in series]
        checks.close(f"generation_share {name}/{arm}", f["generation_share"][ci, ki, li, a], np.array(share), atol=1e-12)
        checks.close(f"generation_share_interval {name}/{arm}", f["generation_share_interval"][ci, ki, li, a], np.array(bounds), atol=1e-12)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("directory")
    p.add_argument("--sweep", help="sweep.h5 to check (default DIRECTORY/sweep.h5)")
    p.add_argument("--checkpoints", help="comma-separated checkpoint names to check (default: all)")
    a = p.parse_args()
    path = a.sweep or os.path.join(a.directory, "sweep.h5")
    f = h5py.File(path, "r")
    config_text = f["config_text"].asstr()[()]
    cfg = yaml.safe_load(config_text)
    config_path = json.load(open(os.path.join(a.directory, "run.json")))["config_path"]
    base = os.path.dirname(config_path)
    data_dir = cfg["data"] if os.path.isabs(cfg["data"]) else os.path.normpath(os.path.join(base, cfg["data"]))
    frag = os.path.join(a.directory, "fragments")
    checkpoints = list(f["checkpoint"].asstr()[:])
    languages = list(f["language"].asstr()[:])
    concepts = list(f["concept"].asstr()[:])
    sweep_seed = int(cfg.get("seed", 0))
    probe_cfg = cfg.get("probe", {}) or {}
    test_fraction = float(probe_cfg.get("test_fraction", 0.2))
    c_value = float(probe_cfg.get("c", 1.0))
    seeds = int(probe_cfg.get("seeds", 3))
    max_iter = int(probe_cfg.get("max_iterations", 200))
    exp_cfg = cfg.get("expertise", {}) or {}
    k = int(exp_cfg.get("k", 500))
    min_pos = int(exp_cfg.get("min_positives", 10))
    permutations = int((cfg.get("alignment", {}) or {}).get("permutations", 20))
    checks = Checks()

    pools, probe_texts = {}, {}
    for lang in languages:
        rows = [json.loads(line) for line in open(os.path.join(data_dir, f"{lang}.jsonl"), encoding="utf-8") if line.strip()]
        pools[lang] = [r.get("concepts", []) for r in rows if r["split"] == "concept"]
        probe_texts[lang] = [r["text"] for r in rows if r["split"] == "probe"]

    accuracy = f["probe_accuracy"][:]
    ap_h5, p50_h5, p90_h5, off_h5 = (f[n][:] for n in ("expert_ap", "expert_on_p50", "expert_on_p90", "expert_off_mean"))
    experts_h5, positives_h5 = f["experts"][:], f["positives"][:]
    L, C = len(languages), len(concepts)
    for ci, ck in enumerate(checkpoints):
        if a.checkpoints and ck not in a.checkpoints.split(","):
            continue
        ex = {lang: h5py.File(os.path.join(frag, fragment_name(f"extract/{ck}/{lang}")), "r") for lang in languages}
        n_layers = sum(1 for name in ex[languages[0]]["pooled"])
        # Probes: every layer, every seed.
        for layer in range(accuracy.shape[1]):
            x = np.concatenate([ex[lang]["probe"][f"hidden.{layer}"][:] for lang in languages]).astype(np.float64)
            y = np.concatenate([np.full(ex[lang]["probe"][f"hidden.{layer}"].shape[0], i) for i, lang in enumerate(languages)])
            base_seed = task_seed(sweep_seed, f"probe/{ck}/{layer}")
            for s in range(seeds):
                test = stratified_split(y, test_fraction, (base_seed + s) & MASK)
                probe_fragment = h5py.File(os.path.join(frag, fragment_name(f"probe/{ck}/{layer}")), "r")
                checks.true(f"probe split {ck}/{layer}/seed {s}", np.array_equal(probe_fragment["test_rows"][s], test),
                            "the held-out rows are not the specified stratified split")
                train = np.setdiff1d(np.arange(len(y)), test)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    scaler = StandardScaler().fit(x[train])
                    model = LogisticRegression(C=c_value, max_iter=max_iter).fit(scaler.transform(x[train]), y[train])
                acc = float((model.predict(scaler.transform(x[test])) == y[test]).mean())
                # Two optimisers stop at slightly different points: allow two held-out rows.
                checks.close(f"probe_accuracy {ck}/layer {layer}/seed {s}", accuracy[ci, layer, s], acc, atol=2.0 / len(test) + 1e-12)
        # Expertise: per language, per concept, every unit.
        units_per_lang, unit_ap, rankings = {}, {}, {}
        for li, lang in enumerate(languages):
            pooled = np.concatenate([ex[lang]["pooled"][f"blocks.{l}.mlp_post"][:] for l in range(n_layers)], axis=1).astype(np.float64)
            width = ex[lang]["pooled"]["blocks.0.mlp_post"].shape[1]
            index = ex[lang]["sentence_index"][:]
            units_per_lang[lang] = (pooled, index, width)
            rankings[lang] = Ranking(pooled)
            for ki, concept in enumerate(concepts):
                labels = np.array([concept in pools[lang][i] for i in index])
                pos = int(labels.sum())
                checks.true(f"positives {ck}/{lang}/{concept}", positives_h5[ci, li, ki] == pos, f"sweep.h5 {positives_h5[ci, li, ki]}, data {pos}")
                name = f"{ck}/{lang}/{concept}"
                if pos < min_pos or pos == len(labels):
                    checks.true(f"skipped {name}", np.isnan(ap_h5[ci, li, ki]).all() and (experts_h5[ci, li, ki] == -1).all(),
                                "a concept below min_positives must be NaN with no experts")
                    continue
                ap = rankings[lang].average_precision(labels, checks)
                unit_ap[(lang, ki)] = ap
                checks.close(f"expert_ap {name}", ap_h5[ci, li, ki], ap, atol=1e-6)
                positives = np.sort(pooled[labels], axis=0)
                checks.close(f"expert_on_p50 {name}", p50_h5[ci, li, ki], np.percentile(positives, 50, axis=0), atol=1e-6, rtol=1e-6)
                checks.close(f"expert_on_p90 {name}", p90_h5[ci, li, ki], np.percentile(positives, 90, axis=0), atol=1e-6, rtol=1e-6)
                checks.close(f"expert_off_mean {name}", off_h5[ci, li, ki], pooled[~labels].mean(axis=0), atol=1e-6, rtol=1e-6)
                # Top K by AP, ties by unit index (a stable sort of -AP).
                want = np.argsort(-ap, kind="stable")[:k]
                got = experts_h5[ci, li, ki]
                same = np.array_equal(got[: len(want)], want) and np.all(got[len(want):] == -1)
                if not same and len(set(got.tolist())) == len(got) and np.all(got >= 0):
                    # Units whose APs agree to within rounding may be ordered either way: rank by rank the same AP.
                    same = np.all(np.abs(ap[got[: len(want)]] - ap[want]) <= 1e-12)
                checks.true(f"experts {name}", same, f"sweep.h5 {got[:5].tolist()}…, recomputed {want[:5].tolist()}…")
        # Alignment from the experts (checked above) and the recomputed per-unit AP.
        overlap_h5, chance_h5 = f["overlap"][ci], f["chance_overlap"][ci]
        cross_h5, base_h5 = f["cross_ap"][ci], f["cross_ap_baseline"][ci]
        per_layer_h5, chance_layer_h5 = f["overlap_per_layer"][ci], f["chance_overlap_per_layer"][ci]
        align_seed = task_seed(sweep_seed, f"alignment/{ck}")
        for ki, concept in enumerate(concepts):
            want = {n: np.full((L, L), np.nan) for n in ("overlap", "chance", "cross", "base")}
            want_layer, want_chance_layer = np.full((n_layers, L, L), np.nan), np.full((n_layers, L, L), np.nan)
            exp_sets = [experts_h5[ci, li, ki][experts_h5[ci, li, ki] >= 0] for li in range(L)]
            null_cache = {}
            for la in range(L):
                ea = exp_sets[la]
                if len(ea) == 0:
                    continue
                for lb in range(L):
                    eb = exp_sets[lb]
                    if len(eb) == 0:
                        continue
                    pooled_b, index_b, width = units_per_lang[languages[lb]]
                    labels_b = np.array([concept in pools[languages[lb]][i] for i in index_b])
                    shared = np.intersect1d(ea, eb)
                    want["overlap"][la, lb] = len(shared) / k
                    layer_a, layer_b, layer_s = ea // width, eb // width, shared // width
                    for l in range(n_layers):
                        want_layer[l, la, lb] = np.sum(layer_s == l) / k
                        want_chance_layer[l, la, lb] = np.sum(layer_a == l) * np.sum(layer_b == l) / width / k
                    want["chance"][la, lb] = want_chance_layer[:, la, lb].sum()
                    want["cross"][la, lb] = unit_ap[(languages[lb], ki)][ea].mean()
                    # Label-permutation baseline: the target's positive count, positives drawn by the
                    # specified partial Fisher-Yates (one stream per concept and target language).
                    key = ki * L + lb
                    if key not in null_cache:
                        rng = SplitMix64((align_seed + key) & MASK)
                        draws = []
                        n, npos = len(labels_b), int(labels_b.sum())
                        for _ in range(permutations):
                            idx = list(range(n))
                            for i in range(npos):
                                j = i + rng.next() % (n - i)
                                idx[i], idx[j] = idx[j], idx[i]
                            lab = np.zeros(n, dtype=bool)
                            lab[idx[:npos]] = True
                            draws.append(lab)
                        null_cache[key] = [rankings[languages[lb]].average_precision(lab) for lab in draws]
                    means = [null[ea].mean() for null in null_cache[key]]
                    want["base"][la, lb] = float(np.mean(means))
            checks.close(f"overlap {ck}/{concept}", overlap_h5[ki], want["overlap"], atol=1e-6)
            checks.close(f"chance_overlap {ck}/{concept}", chance_h5[ki], want["chance"], atol=1e-6)
            checks.close(f"overlap_per_layer {ck}/{concept}", per_layer_h5[ki], want_layer, atol=1e-6)
            checks.close(f"chance_overlap_per_layer {ck}/{concept}", chance_layer_h5[ki], want_chance_layer, atol=1e-6)
            checks.close(f"cross_ap {ck}/{concept}", cross_h5[ki], want["cross"], atol=1e-6)
            checks.close(f"cross_ap_baseline {ck}/{concept}", base_h5[ki], want["base"], atol=1e-6)
        # Shared and exclusive units: the languages above LAPE's activation bar (the activation_bar_ratio
        # quantile of every activation probability as the reference takes it: torch.kthvalue at
        # Python's round(count · ratio)), counted per block.
        if "language_count_histogram" in f:
            prob = f["activation_probability"][ci]                      # [language, unit]
            bar_ratio = float((cfg.get("lape", {}) or {}).get("activation_bar_ratio", 0.95))
            flat = np.sort(prob.reshape(-1))
            bar = float(flat[min(max(round(len(flat) * bar_ratio), 1), len(flat)) - 1])
            checks.close(f"activation bar {ck}", f["lape_thresholds"][ci, 1], bar, atol=1e-12)
            above = (prob > bar).sum(axis=0)                            # per unit
            width = prob.shape[1] // n_layers
            want = np.stack([np.bincount(above[b * width:(b + 1) * width], minlength=L + 1) for b in range(n_layers)])
            checks.true(f"language_count_histogram {ck}", np.array_equal(f["language_count_histogram"][ci], want),
                        f"sweep.h5 {f['language_count_histogram'][ci][0].tolist()}…, recomputed {want[0].tolist()}…")
        # The logit lens from the checkpoint's own weights and tokenizer.
        if "logit_lens_mass" in f:
            oracle_lens.check_lens(f, checks, ci, ck, languages, probe_texts, ex, frag, fragment_name, cfg, sweep_seed,
                                   SplitMix64, task_seed)
        # Forced generation used exactly the experts.
        if "generation_language" in f:
            for ki, concept in enumerate(concepts):
                for li, lang in enumerate(languages):
                    name = fragment_name(f"generate/{ck}/{concept}/{lang}")
                    if not os.path.exists(os.path.join(frag, name)):
                        continue
                    forced = h5py.File(os.path.join(frag, name), "r")["forced_units"][:]
                    e = experts_h5[ci, li, ki]
                    checks.true(f"forced units {ck}/{concept}/{lang}", np.array_equal(forced, e[e >= 0]),
                                "generation forced other units than the experts")
                    if "control_units" in f:
                        check_controls(f, checks, sweep_seed, ck, ci, ki, li, concept, lang, e[e >= 0], n_layers, languages)
    for line in checks.failures:
        print("MISMATCH " + line)
    print(f"oracle: {checks.count - len(checks.failures)} of {checks.count} checks agree with {path}")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
