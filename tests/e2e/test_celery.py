"""Steps executed by two real Celery workers (Redis broker, Postgres instance) publish exactly what
an in-process run publishes; the ``llm`` pool and the judgment cache hold across workers.

`.ci/run` starts PostgreSQL and Redis and sets SIEVE_TEST_PG_* / SIEVE_TEST_REDIS_URL (and
SIEVE_REQUIRE_SERVICES=1, so a missing service fails instead of skipping). Workers are the real
``dagster-celery worker start`` CLI (tests/e2e/celery_cluster.py); the runs are launched by
``dagster job execute`` with ``SIEVE_EXECUTOR=celery``, in their own processes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.e2e.celery_cluster import REPO, drop_cluster, make_cluster, missing_services
from tests.reliability.fault_server import FaultServer

pytestmark = [pytest.mark.postgres, pytest.mark.celery]

SAMPLES = REPO / "data" / "samples"
JUDGE_KEY_ENV = "SIEVE_TEST_CELERY_LLM_KEY"
JUDGE_LATENCY_S = 0.5
TINY_IMAGES = {"ops": {"image_labels_clean": {"config": {"preset": "tiny"}}}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = missing_services()
    if why:
        if os.environ.get("SIEVE_REQUIRE_SERVICES"):
            pytest.fail(why)
        pytest.skip(why)
    c = make_cluster(tmp_path_factory.mktemp("celery"))
    c.env[JUDGE_KEY_ENV] = "sk-test-not-a-key"  # workers run the judging steps: they need it
    try:
        c.workers_names = c.start_workers(2)
        yield c
    finally:
        logs = c.tail_logs(800)
        drop_cluster(c)
        print(logs)


@pytest.fixture
def slow_judge():
    with FaultServer(latency=JUDGE_LATENCY_S) as server:
        yield server


def run_config(data: Path, kind: str) -> dict:
    cfg: dict = {"resources": {"settings": {"config": {"data_dir": str(data)}}}}
    if kind == "images":
        cfg.update(TINY_IMAGES)
    return cfg


def write_yaml(path: Path, cfg: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(cfg))
    return path


def seed(data: Path, kind: str, sample: str, name: str, max_images: int = 500) -> None:
    """Copy a bundled sample; an image set keeps its first ``max_images`` labelled rows (test
    time)."""
    dst = data / "raw" / kind / name
    shutil.copytree(SAMPLES / kind / sample, dst)
    if kind == "images":
        labels = pl.read_csv(dst / "labels.csv")
        labels.head(max_images).write_csv(dst / "labels.csv")
        for gone in labels["image"][max_images:]:
            (dst / gone).unlink()


def published(data: Path, kind: str, name: str) -> dict[str, pl.DataFrame]:
    """Every published Parquet table of a dataset by file name, ``run_id`` dropped (a versioned
    layout below the dataset folder is fine: files are matched by name)."""
    base = data / "published" / kind / name
    files = sorted(base.rglob("*.parquet"))
    assert files, f"nothing published under {base}"
    names = [f.name for f in files]
    assert len(set(names)) == len(names), f"more than one version visible: {files}"
    return {f.name: pl.read_parquet(f).drop("run_id", strict=False) for f in files}


def runs_by_partition(instance, job: str) -> dict[str, object]:
    """partition -> its latest run of ``job``."""
    import dagster as dg

    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job))  # newest first
    out: dict[str, object] = {}
    for r in runs:
        out.setdefault(r.tags.get("dagster/partition"), r)
    return out


def step_workers(instance, run_id: str) -> dict[str, str]:
    """step key -> the Celery worker that executed it (from the executor's engine events)."""
    out = {}
    for rec in instance.all_logs(run_id):
        ev = rec.dagster_event
        if ev is None or ev.event_type_value != "ENGINE_EVENT":
            continue
        worker = ev.engine_event_data.metadata.get("Celery worker")
        if worker is not None and ev.step_key:
            out[ev.step_key] = worker.value
    return out


def step_interval(instance, run_id: str, step: str) -> tuple[float, float]:
    start = end = None
    for rec in instance.all_logs(run_id):
        ev = rec.dagster_event
        if ev is None or ev.step_key != step:
            continue
        if ev.event_type_value == "STEP_START":
            start = rec.timestamp
        elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            end = rec.timestamp
    assert start is not None and end is not None, f"{step} did not run in {run_id}"
    return start, end


def launch_all(cluster, jobs: list[tuple[str, str, Path]]) -> None:
    """Launch several ``dagster job execute`` processes at once and wait for all of them."""
    procs = [cluster.execute(job, part, cfg) for job, part, cfg in jobs]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    for (job, part, _), p, out in zip(jobs, procs, outs, strict=True):
        assert p.returncode == 0, f"{job}/{part} failed:\n{out[-4000:]}\n{cluster.tail_logs()}"


def test_celery_workers_publish_what_an_in_process_run_publishes(cluster, tmp_path):
    from pipelines.definitions import defs

    inproc, celery = tmp_path / "inproc", tmp_path / "celery"
    cases = [("timeseries", "nab_traffic", "cel_ts"), ("images", "digits_noisy", "cel_img")]
    for root in (inproc, celery):
        for kind, sample, name in cases:
            seed(root, kind, sample, name)
    jobs = []
    with cluster.instance() as instance:
        instance.add_dynamic_partitions("timeseries_datasets", ["cel_ts"])
        instance.add_dynamic_partitions("image_datasets", ["cel_img"])
        for kind, _, name in cases:
            job = f"{kind}_job"
            result = defs.resolve_job_def(job).execute_in_process(
                partition_key=name, instance=instance, run_config=run_config(inproc, kind)
            )
            assert result.success
            jobs.append(
                (job, name, write_yaml(tmp_path / f"{name}.yaml", run_config(celery, kind)))
            )
    launch_all(cluster, jobs)  # both partitions at once, on the two workers

    with cluster.instance() as instance:
        used = set()
        for job, name, _ in jobs:
            run = runs_by_partition(instance, job)[name]
            assert run.is_success
            workers = step_workers(instance, run.run_id)
            started = {
                r.dagster_event.step_key
                for r in instance.all_logs(run.run_id)
                if r.dagster_event and r.dagster_event.event_type_value == "STEP_START"
            }
            assert started and started <= set(workers), f"steps not run by Celery: {started}"
            used |= {w.split("@")[0] for w in workers.values()}
        assert used == set(cluster.workers_names), f"workers used: {used}"

    for kind, _, name in cases:
        want, got = published(inproc, kind, name), published(celery, kind, name)
        assert want.keys() == got.keys()
        for table in want:
            assert_frame_equal(
                got[table], want[table], check_exact=False, rel_tol=1e-6, abs_tol=1e-9
            )
    labels = published(celery, "images", "cel_img")["labels.parquet"]
    want_labels = published(inproc, "images", "cel_img")["labels.parquet"]
    assert labels["clean_label"].to_list() == want_labels["clean_label"].to_list()
    assert labels["action"].to_list() == want_labels["action"].to_list()
    scores = published(celery, "timeseries", "cel_ts")["windows.parquet"]
    assert scores["quality_score"].null_count() == 0 and scores.height > 0


def test_llm_pool_and_judgment_cache_hold_across_workers(cluster, tmp_path, slow_judge):
    """Two partitions with identical content judged by the two workers into one shared cache:
    with ``llm`` limited to 1 the judgment steps never overlap; with 2 they run at once (two
    processes writing the SQLite cache together) and the judgments are the same."""
    data = tmp_path / "data"
    parts = ["pool_a", "pool_b"]
    for name in parts:
        seed(data, "timeseries", "nab_traffic", name)
    # an LLM behind a real HTTP server on localhost that takes JUDGE_LATENCY_S per answer, so a
    # judgment step lasts seconds (I/O-bound, as with a hosted model): with limit 2 the two
    # steps surely overlap, with limit 1 an overlap could not hide in a sub-second step
    cfg = run_config(data, "timeseries")
    cfg["resources"]["judge"] = {
        "config": {
            "kind": "litellm",
            "model": "openai/sieve-test",
            "api_base": slow_judge.api_base,
            "api_key_env": JUDGE_KEY_ENV,
            "use_logprobs": "always",
            "max_concurrency": 4,
        }
    }
    cfg["ops"] = {"timeseries_judgments": {"config": {"max_pairs": 4}}}
    cfg = write_yaml(tmp_path / "ts.yaml", cfg)
    judgments = "timeseries_judgments"
    cache = data / "cache" / "judgments.sqlite"

    def night(limit: int) -> list[tuple[float, float]]:
        with cluster.instance() as instance:
            instance.event_log_storage.set_concurrency_slots("llm", limit)
            if not instance.has_dynamic_partition("timeseries_datasets", parts[0]):
                instance.add_dynamic_partitions("timeseries_datasets", parts)
            before = {p: r.run_id for p, r in runs_by_partition(instance, "timeseries_job").items()}
        launch_all(cluster, [("timeseries_job", p, cfg) for p in parts])
        with cluster.instance() as instance:
            runs = runs_by_partition(instance, "timeseries_job")
            assert all(runs[p].run_id != before.get(p) and runs[p].is_success for p in parts)
            workers = {step_workers(instance, runs[p].run_id)[judgments] for p in parts}
            # with limit 1 the second step is queued after the first ends, and either (idle)
            # worker may take it; with limit 2 they run at once, so on both workers
            assert limit == 1 or len(workers) == 2, f"both judgment steps ran on {workers}"
            return [step_interval(instance, runs[p].run_id, judgments) for p in parts]

    (a0, a1), (b0, b1) = night(limit=1)
    assert a1 <= b0 or b1 <= a0, (
        f"llm limit 1 but judgment steps overlapped: {(a0, a1, b0, b1)}\n{pool_trace(cluster)}"
    )
    first = {p: read_judgments(data, p) for p in parts}
    later = parts[1] if b0 >= a1 else parts[0]
    # the later step (a separate run process; on either worker) found every answer in the
    # cache the first one wrote
    assert first[later]["cached_forward"].all() and first[later]["cached_backward"].all()
    n_keys = len(set(first[later]["cache_key_forward"]) | set(first[later]["cache_key_backward"]))

    cache.unlink()  # the second night writes the cache afresh, from both workers at once
    for suffix in ("-wal", "-shm"):
        Path(f"{cache}{suffix}").unlink(missing_ok=True)
    (a0, a1), (b0, b1) = night(limit=2)
    assert a0 < b1 and b0 < a1, (
        f"llm limit 2 but judgment steps did not overlap: {(a0, a1, b0, b1)}"
    )
    import sqlite3

    with sqlite3.connect(cache) as con:
        rows = con.execute("SELECT COUNT(*) FROM judgments").fetchone()[0]
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert rows >= n_keys  # every judgment of both partitions is in the cache
    for p in parts:
        again = read_judgments(data, p, keep_run_columns=False)
        assert_frame_equal(again, first[p].drop(RUN_SPECIFIC, strict=False))


def pool_trace(cluster) -> str:
    """What the instance says about pool ``llm``: its limit and slots, and every engine event of
    the pool partitions' runs that mentions a pool or a slot (for a failing assertion)."""
    lines = []
    with cluster.instance() as instance:
        storage = instance.event_log_storage
        lines.append(f"pool config: {storage.get_pool_config()}")
        lines.append(f"pool limits: {storage.get_pool_limits()}")
        lines.append(f"llm info: {storage.get_concurrency_info('llm')}")
        for p, run in sorted(runs_by_partition(instance, "timeseries_job").items()):
            for rec in instance.all_logs(run.run_id):
                ev = rec.dagster_event
                msg = rec.message or ""
                if ev is not None and ("pool" in msg.lower() or "slot" in msg.lower()):
                    lines.append(f"{p} {rec.timestamp:.3f} {ev.event_type_value} {msg[:200]}")
    return "\n".join(lines)


#: judgment columns that say what this run spent (a cached answer costs nothing) or which run
RUN_SPECIFIC = ["run_id", "cached_forward", "cached_backward", "calls", "tokens", "cost_usd"]


def read_judgments(data: Path, name: str, keep_run_columns: bool = True) -> pl.DataFrame:
    df = pl.read_parquet(data / "clean" / "timeseries" / name / "judgments.parquet")
    return df if keep_run_columns else df.drop(RUN_SPECIFIC, strict=False)
