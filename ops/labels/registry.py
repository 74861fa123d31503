"""The registry of label-cleaning methods: a leaf module (nothing from ops.labels is imported).

A method is a function ``method(ctx: MethodContext) -> MethodResult``: probabilities for every
row, flags and label quality for the scored (noisy pool) rows. Method modules register
themselves with ``@register("name")`` when imported; :mod:`ops.labels.methods` imports every
one of them, so ``METHODS`` is complete once that module is loaded (``clean_labels`` does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # type names only: importing them would make this module depend on torch
    from ops.labels.backbones import BackboneConfig, Progress, Source


@dataclass
class MethodContext:
    """Everything a method may use.

    Attributes
    ----------
    source : image (or embedding) source, one entry per manifest row.
    labels : (N,) int given labels of every row.
    pool_idx : rows to score and possibly clean (train split, not trusted).
    trusted_idx : trusted train rows (clean; never flagged).
    test_idx : test rows (never trained on, never cleaned).
    n_classes, backbone, k_folds, seed, filter_by, cache_dir, progress : settings.
    source_fingerprint : precomputed ``source.fingerprint()`` or None.
    options : per-method settings by method name, e.g. ``{"vri": VRIConfig(), "rst": RSTConfig()}``.
    """

    source: Source
    labels: np.ndarray
    pool_idx: np.ndarray
    trusted_idx: np.ndarray
    test_idx: np.ndarray
    n_classes: int
    backbone: BackboneConfig
    k_folds: int = 5
    seed: int = 0
    filter_by: str = "prune_by_noise_rate"
    cache_dir: Path | None = None
    progress: Progress | None = None
    source_fingerprint: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodResult:
    """Output of a method; arrays have one entry per manifest row (N).

    Attributes
    ----------
    probs : (N, C) float64 class probabilities.
    is_issue : (N,) bool, flagged rows (only pool rows can be flagged).
    quality : (N,) float in [0, 1], label quality of the given label (higher = better).
    estimated_noise_rate : float, the method's estimate of the pool's share of wrong labels.
    cache_hit : bool or None, whether cached out-of-fold probabilities were reused.
    notes : human-readable remarks that end up in the run's summary.
    prob_kind : ``"clean"`` (probabilities of the true class that never saw the row's own label:
        out-of-fold, trusted model) or ``"posterior"`` (they already condition on the given
        label: RST's corrected labels, VRI's model trained on the pool); docs/labels.md §4a.
    evidence_idx : rows whose probabilities are out of sample and whose given label is known
        to be right (cleanlab OOF: the trusted rows), used by the policy to calibrate and to
        check itself; None when there are none.
    proxy_ok : whether pool rows the model agrees with may stand in for evidence rows (only
        when the pool's probabilities are out of sample).
    refinement : one record per scoring round when the method refined its probabilities on the
        policy's labels (``cleanlab_oof``, ops/labels/refine.py); empty otherwise.
    independent_model : the probabilities come from a model that never trained on a pool row's
        given label (``cleanlab_trusted``). The policy then also requires that model to be at
        least as accurate on the evidence rows as the given labels are estimated to be
        (docs/labels.md §4a, "A model weaker than the labels").
    """

    probs: np.ndarray
    is_issue: np.ndarray
    quality: np.ndarray
    estimated_noise_rate: float
    cache_hit: bool | None = None
    notes: list[str] = field(default_factory=list)
    prob_kind: str = "clean"
    evidence_idx: np.ndarray | None = None
    proxy_ok: bool = True
    refinement: list[dict[str, Any]] = field(default_factory=list)
    independent_model: bool = False

    def policy_inputs(self) -> dict[str, Any]:
        """What the decision policy reads from this result besides its probabilities and flags
        (keyword arguments of :func:`ops.labels.policy.decide`)."""
        return {
            "evidence": self.evidence_idx,
            "kind": self.prob_kind,
            "estimated_noise_rate": self.estimated_noise_rate,
            "proxy_ok": self.proxy_ok,
            "independent_model": self.independent_model,
        }


MethodFn = Callable[[MethodContext], MethodResult]
METHODS: dict[str, MethodFn] = {}


def register(name: str) -> Callable[[MethodFn], MethodFn]:
    """Decorator: ``@register("vri")`` makes ``LabelCleaningConfig(method="vri")`` valid."""

    def deco(fn: MethodFn) -> MethodFn:
        if name in METHODS and METHODS[name] is not fn:
            raise ValueError(f"method {name!r} is already registered")
        METHODS[name] = fn
        return fn

    return deco


def get_method(name: str) -> MethodFn:
    """The registered method ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown label-cleaning method {name!r}; known: {sorted(METHODS)}"
        ) from None
