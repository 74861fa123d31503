"""Out-of-fold predicted probabilities by stratified K-fold, cached on disk.

Every row's probabilities come from the one fold model that did *not* train on it (never
in-sample). Extra rows (e.g. the test split) can be scored by the average of the K fold
models; they never take part in training.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ops.fileio import atomic_write
from ops.hashing import sha256_hex, stable_hash
from ops.labels.backbones import BackboneConfig, Progress, Source
from ops.labels.training import predict_proba, train_model
from ops.progress import bar as progress_bar

OOF_CODE_VERSION = "oof-v2"
"""Bump when the training or fold code changes in a way that changes the probabilities."""

FitPredict = Callable[[np.ndarray, np.ndarray, list[np.ndarray], str], list[np.ndarray]]
"""``fit_predict(train_idx, train_labels, [idx_to_score, ...], prefix) -> [probs, ...]``."""


@dataclass(frozen=True)
class OOFResult:
    """Out-of-fold probabilities.

    Attributes
    ----------
    pred_probs : (len(idx), C) float64, rows aligned to ``idx``.
    fold : (len(idx),) int, the fold each row was held out in.
    extra_probs : (len(extra_idx), C) float64, mean of the fold models (or None).
    cache_hit : bool, True when read from ``cache_dir`` without training.
    key : str, the cache fingerprint.
    n_splits : int, the number of folds actually used.
    """

    pred_probs: np.ndarray
    fold: np.ndarray
    extra_probs: np.ndarray | None
    cache_hit: bool
    key: str
    n_splits: int


def make_folds(labels: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, int]:
    """Stratified fold ids for ``labels``.

    Classes with fewer than ``k`` rows are spread over as many folds as they have rows
    (sklearn's warning is silenced); ``k`` is lowered to the size of the largest class if
    needed. A class with a single row is scored by a model that never saw that class.

    Returns
    -------
    fold : np.ndarray of int, one fold id per row.
    k : int, folds used.
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    if k < 2:
        raise ValueError(f"K (number of folds) must be >= 2, got {k}")
    if len(y) < 2:
        raise ValueError(f"need at least 2 rows for K-fold, got {len(y)}")
    k_eff = min(k, len(y), int(np.unique(y, return_counts=True)[1].max()))
    if k_eff < 2:
        raise ValueError("K-fold needs a class with at least 2 rows")
    fold = np.full(len(y), -1, dtype=np.int64)
    skf = StratifiedKFold(n_splits=k_eff, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for f, (_, test) in enumerate(skf.split(np.zeros(len(y)), y)):
            fold[test] = f
    return fold, k_eff


def _factory_fingerprint(
    backbone: BackboneConfig, source: Source, idx: np.ndarray, n_classes: int, seed: int
) -> str | None:
    """Hash of a custom factory's model (parameter names, shapes and seeded initial values) when
    the backbone has no ``model_id``; None otherwise (the config identifies the model)."""
    if backbone.model_factory is None or backbone.model_id is not None:
        return None
    import torch

    from ops.labels.backbones import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(backbone, source, idx, n_classes)
    state = model.state_dict()
    h = sha256_hex(
        type(model).__qualname__,
        repr(model),
        *(f"{k}{tuple(v.shape)}" for k, v in state.items()),
        *(v.detach().cpu().contiguous().numpy().tobytes() for v in state.values()),
    )
    return h


def oof_pred_probs(
    source: Source,
    idx: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    backbone: BackboneConfig,
    *,
    k: int = 5,
    seed: int = 0,
    extra_idx: np.ndarray | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    fit_predict: FitPredict | None = None,
    fit_predict_id: str | None = None,
    source_fingerprint: str | None = None,
) -> OOFResult:
    """Out-of-fold probabilities for rows ``idx`` of ``source``.

    Parameters
    ----------
    source : image or embedding source (``get_batch``/``fingerprint``).
    idx : rows to cross-fit (the non-test rows).
    labels : int labels aligned to ``idx``.
    n_classes : number of classes C (columns of the output, in class-index order).
    backbone : the model and training recipe.
    k, seed : folds (sklearn ``StratifiedKFold``, shuffled with ``seed``); fold ``f`` model
        uses seed ``seed + f``.
    extra_idx : rows scored by the mean of the K fold models (e.g. the test split).
    cache_dir : folder for ``oof_<key>.npz``; the key covers the pixels (or vectors),
        labels, rows, backbone identity, K, seed and :data:`OOF_CODE_VERSION`.
    progress : receives ``"fold f/K epoch e/E ..."`` lines and cache messages.
    fit_predict : replaces the backbone (tests, sklearn models). With ``cache_dir`` it needs
        ``fit_predict_id``: a name says nothing about what a callable computes, so two different
        ones with the same ``__qualname__`` would share cached probabilities.
    fit_predict_id : identifies ``fit_predict`` in the cache key (bump it when it changes).
    source_fingerprint : precomputed ``source.fingerprint()`` (saves re-hashing the files).

    A custom ``backbone.model_factory`` without ``backbone.model_id`` is identified in the key by
    a hash of the model it builds (architecture and seeded initial weights), not by its name.
    """
    idx = np.asarray(idx, dtype=np.int64)
    y = np.asarray(labels, dtype=np.int64)
    if len(idx) != len(y):
        raise ValueError(f"{len(idx)} rows but {len(y)} labels")
    extra = (
        np.zeros(0, dtype=np.int64) if extra_idx is None else np.asarray(extra_idx, dtype=np.int64)
    )
    if fit_predict is not None and cache_dir is not None and not fit_predict_id:
        raise ValueError("a custom fit_predict with cache_dir needs fit_predict_id")
    fold, k_eff = make_folds(y, k, seed)
    say = progress or (lambda _m: None)

    key = stable_hash(
        {
            "version": OOF_CODE_VERSION,
            "source": source_fingerprint or source.fingerprint(),
            "idx": idx,
            "labels": y,
            "extra": extra,
            "n_classes": n_classes,
            "backbone": backbone.identity(),
            "k": k,
            "seed": seed,
            "fit_predict": fit_predict_id if fit_predict is not None else None,
            "model_init": _factory_fingerprint(backbone, source, idx, n_classes, seed)
            if fit_predict is None and cache_dir is not None
            else None,
        }
    )
    path = Path(cache_dir) / f"oof_{key[:40]}.npz" if cache_dir is not None else None
    if path is not None and path.exists():
        with np.load(path) as z:
            say(f"OOF cache hit: {path.name}")
            return OOFResult(
                z["pred_probs"],
                z["fold"],
                z["extra_probs"] if len(extra) else None,
                True,
                key,
                int(z["n_splits"]),
            )

    if fit_predict is None:
        fold_no = iter(range(k_eff))

        def fit_predict(
            tr: np.ndarray, ytr: np.ndarray, score: list[np.ndarray], prefix: str
        ) -> list[np.ndarray]:
            model = train_model(
                source,
                tr,
                ytr,
                n_classes,
                backbone,
                seed=seed + next(fold_no),
                progress=progress,
                prefix=prefix,
            )
            return [predict_proba(model, source, s, backbone) for s in score]

    probs = np.zeros((len(idx), n_classes), dtype=np.float64)
    extra_probs = np.zeros((len(extra), n_classes), dtype=np.float64)
    with progress_bar("out-of-fold training", k_eff, "fold") as bar:
        for f in range(k_eff):
            held = np.flatnonzero(fold == f)
            train = np.flatnonzero(fold != f)
            p_held, p_extra = fit_predict(
                idx[train], y[train], [idx[held], extra], f"fold {f + 1}/{k_eff} "
            )
            probs[held] = p_held
            if len(extra):
                extra_probs += p_extra / k_eff
            say(f"fold {f + 1}/{k_eff} done")
            bar.update()
    if path is not None:
        arrays = dict(pred_probs=probs, fold=fold, extra_probs=extra_probs, n_splits=k_eff)
        atomic_write(path, lambda fh: np.savez(fh, **arrays))
        say(f"OOF cached: {path.name}")
    return OOFResult(probs, fold, extra_probs if len(extra) else None, False, key, k_eff)
