"""Rater scoring throughput on CPU: encode + standardise + 4 heads + mix, for 10^3..10^5 windows.

    .venv/bin/python -m benchmarks.rater_speed [--sizes 1000 10000 100000] [--threads 2]

Peak memory: ``ru_maxrss`` of the process (includes the Python/torch baseline, printed first) and
the tracemalloc peak of the numpy part (encode) at the largest size.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import torch

from ops.tsrating.encoder import FeatureEncoder
from ops.tsrating.prompts import CRITERIA
from ops.tsrating.rater import Rater, RaterHead, mix_scores, standardize


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--length", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    enc = FeatureEncoder()
    torch.manual_seed(0)
    rater = Rater(
        dim=enc.dim,
        hidden=256,
        heads={c: RaterHead(enc.dim) for c in CRITERIA},
        encoder=enc.config(),
    )
    print(f"baseline peak RSS {rss_mb():.0f} MB; threads {args.threads}")
    print("| windows | encode s | heads s | total s | windows/s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for n in args.sizes:
        X = np.cumsum(rng.normal(size=(n, args.length)), axis=1)
        X[rng.random(X.shape) < 0.01] = np.nan
        last = n == max(args.sizes)
        if last:
            tracemalloc.start()
        t0 = time.perf_counter()
        F = standardize(enc.encode(X))
        t1 = time.perf_counter()
        if last:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        q = mix_scores(rater.score(F), list(CRITERIA))["quality"]
        t2 = time.perf_counter()
        assert q.shape == (n,)
        print(
            f"| {n} | {t1 - t0:.2f} | {t2 - t1:.2f} | {t2 - t0:.2f} | {n / (t2 - t0):,.0f} "
            f"| {rss_mb():.0f} |",
            flush=True,
        )
    print(
        f"\ntracemalloc peak of encode at {max(args.sizes)} windows (input array excluded): "
        f"{peak / 2**20:.0f} MB"
    )


if __name__ == "__main__":
    main()
