"""Seeded pair sampling over a dataset's windows (docs/tsrating.md §4).

All unordered pairs are visited in a seeded random order (lazily: for large N the full list is
never built). :func:`~ops.tsrating.judging.judge_windows` walks this sequence per criterion
until ``pairs_per_window * N`` *confident* pairs are found, ``max_pairs`` pairs were asked,
the pairs run out, or the call budget stops the run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

_ENUMERATE_LIMIT = 5_000_000


class PairConfig(BaseModel):
    """How many pairs to ask and which to keep. Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pairs_per_window: float = Field(
        1.0, gt=0, description="target confident pairs = ceil(ratio * N) per criterion"
    )
    max_pairs: int | None = Field(
        None, ge=1, description="hard cap on unordered pairs asked per criterion"
    )
    seed: int = 0
    confident_low: float = Field(0.25, ge=0, le=0.5)
    confident_high: float = Field(0.75, ge=0.5, le=1)
    batch_size: int = Field(64, ge=1, description="pairs per criterion sent to the judge per step")

    @model_validator(mode="after")
    def _check(self) -> PairConfig:
        if self.confident_low > self.confident_high:
            raise ValueError("confident_low must be <= confident_high")
        return self

    def target(self, n_windows: int) -> int:
        return int(math.ceil(self.pairs_per_window * n_windows))


def _tri_to_pair(k: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-major index k over {(i, j): 0 <= i < j < n} -> (i, j)."""
    k = k.astype(np.int64)
    i = (n - 2 - np.floor(np.sqrt(-8.0 * k + 4.0 * n * (n - 1) - 7) / 2.0 - 0.5)).astype(np.int64)
    j = k + i + 1 - n * (n - 1) // 2 + (n - i) * ((n - i) - 1) // 2
    return i, j


def iter_pairs(n: int, seed: int = 0) -> Iterator[tuple[int, int]]:
    """Every unordered pair ``(i, j)``, ``i < j``, exactly once, in a seeded random order."""
    total = n * (n - 1) // 2
    if total == 0:
        return
    rng = np.random.default_rng(seed)
    if total <= _ENUMERATE_LIMIT:
        perm = rng.permutation(total)
        for start in range(0, total, 65536):
            i, j = _tri_to_pair(perm[start : start + 65536], n)
            yield from zip(i.tolist(), j.tolist(), strict=True)
        return
    seen: set[tuple[int, int]] = set()
    while len(seen) < total:  # rejection sampling: we stop long before the set gets large
        a, b = (int(x) for x in rng.integers(0, n, size=2))
        if a == b:
            continue
        pair = (a, b) if a < b else (b, a)
        if pair in seen:
            continue
        seen.add(pair)
        yield pair


def sample_pairs(n: int, k: int, seed: int = 0) -> list[tuple[int, int]]:
    """The first ``k`` pairs of :func:`iter_pairs`."""
    out = []
    for p in iter_pairs(n, seed):
        if len(out) >= k:
            break
        out.append(p)
    return out
