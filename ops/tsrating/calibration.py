"""Calibrated, absolute low-quality flags and the coverage rule (docs/tsrating.md §11.5).

Inputs: integrity utilities ``s`` of the dataset's windows (higher = better), their series
index and missing shares, and a *calibration copy*: the same series with freshly injected
faults (``band="eval"``, never trained on) whose degraded windows give ``s_fault``.

1. **Series norm** (:func:`series_medians`). ``r = s − m_i`` where ``m_i`` is the series' median
   utility shrunk toward the dataset's median with the weight of ``shrink_windows`` windows:
   ``m_i = (n_i·med_i + k·med_all) / (n_i + k)``. Each window is judged against its own
   series, so a clean series of a different character is not condemned wholesale.
2. **Fault evidence** (:func:`evidence`). The learned ``r`` and the series-relative tail of a
   robust detector (the largest AR(8) one-step residual, feature ``z_ar_max``) are each divided
   by their robust spread over the dataset; the relative utility is their minimum, the
   detector's shifted by ``DETECTOR_OFFSET`` spreads (an OR: a window far out on the detector
   is bad however the net scores it; on the tuning domains an unshifted OR lost 0.06 AUC to
   the detector's false alarms). ``combine=False`` keeps the learned score alone.
3. **Threshold** (:func:`fit`). FPR(t) is estimated without labels from the mirrored upper tail
   of the dataset's own relative scores (faults only push scores down), TPR(t) from the
   calibration copy; ``t`` = the largest ``t ≤ 0`` with precision ≥ ``target_precision`` at
   prior ``prior`` and FPR ≤ ``max_fpr``, and never above ``−min_z`` robust SDs (the mirror
   underestimates a heavy lower tail). Heavy contamination inflates that spread and shifts the
   medians, so with ``mixture`` the threshold is the larger of that one and
   :func:`mixture_threshold` (the faulty share estimated from the data's and the copy's score
   distributions; a target precision, not a false-positive rate). Flag ``r < t``. Constant
   scores give ``r ≡ 0``: nothing is flagged. Series with fewer than ``min_series_windows``
   windows have no norm to judge against and are flagged by the coverage rule only.
4. **Calibrated score.** ``p_fault`` = logistic fit of calibration-copy faults vs data windows
   on ``r``, prior-corrected to ``prior``; ``quality_score = (1 − p_fault) · (1 − missing_share)``.
5. **Coverage rule.** ``missing_share > max_missing`` (default 0.5) ⇒ ``quality_score = 0``,
   flagged, never selectable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ops.tsrating.context import FEATURE_NAMES

DETECTORS = ("z_ar_max",)
#: a detector counts only where it is this many robust spreads more extreme than the net
DETECTOR_OFFSET = 2.0


@dataclass(frozen=True)
class CalibrationConfig:
    prior: float = 0.05
    target_precision: float = 0.8
    max_fpr: float = 0.01
    min_z: float = 3.0
    max_missing: float = 0.5
    min_series_windows: int = 8
    shrink_windows: float = 2.0
    combine: bool = True
    mixture: bool = True
    mixture_min_tpr: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_missing <= 1.0:
            raise ValueError(f"max_missing must be in [0, 1], got {self.max_missing}")
        if not 0.0 < self.prior < 1.0 or not 0.0 < self.target_precision < 1.0:
            raise ValueError("prior and target_precision must be in (0, 1)")


def _spread(r: np.ndarray) -> float:
    mad = 1.4826 * float(np.median(np.abs(r - np.median(r)))) if len(r) else 0.0
    return mad if mad > 1e-9 else (float(np.std(r)) or 1.0)


def series_medians(v: np.ndarray, sid: np.ndarray, n_series: int, shrink: float) -> np.ndarray:
    """Per-series norm ``(n_series,)``: each series' median shrunk toward the dataset median."""
    v = np.asarray(v, dtype=np.float64)
    pooled = float(np.median(v)) if len(v) else 0.0
    out = np.full(n_series, pooled)
    order = np.argsort(sid, kind="stable")
    bounds = np.flatnonzero(np.diff(sid[order])) + 1
    for rows in np.split(order, bounds) if len(v) else []:
        n = len(rows)
        out[sid[rows[0]]] = (n * np.median(v[rows]) + shrink * pooled) / (n + shrink)
    return out


@dataclass
class Evidence:
    """How raw utilities and detector features become one series-relative utility: per
    component a per-series norm and a dataset-wide robust spread, fitted on the data windows
    and applied alike to any copy of the same series."""

    spreads: dict[str, float]
    norms: dict[str, np.ndarray] = field(repr=False)  # component -> (n_series,)

    def utility(self, s: np.ndarray, X: np.ndarray, sid: np.ndarray) -> np.ndarray:
        """Combined relative utility (higher = better; 0 = the series' typical window)."""
        parts = [(np.asarray(s) - self.norms["learned"][sid]) / self.spreads["learned"]]
        for k in DETECTORS:
            if k in self.spreads:
                v = X[:, FEATURE_NAMES.index(k)]
                parts.append(-(v - self.norms[k][sid]) / self.spreads[k] + DETECTOR_OFFSET)
        return np.min(np.stack(parts), axis=0) if len(parts) > 1 else parts[0]


def evidence(
    s: np.ndarray, X: np.ndarray, sid: np.ndarray, n_series: int, cfg: CalibrationConfig
) -> Evidence:
    comps = {"learned": np.asarray(s, dtype=np.float64)}
    if cfg.combine:
        comps |= {k: X[:, FEATURE_NAMES.index(k)].astype(np.float64) for k in DETECTORS}
    norms, spreads = {}, {}
    for k, v in comps.items():
        norms[k] = series_medians(v, sid, n_series, cfg.shrink_windows)
        spreads[k] = _spread(v - norms[k][sid]) if len(v) else 1.0
    return Evidence(spreads, norms)


@dataclass
class Calibrator:
    t: float
    a: float
    b: float
    cfg: CalibrationConfig
    info: dict[str, Any]

    def p_fault(self, r: np.ndarray) -> np.ndarray:
        z = np.clip(self.a * np.asarray(r) + self.b, -50, 50)
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict[str, Any]:
        return {"threshold": self.t, "a": self.a, "b": self.b, **self.info} | {
            "config": asdict(self.cfg)
        }


def fit(
    r_data: np.ndarray, r_fault: np.ndarray, cfg: CalibrationConfig = CalibrationConfig()
) -> Calibrator:
    """Threshold and logistic map from the dataset's relative utilities and its fault copy's."""
    r_data = np.asarray(r_data, float)
    r_fault = np.asarray(r_fault, float)
    up = np.sort(r_data)
    n = len(up)
    cap = -cfg.min_z * _spread(r_data) if n else 0.0
    cand = np.unique(np.concatenate([[0.0], -up[up > 0], r_fault[r_fault < 0]]))
    cand = cand[cand <= min(0.0, cap)]
    best_t, est = -np.inf, (0.0, 0.0)
    for t in cand[::-1]:  # from 0 downwards: the first feasible is the largest t
        fpr = (n - np.searchsorted(up, -t, side="right")) / max(n, 1)
        tpr = float((r_fault < t).mean()) if len(r_fault) else 0.0
        if tpr <= 0:
            continue
        prec = cfg.prior * tpr / (cfg.prior * tpr + (1 - cfg.prior) * fpr + 1e-300)
        if prec >= cfg.target_precision and fpr <= cfg.max_fpr:
            best_t, est = float(t), (fpr, tpr)
            break
    logit_prior = float(np.log(cfg.prior / (1 - cfg.prior)))
    a, b = 0.0, logit_prior
    both = np.concatenate([r_data, r_fault])
    if len(r_fault) >= 5 and n >= 5 and np.ptp(both) > 0:
        from sklearn.linear_model import LogisticRegression

        y = np.r_[np.zeros(n), np.ones(len(r_fault))]
        lr = LogisticRegression(class_weight="balanced").fit(both[:, None], y)
        a = float(lr.coef_[0, 0])
        b = float(lr.intercept_[0]) + logit_prior
        if a >= 0:  # no usable signal: the prior for everyone
            a, b = 0.0, logit_prior
    info = {"fpr_est": est[0], "tpr_est": est[1], "n_fault": int(len(r_fault)), "n_data": n}
    info["rule"] = "mirror" if np.isfinite(best_t) else "none"
    if cfg.mixture:
        t_mix, pi, prec = mixture_threshold(r_data, r_fault, cfg)
        info |= {"contamination_est": pi}
        info["mixture_threshold"] = t_mix if np.isfinite(t_mix) else None
        if t_mix > best_t:
            best_t = t_mix
            info |= {"rule": "mixture", "precision_est": prec}
            info["tpr_est"] = float((r_fault < t_mix).mean())
    return Calibrator(best_t, a, b, cfg, info)


def mixture_threshold(
    r_data: np.ndarray, r_fault: np.ndarray, cfg: CalibrationConfig
) -> tuple[float, float, float]:
    """Contamination-robust threshold ``(t, pi, precision)``. The data's relative scores are a
    mixture ``(1 − pi)·clean + pi·faulty``; taking the calibration copy's fault scores as the
    faulty component's shape, ``F_data(t) ≥ pi·F_fault(t)`` for every ``t``, so
    ``pi ≤ min F_data(t)/F_fault(t)`` over the thresholds where the copy's faults are common
    (``F_fault ≥ mixture_min_tpr``: a stable ratio). The precision of flagging ``r < t`` is then
    about ``pi·F_fault(t)/F_data(t)``; ``t`` = the largest one at or below the data median
    reaching ``target_precision``. Clean data gives a small ``pi`` and no threshold (−inf);
    heavy contamination, which inflates the robust spread the mirrored-tail rule relies on,
    gives a large one."""
    r_data, r_fault = np.sort(np.asarray(r_data, float)), np.sort(np.asarray(r_fault, float))
    if len(r_data) < 20 or len(r_fault) < 20:
        return -np.inf, 0.0, 0.0
    cand = r_data[: len(r_data) // 2]
    f_data = np.searchsorted(r_data, cand, side="left") / len(r_data)
    f_fault = np.searchsorted(r_fault, cand, side="left") / len(r_fault)
    ok = f_fault >= cfg.mixture_min_tpr
    if not ok.any():
        return -np.inf, 0.0, 0.0
    pi = float(min(1.0, np.min(f_data[ok] / f_fault[ok])))
    prec = pi * f_fault / np.maximum(f_data, 1e-12)
    good = (prec >= cfg.target_precision) & (f_data > 0)
    if not good.any():
        return -np.inf, pi, 0.0
    i = int(np.flatnonzero(good).max())
    return float(cand[i]), pi, float(prec[i])


def finalize(
    r: np.ndarray, sid: np.ndarray, missing: np.ndarray, cal: Calibrator
) -> dict[str, np.ndarray]:
    """quality_score, is_low_quality_issue, selectable and p_fault per window, from relative
    utilities ``r`` and missing shares."""
    r = np.asarray(r, float)
    missing = np.asarray(missing, float)
    p = cal.p_fault(r)
    q = (1.0 - p) * (1.0 - np.clip(missing, 0.0, 1.0))
    too_sparse = missing > cal.cfg.max_missing
    q = np.where(too_sparse, 0.0, q)
    counts = np.bincount(sid, minlength=int(sid.max()) + 1 if len(sid) else 0)
    judged = counts[sid] >= cal.cfg.min_series_windows if len(sid) else np.zeros(0, bool)
    flag = ((r < cal.t) & judged) | too_sparse
    return {
        "quality_score": q,
        "is_low_quality_issue": flag,
        "selectable": ~too_sparse,
        "p_fault": p,
        "rank_key": q + 1e-9 * np.tanh(r),  # saturated p: ties broken by r
    }


def notes(sid: np.ndarray, n_series: int, calib: Calibrator) -> list[str]:
    """What a user must know when the flags cannot mean much: series too short to have a norm
    (yearly or competition data, flagged by the coverage rule only, as :func:`finalize` does),
    or no threshold at all."""
    out = []
    counts = np.bincount(sid, minlength=n_series)
    short = int((counts < calib.cfg.min_series_windows).sum())
    if short:
        out.append(
            f"{short} of {n_series} series have fewer than {calib.cfg.min_series_windows} windows: "
            "no norm of their own, so only the coverage rule (missing values) can flag them"
        )
    if not np.isfinite(calib.t):
        out.append(
            "no quality threshold could be calibrated "
            f"({calib.info.get('n_fault', 0)} degraded windows in the calibration copy): "
            "no window is flagged for quality; quality_score still ranks the windows"
        )
    return out


def calibration_statement(calib: dict[str, Any]) -> str:
    """One line for people (Dagster metadata, the nightly report) from ``Calibrator.to_json()``:
    the flag rule, its estimated error rates and the coverage rule."""
    cfg = calib.get("config") or {}
    t = calib.get("threshold")
    if t is None or not np.isfinite(float(t)):
        rule = "no quality threshold (too few windows or degraded copies to calibrate one)"
    else:
        rule = (
            f"flag r < {float(t):.3g} ({calib.get('rule', 'mirror')} rule; est. FPR "
            f"{float(calib.get('fpr_est', 0.0)):.3g}, TPR {float(calib.get('tpr_est', 0.0)):.3g} "
            f"at prior {cfg.get('prior')}, precision {cfg.get('target_precision')})"
        )
    return f"{rule}; coverage rule max_missing {cfg.get('max_missing')}"
