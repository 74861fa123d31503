"""Significant vs non-significant window generators (docs/tsrating.md §10, TSRating App. B.2)."""

from __future__ import annotations

import numpy as np


def significant(criterion: str, rng: np.random.Generator) -> np.ndarray:
    if criterion == "trend":
        t = np.arange(25)
        return rng.uniform(0.2, 0.4) * rng.choice([-1, 1]) * t + rng.normal(0, 1, 25)
    if criterion == "frequency":
        t = np.arange(25)
        return rng.uniform(3, 4) * np.sin(
            2 * np.pi * rng.uniform(0.1, 0.2) * t + rng.uniform(0, 6.28)
        ) + rng.normal(0, 0.01, 25)
    if criterion == "amplitude":
        t = np.arange(25)
        return rng.uniform(4, 5) * np.sin(
            2 * np.pi * rng.uniform(0.1, 0.2) * t + rng.uniform(0, 6.28)
        ) + rng.normal(0, 0.1, 25)
    if criterion == "pattern":
        t = np.arange(50)
        return (
            rng.uniform(0.05, 0.15) * t
            + 2 * np.sin(2 * np.pi * rng.uniform(0.08, 0.1) * t)
            + 1.5 * np.sin(2 * np.pi * rng.uniform(0.02, 0.04) * t)
            + rng.normal(0, 0.2, 50)
        )
    raise ValueError(criterion)


def insignificant(criterion: str, rng: np.random.Generator) -> np.ndarray:
    if criterion == "trend":
        return rng.uniform(5, 15) + rng.normal(0, 1, 25)
    if criterion == "frequency":
        return rng.normal(0, 3, 25)
    if criterion == "amplitude":
        return rng.normal(0, 1, 25)
    if criterion == "pattern":
        return rng.normal(10, 6, 50)
    raise ValueError(criterion)
