"""Refinement rounds of cleanlab_oof (ops/labels/refine.py) on a small pair-noise problem."""

import numpy as np
import pytest

from ops.labels.backbones import BackboneConfig, EmbeddingSource
from ops.labels.methods import MethodContext, get_method
from ops.labels.noise import inject_noise
from ops.labels.policy import PolicyConfig, decide, fit_temperature


def _pair_noise_problem(n=600, d=16, c=4, scale=0.7, seed=0):
    """Gaussian classes in ``d`` dimensions, 10 trusted rows per class, 40 % pair flips on the
    pool: an MLP trained on the noisy labels learns much of the flip (round 0 barely beats the
    given labels), as the CNN does on digits asym 0.4."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, c, n)
    x = rng.normal(0, 1, (c, d))[truth] * scale + rng.normal(0, 1, (n, d))
    trusted = np.concatenate([np.flatnonzero(truth == k)[:10] for k in range(c)])
    pool = np.setdiff1d(np.arange(n), trusted)
    given = truth.copy()
    given[pool] = inject_noise(truth[pool], "asym", 0.4, c, seed=1).labels
    return x, truth, given, pool, trusted


def _clean(x, given, pool, trusted, c, rounds):
    cfg = BackboneConfig(
        kind="embeddings",
        head="mlp",
        epochs=30,
        batch_size=32,
        min_steps=0,
        weight_decay=0.0,
        num_threads=1,
    )
    policy = PolicyConfig(refine_rounds=rounds)
    ctx = MethodContext(
        source=EmbeddingSource(x),
        labels=given,
        pool_idx=pool,
        trusted_idx=trusted,
        test_idx=np.zeros(0, np.int64),
        n_classes=c,
        backbone=cfg,
        k_folds=3,
        seed=0,
        options={"policy": policy},
    )
    res = get_method("cleanlab_oof")(ctx)
    scored = np.zeros(len(given), bool)
    scored[pool] = True
    actions, clean, _, rep = decide(
        given,
        res.probs,
        res.is_issue,
        scored,
        res.evidence_idx,
        estimated_noise_rate=res.estimated_noise_rate,
        config=policy,
    )
    return actions, clean, rep, res


def test_refinement_rounds_fix_what_round_zero_learned_from_pair_noise():
    x, truth, given, pool, trusted = _pair_noise_problem()

    def all_row_acc(actions, clean):
        return float(np.mean((clean[pool] == truth[pool]) & (actions[pool] != "dropped")))

    a0, c0, rep0, res0 = _clean(x, given, pool, trusted, 4, rounds=0)
    a2, c2, rep2, res2 = _clean(x, given, pool, trusted, 4, rounds=2)
    given_acc = float(np.mean(given[pool] == truth[pool]))
    acc0, acc2 = all_row_acc(a0, c0), all_row_acc(a2, c2)
    assert res0.refinement == []  # no refinement asked for: one round, nothing recorded
    assert [r["round"] for r in res2.refinement] == [0, 1, 2]
    assert res2.refinement[0]["trained_rows"] == len(pool) + len(trusted)
    assert res2.refinement[1]["trained_rows"] < len(pool) + len(trusted)  # confident rows only
    assert rep2.mode == "rectify"
    assert acc0 < given_acc + 0.1  # round 0 barely helps ...
    assert acc2 > acc0 + 0.2  # ... the refined rounds fix most of the flips
    assert acc2 > 0.85


def test_refinement_stops_when_the_policy_is_flag_only():
    # pure noise features: no model can beat the given labels, so round 0 is flag only and no
    # second round is trained
    x, truth, given, pool, trusted = _pair_noise_problem(scale=0.0)
    actions, clean, rep, res = _clean(x, given, pool, trusted, 4, rounds=2)
    assert rep.mode == "flag_only"
    assert len(res.refinement) == 1
    assert "flag only" in res.refinement[0]["stop"]
    assert np.all(actions[pool] == "kept") and np.all(clean == given)


def test_temperature_stays_finite_when_every_known_label_is_right():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 100)
    logits = rng.normal(0, 1, (100, 4))
    logits[np.arange(100), y] += 6.0  # the model is right on every row
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert (probs.argmax(1) == y).all()
    tau = fit_temperature(probs, y)
    # plain NLL would run to the search bound 0.05 (certainty from 100 rows)
    assert 0.2 < tau < 1.0


def test_refine_settings_are_validated():
    with pytest.raises(ValueError, match="refine_rounds"):
        PolicyConfig(refine_rounds=-1)
    with pytest.raises(ValueError, match="refine_confidence"):
        PolicyConfig(refine_confidence=1.5)
