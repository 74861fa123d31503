"""TSRating rater assets: score every window from the judgments, then select the top windows."""

import json

import dagster as dg
import polars as pl

from assets._common import column_schema, table_metadata
from assets.timeseries import timeseries_judgments
from ops.parquet_io import write_parquet_atomic
from ops.tsrating.rater import RaterConfig
from ops.tsrating.scoring import SCORE_COLUMNS, score_windows
from ops.tsrating.selection import select_points
from ops.tsrating.windows import window_values
from pipelines.partitions import timeseries_datasets
from pipelines.settings import SieveSettings

GROUP = "timeseries"


class ScoresConfig(dg.Config):
    """Rater training (METHODS §1.3). ``meta_checkpoint``: path to a meta-trained checkpoint
    (ops.tsrating.meta.save_meta_checkpoint) to start from; empty = random init."""

    meta_checkpoint: str = ""
    low_quality_share: float = 0.1
    min_pairs: int = 20
    epochs: int = 20
    lr: float = 5e-3
    finetune_lr: float = 1e-3
    batch_size: int = 64
    hidden: int = 256
    seed: int = 42


class SelectedConfig(dg.Config):
    top_percent: float = 50.0


@dg.asset(
    partitions_def=timeseries_datasets,
    group_name=GROUP,
    kinds={"pytorch", "parquet"},
    deps=[timeseries_judgments],
    code_version="1",
    description="Bradley–Terry rater per criterion trained on the dataset's confident judgments; rewrites "
    "windows.parquet with trend/frequency/amplitude/pattern/quality scores in [0, 1], quality_rank (1 = best), "
    "is_low_quality_issue (bottom low_quality_share), rater_version and judge_model.",
)
def timeseries_scores(
    context: dg.AssetExecutionContext, config: ScoresConfig, settings: SieveSettings
) -> dg.MaterializeResult:
    paths = settings.dataset("timeseries", context.partition_key)
    points = pl.read_parquet(paths.out("points.parquet"))
    windows = pl.read_parquet(paths.out("windows.parquet")).drop(
        [
            c
            for c in [
                *SCORE_COLUMNS,
                "quality_rank",
                "is_low_quality_issue",
                "rater_version",
                "judge_model",
            ]
        ],
        strict=False,
    )
    judgments = pl.read_parquet(paths.out("judgments.parquet"))
    values = window_values(points, windows, int(windows["n_points"].max() or 0))
    rater_cfg = RaterConfig(
        hidden=config.hidden,
        lr=config.lr,
        epochs=config.epochs,
        batch_size=config.batch_size,
        seed=config.seed,
        min_pairs=config.min_pairs,
        finetune_lr=config.finetune_lr,
        device=settings.device,
    )
    result = score_windows(
        windows,
        values,
        judgments,
        config=rater_cfg,
        meta_checkpoint=config.meta_checkpoint or None,
        low_quality_share=config.low_quality_share,
    )
    judge_model = (
        ",".join(sorted(set(judgments["model"].drop_nulls().to_list()))) if judgments.height else ""
    )
    out = result.windows.with_columns(
        pl.lit(judge_model or None, dtype=pl.String).alias("judge_model")
    )
    write_parquet_atomic(out, paths.out("windows.parquet"))
    report = result.report
    paths.out("rater_report.json").write_text(
        json.dumps(report | {"notes": result.notes}, default=str, indent=1)
    )
    for note in result.notes:
        context.log.warning(note) if "fallback" in note or "<" in note else context.log.info(note)
    crit = report["criteria"]
    return dg.MaterializeResult(
        metadata={
            **{f"heldout_accuracy_{c}": r["val_accuracy"] for c, r in crit.items()},
            **{f"train_pairs_{c}": int(r["n_train"]) for c, r in crit.items()},
            "criteria_trained": ", ".join(report["trained"]) or "none",
            "fallback": "; ".join(result.notes) or "none",
            "mean_quality_score": report["mean_quality_score"],
            "low_quality_share": float(report["low_quality_share"]),
            "rater_version": report["rater_version"],
            "judge_model": judge_model,
            "device": settings.device,
            "dagster/row_count": out.height,
            "dagster/column_schema": column_schema(out),
            "path": dg.MetadataValue.path(str(paths.out("windows.parquet"))),
        }
    )


@dg.asset(
    partitions_def=timeseries_datasets,
    group_name=GROUP,
    kinds={"polars", "parquet"},
    deps=[timeseries_scores],
    code_version="1",
    description="selected.parquet: the points (columns of points.parquet) of the windows in the top "
    "top_percent % by quality_score.",
)
def timeseries_selected(
    context: dg.AssetExecutionContext, config: SelectedConfig, settings: SieveSettings
) -> dg.MaterializeResult:
    paths = settings.dataset("timeseries", context.partition_key)
    points = pl.read_parquet(paths.out("points.parquet"))
    windows = pl.read_parquet(paths.out("windows.parquet"))
    selected, chosen = select_points(points, windows, config.top_percent)
    write_parquet_atomic(selected, paths.out("selected.parquet"))
    return dg.MaterializeResult(
        metadata={
            "top_percent": config.top_percent,
            "windows_selected": chosen.height,
            "windows_total": windows.height,
            "points_selected": selected.height,
            "points_total": points.height,
            "dagster/row_count": selected.height,
            "path": dg.MetadataValue.path(str(paths.out("selected.parquet"))),
            "selected_windows": table_metadata(
                chosen.select("window_id", "series_id", "quality_score", "quality_rank"), 10
            ),
        }
    )
