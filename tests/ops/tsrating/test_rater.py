"""Encoder and Bradley–Terry rater of the previous pipeline (docs/tsrating.md §6; the fault
benchmark's ``tsrating_v0`` comparator). The scores step: test_fault_rating.py."""

import numpy as np
import polars as pl
import pytest
import torch

from ops.device import resolve_device
from ops.tsrating.encoder import CallableEncoder, FeatureEncoder, prepare
from ops.tsrating.rater import (
    Pairs,
    RaterConfig,
    RaterHead,
    bt_loss,
    fit_rater,
    load_heads,
    mix_scores,
    pairs_from_judgments,
    pairwise_accuracy,
    save_heads,
    standardize,
)
from ops.tsrating.rubric_judge import RUBRIC_STATISTICS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _windows(n=200, L=128, seed=0):
    """Noisy sines with a per-window noise level (quality = low noise)."""
    rng = np.random.default_rng(seed)
    t = np.arange(L)
    noise = rng.uniform(0.05, 2.0, size=n)
    X = np.sin(2 * np.pi * t / rng.uniform(10, 40, size=(n, 1))) * rng.uniform(1, 100, size=(n, 1))
    X = X + noise[:, None] * rng.normal(size=(n, L)) * np.abs(X).max(axis=1, keepdims=True)
    return X, -noise


def _pairs(quality, n_pairs, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(quality), n_pairs), rng.integers(0, len(quality), n_pairs)
    p = 1 / (1 + np.exp(-(quality[b] - quality[a]) / 0.05))
    keep = ((p <= 0.25) | (p >= 0.75)) & (a != b)
    return Pairs(a[keep], b[keep], p[keep])


def test_encoder_shapes_nan_and_invariance():
    X, _ = _windows(50)
    enc = FeatureEncoder()
    F = enc.encode(X)
    assert F.shape == (50, enc.dim) and F.dtype == np.float32 and np.isfinite(F).all()
    # shape features invariant to offset/scale; only the scale features (last 2) move
    G = enc.encode(3.0 * X + 7.0)
    np.testing.assert_allclose(F[:, :-2], G[:, :-2], atol=1e-4)
    assert not np.allclose(F[:, -2], G[:, -2])
    Y = X.copy()
    Y[:, 10:20] = np.nan
    Y[0, :] = np.nan
    Y[1, 100:] = np.nan  # short window padding
    H = enc.encode(Y)
    assert np.isfinite(H).all()
    assert enc.encode(np.full((3, 128), 5.0)).shape == (3, enc.dim)


def test_encoder_avoids_rubric_statistics():
    assert "missing_share" in RUBRIC_STATISTICS
    assert FeatureEncoder().dim + 1 == FeatureEncoder(missing_feature=True).dim
    X, _ = _windows(5)
    X[:, :64] = np.nan
    F = FeatureEncoder(missing_feature=True).encode(X)
    np.testing.assert_allclose(F[:, -1], 0.5)


def test_callable_encoder_is_pluggable_and_batched():
    calls = []

    def fn(z):
        calls.append(z.shape[0])
        assert np.allclose(z.mean(axis=1), 0, atol=1e-5)
        return z[:, :8]

    enc = CallableEncoder(fn, "first8", 8, batch_size=16)
    X, _ = _windows(40)
    F = enc.encode(X)
    assert F.shape == (40, 10) and calls == [16, 16, 8]
    z, scale, miss = prepare(X)
    np.testing.assert_allclose(F[:, -2:], scale, rtol=1e-5)


def test_bt_loss_matches_formula():
    sa, sb, p = torch.tensor([0.3, -1.0]), torch.tensor([1.0, 0.5]), torch.tensor([0.8, 0.1])
    want = -(
        p * torch.log(torch.sigmoid(sb - sa)) + (1 - p) * torch.log(torch.sigmoid(sa - sb))
    ).mean()
    torch.testing.assert_close(bt_loss(sa, sb, p), want)


def test_pairwise_accuracy_and_ties():
    s = np.array([0.0, 1.0, 1.0])
    assert (
        pairwise_accuracy(s, Pairs(np.array([0, 1]), np.array([1, 2]), np.array([0.9, 0.9])))
        == 0.75
    )
    assert pairwise_accuracy(s, Pairs(np.zeros(0, int), np.zeros(0, int), np.zeros(0))) is None


def test_rater_learns_held_out_ranking_and_is_seeded():
    X, q = _windows(300)
    F = standardize(FeatureEncoder().encode(X))
    pairs = {"amplitude": _pairs(q, 1500)}
    cfg = RaterConfig(epochs=10, hidden=64)
    rater, rep = fit_rater(F, pairs, cfg)
    assert rep["amplitude"]["status"] == "trained" and rep["amplitude"]["val_accuracy"] > 0.85
    assert set(rater.fallback) == {"trend", "frequency", "pattern"}
    rater2, rep2 = fit_rater(F, pairs, cfg)
    np.testing.assert_array_equal(rater.score(F)["amplitude"], rater2.score(F)["amplitude"])
    assert rater.version() == rater2.version()


def test_mix_scores_minmax_mean_and_fallback():
    raw = {
        "trend": np.array([0.0, 2.0, 4.0]),
        "frequency": np.array([1.0, 1.0, 1.0]),
        "amplitude": np.array([3.0, 2.0, 1.0]),
        "pattern": np.array([5.0, 0.0, 1.0]),
    }
    m = mix_scores(raw, trained=["trend", "amplitude"])
    np.testing.assert_allclose(m["trend"], [0, 0.5, 1])
    np.testing.assert_allclose(m["pattern"], [0.5] * 3)
    np.testing.assert_allclose(m["quality"], [0.5, 0.5, 0.5])
    assert np.all(mix_scores(raw, trained=[])["quality"] == 0.5)


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError):
            resolve_device("cuda")


def test_checkpoint_from_single_mode_loads(tmp_path):
    h = RaterHead(7, 16)
    save_heads(tmp_path / "r.pt", {"trend": h}, dim=7, hidden=16, meta={"version": "x"})
    states, info = load_heads(tmp_path / "r.pt")
    g = RaterHead(info["dim"], info["hidden"])
    g.load_state_dict(states["trend"])
    assert info["version"] == "x"


def test_pairs_from_judgments_keeps_confident_ok_only():
    j = pl.DataFrame(
        {
            "block_a": ["w0", "w1", "w2", "w0", "zz"],
            "block_b": ["w1", "w2", "w0", "w2", "w0"],
            "criterion": ["trend"] * 5,
            "comparisons_avg": [0.9, 0.5, 0.1, 0.95, 0.9],
            "confident": [True, False, True, True, True],
            "status": ["ok", "ok", "ok", "error", "ok"],
        }
    )
    p = pairs_from_judgments(j, ["w0", "w1", "w2"])["trend"]
    assert p.a.tolist() == [0, 2] and p.b.tolist() == [1, 0] and p.p.tolist() == [0.9, 0.1]
