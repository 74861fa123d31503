"""Read a delimited text file as it was written: its separator and its decimal mark.

The text may be UTF-8 (with or without a byte-order mark), UTF-16 with a byte-order mark, or
Windows-1252 / Latin-1 (:func:`utf8_bytes`). Leading ``#`` comment lines (a logger's preamble)
are skipped. European and spreadsheet
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
#: a plain number cell (surrounding space allowed), the test of "numeric" everywhere in ingest
NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


def find_column(columns: list[str], names: tuple[str, ...]) -> str | None:
    """The first of ``names`` present in ``columns`` (case and surrounding space ignored)."""
    lower = {c.lower().strip(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


_DECIMAL_COMMA = r"^\s*[-+]?(\d{1,3}(\.\d{3})+|\d*),\d+\s*$"


def utf8_bytes(path: Path) -> bytes:
    """The file's text as UTF-8 bytes: ``.gz`` decompressed; UTF-16 (with its byte-order mark,
    Excel's "Unicode text") and files that are not valid UTF-8 (Windows-1252 / Latin-1 exports:
    ``Temperatur (°C)``, ``Zähler``) decoded and re-encoded; a UTF-8 byte-order mark dropped."""
    raw = (
        gzip.decompress(path.read_bytes())
        if path.name.lower().endswith(".gz")
        else path.read_bytes()
    )
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16").encode("utf-8")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace").encode("utf-8")
    return raw.removeprefix(b"\xef\xbb\xbf")


def _header_line(text: str) -> tuple[str, bool]:
    """The first non-empty line that is not a ``#`` comment, and whether comments came first."""
    commented = False
    for line in text.splitlines()[:200]:
        if line.lstrip().startswith("#"):
            commented = True
        elif line.strip():
            return line, commented
    return "", commented


def separator_of_text(text: str) -> str:
    """The separator of delimited text, from its header line (``#`` comments skipped)."""
    return _separator_of(_header_line(text)[0])


def _separator_of(header: str) -> str:
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
    data = utf8_bytes(path)
    header, commented = _header_line(data[:1_000_000].decode("utf-8", errors="ignore"))
    sep = _separator_of(header)
    frame = pl.read_csv(
        data,
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
