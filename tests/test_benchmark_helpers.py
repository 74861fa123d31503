"""Helpers that benchmarks build on still run against the library they import: a renamed
training-loop name or a broken forecaster fails here, in the fast suite, rather than minutes
into a benchmark."""

from __future__ import annotations

import numpy as np


def test_relabel_probe_forward_head_learns_through_a_known_transition():
    from benchmarks.labels_relabel_probe import K, train_forward, transition
    from ops.labels.backbones import BackboneConfig, EmbeddingSource
    from ops.labels.training import predict_proba

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(K), 40)
    x = rng.normal(size=(len(y), 16)).astype(np.float32)
    x[np.arange(len(y)), y] += 4.0  # class c lives along axis c
    flip = rng.random(len(y)) < 0.3  # 30 % of the labels moved to the next class
    given = np.where(flip, (y + 1) % K, y)
    T = transition(y, given)
    assert np.allclose(T.sum(1), 1.0) and np.all(np.diag(T) > 0.5)
    shrunk = transition(y[:20], given[:20], shrink=5.0)
    assert np.allclose(shrunk.sum(1), 1.0) and np.all(shrunk > 0)  # no empty row, no zero

    src = EmbeddingSource(x)
    cfg = BackboneConfig(kind="embeddings", epochs=10, num_threads=1).for_vectors()
    rows = np.arange(len(y))
    model = train_forward(src, rows, given, T, cfg, seed=0)
    acc = np.mean(predict_proba(model, src, rows, cfg).argmax(1) == y)
    assert acc > 0.9  # the clean classes, not the noisy ones


def test_relabel_probe_knn_votes_are_neighbour_label_shares():
    from benchmarks.labels_relabel_probe import K, knn_votes

    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(K), 30)
    x = rng.normal(size=(len(y), 24))
    x[np.arange(len(y)), y] += 10.0
    v = knn_votes(x, y, k=5, dims=12)
    assert v.shape == (len(y), K) and np.allclose(v.sum(1), 1.0)
    assert np.mean(v.argmax(1) == y) > 0.95


def test_downstream_forecasters_learn_a_sine_and_are_hurt_by_garbage():
    from benchmarks.tsrating_faults import linear_rmse, mlp_rmse

    t = np.arange(3000)
    x = np.sin(2 * np.pi * t / 50)
    W = np.lib.stride_tricks.sliding_window_view(x, 128)[::4]
    train, test = W[:500], W[500:]
    zero = float(np.sqrt(np.mean(test[:, 96:] ** 2)))
    garbage = np.random.default_rng(0).normal(size=train.shape)
    for fc in (lambda a, b: linear_rmse(a, b), lambda a, b: mlp_rmse(a, b, epochs=20)):
        clean = fc(train, test)
        assert clean < 0.2 * zero
        assert fc(garbage, test) > clean
