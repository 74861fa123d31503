"""Command line: ``python -m pipelines.cli demo``, ``run <dataset>``, ``report``, ``home`` and
``meta-train [dataset ...]`` (the TSRating quality-net checkpoint, docs/tsrating.md §11.7).
Every command that opens the instance first creates ``$DAGSTER_HOME`` when it does not exist
(:mod:`pipelines.home`); ``home`` does only that (``make ui`` runs it before ``dagster dev``).

``demo`` and ``run`` register the dataset folder(s) as partitions on the Dagster instance in
``$DAGSTER_HOME`` and materialize every asset of each, as a run launched by the sensor or
the schedule would (the runs are recorded on the instance and show in the UI). The dataset
name is validated (``ops.paths.validate_dataset_name``) before it reaches the instance or a
path. Before each run, runs whose worker process died are marked failed and their pool slots
freed (:mod:`pipelines.reclaim`); ``python -m pipelines.cli reclaim`` does only that.
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

    from pipelines.home import ensure_dagster_home

    if not os.environ.get("DAGSTER_HOME"):
        raise SystemExit(
            "DAGSTER_HOME is not set; run through `make` or export DAGSTER_HOME=<repo root>"
        )
    note = ensure_dagster_home(os.environ["DAGSTER_HOME"])
    if note:
        print(f"[sieve] {note}", flush=True)
    return dg.DagsterInstance.get()


def run_dataset(name: str, instance=None, kind: str | None = None, refit: bool = False) -> bool:
    """Register ``name`` and materialize all of its assets; returns whether the run succeeded.
    The job's console logger (pipelines/console.py) prints one line per step. ``refit``: the
    time-series rater is fitted again instead of the one kept from an earlier night."""
    from ops.paths import find_dataset_kind, validate_dataset_name

    validate_dataset_name(name)  # before anything (the instance, a path, a log line) sees it
    from assets.partitions import PARTITIONS_BY_KIND
    from ops.progress import fmt_seconds
    from pipelines.console import CONSOLE_RUN_CONFIG
    from pipelines.definitions import defs
    from pipelines.jobs import JOB_BY_KIND
    from pipelines.reclaim import reclaim, run_owner_tags

    instance = instance or _instance()
    kind = kind or find_dataset_kind(name)
    reclaimed = reclaim(instance)
    if reclaimed.failed_runs or reclaimed.freed_slots:
        print(f"[sieve] reclaimed: {reclaimed.summary()}", flush=True)
    partitions = PARTITIONS_BY_KIND[kind]
    if not instance.has_dynamic_partition(partitions.name, name):
        instance.add_dynamic_partitions(partitions.name, [name])
    job = defs.resolve_job_def(JOB_BY_KIND[kind].name)
    print(f"[sieve] {kind}/{name}", flush=True)
    start = time.perf_counter()
    run_config = dict(CONSOLE_RUN_CONFIG)
    if refit and kind == "timeseries":
        run_config["ops"] = {"timeseries_scores": {"config": {"refit": True}}}
    result = job.execute_in_process(
        partition_key=name,
        instance=instance,
        raise_on_error=False,
        run_config=run_config,
        tags=run_owner_tags(),
    )
    status = "ok" if result.success else "FAILED"
    elapsed = fmt_seconds(time.perf_counter() - start)
    print(f"[sieve] {kind}/{name}: {status} in {elapsed} (run {result.run_id[:8]})", flush=True)
    return result.success


def print_summary(datasets: list[tuple[str, str]], report: Path | None) -> None:
    """The table per dataset, where the outputs are, and what to do next."""
    from ops.paths import data_root
    from ops.run_summary import format_table, summarize_dataset

    root = data_root()
    print(
        "\n[sieve] summary (flagged: low-quality windows / likely label errors; score: mean "
        "quality, higher is better)"
    )
    for line in format_table([summarize_dataset(root, k, n) for k, n in datasets]):
        print(f"  {line}")
    print(
        f"\n  published tables: {_short(root / 'published')}/<kind>/<dataset>/*.parquet "
        "(read these; clean/ is work in progress)"
    )
    if report is not None:
        print(f"  report:           {_short(report)}")
    print(
        "  next: open the report in a browser; `make ui` to browse runs, assets and checks; "
        "`make run DATASET=<folder>` for your own data under "
        f"{_short(root / 'raw')}/{{timeseries,images}}/"
    )


def _short(path: Path) -> str:
    """``path`` relative to the working directory when under it (shorter to read)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run_report(instance=None, night: str = "") -> Path | None:
    """Materialize the quality report over every registered dataset; returns the HTML path."""
    from pipelines.console import CONSOLE_RUN_CONFIG
    from pipelines.definitions import defs

    instance = instance or _instance()
    job = defs.resolve_job_def("quality_report_job")
    print("[sieve] quality report", flush=True)
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"quality_report": {"config": {"night": night}}}, **CONSOLE_RUN_CONFIG},
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
    from ops.progress import fmt_seconds

    root = data_root()
    instance = _instance()
    datasets = seed_samples(root)
    print(
        f"[sieve] demo: {len(datasets)} bundled datasets under {_short(root / 'raw')}", flush=True
    )
    start = time.perf_counter()
    failed = [f"{k}/{n}" for k, n in datasets if not run_dataset(n, instance, kind=k)]
    report = run_report(instance)
    if report is None:
        failed.append("quality_report")
    print(f"[sieve] demo finished in {fmt_seconds(time.perf_counter() - start)}", flush=True)
    print_summary(datasets, report)
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
    run.add_argument(
        "--refit",
        action="store_true",
        help="time series: fit the rater again instead of keeping the earlier night's",
    )
    rep = sub.add_parser("report", help="build the quality report over every registered dataset")
    rep.add_argument("--night", default="", help="ISO date of the night (default: today)")
    sub.add_parser(
        "reclaim",
        help="mark runs whose worker process died as failed, free their pool slots and "
        "drop registered partitions whose names are not valid dataset names",
    )
    sub.add_parser(
        "home", help="create $DAGSTER_HOME with Sieve's dagster.yaml if it does not exist yet"
    )
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
    if args.command == "home":
        from pipelines.home import ensure_dagster_home

        if not os.environ.get("DAGSTER_HOME"):
            raise SystemExit("DAGSTER_HOME is not set; run through `make`")
        print(f"[sieve] {ensure_dagster_home(os.environ['DAGSTER_HOME']) or 'Dagster home ready'}")
        return 0
    if args.command == "demo":
        return demo()
    if args.command == "reclaim":
        from pipelines.reclaim import drop_invalid_partitions, reclaim

        instance = _instance()
        print(f"[sieve] {reclaim(instance).summary()}")
        dropped = drop_invalid_partitions(instance)
        if dropped:
            print(f"[sieve] dropped invalid partition keys: {dropped}")
        return 0
    if args.command == "report":
        path = run_report(night=args.night)
        print(f"[sieve] report: {path}" if path else "[sieve] report failed")
        return 0 if path else 1
    try:
        from ops.paths import find_dataset_kind

        ok = run_dataset(args.dataset, refit=args.refit)
        print_summary([(find_dataset_kind(args.dataset), args.dataset)], None)
        return 0 if ok else 1
    except (FileNotFoundError, ValueError) as exc:
        print(f"[sieve] error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
