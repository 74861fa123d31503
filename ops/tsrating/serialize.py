"""LLMTime-style serialisation of a window for a prompt (docs/tsrating.md §2), and content hashes.

Each value is written as a fixed-precision integer without a decimal point: ``x`` becomes
``round(x * 10**prec)`` (so with ``prec=4``, ``1.2345 -> 12345``, ``-0.5 -> -5000``), values
separated by ``", "``, a leading ``-`` for negatives, and ``NaN`` for a missing value.
Values are **raw**, never normalised: the judge sees the data's own scale.
"""

from __future__ import annotations

import math

import numpy as np

from ops.hashing import sha256_hex

NAN_TOKEN = "NaN"
SEPARATOR = ", "


def serialize_series(values, prec: int = 4, nan_token: str = NAN_TOKEN) -> str:
    """Fixed-precision digits without decimal point, ``", "``-separated, ``nan_token`` for NaN."""
    if prec < 0:
        raise ValueError("prec must be >= 0")
    arr = np.asarray(values, dtype=np.float64).ravel()
    scale = 10.0**prec
    out = []
    for v in arr:
        if not math.isfinite(v):
            out.append(nan_token)
        else:
            out.append(str(int(round(v * scale))))
    return SEPARATOR.join(out)


def parse_series(text: str, prec: int = 4, nan_token: str = NAN_TOKEN) -> np.ndarray:
    """Inverse of :func:`serialize_series` (up to the rounding); used by tests and fake servers."""
    scale = 10.0**prec
    vals = []
    for tok in text.strip().split(","):
        tok = tok.strip()
        if not tok:
            continue
        vals.append(math.nan if tok == nan_token else int(tok) / scale)
    return np.asarray(vals, dtype=np.float64)


def content_hash(values) -> str:
    """sha256 of the window's float64 values (little-endian, every NaN canonicalised)."""
    arr = np.ascontiguousarray(np.asarray(values, dtype="<f8").ravel()).copy()
    arr[np.isnan(arr)] = np.nan  # one NaN bit pattern
    arr[arr == 0.0] = 0.0  # -0.0 == 0.0
    return sha256_hex(str(arr.size), arr.tobytes())
