"""Label cleaning for image datasets: noise injection, backbones, out-of-fold probabilities,
cleanlab detection, rectification and the :func:`clean_labels` entry point.

No dagster import here; cleanlab is imported lazily inside the functions that use it. The names
below are resolved lazily too (PEP 562), so that importing one submodule -- ``ops.labels.training``
in the GPU benchmark, say -- does not pull in polars through ``ops.labels.clean``. The methods,
the training module and the benchmarks are described in docs/labels.md.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "backbones": (
        "BackboneConfig",
        "EmbeddingSource",
        "FeatNet",
        "SmallCNN",
        "build_featnet",
        "build_model",
        "load_embeddings",
    ),
    "clean": ("LabelCleaningConfig", "LabelCleaningSummary", "clean_labels"),
    "detection": ("Detection", "detect_label_issues", "flag_disagreements", "quality_scores"),
    "images": ("ArrayImageDataset", "ImageFileDataset", "ImageSpec"),
    "methods": ("METHODS", "MethodContext", "MethodResult", "get_method", "register"),
    "noise": (
        "NoiseResult",
        "draw_trusted",
        "inject_noise",
        "instance_noise",
        "pair_noise",
        "symmetric_noise",
    ),
    "oof": ("OOFResult", "oof_pred_probs"),
    "policy": ("PolicyConfig", "PolicyReport", "decide"),
    "rectify": ("RectifyConfig", "rectify"),
    "training": (
        "Loader",
        "MetaLoop",
        "TrainLoop",
        "make_sgd",
        "meta_training",
        "predict_featnet",
        "predict_proba",
        "train_model",
    ),
}
_MODULE_OF = {name: mod for mod, names in _WHERE.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> object:
    mod = _MODULE_OF.get(name)
    if mod is None:
        raise AttributeError(f"module 'ops.labels' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ops.labels.{mod}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
