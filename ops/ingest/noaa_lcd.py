"""NOAA Local Climatological Data (LCD) raw exports.

An LCD CSV mixes report types in one table: FM-15 routine hourly METARs, FM-16 specials,
FM-12 SYNOPs, and SOD/SOM daily and monthly summaries whose hourly columns are blank. Only
the routine type(s) form a regular hourly series; the other rows are quarantined with the
reason ``report_type:<TYPE>`` (nothing is silently dropped).

Coded cells in the hourly columns (NOAA LCD documentation):
- ``T`` trace precipitation → 0.0 (counted as a coded value)
- a trailing ``s`` (suspect) or ``V`` (variable), e.g. ``0.07s``, ``1.75V`` → the number
  (counted as a coded value)
- a trailing ``*`` (estimated) → the number (coded)
- ``VRB`` variable wind direction, ``M`` missing, anything else non-numeric → null, counted
  by the caller as an unparsed value.
Only the ``Hourly*`` columns are series; text columns (sky conditions, weather type) are
reported as skipped.
"""

from __future__ import annotations

import polars as pl

ROUTINE_REPORTS: tuple[str, ...] = ("FM-15",)
REQUIRED = ("STATION", "DATE", "REPORT_TYPE")
_SUFFIX = r"^([-+]?\d*\.?\d+)[sV*]$"


def is_lcd(columns: list[str]) -> bool:
    return all(c in columns for c in REQUIRED) and any(c.startswith("Hourly") for c in columns)


def decode_cells(col: pl.Series) -> tuple[pl.Series, int]:
    """Decode LCD codes to plain numeric text; returns the text and how many cells were coded."""
    text = col.cast(pl.String).str.strip_chars()
    trace = text == "T"
    suffixed = text.str.contains(_SUFFIX).fill_null(False)
    decoded = (
        pl.when(trace)
        .then(pl.lit("0.0"))
        .when(suffixed)
        .then(text.str.extract(_SUFFIX, 1))
        .otherwise(text)
    )
    out = pl.select(decoded.alias(col.name)).to_series()
    return out, int(trace.fill_null(False).sum() + suffixed.sum())


def prepare(
    frame: pl.DataFrame, report_types: tuple[str, ...] = ROUTINE_REPORTS
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Keep routine reports and hourly columns, decode codes.

    Returns (kept frame with STATION, REPORT_TYPE, DATE and Hourly* columns as text,
    quarantined rows [source_row, reason, detail], number of coded cells decoded).
    """
    frame = frame.with_row_index("source_row").with_columns(pl.col("source_row").cast(pl.Int64))
    rtype = pl.col("REPORT_TYPE").cast(pl.String).str.strip_chars().fill_null("")
    keep = rtype.is_in(list(report_types))
    quarantined = frame.filter(~keep).select(
        "source_row",
        reason=pl.format("report_type:{}", rtype),
        detail=pl.col("DATE").cast(pl.String),
    )
    kept = frame.filter(keep)
    hourly = [c for c in kept.columns if c.startswith("Hourly")]
    coded = 0
    decoded = []
    for c in hourly:
        col, n = decode_cells(kept[c])
        coded += n
        decoded.append(col)
    out = pl.DataFrame(
        [
            kept["source_row"],
            kept["STATION"].cast(pl.String),
            kept["REPORT_TYPE"],
            kept["DATE"],
            *decoded,
        ]
    )
    return out, quarantined, coded
