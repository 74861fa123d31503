import numpy as np
import pytest

from ops.tsrating import rubric_judge
from ops.tsrating.judge_base import Query, calibrate
from ops.tsrating.prompts import CRITERIA
from ops.tsrating.rubric_judge import RUBRIC_STATISTICS, RubricJudge, rubric_scores

from .generators import insignificant, significant


def p_avg(j, a, b, c):
    return calibrate(j.prob_second(a, b, c), j.prob_second(b, a, c))


@pytest.mark.parametrize("criterion", CRITERIA)
def test_prefers_significant_in_95_percent_of_pairs(criterion):
    j = RubricJudge()
    rng = np.random.default_rng(123)
    wins = sum(
        p_avg(j, insignificant(criterion, rng), significant(criterion, rng), criterion) > 0.5
        for _ in range(200)
    )
    assert wins / 200 >= 0.95


@pytest.mark.parametrize("criterion", ["trend", "frequency", "amplitude"])
def test_flat_loses_on_trend_frequency_amplitude(criterion):
    j = RubricJudge()
    rng = np.random.default_rng(5)
    flat = np.full(25, 7.0)
    for _ in range(20):
        other = rng.normal(0, 1, 25)
        assert p_avg(j, flat, other, criterion) > 0.5  # the other beats flat
        assert p_avg(j, flat, significant(criterion, rng), criterion) >= 0.75


def test_flat_does_not_lose_on_pattern():
    j = RubricJudge()
    rng = np.random.default_rng(6)
    flat = np.full(50, 10.0)
    assert rubric_scores(flat)["pattern"] == 1.0
    for _ in range(20):
        assert p_avg(j, flat, rng.normal(10, 6, 50), "pattern") < 0.5


@pytest.mark.parametrize("criterion", CRITERIA)
def test_affine_invariance(criterion):
    rng = np.random.default_rng(7)
    for _ in range(10):
        x = significant(criterion, rng) + rng.normal(0, 0.3, 25 if criterion != "pattern" else 50)
        x[3] += 8  # a spike, so pattern penalties are exercised too
        s = rubric_scores(x)[criterion]
        for a, c in [(3.0, 100.0), (-0.01, -5.0), (1e4, 1e6)]:
            assert rubric_scores(a * x + c)[criterion] == pytest.approx(s, abs=1e-6)


@pytest.mark.parametrize("criterion", CRITERIA)
def test_order_independent_after_calibration(criterion):
    j = RubricJudge()
    rng = np.random.default_rng(8)
    for _ in range(20):
        a, b = rng.normal(size=40), np.sin(np.arange(40) / 3) + rng.normal(0, 0.2, 40)
        assert p_avg(j, a, b, criterion) == pytest.approx(1 - p_avg(j, b, a, criterion), abs=1e-12)


def test_deterministic():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(6, 64))
    qs = [Query(X[i], X[(i + 1) % 6], c) for i in range(6) for c in CRITERIA]
    a1 = [a.prob_second for a in RubricJudge().judge(qs)]
    a2 = [a.prob_second for a in RubricJudge().judge(qs)]
    assert a1 == a2
    assert all(
        a.path == "rubric" and a.status == "ok" and a.calls == 1 for a in RubricJudge().judge(qs)
    )


def test_penalties_spikes_jumps_flatruns_missing():
    t = np.arange(128)
    clean = np.sin(2 * np.pi * t / 32) + 0.02 * t
    base = rubric_scores(clean)["pattern"]
    spiky = clean.copy()
    spiky[[20, 60, 100]] += 8
    jumpy = clean.copy()
    jumpy[64:] += 5
    flatrun = clean.copy()
    flatrun[40:60] = flatrun[40]
    missing = clean.copy()
    missing[10:30] = np.nan
    for bad in (spiky, jumpy, flatrun, missing):
        assert rubric_scores(bad)["pattern"] < base - 0.1


def test_documented_as_surrogate_with_statistics_listed():
    doc = rubric_judge.__doc__.lower()
    assert "surrogate" in doc and "circularity" in doc
    assert len(RUBRIC_STATISTICS) >= 6
