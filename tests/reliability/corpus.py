"""The fault corpus, generated from scratch by the tests (no hand-edited files).

Each generator writes one kind of hostile or broken input into a folder and returns what it
wrote, so a test can account for every record.
"""

from __future__ import annotations

import struct
import zlib
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

from ops.contracts import JUDGMENTS, LABELS, SELECTED, SERIES


def png(path: Path, value: int, size: int = 8) -> Path:
    """A small valid greyscale PNG, every pixel ``value`` plus a gradient."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = (np.add.outer(np.arange(size), np.arange(size)) * 3 + value) % 256
    Image.fromarray(arr.astype(np.uint8), mode="L").save(path)
    return path


def png_bomb_header(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A PNG whose header declares ``width`` x ``height`` (a decompression bomb: a few hundred
    bytes on disk, 900 M pixels once decoded), with a tiny valid zlib stream."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * (width + 1) * 4, 9)  # the first 4 rows; the rest is missing
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def exif_rotated_jpeg(path: Path, orientation: int = 6, size: int = 16) -> np.ndarray:
    """A JPEG stored with its left half black, right half white and EXIF ``Orientation``;
    returns the stored (not upright) pixels."""
    arr = np.zeros((size, size), np.uint8)
    arr[:, size // 2 :] = 255
    img = Image.fromarray(arr, mode="L")
    exif = Image.Exif()
    exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="JPEG", quality=100, exif=exif.tobytes())
    return arr


def series_csv(path: Path, n: int = 300, seed: int = 0, start: datetime | None = None) -> int:
    """A long-format CSV of one smooth series with noise; returns its record count."""
    rng = np.random.default_rng(seed)
    t0 = start or datetime(2024, 1, 1)
    t = np.arange(n)
    v = 5 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, n) + 0.01 * t
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {
            "timestamp": [(t0 + timedelta(hours=int(i))).isoformat() for i in t],
            "value": [f"{x:.4f}" for x in v],
        }
    ).write_csv(path)
    return n


TABLES = (SELECTED, JUDGMENTS, SERIES, LABELS)


def clean_set(folder: Path, tag: str, rows: int = 1000) -> None:
    """Four tables whose every row carries ``tag`` (which run wrote it)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(tag)) % 2**32)
    for t in TABLES:
        pl.DataFrame({"run_id": [tag] * rows, "x": rng.normal(size=rows)}).write_parquet(
            folder / t.file
        )


def published_tags(published: Path) -> dict[str, set[str]]:
    return {
        t.file: set(pl.read_parquet(published / t.file, columns=["run_id"])["run_id"])
        for t in TABLES
        if (published / t.file).exists()
    }
