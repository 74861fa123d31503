"""Time-series assets: ingest a dataset folder, then cut it into windows."""


import dagster as dg
import polars as pl

from assets._common import column_schema, run_id, table_metadata
from ops.ingest.timeseries import ingest_timeseries
from ops.parquet_io import write_parquet_atomic
from ops.tsrating.windows import WindowConfig, make_windows
from pipelines.partitions import timeseries_datasets
from pipelines.settings import SieveSettings

GROUP = "timeseries"


class WindowsConfig(dg.Config):
    length: int = 128
    stride: int = 64


@dg.asset(
    partitions_def=timeseries_datasets,
    group_name=GROUP,
    kinds={"polars", "parquet"},
    code_version="1",
    description="Every record of raw/timeseries/<dataset>/ parsed into points.parquet "
    "(series_id, timestamp, value, source_file, source_row), with quarantine.parquet, series.parquet "
    "and files.parquet (per-file record counts).",
)
def timeseries_points(context: dg.AssetExecutionContext, settings: SieveSettings) -> dg.MaterializeResult:
    paths = settings.dataset("timeseries", context.partition_key)
    result = ingest_timeseries(paths.raw)
    rid = run_id(context)
    points = result.points.with_columns(run_id=pl.lit(rid))
    write_parquet_atomic(points, paths.out("points.parquet"))
    write_parquet_atomic(result.quarantine.with_columns(run_id=pl.lit(rid)), paths.out("quarantine.parquet"))
    write_parquet_atomic(result.series, paths.out("series.parquet"))
    files = result.files_frame()
    write_parquet_atomic(files, paths.out("files.parquet"))
    summary = result.summary()
    context.log.info(f"{context.partition_key}: {summary}")
    return dg.MaterializeResult(
        metadata={
            **summary,
            "dagster/row_count": points.height,
            "dagster/column_schema": column_schema(points),
            "path": dg.MetadataValue.path(str(paths.out("points.parquet"))),
            "files_report": table_metadata(files),
            "series_report": table_metadata(result.series),
            "quarantine_reasons": table_metadata(result.quarantine.group_by("reason").len().sort("len", descending=True)),
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
def timeseries_windows(context: dg.AssetExecutionContext, config: WindowsConfig, settings: SieveSettings) -> dg.MaterializeResult:
    paths = settings.dataset("timeseries", context.partition_key)
    points = pl.read_parquet(paths.out("points.parquet"))
    windows = make_windows(points, WindowConfig(config.length, config.stride)).with_columns(run_id=pl.lit(run_id(context)))
    write_parquet_atomic(windows, paths.out("windows.parquet"))
    return dg.MaterializeResult(
        metadata={
            "windows": windows.height,
            "series": windows["series_id"].n_unique(),
            "windows_with_missing": int((windows["n_missing"] > 0).sum()),
            "dagster/row_count": windows.height,
            "dagster/column_schema": column_schema(windows),
            "path": dg.MetadataValue.path(str(paths.out("windows.parquet"))),
            "preview": table_metadata(windows, 10),
        }
    )
