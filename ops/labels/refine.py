"""Refinement rounds of ``cleanlab_oof``: retrain the out-of-fold models on the policy's labels.

Out-of-fold probabilities of a model trained on noisy labels estimate ``p(given | x)``, not
``p(true | x)``: with 40 % pair flips the fold models learn much of the flip, their top class is
wrong for about a fifth of the pool, and the posterior of the decision policy inherits that.
Each refinement round (docs/labels.md §4a, "Refinement"):

1. takes the labels the policy chose from the previous round (relabeled rows get their new
   label, kept rows their given one);
2. trains the K fold models again on the trusted rows plus the pool rows whose posterior for
   that label is at least ``refine_confidence`` and that were not dropped -- uncertain rows are
   only scored (by the mean of the fold models, none of which trained on them), so the round
   does not learn the previous round's doubtful choices;
3. flags with cleanlab against the **given** labels and hands the new probabilities back to the
   policy, which decides again from scratch (calibration, transition, threshold, never-worse
   check, all on the trusted rows, whose labels never change).

It stops after ``refine_rounds`` rounds, when a round changes the decision of fewer than
``refine_min_change`` of the pool rows, or as soon as the policy answers "flag only" (the
evidence does not support changing labels, so there is nothing better to train on). Each round
is recorded in ``PolicyReport.refinement``.

Every row's probabilities stay out of fold within a round; across rounds a row's own given label
can reach its score only second-hand (it shaped the previous round's fold models, which chose
the labels of the rows the new fold models train on).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ops.labels.detection import detect_label_issues, quality_scores
from ops.labels.oof import oof_pred_probs
from ops.labels.policy import PolicyConfig, decide_with_posterior
from ops.labels.registry import MethodContext, MethodResult

DROPPED_LABEL = -1
"""Stands for "dropped" when decisions of two rounds are compared."""


def _decision(actions: np.ndarray, clean: np.ndarray) -> np.ndarray:
    return np.where(actions == "dropped", DROPPED_LABEL, clean)


def _flag(ctx: MethodContext, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """cleanlab flags of the pool against the given labels, quality of every row."""
    det = detect_label_issues(ctx.labels[ctx.pool_idx], probs[ctx.pool_idx], ctx.filter_by)
    is_issue = np.zeros(len(ctx.labels), dtype=bool)
    is_issue[ctx.pool_idx] = det.is_issue
    return is_issue, quality_scores(ctx.labels, probs), det.estimated_noise_rate


def refine_oof(ctx: MethodContext, first: MethodResult, policy: PolicyConfig) -> MethodResult:
    """Run up to ``policy.refine_rounds`` refinement rounds after ``first`` (round 0, out-of-fold
    probabilities on the given labels); returns the last round's result, with one record per
    round in ``result.refinement`` and a note."""
    if policy.refine_rounds == 0:
        return first
    n = len(ctx.labels)
    scored = np.zeros(n, dtype=bool)
    scored[ctx.pool_idx] = True
    pool = ctx.pool_idx
    non_test = np.sort(np.concatenate([ctx.pool_idx, ctx.trusted_idx]))
    res, prev, history, trained = first, None, [], len(non_test)
    previous: MethodResult | None = None
    for rnd in range(policy.refine_rounds + 1):
        actions, clean, _, rep, post = decide_with_posterior(
            ctx.labels,
            res.probs,
            res.is_issue,
            scored,
            config=policy,
            **res.policy_inputs(),
        )
        decision = _decision(actions, clean)
        changed = None if prev is None else float(np.mean(decision[pool] != prev[pool]))
        record: dict[str, Any] = {
            "round": rnd,
            "trained_rows": trained,
            "mode": rep.mode,
            "relabel_threshold": rep.relabel_threshold,
            "temperature": round(rep.temperature, 4),
            "est_accuracy_given": rep.est_accuracy_given,
            "est_accuracy_policy": rep.est_accuracy_policy,
            "est_gain_lcb": rep.est_gain_lcb,
            "n_relabeled": rep.n_relabeled,
            "n_dropped": rep.n_dropped,
            "changed_share": None if changed is None else round(changed, 4),
        }
        if rnd == 0:  # the settings, once (docs/labels.md §4a, step 6: how they were chosen)
            record["settings"] = {
                "refine_rounds": policy.refine_rounds,
                "refine_confidence": policy.refine_confidence,
                "refine_min_change": policy.refine_min_change,
            }
        history.append(record)
        if rep.mode != "rectify":
            record["stop"] = "policy is flag only: no better labels to train on"
            if previous is not None:  # the last round that passed its never-worse check
                record["stop"] += f"; round {rnd - 1}'s probabilities are used"
                res = previous
            break
        if changed is not None and changed < policy.refine_min_change:
            record["stop"] = f"converged: changed share < {policy.refine_min_change}"
            break
        if rnd == policy.refine_rounds:
            record["stop"] = f"refine_rounds {policy.refine_rounds} done"
            break
        prev = decision
        confident = post[np.arange(n), clean] >= policy.refine_confidence
        keep_pool = pool[confident[pool] & (actions[pool] != "dropped")]
        train_rows = np.sort(np.concatenate([keep_pool, ctx.trusted_idx]))
        score_only = np.setdiff1d(non_test, train_rows)
        extra = np.concatenate([score_only, ctx.test_idx])
        out = oof_pred_probs(
            ctx.source,
            train_rows,
            clean[train_rows],
            ctx.n_classes,
            ctx.backbone,
            k=ctx.k_folds,
            seed=ctx.seed + 100 * (rnd + 1),
            extra_idx=extra,
            cache_dir=ctx.cache_dir,
            progress=ctx.progress,
            source_fingerprint=ctx.source_fingerprint,
        )
        trained = len(train_rows)
        previous = res
        probs = np.zeros((n, ctx.n_classes))
        probs[train_rows] = out.pred_probs
        if out.extra_probs is not None:
            probs[extra] = out.extra_probs
        is_issue, quality, noise = _flag(ctx, probs)
        res = replace(
            res,
            probs=probs,
            is_issue=is_issue,
            quality=quality,
            estimated_noise_rate=noise,
            cache_hit=bool(res.cache_hit) and out.cache_hit,
            notes=list(res.notes),
        )
    res.refinement = history
    done = len(history) - 1
    res.notes.append(
        f"refinement: {done} round(s) retrained on the policy's labels "
        f"({history[-1].get('stop', '')})"
    )
    return res
