"""Command line: ``python -m pipelines.cli demo``, ``run <dataset>``, ``report`` and
``meta-train [dataset ...]`` (the TSRating quality-net checkpoint, docs/tsrating.md §11.7).

``demo`` and ``run`` register the dataset folder(s) as partitions on the Dagster instance in
``$DAGSTER_HOME`` and materialize every asset of each, as a run launched by the sensor or
the schedule would (the runs are recorded on the instance and show in the UI).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT / "data" / "samples"


def _instance():
    import dagster as dg

    if not os.environ.get("DAGSTER_HOME"):
        raise SystemExit(
            "DAGSTER_HOME is not set; run through `make` or export DAGSTER_HOME=<repo root>"
        )
    return dg.DagsterInstance.get()


def run_dataset(name: str, instance=None, kind: str | None = None) -> bool:
    """Register ``name`` and materialize all of its assets; returns whether the run succeeded."""
    from assets.partitions import PARTITIONS_BY_KIND
    from ops.paths import dataset_paths, find_dataset_kind
    from pipelines.definitions import defs
    from pipelines.jobs import JOB_BY_KIND

    instance = instance or _instance()
    kind = kind or find_dataset_kind(name)
    partitions = PARTITIONS_BY_KIND[kind]
    if not instance.has_dynamic_partition(partitions.name, name):
        instance.add_dynamic_partitions(partitions.name, [name])
    job = defs.resolve_job_def(JOB_BY_KIND[kind].name)
    print(f"[sieve] {kind}/{name}: materializing {job.name} ...", flush=True)
    start = time.perf_counter()
    result = job.execute_in_process(partition_key=name, instance=instance, raise_on_error=False)
    status = "ok" if result.success else "FAILED"
    out = dataset_paths(kind, name).clean
    elapsed = time.perf_counter() - start
    print(
        f"[sieve] {kind}/{name}: {status} in {elapsed:.1f}s (run {result.run_id}) -> {out}",
        flush=True,
    )
    return result.success


def run_report(instance=None, night: str = "") -> Path | None:
    """Materialize the quality report over every registered dataset; returns the HTML path."""
    from pipelines.definitions import defs

    instance = instance or _instance()
    job = defs.resolve_job_def("quality_report_job")
    print("[sieve] building the quality report ...", flush=True)
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"quality_report": {"config": {"night": night}}}},
    )
    if not result.success:
        print("[sieve] quality report FAILED", file=sys.stderr, flush=True)
        return None
    meta = result.asset_materializations_for_node("quality_report")[0].metadata
    return Path(meta["path"].value)


def seed_samples(root: Path) -> list[tuple[str, str]]:
    """Copy each bundled sample dataset into ``<root>/raw/<kind>/`` unless already there."""
    seeded = []
    for kind in ("timeseries", "images"):
        for src in sorted((SAMPLES / kind).iterdir()) if (SAMPLES / kind).is_dir() else []:
            if not src.is_dir():
                continue
            dst = root / "raw" / kind / src.name
            if not dst.exists():
                shutil.copytree(src, dst)
            seeded.append((kind, src.name))
    return seeded


def demo() -> int:
    from ops.paths import data_root

    root = data_root()
    instance = _instance()
    datasets = seed_samples(root)
    print(f"[sieve] demo: {len(datasets)} bundled datasets under {root / 'raw'}", flush=True)
    start = time.perf_counter()
    failed = [f"{k}/{n}" for k, n in datasets if not run_dataset(n, instance, kind=k)]
    report = run_report(instance)
    if report is None:
        failed.append("quality_report")
    print(f"[sieve] demo finished in {time.perf_counter() - start:.1f}s", flush=True)
    for kind, name in datasets:
        for stage in ("clean", "published"):
            for f in sorted((root / stage / kind / name).glob("*.parquet")):
                print(f"  {f}")
    if report is not None:
        print(f"[sieve] report: {report}")
    if failed:
        print(f"[sieve] FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def meta_train(datasets: list[str], out: str, method: str, steps: int, seed: int) -> int:
    """Pre-train the quality net across the named clean time-series datasets (all of them when
    none is named; each dataset is one domain) and write the checkpoint the scores step loads
    (docs/tsrating.md §11.7)."""
    import numpy as np
    import polars as pl

    from ops.contracts import POINTS, TIMESERIES
    from ops.paths import data_root
    from ops.tsrating.metatrain import meta_train_to
    from ops.tsrating.scoring import series_arrays

    clean = data_root() / "clean" / TIMESERIES
    names = datasets or sorted(p.parent.name for p in clean.glob(f"*/{POINTS.file}"))
    if not names:
        raise FileNotFoundError(
            f"no time-series dataset with {POINTS.file} under {clean}: run one first "
            "(make run DATASET=...)"
        )
    domains = {}
    for name in names:
        path = clean / name / POINTS.file
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: run `make run DATASET={name}` first")
        series = series_arrays(pl.read_parquet(path, columns=["series_id", "timestamp", "value"]))
        domains[name] = [x for x in series.values() if np.isfinite(x).sum() >= 2]
    info = meta_train_to(out, domains, method=method, steps=steps, seed=seed)
    print(
        f"[sieve] meta-train ({method}) on {', '.join(names)}: {info['pairs']} pairs, "
        f"{info['seconds']:.1f}s -> {info['path']} ({info['version']})"
    )
    print(f"[sieve] use it: ScoresConfig.checkpoint={info['path']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sieve", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="materialize every bundled sample dataset")
    run = sub.add_parser(
        "run", help="materialize one dataset folder found under $SIEVE_DATA_DIR/raw/"
    )
    run.add_argument("dataset")
    rep = sub.add_parser("report", help="build the quality report over every registered dataset")
    rep.add_argument("--night", default="", help="ISO date of the night (default: today)")
    mt = sub.add_parser(
        "meta-train", help="pre-train the TSRating quality net across clean time-series datasets"
    )
    mt.add_argument("datasets", nargs="*", help="clean time-series datasets (default: all)")
    mt.add_argument("--out", default="", help="checkpoint path (default: data/models/...)")
    mt.add_argument("--method", choices=["fomaml", "erm"], default="fomaml")
    mt.add_argument("--steps", type=int, default=600)
    mt.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "meta-train":
        from ops.paths import data_root

        out = args.out or str(data_root() / "models" / "tsrating_quality_net.pt")
        try:
            return meta_train(args.datasets, out, args.method, args.steps, args.seed)
        except (FileNotFoundError, ValueError) as exc:
            print(f"[sieve] error: {exc}", file=sys.stderr)
            return 2
    if args.command == "demo":
        return demo()
    if args.command == "report":
        path = run_report(night=args.night)
        print(f"[sieve] report: {path}" if path else "[sieve] report failed")
        return 0 if path else 1
    try:
        return 0 if run_dataset(args.dataset) else 1
    except (FileNotFoundError, ValueError) as exc:
        print(f"[sieve] error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
