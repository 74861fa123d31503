import numpy as np
import pytest

from ops.labels.noise import draw_trusted, inject_noise, instance_noise, pair_noise, symmetric_noise


@pytest.fixture
def y():
    return np.random.default_rng(0).integers(0, 10, 20000)


@pytest.mark.parametrize("rate", [0.0, 0.2, 0.4, 0.6])
def test_symmetric_true_rate_and_seeded(y, rate):
    r = symmetric_noise(y, rate, 10, seed=3)
    assert abs(r.actual_rate - rate) < 0.015
    assert r.actual_rate == pytest.approx(np.mean(r.labels != y))
    # flipped rows go to another class, spread over all C-1 others
    flipped = r.labels != y
    if rate > 0:
        offsets = (r.labels[flipped] - y[flipped]) % 10
        assert set(np.unique(offsets)) == set(range(1, 10))
    assert np.array_equal(r.labels, symmetric_noise(y, rate, 10, seed=3).labels)
    if rate > 0:
        assert not np.array_equal(r.labels, symmetric_noise(y, rate, 10, seed=4).labels)


def test_pair_default_and_map(y):
    r = pair_noise(y, 0.4, 10, seed=1)
    f = r.labels != y
    assert abs(r.actual_rate - 0.4) < 0.015
    assert np.array_equal(r.labels[f], (y[f] + 1) % 10)
    r2 = pair_noise(y, 0.4, 10, seed=1, class_map={1: 7, 3: 8})
    f2 = r2.labels != y
    assert set(np.unique(y[f2])) == {1, 3}
    assert np.all(r2.labels[f2 & (y == 1)] == 7) and np.all(r2.labels[f2 & (y == 3)] == 8)
    with pytest.raises(ValueError, match="onto itself"):
        pair_noise(y, 0.4, 10, class_map={2: 2})


def test_instance_noise_rate_seeded_and_feature_dependent(y):
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(10, 32))
    x = centers[y] + 0.05 * rng.normal(size=(y.size, 32))  # images of one class look alike
    r = instance_noise(y, x, 0.4, 10, seed=2)
    assert abs(r.actual_rate - 0.4) < 0.03
    assert np.array_equal(r.labels, instance_noise(y, x, 0.4, 10, seed=2).labels)
    # the flip target depends on the features: similar images of a class flip to the same few
    # classes (softmax of a random projection), unlike uniform symmetric noise
    f = r.labels != y
    counts = np.bincount(r.labels[f & (y == 0)], minlength=10)[1:]
    assert counts.max() > 2 * counts.mean()
    with pytest.raises(ValueError, match="features"):
        inject_noise(y, "inst", 0.4, 10)


def test_inject_noise_dispatch_and_errors(y):
    assert inject_noise(y, "sym", 0.2, 10, 0).kind == "symmetric"
    assert inject_noise(y, "asym", 0.2, 10, 0).kind == "pair"
    with pytest.raises(ValueError, match="unknown noise kind"):
        inject_noise(y, "gaussian", 0.2, 10)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        symmetric_noise(y, 1.5, 10)
    with pytest.raises(ValueError, match="labels must lie"):
        symmetric_noise(y, 0.2, 5)


def test_draw_trusted_balanced_seeded(y):
    t = draw_trusted(y, 10, seed=5)
    assert len(t) == 100 and len(np.unique(t)) == 100
    assert np.all(np.bincount(y[t], minlength=10) == 10)
    assert np.array_equal(t, draw_trusted(y, 10, seed=5))
    assert not np.array_equal(t, draw_trusted(y, 10, seed=6))
    with pytest.raises(ValueError, match="fewer than per_class"):
        draw_trusted(np.array([0, 0, 1]), 2)
