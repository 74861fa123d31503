"""The rater kept between nights (ops/tsrating/rater_state.py): reuse, refit reasons, files."""

import numpy as np
import polars as pl
import pytest

from ops.tsrating.quality_net import load_checkpoint, save_checkpoint
from ops.tsrating.rater_state import RaterState, load_kept, state_statement
from ops.tsrating.scoring import ScoringConfig, score_windows
from tests.ops.tsrating.test_fault_rating import FAST, _frames, _series

pytestmark = pytest.mark.usefixtures("one_torch_thread")
EMPTY = pl.DataFrame()


def _night(xs, kept=None, **cfg):
    points, windows = _frames(xs)
    return score_windows(windows, points, EMPTY, config=ScoringConfig(**FAST, **cfg), kept=kept)


@pytest.fixture(scope="module")
def night1():
    xs = [_series(2400, seed=1), _series(2400, seed=2, period=24.0)]
    xs[0][900:1000] += np.random.default_rng(0).normal(0, 4.0, 100)  # a noisy burst to flag
    return xs, _night(xs)


def test_first_night_fits_and_says_why(night1):
    _, res = night1
    assert res.report["state"]["reused"] is False
    assert res.report["state"]["reason"] == "no rater kept from an earlier night"
    assert res.state is not None and res.state.n_windows == res.scores.height
    assert state_statement(res.report["state"]).startswith("rater fitted tonight")


def test_kept_rater_rescores_the_same_data_identically(night1, tmp_path):
    xs, res = night1
    res.state.save(tmp_path / "rater_state.pt")
    kept, problem = load_kept(tmp_path / "rater_state.pt")
    assert problem is None
    again = _night(xs, kept=kept)
    assert again.report["state"]["reused"] is True
    assert again.report["calibration"]["threshold"] == res.report["calibration"]["threshold"]
    cols = ["window_id", "quality_score", "is_low_quality_issue", "p_fault", "rater_version"]
    assert again.scores.select(cols).equals(res.scores.select(cols))


def test_a_grown_night_keeps_the_threshold_and_the_flags_of_unchanged_windows(night1):
    xs, res = night1
    grown = [np.concatenate([x, _series(400, seed=9 + i)]) for i, x in enumerate(xs)]
    kept = _night(grown, kept=res.state)
    refit = _night(grown)
    assert kept.report["state"]["reused"] and not refit.report["state"]["reused"]
    assert kept.report["calibration"]["threshold"] == res.report["calibration"]["threshold"]
    # nothing is retrained: the kept net scores tonight (the version names the same rater)
    assert kept.scores["rater_version"][0] == res.scores["rater_version"][0]
    assert refit.scores["rater_version"][0] != res.scores["rater_version"][0]
    flagged = res.scores.filter("is_low_quality_issue")["window_id"].to_list()
    assert flagged, "the noisy burst should be flagged on night 1"
    on_kept = kept.scores.filter(pl.col("window_id").is_in(flagged))
    assert on_kept["is_low_quality_issue"].all()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"refit": True}, "refit requested"),
        ({"prior": 0.1}, "settings, init checkpoint"),
    ],
)
def test_refit_when_asked_or_when_settings_change(night1, change, expected):
    xs, res = night1
    again = _night(xs, kept=res.state, **change)
    assert again.report["state"]["reused"] is False
    assert again.report["state"]["reason"].startswith(expected)


def test_refit_when_the_dataset_more_than_doubles_or_its_series_change(night1):
    xs, res = night1
    tripled = [np.concatenate([x, x, x]) for x in xs]
    assert _night(tripled, kept=res.state).report["state"]["reason"].startswith("the dataset has")
    points, windows = _frames(xs)
    renamed = windows.with_columns(pl.col("series_id") + "_other")
    pts = points.with_columns(pl.col("series_id") + "_other")
    other = score_windows(renamed, pts, EMPTY, config=ScoringConfig(**FAST), kept=res.state)
    assert other.report["state"]["reason"] == "only 0 of tonight's 2 series were in the kept fit"


def test_refit_when_the_data_is_replaced_under_the_same_names(night1):
    xs, res = night1
    replaced = [_series(len(x), seed=50 + i) for i, x in enumerate(xs)]
    out = _night(replaced, kept=res.state)
    assert out.report["state"]["reused"] is False
    assert out.report["state"]["reason"].startswith("only 0 of the ")
    assert "still hold the same points" in out.report["state"]["reason"]


def test_a_new_series_is_judged_against_its_own_norm_and_said(night1):
    xs, res = night1
    more = [*xs, _series(2400, seed=3, period=12.0)]
    out = _night(more, kept=res.state)
    assert out.report["state"]["reused"] is True and out.report["state"]["new_series"] == 1
    assert any("1 of 3 series are new" in n for n in out.notes)
    assert "1 series new since" in state_statement(out.report["state"])


def test_kept_state_is_a_checkpoint_and_a_plain_checkpoint_is_not_a_state(night1, tmp_path):
    _, res = night1
    path = tmp_path / "rater_state.pt"
    res.state.save(path)
    net, header = load_checkpoint(path)  # usable as ScoresConfig.checkpoint too
    assert header["info"]["n_windows"] == res.state.n_windows
    plain = tmp_path / "plain.pt"
    save_checkpoint(net, plain, {"method": "test"})
    state, problem = load_kept(plain)
    assert state is None and "not a kept rater state" in problem
    with pytest.raises(ValueError, match="not a kept rater state"):
        RaterState.load(plain)
    assert load_kept(tmp_path / "absent.pt") == (None, "no rater kept from an earlier night")
    # an unreadable kept file: the night fits again and says why
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    state, problem = load_kept(tmp_path / "broken.pt")
    assert state is None and problem.startswith("the kept rater could not be read")
