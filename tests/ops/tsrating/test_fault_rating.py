"""The fault-aware scores step (docs/tsrating.md §11): fault families, series-relative features,
self-supervised pairs, calibration and the coverage rule, checkpoints, meta-train, judge kinds."""

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
import torch

from ops.contracts import JUDGE_KINDS, SCORES
from ops.tsrating import calibration as cal
from ops.tsrating.context import FEATURE_NAMES, grid_starts, series_features
from ops.tsrating.faults import ALL, FAMILIES, SeriesRef, inject, window_labels
from ops.tsrating.judge_base import judge_kind_of
from ops.tsrating.metatrain import meta_train_to
from ops.tsrating.quality_net import (
    DEFAULT_CHECKPOINT,
    QualityNet,
    load_checkpoint,
    save_checkpoint,
)
from ops.tsrating.scoring import ScoringConfig, fine_tune_summary, score_windows
from ops.tsrating.selection import top_windows
from ops.tsrating.sspairs import KINDS, make_pairs
from ops.tsrating.windows import WindowConfig, make_windows

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = dict(ft_steps=40, max_ss_windows=300, max_calibration_windows=300)


def _series(n=3000, seed=0, period=48.0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (
        10
        + 3 * np.sin(2 * np.pi * t / period)
        + np.cumsum(rng.normal(0, 0.05, n))
        + rng.normal(0, 0.3, n)
    )


def _frames(xs):
    t0 = datetime(2024, 1, 1)
    parts = []
    for i, x in enumerate(xs):
        ts = [t0 + timedelta(hours=k) for k in range(len(x))]
        vals = [None if np.isnan(v) else float(v) for v in x]
        parts.append(
            pl.DataFrame(
                {"series_id": f"s{i}", "timestamp": ts, "value": vals},
                schema={
                    "series_id": pl.String,
                    "timestamp": pl.Datetime("us"),
                    "value": pl.Float64,
                },
            )
        )
    points = pl.concat(parts)
    return points, make_windows(points, WindowConfig(128, 64))


@pytest.mark.parametrize("name", list(ALL))
def test_every_family_changes_only_its_segment(name):
    x = _series(1000)
    y = x.copy()
    ALL[name](y, 300, 500, np.random.default_rng(1), SeriesRef.of(x), "eval")
    changed = ~((y == x) | (np.isnan(y) & np.isnan(x)))
    assert changed[300:500].any(), name
    assert not changed[:300].any() and not changed[500:].any(), name


def test_inject_share_and_window_labels():
    x = _series(4000)
    y, delta, fam = inject(x, list(FAMILIES), np.random.default_rng(0), share=0.2)
    touched = (fam >= 0).mean()
    assert 0.1 < touched < 0.35
    g = grid_starts(len(y))
    lab, fid = window_labels(delta, fam, g)
    assert set(np.unique(lab)) <= {-1, 0, 1} and (lab == 1).any() and (lab == 0).any()
    assert (fid[lab == 0] == -1).all() and (fid[lab == 1] >= 0).all()
    clean = np.flatnonzero(lab == 0)
    for i in clean[:20]:
        np.testing.assert_array_equal(y[g[i] : g[i] + 128], x[g[i] : g[i] + 128])


def test_features_are_series_relative():
    x = _series(3000)
    g = grid_starts(len(x))
    base = series_features(x, g)
    assert base.shape == (len(g), len(FEATURE_NAMES)) and np.isfinite(base).all()
    shifted = x.copy()
    shifted[g[20] : g[20] + 128] += 6.0  # a level shift of one window
    F = series_features(shifted, g)
    z = [i for i, n in enumerate(FEATURE_NAMES) if n.startswith(("n_", "z_"))]
    assert np.abs(F[20, z]).sum() > np.abs(base[20, z]).sum() + 1.0
    # the same clean series at another scale and offset: same features
    np.testing.assert_allclose(series_features(100 + 50 * x, g), base, atol=0.05)
    # constant and all-NaN series give finite features
    assert np.isfinite(series_features(np.full(600, 2.0))).all()
    assert np.isfinite(series_features(np.full(300, np.nan))).all()


def test_self_supervised_pairs_share_a_context():
    xs = [_series(1500, s) for s in range(2)]
    ps = make_pairs(xs, list(FAMILIES), np.random.default_rng(0), copies=2)
    n0 = ps.n_orig
    same = ps.kind == KINDS.index("same_ctx")
    assert same.any()
    # same content: the same window index in two copies, the degraded one is 'a'
    assert ((ps.a[same] - n0) % n0 == (ps.b[same] - n0) % n0).all()
    assert (ps.row_label[ps.a[same]] == 1).all() and (ps.row_label[ps.b[same]] == 0).all()
    # no pair ranks a degraded copy against an original window (the context shortcut)
    fault = ps.p > 0.5
    assert (ps.b[fault] >= n0).all()
    tie = ps.kind == KINDS.index("tie_ctx")
    assert np.allclose(ps.p[tie], 0.5) and (ps.b[tie] < n0).all()
    fam = int(ps.row_family[ps.row_label == 1][0])  # leave one family out
    a, b, _, _ = ps.select([fam])
    assert len(a) < len(ps.a)
    bad = (ps.row_family == fam) & (ps.row_label != 0)
    assert not bad[a].any() and not bad[b].any()


def test_calibration_constant_scores_flag_nothing_and_coverage_rule():
    n = 40
    sid = np.repeat([0, 1], n // 2)
    C = cal.fit(np.zeros(n), np.zeros(0))
    out = cal.finalize(np.zeros(n), sid, np.zeros(n), C)
    assert not out["is_low_quality_issue"].any()
    miss = np.zeros(n)
    miss[[3, 4]] = [0.51, 1.0]
    miss[5] = 0.5
    out = cal.finalize(np.zeros(n), sid, miss, C)
    assert out["is_low_quality_issue"][[3, 4]].all() and not out["is_low_quality_issue"][5]
    assert (out["quality_score"][[3, 4]] == 0).all() and not out["selectable"][[3, 4]].any()
    assert out["quality_score"][5] < out["quality_score"][6]  # missingness lowers the score


def test_calibration_threshold_separates_a_fault_copy():
    rng = np.random.default_rng(0)
    r = rng.normal(0, 1, 2000)
    faults = rng.normal(-6, 1, 300)
    C = cal.fit(r, faults)
    assert C.t <= -3.0 + 1e-9  # never closer than min_z robust SDs
    assert C.info["tpr_est"] > 0.8 and C.info["fpr_est"] <= 0.01
    assert C.a < 0 and C.p_fault(np.array([-8.0]))[0] > C.p_fault(np.array([0.0]))[0]
    sid = np.zeros(2000, int)
    assert cal.finalize(r, sid, np.zeros(2000), C)["is_low_quality_issue"].mean() < 0.02


def test_mixture_threshold_finds_faults_under_heavy_contamination():
    rng = np.random.default_rng(1)
    clean, bad = rng.normal(0, 1, 1400), rng.normal(-5, 1.5, 600)  # 30 % of windows faulty
    r = np.concatenate([clean, bad])
    # the calibration copy's faults: same shape as the data's faults, fresh draws
    r_fault = rng.normal(-5, 1.5, 800)
    sid = np.zeros(len(r), int)
    mirror = cal.fit(r, r_fault, cal.CalibrationConfig(mixture=False))
    mix = cal.fit(r, r_fault)
    assert mix.info["rule"] == "mixture" and 0.2 < mix.info["contamination_est"] < 0.4
    f_mirror = cal.finalize(r, sid, np.zeros(len(r)), mirror)["is_low_quality_issue"]
    f_mix = cal.finalize(r, sid, np.zeros(len(r)), mix)["is_low_quality_issue"]
    assert f_mix[1400:].mean() > 0.7 > f_mirror[1400:].mean()  # recall
    # the rule targets precision (0.8), not a false-positive rate, on contaminated data
    precision = f_mix[1400:].sum() / f_mix.sum()
    assert precision >= 0.75 and f_mix[:1400].mean() < 0.12


def test_mixture_threshold_leaves_clean_data_alone():
    rng = np.random.default_rng(2)
    r, r_fault = rng.normal(0, 1, 2000), rng.normal(-5, 1.5, 800)
    C = cal.fit(r, r_fault)
    assert C.info["contamination_est"] < 0.05 and C.info["rule"] != "mixture"
    flags = cal.finalize(r, np.zeros(2000, int), np.zeros(2000), C)["is_low_quality_issue"]
    assert flags.mean() < 0.02
    # no fault copy or constant scores: no mixture threshold
    assert cal.mixture_threshold(r, np.zeros(0), cal.CalibrationConfig())[0] == -np.inf
    assert cal.mixture_threshold(np.zeros(50), np.zeros(50), cal.CalibrationConfig())[0] == -np.inf


def test_short_series_are_flagged_by_coverage_only():
    C = cal.Calibrator(-1.0, -1.0, 0.0, cal.CalibrationConfig(), {})
    sid = np.array([0] * 20 + [1] * 3)
    r = np.zeros(23)
    r[[5, 21]] = -5.0
    miss = np.zeros(23)
    miss[22] = 0.9
    flags = cal.finalize(r, sid, miss, C)["is_low_quality_issue"]
    assert flags.tolist() == [i in (5, 22) for i in range(23)]


def test_checkpoint_roundtrip_and_errors(tmp_path):
    torch.manual_seed(0)
    net = QualityNet()
    v = save_checkpoint(net, tmp_path / "q.pt", {"method": "erm"})
    got, header = load_checkpoint(tmp_path / "q.pt")
    assert header["version"] == v and header["info"]["method"] == "erm"
    X = np.random.default_rng(0).normal(size=(5, len(FEATURE_NAMES))).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(net(torch.as_tensor(X))[0], got(torch.as_tensor(X))[0])
    torch.save({"format": "other"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a sieve-quality-net"):
        load_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "absent.pt")
    assert load_checkpoint(DEFAULT_CHECKPOINT)[1]["info"]["method"] == "fomaml"


def test_score_windows_finds_injected_faults():
    rng = np.random.default_rng(3)
    clean = [_series(4000, s) for s in range(3)]
    xs, labs = [], []
    for x in clean:
        y, delta, fam = inject(x, ["spikes", "level_shift", "stuck", "noise"], rng, share=0.15)
        xs.append(y)
        labs.append(window_labels(delta, fam, grid_starts(len(y)))[0])
    lab = np.concatenate(labs)
    points, windows = _frames(xs)
    res = score_windows(windows, points, pl.DataFrame(), config=ScoringConfig(**FAST))
    s = res.scores
    assert s.columns == [c for c in SCORES.names if c != "run_id"]
    q = s["quality_score"].to_numpy()
    from sklearn.metrics import roc_auc_score

    m = lab >= 0
    assert roc_auc_score(lab[m] == 1, -q[m]) > 0.8
    flags = s["is_low_quality_issue"].to_numpy()
    assert flags[lab == 0].mean() < 0.05
    assert s["judge_kind"].unique().to_list() == ["self-supervised"]
    assert res.report["init"].startswith("quality-net-")
    assert res.report["calibration"]["threshold"] < 0


def _faulty_frames(seed: int, families: list[str]):
    """Points and windows of three series with ``families`` injected on 10 % of the points."""
    rng = np.random.default_rng(seed)
    xs = [inject(_series(3000, k), families, rng, share=0.1)[0] for k in range(3)]
    return _frames(xs)


def test_fine_tuning_keeps_the_validation_selected_state():
    points, windows = _faulty_frames(4, ["spikes", "noise"])
    cfg = dict(FAST, ft_check_every=10)
    res = score_windows(windows, points, pl.DataFrame(), config=ScoringConfig(**cfg))
    v = res.report["fit"]["validation"]
    assert v["selected_step"] in range(0, FAST["ft_steps"] + 1, 10)
    assert v["auc_selected"] >= max(v["auc_init"], v["auc_last"]) - 1e-12
    assert v["n_degraded"] >= 5 and v["n_untouched"] >= 5
    off = score_windows(
        windows, points, pl.DataFrame(), config=ScoringConfig(**cfg, ft_select=False)
    )
    assert "validation" not in off.report["fit"]


def test_fine_tuned_weights_are_interpolated_toward_the_checkpoint():
    points, windows = _faulty_frames(5, ["spikes", "level_shift"])

    def run(**kw):
        cfg = ScoringConfig(**{**FAST, "ft_select": False, **kw})
        return score_windows(windows, points, pl.DataFrame(), config=cfg)

    init_only = run(ft_steps=0).scores["quality_score"].to_numpy()
    alpha0 = run(ft_interpolate=0.0)
    assert alpha0.report["fit"]["interpolate"] == 0.0
    np.testing.assert_allclose(alpha0.scores["quality_score"].to_numpy(), init_only, atol=1e-9)
    last = run(ft_interpolate=1.0)
    assert "interpolate" not in last.report["fit"]
    half = run(ft_interpolate=0.5).scores["quality_score"].to_numpy()
    full = last.scores["quality_score"].to_numpy()
    assert not np.allclose(full, init_only)  # fine-tuning moved the scores ...
    assert not np.allclose(half, full) and not np.allclose(half, init_only)  # ... and halfway
    with pytest.raises(ValueError, match="ft_interpolate"):
        ScoringConfig(ft_interpolate=1.5)
    assert "0.50·checkpoint + 0.50·fine-tuned" in fine_tune_summary(
        run(ft_interpolate=0.5).report["fit"]
    )
    assert fine_tune_summary(run(ft_steps=0).report["fit"]).startswith("no fine-tuning")


def test_score_windows_missing_windows_never_selected_and_clean_data_few_flags():
    xs = [_series(3000, s) for s in range(3)]
    xs[0][640:900] = np.nan  # > 50 % of windows 10..13 missing
    points, windows = _frames(xs)
    res = score_windows(windows, points, pl.DataFrame(), config=ScoringConfig(**FAST))
    w = windows.join(res.scores, on="window_id")
    sparse = w.filter(pl.col("missing_share") > 0.5)
    assert sparse.height >= 2
    assert sparse["is_low_quality_issue"].all() and (sparse["quality_score"] == 0).all()
    chosen = top_windows(w, 100.0)
    assert not set(sparse["window_id"]) & set(chosen["window_id"])
    ok = w.filter(pl.col("missing_share") == 0)
    assert ok["is_low_quality_issue"].mean() <= 0.05


def test_score_windows_reports_window_disjoint_judge_agreement():
    xs = [_series(3000, s) for s in range(2)]
    points, windows = _frames(xs)
    ids = windows["window_id"].to_list()
    spread = windows["std"].to_numpy()
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(ids), 400), rng.integers(0, len(ids), 400)
    p = np.where(spread[b] > spread[a], 0.9, 0.1)  # a toy judge: larger spread is better
    j = pl.DataFrame(
        {
            "block_a": [ids[i] for i in a],
            "block_b": [ids[i] for i in b],
            "criterion": "amplitude",
            "comparisons_avg": p,
            "confident": True,
            "status": "ok",
            "model": "toy",
        }
    )
    res = score_windows(windows, points, j, config=ScoringConfig(**FAST))
    agree = res.report["judge_agreement"]["amplitude"]
    assert agree["n_train"] > 0 and agree["n_heldout_all"] > 0
    assert res.scores["amplitude_score"].n_unique() > 1
    assert (res.scores["trend_score"] == 0.5).all()  # no judge pairs: a constant, not invented
    assert res.judge_model == "toy"


def test_meta_train_checkpoint_is_used_by_scoring(tmp_path):
    doms = {"a": [_series(2000, 0)], "b": [_series(2000, 1, period=24)]}
    info = meta_train_to(tmp_path / "m.pt", doms, steps=20, copies=2, method="erm")
    assert info["domains"] == {"a": 1, "b": 1} and info["pairs"] > 0
    points, windows = _frames([_series(2000, 5)])
    res = score_windows(
        windows,
        points,
        pl.DataFrame(),
        config=ScoringConfig(checkpoint=str(tmp_path / "m.pt"), **FAST),
    )
    assert res.report["init"] == info["version"]
    res = score_windows(
        windows, points, pl.DataFrame(), config=ScoringConfig(checkpoint="none", scratch_steps=20)
    )
    assert res.report["init"] == "scratch"
    with pytest.raises(ValueError, match="method"):
        meta_train_to(tmp_path / "x.pt", doms, method="maml2")


def test_judge_kind_of():
    assert judge_kind_of("rubric") == "rubric-surrogate"
    assert judge_kind_of("litellm", "openai/gpt-4o-mini") == "llm"
    assert judge_kind_of("litellm", "sieve-local/smollm2") == "local-llm"
    assert {judge_kind_of("rubric"), judge_kind_of("litellm", "x")} < set(JUDGE_KINDS)
    with pytest.raises(ValueError):
        judge_kind_of("oracle")


def test_score_windows_without_windows_writes_an_empty_table():
    points, windows = _frames([_series(500)])
    res = score_windows(windows.head(0), points.head(0), pl.DataFrame())
    assert res.scores.height == 0
    assert res.scores.columns == [c for c in SCORES.names if c != "run_id"]
    assert res.report["n_windows"] == 0 and res.notes


def test_meta_train_command_writes_a_loadable_checkpoint(tmp_path, monkeypatch, capsys):
    from pipelines.cli import main

    monkeypatch.setenv("SIEVE_DATA_DIR", str(tmp_path))
    assert main(["meta-train"]) == 2  # no clean dataset yet: a clear error
    assert "no time-series dataset" in capsys.readouterr().err
    points, _ = _frames([_series(1500, 0), _series(1500, 1)])
    folder = tmp_path / "clean" / "timeseries" / "ds"
    folder.mkdir(parents=True)
    points.write_parquet(folder / "points.parquet")
    out = tmp_path / "m.pt"
    assert main(["meta-train", "ds", "--method", "erm", "--steps", "10", "--out", str(out)]) == 0
    net, header = load_checkpoint(out)
    assert header["info"]["domains"] == {"ds": 2} and header["info"]["method"] == "erm"
    assert main(["meta-train", "absent"]) == 2


def test_short_series_and_an_uncalibrated_threshold_are_said_not_silent():
    # M-competition style: many series of one window each (aeon's M1 yearly: 181 of 181); the
    # scores step must say that quality flags cannot be judged there, not flag nothing quietly
    xs = [_series(60, s) for s in range(12)] + [_series(3000, 99)]
    points, windows = _frames(xs)
    res = score_windows(windows, points, pl.DataFrame(), config=ScoringConfig(**FAST))
    assert any(n.startswith("12 of 13 series have fewer than 8 windows") for n in res.notes)
    xs = [_series(60, s) for s in range(12)]
    points, windows = _frames(xs)
    res = score_windows(windows, points, pl.DataFrame(), config=ScoringConfig(**FAST))
    assert any(n.startswith("12 of 12 series") for n in res.notes)
    assert not res.scores["is_low_quality_issue"].any()
    none = cal.Calibrator(-np.inf, 0.0, 0.0, cal.CalibrationConfig(), {"n_fault": 1})
    notes = cal.notes(np.zeros(20, np.int64), 1, none)
    assert notes == [
        "no quality threshold could be calibrated (1 degraded windows in the calibration "
        "copy): no window is flagged for quality; quality_score still ranks the windows"
    ]
