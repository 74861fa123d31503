"""The Sieve console logger on a real (small) Dagster job: one line per step with time, rows and
checks; a failing check and a warning get their own line; no DEBUG event stream."""

import dagster as dg

from assets._common import CONSOLE_NOTE
from pipelines.console import CONSOLE_RUN_CONFIG, ENV, sieve_console


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="numbers")])
def numbers(context: dg.AssetExecutionContext):
    context.log.info("an info line the console leaves to the event log")
    context.log.warning("three is a small number")
    yield dg.MaterializeResult(
        metadata={"dagster/row_count": 3, CONSOLE_NOTE: "rater kept from last night"}
    )
    yield dg.AssetCheckResult(check_name="positive", passed=False)


JOB = dg.Definitions(
    assets=[numbers],
    jobs=[dg.define_asset_job("numbers_job", config=CONSOLE_RUN_CONFIG)],
    loggers={"console": sieve_console},
).resolve_job_def("numbers_job")


def test_one_line_per_step_and_failures_on_their_own(capsys, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    with dg.instance_for_test() as instance:
        assert JOB.execute_in_process(instance=instance).success
    out = capsys.readouterr().out.splitlines()
    assert any("check positive FAILED" in line for line in out)
    assert any("warning: numbers: three is a small number" in line for line in out)
    done = [line for line in out if line.strip().startswith("ok")]
    assert len(done) == 1 and "numbers" in done[0] and "3 rows" in done[0]
    assert "checks 0/1 passed" in done[0]
    assert not any("DEBUG" in line or "info line" in line for line in out)
    note = out.index(done[0]) + 1  # the step's note right under its line
    assert out[note].strip() == "rater kept from last night"
    assert len(out) == 4


def test_env_brings_back_dagsters_stream(capsys, monkeypatch):
    monkeypatch.setenv(ENV, "DEBUG")
    with dg.instance_for_test() as instance:
        JOB.execute_in_process(instance=instance)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "STEP_START" in text and "an info line" in text


@dg.asset
def no_input():
    raise FileNotFoundError("no .csv files under raw/timeseries/m1")


def test_a_failing_step_prints_the_users_error_not_dagsters_wrapper(capsys, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    job = dg.Definitions(
        assets=[no_input],
        jobs=[dg.define_asset_job("fails", config=CONSOLE_RUN_CONFIG)],
        loggers={"console": sieve_console},
    ).resolve_job_def("fails")
    with dg.instance_for_test() as instance:
        assert not job.execute_in_process(instance=instance, raise_on_error=False).success
    fail = [line for line in capsys.readouterr().out.splitlines() if "FAIL" in line]
    assert fail and "FileNotFoundError: no .csv files under raw/timeseries/m1" in fail[0]
    assert "Error occurred while executing" not in fail[0]
