"""Speed of the fault-aware scores step (docs/tsrating.md §11), beside the previous rater.

    .venv/bin/python -m benchmarks.tsrating_speed [--windows 25000] [--e2e-points 1600000]

1. Scoring throughput (features + a trained net's forward pass) on ~25k windows of real series
   (every tuning and held-out series, re-scaled copies until the count is reached), next to the
   previous pipeline's encoder + four BT heads on the same windows, in the same process.
2. The whole scores step (``score_windows``: features, self-supervised pairs, fine-tuning,
   calibration) on the same windows, with its timing breakdown.
3. ``--e2e-points N``: a 5-series long CSV of N points (real series tiled) run end to end by
   ``pipelines.cli run`` on a temporary data root and Dagster home (ingest, windows, rubric
   judgments, scores, selection, checks, publishing); the wall time and the per-step times.
Threads: torch 1 (``--threads``); timings are wall-clock on a shared machine, so the
side-by-side ratios are the robust numbers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

from benchmarks.tsrating_data import heldout_domains, tuning_domains
from benchmarks.tsrating_faults import frames
from ops.tsrating.context import grid_starts, series_features
from ops.tsrating.quality_net import DEFAULT_CHECKPOINT, load_checkpoint, score
from ops.tsrating.scoring import ScoringConfig, score_windows

REPO = Path(__file__).resolve().parents[1]


def real_series(n_windows: int, seed: int = 0) -> list[np.ndarray]:
    base = [s.values for d in (*tuning_domains().values(), *heldout_domains().values()) for s in d]
    rng = np.random.default_rng(seed)
    out, n = [], 0
    while n < n_windows:
        x = base[len(out) % len(base)]
        out.append(x * rng.uniform(0.5, 2) + rng.normal(0, 0.01 * (np.nanstd(x) or 1), len(x)))
        n += len(grid_starts(len(x)))
    return out


def throughput(xs: list[np.ndarray]) -> None:
    from ops.tsrating.encoder import FeatureEncoder
    from ops.tsrating.rater import Rater, RaterHead, mix_scores, standardize

    net, _ = load_checkpoint(DEFAULT_CHECKPOINT)
    t, c = time.perf_counter(), time.process_time()
    X = np.concatenate([series_features(x) for x in xs])
    t_feat, c_feat = time.perf_counter() - t, time.process_time() - c
    score(net, X)
    t_all, c_all = time.perf_counter() - t, time.process_time() - c
    n = len(X)
    W = np.concatenate(
        [x[grid_starts(len(x))[:, None] + np.arange(128)] for x in xs]
    )  # the previous pipeline's input: the window matrix
    enc = FeatureEncoder()
    rater = Rater(
        dim=enc.dim,
        hidden=256,
        heads={c: RaterHead(enc.dim) for c in ("trend", "frequency", "amplitude", "pattern")},
        encoder=enc.config(),
    )
    t, c = time.perf_counter(), time.process_time()
    F = standardize(enc.encode(W))
    mix_scores(rater.score(F), list(rater.heads))
    t_old, c_old = time.perf_counter() - t, time.process_time() - c
    print(f"\n{n} windows of {len(xs)} real series; load average {os.getloadavg()[0]:.1f}")
    print("| scorer | wall s | windows/s (wall) | CPU s | windows per CPU-second |")
    print("|---|---|---|---|---|")
    for name, tw, tc in (
        ("fault-aware: series-relative features", t_feat, c_feat),
        ("fault-aware: features + net", t_all, c_all),
        ("previous: encoder + 4 BT heads (h 256)", t_old, c_old),
    ):
        print(f"| {name} | {tw:.2f} | {n / tw:,.0f} | {tc:.2f} | {n / tc:,.0f} |")


def scores_step(xs: list[np.ndarray]) -> None:
    points, windows = frames(xs)
    t, c = time.perf_counter(), time.process_time()
    res = score_windows(windows, points, pl.DataFrame(), config=ScoringConfig())
    total, cpu = time.perf_counter() - t, time.process_time() - c
    sec = res.report["seconds"]
    print(
        f"\nwhole scores step on {windows.height} windows: {total:.1f}s wall, {cpu:.1f} CPU-s "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    print("| part | seconds |")
    print("|---|---|")
    parts = ("features", "pairs", "calibration_copy", "train")
    for k in parts:
        label = "train (incl. validation checks)" if k == "train" else k
        print(f"| {label} | {sec[k]:.1f} |")
    rest = sec["total"] - sum(sec[k] for k in parts)
    print(f"| calibration | {rest:.1f} |")
    print(f"| output table | {total - sec['total']:.1f} |")


def e2e(n_points: int, log: str = "") -> None:
    xs = real_series(n_points // 128 + 10)
    base = np.concatenate([np.nan_to_num(x, nan=np.nanmedian(x)) for x in xs])
    per = n_points // 5
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        folder = root / "raw" / "timeseries" / "bench_1m6"
        folder.mkdir(parents=True)
        t0 = np.datetime64("2000-01-01T00:00:00")
        parts = []
        for i in range(5):
            v = np.resize(np.roll(base, 7919 * i), per)
            ts = (t0 + np.arange(per).astype("timedelta64[m]") * 10).astype("datetime64[us]")
            parts.append(pl.DataFrame({"series_id": f"s{i}", "timestamp": ts, "value": v}))
        pl.concat(parts).write_csv(folder / "points.csv")
        env = os.environ | {"SIEVE_DATA_DIR": str(root), "DAGSTER_HOME": tmp}
        (Path(tmp) / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "run", "bench_1m6"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t
        if log:
            Path(log).write_text(out.stdout + "\n" + out.stderr)
        steps = [
            line
            for line in out.stdout.splitlines() + out.stderr.splitlines()
            if "STEP_SUCCESS" in line and "_check" not in line
        ]
        print(f"\nend to end, {5 * per:,} points in 5 series: {wall:.1f}s (rc {out.returncode})")
        for line in steps:
            print("  " + line.split(" - ")[-1])
        if out.returncode:
            print(out.stderr[-3000:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=25000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--e2e-points", type=int, default=0)
    ap.add_argument("--e2e-only", action="store_true", help="skip the 25k-window parts")
    ap.add_argument("--e2e-log", default="", help="write the run's stdout + stderr here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.e2e_only:
        xs = real_series(args.windows)
        throughput(xs)
        scores_step(xs)
    if args.e2e_points:
        e2e(args.e2e_points, args.e2e_log)


if __name__ == "__main__":
    main()
