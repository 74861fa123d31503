"""cleanlab confident learning on given probabilities (docs/labels.md §4).

cleanlab is imported inside the functions: importing it takes seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops.labels.registry import MethodContext, MethodResult

FILTER_BY = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
)


@dataclass(frozen=True)
class Detection:
    """Per-row cleanlab output for the scored rows.

    Attributes
    ----------
    is_issue : bool array, flagged rows.
    quality : float array in [0, 1], ``cleanlab.rank.get_label_quality_scores`` (higher = better).
    estimated_noise_rate : float, cleanlab's estimate of the fraction of wrong labels
        (``cleanlab.count.num_label_issues`` / rows).
    """

    is_issue: np.ndarray
    quality: np.ndarray
    estimated_noise_rate: float


def _validate(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(pred_probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != y.shape[0]:
        raise ValueError(f"pred_probs shape {p.shape} does not match {y.shape[0]} labels")
    if not np.isfinite(p).all():
        raise ValueError("pred_probs contain NaN or inf")
    if y.size and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError("labels out of range of pred_probs columns")
    # cleanlab wants rows summing to 1; guard against float drift
    p = np.clip(p, 1e-12, None)
    return y, p / p.sum(axis=1, keepdims=True)


def quality_scores(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """``cleanlab.rank.get_label_quality_scores`` (self-confidence), in [0, 1]."""
    from cleanlab.rank import get_label_quality_scores

    y, p = _validate(labels, pred_probs)
    if y.size == 0:
        return np.zeros(0)
    return np.clip(get_label_quality_scores(y, p, method="self_confidence"), 0.0, 1.0)


def detect_label_issues(
    labels: np.ndarray, pred_probs: np.ndarray, filter_by: str = "prune_by_noise_rate"
) -> Detection:
    """Flag likely label errors with ``cleanlab.filter.find_label_issues(..., n_jobs=1)``.

    ``pred_probs`` must be out-of-sample for every row (out-of-fold, or from a model trained
    on other rows such as the trusted set). Classes with no rows are handled: probabilities
    are restricted to the classes present before calling cleanlab.
    """
    from cleanlab.count import num_label_issues
    from cleanlab.filter import find_label_issues

    if filter_by not in FILTER_BY:
        raise ValueError(f"filter_by must be one of {FILTER_BY}, got {filter_by!r}")
    y, p = _validate(labels, pred_probs)
    if y.size == 0:
        return Detection(np.zeros(0, bool), np.zeros(0), 0.0)
    quality = quality_scores(y, p)
    present = np.unique(y)
    if present.size < 2:  # cleanlab needs at least two classes; nothing to contrast
        return Detection(np.zeros(y.size, bool), quality, 0.0)
    # restrict to present classes so cleanlab's per-class estimates are defined
    remap = -np.ones(p.shape[1], dtype=np.int64)
    remap[present] = np.arange(present.size)
    y2 = remap[y]
    p2 = p[:, present]
    p2 = p2 / np.clip(p2.sum(axis=1, keepdims=True), 1e-12, None)
    is_issue = np.asarray(find_label_issues(y2, p2, filter_by=filter_by, n_jobs=1), dtype=bool)
    n_est = int(num_label_issues(y2, p2))
    return Detection(is_issue, quality, n_est / y.size)


def flag_disagreements(labels: np.ndarray, pred_probs: np.ndarray, rows: np.ndarray) -> Detection:
    """Flag the ``rows`` whose top class differs from their given label (no cleanlab filter).

    The policy of the end-to-end trainers (VRI, RST): their final model (or corrected label)
    is the estimate of the true class. Returns one entry per row of ``labels``: flags (only
    ``rows`` can be flagged), self-confidence quality, and the flagged share of ``rows``.
    """
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(pred_probs)
    rows = np.asarray(rows, dtype=np.int64)
    is_issue = np.zeros(len(y), dtype=bool)
    is_issue[rows] = p[rows].argmax(1) != y[rows]
    est = float(is_issue[rows].mean()) if len(rows) else 0.0
    return Detection(is_issue, quality_scores(y, p), est)


def posterior_result(ctx: MethodContext, probs: np.ndarray, note: str) -> MethodResult:
    """The result of an end-to-end trainer (VRI, RST): ``probs`` estimate the true class after
    seeing the pool's labels (``prob_kind="posterior"``, no proxy evidence), and the pool rows
    whose top class differs from the given label are flagged (:func:`flag_disagreements`)."""
    det = flag_disagreements(ctx.labels, probs, ctx.pool_idx)
    return MethodResult(
        probs,
        det.is_issue,
        det.quality,
        det.estimated_noise_rate,
        None,
        [note],
        prob_kind="posterior",
        proxy_ok=False,
    )
