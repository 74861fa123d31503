"""RST pieces (SLSQP simplex weights, corrector, one correction round) and its
``clean_labels`` contract."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from ops.labels import ImageSpec, LabelCleaningConfig, clean_labels
from ops.labels.rst import (
    CorrectionState,
    RSTConfig,
    correction_epochs,
    correction_round,
    fit_simplex_weights,
    split_trusted,
    train_corrector,
    train_rst,
)

SEED = 42


def _load_vri_tests():
    spec = importlib.util.spec_from_file_location(
        "_vri_tests", Path(__file__).with_name("test_vri.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_vt = _load_vri_tests()
digits_pngs = _vt.digits_pngs  # the same module-scoped fixture (digits PNGs, 30 % pair noise)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_slsqp_weights_on_simplex(k):
    rng = np.random.default_rng(SEED)
    preds = rng.dirichlet(np.ones(5), size=(k, 40))
    y = rng.integers(0, 5, 40)
    w = fit_simplex_weights(preds, y)
    assert w.shape == (k,) and (w >= 0).all() and abs(w.sum() - 1) < 1e-9


def test_slsqp_picks_the_informative_component():
    rng = np.random.default_rng(SEED)
    y = rng.integers(0, 4, 60)
    good = np.full((60, 4), 0.05)
    good[np.arange(60), y] = 0.85
    bad = rng.dirichlet(np.ones(4), size=60)
    w = fit_simplex_weights(np.stack([bad, good]), y)
    assert w[1] > 0.9


def _toy(seed=SEED, n_pool=300, n_m=60, c=3):
    """Gaussian clusters in feature space; 40 % pair noise c -> c+1; trusted rows' simulated noisy
    posterior puts 0.6 on the truth and 0.4 on the pair target (what a noisy head would learn)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, (c, 8))
    y_pool = rng.integers(0, c, n_pool)
    y_m = np.repeat(np.arange(c), n_m // c)
    z_pool = centers[y_pool] + rng.normal(0, 1, (n_pool, 8))
    z_m = centers[y_m] + rng.normal(0, 1, (len(y_m), 8))
    flip = rng.random(n_pool) < 0.4
    given = np.where(flip, (y_pool + 1) % c, y_pool)
    sim = np.zeros((len(y_m), c))
    sim[np.arange(len(y_m)), y_m] = 0.6
    sim[np.arange(len(y_m)), (y_m + 1) % c] = 0.4
    return z_pool.astype(np.float32), given, y_pool, z_m.astype(np.float32), sim, y_m


def test_corrector_outputs_distribution():
    z_pool, given, _, z_m, sim, y_m = _toy()
    tr, va = split_trusted(y_m, 0.2, SEED)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == len(y_m)
    assert set(y_m[va]) == set(y_m)  # stratified
    r = train_corrector(sim[tr], z_m[tr], y_m[tr], sim[va], z_m[va], y_m[va], RSTConfig.tiny())
    with torch.no_grad():
        out = r(
            torch.as_tensor(np.eye(3)[given], dtype=torch.float32), torch.as_tensor(z_pool)
        ).numpy()
    assert (
        out.shape == (len(given), 3) and (out >= 0).all() and np.allclose(out.sum(1), 1, atol=1e-5)
    )


@pytest.mark.parametrize("convex", [True, False])
def test_one_round_moves_labels_toward_truth(convex):
    z_pool, given, y_pool, z_m, sim, y_m = _toy()
    tr, va = split_trusted(y_m, 0.2, SEED)
    state = CorrectionState(pool=[np.eye(3)[given]])
    y_hat = correction_round(
        state, z_pool, given, z_m, sim, y_m, tr, va, RSTConfig.tiny(convex=convex)
    )
    assert np.allclose(y_hat.sum(1), 1, atol=1e-6) and (y_hat >= -1e-12).all()
    before = np.mean(given == y_pool)
    after = np.mean(y_hat.argmax(1) == y_pool)
    assert before < 0.7 and after > before + 0.2, (before, after)
    # mean probability of the truth rises too
    assert y_hat[np.arange(len(y_pool)), y_pool].mean() > 0.7
    w = state.weights[-1]
    assert len(w) == 2 and (w >= 0).all() and abs(w.sum() - 1) < 1e-9
    if not convex:
        assert np.array_equal(w, [0.0, 1.0])


def test_correction_schedule():
    assert correction_epochs(10, RSTConfig()) == [4, 5, 6, 7, 8, 9, 10]
    assert correction_epochs(60, RSTConfig()) == [24, 30, 36, 42, 48, 54, 60]
    assert correction_epochs(1, RSTConfig()) == [1]
    with pytest.raises(ValueError):
        RSTConfig(val_frac=1.0)


def test_clean_labels_rst_contract(digits_pngs):
    d = digits_pngs
    msgs = []
    frame, s = clean_labels(
        d["manifest"],
        d["root"],
        digits_pngs_classes(),
        config=LabelCleaningConfig.tiny(
            method="rst", image=ImageSpec(size=8), rst=RSTConfig.tiny(period_frac=0.3)
        ),
        progress=msgs.append,
    )
    _vt.check_contract(frame, s, d, "rst")
    assert any("correction" in m for m in msgs)
    pool = d["pool"]
    clean = np.asarray([int(c[1:]) for c in frame["clean_label"]])
    act = frame["action"].to_numpy()
    kept = pool & (act != "dropped")
    # cleaned labels of kept pool rows are more accurate than the given ones
    assert np.mean(clean[kept] == d["y"][kept]) > np.mean(d["noisy"][pool] == d["y"][pool]) + 0.05


def digits_pngs_classes():
    return _vt.CLASSES


def test_corrector_is_trained_on_the_input_it_is_applied_to():
    # issue 12: the corrector learned from soft simulated posteriors of the trusted rows but was
    # applied to one-hot given labels. With uninformative features the right answer for given
    # label k is P(true | given = k): 0.7 on k and 0.3 on k - 1 under this simulated noise
    rng = np.random.default_rng(0)
    c, n_m = 3, 300
    y_m = np.repeat(np.arange(c), n_m // c)
    z_m = rng.normal(0, 1, (n_m, 4)).astype(np.float32)
    sim = 0.7 * np.eye(c)[y_m] + 0.3 * np.eye(c)[(y_m + 1) % c]
    given = np.repeat(np.arange(c), 100)
    z_pool = rng.normal(0, 1, (len(given), 4)).astype(np.float32)
    tr, va = split_trusted(y_m, 0.2, SEED)
    state = CorrectionState(pool=[np.eye(c)[given]])
    cfg = RSTConfig.tiny(convex=False, corrector_steps=400)
    y_hat = correction_round(state, z_pool, given, z_m, sim, y_m, tr, va, cfg)
    rows = np.arange(len(given))
    assert abs(y_hat[rows, given].mean() - 0.7) < 0.12, y_hat[rows, given].mean()
    assert abs(y_hat[rows, (given - 1) % c].mean() - 0.3) < 0.12
    # the convex weights are fitted on the same one-hot first component as they are applied to:
    # component 0 (the given label) is right 70 % of the time, the corrector's calibrated
    # (0.7, 0.3) beats it, so the fit puts weight on the corrector
    state2 = CorrectionState(pool=[np.eye(c)[given]])
    correction_round(state2, z_pool, given, z_m, sim, y_m, tr, va, RSTConfig.tiny())
    assert state2.weights[-1][1] > 0.5, state2.weights[-1]


def test_train_rst_corrects_pair_noise_beyond_plain_ce():
    # issue 12: fails when the corrector is bypassed (labels stay the given ones) or not trained
    # (a random corrector's labels): RST's corrected pool labels must beat both the given labels
    # and a plain-CE model's classes on 40 % pair noise by a clear margin
    from ops.labels.training import predict_proba, train_model

    src, y, given, pool, trusted = _vt.digits_pair_noise(per_class=10)
    cfg = _vt.PAIR_CFG
    train = np.concatenate([pool, trusted])
    ce = train_model(src, train, given[train], 10, cfg, seed=0)
    acc_ce = float(np.mean(predict_proba(ce, src, pool, cfg).argmax(1) == y[pool]))
    _, y_hat, state = train_rst(
        src, pool, given[pool], trusted, y[trusted], 10, cfg, RSTConfig.tiny(), seed=0
    )
    acc_rst = float(np.mean(y_hat.argmax(1) == y[pool]))
    acc_given = float(np.mean(given[pool] == y[pool]))
    assert len(state.weights) >= 1
    assert acc_rst >= acc_given + 0.2, (acc_rst, acc_given)
    assert acc_rst >= acc_ce + 0.05, (acc_rst, acc_ce)
