"""TSRating rater assets: score every window from the judgments, then select the top windows."""

import dagster as dg
import polars as pl

from assets._common import column_schema, materialize_result, run_id, table_metadata
from assets._config import ops_config
from assets.partitions import timeseries_datasets
from assets.resources import QualityThresholds, SieveSettings
from assets.timeseries import timeseries_judgments
from ops.contracts import JUDGMENTS, POINTS, RATER_REPORT, SCORES, SELECTED, TIMESERIES, WINDOWS
from ops.fileio import write_json_atomic
from ops.tables import read_rated_windows, read_table, write_table
from ops.tsrating.judging import judge_outage
from ops.tsrating.rater import RaterConfig
from ops.tsrating.scoring import score_windows
from ops.tsrating.selection import select_points
from ops.tsrating.windows import window_values

GROUP = "timeseries"


class ScoresConfig(dg.Config):
    """Rater training (docs/tsrating.md §6): the fields of ops ``RaterConfig`` it shares (same
    defaults), plus ``meta_checkpoint`` (a meta-trained checkpoint written by
    ``ops.tsrating.meta.save_meta_checkpoint`` to start from; empty = random init) and
    ``low_quality_share`` (the share of windows flagged)."""

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
    description="Bradley–Terry rater per criterion trained on the dataset's confident "
    "judgments: scores.parquet, one row per window_id with trend/frequency/amplitude/pattern/"
    "quality scores in [0, 1], quality_rank (1 = best), is_low_quality_issue (bottom "
    "low_quality_share), rater_version and judge_model.",
)
def timeseries_scores(
    context: dg.AssetExecutionContext,
    config: ScoresConfig,
    settings: SieveSettings,
    thresholds: QualityThresholds,
) -> dg.MaterializeResult:
    paths = settings.dataset(TIMESERIES, context.partition_key)
    points = read_table(paths.clean, POINTS)
    windows = read_table(paths.clean, WINDOWS)
    judgments = read_table(paths.clean, JUDGMENTS)
    outage = judge_outage(judgments, thresholds.max_judge_failure_share)
    if outage:  # never rate from a failed judge: keep the last good scores, publish nothing
        raise dg.Failure(
            description=f"{outage}. scores.parquet not rewritten (the last good scores stay); "
            "nothing downstream runs, so published/ keeps the last good set.",
            metadata={"judgment_status": dict(judgments["status"].value_counts().iter_rows())},
        )
    values = window_values(points, windows, int(windows["n_points"].max() or 0))
    result = score_windows(
        windows,
        values,
        judgments,
        config=ops_config(RaterConfig, config, device=settings.device),
        meta_checkpoint=config.meta_checkpoint or None,
        low_quality_share=config.low_quality_share,
    )
    scores = result.scores.with_columns(run_id=pl.lit(run_id(context)))
    write_table(scores, paths.clean, SCORES)
    report = result.report
    write_json_atomic(paths.clean / RATER_REPORT.file, report | {"notes": result.notes}, indent=1)
    for note in result.notes:
        context.log.warning(note) if "fallback" in note or "<" in note else context.log.info(note)
    crit = report["criteria"]
    return materialize_result(
        metadata={
            **{f"heldout_accuracy_{c}": r["val_accuracy"] for c, r in crit.items()},
            **{f"train_pairs_{c}": int(r["n_train"]) for c, r in crit.items()},
            "criteria_trained": ", ".join(report["trained"]) or "none",
            "fallback": "; ".join(result.notes) or "none",
            "mean_quality_score": report["mean_quality_score"],
            "low_quality_share": float(report["low_quality_share"]),
            "rater_version": report["rater_version"],
            "judge_model": result.judge_model,
            "device": settings.device,
            "dagster/row_count": scores.height,
            "dagster/column_schema": column_schema(scores, SCORES),
            "path": dg.MetadataValue.path(str(paths.table(SCORES))),
        }
    )


@dg.asset(
    partitions_def=timeseries_datasets,
    group_name=GROUP,
    kinds={"polars", "parquet"},
    deps=[timeseries_scores],
    code_version="1",
    description="selected.parquet: the points (columns of points.parquet) of the windows in "
    "the top top_percent % by quality_score.",
)
def timeseries_selected(
    context: dg.AssetExecutionContext, config: SelectedConfig, settings: SieveSettings
) -> dg.MaterializeResult:
    paths = settings.dataset(TIMESERIES, context.partition_key)
    points = read_table(paths.clean, POINTS)
    windows = read_rated_windows(paths.clean)
    selected, chosen = select_points(points, windows, config.top_percent)
    write_table(selected, paths.clean, SELECTED)
    return materialize_result(
        metadata={
            "top_percent": config.top_percent,
            "windows_selected": chosen.height,
            "windows_total": windows.height,
            "points_selected": selected.height,
            "points_total": points.height,
            "dagster/row_count": selected.height,
            "path": dg.MetadataValue.path(str(paths.table(SELECTED))),
            "selected_windows": table_metadata(
                chosen.select("window_id", "series_id", "quality_score", "quality_rank"), 10
            ),
        }
    )
