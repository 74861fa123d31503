"""Monash forecasting-archive files (``.tsf``) as a long table ``series_id, timestamp, value``.

The ``.tsf`` format (Godahewa et al., "Monash Time Series Forecasting Archive", NeurIPS 2021
datasets track) holds the archive's 30-odd datasets: ``#`` comments, ``@attribute name type``
lines, ``@frequency``, ``@missing``, ``@data``, then one series per line,
``attr1:attr2:…:v1,v2,…`` with ``?`` for a missing value. Written by hand because the readers
that exist live inside large toolkits (aeon, sktime, gluonts) that return pandas objects built
for modelling, not for an ingest that must account for every value; the format is these few
rules.

- **series id**: the ``string`` attributes joined by ``/`` (``T1``; ``NSW/T1`` with a ``state``
  attribute); numeric attributes are not part of the id.
- **timestamps**: the ``date`` attribute (``1972-01-01 00-00-00``) stepped by ``@frequency``
  (``yearly``, ``quarterly``, ``monthly``, ``weekly``, ``daily``, ``hourly``, ``half_hourly``,
  ``minutely``, ``<n>_minutes``, ``<n>_seconds``…); without a start or a known frequency the
  position in the series, as seconds after 1970-01-01 (the rule for sample indices in
  :mod:`ops.ingest.timestamps`).
- **values**: ``?`` and unparsable cells are null (the caller counts them as unparsed).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import polars as pl

#: @frequency word -> (count, polars duration unit) of one step
FREQUENCIES = {
    "yearly": (1, "y"),
    "quarterly": (1, "q"),
    "monthly": (1, "mo"),
    "weekly": (1, "w"),
    "daily": (1, "d"),
    "hourly": (1, "h"),
    "half_hourly": (30, "m"),
    "minutely": (1, "m"),
}
_MULTI = re.compile(r"^(\d+)_(second|minute|hour|day|week|month|year)s?$")
_UNIT = {
    "second": "s",
    "minute": "m",
    "hour": "h",
    "day": "d",
    "week": "w",
    "month": "mo",
    "year": "y",
}


def step_of(frequency: str | None) -> tuple[int, str] | None:
    """``@frequency`` word → ``(count, unit)`` of one step (``"10_minutes"`` → ``(10, "m")``),
    or None."""
    if not frequency:
        return None
    f = frequency.strip().lower()
    if f in FREQUENCIES:
        return FREQUENCIES[f]
    m = _MULTI.match(f)
    return (int(m.group(1)), _UNIT[m.group(2)]) if m else None


def _start(text: str) -> datetime | None:
    for fmt in ("%Y-%m-%d %H-%M-%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None


def read_tsf(path: Path) -> pl.DataFrame:
    """The file as ``series_id, timestamp (Datetime us), value (String)``, one row per value in
    file order. Raises ``ValueError`` for a file without ``@data`` or with malformed series."""
    attributes: list[tuple[str, str]] = []
    frequency = None
    ids: list[str] = []
    starts: list[datetime | None] = []
    cells: list[list[str]] = []
    in_data = False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                parts = line.split()
                key = parts[0].lower()
                if key == "@attribute" and len(parts) >= 3:
                    attributes.append((parts[1], parts[2].lower()))
                elif key == "@frequency" and len(parts) >= 2:
                    frequency = parts[1]
                elif key == "@data":
                    in_data = True
                continue
            fields = line.split(":", len(attributes))
            if len(fields) != len(attributes) + 1:
                raise ValueError(
                    f"line {number}: {len(fields) - 1} attribute values, header declares "
                    f"{len(attributes)}"
                )
            kinds = [kind for _, kind in attributes]
            names = [v for v, kind in zip(fields, kinds, strict=False) if kind == "string"]
            dates = [v for v, kind in zip(fields, kinds, strict=False) if kind == "date"]
            ids.append("/".join(names) or f"series_{len(ids)}")
            starts.append(_start(dates[0]) if dates else None)
            cells.append(fields[-1].split(","))
    if not in_data:
        raise ValueError("not a .tsf file: no @data line")
    step = step_of(frequency)
    frame = pl.DataFrame(
        {
            "series_id": ids,
            "start": pl.Series(starts, dtype=pl.Datetime("us")),
            "value": cells,
        },
        schema_overrides={"value": pl.List(pl.String)},
    )
    long = (
        frame.with_row_index("line")
        .explode("value")
        .with_columns(i=pl.int_range(pl.len()).over("line"))
    )
    position = (pl.col("i") * 1_000_000).cast(pl.Datetime("us"))
    if step is None:
        ts = position
    else:
        n, unit = step
        by = pl.format("{}" + unit, pl.col("i") * n)
        ts = (
            pl.when(pl.col("start").is_null())
            .then(position)
            .otherwise(pl.col("start").dt.offset_by(by))
        )
    return long.select(
        "series_id",
        ts.alias("timestamp"),
        pl.col("value").str.strip_chars().replace("?", None),
    )
