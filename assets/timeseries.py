"""Time-series assets: ingest a dataset folder, cut it into windows, judge pairs of windows."""

from dataclasses import replace

import dagster as dg
import polars as pl

from assets._common import column_schema, materialize_result, run_id, table_metadata
from assets._config import ops_config
from assets.partitions import timeseries_datasets
from assets.resources import JudgeResource, SieveSettings
from ops.contracts import (
    FILES,
    JUDGMENTS,
    JUDGMENTS_SUMMARY,
    POINTS,
    SERIES,
    TIMESERIES,
    TIMESERIES_QUARANTINE,
    WINDOWS,
)
from ops.fileio import write_json_atomic
from ops.ingest.timeseries import ingest_timeseries
from ops.tables import read_table, write_table
from ops.tsrating.judge_base import judge_kind_of
from ops.tsrating.judging import judge_windows
from ops.tsrating.pairs import PairConfig
from ops.tsrating.prompts import CRITERIA
from ops.tsrating.windows import WindowConfig, make_windows, window_values

GROUP = "timeseries"


class WindowsConfig(dg.Config):
    """Window size of ``timeseries_windows`` (ops ``WindowConfig``, same fields and defaults)."""

    length: int = 128
    stride: int = 64


@dg.asset(
    partitions_def=timeseries_datasets,
    group_name=GROUP,
    kinds={"polars", "parquet"},
    code_version="1",
    description="Every record of raw/timeseries/{dataset}/ parsed into points.parquet "
    "(series_id, timestamp, value, source_file, source_row), with quarantine.parquet, "
    "series.parquet and files.parquet (per-file record counts).",
)
def timeseries_points(
    context: dg.AssetExecutionContext, settings: SieveSettings
) -> dg.MaterializeResult:
    paths = settings.dataset(TIMESERIES, context.partition_key)
    result = ingest_timeseries(paths.raw)
    rid = run_id(context)
    points = result.points.with_columns(run_id=pl.lit(rid))
    write_table(points, paths.clean, POINTS)
    quarantine = result.quarantine.with_columns(run_id=pl.lit(rid))
    write_table(quarantine, paths.clean, TIMESERIES_QUARANTINE)
    write_table(result.series, paths.clean, SERIES)
    files = result.files_frame()
    write_table(files, paths.clean, FILES)
    summary = result.summary()
    context.log.info(f"{context.partition_key}: {summary}")
    for f in result.files:
        if f.error:  # the whole file is quarantined: say why where the user is looking
            context.log.warning(f"{f.file}: not read ({f.layout}): {f.error}")
    if result.split_series:
        context.log.warning(
            f"series held by several files at the same times with different values, kept "
            f"one per file as <file>/<id>: {', '.join(result.split_series)}"
        )
    return materialize_result(
        metadata={
            **summary,
            "dagster/row_count": points.height,
            "dagster/column_schema": column_schema(points, POINTS),
            "path": dg.MetadataValue.path(str(paths.table(POINTS))),
            "files_report": table_metadata(files),
            "series_report": table_metadata(result.series),
            "quarantine_reasons": table_metadata(
                result.quarantine.group_by("reason").len().sort("len", descending=True)
            ),
        }
    )


@dg.asset(
    partitions_def=timeseries_datasets,
    group_name=GROUP,
    kinds={"polars", "parquet"},
    deps=[timeseries_points],
    code_version="1",
    description="Fixed-length windows of every series (windows.parquet): the unit TSRating rates.",
)
def timeseries_windows(
    context: dg.AssetExecutionContext, config: WindowsConfig, settings: SieveSettings
) -> dg.MaterializeResult:
    paths = settings.dataset(TIMESERIES, context.partition_key)
    points = read_table(paths.clean, POINTS)
    windows = make_windows(points, ops_config(WindowConfig, config)).with_columns(
        run_id=pl.lit(run_id(context))
    )
    write_table(windows, paths.clean, WINDOWS)
    return materialize_result(
        metadata={
            "windows": windows.height,
            "series": windows["series_id"].n_unique(),
            "windows_with_missing": int((windows["n_missing"] > 0).sum()),
            "dagster/row_count": windows.height,
            "dagster/column_schema": column_schema(windows, WINDOWS),
            "path": dg.MetadataValue.path(str(paths.table(WINDOWS))),
            "preview": table_metadata(windows, 10),
        }
    )


class JudgmentsConfig(dg.Config):
    """Pair budget of ``timeseries_judgments``: the fields of ops ``PairConfig`` it shares
    (``max_pairs`` capped at 5000 by default here, uncapped in ops) plus the criteria."""

    pairs_per_window: float = 1.0
    max_pairs: int | None = 5000
    seed: int = 0
    criteria: list[str] = list(CRITERIA)


@dg.asset(
    partitions_def=timeseries_datasets,
    group_name=GROUP,
    kinds={"polars", "parquet"},
    deps=[timeseries_windows],
    pool="llm",
    code_version="1",
    description="Pairwise window judgments (judgments.parquet) on trend, frequency, amplitude "
    "and pattern, both orders, from the configured judge (rubric surrogate by default: a "
    "rule-based stand-in, no LLM; or an LLM through litellm), named in judge_kind, cached on "
    "disk so unchanged data costs no calls.",
)
def timeseries_judgments(
    context: dg.AssetExecutionContext,
    config: JudgmentsConfig,
    settings: SieveSettings,
    judge: JudgeResource,
) -> dg.MaterializeResult:
    paths = settings.dataset(TIMESERIES, context.partition_key)
    points = read_table(paths.clean, POINTS)
    windows = read_table(paths.clean, WINDOWS)
    values = window_values(points, windows, int(windows["n_points"].max() or 0))
    ops_judge, cache = judge.build(settings.root())
    frame, summary = judge_windows(
        values,
        windows["window_id"].to_list(),
        ops_judge,
        criteria=config.criteria,
        pairs=ops_config(PairConfig, config),
        cache=cache,
        progress=lambda p: context.log.debug(f"judging: {p}"),
    )
    kind = judge_kind_of(judge.kind, judge.model)
    frame = frame.with_columns(judge_kind=pl.lit(kind), run_id=pl.lit(run_id(context)))
    write_table(frame, paths.clean, JUDGMENTS)
    summary = replace(
        summary,
        call_budget=judge.call_budget,
        judge_kind=kind,
        model=getattr(ops_judge, "model", judge.kind),
    )
    write_json_atomic(paths.clean / JUDGMENTS_SUMMARY.file, summary.to_json(), indent=1)
    return materialize_result(
        metadata={
            "judge": str(summary.model),
            "judge_kind": kind,
            "pairs": summary.n_pairs,
            "confident_share": summary.confident_share,
            "llm_calls": summary.calls,
            "cache_hits": summary.cache_hits,
            "cache_hit_rate": float(summary.cache_hit_rate),
            "llm_tokens": summary.tokens,
            "llm_cost_usd": float(summary.cost_usd),
            "unparseable": summary.unparseable,
            "budget_exhausted": summary.budget_exhausted,
            "dagster/row_count": frame.height,
            "path": dg.MetadataValue.path(str(paths.table(JUDGMENTS))),
        }
    )
