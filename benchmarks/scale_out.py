"""A many-partition night, measured: N generated time-series datasets refreshed by the nightly
schedule, on 1 or 2 Celery workers, on Dagster's multiprocess executor (a process per step) and
on the in-process executor (Sieve's default: one process per run), side by side.

For each executor and each N: a fresh Postgres database as the instance, a fresh data dir with N
small datasets (two series of ``--points`` points each, different seeds so no judgment is shared),
``nightly_timeseries_refresh`` evaluated for its run requests, and the runs launched by
``--max-runs`` launcher processes (``dg.execute_job``; as the run coordinator's
``max_concurrent_runs`` would). The judge is an LLM behind a real HTTP server on localhost
(OpenAI chat-completions protocol) that sleeps ``--latency`` seconds per call and answers from
the rubric judge (``tests/reliability/fault_server.py`` with ``latency``): judging partitions are
I/O-bound, as with a hosted model.

Printed per row: wall time of the night (first launch to last run finished; worker start-up not
counted), runs per minute, the speed-up over one Celery worker, and the peak RSS of a worker
process (Celery: the pool process that executes steps, read from /proc VmHWM; multiprocess and
in_process: the largest step or run process, from ``getrusage(RUSAGE_CHILDREN)`` of the launchers).

Needs PostgreSQL and Redis, as the Celery tests do (``SIEVE_TEST_PG_HOST/PORT/USER/DB`` and
``SIEVE_TEST_REDIS_URL``; README "Scaling out" has the commands)::

    python -m benchmarks.scale_out --n 4 8 --executors celery1 celery2 multiprocess
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
EXECUTORS = ("celery1", "celery2", "multiprocess", "in_process")
KEY_ENV = "SIEVE_BENCH_LLM_KEY"


# --- data -------------------------------------------------------------------------------------
def make_datasets(data: Path, n: int, points: int) -> list[str]:
    """``n`` small long-format datasets: two series each (trend + seasonality + noise, some
    spikes), different seeds."""
    names = []
    for i in range(n):
        rng = np.random.default_rng(1000 + i)
        name = f"bench_ts_{i:03d}"
        rows = []
        t = np.arange(points)
        start = np.datetime64("2026-01-01T00:00:00")
        for s in range(2):
            v = (
                rng.normal(0, 1) * t / points
                + np.sin(2 * np.pi * t / rng.integers(20, 80))
                + rng.normal(0, 0.3 + 0.3 * s, points)
            )
            v[rng.choice(points, 3, replace=False)] += 8
            rows.append(
                pl.DataFrame(
                    {
                        "series_id": f"s{s}",
                        "timestamp": (start + t.astype("timedelta64[m]") * 10).astype(
                            "datetime64[us]"
                        ),
                        "value": v,
                    }
                )
            )
        out = data / "raw" / "timeseries" / name
        out.mkdir(parents=True)
        pl.concat(rows).write_parquet(out / "series.parquet")
        names.append(name)
    return names


# --- launching runs -----------------------------------------------------------------------------
def _launcher_init(env: dict[str, str]) -> None:
    os.environ.update(env)


def _launch(args: tuple[str, str, dict]) -> tuple[str, bool, float, int]:
    """Run one partition through ``dg.execute_job`` in this launcher process; returns the run's
    success, its wall time and the peak RSS of this process or its step children, in KiB."""
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    home, partition, run_config = args
    repo = ReconstructableRepository.for_module(
        "pipelines.definitions", "defs", working_directory=str(REPO)
    )
    job = repo.get_reconstructable_job("timeseries_job")
    t0 = time.perf_counter()
    with dg.DagsterInstance.from_config(home) as instance:
        result = dg.execute_job(
            job, instance=instance, run_config=run_config, tags={"dagster/partition": partition}
        )
    # multiprocess: steps ran in children; in_process: in this launcher process itself
    rss = max(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    )
    return partition, result.success, time.perf_counter() - t0, rss


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def night_run_config(data: Path, api_base: str, max_pairs: int, judge_concurrency: int) -> dict:
    """The run config of every partition of the night: the data dir, the slow judge on
    localhost, and few judged pairs (tests/test_benchmarks_config.py validates it against
    ``timeseries_job``, so a renamed config field fails there, not mid-benchmark)."""
    return {
        "resources": {
            "settings": {"config": {"data_dir": str(data)}},
            "judge": {
                "config": {
                    "kind": "litellm",
                    "model": "openai/sieve-bench",
                    "api_base": api_base,
                    "api_key_env": KEY_ENV,
                    "use_logprobs": "always",
                    "max_concurrency": judge_concurrency,
                    "timeout_s": 60.0,
                }
            },
        },
        "ops": {"timeseries_judgments": {"config": {"max_pairs": max_pairs}}},
    }


def night(executor: str, n: int, args, server, work: Path) -> dict:
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.schedules import nightly_timeseries_refresh
    from tests.e2e.celery_cluster import drop_cluster, make_cluster

    root = work / f"{executor}-{n}"
    cluster = make_cluster(root, executor="celery" if executor.startswith("celery") else executor)
    cluster.env[KEY_ENV] = "sk-bench-not-a-key"
    cluster.env["OMP_NUM_THREADS"] = "1"
    # this process opens the instance too (the schedule context re-opens it from its config)
    os.environ.update({k: v for k, v in cluster.env.items() if k.startswith("SIEVE_PG_")})
    try:
        data = root / "data"
        names = make_datasets(data, n, args.points)
        with cluster.instance() as instance:
            instance.add_dynamic_partitions("timeseries_datasets", names)
            # Set the `llm` pool's row up front: on a fresh Postgres instance, parallel runs that
            # first claim the pool race to insert its default limit and one fails with a
            # UniqueViolation (seen here with dagster 1.13.27; README "Scaling out").
            instance.event_log_storage.set_concurrency_slots("llm", 2)
            ctx = dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=datetime.datetime.now(datetime.UTC),
                repository_def=defs.get_repository_def(),
            )
            requests = list(nightly_timeseries_refresh.evaluate_tick(ctx).run_requests or [])
        assert len(requests) == n, f"the schedule asked for {len(requests)} runs, not {n}"
        run_config = night_run_config(data, server.api_base, args.max_pairs, args.judge_concurrency)
        n_workers = {"celery1": 1, "celery2": 2}.get(executor, 0)
        if n_workers:
            cluster.start_workers(n_workers)
        calls0 = server.requests
        ctx_mp = mp.get_context("spawn")
        t0 = time.perf_counter()
        # not multiprocessing.Pool: its daemonic workers may not start the multiprocess
        # executor's step processes
        with ProcessPoolExecutor(
            args.max_runs, mp_context=ctx_mp, initializer=_launcher_init, initargs=(cluster.env,)
        ) as pool:
            launches = [(str(cluster.home), r.partition_key, run_config) for r in requests]
            results = list(pool.map(_launch, launches))
        wall = time.perf_counter() - t0
        ok = sum(1 for _, s, _, _ in results if s)
        if n_workers:
            pool_rss = [
                max(_vm_hwm_kib(p) for p in pids[1:] or pids) for pids in cluster.worker_pids()
            ]
        else:
            pool_rss = [max(r[3] for r in results)]
        return {
            "executor": executor,
            "n": n,
            "ok": ok,
            "wall_s": wall,
            "runs_per_min": 60 * n / wall,
            "peak_worker_rss_mib": max(pool_rss) / 1024,
            "llm_calls": server.requests - calls0,
            "mean_run_s": sum(r[2] for r in results) / len(results),
        }
    finally:
        drop_cluster(cluster)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[4, 8])
    p.add_argument("--executors", nargs="+", default=list(EXECUTORS), choices=EXECUTORS)
    p.add_argument("--latency", type=float, default=1.0, help="seconds per LLM call")
    p.add_argument("--points", type=int, default=640, help="points per series")
    p.add_argument("--max-pairs", type=int, default=4, help="judged pairs per dataset")
    p.add_argument("--judge-concurrency", type=int, default=2)
    p.add_argument("--max-runs", type=int, default=4, help="runs in flight (max_concurrent_runs)")
    p.add_argument("--keep", action="store_true", help="keep the data dirs")
    args = p.parse_args(argv)

    from tests.e2e.celery_cluster import missing_services

    why = missing_services()
    if why:
        print(f"[scale_out] {why}", file=sys.stderr)
        return 2
    from tests.reliability.fault_server import FaultServer

    rows = []
    work = Path(tempfile.mkdtemp(prefix="sieve-scale-out-"))
    print(
        f"[scale_out] {os.cpu_count()} CPUs, latency {args.latency}s/call, "
        f"{args.max_pairs} pairs x 4 criteria x 2 orders per dataset, "
        f"{args.max_runs} runs in flight",
        flush=True,
    )
    try:
        with FaultServer(latency=args.latency, max_requests=10**9) as server:
            for n in args.n:
                for ex in args.executors:
                    row = night(ex, n, args, server, work)
                    rows.append(row)
                    print(f"[scale_out] {json.dumps(row)}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = {r["n"]: r["wall_s"] for r in rows if r["executor"] == "celery1"}
    print()
    cols = ["executor", "N", "runs ok", "wall s", "runs/min", "vs 1 Celery worker"]
    cols += ["peak RSS per worker MiB", "LLM calls"]
    print("| " + " | ".join(cols) + " |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        speed = f"{base[r['n']] / r['wall_s']:.2f}x" if r["n"] in base else "-"
        print(
            f"| {r['executor']} | {r['n']} | {r['ok']}/{r['n']} | {r['wall_s']:.1f} | "
            f"{r['runs_per_min']:.1f} | {speed} | {r['peak_worker_rss_mib']:.0f} "
            f"| {r['llm_calls']} |"
        )
    return 0 if all(r["ok"] == r["n"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
