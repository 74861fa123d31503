import numpy as np
import pytest

from ops.labels.backbones import BackboneConfig
from ops.labels.detection import detect_label_issues, quality_scores
from ops.labels.images import ArrayImageDataset
from ops.labels.oof import make_folds, oof_pred_probs
from ops.labels.rectify import RectifyConfig, rectify


class Memorizer:
    """A fake model: one-hot on rows it trained on, uniform on rows it did not."""

    __qualname__ = "Memorizer"

    def __init__(self, n_classes):
        self.c = n_classes
        self.calls = []

    def __call__(self, train_idx, train_labels, score, prefix):
        self.calls.append((set(train_idx.tolist()), prefix))
        seen = dict(zip(train_idx.tolist(), train_labels.tolist(), strict=True))
        out = []
        for rows in score:
            p = np.full((len(rows), self.c), 1.0 / self.c)
            for j, r in enumerate(rows.tolist()):
                if r in seen:
                    p[j] = np.eye(self.c)[seen[r]]
            out.append(p)
        return out


def _src(n=60):
    return ArrayImageDataset(np.random.default_rng(0).integers(0, 255, (n, 8, 8), dtype=np.uint8))


def test_oof_never_in_sample_and_each_row_held_once():
    src = _src()
    idx = np.arange(5, 55)
    y = np.arange(50) % 3
    fake = Memorizer(3)
    res = oof_pred_probs(
        src, idx, y, 3, BackboneConfig(), k=5, seed=0, extra_idx=np.arange(5), fit_predict=fake
    )
    assert len(fake.calls) == 5 and res.n_splits == 5
    # a memorizing model would give one-hot in-sample; every OOF row is uniform -> never in-sample
    assert np.allclose(res.pred_probs, 1 / 3)
    # fold bookkeeping: each row is held out in exactly one fold, and that fold's model never saw it
    for f, (train_set, prefix) in enumerate(fake.calls):
        held = set(idx[res.fold == f].tolist())
        assert held and not (held & train_set)
        assert train_set | held == set(idx.tolist())
        assert prefix.startswith(f"fold {f + 1}/5")
    assert res.extra_probs.shape == (5, 3)


def test_make_folds_rare_class_and_bad_k():
    y = np.array([0] * 20 + [1] * 20 + [2] * 2)  # class 2 has fewer members than K
    fold, k = make_folds(y, 5, 0)
    assert k == 5 and set(fold.tolist()) == set(range(5))
    assert np.all(np.bincount(fold[y == 0]) == 4)
    assert len(set(fold[y == 2].tolist())) == 2
    with pytest.raises(ValueError, match="K .* >= 2"):
        make_folds(y, 1, 0)
    assert make_folds(np.array([0, 1, 1, 1]), 5, 0)[1] == 3


def test_oof_cache_hit_and_invalidation(tmp_path):
    src = _src()
    y = np.arange(60) % 3
    fake = Memorizer(3)
    kw = dict(k=3, seed=1, cache_dir=tmp_path, fit_predict=fake, fit_predict_id="memorizer")
    r1 = oof_pred_probs(src, np.arange(60), y, 3, BackboneConfig(), **kw)
    assert not r1.cache_hit and len(fake.calls) == 3 and len(list(tmp_path.glob("oof_*.npz"))) == 1
    msgs = []
    r2 = oof_pred_probs(src, np.arange(60), y, 3, BackboneConfig(), progress=msgs.append, **kw)
    assert r2.cache_hit and len(fake.calls) == 3 and "cache hit" in msgs[0]
    assert np.array_equal(r1.pred_probs, r2.pred_probs) and np.array_equal(r1.fold, r2.fold)
    y2 = y.copy()
    y2[0] = 1
    assert not oof_pred_probs(src, np.arange(60), y2, 3, BackboneConfig(), **kw).cache_hit
    assert not oof_pred_probs(src, np.arange(60), y, 3, BackboneConfig(epochs=3), **kw).cache_hit
    # device and thread count are not part of the key
    assert oof_pred_probs(src, np.arange(60), y, 3, BackboneConfig(num_threads=1), **kw).cache_hit


def test_oof_cache_key_is_not_a_name(tmp_path):
    # issue 12: two different callables with the same __qualname__ used to share a cache entry
    src = _src()
    y = np.arange(60) % 3

    class Uniform(Memorizer):
        __qualname__ = "Memorizer"  # same name, different behaviour

        def __call__(self, train_idx, train_labels, score, prefix):
            return [np.tile([0.8, 0.1, 0.1], (len(r), 1)) for r in score]

    a, b = Memorizer(3), Uniform(3)
    kw = dict(k=3, seed=1, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="fit_predict_id"):
        oof_pred_probs(src, np.arange(60), y, 3, BackboneConfig(), fit_predict=a, **kw)
    ra = oof_pred_probs(
        src, np.arange(60), y, 3, BackboneConfig(), fit_predict=a, fit_predict_id="a", **kw
    )
    rb = oof_pred_probs(
        src, np.arange(60), y, 3, BackboneConfig(), fit_predict=b, fit_predict_id="b", **kw
    )
    assert not rb.cache_hit and not np.allclose(ra.pred_probs, rb.pred_probs)


def _make_factory(hidden):
    import torch

    def factory(in_ch, n_classes):  # the same module.qualname for every hidden size
        return torch.nn.Sequential(
            torch.nn.Flatten(),
            torch.nn.Linear(in_ch * 64, hidden),
            torch.nn.Linear(hidden, n_classes),
        )

    return factory


def test_custom_factories_with_one_name_get_different_keys(tmp_path):
    from ops.labels.oof import _factory_fingerprint

    src = _src()
    idx = np.arange(60)
    f4, f8 = _make_factory(4), _make_factory(8)
    assert f4.__qualname__ == f8.__qualname__
    cfg4 = BackboneConfig(kind="custom", model_factory=f4)
    cfg8 = BackboneConfig(kind="custom", model_factory=f8)
    assert cfg4.identity() == cfg8.identity()  # the name alone cannot tell them apart
    k4 = _factory_fingerprint(cfg4, src, idx, 3, 0)
    assert k4 == _factory_fingerprint(cfg4, src, idx, 3, 0)  # stable
    assert k4 != _factory_fingerprint(cfg8, src, idx, 3, 0)
    assert _factory_fingerprint(BackboneConfig(), src, idx, 3, 0) is None
    named = BackboneConfig(kind="custom", model_factory=f4, model_id="mlp4")
    assert _factory_fingerprint(named, src, idx, 3, 0) is None


def test_oof_real_model_progress(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(2), 30)
    imgs = np.zeros((60, 8, 8), np.uint8)
    imgs[y == 1, :, :4] = 255  # class 1: left half bright
    imgs = imgs + rng.integers(0, 30, imgs.shape).astype(np.uint8)
    msgs = []
    cfg = BackboneConfig(width=8, epochs=2, min_steps=20, batch_size=16)
    res = oof_pred_probs(
        ArrayImageDataset(imgs), np.arange(60), y, 2, cfg, k=3, progress=msgs.append
    )
    assert any(m.startswith("fold 2/3 epoch 1/") for m in msgs)
    assert np.allclose(res.pred_probs.sum(1), 1)
    assert (res.pred_probs.argmax(1) == y).mean() > 0.8


def test_detection_flags_obvious_errors():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 400)
    p = np.full((400, 4), 0.02)
    p[np.arange(400), y_true] = 0.94
    given = y_true.copy()
    wrong = rng.choice(400, 40, replace=False)
    given[wrong] = (given[wrong] + 1) % 4
    det = detect_label_issues(given, p)
    assert set(np.flatnonzero(det.is_issue)) == set(wrong.tolist())
    assert 0.05 < det.estimated_noise_rate < 0.15
    q = quality_scores(given, p)
    assert q.min() >= 0 and q.max() <= 1 and q[wrong].max() < np.delete(q, wrong).min()
    with pytest.raises(ValueError, match="filter_by"):
        detect_label_issues(given, p, filter_by="magic")


def test_rectify_policy():
    given = np.array([0, 0, 1, 1, 2])
    p = np.array([[0.05, 0.95, 0], [0.4, 0.6, 0], [0, 1, 0], [0.97, 0.03, 0], [0, 0.99, 0.01]])
    flag = np.array([True, True, False, True, True])
    prot = np.array([False, False, False, True, False])
    act, clean = rectify(given, p, flag, prot, config=RectifyConfig(relabel_threshold=0.9))
    assert act.tolist() == ["relabeled", "dropped", "kept", "kept", "relabeled"]
    assert clean.tolist() == [1, 0, 1, 1, 1]
    act2, _ = rectify(given, p, flag, prot, config=RectifyConfig(relabel=False))
    assert act2.tolist() == ["dropped", "dropped", "kept", "kept", "dropped"]
    act3, _ = rectify(
        given,
        p,
        flag,
        prot,
        quality=np.array([0.1, 0.5, 1, 1, 0.01]),
        config=RectifyConfig(max_drop_fraction=0.5),
    )  # 4 unprotected rows -> at most 2
    assert act3.tolist() == ["relabeled", "kept", "kept", "kept", "relabeled"]
    with pytest.raises(ValueError, match="relabel_threshold"):
        RectifyConfig(relabel_threshold=0)
