"""Read a time-series dataset folder into one long table of points, losing nothing.

Accepted files (``*.csv``, ``*.csv.gz``, ``*.tsv``, ``*.parquet``, and Monash ``*.tsf``:
:mod:`ops.ingest.tsf`) in ``raw/timeseries/<dataset>/``,
text files in their own dialect (``;``, tab or ``|`` separators, decimal commas:
:mod:`ops.ingest.csv_dialect`):

- **long**: a timestamp column, a ``value`` column, optional ``series_id`` (else the file
  stem) and optional ``channel`` (appended to the series id); the Prophet / Nixtla layout
  ``unique_id, ds, y`` is long too (``y`` is the value where the timestamp is ``ds``); a
  ``value`` column beside other numeric columns and no series column is a wide table;
- **wide**: a timestamp column plus one numeric column per series (ETT style), melted;
- **keyed** (``long_keyed`` / ``wide_keyed``): either of the above where the timestamps repeat
  and text columns name each row's series (``symbol, date, price``; ``station, time, value``):
  the series id is the key values joined by ``/`` (and ``/<column>`` in the wide case). Text
  columns that do not repeat that way are notes, skipped and listed (:func:`key_columns`).
  Without a text key, one whole-number column that makes timestamp + it unique is the key,
  written ``<column>=<value>`` (``weight, time, chick`` → ``chick=1/weight``);
- **NOAA LCD** raw exports (``STATION, DATE, REPORT_TYPE, Hourly…``): routine reports kept,
  coded cells decoded (see :mod:`ops.ingest.noaa_lcd`).

The timestamp column and its cells (names, time-word columns, separate date and time columns,
numeric years, Unix epochs, compact ``YYYYMMDD`` integers, day-first dates) follow
:mod:`ops.ingest.timestamps`.

A series id that several files hold at the **same timestamps with different values** is
several series (two wide files with one ``temp`` column each, from two stations): every such
file's copy becomes ``<file path without suffix>/<id>``. Files that continue one series over
disjoint periods, or repeat the same values (a re-export), keep one id; repeated timestamps are
then quarantined as ``duplicate_timestamp``.

A series reported at a coarser, regular cadence than its table (NOAA's 3-hourly pressure
tendency in an hourly export) has its empty cells between reports quarantined as
``cadence_padding`` (by design, see :mod:`ops.ingest.cadence`), so they are not missing data.

A file reached through a symbolic link that leads outside the dataset folder is never opened:
it counts as one record, quarantined as ``outside_dataset`` (nothing of its content is copied
anywhere). Non-finite numbers (``NaN``, ``inf``, ``1e400``) are missing values.

The unit of accounting is the *record*: one value cell (a long row, or one row × one series
column of a wide file). Every record ends either in ``points`` (possibly with a null value,
counted as unparsed) or in ``quarantine`` with its reason. A file that cannot be read at all
counts as one record, quarantined with the error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ops.ingest import noaa_lcd
from ops.ingest.cadence import padding_quarantine, separate_padding
from ops.ingest.csv_dialect import NUMBER, find_column, number_text, read_table
from ops.ingest.quarantine import concat_quarantine, quarantine_frame
from ops.ingest.timestamps import (
    TIMESTAMP_NAMES,
    calendar_text,
    combine_date_time,
    combine_year_period,
    floats,
    is_index_name,
    offset_times,
    parse_timestamps,
    timestamp_column,
)
from ops.ingest.tsf import read_tsf

__all__ = ["ingest_timeseries", "parse_numbers", "parse_timestamps", "read_timeseries_file"]

SERIES_NAMES = ("series_id", "series", "unique_id", "id")
SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet", ".tsf")
#: data formats a user may drop in that are not read: each such file is quarantined as one
#: record (``unsupported_format``, with what to do), never silently ignored
UNSUPPORTED = {
    suffix: what_to_do
    for suffixes, what_to_do in (
        ((".xlsx", ".xls", ".xlsm", ".ods"), "a spreadsheet: save each sheet as CSV"),
        ((".json", ".jsonl", ".ndjson"), "JSON: convert to CSV or Parquet"),
        ((".feather", ".arrow"), "Arrow/Feather: write it as Parquet"),
        ((".h5", ".hdf5"), "HDF5: convert to CSV or Parquet"),
        ((".zip",), "a zip archive: unzip it into the dataset folder"),
        (
            (".ts", ".arff"),
            "a UCR/UEA classification file (series without timestamps, one per case): "
            "write each series as a CSV column or use a .tsf forecasting file",
        ),
    )
    for suffix in suffixes
}

POINTS_SCHEMA: dict[str, pl.DataType] = {
    "series_id": pl.String(),
    "timestamp": pl.Datetime("us"),
    "value": pl.Float64(),
    "source_file": pl.String(),
    "source_row": pl.Int64(),
}


@dataclass
class FileReport:
    """What happened to one input file."""

    file: str
    layout: str  # long | wide | noaa_lcd | unreadable
    records_in: int = 0
    records_out: int = 0
    quarantined: int = 0
    unparsed_values: int = 0
    coded_values: int = 0
    duplicates_dropped: int = 0
    skipped_columns: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class TimeseriesIngest:
    points: pl.DataFrame
    quarantine: pl.DataFrame
    series: pl.DataFrame
    files: list[FileReport]
    split_series: list[str] = field(default_factory=list)  # ids split per file (overlap)

    @property
    def records_in(self) -> int:
        return sum(f.records_in for f in self.files)

    def files_frame(self) -> pl.DataFrame:
        """One row per input file: layout, record counts, skipped columns, error."""
        rows = [vars(f) | {"skipped_columns": ", ".join(f.skipped_columns)} for f in self.files]
        return pl.DataFrame(rows, schema_overrides={"error": pl.String})

    def summary(self) -> dict:
        return {
            "files": len(self.files),
            "records_in": self.records_in,
            "points_out": self.points.height,
            "quarantined": self.quarantine.height,
            "series": self.series.height,
            "unparsed_values": sum(f.unparsed_values for f in self.files),
            "coded_values": sum(f.coded_values for f in self.files),
            "duplicates_dropped": int(
                self.quarantine.filter(pl.col("reason") == "duplicate_timestamp").height
            ),
            "series_split_by_file": ", ".join(self.split_series) or "none",
        }


def list_input_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"time-series dataset folder not found: {folder}")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES))


def list_unsupported_files(folder: Path) -> list[Path]:
    """Files in a data format Sieve does not read (:data:`UNSUPPORTED`)."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not p.name.lower().endswith(SUFFIXES) and p.suffix.lower() in UNSUPPORTED
    )


def _unsupported(path: Path, root: Path) -> tuple[pl.DataFrame, FileReport]:
    rel = str(path.relative_to(root))
    why = f"not read: {UNSUPPORTED[path.suffix.lower()]}"
    report = FileReport(rel, "unsupported", records_in=1, quarantined=1, error=why)
    q = quarantine_frame([{"source_file": rel, "reason": "unsupported_format", "detail": why}])
    return q, report


def parse_numbers(raw: pl.Series) -> tuple[pl.Series, int]:
    """Strings → float; returns the floats and how many non-empty cells did not parse.

    Non-finite numbers (``NaN``, ``inf``, ``-Infinity``, or an overflow such as ``1e400``,
    as text or as float cells) are missing values: null, and counted as not parsed."""
    text = raw.cast(pl.String).str.strip_chars()
    empty = text.is_null() | (text == "")
    numeric = text.cast(pl.Float64, strict=False)
    if (numeric.is_null() & ~empty).any():  # only then the slower export-format rewrite
        numeric = number_text(text).cast(pl.Float64, strict=False)
    numeric = pl.select(
        pl.when(numeric.is_finite()).then(numeric).otherwise(None).alias(raw.name or "")
    ).to_series()
    unparsed = int((numeric.is_null() & ~empty).sum())
    return numeric, unparsed


def _numeric_share(col: pl.Series) -> float:
    text = col.cast(pl.String)
    present = text.drop_nulls().filter(text.drop_nulls().str.strip_chars() != "")
    if present.len() == 0:
        return 0.0
    share = float(present.str.contains(NUMBER).mean())
    if share < 1.0:  # only then the slower export-format rewrite
        share = float(number_text(present).str.contains(NUMBER).mean())
    return share


#: names of a per-row anomaly / class label column (0/1) in benchmark exports: not a measurement
LABEL_NAMES = ("is_anomaly", "anomaly", "is_anomalous", "label", "labels", "anomaly_label")


def _row_index(col: pl.Series) -> bool:
    """A written-out row index (``""``, ``Unnamed: 0``, ``Obs`` holding 0, 1, 2 … or 1, 2, 3 …):
    not a series (it would be a straight line); listed in ``skipped_columns``."""
    if not is_index_name(col.name):
        return False
    nums = floats(col)
    return bool(nums.null_count() == 0 and col.len() > 1 and (nums.diff().drop_nulls() == 1).all())


def _labels(col: pl.Series) -> bool:
    """A 0/1 label column (``is_anomaly`` of anomaly-benchmark files): skipped and listed."""
    if col.name.strip().lower() not in LABEL_NAMES:
        return False
    nums = floats(col).drop_nulls()
    return bool(nums.len() and nums.is_in([0.0, 1.0]).all())


def _more_measurements(frame: pl.DataFrame, ts_col: str, value_col: str) -> bool:
    """A ``value`` column beside other numeric measurement columns and no ``series_id`` column
    (statsmodels' grunfeld: ``invest, value, capital, firm, year``): a wide table whose column
    happens to be called ``value``, not the long layout (which would rate ``value`` alone)."""
    if find_column(frame.columns, SERIES_NAMES) is not None:
        return False
    skip = {ts_col, value_col, "source_row", find_column(frame.columns, ("channel",))}
    return any(
        _numeric_share(frame[c]) >= 0.5 and not _row_index(frame[c]) and not _labels(frame[c])
        for c in frame.columns
        if c not in skip
    )


def key_columns(frame: pl.DataFrame, ts_col: str, exclude: tuple[str, ...] = ()) -> list[str]:
    """Text columns that name the series of each row (``symbol`` in ``symbol, date, price``):
    used when the file repeats timestamps (more than 5 % of its rows), the text columns repeat
    values (at most one distinct value per two rows) and timestamp + those columns make the
    rows (almost, 90 % of the repeats gone) unique; failing that, one whole-number column that
    does so where at least half the rows repeat a timestamp. Otherwise ``[]``: text columns
    are notes and are skipped."""
    n = frame.height
    repeats = n - frame[ts_col].n_unique()
    if repeats <= 0.05 * n:  # a few repeats (a DST fall-back hour, a re-export) are duplicates
        return []
    text = [
        c
        for c in frame.columns
        if c not in (ts_col, "source_row", *exclude) and _numeric_share(frame[c]) < 0.5
    ]
    keys = [c for c in text if frame[c].n_unique() <= max(1, n // 2)]
    if keys and n - frame.select(ts_col, *keys).n_unique() <= 0.1 * repeats:
        return keys
    # no text key: one whole-number column that names each row's unit (river's chick-weights:
    # ``weight, time, chick, diet``: ``chick`` with ``time`` makes the rows unique), only where
    # most timestamps repeat (a panel), never to split a few duplicates by a count column
    for c in frame.columns if repeats >= 0.5 * n else ():
        if c in (ts_col, "source_row", *exclude) or c in text or frame[c].n_unique() > n // 2:
            continue
        nums = floats(frame[c])
        if nums.null_count() or not bool((nums == nums.round()).all()):
            continue
        if n - frame.select(ts_col, c).n_unique() <= 0.1 * repeats:
            return [c]
    return []


def _key_ids(frame: pl.DataFrame, keys: list[str]) -> pl.Series:
    """``MSFT`` for a text key, ``chick=1`` for a whole-number one; keys joined by ``/``."""
    parts = [
        pl.col(k).cast(pl.String).fill_null("")
        if _numeric_share(frame[k]) < 0.5
        else pl.lit(f"{k}=") + pl.col(k).cast(pl.String).str.strip_chars().fill_null("")
        for k in keys
    ]
    return frame.select(pl.concat_str(parts, separator="/")).to_series()


def _melt_long(
    frame: pl.DataFrame, path: Path, ts_col: str, value_col: str, report: FileReport
) -> pl.DataFrame:
    series_col = find_column(frame.columns, SERIES_NAMES)
    channel_col = find_column(frame.columns, ("channel",))
    keys = (
        []
        if series_col
        else key_columns(frame, ts_col, (value_col,) + ((channel_col,) if channel_col else ()))
    )
    if series_col:
        sid = frame[series_col].cast(pl.String)
    elif keys:
        sid = _key_ids(frame, keys)
        report.layout = "long_keyed"
    else:
        sid = pl.Series([path.stem] * frame.height)
    used = {ts_col, value_col, series_col, channel_col, *keys, "source_row"}
    report.skipped_columns += [c for c in frame.columns if c not in used]  # listed, not read
    if channel_col:
        sid = sid + "/" + frame[channel_col].cast(pl.String).fill_null("")
    values, report.unparsed_values = parse_numbers(frame[value_col])
    return pl.DataFrame(
        {
            "series_id": sid.fill_null(path.stem),
            "timestamp_raw": frame[ts_col].cast(pl.String),
            "timestamp": parse_timestamps(frame[ts_col]),
            "value": values,
            "source_row": pl.int_range(frame.height, eager=True, dtype=pl.Int64),
        }
    )


def _melt_wide(
    frame: pl.DataFrame, ts_col: str, report: FileReport, series_prefix: str = ""
) -> pl.DataFrame:
    keys = key_columns(frame, ts_col) if not series_prefix else []
    prefix = (
        _key_ids(frame, keys) + "/" if keys else pl.Series([series_prefix] * frame.height)
    ).cast(pl.String)
    if keys:
        report.layout = "wide_keyed"
    candidates = [c for c in frame.columns if c not in (ts_col, "source_row", *keys)]
    series_cols = [
        c
        for c in candidates
        if _numeric_share(frame[c]) >= 0.5 and not _row_index(frame[c]) and not _labels(frame[c])
    ]
    report.skipped_columns += [c for c in candidates if c not in series_cols]
    if not series_cols:
        raise ValueError(f"no numeric series columns besides timestamp column {ts_col!r}")
    ts = parse_timestamps(frame[ts_col])
    rows = (
        frame["source_row"]
        if "source_row" in frame.columns
        else pl.int_range(frame.height, eager=True)
    )
    parts = []
    for col in series_cols:
        values, unparsed = parse_numbers(frame[col])
        report.unparsed_values += unparsed
        parts.append(
            pl.DataFrame(
                {
                    "series_id": prefix + col,
                    "timestamp_raw": frame[ts_col].cast(pl.String),
                    "timestamp": ts,
                    "value": values,
                    "source_row": rows.cast(pl.Int64),
                },
                schema_overrides={"series_id": pl.String},
            )
        )
    return pl.concat(parts)


def read_timeseries_file(
    path: Path, root: Path, *, lcd_report_types: tuple[str, ...] = noaa_lcd.ROUTINE_REPORTS
) -> tuple[pl.DataFrame, pl.DataFrame, FileReport]:
    """One file → (points, quarantine, report). Never raises for bad content."""
    rel = str(path.relative_to(root))
    if not path.resolve().is_relative_to(Path(root).resolve()):
        # a symlink (or a link in its path) leading out of the dataset folder: never read it
        report = FileReport(
            rel, "refused", records_in=1, quarantined=1, error="links outside the dataset folder"
        )
        q = quarantine_frame(
            [
                {
                    "source_file": rel,
                    "reason": "outside_dataset",
                    "detail": "symbolic link to a file outside the dataset folder; not read",
                }
            ]
        )
        return pl.DataFrame(schema=POINTS_SCHEMA), q, report
    try:
        if path.stat().st_size == 0:
            raise ValueError("file is empty (0 bytes)")
        tsf = path.suffix.lower() == ".tsf"
        frame = read_tsf(path) if tsf else read_table(path)
        if frame.height == 0 or frame.width == 0:
            raise ValueError("file has no data rows")
        if noaa_lcd.is_lcd(frame.columns):
            report = FileReport(rel, "noaa_lcd")
            frame, quarantined_rows, report.coded_values = noaa_lcd.prepare(frame, lcd_report_types)
            station = (
                str(frame["STATION"].drop_nulls().first() or path.stem)
                if frame.height
                else path.stem
            )
            long = _melt_wide(
                frame.drop(["STATION", "REPORT_TYPE"]), "DATE", report, series_prefix=f"{station}:"
            )
            n_series = long["series_id"].n_unique()
            report.records_in = (frame.height + quarantined_rows.height) * n_series
            quarantine = quarantined_rows.join(
                pl.DataFrame({"item": long["series_id"].unique(maintain_order=True)}), how="cross"
            ).with_columns(source_file=pl.lit(rel))
        else:
            frame = combine_year_period(combine_date_time(frame))
            ts_col = timestamp_column(frame)
            if ts_col is None:
                raise ValueError(
                    f"no timestamp column (expected one of {TIMESTAMP_NAMES}, or a column "
                    f"named with a time word whose values parse as times); "
                    f"columns are {frame.columns[:10]}"
                )
            frame = frame.with_columns(offset_times(calendar_text(frame[ts_col])))
            value_col = find_column(frame.columns, ("value",))
            if value_col is None and ts_col.strip().lower() == "ds":
                value_col = find_column(frame.columns, ("y",))  # Prophet / Nixtla: ds, y
            if value_col is not None and _more_measurements(frame, ts_col, value_col):
                value_col = None  # ``invest, value, capital, firm, year``: a wide table
            if value_col is not None:
                report = FileReport(rel, "tsf" if tsf else "long")
                long = _melt_long(frame, path, ts_col, value_col, report)
            else:
                report = FileReport(rel, "wide")
                long = _melt_wide(frame, ts_col, report)
            report.records_in = long.height
            quarantine = quarantine_frame()
    except BaseException as exc:  # a broken file never stops the dataset
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        # polars reports some malformed input as a Rust panic (pyo3 PanicException), which
        # derives from BaseException, not Exception: it is a broken file too
        report = FileReport(
            rel, "unreadable", records_in=1, quarantined=1, error=f"{type(exc).__name__}: {exc}"
        )
        q = quarantine_frame(
            [{"source_file": rel, "reason": "unreadable_file", "detail": report.error}]
        )
        return pl.DataFrame(schema=POINTS_SCHEMA), q, report

    bad_ts = long.filter(pl.col("timestamp").is_null())
    quarantine = concat_quarantine(
        [
            quarantine,
            bad_ts.select(
                source_file=pl.lit(rel),
                source_row="source_row",
                item="series_id",
                reason=pl.lit("unparseable_timestamp"),
                detail="timestamp_raw",
            ),
        ]
    )
    points = long.filter(pl.col("timestamp").is_not_null()).with_columns(source_file=pl.lit(rel))
    report.quarantined = quarantine.height
    report.records_out = points.height
    return points.select(list(POINTS_SCHEMA)).cast(POINTS_SCHEMA), quarantine, report


def split_overlapping_series(points: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Series ids that several files hold at the same timestamps with mostly different values
    become one series per file, ``<file path without suffix>/<id>`` (module docstring).
    Returns the points and the ids split."""
    multi = (
        points.group_by("series_id")
        .agg(pl.col("source_file").n_unique().alias("n_files"))
        .filter(pl.col("n_files") > 1)["series_id"]
        .to_list()
    )
    shared = (  # one pass over every multi-file series: timestamps held by several files
        points.filter(pl.col("series_id").is_in(multi) & pl.col("value").is_not_null())
        .group_by("series_id", "timestamp")
        .agg(n_files=pl.col("source_file").n_unique(), n_values=pl.col("value").n_unique())
        .filter(pl.col("n_files") > 1)
        .group_by("series_id")
        .agg(differ=(pl.col("n_values") > 1).mean())
    )
    split = sorted(shared.filter(pl.col("differ") > 0.5)["series_id"].to_list())
    if not split:
        return points, []
    stem = pl.col("source_file").str.replace(r"(?i)\.(csv\.gz|csv|parquet)$", "")
    return (
        points.with_columns(
            pl.when(pl.col("series_id").is_in(split))
            .then(stem + "/" + pl.col("series_id"))
            .otherwise(pl.col("series_id"))
            .alias("series_id")
        ),
        split,
    )


def resolve_duplicates(points: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Sort by (series, time); keep the first record of each (series, timestamp), preferring a
    non-null value; the others are quarantined as ``duplicate_timestamp``."""
    ranked = points.with_row_index("_order").sort(
        ["series_id", "timestamp", pl.col("value").is_null(), "_order"]
    )
    dup = ranked.select(pl.struct("series_id", "timestamp").is_first_distinct().not_()).to_series()
    kept = ranked.filter(~dup).drop("_order")
    dropped = ranked.filter(dup)
    quarantine = dropped.select(
        "source_file",
        "source_row",
        item="series_id",
        reason=pl.lit("duplicate_timestamp"),
        detail=pl.format(
            "{} value={}", pl.col("timestamp").cast(pl.String), pl.col("value").cast(pl.String)
        ),
    )
    return kept, quarantine


def series_stats(points: pl.DataFrame, duplicates: pl.DataFrame) -> pl.DataFrame:
    """Per series: size, nulls, cadence (median step), gaps (steps > 1.5 cadence), span."""
    dups = duplicates.group_by("item").len("n_duplicates_dropped").rename({"item": "series_id"})
    stats = (
        points.sort(["series_id", "timestamp"])
        .with_columns(
            step=pl.col("timestamp").diff().over("series_id").dt.total_seconds(fractional=True)
        )
        .group_by("series_id", maintain_order=True)
        .agg(
            n_points=pl.len(),
            n_null_values=pl.col("value").is_null().sum(),
            start=pl.col("timestamp").min(),
            end=pl.col("timestamp").max(),
            cadence_seconds=pl.col("step").median(),
            steps=pl.col("step"),
        )
        .with_columns(
            n_gaps=pl.col("steps")
            .list.eval((pl.element() > 1.5 * pl.element().median()).sum())
            .list.first(),
        )
        .drop("steps")
    )
    return stats.join(dups, on="series_id", how="left").with_columns(
        pl.col("n_duplicates_dropped").fill_null(0)
    )


def ingest_timeseries(
    folder: Path, *, lcd_report_types: tuple[str, ...] = noaa_lcd.ROUTINE_REPORTS
) -> TimeseriesIngest:
    """Read every file of a dataset folder; see the module docstring for the contract."""
    folder = Path(folder)
    files = list_input_files(folder)
    unsupported = list_unsupported_files(folder)
    if not files:
        extra = (
            "; found only "
            + ", ".join(f"{p.name} ({UNSUPPORTED[p.suffix.lower()]})" for p in unsupported[:5])
            if unsupported
            else ""
        )
        raise FileNotFoundError(f"no .csv/.csv.gz/.tsv/.parquet/.tsf files under {folder}{extra}")
    points, quarantines, reports = [], [], []
    for path in unsupported:
        q, r = _unsupported(path, folder)
        quarantines.append(q)
        reports.append(r)
    for path in files:
        p, q, r = read_timeseries_file(path, folder, lcd_report_types=lcd_report_types)
        points.append(p)
        quarantines.append(q)
        reports.append(r)
    all_points = pl.concat(points) if points else pl.DataFrame(schema=POINTS_SCHEMA)
    all_points, split = split_overlapping_series(all_points)
    kept, dup_q = resolve_duplicates(all_points)
    kept, padded, every = separate_padding(kept)  # coarser-cadence series: ops/ingest/cadence.py
    pad_q = padding_quarantine(padded, every)
    for r in reports:
        r.duplicates_dropped = int(dup_q.filter(pl.col("source_file") == r.file).height)
        n_pad = int(pad_q.filter(pl.col("source_file") == r.file).height)
        r.records_out -= r.duplicates_dropped + n_pad
        r.quarantined += r.duplicates_dropped + n_pad
    quarantine = concat_quarantine(quarantines + [dup_q, pad_q])
    return TimeseriesIngest(kept, quarantine, series_stats(kept, dup_q), reports, split)
