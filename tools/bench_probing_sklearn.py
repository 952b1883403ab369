#!/usr/bin/env python3
"""scikit-learn reference for `xlsweep bench probing`, on the data xlsweep wrote.

Usage: bench_probing_sklearn.py DIR [--ap-units N]
DIR holds (raw little-endian): ap_scores.f32 [sentences, units], ap_labels.i32 [sentences],
ap_shape.json; probe_x.f32 [n, d], probe_y.i32 [n], probe_train.i32, probe_test.i32.
Prints one JSON object: average_precision_score per-unit loop timed on the first N units (and
their APs, for checking), and StandardScaler + LogisticRegression(C=1) with defaults (lbfgs,
max_iter=100): fit seconds and test accuracy.
"""
import argparse
import json
import os
import time
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.preprocessing import StandardScaler


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--ap-units", type=int, default=1000)
    a = p.parse_args()
    shape = json.load(open(os.path.join(a.dir, "ap_shape.json")))
    scores = np.fromfile(os.path.join(a.dir, "ap_scores.f32"), dtype="<f4").reshape(shape["sentences"], shape["units"])
    labels = np.fromfile(os.path.join(a.dir, "ap_labels.i32"), dtype="<i4")
    m = min(a.ap_units, scores.shape[1])
    t0 = time.perf_counter()
    aps = [average_precision_score(labels, scores[:, u]) for u in range(m)]
    ap_seconds = time.perf_counter() - t0

    pshape = json.load(open(os.path.join(a.dir, "probe_shape.json")))
    x = np.fromfile(os.path.join(a.dir, "probe_x.f32"), dtype="<f4").reshape(pshape["n"], pshape["d"])
    y = np.fromfile(os.path.join(a.dir, "probe_y.i32"), dtype="<i4")
    train = np.fromfile(os.path.join(a.dir, "probe_train.i32"), dtype="<i4")
    test = np.fromfile(os.path.join(a.dir, "probe_test.i32"), dtype="<i4")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        scaler = StandardScaler().fit(x[train])
        model = LogisticRegression(C=1.0).fit(scaler.transform(x[train]), y[train])
        fit_seconds = time.perf_counter() - t0
    accuracy = float((model.predict(scaler.transform(x[test])) == y[test]).mean())
    print(json.dumps({"ap_units": m, "ap_seconds": ap_seconds, "ap": aps, "probe_seconds": fit_seconds,
                      "probe_accuracy": accuracy, "probe_iterations": int(model.n_iter_[0]),
                      "sklearn": sklearn.__version__}))


if __name__ == "__main__":
    main()
