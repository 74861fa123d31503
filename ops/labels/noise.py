"""Seeded label-noise injection and class-balanced trusted-set draws (docs/labels.md §3).

Every generator takes integer labels in ``0..n_classes-1`` and returns a
:class:`NoiseResult` holding the noisy labels and the *actual* injected rate
(the fraction of rows whose label changed), which is what benchmarks must report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

NoiseKind = Literal["symmetric", "pair", "instance"]
NOISE_KINDS: tuple[str, ...] = ("symmetric", "pair", "instance")


@dataclass(frozen=True)
class NoiseResult:
    """Noisy labels plus bookkeeping.

    Attributes
    ----------
    labels : np.ndarray
        Noisy labels, int64, same shape as the input.
    actual_rate : float
        Fraction of rows whose label differs from the input label.
    kind : str
        Generator name (``symmetric``, ``pair``, ``instance``).
    nominal_rate : float
        The rate that was asked for.
    """

    labels: np.ndarray
    actual_rate: float
    kind: str
    nominal_rate: float


def _check(labels: np.ndarray, rate: float, n_classes: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"labels must be integers, got dtype {y.dtype}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes - 1}], got [{y.min()}, {y.max()}]")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"noise rate must lie in [0, 1], got {rate}")
    return y.astype(np.int64)


def _result(clean: np.ndarray, noisy: np.ndarray, kind: str, rate: float) -> NoiseResult:
    actual = float(np.mean(noisy != clean)) if clean.size else 0.0
    return NoiseResult(labels=noisy, actual_rate=actual, kind=kind, nominal_rate=float(rate))


def symmetric_noise(labels: np.ndarray, rate: float, n_classes: int, seed: int = 0) -> NoiseResult:
    """Symmetric noise, *true rate*: with probability ``rate`` relabel uniformly among the other
    C-1 classes.

    Parameters
    ----------
    labels : array of int
        Clean labels in ``0..n_classes-1``.
    rate : float
        Probability that a row is flipped; the actual rate is close to it.
    n_classes : int
        Number of classes C.
    seed : int
        Seed of the generator; the same seed gives the same noisy labels.
    """
    y = _check(labels, rate, n_classes)
    rng = np.random.default_rng(seed)
    flip = rng.random(y.size) < rate
    shift = rng.integers(1, n_classes, size=y.size)  # 1..C-1: never the same class
    noisy = np.where(flip, (y + shift) % n_classes, y)
    return _result(y, noisy, "symmetric", rate)


def pair_noise(
    labels: np.ndarray,
    rate: float,
    n_classes: int,
    seed: int = 0,
    class_map: Mapping[int, int] | None = None,
) -> NoiseResult:
    """Pair (asymmetric) noise: class ``c`` flips to a fixed target with probability ``rate``.

    Parameters
    ----------
    class_map : mapping int -> int, optional
        Target per source class. Default ``c -> (c + 1) mod C``. Classes missing from the
        map are never flipped; a map onto the same class is an error.
    """
    y = _check(labels, rate, n_classes)
    if class_map is None:
        target = (np.arange(n_classes) + 1) % n_classes
    else:
        target = np.arange(n_classes)
        for src, dst in class_map.items():
            if not (0 <= int(src) < n_classes and 0 <= int(dst) < n_classes):
                raise ValueError(f"class_map entry {src}->{dst} outside [0, {n_classes - 1}]")
            if int(src) == int(dst):
                raise ValueError(f"class_map maps class {src} onto itself")
            target[int(src)] = int(dst)
    rng = np.random.default_rng(seed)
    flip = rng.random(y.size) < rate
    noisy = np.where(flip, target[y], y)
    return _result(y, noisy, "pair", rate)


def instance_noise(
    labels: np.ndarray,
    features: np.ndarray,
    rate: float,
    n_classes: int,
    seed: int = 0,
    spread: float = 0.1,
) -> NoiseResult:
    """Instance-dependent noise (PDN, Xia et al. 2020), docs/labels.md §3.

    Per sample draw ``q ~ TruncNormal(rate, spread, [0, 1])``; per class a random projection
    ``W_y`` of shape ``(d, C)``; scores ``x @ W_y`` with the true class masked, softmax,
    scaled by ``q``; the true class gets ``1 - q``; sample the new label from that.

    Parameters
    ----------
    features : array (N, ...)
        Per-row features (e.g. flattened pixels); flattened and L2-normalised per row.
    spread : float
        Standard deviation of the truncated normal.
    """
    from scipy.stats import truncnorm

    y = _check(labels, rate, n_classes)
    x = np.asarray(features, dtype=np.float64).reshape(len(y), -1)
    if x.shape[0] != y.size:
        raise ValueError(f"features have {x.shape[0]} rows, labels {y.size}")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(seed)
    if y.size == 0:
        return _result(y, y.copy(), "instance", rate)
    if rate <= 0:
        q = np.zeros(y.size)
    elif rate >= 1:
        q = np.ones(y.size)
    else:
        a, b = (0 - rate) / spread, (1 - rate) / spread
        q = truncnorm.rvs(a, b, loc=rate, scale=spread, size=y.size, random_state=rng)
    w = rng.standard_normal((n_classes, x.shape[1], n_classes))
    scores = np.einsum("nd,ndc->nc", x, w[y])
    scores[np.arange(y.size), y] = -np.inf
    scores -= scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=1, keepdims=True)
    p *= q[:, None]
    p[np.arange(y.size), y] = 1.0 - q
    cum = np.cumsum(p, axis=1)
    u = rng.random(y.size)[:, None] * cum[:, -1:]
    noisy = np.minimum((u > cum).sum(axis=1), n_classes - 1).astype(np.int64)
    return _result(y, noisy, "instance", rate)


def inject_noise(
    labels: np.ndarray,
    kind: str,
    rate: float,
    n_classes: int,
    seed: int = 0,
    *,
    features: np.ndarray | None = None,
    class_map: Mapping[int, int] | None = None,
) -> NoiseResult:
    """One generator by name: ``symmetric``, ``pair``/``asym``, ``instance``/``inst``."""
    k = {"sym": "symmetric", "asym": "pair", "asymmetric": "pair", "inst": "instance"}.get(
        kind, kind
    )
    if k == "symmetric":
        return symmetric_noise(labels, rate, n_classes, seed)
    if k == "pair":
        return pair_noise(labels, rate, n_classes, seed, class_map)
    if k == "instance":
        if features is None:
            raise ValueError("instance-dependent noise needs features")
        return instance_noise(labels, features, rate, n_classes, seed)
    raise ValueError(f"unknown noise kind {kind!r}; expected one of {NOISE_KINDS}")


def draw_trusted(
    labels: np.ndarray,
    per_class: int,
    seed: int = 0,
    n_classes: int | None = None,
) -> np.ndarray:
    """Draw a class-balanced, seeded trusted set: ``per_class`` row indices of every class.

    Returns
    -------
    np.ndarray
        Sorted int64 row indices.

    Raises
    ------
    ValueError
        If a class has fewer than ``per_class`` rows.
    """
    y = np.asarray(labels).astype(np.int64)
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(n_classes):
        rows = np.flatnonzero(y == c)
        if rows.size < per_class:
            raise ValueError(f"class {c} has {rows.size} rows, fewer than per_class={per_class}")
        chosen.append(rng.choice(rows, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))
