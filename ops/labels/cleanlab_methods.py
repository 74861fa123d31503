"""The cleanlab methods (docs/labels.md §4): confident learning on out-of-sample probabilities.

- ``cleanlab_oof`` (the default of ``clean_labels``): K-fold out-of-fold probabilities of the
  backbone on every non-test row, cleanlab flags on the pool; then up to
  ``PolicyConfig.refine_rounds`` rounds retrained on the policy's labels (ops/labels/refine.py).
- ``cleanlab_trusted``: a model trained on the trusted set only scores the pool (out-of-sample
  by construction), cleanlab flags on the pool; the trusted rows themselves are scored out of
  fold (the trusted model cross-fitted over K folds of the trusted set), so the policy checks
  itself on how accurate a trusted-only model really is; and since that model never saw a pool
  label, the policy also refuses to relabel with it when it is less accurate on those rows than
  the given labels are estimated to be (docs/labels.md §4a).
"""

from __future__ import annotations

import numpy as np

from ops.labels.detection import detect_label_issues, quality_scores
from ops.labels.oof import oof_pred_probs
from ops.labels.policy import PolicyConfig
from ops.labels.refine import refine_oof
from ops.labels.registry import MethodContext, MethodResult, register
from ops.labels.training import predict_proba, train_model


def _finish(ctx: MethodContext, probs: np.ndarray, cache_hit: bool | None) -> MethodResult:
    n = len(ctx.labels)
    det = detect_label_issues(ctx.labels[ctx.pool_idx], probs[ctx.pool_idx], ctx.filter_by)
    is_issue = np.zeros(n, dtype=bool)
    is_issue[ctx.pool_idx] = det.is_issue
    quality = quality_scores(ctx.labels, probs)
    return MethodResult(probs, is_issue, quality, det.estimated_noise_rate, cache_hit)


def _out_of_fold(ctx: MethodContext, rows: np.ndarray, extra_idx: np.ndarray | None = None):
    """K-fold out-of-fold probabilities of ``rows`` against their given labels (and the fold
    models' mean on ``extra_idx``), with the context's backbone, seed, cache and progress."""
    return oof_pred_probs(
        ctx.source,
        rows,
        ctx.labels[rows],
        ctx.n_classes,
        ctx.backbone,
        k=ctx.k_folds,
        seed=ctx.seed,
        extra_idx=extra_idx,
        cache_dir=ctx.cache_dir,
        progress=ctx.progress,
        source_fingerprint=ctx.source_fingerprint,
    )


@register("cleanlab_oof")
def cleanlab_oof(ctx: MethodContext) -> MethodResult:
    """Out-of-fold probabilities on every non-test row (pool + trusted), cleanlab flags on the
    pool. Test rows get the mean prediction of the K fold models. Then the refinement rounds of
    :func:`~ops.labels.refine.refine_oof` (settings: ``ctx.options["policy"]``)."""
    train_rows = np.sort(np.concatenate([ctx.pool_idx, ctx.trusted_idx]))
    res = _out_of_fold(ctx, train_rows, extra_idx=ctx.test_idx)
    probs = np.zeros((len(ctx.labels), ctx.n_classes))
    probs[train_rows] = res.pred_probs
    if res.extra_probs is not None:
        probs[ctx.test_idx] = res.extra_probs
    out = _finish(ctx, probs, res.cache_hit)
    out.evidence_idx = ctx.trusted_idx  # scored out of fold, labels known to be right
    if res.n_splits != ctx.k_folds:
        out.notes.append(f"K lowered from {ctx.k_folds} to {res.n_splits} (too few rows)")
    return refine_oof(ctx, out, ctx.options.get("policy") or PolicyConfig())


@register("cleanlab_trusted")
def cleanlab_trusted(ctx: MethodContext) -> MethodResult:
    """A model trained on the trusted set only scores the pool (out-of-sample by construction);
    cleanlab flags on the pool. The trusted rows are scored out of fold -- K models each trained
    on the other trusted folds -- and are the policy's evidence: in-sample they would look
    perfect and let a model at chance relabel the pool (CIFAR-10N, issue 12)."""
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
    folds = _out_of_fold(ctx, ctx.trusted_idx)
    probs[ctx.trusted_idx] = folds.pred_probs
    out = _finish(ctx, probs, None)
    out.evidence_idx = ctx.trusted_idx
    out.independent_model = True  # never saw a pool label: the policy's weak-model guard applies
    out.notes.append(
        f"trusted rows scored out of fold ({folds.n_splits} folds of the trusted set): the "
        "policy's evidence"
    )
    return out
