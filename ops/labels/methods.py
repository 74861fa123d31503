"""Registry of label-cleaning methods.

A method receives a :class:`MethodContext` and returns a :class:`MethodResult`: probabilities
for every row, flags and label quality for the scored (noisy pool) rows. New methods (VRI,
robust self-training) register with :func:`register_method` and become selectable through
``LabelCleaningConfig.method``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ops.labels.backbones import BackboneConfig, Progress, Source, predict_proba, train_model
from ops.labels.detection import detect_label_issues, quality_scores
from ops.labels.oof import oof_pred_probs


@dataclass
class MethodContext:
    """Everything a method may use.

    Attributes
    ----------
    source : image (or embedding) source, one entry per manifest row.
    labels : (N,) int given labels of every row.
    pool_idx : rows to score and possibly clean (train split, not trusted).
    trusted_idx : trusted train rows (clean; never flagged).
    test_idx : test rows (never trained on, never cleaned).
    n_classes, backbone, k_folds, seed, filter_by, cache_dir, progress : settings.
    source_fingerprint : precomputed ``source.fingerprint()`` or None.
    options : per-method settings keyed by method name (``vri``, ``rst``).
    """

    source: Source
    labels: np.ndarray
    pool_idx: np.ndarray
    trusted_idx: np.ndarray
    test_idx: np.ndarray
    n_classes: int
    backbone: BackboneConfig
    k_folds: int = 5
    seed: int = 0
    filter_by: str = "prune_by_noise_rate"
    cache_dir: Path | None = None
    progress: Progress | None = None
    source_fingerprint: str | None = None
    options: dict = field(default_factory=dict)
    """Per-method settings by method name, e.g. ``{"vri": VRIConfig(), "rst": RSTConfig()}``."""


@dataclass
class MethodResult:
    """Output of a method; arrays have one entry per manifest row (N)."""

    probs: np.ndarray
    is_issue: np.ndarray
    quality: np.ndarray
    estimated_noise_rate: float
    cache_hit: bool | None = None
    notes: list[str] = field(default_factory=list)


MethodFn = Callable[[MethodContext], MethodResult]
METHODS: dict[str, MethodFn] = {}


def register_method(name: str) -> Callable[[MethodFn], MethodFn]:
    """Decorator: ``@register_method("vri")`` makes ``config.method="vri"`` valid."""

    def deco(fn: MethodFn) -> MethodFn:
        if name in METHODS and METHODS[name] is not fn:
            raise ValueError(f"method {name!r} is already registered")
        METHODS[name] = fn
        return fn

    return deco


def get_method(name: str) -> MethodFn:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown label-cleaning method {name!r}; known: {sorted(METHODS)}"
        ) from None


def _finish(ctx: MethodContext, probs: np.ndarray, cache_hit: bool | None) -> MethodResult:
    n = len(ctx.labels)
    det = detect_label_issues(ctx.labels[ctx.pool_idx], probs[ctx.pool_idx], ctx.filter_by)
    is_issue = np.zeros(n, dtype=bool)
    is_issue[ctx.pool_idx] = det.is_issue
    quality = quality_scores(ctx.labels, probs)
    return MethodResult(probs, is_issue, quality, det.estimated_noise_rate, cache_hit)


@register_method("cleanlab_oof")
def cleanlab_oof(ctx: MethodContext) -> MethodResult:
    """Out-of-fold probabilities on every non-test row (pool + trusted), cleanlab flags on the
    pool. Test rows get the mean prediction of the K fold models."""
    train_rows = np.sort(np.concatenate([ctx.pool_idx, ctx.trusted_idx]))
    res = oof_pred_probs(
        ctx.source,
        train_rows,
        ctx.labels[train_rows],
        ctx.n_classes,
        ctx.backbone,
        k=ctx.k_folds,
        seed=ctx.seed,
        extra_idx=ctx.test_idx,
        cache_dir=ctx.cache_dir,
        progress=ctx.progress,
        source_fingerprint=ctx.source_fingerprint,
    )
    probs = np.zeros((len(ctx.labels), ctx.n_classes))
    probs[train_rows] = res.pred_probs
    if res.extra_probs is not None:
        probs[ctx.test_idx] = res.extra_probs
    out = _finish(ctx, probs, res.cache_hit)
    if res.n_splits != ctx.k_folds:
        out.notes.append(f"K lowered from {ctx.k_folds} to {res.n_splits} (too few rows)")
    return out


@register_method("cleanlab_trusted")
def cleanlab_trusted(ctx: MethodContext) -> MethodResult:
    """A model trained on the trusted set only scores the pool (out-of-sample by construction);
    cleanlab flags on the pool. Probabilities of trusted rows are in-sample (they are never
    flagged)."""
    if len(ctx.trusted_idx) < 2:
        raise ValueError("cleanlab_trusted needs at least 2 trusted rows")
    prefix = "trusted model "
    model = train_model(
        ctx.source,
        ctx.trusted_idx,
        ctx.labels[ctx.trusted_idx],
        ctx.n_classes,
        ctx.backbone,
        seed=ctx.seed,
        progress=ctx.progress,
        prefix=prefix,
    )
    probs = predict_proba(model, ctx.source, np.arange(len(ctx.labels)), ctx.backbone)
    out = _finish(ctx, probs, None)
    out.notes.append("trusted rows' probabilities are in-sample (trusted model trained on them)")
    return out


# experimental meta-learned methods (METHODS §3-4); imported last because they use register_method
from ops.labels.rst import rst_method  # noqa: E402
from ops.labels.vri import vri_method  # noqa: E402

register_method("vri")(vri_method)
register_method("rst")(rst_method)
