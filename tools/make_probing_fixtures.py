#!/usr/bin/env python3
"""Reference values for the probing core from scikit-learn and numpy (Tests/Fixtures/probing/).

ap.safetensors — per case (random, ties, constant, single): `scores` [sentences, units] float32,
  `labels` [sentences] int32, and from sklearn/numpy: `ap` = average_precision_score per unit,
  `p50`/`p90` = np.percentile of the positives' scores, `off_mean` = mean over negatives (float64).
probe.safetensors — a 5-class problem with overlapping classes: raw `x_train`, `y_train`,
  `x_test`, `y_test`, and `predicted` = StandardScaler + LogisticRegression(C=1, lbfgs, solved
  tightly) on x_test; probe.json holds its accuracy and versions.
"""
import json
import os

import numpy as np
import sklearn
from safetensors.numpy import save_file
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.preprocessing import StandardScaler

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "probing")


def ap_case(name, scores, labels, tensors):
    tensors[f"{name}.scores"] = scores.astype(np.float32)
    tensors[f"{name}.labels"] = labels.astype(np.int32)
    s64 = scores.astype(np.float32)
    tensors[f"{name}.ap"] = np.array([average_precision_score(labels, s64[:, u]) for u in range(s64.shape[1])])
    pos = s64[labels == 1].astype(np.float64)
    neg = s64[labels == 0].astype(np.float64)
    tensors[f"{name}.p50"] = np.percentile(pos, 50, axis=0)
    tensors[f"{name}.p90"] = np.percentile(pos, 90, axis=0)
    tensors[f"{name}.off_mean"] = neg.mean(axis=0)


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261125)
    tensors = {}
    n, units = 400, 64
    labels = (rng.random(n) < 0.12).astype(np.int32)
    signal = rng.normal(size=units) * 0.8
    ap_case("random", rng.normal(size=(n, units)) + np.outer(labels, signal), labels, tensors)
    # Heavy ties: scores on a grid of 5 values, positives shifted up a little.
    ties = np.round(rng.normal(size=(n, units)) + 0.7 * labels[:, None]) / 2
    ties[:, 0] = 1.0  # a constant unit
    ties[:, 1] = np.where(labels == 1, 2.0, ties[:, 1])
    ap_case("ties", ties, labels, tensors)
    single = np.zeros(n, dtype=np.int32)
    single[137] = 1
    ap_case("single", rng.normal(size=(n, 16)), single, tensors)
    ap_case("negative_zero", np.array([[0.0], [-0.0], [1.0], [-1.0], [0.0]]), np.array([1, 0, 0, 1, 1]), tensors)
    save_file(tensors, os.path.join(OUT, "ap.safetensors"))

    # Probe: 5 classes, 64 features, overlapping Gaussian classes (accuracy well below 100%).
    k, d, per = 5, 64, 400
    centers = rng.normal(size=(k, d)) * 0.25
    y = np.repeat(np.arange(k), per)
    x = (rng.normal(size=(k * per, d)) * rng.uniform(0.5, 2.0, size=d) + centers[y] + 3.0).astype(np.float32)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    split = int(0.8 * len(y))
    scaler = StandardScaler().fit(x[:split])
    model = LogisticRegression(C=1.0, max_iter=10000, tol=1e-10).fit(scaler.transform(x[:split]), y[:split])
    predicted = model.predict(scaler.transform(x[split:]))
    save_file({"x_train": x[:split], "y_train": y[:split].astype(np.int32), "x_test": x[split:],
               "y_test": y[split:].astype(np.int32), "predicted": predicted.astype(np.int32)},
              os.path.join(OUT, "probe.safetensors"))
    with open(os.path.join(OUT, "probe.json"), "w") as f:
        json.dump({"accuracy": float((predicted == y[split:]).mean()), "iterations": int(model.n_iter_[0]),
                   "sklearn": sklearn.__version__, "numpy": np.__version__}, f, indent=1)


if __name__ == "__main__":
    main()
