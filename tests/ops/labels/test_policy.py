"""The decision policy (docs/labels.md §4a) on synthetic probabilities with known truth."""

import numpy as np
import pytest

from ops.labels.policy import (
    PolicyConfig,
    calibrate,
    decide,
    estimate_transition,
    fit_temperature,
)


def _world(n=2000, c=4, noise=0.3, signal=2.0, n_trusted=200, seed=0):
    """True labels, pair-noised given labels on the pool, and a model's probabilities that
    are informative about the true class (``signal`` = logit margin) but flattened toward the
    noise, as a model trained on noisy labels is."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, c, n)
    logits = rng.normal(0, 1, (n, c))
    logits[np.arange(n), truth] += signal
    logits[np.arange(n), (truth + 1) % c] += signal * noise  # learned part of the noise
    probs = np.exp(logits * 0.5)  # under-confident
    probs /= probs.sum(1, keepdims=True)
    trusted = np.zeros(n, bool)
    trusted[:n_trusted] = True
    given = truth.copy()
    flip = (rng.random(n) < noise) & ~trusted
    given[flip] = (truth[flip] + 1) % c
    return truth, given, probs, trusted


def _acc(truth, clean, actions, pool):
    return float(np.mean((clean == truth)[pool] & (actions != "dropped")[pool]))


def test_policy_beats_given_labels_and_caps_drops():
    truth, given, probs, trusted = _world()
    pool = ~trusted
    flags = pool & (probs.argmax(1) != given)
    actions, clean, is_issue, rep = decide(
        given, probs, flags, pool, np.flatnonzero(trusted), estimated_noise_rate=0.05
    )
    assert rep.mode == "rectify" and rep.evidence == "trusted" and rep.n_evidence == 200
    assert _acc(truth, clean, actions, pool) > np.mean(given[pool] == truth[pool]) + 0.15
    assert rep.n_dropped <= int(0.05 * pool.sum())
    assert (actions[trusted] == "kept").all() and np.array_equal(clean[trusted], given[trusted])
    assert is_issue[actions == "relabeled"].all()
    assert rep.est_gain_lcb > 0 and rep.temperature < 1  # sharpened toward the truth
    # the simulated estimate on the evidence rows is close to what really happened
    assert abs(rep.est_accuracy_policy - _acc(truth, clean, actions, pool)) < 0.08


def test_uninformative_model_changes_nothing():
    truth, given, _, trusted = _world()
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(4), len(given))  # knows nothing
    pool = ~trusted
    actions, clean, is_issue, rep = decide(
        given, probs, pool & (probs.argmax(1) != given), pool, np.flatnonzero(trusted)
    )
    assert rep.mode == "flag_only" and "does not beat the given labels" in rep.reason
    assert (actions == "kept").all() and np.array_equal(clean, given)
    assert is_issue.sum() > 0  # still flagged: checked, not changed


def test_below_minimum_and_without_evidence_flag_only():
    truth, given, probs, trusted = _world(n=40, n_trusted=10)
    pool = ~trusted
    *_, rep = decide(given, probs, pool, pool, np.flatnonzero(trusted))
    assert rep.mode == "flag_only" and "min_scored_rows" in rep.reason
    truth, given, probs, trusted = _world(n_trusted=5)
    pool = ~trusted
    *_, rep = decide(given, probs, pool, pool, np.flatnonzero(trusted), proxy_ok=False)
    assert rep.mode == "flag_only" and "min_evidence_rows" in rep.reason


def test_without_trusted_rows_labels_are_flagged_not_changed_unless_opted_in():
    truth, given, probs, trusted = _world(n_trusted=0)
    pool = ~trusted
    flags = pool & (probs.argmax(1) != given)
    actions, clean, is_issue, rep = decide(given, probs, flags, pool, None)
    assert rep.mode == "flag_only" and "no trusted rows" in rep.reason
    assert (actions == "kept").all() and np.array_equal(clean, given) and is_issue.any()
    opt_in = PolicyConfig(rectify_without_trusted=True)
    actions, clean, _, rep = decide(given, probs, flags, pool, None, config=opt_in)
    assert rep.evidence == "proxy" and rep.temperature == 1.0 and rep.mode == "rectify"
    assert _acc(truth, clean, actions, pool) > np.mean(given[pool] == truth[pool])


def test_posterior_kind_relabels_to_the_methods_class():
    given = np.array([0, 1, 2] * 30)
    probs = np.full((90, 3), 0.05)
    probs[np.arange(90), (given + 1) % 3] = 0.9  # the method is sure every label is wrong
    probs /= probs.sum(1, keepdims=True)
    flags = np.ones(90, bool)
    actions, clean, _, rep = decide(given, probs, flags, flags, None, kind="posterior")
    assert rep.mode == "rectify" and (actions == "relabeled").all()
    assert np.array_equal(clean, (given + 1) % 3)
    with pytest.raises(ValueError, match="kind"):
        decide(given, probs, flags, flags, None, kind="bogus")


def test_temperature_and_transition_recover_the_truth():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (3000, 3))
    y = np.array([rng.choice(3, p=p) for p in np.exp(logits) / np.exp(logits).sum(1)[:, None]])
    flat = np.exp(logits * 0.5)
    flat /= flat.sum(1, keepdims=True)
    assert fit_temperature(flat, y) == pytest.approx(0.5, abs=0.08)
    p_true = calibrate(flat, 0.5)
    noisy = np.where(rng.random(3000) < 0.2, (y + 1) % 3, y)
    t_mat = estimate_transition(p_true, noisy, 3, smoothing=0.0, em_steps=2)
    assert np.allclose(t_mat.sum(1), 1)
    assert np.all(np.abs(np.diag(t_mat) - 0.8) < 0.1), np.diag(t_mat)
    with pytest.raises(ValueError, match="relabel_grid"):
        PolicyConfig(relabel_grid=())


def _independent_weak_model(seed: int, n=4000, c=5, noise=0.08, signal=1.5, n_trusted=100):
    """A model that never saw a pool label and knows the true class only weakly (about 70 %
    right), given labels 92 % right: the transition estimate takes the model's errors for label
    noise (given labels look about 79 % right)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, c, n)
    logits = rng.normal(0, 1, (n, c))
    logits[np.arange(n), truth] += signal
    probs = np.exp(logits)
    probs /= probs.sum(1, keepdims=True)
    trusted = np.zeros(n, bool)
    trusted[:n_trusted] = True
    given = truth.copy()
    flip = (rng.random(n) < noise) & ~trusted
    given[flip] = (truth[flip] + rng.integers(1, c, n)[flip]) % c
    return truth, given, probs, trusted


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_model_weaker_than_the_labels_changes_nothing(seed):
    truth, given, probs, trusted = _independent_weak_model(seed)
    pool = ~trusted
    flags = pool & (probs.argmax(1) != given)
    args = (given, probs, flags, pool, np.flatnonzero(trusted))
    # without the guard, the simulated check passes and the labels get worse (the bug)
    actions, clean, _, rep = decide(*args, estimated_noise_rate=0.1)
    assert rep.mode == "rectify"
    assert _acc(truth, clean, actions, pool) < np.mean(given[pool] == truth[pool])
    assert rep.evidence_model_accuracy < rep.est_accuracy_given
    actions, clean, _, rep = decide(*args, estimated_noise_rate=0.1, independent_model=True)
    assert rep.mode == "flag_only" and "less accurate on the 100 trusted rows" in rep.reason
    assert (actions == "kept").all() and np.array_equal(clean, given)


def test_independent_model_stronger_than_the_labels_still_relabels():
    truth, given, probs, trusted = _independent_weak_model(0, signal=3.0)
    pool = ~trusted
    flags = pool & (probs.argmax(1) != given)
    actions, clean, _, rep = decide(
        given, probs, flags, pool, np.flatnonzero(trusted), independent_model=True
    )
    assert rep.mode == "rectify" and rep.evidence_model_accuracy >= rep.est_accuracy_given
    assert _acc(truth, clean, actions, pool) > np.mean(given[pool] == truth[pool]) + 0.03
