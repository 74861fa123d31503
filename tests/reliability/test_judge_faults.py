"""Judge faults from issue 15 against a real misbehaving HTTP server on 127.0.0.1 (bounded in
requests and time): the budget counts every HTTP request, provider error bodies are stored only
redacted, and a judge outage never publishes untrained 0.5 scores."""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from assets.resources import JudgeResource, QualityThresholds, SieveSettings
from ops.tsrating.cache import JudgmentCache
from ops.tsrating.judging import judge_windows
from ops.tsrating.llm_judge import LLMJudge, LLMJudgeConfig
from ops.tsrating.pairs import PairConfig
from pipelines.definitions import defs

from .corpus import series_csv
from .fault_server import FaultServer

KEY = "sk-proj-Zx81kQ2mN7vB4cR9tY6uW3eL0aS5dF"
KEY_ENV = "SIEVE_FAULT_TEST_KEY"
REDACTED = "[REDACTED]"  # ops.tsrating.llm_judge.REDACTED (literal: runs on the old code too)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)


def _judge(server: FaultServer, **kw) -> LLMJudge:
    cfg = dict(
        model="openai/fault-model",
        api_base=server.api_base,
        api_key_env=KEY_ENV,
        use_logprobs="always",
        timeout_s=5.0,
        max_retries=3,
        backoff_initial_s=0.001,
        backoff_max_s=0.01,
        max_concurrency=2,
    )
    return LLMJudge(LLMJudgeConfig(**(cfg | kw)))


def _windows(n=16, length=48, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([np.cumsum(rng.normal(0, 1, length)) for _ in range(n)])


@pytest.mark.parametrize("mode, budget", [("500", 20), ("429", 10), ("badjson", 10)])
def test_budget_counts_every_http_request_including_retries(tmp_path, mode, budget):
    with FaultServer(mode, max_requests=10 * budget) as server:
        judge = _judge(server, call_budget=budget)
        X = _windows()
        df, summary = judge_windows(
            X,
            [f"w{i}" for i in range(len(X))],
            judge,
            criteria=("trend", "pattern"),
            pairs=PairConfig(max_pairs=40),
            cache=JudgmentCache(tmp_path / "c.sqlite"),
        )
    assert server.requests <= budget, f"server saw {server.requests} requests, budget {budget}"
    assert server.requests == budget  # every request failed, so the whole budget was spent
    assert judge.http_attempts == budget and summary.calls == budget
    assert summary.budget_exhausted and (df["status"] == "budget_exhausted").any()
    assert (df["status"] != "ok").all()


def test_key_echoed_by_a_proxy_in_a_401_body_is_never_stored(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with FaultServer("401echo", max_requests=200) as server:
        judge = _judge(server)
        X = _windows(6)
        df, _ = judge_windows(
            X,
            [f"w{i}" for i in range(6)],
            judge,
            criteria=("trend",),
            pairs=PairConfig(max_pairs=5),
            cache=JudgmentCache(tmp_path / "c.sqlite"),
        )
    assert server.auth_seen[0] == f"Bearer {KEY}"  # the server did get (and echo) the key
    assert (df["status"] == "error").all()
    reasons = " ".join(df["reason"].drop_nulls())
    assert "AuthenticationError" in reasons and REDACTED in reasons
    assert KEY not in reasons and KEY[8:24] not in reasons
    df.write_parquet(tmp_path / "j.parquet")
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f
    assert KEY not in caplog.text


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abc.def-ghi",
        'api_key="hunter2-long-enough"',
        "x-api-key: 0123456789",
        "AKIAABCDEFGHIJKLMNOP",
        "AIzaSyA-1234567890abcdefghijklmnopq",
        "sk-ant-api03-abcdefgh",
        "token a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6",
    ],
)
def test_anything_key_shaped_is_redacted(text):
    from ops.tsrating.llm_judge import redact

    out = redact(f"error: {text} end")
    assert REDACTED in out and out.startswith("error: ") and out.endswith(" end")
    secret = text.split()[-1].split("=")[-1].strip('"')
    assert secret not in out


# --- through Dagster ----------------------------------------------------------------------


def _dataset(root: Path, name: str = "judged") -> None:
    for s in range(3):
        series_csv(root / "raw" / "timeseries" / name / f"s{s}.csv", 300, seed=s)


RUN_CONFIG = {
    "ops": {
        "timeseries_windows": {"config": {"length": 32, "stride": 16}},
        "timeseries_judgments": {"config": {"criteria": ["trend", "pattern"], "max_pairs": 120}},
    }
}


def _run(root: Path, instance, judge: JudgeResource, name: str = "judged"):
    instance.add_dynamic_partitions("timeseries_datasets", [name])
    return defs.resolve_job_def("timeseries_job").execute_in_process(
        partition_key=name,
        instance=instance,
        run_config=RUN_CONFIG,
        raise_on_error=False,
        resources={
            "settings": SieveSettings(data_dir=str(root)),
            "thresholds": QualityThresholds(),
            "judge": judge,
        },
    )


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _llm(server: FaultServer, **kw) -> JudgeResource:
    return JudgeResource(
        **{
            "kind": "litellm",
            "model": "openai/fault-model",
            "api_base": server.api_base,
            "api_key_env": KEY_ENV,
            "use_logprobs": "always",
            "timeout_s": 5.0,
            "max_retries": 0,
            "max_concurrency": 4,
        }
        | kw
    )


def test_key_never_reaches_clean_published_or_the_event_log(tmp_path):
    root = tmp_path / "data"
    _dataset(root)
    with (
        dg.instance_for_test(temp_dir=str(_mkdir(tmp_path / "home"))) as instance,
        FaultServer("401echo", every=7, max_requests=3000) as server,
    ):
        result = _run(root, instance, _llm(server))
        assert result.success
    published = pl.read_parquet(root / "published" / "timeseries" / "judged" / "judgments.parquet")
    assert (published["status"] == "error").any()  # some judgments did fail with the echo
    assert REDACTED in " ".join(published["reason"].drop_nulls())
    scanned = 0
    for base in (root, tmp_path / "home"):
        for f in base.rglob("*"):
            if f.is_file():
                scanned += 1
                assert KEY.encode() not in f.read_bytes(), f"the key leaked into {f}"
    assert scanned > 10


def test_judge_outage_after_a_good_night_keeps_the_last_good_scores(tmp_path):
    root = tmp_path / "data"
    _dataset(root)
    published = root / "published" / "timeseries" / "judged" / "windows.parquet"
    with (
        dg.instance_for_test(temp_dir=str(_mkdir(tmp_path / "home"))) as instance,
        FaultServer("ok", max_requests=5000) as server,
    ):
        good = _run(root, instance, _llm(server))
        assert good.success
        before = pl.read_parquet(published)
        clean_before = (root / "clean" / "timeseries" / "judged" / "scores.parquet").read_bytes()
        assert before["quality_score"].n_unique() > 5  # a trained rater, not 0.5 everywhere

        # the next night the provider is down; the cache is dropped so every pair is asked
        (root / "cache" / "judgments.sqlite").unlink()
        server.mode = "500"
        n0 = server.requests
        bad = _run(root, instance, _llm(server))
        assert server.requests > n0  # the judge was really asked, and failed

    assert not bad.success  # the CLI says FAILED, not ok
    failure = next(
        e
        for e in bad.all_events
        if e.event_type_value == "STEP_FAILURE" and e.step_key == "timeseries_scores"
    )
    text = str(failure.event_specific_data.error)
    assert "judge outage" in text and "InternalServerError" in text
    after = pl.read_parquet(published)
    assert after.equals(before)  # consumers still read the good night
    assert (after["quality_score"] != 0.5).any()
    clean_after = (root / "clean" / "timeseries" / "judged" / "scores.parquet").read_bytes()
    assert clean_after == clean_before  # the last good scores were kept
    judged = pl.read_parquet(root / "clean" / "timeseries" / "judged" / "judgments.parquet")
    assert (judged["status"] == "error").all()  # what happened is on record for the report
