"""Which column holds a file's times, and how its cells become naive-UTC microseconds.

Written by hand because the shapes real exports take are a handful of rules that no parsing
library decides for us (pandas parses one cell, not "which column, which convention"):

- **the column**: the first named ``timestamp, datetime, date, time, ds, date_time``; failing
  that, the first column named with a time word (:data:`TIME_WORDS`: ``Month``, ``YEAR``,
  ``obs_date``) whose values mostly (90 %) parse as times; failing that, the first column of
  any name (``Datum``, ``Fecha``) whose cells are mostly not plain numbers and parse as times.
  Separate ``Date`` and ``Time`` columns (``16/12/2006`` and ``17:24:00``) are joined into one
  (:func:`combine_date_time`).
- **the cells** (:func:`parse_timestamps`): datetimes as they are (a zone is converted to UTC);
  integers of 8, 12 or 14 digits (``20200101``, ``202001011230``) and 10-digit ones that read as
  a calendar hour (``2020010112``) as calendar dates; other numbers of magnitude ≥ 10⁸ as Unix
  epoch seconds, milliseconds, microseconds or nanoseconds by magnitude; a ``year`` column of
  numbers (``1700``, ``1700.0``) as 1 January; an ``ordinal_date`` column (Python's
  ``date.toordinal()``) as its dates; any other text through pandas, **day first** when
  the dates are written ``d.m.y`` (dots) or some first field exceeds 12 while no second one does
  (``16/12/2006``), else month first (``12/16/2006``); numeric ``year`` + ``quarter`` / ``month``
  columns as the period's first day (:func:`combine_year_period`); quarters (``1970 Q1``,
  ``1970-Q1``, ``Q1 1970``) as their first day. A cell that does not parse is null (the
  caller quarantines it as ``unparseable_timestamp``).
- **plain numbers below epoch size** in the chosen column (``0, 1, 2 …`` sample indices of
  anomaly-benchmark files, ``0.0, 0.5 …`` seconds since the start) are never calendar years:
  :func:`offset_times` reads them as **seconds after 1970-01-01** (order and spacing kept, a
  skipped index is a missing sample); a time-word column of calendar times (``YEAR``) wins over
  such a counter named ``TIME``. Pandas alone read ``1000`` as the year 1000 and
  quarantined ``0 … 999``. An unnamed first column (a pandas or R index: ``""``,
  ``Unnamed: 0``) of increasing numbers is the timestamp when no other column is; its whole
  numbers between 1000 and 2200 are years (an annual series exported with its years as index).
"""

from __future__ import annotations

import re

import pandas as pd
import polars as pl

from ops.ingest.csv_dialect import NUMBER, find_column

TIMESTAMP_NAMES = ("timestamp", "datetime", "date", "time", "ds", "date_time")
TIME_WORDS = ("time", "date", "month", "year", "week", "day", "hour", "minute", "period", "quarter")
_YEAR = re.compile(r"^\s*\d{1,4}(\.0*)?\s*$")
_QUARTER = (  # "1970 Q1", "1970-Q1", "1970Q1", "1970 q1" / "Q1 1970", "Q1-1970"
    r"^(?:(?P<y1>\d{4})[ \-/]?[Qq](?P<q1>[1-4])|[Qq](?P<q2>[1-4])[ \-/]?(?P<y2>\d{4}))$"
)
_WHOLE = r"^-?\d+(\.0*)?$"
#: names of a pandas / R row index written out as a column
INDEX_NAMES = ("", "unnamed: 0", "index", "idx", "rownames", "obs", "row")
_DMY = r"^(\d{1,2})([./-])(\d{1,2})[./-]\d{2,4}"
_CLOCK = r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$"
# digits -> (format, padding): a 10-digit hour gets "00" minutes (strptime wants both)
_COMPACT = {
    8: ("%Y%m%d", ""),
    10: ("%Y%m%d%H%M", "00"),
    12: ("%Y%m%d%H%M", ""),
    14: ("%Y%m%d%H%M%S", ""),
}


def _present(text: pl.Series) -> pl.Series:
    t = text.drop_nulls()
    return t.filter(t != "")


def floats(col: pl.Series) -> pl.Series:
    """Cells as numbers (text trimmed; a cell that is not a plain number → null)."""
    return col.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)


def calendar_text(col: pl.Series) -> pl.Series:
    """A ``year`` column of numbers (``1700``, ``1700.0``) as ``1700-01-01`` text, an
    ``ordinal_date`` column (Python's ``date.toordinal()``: days from 0001-01-01, river's
    ``trump_approval``) as its ISO dates; else as is."""
    text = col.cast(pl.String).str.strip_chars()
    present = _present(text)
    if "ordinal" in (col.name or "").lower() and present.len():
        days = text.cast(pl.Float64, strict=False)
        if bool(present.str.contains(_WHOLE).all()) and bool(
            days.drop_nulls().is_between(1, 3_652_059).all()
        ):
            epoch = (days - 719_163) * 86_400_000_000  # 1970-01-01 is ordinal 719,163
            return (
                epoch.cast(pl.Int64).cast(pl.Datetime("us")).dt.strftime("%Y-%m-%d").alias(col.name)
            )
    if "year" not in (col.name or "").lower() or present.len() == 0:
        return col
    if float(present.str.contains(_YEAR.pattern).mean()) < 0.9:
        return col
    year = text.cast(pl.Float64, strict=False).cast(pl.Int64, strict=False)
    as_date = year.cast(pl.String).str.zfill(4) + "-01-01"
    ok = year.is_between(1, 9999).fill_null(False)
    return pl.select(pl.when(ok).then(as_date).otherwise(text)).to_series().alias(col.name)


def _compact_format(present: pl.Series) -> tuple[str, str] | None:
    """``(format, padding)`` when every cell is an integer of one calendar length (8, 10, 12 or
    14 digits) and 99 % of them read as dates; else None."""
    lengths = present.str.len_chars().unique()
    if lengths.len() != 1 or not present.str.contains(r"^\d+$").all():
        return None
    spec = _COMPACT.get(int(lengths[0]))
    if spec is None:
        return None
    ok = (present + spec[1]).str.to_datetime(spec[0], strict=False).is_not_null().mean()
    return spec if ok >= 0.99 else None


def _epoch(text: pl.Series, present: pl.Series) -> pl.Series | None:
    """Unix epoch numbers → Datetime('us'), the unit read from the median magnitude."""
    nums = present.cast(pl.Float64, strict=False)
    if nums.is_null().mean() > 0.1 or not present.str.contains(NUMBER).mean() >= 0.9:
        return None
    med = float(nums.drop_nulls().abs().median() or 0.0)
    if med < 1e8:
        return None
    to_us = 1e6 if med < 1e11 else 1e3 if med < 1e14 else 1.0 if med < 1e17 else 1e-3
    us = (text.cast(pl.Float64, strict=False) * to_us).round()
    us = pl.select(pl.when(us.abs() < 9e18).then(us).otherwise(None)).to_series()
    return us.cast(pl.Int64).cast(pl.Datetime("us"))


def _quarters(text: pl.Series, present: pl.Series) -> pl.Series | None:
    """``1970 Q1`` → 1970-01-01 (first day of the quarter) when 90 % of the cells are quarters."""
    if (present.str.contains(_QUARTER).mean() or 0.0) < 0.9:
        return None
    g = text.str.extract_groups(_QUARTER)
    year = pl.coalesce(g.struct.field("y1"), g.struct.field("y2")).cast(pl.Int32)
    quarter = pl.coalesce(g.struct.field("q1"), g.struct.field("q2")).cast(pl.Int32)
    return pl.select(pl.datetime(year, (quarter - 1) * 3 + 1, 1, time_unit="us")).to_series()


def _day_first(present: pl.Series) -> bool:
    parts = present.str.extract_groups(_DMY)
    first = parts.struct.field("1").cast(pl.Int64, strict=False)
    if first.is_null().mean() > 0.1:
        return False
    second = parts.struct.field("3").cast(pl.Int64, strict=False)
    if (second > 12).any():
        return False
    dots = (parts.struct.field("2") == ".").mean() or 0.0
    return bool((first > 12).any() or dots > 0.5)


def parse_timestamps(raw: pl.Series) -> pl.Series:
    """Timestamp cells → naive UTC ``Datetime('us')``; a cell that does not parse → null."""
    if raw.dtype == pl.Datetime or raw.dtype == pl.Date:
        out = raw.cast(pl.Datetime("us", raw.dtype.time_zone if raw.dtype == pl.Datetime else None))
        if out.dtype.time_zone:  # type: ignore[union-attr]
            out = out.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return out.cast(pl.Datetime("us"))
    text = raw.cast(pl.String).str.strip_chars()
    present = _present(text)
    if present.len():
        spec = _compact_format(present)
        if spec is not None:
            out = (text + spec[1]).str.to_datetime(spec[0], strict=False)
            return out.cast(pl.Datetime("us")).alias(raw.name)
        epoch = _epoch(text, present)
        if epoch is not None:
            return epoch.alias(raw.name)
        quarters = _quarters(text, present)
        if quarters is not None:
            return quarters.alias(raw.name)
    dayfirst = bool(present.len()) and _day_first(present)
    parsed = pd.to_datetime(
        text.to_pandas(), errors="coerce", format="mixed", utc=True, dayfirst=dayfirst
    )
    return pl.from_pandas(parsed.dt.tz_localize(None).astype("datetime64[us]")).alias(raw.name)


def combine_date_time(frame: pl.DataFrame) -> pl.DataFrame:
    """Separate ``date`` and ``time`` columns (clock times such as ``17:24:00``) → one ``date``
    column ``"<date> <time>"``; otherwise the frame as it is."""
    date_col = find_column(frame.columns, ("date",))
    time_col = find_column(frame.columns, ("time",))
    if date_col is None or time_col is None:
        return frame
    clock = _present(frame[time_col].cast(pl.String).str.strip_chars())
    if not clock.len() or clock.str.contains(_CLOCK).mean() < 0.9:
        return frame
    date = frame[date_col].cast(pl.String).str.strip_chars()
    if (_present(date).str.contains(r"\d{1,2}:\d{2}").mean() or 0.0) > 0.5:
        return frame  # the date column already holds times
    joined = date + " " + frame[time_col].cast(pl.String).str.strip_chars()
    return frame.with_columns(joined.alias(date_col)).drop(time_col)


def _mostly_times(col: pl.Series) -> bool:
    present = _present(calendar_text(col.head(500)).cast(pl.String).str.strip_chars())
    return bool(present.len()) and parse_timestamps(present).is_not_null().mean() >= 0.9


def is_index_name(name: str) -> bool:
    return name.strip().lower() in INDEX_NAMES


def _increasing_numbers(col: pl.Series) -> bool:
    nums = floats(col)
    return bool(col.len() > 1 and nums.null_count() == 0 and (nums.diff().drop_nulls() > 0).all())


def _counter(col: pl.Series) -> bool:
    """Plain numbers that :func:`offset_times` would read as seconds (not compact dates, epochs
    or a ``year`` column)."""
    if col.dtype in (pl.Datetime, pl.Date) or col.len() == 0:
        return False
    present = _present(col.cast(pl.String).str.strip_chars())
    if present.len() == 0 or (present.str.contains(NUMBER).mean() or 0.0) < 0.99:
        return False
    if _compact_format(present) is not None:
        return False
    return float(floats(present).drop_nulls().abs().median() or 0.0) < 1e8  # else epochs


def combine_year_period(frame: pl.DataFrame) -> pl.DataFrame:
    """Numeric ``year`` and ``quarter`` (1–4) or ``month`` (1–12) columns (statsmodels'
    ``macrodata``: ``year, quarter, realgdp, …``) → one ``date`` column, the period's first day;
    otherwise the frame as it is (also when a column already has a timestamp name)."""
    year = find_column(frame.columns, ("year",))
    if year is None or find_column(frame.columns, TIMESTAMP_NAMES) is not None:
        return frame
    y = floats(frame[year])
    for name, months, top in (("quarter", 3, 4), ("month", 1, 12)):
        col = find_column(frame.columns, (name,))
        if col is None:
            continue
        p = floats(frame[col])
        whole = (p == p.round()) & p.is_between(1, top) & (y == y.round()) & y.is_between(1, 9999)
        if float(whole.fill_null(False).mean() or 0.0) < 0.99:
            continue
        date = pl.datetime(
            pl.lit(y).cast(pl.Int32), (pl.lit(p).cast(pl.Int32) - 1) * months + 1, 1, time_unit="us"
        )
        return frame.with_columns(date.alias("date")).drop(year, col)
    return frame


def offset_times(col: pl.Series) -> pl.Series:
    """The chosen timestamp column's plain numbers (module docstring) as ``Datetime('us')``:
    an unnamed index of whole numbers in 1000–2200 as years (1 January), other numbers below
    epoch size (10⁸) as seconds after 1970-01-01. Anything else (dates, compact dates, epochs,
    a ``year`` column already rewritten by :func:`calendar_text`) is returned as it is."""
    if not _counter(col):
        return col
    nums = floats(col)
    if (
        is_index_name(col.name)
        and _present(col.cast(pl.String).str.strip_chars()).str.contains(_WHOLE).all()
        and bool(nums.drop_nulls().is_between(1000, 2200).all())
    ):
        year = nums.cast(pl.Int32)
        return pl.select(pl.datetime(year, 1, 1, time_unit="us")).to_series().alias(col.name)
    us = (nums * 1e6).round().cast(pl.Int64)
    return us.cast(pl.Datetime("us")).alias(col.name)


def timestamp_column(frame: pl.DataFrame) -> str | None:
    """The timestamp column (module docstring), or None."""
    exact = find_column(frame.columns, TIMESTAMP_NAMES)
    if exact is not None and not _counter(frame[exact]):
        return exact
    for c in frame.columns:  # also preferred to a plain counter named ``TIME`` (1, 2, 3 …)
        if c != exact and any(w in c.lower() for w in TIME_WORDS) and _mostly_times(frame[c]):
            return c
    if exact is not None:
        return exact
    for c in frame.columns:  # any name (``Datum``, ``Fecha``): text that reads as times
        text = _present(frame[c].head(500).cast(pl.String).str.strip_chars())
        if text.len() and text.str.contains(NUMBER).mean() < 0.5 and _mostly_times(frame[c]):
            return c
    first = frame.columns[0] if frame.width > 1 else None
    if first is not None and is_index_name(first) and _increasing_numbers(frame[first]):
        return first  # a pandas / R index written out (``,0`` header): the only order there is
    return None
