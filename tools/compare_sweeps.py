#!/usr/bin/env python3
"""Compares two sweep.h5 files dataset by dataset, byte for byte (NaNs included), leaving out the
config text and the timeline (when, where, on which CPU and how long each task ran: not results).

    tools/compare_sweeps.py A.h5 B.h5 [--ignore name,name]

Prints `same`, or `differ: name,...`, and exits 0 either way unless the files cannot be read."""
import argparse

import h5py
import numpy as np

TIMELINE = {"task_started", "task_seconds", "task_host", "task_worker", "task_attempt", "task_cpu", "task_peak_rss_bytes"}


def differences(a_path, b_path, ignored=()):
    a, b = h5py.File(a_path, "r"), h5py.File(b_path, "r")
    if sorted(a) != sorted(b):
        return ["datasets: " + " ".join(sorted(set(a) ^ set(b)))]
    bad = []
    for k in a:
        if k == "config_text" or k in TIMELINE or k in ignored:
            continue
        x, y = a[k][()], b[k][()]
        same = x.tobytes() == y.tobytes() if x.dtype.kind in "fiu" else np.array_equal(x, y)
        if not same or x.shape != y.shape:
            bad.append(k)
    for k in sorted(set(a.attrs) | set(b.attrs)):
        if k not in ignored and (k not in a.attrs or k not in b.attrs or a.attrs[k] != b.attrs[k]):
            bad.append("@" + k)
    return bad


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--ignore", default="")
    args = p.parse_args()
    bad = differences(args.a, args.b, set(filter(None, args.ignore.split(","))))
    print("differ: " + ",".join(bad) if bad else "same")
