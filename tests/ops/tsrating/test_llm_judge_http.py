"""The litellm judge against a real HTTP server on localhost (OpenAI chat-completions protocol)."""

import logging

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from ops.tsrating.cache import JudgmentCache
from ops.tsrating.judge_base import Query
from ops.tsrating.judging import judge_windows
from ops.tsrating.llm_judge import LLMJudge, LLMJudgeConfig, OfflineCacheMiss
from ops.tsrating.pairs import PairConfig
from ops.tsrating.rubric_judge import RubricJudge

from .openai_server import LocalOpenAIServer

KEY_VALUE = "sk-test-not-a-real-key-123456"


@pytest.fixture
def server():
    with LocalOpenAIServer() as s:
        yield s


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("SIEVE_TEST_LLM_KEY", KEY_VALUE)


def cfg(server, **kw):
    base = dict(
        model="openai/test-model",
        api_base=server.api_base,
        api_key_env="SIEVE_TEST_LLM_KEY",
        n_votes=10,
        timeout_s=1.0,
        max_retries=3,
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
        max_concurrency=3,
    )
    base.update(kw)
    return LLMJudgeConfig(**base)


def windows(n=8, L=64, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(L)
    X = [0.2 * t + rng.normal(0, 1, L) if i % 2 == 0 else rng.normal(10, 1, L) for i in range(n)]
    return np.vstack(X)


def queries(k=4, criterion="trend"):
    X = windows(2 * k)
    return [Query(X[2 * i + 1], X[2 * i], criterion) for i in range(k)]  # second shown is the trend


def test_logprobs_path(server):
    j = LLMJudge(cfg(server, use_logprobs="always"))
    ans = j.judge(queries(4))
    assert [a.status for a in ans] == ["ok"] * 4
    assert all(a.path == "logprobs" and a.calls == 1 and a.tokens > 0 for a in ans)
    assert all(a.prob_second > 0.9 for a in ans)
    body = server.state.requests[0]["body"]
    assert body["logprobs"] is True and body["top_logprobs"] == 5 and body["max_tokens"] == 1
    assert body["model"] == "test-model"
    assert server.state.requests[0]["auth"] == f"Bearer {KEY_VALUE}"
    assert all(a.cost_usd == 0.0 for a in ans)  # unknown model costs 0


def test_votes_path_with_n(server):
    j = LLMJudge(cfg(server, use_logprobs="never"))
    ans = j.judge(queries(3))
    assert all(a.status == "ok" and a.path == "votes" and a.votes_a + a.votes_b == 10 for a in ans)
    assert all(a.prob_second >= 0.9 for a in ans)
    assert len(server.state.requests) == 3 and all(
        r["body"]["n"] == 10 for r in server.state.requests
    )


def test_auto_falls_back_to_votes_and_single_calls_when_provider_ignores_params(server):
    server.state.supports_logprobs = False
    server.state.supports_n = False
    j = LLMJudge(cfg(server, use_logprobs="auto", n_votes=5, max_concurrency=1))
    ans = j.judge(queries(2))
    assert all(a.status == "ok" and a.path == "votes" for a in ans)
    assert all(a.votes_a + a.votes_b == 5 for a in ans)
    # query 1: logprobs probe + n-call (1 choice back) + 4 single calls; query 2: 5 single calls
    assert ans[0].calls == 6 and ans[1].calls == 5
    assert len(server.state.requests) == 11
    assert (
        "n" not in server.state.requests[-1]["body"] or server.state.requests[-1]["body"]["n"] == 1
    )


def test_429_timeout_and_garbage_are_retried_or_recorded(server, caplog):
    caplog.set_level(logging.DEBUG)
    server.state.faults = ["429", "timeout", "500", "garbage"]
    j = LLMJudge(cfg(server, use_logprobs="always", max_concurrency=1))
    ans = j.judge(queries(3))
    # query 1: 429 -> timeout -> 500 -> garbage (4 HTTP attempts, 3 retries, one logical call)
    assert ans[0].status == "unparseable" and ans[0].prob_second is None
    assert "neither A nor B" in ans[0].reason
    assert [a.status for a in ans[1:]] == ["ok", "ok"]
    assert j.retries == 3 and j.http_attempts == 6 and j.calls_made == 3
    assert KEY_VALUE not in caplog.text


def test_retries_exhausted_is_an_error_not_a_crash(server):
    server.state.faults = ["429"] * 3
    j = LLMJudge(cfg(server, use_logprobs="always", max_retries=2, max_concurrency=1))
    ans = j.judge(queries(2))
    assert ans[0].status == "error" and "RateLimit" in ans[0].reason and ans[0].prob_second is None
    assert ans[1].status == "ok"


def test_garbage_votes_are_unparseable(server):
    server.state.faults = ["garbage"]
    j = LLMJudge(cfg(server, use_logprobs="never", max_concurrency=1))
    ans = j.judge(queries(2))
    assert ans[0].status == "unparseable" and ans[0].votes_a == 0 and ans[0].votes_b == 0
    assert "0/10 valid votes" in ans[0].reason and ans[1].status == "ok"


def test_judge_windows_through_http_then_cache_makes_zero_calls(server, tmp_path):
    X = windows(8)
    ids = [f"w{i}" for i in range(8)]
    cache = JudgmentCache(tmp_path / "c.sqlite")
    pc = PairConfig(pairs_per_window=1.0, max_pairs=10, seed=0)
    df, s = judge_windows(
        X, ids, LLMJudge(cfg(server)), criteria=("trend", "pattern"), pairs=pc, cache=cache
    )
    assert s.calls > 0 and s.tokens > 0 and s.errors == 0
    assert (df["status"] == "ok").all() and set(df["path"]) == {"logprobs"}
    assert (df["model"] == "openai/test-model").all()
    # the rubric-backed server and the rubric judge agree after calibration (up to serialisation)
    rj = RubricJudge()
    for row in df.iter_rows(named=True):
        a, b = X[row["idx_a"]], X[row["idx_b"]]
        exp = (
            rj.prob_second(a, b, row["criterion"]) + 1 - rj.prob_second(b, a, row["criterion"])
        ) / 2
        assert row["comparisons_avg"] == pytest.approx(
            exp, abs=2e-3
        )  # prec-4 rounding in the prompt
    n_http = len(server.state.requests)
    j2 = LLMJudge(cfg(server))
    df2, s2 = judge_windows(X, ids, j2, criteria=("trend", "pattern"), pairs=pc, cache=cache)
    assert s2.calls == 0 and s2.cache_hit_rate == 1.0 and j2.http_attempts == 0
    assert len(server.state.requests) == n_http
    assert df2["comparisons_avg"].equals(df["comparisons_avg"])


def test_call_budget_stops_cleanly(server, tmp_path):
    X = windows(8)
    j = LLMJudge(cfg(server, call_budget=7, use_logprobs="always"))
    df, s = judge_windows(
        X,
        [str(i) for i in range(8)],
        j,
        criteria=("trend",),
        pairs=PairConfig(max_pairs=10),
        cache=JudgmentCache(tmp_path / "c.sqlite"),
    )
    assert s.budget_exhausted is True
    assert len(server.state.requests) == 7 and s.calls == 7
    assert (df["status"] == "budget_exhausted").sum() >= 1
    assert df.filter(pl.col("status") == "budget_exhausted")["comparisons_avg"].is_null().all()
    assert (df["status"] == "ok").sum() >= 1


def test_offline_guard_raises_before_any_client_call(tmp_path):
    calls = []
    j = LLMJudge(
        LLMJudgeConfig(model="openai/test-model", offline=True),
        completion_fn=lambda **kw: calls.append(kw),
    )
    with pytest.raises(OfflineCacheMiss):
        judge_windows(
            windows(4),
            list("abcd"),
            j,
            criteria=("trend",),
            pairs=PairConfig(max_pairs=2),
            cache=JudgmentCache(tmp_path / "c.sqlite"),
        )
    assert calls == []


def test_offline_with_warm_cache_works(server, tmp_path):
    X, ids = windows(6), [str(i) for i in range(6)]
    cache = JudgmentCache(tmp_path / "c.sqlite")
    pc = PairConfig(max_pairs=4)
    judge_windows(X, ids, LLMJudge(cfg(server)), criteria=("trend",), pairs=pc, cache=cache)
    df, s = judge_windows(
        X, ids, LLMJudge(cfg(server, offline=True)), criteria=("trend",), pairs=pc, cache=cache
    )
    assert s.calls == 0 and df.height == 4


class Recorder:
    def __init__(self):
        self.kwargs = []

    def __call__(self, **kw):
        self.kwargs.append(kw)
        return {
            "choices": [
                {
                    "message": {"content": "B"},
                    "logprobs": {
                        "content": [
                            {
                                "token": "B",
                                "logprob": -0.1,
                                "top_logprobs": [
                                    {"token": "B", "logprob": -0.1},
                                    {"token": "A", "logprob": -2.4},
                                ],
                            }
                        ]
                    },
                }
            ],
            "usage": {"total_tokens": 12},
        }


@pytest.mark.parametrize("api_base", [None, "http://127.0.0.1:9/v1"])
def test_judge_forwards_configured_endpoint(api_base):
    rec = Recorder()
    j = LLMJudge(LLMJudgeConfig(model="openai/whatever", api_base=api_base), completion_fn=rec)
    ans = j.judge(queries(1))
    assert ans[0].status == "ok" and ans[0].prob_second == pytest.approx(
        np.exp(-0.1) / (np.exp(-0.1) + np.exp(-2.4))
    )
    assert len(rec.kwargs) == 1
    assert rec.kwargs[0]["api_base"] == api_base and rec.kwargs[0]["model"] == "openai/whatever"
    assert "api_key" not in rec.kwargs[0]


def test_judge_requires_explicit_model():
    with pytest.raises(ValidationError):
        LLMJudgeConfig()
    with pytest.raises(ValidationError):
        LLMJudgeConfig(model="  ")
    with pytest.raises(ValidationError):
        LLMJudgeConfig(model="openai/x", base_url="http://elsewhere")  # unknown key


def test_missing_key_env_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("SIEVE_TEST_LLM_KEY")
    j = LLMJudge(
        LLMJudgeConfig(model="openai/x", api_key_env="SIEVE_TEST_LLM_KEY"), completion_fn=Recorder()
    )
    with pytest.raises(RuntimeError, match="SIEVE_TEST_LLM_KEY"):
        j.judge(queries(1))


def test_config_roundtrip():
    c = LLMJudgeConfig(model="openai/x", n_votes=5, call_budget=10)
    assert LLMJudgeConfig(**c.model_dump()) == c
    assert c.valid_votes_needed == 3
