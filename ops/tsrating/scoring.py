"""Score every window of a dataset (docs/tsrating.md §8, §11): series-relative features, a
fault-aware rater fine-tuned on the dataset's own self-supervised fault pairs beside the judge's
pairs, calibrated absolute flags and the coverage rule.

Steps (:func:`score_windows`):

1. **Series.** The points of each series in time order (NaN = unparsed value); each window is
   ``x[start_index : start_index + n_points]`` of its series.
2. **Features** (:mod:`ops.tsrating.context`) of every window in its series' context.
3. **Init.** The quality-net checkpoint (``checkpoint``: ``""`` = the one shipped with Sieve,
   ``"none"`` = from scratch, else a file written by ``sieve meta-train``).
4. **Self-supervised pairs** (:mod:`ops.tsrating.sspairs`) from corrupted copies of up to
   ``max_ss_windows`` windows' worth of the dataset's series, and the judge's pairs from
   ``judgments.parquet``; fine-tune (``ft_steps`` Adam steps; with ``ft_select`` the integrity
   head keeps the state, checkpoint included, that best separates the calibration copy's
   degraded from untouched windows: :class:`_Validation`; then, with ``ft_interpolate`` < 1,
   its weights are interpolated back toward the checkpoint's: :func:`_interpolate`). Judge
   agreement is measured on **window-disjoint** held-out pairs (``judge_holdout_share`` of the
   windows, by a hash of their id, never trained on), on all pairs and on confident pairs.
5. **Calibration** (:mod:`ops.tsrating.calibration`) on a separate fault copy (eval-band
   faults, up to ``max_calibration_windows`` windows; mirrored-tail and, with
   ``mixture_threshold``, contamination-robust thresholds), then ``quality_score``, ``p_fault``,
   ``is_low_quality_issue`` and ``selectable``; the coverage rule uses ``missing_share`` =
   ``n_missing`` over the points the window should hold (observed + cadence gaps).

6. **Kept between nights** (:mod:`ops.tsrating.rater_state`): given the rater an earlier night
   fitted (``kept``), steps 3–5 are skipped and that net, its series norms and its threshold
   score tonight's features, unless a refit reason applies (``refit``, changed settings, growth
   beyond ``refit_growth``, new series); ``result.state`` is the rater used.

Criterion scores (``trend_score`` …) are the judge heads' utilities, min–max normalised over
the dataset (0.5 where the criterion had no judge pairs); they never enter ``quality_score``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from ops.contracts import CRITERIA, QUALITY_SCORE, SELF_SUPERVISED
from ops.hashing import sha256_hex
from ops.tsrating import calibration as cal
from ops.tsrating.context import L_DEFAULT, grid_starts, series_features
from ops.tsrating.faults import FAMILIES, inject, window_labels
from ops.tsrating.quality_net import (
    DEFAULT_CHECKPOINT,
    QualityNet,
    load_checkpoint,
    pair_accuracy,
    score,
    train,
)
from ops.tsrating.rater_state import RaterState, fit_settings, refit_reason, window_signatures
from ops.tsrating.rater_state import fingerprint as state_fingerprint
from ops.tsrating.sspairs import KINDS, make_pairs


@dataclass(frozen=True)
class ScoringConfig:
    """The scores step's settings (docs/tsrating.md §11; the Dagster ``ScoresConfig`` has the
    same fields and defaults)."""

    checkpoint: str = ""
    copies: int = 4
    share: float = 0.3
    ft_steps: int = 300
    ft_lr: float = 1e-3
    ft_select: bool = True
    ft_check_every: int = 25
    ft_interpolate: float = 0.75
    scratch_steps: int = 600
    scratch_lr: float = 3e-3
    hidden: int = 16
    w_judge: float = 0.5
    max_ss_windows: int = 6000
    max_calibration_windows: int = 6000
    judge_holdout_share: float = 0.2
    max_missing: float = 0.5
    prior: float = 0.05
    target_precision: float = 0.8
    max_fpr: float = 0.01
    min_z: float = 3.0
    min_series_windows: int = 8
    shrink_windows: float = 2.0
    combine_detectors: bool = True
    mixture_threshold: bool = True
    seed: int = 0
    refit: bool = False
    refit_growth: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.ft_interpolate <= 1.0:
            raise ValueError(f"ft_interpolate must be in [0, 1], got {self.ft_interpolate}")

    def calibration(self) -> cal.CalibrationConfig:
        return cal.CalibrationConfig(
            prior=self.prior,
            target_precision=self.target_precision,
            max_fpr=self.max_fpr,
            min_z=self.min_z,
            max_missing=self.max_missing,
            min_series_windows=self.min_series_windows,
            shrink_windows=self.shrink_windows,
            combine=self.combine_detectors,
            mixture=self.mixture_threshold,
        )


@dataclass
class ScoringResult:
    scores: pl.DataFrame  # one row per window: window_id + the rating columns (no run_id)
    report: dict[str, Any]
    net: QualityNet | None = None
    notes: list[str] = field(default_factory=list)
    judge_model: str = ""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # diagnostics (benchmarks)
    state: RaterState | None = None  # the rater used tonight (kept or newly fitted)


def series_arrays(points: pl.DataFrame) -> dict[str, np.ndarray]:
    """Each series' values in time order (the order windows index with ``start_index``)."""
    return {
        str(sid): g["value"].cast(pl.Float64).to_numpy().astype(np.float64)
        for (sid,), g in points.sort(["series_id", "timestamp"]).group_by(
            "series_id", maintain_order=True
        )
    }


def missing_shares(windows: pl.DataFrame, series: dict[str, np.ndarray]) -> np.ndarray:
    """``n_missing`` over the points a window should hold (observed + cadence gaps)."""
    n_null = np.array(
        [
            int(np.isnan(series[s][i : i + n]).sum())
            for s, i, n in windows.select("series_id", "start_index", "n_points").iter_rows()
        ],
        dtype=np.float64,
    )
    miss = windows["n_missing"].fill_null(0).to_numpy().astype(np.float64)
    pts = windows["n_points"].fill_null(0).to_numpy().astype(np.float64)
    expected = pts + np.maximum(miss - n_null, 0.0)
    return np.where(expected > 0, miss / np.maximum(expected, 1.0), 1.0)


def _sample(
    lengths: list[int], budget: int, length: int, rng: np.random.Generator
) -> list[tuple[int, int, int]]:
    """Segments ``(series, lo, hi)`` of at most ``budget`` windows in all: whole series in a
    random order, the last one cut to what the budget has left (contiguous, random offset)."""
    out, left = [], budget
    for i in rng.permutation(len(lengths)):
        n = lengths[i]
        w = len(grid_starts(max(n, length), length))
        if left <= 0:
            break
        if w <= left:
            out.append((int(i), 0, n))
            left -= w
        else:
            pts = (left + 1) * 64 + length
            lo = int(rng.integers(0, max(1, n - pts)))
            out.append((int(i), lo, min(n, lo + pts)))
            left = 0
    return out


def _judge_pairs(
    judgments: pl.DataFrame, window_ids: list[str]
) -> dict[str, tuple[np.ndarray, ...]]:
    """Per criterion (a, b, p, confident) of the ``ok`` judgments whose windows exist."""
    pos = {w: i for i, w in enumerate(window_ids)}
    out: dict[str, tuple[np.ndarray, ...]] = {}
    if not judgments.height:
        return out
    j = judgments.filter(pl.col("comparisons_avg").is_not_null())
    if "status" in j.columns:
        j = j.filter(pl.col("status") == "ok")
    for c in CRITERIA:
        jc = j.filter(pl.col("criterion") == c)
        a = np.array([pos.get(str(x), -1) for x in jc["block_a"].to_list()], dtype=np.int64)
        b = np.array([pos.get(str(x), -1) for x in jc["block_b"].to_list()], dtype=np.int64)
        p = jc["comparisons_avg"].to_numpy().astype(np.float64)
        conf = jc["confident"].fill_null(False).to_numpy().astype(bool)
        keep = (a >= 0) & (b >= 0)
        if keep.any():
            out[c] = (a[keep], b[keep], p[keep], conf[keep])
    return out


def _heldout_windows(window_ids: list[str], share: float) -> np.ndarray:
    """Window-disjoint split: a window is held out when a hash of its id falls below share."""
    return np.array(
        [int(sha256_hex(w)[:8], 16) / 0xFFFFFFFF < share for w in window_ids], dtype=bool
    )


def _minmax(v: np.ndarray) -> np.ndarray:
    lo, hi = (float(v.min()), float(v.max())) if len(v) else (0.0, 0.0)
    return (v - lo) / (hi - lo) if hi > lo else np.full(len(v), 0.5)


class _Validation:
    """Validation-selected fine-tuning: AUC of the integrity utility, relative to each series'
    median, separating degraded (label 1) from untouched (label 0) windows of the calibration
    copy. :meth:`check` returns the ``on_check`` callback of :func:`quality_net.train`; the best
    state (ties and gains under ``min_gain`` keep the earlier one, so the init wins unless the
    dataset's own pairs measurably help) is kept."""

    min_gain = 1e-3

    def __init__(self, X: np.ndarray, lab: np.ndarray, sid: np.ndarray, n_series: int):
        self.X, self.sid, self.n_series = X, sid, n_series
        self.pos, self.neg = lab == 1, lab == 0
        self.usable = bool(self.pos.sum() >= 5 and self.neg.sum() >= 5)
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_auc, self.best_step = -1.0, -1
        self.curve: list[tuple[int, float]] = []

    def auc(self, net: QualityNet) -> float:
        s = score(net, self.X)[0]
        m = cal.series_medians(s, self.sid, self.n_series, 0.0)
        return _mw_auc(s[self.neg] - m[self.sid[self.neg]], s[self.pos] - m[self.sid[self.pos]])

    def check(self, net: QualityNet):
        def on_check(step: int) -> None:
            a = self.auc(net)
            self.curve.append((step, a))
            if a > self.best_auc + (self.min_gain if self.best_state is not None else 0.0):
                self.best_auc, self.best_step = a, step
                self.best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}

        return on_check

    def summary(self) -> dict[str, Any]:
        return {
            "selected_step": self.best_step,
            "auc_selected": self.best_auc,
            "auc_init": self.curve[0][1] if self.curve else None,
            "auc_last": self.curve[-1][1] if self.curve else None,
            "n_degraded": int(self.pos.sum()),
            "n_untouched": int(self.neg.sum()),
        }


def _interpolate(net: QualityNet, init_state: dict[str, torch.Tensor], alpha: float) -> None:
    """Weight-space ensemble of the checkpoint and the fine-tuned net (WiSE-FT, Wortsman et al.
    2022): every float parameter becomes ``(1 − alpha)·init + alpha·fine-tuned``, in place."""
    state = net.state_dict()
    net.load_state_dict(
        {
            k: (1.0 - alpha) * init_state[k] + alpha * v if v.is_floating_point() else v
            for k, v in state.items()
        }
    )


def _mw_auc(hi: np.ndarray, lo: np.ndarray) -> float:
    """P(a ``hi`` value beats a ``lo`` value) (Mann-Whitney, ties count one half)."""
    from scipy.stats import rankdata

    v = np.concatenate([hi, lo])
    rk = rankdata(v)
    n1, n0 = len(hi), len(lo)
    return float((rk[:n1].sum() - n1 * (n1 + 1) / 2) / max(n1 * n0, 1))


def load_init(checkpoint: str) -> tuple[QualityNet | None, str | None]:
    """The net to start from and its version (``None`` for a from-scratch run)."""
    if checkpoint.strip().lower() == "none":
        return None, None
    path = Path(checkpoint) if checkpoint.strip() else DEFAULT_CHECKPOINT
    net, header = load_checkpoint(path)
    return net, str(header["version"])


def score_windows(
    windows: pl.DataFrame,
    points: pl.DataFrame,
    judgments: pl.DataFrame,
    *,
    config: ScoringConfig = ScoringConfig(),
    judge_kind: str | None = None,
    device: str = "cpu",
    families: Sequence[str] | None = None,
    kept: RaterState | None = None,
    kept_problem: str | None = None,
    run: str = "",
) -> ScoringResult:
    """Rate every row of ``windows`` (their points in ``points``; judgments by window id).
    ``families``: the simulated fault families of the self-supervision (default: all; the
    leave-one-family-out benchmark passes fewer). ``kept``: the rater an earlier night fitted
    (:mod:`ops.tsrating.rater_state`); it scores tonight unchanged unless
    :func:`~ops.tsrating.rater_state.refit_reason` gives a reason to fit again
    (``kept_problem``: why none could be read). ``result.state`` is the rater used tonight;
    ``result.report["state"]["reused"]`` says whether it is the kept one."""
    families = list(FAMILIES) if families is None else list(families)
    del device  # a 57→16→16 net: the CPU is faster than a transfer
    t0 = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    notes: list[str] = []
    n = windows.height
    if n == 0:
        return _empty_result(windows, config, judge_kind)
    series = series_arrays(points)
    names = sorted(set(windows["series_id"].to_list()))
    for s in names:
        if s not in series:
            raise ValueError(f"windows.parquet has series {s!r} that points.parquet lacks")
    sidx = {s: i for i, s in enumerate(names)}
    xs = [series[s] for s in names]
    length = int(windows["n_points"].max() or L_DEFAULT) if n else L_DEFAULT
    if length != L_DEFAULT:
        notes.append(f"windows of {length} points; the shipped checkpoint saw {L_DEFAULT}")
    length = max(length, 16)
    sid = np.array([sidx[s] for s in windows["series_id"].to_list()], dtype=np.int64)
    starts = windows["start_index"].to_numpy().astype(np.int64)
    X = np.zeros((n, 0), np.float32)
    for i, x in enumerate(xs):
        rows = np.flatnonzero(sid == i)
        F = series_features(x, starts[rows], length)
        if X.shape[1] == 0:
            X = np.zeros((n, F.shape[1]), np.float32)
        X[rows] = F
    missing = missing_shares(windows, series) if n else np.zeros(0)
    t_feat = time.perf_counter() - t0

    judge_model = judge_models(judgments)
    settings = {f.name: getattr(config, f.name) for f in fields(config)}
    init, init_version = load_init(config.checkpoint)
    fp = state_fingerprint(settings, init_version, length, judge_model)
    reason = refit_reason(
        kept,
        fingerprint=fp,
        n_windows=n,
        names=names,
        growth=config.refit_growth,
        refit=config.refit,
        missing_reason=kept_problem,
        windows=windows,
    )
    jp = _judge_pairs(judgments, windows["window_id"].to_list())
    held = _heldout_windows(windows["window_id"].to_list(), config.judge_holdout_share)
    ccfg = config.calibration()
    if reason is None and kept is not None:
        net = kept.net
        s, J = score(net, X)
        ev, n_new = kept.evidence_for(names, cal.evidence(s, X, sid, len(xs), ccfg))
        calib = kept.calibrator_with(ccfg)
        r = ev.utility(s, X, sid)
        state = kept
        summary = kept.fit_summary
        judged = set(summary.get("judge_criteria", []))
        arrays: dict[str, np.ndarray] = {}
        timings = {"features": t_feat}
        state_info = {"reused": True, "new_series": n_new} | kept.describe()
        if n_new:
            notes.append(
                f"{n_new} of {len(names)} series are new since the kept fit "
                f"({kept.fitted_at}): judged against tonight's norm for them"
            )
    else:
        fitted = _fit(X, xs, sid, jp, held, init, config, families, rng, length, t0 + t_feat)
        net, s, J = fitted.net, fitted.s, fitted.J
        ev = cal.evidence(s, X, sid, len(xs), ccfg)
        r = ev.utility(s, X, sid)
        rc = (
            ev.utility(score(net, fitted.cX)[0], fitted.cX, fitted.csid)
            if len(fitted.cX)
            else r[:0]
        )
        calib = cal.fit(r, rc[fitted.clab == 1], ccfg)
        judged = set(fitted.train_j)
        summary = {
            "init": init_version or "scratch",
            "fit": fitted.fit,
            "self_supervised": fitted.self_supervised,
            "judge_criteria": sorted(judged),
        }
        state = RaterState.capture(
            net,
            ev,
            names,
            calib,
            fingerprint=fp,
            n_windows=n,
            fitted_at=datetime.now(UTC).isoformat(timespec="seconds"),
            fit_run=run,
            fit_summary=summary,
            signatures=window_signatures(windows),
        )
        arrays = {"cX": fitted.cX, "csid": fitted.csid, "clab": fitted.clab}
        timings = {"features": t_feat} | fitted.seconds
        state_info = {"reused": False, "reason": reason} | state.describe()
    out = cal.finalize(r, sid, missing, calib)
    notes += cal.notes(sid, len(xs), calib)
    timings["total"] = time.perf_counter() - t0

    # criterion scores from the judge heads
    crit_scores = {
        c: (_minmax(J[:, k]) if c in judged else np.full(n, 0.5)) for k, c in enumerate(CRITERIA)
    }
    agreement = _agreement(J, jp, held)
    version = (
        "quality-net-"
        + sha256_hex(
            repr(sorted((k, v.numpy().tobytes().hex()[:64]) for k, v in net.state_dict().items()))
            + repr(fit_settings(settings))
        )[:12]
    )
    quality = out["quality_score"]
    order = np.lexsort((np.arange(n), -out["rank_key"]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    frame = windows.select("window_id").with_columns(
        *[pl.Series(f"{c}_score", crit_scores[c], dtype=pl.Float64) for c in CRITERIA],
        pl.Series(QUALITY_SCORE, quality, dtype=pl.Float64),
        pl.Series("quality_rank", rank, dtype=pl.Int64),
        pl.Series("is_low_quality_issue", out["is_low_quality_issue"], pl.Boolean),
        pl.Series("p_fault", out["p_fault"], dtype=pl.Float64),
        pl.Series("missing_share", missing, dtype=pl.Float64),
        pl.Series("selectable", out["selectable"], dtype=pl.Boolean),
        pl.lit(version).alias("rater_version"),
        pl.lit(judge_model or None, dtype=pl.String).alias("judge_model"),
        pl.lit(SELF_SUPERVISED).alias("judge_kind"),
    )
    flags = out["is_low_quality_issue"]
    report = {
        "rater_version": version,
        "init": summary.get("init", "scratch"),
        "judge_kind": judge_kind,
        "judge_model": judge_model,
        "config": settings,
        "state": state_info,
        "n_windows": n,
        "n_series": len(xs),
        "self_supervised": summary.get("self_supervised", {}),
        "judge_agreement": agreement,
        "fit": summary.get("fit", {"steps": 0}),
        "calibration": calib.to_json() | {"spreads": ev.spreads},
        "low_quality_share": float(flags.mean()),
        "n_low_quality": int(flags.sum()),
        "n_over_max_missing": int((missing > config.max_missing).sum()),
        "mean_quality_score": float(quality.mean()),
        "seconds": timings,
    }
    arrays |= {"s": s, "X": X, "sid": sid, "r": r}
    return ScoringResult(frame, report, net, notes, judge_model, arrays, state)


@dataclass
class _Fitted:
    net: QualityNet
    s: np.ndarray  # integrity utilities of the data windows
    J: np.ndarray  # judge-head utilities
    fit: dict[str, Any]
    train_j: dict[str, tuple[np.ndarray, ...]]
    self_supervised: dict[str, Any]
    cX: np.ndarray  # calibration copy: features, series, labels
    csid: np.ndarray
    clab: np.ndarray
    seconds: dict[str, float]


def _fit(
    X: np.ndarray,
    xs: list[np.ndarray],
    sid: np.ndarray,
    jp: dict[str, tuple[np.ndarray, ...]],
    held: np.ndarray,
    init: QualityNet | None,
    config: ScoringConfig,
    families: list[str],
    rng: np.random.Generator,
    length: int,
    t_start: float,
) -> _Fitted:
    """Steps 3–4 of the module docstring: init, self-supervised and judge pairs, the
    calibration copy and the (validation-selected, interpolated) fine-tune."""
    n = len(X)
    torch.manual_seed(config.seed)
    if init is None:
        net = QualityNet(hidden=config.hidden)
        if n:
            net.set_norm(X)
        steps, lr = config.scratch_steps, config.scratch_lr
    else:
        net, steps, lr = init, config.ft_steps, config.ft_lr
    interpolate = init is not None and config.ft_interpolate < 1.0
    init_state = {k: v.detach().clone() for k, v in net.state_dict().items()} if interpolate else {}

    # self-supervised pairs on a sample of the series (features in the copies' own context)
    segs = _sample([len(x) for x in xs], config.max_ss_windows, length, rng)
    seg_series = [xs[i][lo:hi] for i, lo, hi in segs]
    ps = make_pairs(
        seg_series, families, rng, copies=config.copies, share=config.share, length=length
    )
    ss = ps.select()
    # judge pairs index the data rows: stack data rows after the pair rows
    off = len(ps.X)
    train_j = {}
    for c, (a, b, p, conf) in jp.items():
        m = conf & ~held[a] & ~held[b]
        if m.any():
            train_j[c] = (a[m] + off, b[m] + off, p[m])
    Xall = np.concatenate([ps.X, X]) if n else ps.X
    t_pairs = time.perf_counter() - t_start

    # calibration copy: eval-band faults on fresh segments, never trained on; it also
    # validates the fine-tuning (the integrity head keeps its best state on this copy)
    csegs = _sample([len(x) for x in xs], config.max_calibration_windows, length, rng)
    cl, csid, cX = [], [], []
    for i, lo, hi in csegs:
        y, delta, fam = inject(np.asarray(xs[i][lo:hi], float), families, rng, 0.2, band="eval")
        g = grid_starts(max(len(y), length), length)
        F = series_features(y, g, length)
        cl.append(window_labels(delta, fam, g, length)[0] if len(y) >= length else np.zeros(len(g)))
        cX.append(F)
        csid.append(np.full(len(g), i))
    cXa = np.concatenate(cX) if cX else np.zeros((0, X.shape[1]), np.float32)
    labc = np.concatenate(cl) if cl else np.zeros(0)
    csida = np.concatenate(csid).astype(np.int64) if csid else np.zeros(0, np.int64)
    val = _Validation(cXa, labc, csida, len(xs)) if config.ft_select else None
    t_copy = time.perf_counter() - t_start - t_pairs
    fit = (
        train(
            net,
            Xall,
            ss,
            train_j,
            steps=steps,
            lr=lr,
            w_judge=config.w_judge,
            seed=config.seed,
            check_every=config.ft_check_every if val is not None and val.usable else 0,
            on_check=val.check(net) if val is not None and val.usable else None,
        )
        if steps > 0 and (len(ss[0]) or train_j)
        else {"steps": 0}
    )
    t_train = time.perf_counter() - t_start - t_pairs - t_copy
    s, J = score(net, X)  # judge heads: the whole fine-tune
    if val is not None and val.best_state is not None:
        fit["validation"] = val.summary()
        net.load_state_dict(val.best_state)  # integrity head: the validation-selected state
        s = score(net, X)[0]
    if interpolate and fit.get("steps", 0):
        _interpolate(net, init_state, config.ft_interpolate)  # integrity head: WiSE-FT
        s = score(net, X)[0]
        fit["interpolate"] = config.ft_interpolate
    sp = score(net, ps.X)[0]
    kinds = {
        k: {"n": int((ps.kind == i).sum())}
        | {"train_accuracy": pair_accuracy(sp, *(v[ps.kind == i] for v in (ps.a, ps.b, ps.p)))}
        for i, k in enumerate(KINDS)
    }
    return _Fitted(
        net=net,
        s=s,
        J=J,
        fit=fit,
        train_j=train_j,
        self_supervised={
            "windows_sampled": int(ps.n_orig),
            "pairs": kinds,
            "degraded_windows": int((ps.row_label == 1).sum()),
        },
        cX=cXa,
        csid=csida,
        clab=labc,
        seconds={"pairs": t_pairs, "calibration_copy": t_copy, "train": t_train},
    )


def _agreement(
    J: np.ndarray, jp: dict[str, tuple[np.ndarray, ...]], held: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Judge-head agreement on window-disjoint held-out pairs (all and confident ones)."""
    out = {}
    for k, c in enumerate(CRITERIA):
        if c not in jp:
            continue
        a, b, p, conf = jp[c]
        ho = held[a] & held[b]
        out[c] = {
            "n_train": int((conf & ~held[a] & ~held[b]).sum()),
            "n_heldout_all": int(ho.sum()),
            "n_heldout_confident": int((ho & conf).sum()),
            "heldout_accuracy_all": pair_accuracy(J[:, k], a[ho], b[ho], p[ho]),
            "heldout_accuracy_confident": pair_accuracy(
                J[:, k], a[ho & conf], b[ho & conf], p[ho & conf]
            ),
        }
    return out


def fine_tune_summary(fit: dict[str, Any]) -> str:
    """One line on what the fine-tune kept (asset metadata): the steps run, the state the
    validation chose and its AUCs, and the interpolation toward the checkpoint."""
    steps = int(fit.get("steps", 0) or 0)
    if steps == 0:
        return "no fine-tuning (the checkpoint as it is)"
    parts = [f"{steps} steps"]
    v = fit.get("validation")
    if v:
        parts.append(
            f"kept step {v['selected_step']} (copy AUC {v['auc_selected']:.3f}; checkpoint "
            f"{v['auc_init']:.3f}, last {v['auc_last']:.3f})"
        )
    if "interpolate" in fit:
        w = float(fit["interpolate"])
        parts.append(f"weights {1 - w:.2f}·checkpoint + {w:.2f}·fine-tuned")
    return ", ".join(parts)


def _empty_result(
    windows: pl.DataFrame, config: ScoringConfig, judge_kind: str | None
) -> ScoringResult:
    """No windows: an empty scores table of the right schema, and a report that says so."""
    from ops.contracts import SCORES

    names = [c for c in SCORES.names if c != "run_id"]
    frame = pl.DataFrame(schema=SCORES.polars_schema(names))
    report = {
        "rater_version": "none",
        "init": "none",
        "judge_kind": judge_kind,
        "judge_model": "",
        "config": {f.name: getattr(config, f.name) for f in fields(config)},
        "state": {"reused": False, "reason": "no windows"},
        "n_windows": 0,
        "n_series": 0,
        "self_supervised": {"windows_sampled": 0, "pairs": {}, "degraded_windows": 0},
        "judge_agreement": {},
        "fit": {"steps": 0},
        "calibration": {
            "threshold": 0.0,
            "fpr_est": 0.0,
            "tpr_est": 0.0,
            "config": {
                "prior": config.prior,
                "target_precision": config.target_precision,
                "max_missing": config.max_missing,
            },
        },
        "low_quality_share": 0.0,
        "n_low_quality": 0,
        "n_over_max_missing": 0,
        "mean_quality_score": 0.0,
        "seconds": {"features": 0.0, "pairs": 0.0, "train": 0.0, "total": 0.0},
    }
    return ScoringResult(frame, report, None, ["no windows: nothing to score"], "")


def judge_models(judgments: pl.DataFrame) -> str:
    """The judge models of ``judgments``, sorted and comma-separated ("" when there are none)."""
    if not judgments.height or "model" not in judgments.columns:
        return ""
    return ",".join(sorted(set(judgments["model"].drop_nulls().to_list())))
