"""Label cleaning for image datasets: noise injection, backbones, out-of-fold probabilities,
cleanlab detection, rectification and the :func:`clean_labels` entry point.

No dagster import here; cleanlab is imported lazily inside the functions that use it.
"""

from ops.labels.backbones import BackboneConfig, EmbeddingSource, SmallCNN, load_embeddings, predict_proba, train_model
from ops.labels.clean import LabelCleaningConfig, clean_labels
from ops.labels.detection import Detection, detect_label_issues, quality_scores
from ops.labels.images import ArrayImageDataset, ImageFileDataset, ImageSpec
from ops.labels.methods import METHODS, MethodContext, MethodResult, register_method
from ops.labels.noise import NoiseResult, draw_trusted, inject_noise, instance_noise, pair_noise, symmetric_noise
from ops.labels.oof import OOFResult, oof_pred_probs
from ops.labels.rectify import RectifyConfig, rectify

__all__ = [
    "ArrayImageDataset", "BackboneConfig", "Detection", "EmbeddingSource", "ImageFileDataset", "ImageSpec",
    "LabelCleaningConfig", "METHODS", "MethodContext", "MethodResult", "NoiseResult", "OOFResult",
    "RectifyConfig", "SmallCNN", "clean_labels", "detect_label_issues", "draw_trusted", "inject_noise",
    "instance_noise", "load_embeddings", "oof_pred_probs", "pair_noise", "predict_proba", "quality_scores",
    "rectify", "register_method", "symmetric_noise", "train_model",
]
