"""A crashed run never leaves instance-wide state that blocks later runs (issue 15).

Fast: a real SQLite instance holding pool slots for a run whose process is gone is reclaimed
(run failed, slots freed), a live run's slots are not touched, invalid partition keys are
dropped. Slow: ``kill -9`` twice during judging through the real CLI, then a rerun that
finishes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml

from pipelines.cli import main as cli_main

from .corpus import series_csv
from .fault_server import FaultServer

REPO = Path(__file__).resolve().parents[2]
POOL = {"concurrency": {"pools": {"default_limit": 2}}}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _reclaim():
    import pipelines.reclaim  # new in issue 15; imported here so the slow test runs without it

    return pipelines.reclaim


def _started_run(instance, tags: dict[str, str]) -> str:
    run_id = str(uuid.uuid4())
    instance.add_run(
        dg.DagsterRun(
            job_name="timeseries_job", run_id=run_id, status=dg.DagsterRunStatus.STARTED, tags=tags
        )
    )
    return run_id


def _claim(instance, run_id: str, step: str) -> None:
    status = instance.event_log_storage.claim_concurrency_slot("llm", run_id, step)
    assert status.is_claimed, status


def test_slots_of_a_killed_run_are_reclaimed_and_a_live_runs_are_not(tmp_path):
    r = _reclaim()
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides=POOL) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("llm", 2)
        host = r.run_owner_tags()[r.TAG_HOST]
        dead = _started_run(instance, {r.TAG_HOST: host, r.TAG_PID: str(_dead_pid())})
        _claim(instance, dead, "timeseries_judgments")
        live = _started_run(instance, r.run_owner_tags())
        _claim(instance, live, "timeseries_judgments")
        assert storage.get_concurrency_info("llm").active_slot_count == 2  # the pool is full
        # a third run would now wait forever: its claim is not granted
        third = _started_run(instance, r.run_owner_tags())
        assert not storage.claim_concurrency_slot("llm", third, "timeseries_judgments").is_claimed

        result = r.reclaim(instance)

        assert [d.run_id for d in result.failed_runs] == [dead]
        assert result.freed_slots == {dead: 1}
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(live).status == dg.DagsterRunStatus.STARTED
        info = storage.get_concurrency_info("llm")
        assert {s.run_id for s in info.claimed_slots} == {live}
        assert storage.claim_concurrency_slot("llm", third, "timeseries_judgments").is_claimed
        assert r.reclaim(instance).summary() == "nothing to reclaim"  # idempotent


def test_a_reused_pid_is_not_taken_for_the_dead_runs(tmp_path):
    """The run's pid now belongs to another process (this one): the recorded start time
    differs, so the run is still known to be dead."""
    r = _reclaim()
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        tags = r.run_owner_tags() | {r.TAG_PID_START: "1"}  # not this process's start time
        run_id = _started_run(instance, tags)
        if r.run_owner_tags().get(r.TAG_PID_START) is None:
            pytest.skip("no /proc: pid start times unknown")
        assert [d.run_id for d in r.dead_runs(instance)] == [run_id]


def test_runs_of_other_hosts_or_without_a_pid_are_never_touched(tmp_path):
    r = _reclaim()
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        other = _started_run(instance, {r.TAG_HOST: "another-host", r.TAG_PID: str(_dead_pid())})
        anonymous = _started_run(instance, {})
        assert r.reclaim(instance).failed_runs == []
        for run_id in (other, anonymous):
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED


def test_invalid_partition_keys_are_dropped(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions("timeseries_datasets", ["..", "good", "a b"])
        assert sorted(_reclaim().drop_invalid_partitions(instance)) == ["..", "a b"]
        assert instance.get_dynamic_partitions("timeseries_datasets") == ["good"]


def test_cli_refuses_dotdot_before_registering_it(tmp_path, monkeypatch, capsys):
    (tmp_path / "data" / "raw" / "timeseries").mkdir(parents=True)
    monkeypatch.setenv("SIEVE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert cli_main(["run", ".."]) == 2
    assert "invalid dataset name '..'" in capsys.readouterr().err
    with dg.DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions("timeseries_datasets") == []


# --- slow: kill -9 through the real CLI ---------------------------------------------------


def _instance_home(tmp_path: Path) -> Path:
    """The repository's dagster.yaml (pools, run monitoring) with storage under ``tmp_path``."""
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    home = tmp_path / "home"
    config["storage"] = {"sqlite": {"base_dir": str(home / "storage")}}
    config["local_artifact_storage"]["config"]["base_dir"] = str(home / "artifacts")
    config["compute_logs"]["config"]["base_dir"] = str(home / "logs")
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


def _cli(env: dict[str, str], dataset: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "run", dataset],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


@pytest.mark.slow
def test_kill_9_twice_during_judging_then_a_rerun_finishes(tmp_path):
    data = tmp_path / "data"
    for name in ("ts_a", "ts_b", "ts_c"):
        for s in range(2):
            series_csv(data / "raw" / "timeseries" / name / f"s{s}.csv", 400, seed=s)
    home = _instance_home(tmp_path)
    base = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SIEVE_DATA_DIR": str(data),
        "PYTHONPATH": str(REPO),
    }
    with FaultServer("hang", max_requests=1000) as server:
        procs = {}
        for tag in ("a", "b"):  # two runs judging at once hold both llm pool slots
            procs[tag] = _cli(
                {
                    **base,
                    "SIEVE_JUDGE_KIND": "litellm",
                    "SIEVE_JUDGE_MODEL": f"openai/hang-{tag}",
                    "SIEVE_JUDGE_API_BASE": server.api_base,
                    "SIEVE_JUDGE_API_KEY_ENV": "SIEVE_HANG_TEST_KEY",
                    "SIEVE_HANG_TEST_KEY": "sk-hang-test",  # without a key no request is sent
                },
                f"ts_{tag}",
            )
        deadline = time.monotonic() + 600
        while not {"hang-a", "hang-b"} <= set(server.models_seen):  # both inside the pool
            for proc in procs.values():
                assert proc.poll() is None, proc.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "the judging steps never called the judge"
            time.sleep(0.2)
        for proc in procs.values():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            info = instance.event_log_storage.get_concurrency_info("llm")
            assert info.active_slot_count == 2  # the pool is full of dead runs' claims
        server.release()

    # another dataset, default judge: before the fix this waited forever on pool llm
    rerun = _cli(base, "ts_c")
    try:
        out, _ = rerun.communicate(timeout=float(os.environ.get("SIEVE_TEST_RERUN_TIMEOUT", 600)))
    except subprocess.TimeoutExpired:
        os.killpg(rerun.pid, signal.SIGKILL)
        pytest.fail("the rerun after two kill -9 hung (pool slots never freed)")
    assert rerun.returncode == 0, out[-3000:]
    assert "ts_c: ok" in out and "reclaimed" in out
    with dg.DagsterInstance.from_config(str(home)) as instance:
        failed = instance.get_run_records(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE])
        )
        assert len(failed) == 2  # the two killed runs, marked failed with the reason
        assert instance.event_log_storage.get_concurrency_info("llm").active_slot_count == 0
    shutil.rmtree(home / "storage", ignore_errors=True)


def test_cli_reclaim_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("")
    with dg.DagsterInstance.get() as instance:
        r = _reclaim()
        dead = _started_run(
            instance, {r.TAG_HOST: r.run_owner_tags()[r.TAG_HOST], r.TAG_PID: str(_dead_pid())}
        )
        instance.add_dynamic_partitions("image_datasets", [".."])
    assert cli_main(["reclaim"]) == 0
    out = capsys.readouterr().out
    assert f"run {dead}" in out and "marked failed" in out and "'..'" in out
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_dynamic_partitions("image_datasets") == []


def test_a_launched_run_is_found_dead_by_its_engine_event_pid(tmp_path):
    """Runs launched by the daemon carry no Sieve tags; Dagster's own "Started process for
    run (pid: N)" engine event names the worker."""
    from dagster._core.events import EngineEventData

    r = _reclaim()
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        run_id = _started_run(instance, {})
        run = instance.get_run_by_id(run_id)
        pid = _dead_pid()
        instance.report_engine_event(
            f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid)
        )
        alive = _started_run(instance, {})
        instance.report_engine_event(
            f"Started process for run (pid: {os.getpid()}).",
            instance.get_run_by_id(alive),
            EngineEventData.in_process(os.getpid()),
        )
        assert [(d.run_id, d.how) for d in r.dead_runs(instance)] == [(run_id, "engine event")]
