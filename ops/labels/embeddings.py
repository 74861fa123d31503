"""Image embeddings cached by content hash and encoder version.

:func:`embed_files` turns image files into vectors with a :class:`PretrainedEncoder`, reading
what it can from a Parquet cache and embedding only new or changed images. The cache is a folder
per encoder version (``<cache_dir>/<encoder tag>/``) of Parquet parts with two columns:
``sha256`` (the file's content hash) and ``embedding`` (a fixed-size float32 array). A nightly
rerun over a grown or edited folder embeds only the files whose bytes are new; identical files
(same hash) are embedded once; a renamed file is a cache hit. Parts are written every
``flush_every`` images, so an interrupted run resumes where it stopped. Memory beyond the
``(N, dim)`` result stays flat: one batch of decoded images at a time.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ops.fileio import write_parquet_atomic
from ops.hashing import sha256_file
from ops.labels.backbones import BackboneConfig, EmbeddingSource
from ops.labels.encoders import PretrainedEncoder, Progress, progress_line


@dataclass(frozen=True)
class EmbedStats:
    """What :func:`embed_files` did: rows, distinct contents, cache hits, newly embedded
    images, seconds (hashing + reading the cache + embedding), embedding rate, encoder tag."""

    n_images: int
    n_unique: int
    n_cached: int
    n_embedded: int
    seconds: float
    images_per_second: float | None
    encoder: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cache_folder(cache_dir: str | os.PathLike, encoder: PretrainedEncoder) -> Path:
    return Path(cache_dir) / encoder.tag


def read_cached(folder: Path, hashes: Sequence[str]) -> dict[str, np.ndarray]:
    """``{sha256: vector}`` for those of ``hashes`` already in the cache folder."""
    parts = sorted(folder.glob("part-*.parquet"))
    if not parts or not hashes:
        return {}
    want = pl.Series("sha256", list(set(hashes)), dtype=pl.String)
    df = (
        pl.scan_parquet(parts)
        .filter(pl.col("sha256").is_in(want.implode()))
        .unique("sha256", keep="first")
        .collect()
    )
    if df.height == 0:
        return {}
    mat = df["embedding"].to_numpy().astype(np.float32, copy=False)
    return dict(zip(df["sha256"].to_list(), mat, strict=True))


def write_part(folder: Path, hashes: Sequence[str], vectors: np.ndarray) -> Path:
    """One new cache part (atomic write; a unique name, so concurrent writers never clash)."""
    folder.mkdir(parents=True, exist_ok=True)
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    frame = pl.DataFrame(
        {
            "sha256": pl.Series(list(hashes), dtype=pl.String),
            "embedding": pl.Series(v, dtype=pl.Array(pl.Float32, v.shape[1])),
        }
    )
    name = f"part-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.parquet"
    return write_parquet_atomic(frame, folder / name)


def embed_files(
    paths: Sequence[str | os.PathLike],
    encoder: PretrainedEncoder,
    cache_dir: str | os.PathLike | None,
    *,
    hashes: Sequence[str] | None = None,
    progress: Progress | None = None,
    flush_every: int = 4096,
) -> tuple[np.ndarray, EmbedStats]:
    """``(vectors (N, encoder.dim) float32 in the order of paths, stats)``.

    Parameters
    ----------
    paths : image files, one per row.
    encoder : the encoder; its :attr:`~PretrainedEncoder.tag` names the cache folder.
    cache_dir : where the cache folders live; ``None`` embeds everything and caches nothing.
    hashes : the files' sha256 hex digests when already known (else they are computed).
    progress : receives progress lines (hashing, cache hits, embedding rate and ETA).
    flush_every : images embedded between two cache parts.
    """
    t0 = time.perf_counter()
    say = progress or (lambda _m: None)
    paths = [Path(p) for p in paths]
    if hashes is None:
        hashes = [sha256_file(p) for p in paths]
    elif len(hashes) != len(paths):
        raise ValueError(f"{len(hashes)} hashes for {len(paths)} paths")
    folder = cache_folder(cache_dir, encoder) if cache_dir is not None else None
    cached = read_cached(folder, hashes) if folder is not None else {}
    first: dict[str, int] = {}
    for i, h in enumerate(hashes):
        first.setdefault(h, i)
    todo = [h for h in first if h not in cached]
    say(
        f"[{encoder.tag}] {len(paths)} images, {len(first)} distinct, {len(first) - len(todo)} "
        f"cached, {len(todo)} to embed"
    )
    out = np.empty((len(paths), encoder.dim), np.float32)
    row_of = {h: i for i, h in enumerate(hashes)}  # any row with that content
    for h, v in cached.items():
        out[row_of[h]] = v
    t_embed = time.perf_counter()
    done = 0
    for start in range(0, len(todo), flush_every):
        chunk = todo[start : start + flush_every]
        vec = encoder.embed([paths[first[h]] for h in chunk])
        for h, v in zip(chunk, vec, strict=True):
            out[row_of[h]] = v
        if folder is not None:
            write_part(folder, chunk, vec)
        done += len(chunk)
        say(progress_line(encoder.tag, done, len(todo), time.perf_counter() - t_embed))
    # rows that share a content hash get the vector of the row it was written to
    src = np.asarray([row_of[h] for h in hashes])
    dup = np.flatnonzero(src != np.arange(len(hashes)))
    out[dup] = out[src[dup]]
    embed_s = time.perf_counter() - t_embed
    stats = EmbedStats(
        n_images=len(paths),
        n_unique=len(first),
        n_cached=len(first) - len(todo),
        n_embedded=len(todo),
        seconds=round(time.perf_counter() - t0, 3),
        images_per_second=round(len(todo) / embed_s, 1) if todo and embed_s > 0 else None,
        encoder=encoder.tag,
    )
    return out, stats


def encoder_for(
    cfg: BackboneConfig, cache_dir: str | os.PathLike | None = None
) -> PretrainedEncoder:
    """The encoder a ``kind="pretrained"`` backbone names, on its device and thread count."""
    return PretrainedEncoder(
        cfg.encoder,
        cfg.encoder_resolution,
        device=cfg.device,
        threads=cfg.num_threads,
        batch_size=cfg.encoder_batch_size,
        cache_dir=cache_dir,
        flip=cfg.encoder_flip,
    )


def pretrained_source(
    paths: Sequence[str | os.PathLike],
    cfg: BackboneConfig,
    cache_dir: str | os.PathLike | None,
    progress: Progress | None = None,
) -> tuple[EmbeddingSource, EmbedStats]:
    """The images' vectors under ``cfg``'s encoder as a training source (cache in
    ``cache_dir``), and what embedding them cost."""
    vectors, stats = embed_files(paths, encoder_for(cfg), cache_dir, progress=progress)
    return EmbeddingSource(vectors), stats
