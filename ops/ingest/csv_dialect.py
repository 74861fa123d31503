"""Read a delimited text file as it was written: its separator and its decimal mark.

Leading ``#`` comment lines (a logger's preamble) are skipped. European and spreadsheet
exports separate fields with ``;`` (or a tab, or ``|``) and write
``1,5`` or ``1.234,5`` for 1.5 and 1234.5. The separator is the one of ``, ; \\t |`` that the
header line holds most often (a tie keeps the comma). In a file not separated by commas, a cell
that is a number written with a decimal comma is rewritten with a point before any parsing, so
it counts as a number like any other. Every cell is read as text (``infer_schema=False``): the
callers decide what is a time and what a number, and count what does not parse.

By hand because polars reads one dialect it is told (``separator``, ``decimal_comma``), and
``csv.Sniffer`` guesses from content with quirks on numeric data; one header line is enough here.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl

SEPARATORS = (",", ";", "\t", "|")
_DECIMAL_COMMA = r"^\s*[-+]?(\d{1,3}(\.\d{3})+|\d*),\d+\s*$"


def _header_line(path: Path) -> tuple[str, bool]:
    """The first non-empty line that is not a ``#`` comment, and whether comments came first."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    commented = False
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:  # type: ignore[operator]
        for _, line in zip(range(200), f, strict=False):
            if line.lstrip().startswith("#"):
                commented = True
            elif line.strip():
                return line, commented
    return "", commented


def sniff_separator(path: Path) -> str:
    """The separator of a ``.csv`` / ``.csv.gz`` file, from its header line."""
    header, _ = _header_line(path)
    counts = {s: header.count(s) for s in SEPARATORS}
    best = max(SEPARATORS, key=lambda s: counts[s])
    return best if counts[best] > counts[","] else ","


def decimal_commas_to_points(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells that are numbers with a decimal comma (``1,5``, ``-1.234,5``) → ``1.5``,
    ``-1234.5``; every other cell unchanged."""
    exprs = []
    for c, dtype in frame.schema.items():
        if dtype != pl.String:
            continue
        col = pl.col(c)
        fixed = col.str.replace_all(r"\.", "").str.replace(",", ".")
        exprs.append(pl.when(col.str.contains(_DECIMAL_COMMA)).then(fixed).otherwise(col).alias(c))
    return frame.with_columns(exprs) if exprs else frame


def read_table(path: Path) -> pl.DataFrame:
    """A ``.parquet`` as it is; a ``.csv`` / ``.csv.gz`` as text cells in its own dialect."""
    if path.name.lower().endswith(".parquet"):
        return pl.read_parquet(path)
    sep = sniff_separator(path)
    commented = _header_line(path)[1]
    frame = pl.read_csv(
        path,
        separator=sep,
        infer_schema=False,
        truncate_ragged_lines=True,
        comment_prefix="#" if commented else None,
    )
    return decimal_commas_to_points(frame) if sep != "," else frame


def number_text(text: pl.Series) -> pl.Series:
    """Number cells as written in exports → plain numbers: surrounding space, a leading
    currency sign (``$1,200.50``), a trailing ``%`` (the number as written: ``12%`` → 12) and
    thousands commas in strict groups of three (``1,234,567``) are removed."""
    t = text.str.strip_chars().str.replace(r"^([-+]?)\s*[$€£¥]\s*", "${1}")
    t = t.str.replace(r"\s*%$", "")
    grouped = t.str.contains(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")
    return pl.select(pl.when(grouped).then(t.str.replace_all(",", "")).otherwise(t)).to_series()
