"""The fixed-threshold rule used before issue 12, kept only as the benchmark's comparison row;
``clean_labels`` decides with :mod:`ops.labels.policy` (docs/labels.md §4a).

The rule:

- not flagged -> ``kept`` (clean label = given label)
- flagged, the model's top class differs from the given label and its probability is at
  least ``relabel_threshold`` -> ``relabeled`` (clean label = top class)
- flagged otherwise -> ``dropped`` (clean label = given label; the row leaves the training set)
- protected rows (trusted set, test split) -> always ``kept``.

``max_drop_fraction`` caps removals (lowest label quality first), for data where the model is
too weak to be trusted with wholesale removal (docs/labels.md §4); rows over the cap are
``kept`` but stay ``is_label_issue``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops.contracts import CLEANING_ACTIONS, DROPPED, KEPT, RELABELED

ACTIONS = CLEANING_ACTIONS  # the actions this policy decides (ops/contracts.py)


@dataclass(frozen=True)
class RectifyConfig:
    """Thresholds of the policy.

    Attributes
    ----------
    relabel_threshold : float in (0, 1]
        Minimum top-class probability to relabel a flagged row; below it the row is dropped.
        Default 0.9, from the benchmark (benchmarks/README_labels.md): with the trusted-model
        scores it gave the most accurate cleaned labels on digits/USPS while keeping 86-90 %
        of the pool (0.5/0.7 relabel too many rows wrongly); with OOF scores the threshold
        barely matters. On CIFAR-10N (weak 3-epoch models) only never-relabel was safe.
    relabel : bool
        ``False`` never relabels (every flagged row is dropped).
    max_drop_fraction : float in (0, 1]
        At most this fraction of the scored rows is dropped or relabeled (default 1.0: no cap).
    """

    relabel_threshold: float = 0.9
    relabel: bool = True
    max_drop_fraction: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.relabel_threshold <= 1.0:
            raise ValueError(f"relabel_threshold must be in (0, 1], got {self.relabel_threshold}")
        if not 0.0 < self.max_drop_fraction <= 1.0:
            raise ValueError(f"max_drop_fraction must be in (0, 1], got {self.max_drop_fraction}")


def rectify(
    given: np.ndarray,
    pred_probs: np.ndarray,
    is_issue: np.ndarray,
    protected: np.ndarray,
    quality: np.ndarray | None = None,
    config: RectifyConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the policy.

    Parameters
    ----------
    given : (N,) int given labels.
    pred_probs : (N, C) probabilities.
    is_issue : (N,) bool flags (ignored on protected rows).
    protected : (N,) bool, rows that must stay ``kept`` with their given label.
    quality : (N,) label quality, used to order rows under ``max_drop_fraction``.

    Returns
    -------
    actions : (N,) object array of ``kept``/``relabeled``/``dropped``.
    clean : (N,) int clean labels.
    """
    cfg = config or RectifyConfig()
    y = np.asarray(given, dtype=np.int64)
    p = np.asarray(pred_probs, dtype=np.float64)
    flag = np.asarray(is_issue, dtype=bool) & ~np.asarray(protected, dtype=bool)
    top = p.argmax(axis=1) if len(y) else np.zeros(0, np.int64)
    conf = p.max(axis=1) if len(y) else np.zeros(0)
    actions = np.full(len(y), KEPT, dtype=object)
    clean = y.copy()
    candidates = np.flatnonzero(flag)
    cap = int(np.floor(cfg.max_drop_fraction * np.count_nonzero(~np.asarray(protected, bool))))
    if len(candidates) > cap:
        q = quality if quality is not None else p[np.arange(len(y)), y]
        candidates = candidates[np.argsort(np.asarray(q)[candidates], kind="stable")[:cap]]
    for i in candidates:
        if top[i] != y[i] and cfg.relabel and conf[i] >= cfg.relabel_threshold:
            actions[i], clean[i] = RELABELED, top[i]
        else:
            actions[i] = DROPPED
    return actions, clean
