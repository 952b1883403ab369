#!/usr/bin/env python3
"""Warm read rate of the slabs researchers read from sweep.h5, through h5py.

    python3 tools/bench_slab.py out/demo/sweep.h5 [--rounds 20]

probe_hidden: one checkpoint × language × layer slab [probe_token, hidden];
pooled_mlp:   one checkpoint × language × layer's unit range [sentence, width].
Every such slab is read once to warm the page cache (the file's bytes, and for a virtual file its
fragments', in memory), then each once more, timed: no slab is read twice in a row, so HDF5's
chunk cache does not serve it. The rate is bytes / median time and / best time, over `rounds`
passes.
"""
import argparse, statistics, time

import h5py
import numpy as np


def rate(dataset, slabs, rounds):
    for s in slabs:
        dataset[s]                                  # warm: pages in memory, chunk index read
    times, nbytes = [], 0
    for _ in range(rounds):
        for s in slabs:
            t = time.perf_counter()
            a = dataset[s]
            times.append(time.perf_counter() - t)
            nbytes = a.nbytes
    return nbytes, min(times), statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    f = h5py.File(args.sweep, "r")
    hidden, pooled = f["probe_hidden"], f["pooled_mlp"]
    C, L, layers = hidden.shape[0], hidden.shape[1], hidden.shape[2]
    width = pooled.shape[3] // (layers - 1)
    picks = [(c, l, k) for c in range(C) for l in range(L) for k in range(layers)]
    print(f"{args.sweep}: probe_hidden {hidden.shape} chunks {hidden.chunks} ({'virtual' if hidden.is_virtual else 'stored'}), "
          f"pooled_mlp {pooled.shape} chunks {pooled.chunks}")
    for name, ds, slabs in [
        ("probe_hidden[c, l, layer]", hidden, [np.s_[c, l, k] for c, l, k in picks]),
        ("pooled_mlp[c, l, :, layer units]", pooled, [np.s_[c, l, :, (k % (layers - 1)) * width:(k % (layers - 1) + 1) * width]
                                                    for c, l, k in picks]),
    ]:
        nbytes, best, median = rate(ds, slabs, args.rounds)
        print(f"{name:34s} {len(slabs)} slabs of {nbytes / 2**20:.2f} MiB: median {nbytes / median / 1e9:6.2f} GB/s, "
              f"best {nbytes / best / 1e9:6.2f} GB/s")


if __name__ == "__main__":
    main()
