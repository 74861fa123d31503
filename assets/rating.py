"""TSRating rater assets: score every window from the judgments, then select the top windows."""

import dagster as dg
import polars as pl

from assets._common import (
    CONSOLE_NOTE,
    column_schema,
    materialize_result,
    run_id,
    table_metadata,
)
from assets._config import ops_config
from assets.partitions import timeseries_datasets
from assets.resources import QualityThresholds, SieveSettings
from assets.timeseries import timeseries_judgments
from ops.contracts import (
    JUDGMENTS,
    POINTS,
    RATER_REPORT,
    RATER_STATE,
    SCORES,
    SELECTED,
    TIMESERIES,
    WINDOWS,
)
from ops.fileio import write_json_atomic
from ops.tables import read_rated_windows, read_table, write_table
from ops.tsrating.calibration import calibration_statement
from ops.tsrating.judging import judge_outage
from ops.tsrating.rater_state import load_kept, state_statement
from ops.tsrating.scoring import ScoringConfig, fine_tune_summary, score_windows
from ops.tsrating.selection import select_points

GROUP = "timeseries"


class ScoresConfig(dg.Config):
    """The scores step (docs/tsrating.md §11): the fields of ops ``ScoringConfig``, same
    defaults. ``checkpoint``: "" = the quality net shipped with Sieve, "none" = from scratch,
    else a file written by ``sieve meta-train``; ``max_missing``: windows with a larger missing
    share score 0, are flagged and are never selected."""

    checkpoint: str = ""
    refit: bool = False
    refit_growth: float = 2.0
    copies: int = 4
    share: float = 0.3
    ft_steps: int = 300
    ft_lr: float = 1e-3
    ft_select: bool = True
    ft_check_every: int = 25
    ft_interpolate: float = 0.75
    scratch_steps: int = 600
    scratch_lr: float = 3e-3
    hidden: int = 16
    w_judge: float = 0.5
    max_ss_windows: int = 6000
    max_calibration_windows: int = 6000
    judge_holdout_share: float = 0.2
    max_missing: float = 0.5
    prior: float = 0.05
    target_precision: float = 0.8
    max_fpr: float = 0.01
    min_z: float = 3.0
    min_series_windows: int = 8
    shrink_windows: float = 2.0
    combine_detectors: bool = True
    mixture_threshold: bool = True
    seed: int = 0


class SelectedConfig(dg.Config):
    top_percent: float = 50.0


@dg.asset(
    partitions_def=timeseries_datasets,
    group_name=GROUP,
    kinds={"pytorch", "parquet"},
    deps=[timeseries_judgments],
    code_version="3",
    description="Fault-aware rater (docs/tsrating.md §11): series-relative features, an "
    "integrity head fine-tuned on self-supervised fault pairs of the dataset's own series beside "
    "judge heads on the judgments; calibrated quality_score, p_fault, is_low_quality_issue, "
    "missing_share, selectable, criterion scores, rater_version, judge_model, judge_kind.",
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
    kinds = (
        sorted(judgments["judge_kind"].drop_nulls().unique().to_list())
        if "judge_kind" in judgments.columns
        else []
    )
    kept, kept_problem = load_kept(paths.clean / RATER_STATE.file)
    result = score_windows(
        windows,
        points,
        judgments,
        config=ops_config(ScoringConfig, config),
        judge_kind=",".join(kinds) or None,
        device=settings.device,
        kept=kept,
        kept_problem=kept_problem,
        run=run_id(context),
    )
    scores = result.scores.with_columns(run_id=pl.lit(run_id(context)))
    write_table(scores, paths.clean, SCORES)
    report = result.report
    if result.state is not None and not report["state"]["reused"]:
        result.state.save(paths.clean / RATER_STATE.file)
    context.log.info(state_statement(report["state"]))
    write_json_atomic(paths.clean / RATER_REPORT.file, report | {"notes": result.notes}, indent=1)
    for note in result.notes:
        context.log.warning(note)
    calib = report["calibration"]
    agree = report["judge_agreement"]
    return materialize_result(
        metadata={
            **_state_note(report["state"]),
            **{
                f"judge_heldout_accuracy_{c}": r["heldout_accuracy_confident"]
                for c, r in agree.items()
                if r["heldout_accuracy_confident"] is not None
            },
            "init": report["init"],
            "rater": state_statement(report["state"]),
            "fine_tune": fine_tune_summary(report["fit"]),
            "judge_kind": report["judge_kind"] or "none",
            "calibration_threshold": float(calib["threshold"]),
            "calibration": calibration_statement(calib),
            "self_supervised_pairs": sum(
                v["n"] for v in report["self_supervised"]["pairs"].values()
            ),
            "mean_quality_score": report["mean_quality_score"],
            "low_quality_share": float(report["low_quality_share"]),
            "windows_over_max_missing": report["n_over_max_missing"],
            "rater_version": report["rater_version"],
            "judge_model": result.judge_model,
            "seconds": float(report["seconds"]["total"]),
            "dagster/row_count": scores.height,
            "dagster/column_schema": column_schema(scores, SCORES),
            "path": dg.MetadataValue.path(str(paths.table(SCORES))),
        }
    )


def _state_note(state: dict) -> dict[str, str]:
    """The console line under the scores step: the rater was kept (how to refit), or refitted
    for a reason other than being the first night."""
    if state.get("reused"):
        return {
            CONSOLE_NOTE: f"rater kept from {state.get('fitted_at')} (flags comparable with "
            "earlier nights; `make run DATASET=… REFIT=1` or run config `refit: true` refits)"
        }
    reason = state.get("reason") or ""
    if reason and not reason.startswith("no rater kept"):
        return {CONSOLE_NOTE: f"rater refitted: {reason}"}
    return {}


@dg.asset(
    partitions_def=timeseries_datasets,
    group_name=GROUP,
    kinds={"polars", "parquet"},
    deps=[timeseries_scores],
    code_version="1",
    description="selected.parquet: the points (columns of points.parquet) of the windows in "
    "the top top_percent % by quality_score; windows that are not selectable (missing share "
    "above max_missing) are never selected.",
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
