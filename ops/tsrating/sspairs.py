"""Self-supervised pairwise judgments from a dataset's own windows (docs/tsrating.md §11.3).

No LLM budget: for every series, ``copies`` corrupted copies are made with
:func:`ops.tsrating.faults.inject` (``share`` of the points in fault segments, families drawn
from ``families``, parameters from the ``band`` ranges) and all features are recomputed **in the
corrupted series' context** (its own norms and neighbours, exactly what scoring sees). Pairs
(``p`` = P(b beats a)):

=============  ===========================================================  ======  ======
kind           a / b                                                         p       weight
=============  ===========================================================  ======  ======
``same_ctx``   a = degraded window i of copy c, b = window i of a copy c'     0.95    1.0
               where it is untouched ("the original beats its degraded copy",
               both in a corrupted context)
``cross_ctx``  a = degraded window of a copy, b = an untouched window of the   0.95    1.0
               SAME copy (same corrupted context; ``cross_mult`` partners)
``tie_ctx``    a = untouched window i of a copy, b = original window i        0.50    1.0
``tie``        a, b = two random original windows                             0.50    0.1
=============  ===========================================================  ======  ======

**Shortcut guard.** A corrupted copy shifts every window's series-relative features a little
(the norms move), so "original vs copy" is learnable from the context alone. Pairing a
degraded window with the clean *original* taught exactly that shortcut (about 0.1 AUC lower out
of domain); ``same_ctx``/``cross_ctx`` compare windows that share a corrupted context and
``tie_ctx`` says an untouched window of a copy is as good as the original. Degraded windows are
:func:`ops.tsrating.faults.window_labels` label 1; ambiguous windows make no pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ops.tsrating.context import L_DEFAULT, grid_starts, series_features
from ops.tsrating.faults import inject, window_labels

KINDS = ("same_ctx", "cross_ctx", "tie_ctx", "tie")


@dataclass
class PairSet:
    """Feature rows and pairs; rows ``[0, n_orig)`` are the original windows."""

    X: np.ndarray
    a: np.ndarray
    b: np.ndarray
    p: np.ndarray
    w: np.ndarray
    kind: np.ndarray  # index into KINDS per pair
    n_orig: int
    row_series: np.ndarray
    row_label: np.ndarray  # -1 ambiguous, 0 clean/original, 1 degraded
    row_family: np.ndarray  # index into faults.NAMES, -1 none

    def select(self, exclude_families: Sequence[int] = ()) -> tuple[np.ndarray, ...]:
        """(a, b, p, w) without the pairs that touch a window degraded by ``exclude_families``."""
        keep = np.ones(len(self.a), bool)
        if len(exclude_families):
            bad = np.isin(self.row_family, exclude_families) & (self.row_label != 0)
            keep &= ~(bad[self.a] | bad[self.b])
        return self.a[keep], self.b[keep], self.p[keep], self.w[keep]


def _padded(x: np.ndarray, length: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.concatenate([x, np.full(length - len(x), np.nan)]) if len(x) < length else x


def features_of(
    series: Sequence[np.ndarray], length: int = L_DEFAULT
) -> tuple[np.ndarray, np.ndarray]:
    """Grid features of every series: ``(X, series index per row)``."""
    Xs, sid = [], []
    for i, x in enumerate(series):
        g = grid_starts(max(len(x), length), length)
        Xs.append(series_features(x, g, length))
        sid.append(np.full(len(g), i))
    return np.concatenate(Xs), np.concatenate(sid)


def make_pairs(
    series: Sequence[np.ndarray],
    families: Sequence[str],
    rng: np.random.Generator,
    *,
    copies: int = 2,
    share: float = 0.3,
    band: str = "train",
    X_orig: np.ndarray | None = None,
    length: int = L_DEFAULT,
    n_tie: float = 0.5,
    cross_mult: int = 4,
    p_fault: float = 0.95,
    w_tie: float = 0.1,
) -> PairSet:
    """Corrupted copies of ``series`` and their pairs (module docstring). ``X_orig``: the grid
    features of ``series`` when already computed."""
    grids = [grid_starts(max(len(x), length), length) for x in series]
    sid0 = np.concatenate([np.full(len(g), i) for i, g in enumerate(grids)])
    if X_orig is None:
        X_orig, _ = features_of(series, length)
    n0 = len(X_orig)
    offs = np.concatenate([[0], np.cumsum([len(g) for g in grids])])
    rows, labs, fams = [X_orig], [np.zeros(n0, int)], [np.full(n0, -1)]
    a: list[np.ndarray] = []
    b: list[np.ndarray] = []
    p: list[np.ndarray] = []
    w: list[np.ndarray] = []
    kind: list[np.ndarray] = []

    def add(aa, bb, pp, ww, k):
        a.append(aa)
        b.append(bb)
        p.append(np.full(len(aa), pp))
        w.append(np.full(len(aa), ww))
        kind.append(np.full(len(aa), KINDS.index(k)))

    base = n0
    for _ in range(copies):
        for i, x in enumerate(series):
            g = grids[i]
            xp = _padded(x, length)
            y, delta, fam = inject(xp, list(families), rng, share=share, band=band)
            lab, fid = window_labels(delta, fam, g, length)
            orig = offs[i] + np.arange(len(g))
            new = base + np.arange(len(g))
            deg = lab == 1
            cl = np.flatnonzero(lab == 0)
            if len(cl):
                add(new[cl], orig[cl], 0.5, 1.0, "tie_ctx")
                if deg.any():
                    dd = np.repeat(new[deg], cross_mult)
                    add(dd, new[rng.choice(cl, size=len(dd))], p_fault, 1.0, "cross_ctx")
            rows.append(series_features(y, g, length))
            labs.append(lab)
            fams.append(fid)
            base += len(g)
    lab_all = np.concatenate(labs)
    if copies > 1:  # same content, both in corrupted contexts
        labc = lab_all[n0:].reshape(copies, n0)
        for c in range(copies):
            deg = np.flatnonzero(labc[c] == 1)
            for c2 in range(copies):
                if c2 != c:
                    ok = deg[labc[c2, deg] == 0]
                    add(n0 + c * n0 + ok, n0 + c2 * n0 + ok, p_fault, 1.0, "same_ctx")
    n_t = int(n_tie * n0)
    add(rng.integers(0, n0, n_t), rng.integers(0, n0, n_t), 0.5, w_tie, "tie")
    return PairSet(
        X=np.concatenate(rows).astype(np.float32),
        a=np.concatenate(a).astype(np.int64),
        b=np.concatenate(b).astype(np.int64),
        p=np.concatenate(p).astype(np.float32),
        w=np.concatenate(w).astype(np.float32),
        kind=np.concatenate(kind),
        n_orig=n0,
        row_series=np.concatenate([sid0] * (copies + 1)),
        row_label=lab_all,
        row_family=np.concatenate(fams),
    )
