from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from ops.tsrating.cache import JudgmentCache
from ops.tsrating.judge_base import Answer
from ops.tsrating.judging import JUDGMENT_SCHEMA, JudgingSummary, judge_windows
from ops.tsrating.pairs import PairConfig
from ops.tsrating.rubric_judge import RubricJudge


def make_windows(n=24, L=128, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(L)
    X = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            x = rng.uniform(0.05, 0.1) * t + rng.normal(0, 0.5, L)
        elif kind == 1:
            x = 3 * np.sin(2 * np.pi * t / rng.uniform(10, 30)) + rng.normal(0, 0.1, L)
        elif kind == 2:
            x = rng.normal(0, 2, L)
        else:
            x = rng.normal(0, 1, L)
            x[rng.integers(0, L, 5)] += 15
            x[40:50] = np.nan
        X.append(x)
    return np.vstack(X)


def test_rubric_end_to_end_then_rerun_makes_zero_calls(tmp_path):
    X = make_windows()
    ids = [f"s1:{i}" for i in range(len(X))]
    cache = JudgmentCache(tmp_path / "c.sqlite")
    cfg = PairConfig(pairs_per_window=1.0, seed=1)
    events = []
    df, s = judge_windows(X, ids, RubricJudge(), pairs=cfg, cache=cache, progress=events.append)
    assert df.schema == pl.Schema(JUDGMENT_SCHEMA)
    assert s.calls > 0 and s.cache_hits == 0 and events
    assert set(df["criterion"]) == {"trend", "frequency", "amplitude", "pattern"}
    # stopping rule: each criterion reached its target of confident pairs (N = 24)
    assert all(v >= 24 for v in s.confident_per_criterion.values())
    # calibration and confidence
    p = (df["comparisons_forward"] + 1 - df["comparisons_backward"]) / 2
    assert np.allclose(p.to_numpy(), df["comparisons_avg"].to_numpy())
    conf = (df["comparisons_avg"] <= 0.25) | (df["comparisons_avg"] >= 0.75)
    assert (conf == df["confident"]).all()
    assert not df["confident"].all()  # near-ties are kept but marked
    assert (df["status"] == "ok").all() and (df["path"] == "rubric").all()
    assert np.allclose((df["prob_a_forward"] + df["comparisons_forward"]).to_numpy(), 1.0)
    # unordered pairs asked once per criterion, both orders have distinct keys
    assert df.select("block_a", "block_b", "criterion").is_unique().all()
    assert (df["cache_key_forward"] != df["cache_key_backward"]).all()

    judge2 = RubricJudge()
    df2, s2 = judge_windows(X, ids, judge2, pairs=cfg, cache=cache)
    assert s2.calls == 0 and judge2.calls_made == 0
    assert s2.cache_hit_rate == 1.0 and s2.cache_hits == 2 * df.height
    keep = [c for c in df.columns if c not in ("cached_forward", "cached_backward", "calls")]
    assert df2.select(keep).equals(df.select(keep))
    assert df2["cached_forward"].all() and df2["cached_backward"].all()


def test_max_pairs_caps_and_seed_changes_pairs(tmp_path):
    X = make_windows(12)
    ids = [str(i) for i in range(12)]
    c = JudgmentCache(tmp_path / "c.sqlite")
    df, s = judge_windows(
        X, ids, RubricJudge(), criteria=("trend",), pairs=PairConfig(max_pairs=5, seed=1), cache=c
    )
    assert df.height == 5
    df2, _ = judge_windows(
        X, ids, RubricJudge(), criteria=("trend",), pairs=PairConfig(max_pairs=5, seed=2), cache=c
    )
    assert set(zip(df["block_a"], df["block_b"], strict=True)) != set(
        zip(df2["block_a"], df2["block_b"], strict=True)
    )


def test_pairs_exhausted_when_target_unreachable(tmp_path):
    X = np.random.default_rng(0).normal(size=(5, 64))  # 10 pairs only, all near-ties
    df, s = judge_windows(
        X,
        list("abcde"),
        RubricJudge(),
        criteria=("amplitude",),
        pairs=PairConfig(pairs_per_window=3.0),
        cache=JudgmentCache(tmp_path / "c.sqlite"),
    )
    assert df.height == 10


def test_input_validation(tmp_path):
    c = JudgmentCache(tmp_path / "c.sqlite")
    X = np.zeros((3, 8))
    with pytest.raises(ValueError):
        judge_windows(X, ["a", "b"], RubricJudge(), pairs=PairConfig(), cache=c)
    with pytest.raises(ValueError):
        judge_windows(X, ["a", "a", "b"], RubricJudge(), pairs=PairConfig(), cache=c)
    with pytest.raises(ValueError):
        judge_windows(
            X, ["a", "b", "c"], RubricJudge(), criteria=("colour",), pairs=PairConfig(), cache=c
        )


class FlakyJudge(RubricJudge):
    """A rubric judge that reports every third answer as unparseable (a real judge can)."""

    def judge(self, queries):
        out = super().judge(queries)
        for k in range(len(out)):
            if k % 3 == 0:
                out[k] = Answer(
                    prob_second=None,
                    status="unparseable",
                    reason="test",
                    path="rubric",
                    model=self.model,
                    calls=1,
                )
        return out


def test_unparseable_answers_recorded_not_guessed(tmp_path):
    X = make_windows(10)
    df, s = judge_windows(
        X,
        [str(i) for i in range(10)],
        FlakyJudge(),
        criteria=("trend",),
        pairs=PairConfig(max_pairs=12),
        cache=JudgmentCache(tmp_path / "c.sqlite"),
    )
    bad = df.filter(pl.col("status") == "unparseable")
    assert bad.height > 0 and s.unparseable > 0
    assert bad["comparisons_avg"].is_null().all() and not bad["confident"].any()


def test_summary_json_keeps_its_keys_and_reads_back(tmp_path):
    X = make_windows()
    ids = [f"s1:{i}" for i in range(len(X))]
    cache = JudgmentCache(tmp_path / "c.sqlite")
    _, s = judge_windows(X, ids, RubricJudge(), pairs=PairConfig(seed=1), cache=cache)
    keys = list(s.to_json())
    assert keys[0] == "model" and keys[-1] == "elapsed_s" and "call_budget" not in keys
    full = replace(s, call_budget=100, judge_kind="rubric")
    assert list(full.to_json())[-2:] == ["call_budget", "judge_kind"]
    assert JudgingSummary.from_json(full.to_json()) == full
    # a summary written by earlier code (a plain dict with the same keys) reads the same
    old = {**full.to_json(), "some_future_key": 1}
    assert JudgingSummary.from_json(old) == full
