"""Each setting is declared once per layer: the Dagster config passes its fields on to the ops
config by name (``assets._config.ops_config``), so the two must keep the same names, types and
defaults. A field added on one side fails here until it is added on the other or listed as
belonging to one side only, with the reason."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from assets._config import field_names, ops_config
from assets.images import (
    RUN_CONFIG_PARSED,
    RUN_CONFIG_TARGETS,
    LabelCleaningRunConfig,
    build_cleaning_config,
)
from assets.rating import ScoresConfig
from assets.resources import JudgeResource, QualityThresholds
from assets.timeseries import JudgmentsConfig, WindowsConfig
from ops.checks import Thresholds
from ops.labels.clean import LabelCleaningConfig
from ops.tsrating.llm_judge import LLMJudgeConfig
from ops.tsrating.pairs import PairConfig
from ops.tsrating.scoring import ScoringConfig
from ops.tsrating.windows import WindowConfig

_MISSING = object()


def _fields(cls: type) -> dict[str, tuple[object, object]]:
    """``{name: (type, default)}`` of a dataclass or pydantic model."""
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        return {
            f.name: (
                hints[f.name],
                f.default if f.default is not dataclasses.MISSING else _MISSING,
            )
            for f in dataclasses.fields(cls)
        }
    return {
        name: (info.annotation, _MISSING if info.is_required() else info.get_default())
        for name, info in cls.model_fields.items()
    }


# (dagster class, ops class, fields only Dagster has, fields only ops has, defaults that differ)
PAIRS = [
    (QualityThresholds, Thresholds, set(), set(), set()),
    (
        JudgeResource,
        LLMJudgeConfig,
        {"kind", "cache_path", "data_dir"},  # which judge, and where its cache lives
        # retry backoff, serialisation precision and raw provider params: not run settings
        {"backoff_initial_s", "backoff_max_s", "prec", "extra_params"},
        {"model"},  # optional on the resource (the rubric judge needs none), required in ops
    ),
    (ScoresConfig, ScoringConfig, set(), set(), set()),
    (WindowsConfig, WindowConfig, set(), set(), set()),
    (
        JudgmentsConfig,
        PairConfig,
        {"criteria"},  # an argument of judge_windows
        {"confident_low", "confident_high", "batch_size"},  # method constants
        {"max_pairs"},  # capped at 5000 per run by default; uncapped in the library
    ),
]


@pytest.mark.parametrize("dagster_cls, ops_cls, dagster_only, ops_only, differ", PAIRS)
def test_fields_match(dagster_cls, ops_cls, dagster_only, ops_only, differ):
    dg_fields, op_fields = _fields(dagster_cls), _fields(ops_cls)
    assert set(dg_fields) - set(op_fields) == dagster_only
    assert set(op_fields) - set(dg_fields) == ops_only
    for name in set(dg_fields) & set(op_fields):
        dg_type, dg_default = dg_fields[name]
        op_type, op_default = op_fields[name]
        if name in differ:
            continue
        assert dg_type == op_type, f"{dagster_cls.__name__}.{name}: {dg_type} vs {op_type}"
        assert dg_default == op_default, f"{dagster_cls.__name__}.{name}"


def test_ops_config_passes_every_shared_field():
    resource = JudgeResource(kind="litellm", model="m", n_votes=7, timeout_s=5.0, offline=True)
    cfg = resource.llm_config()
    for name in set(field_names(JudgeResource)) & set(field_names(LLMJudgeConfig)):
        assert getattr(cfg, name) == getattr(resource, name), name
    thresholds = QualityThresholds(max_label_issue_share=0.3).to_ops()
    assert thresholds == Thresholds(max_label_issue_share=0.3)
    scoring = ops_config(ScoringConfig, ScoresConfig(ft_steps=3, max_missing=0.4))
    assert (scoring.ft_steps, scoring.max_missing, scoring.hidden) == (3, 0.4, 16)
    pairs = ops_config(PairConfig, JudgmentsConfig(max_pairs=None, seed=4))
    assert (pairs.max_pairs, pairs.seed) == (None, 4)


def _get(config, dotted: str):
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def test_label_run_config_fields_all_reach_the_ops_config():
    # every run-config field but the preset has a target, and every target exists
    fields = set(field_names(LabelCleaningRunConfig)) - {"preset", *RUN_CONFIG_PARSED}
    assert fields == set(RUN_CONFIG_TARGETS)
    base = LabelCleaningConfig()
    for target in RUN_CONFIG_TARGETS.values():
        _get(base, target)  # AttributeError if the ops config lost the field
    run = LabelCleaningRunConfig(
        method="cleanlab_trusted",
        preset="tiny",
        epochs=2,
        image_size=12,
        k_folds=3,
        relabel_threshold=0.7,
        rectify_without_trusted=True,
        seed=5,
        encoder_resolution=96,
        encoder_flip=True,
        head="mlp",
        device="cpu",
    )
    cfg = build_cleaning_config(run, "cpu")
    for name, target in RUN_CONFIG_TARGETS.items():
        assert _get(cfg, target) == getattr(run, name), name
    assert cfg.backbone.device == "cpu"
    # unset fields keep the preset's values
    unset = build_cleaning_config(LabelCleaningRunConfig(preset="tiny"), "cpu")
    tiny = LabelCleaningConfig.tiny()
    assert (unset.method, unset.backbone.epochs, unset.k_folds) == (
        tiny.method,
        tiny.backbone.epochs,
        tiny.k_folds,
    )


def test_label_run_config_backbone_strings():
    cfg = build_cleaning_config(LabelCleaningRunConfig(backbone="pretrained:lite2"), "cpu")
    assert (cfg.backbone.kind, cfg.backbone.encoder) == ("pretrained", "lite2")
    assert build_cleaning_config(LabelCleaningRunConfig(), "cpu").backbone.kind == "auto"
    small = build_cleaning_config(LabelCleaningRunConfig(backbone="small_cnn"), "cuda")
    assert (small.backbone.kind, small.backbone.device) == ("cnn", "cuda")
    emb = build_cleaning_config(
        LabelCleaningRunConfig(backbone="embeddings", embeddings_path="v.parquet"), "cpu"
    )
    assert emb.backbone.kind == "embeddings" and str(emb.embeddings_path) == "v.parquet"
    for bad in (
        LabelCleaningRunConfig(backbone="embeddings"),  # no path
        LabelCleaningRunConfig(backbone="vit"),
    ):
        with pytest.raises(ValueError):
            build_cleaning_config(bad, "cpu")
