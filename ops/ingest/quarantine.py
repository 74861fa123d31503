"""The quarantine table: every input unit that could not be used, with its reason.

One schema for time series and images, so the report and the row-accounting check treat
both alike. ``source_row`` is the 0-based data row in ``source_file`` (null when the whole
file is unusable); ``detail`` carries the raw text or the exception message.
"""

from __future__ import annotations

import polars as pl

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "source_row": pl.Int64(),
    "item": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
}


def quarantine_frame(records: list[dict] | None = None) -> pl.DataFrame:
    """A quarantine frame from dicts with (a subset of) the schema's keys."""
    records = records or []
    rows = [{k: r.get(k) for k in QUARANTINE_SCHEMA} for r in records]
    return pl.DataFrame(rows, schema=QUARANTINE_SCHEMA)


def concat_quarantine(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [f.select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA) for f in frames if f.height]
    return pl.concat(frames) if frames else quarantine_frame()
