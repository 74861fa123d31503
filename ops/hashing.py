"""Stable content hashes: the same value gives the same hex digest in every process and run.

Used for cache keys (judgments, out-of-fold probabilities, embeddings) and version strings
(rater, meta checkpoints). Changing what a hash covers changes every key derived from it, so
callers pass exactly the parts that identify their content.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np


def canonical(value: object) -> object:
    """A JSON-able form of ``value``: dict keys sorted, numpy arrays as dtype + shape + sha256,
    tuples as lists, anything else unknown as its ``repr``."""
    if isinstance(value, np.ndarray):
        return {
            "dtype": str(value.dtype),
            "shape": list(value.shape),
            "sha": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest(),
        }
    if isinstance(value, dict):
        return {str(k): canonical(x) for k, x in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [canonical(x) for x in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def stable_hash(value: object) -> str:
    """sha256 hex digest of the canonical JSON of ``value`` (see :func:`canonical`)."""
    return hashlib.sha256(json.dumps(canonical(value), sort_keys=True).encode()).hexdigest()


def sha256_hex(*chunks: bytes | str) -> str:
    """sha256 hex digest of the concatenated chunks (strings as UTF-8)."""
    h = hashlib.sha256()
    for c in chunks:
        h.update(c.encode("utf-8") if isinstance(c, str) else c)
    return h.hexdigest()


def sha256_file(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """sha256 hex digest of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()
