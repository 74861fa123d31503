"""Window encoders for the TSRating rater (docs/tsrating.md §6): ``(n, L)`` windows ->
``(n, d)`` features.

One interface (:class:`Encoder`): ``name``, ``dim``, ``normalises`` and
``encode(windows) -> (n, dim) float32``. Windows may hold NaN (missing values, or the NaN
padding :func:`ops.tsrating.windows.window_values` adds to short windows).

Preprocessing shared by every encoder here (:func:`prepare`, also used by the rater at
train and at score time, so a window always gets the same embedding): NaNs are linearly
interpolated (edges take the nearest observed value; an all-NaN window becomes zeros), then
each window is z-normalised on its own (offset and scale removed). Because the shape features
are therefore invariant to ``x -> a*x + c``, the scale is appended as separate inputs:
``log10(std)`` and ``log10(range / std)`` of the raw window (docs/tsrating.md §6: an encoder
that normalises gets the scale back as features).

:class:`FeatureEncoder` (default, offline, no model) — on the z-normalised window:

- PAA: mean of ``paa`` equal segments (shape at low resolution);
- ACF at lags 1, 2, 4, 8, 16, 32 (``lag < L``);
- FFT band energies: share of the non-DC power in ``n_bands`` log-spaced frequency bands;
- roughness: ``log`` std of first differences, kurtosis of first differences, max |first
  difference|; skewness and kurtosis of values; 5 quantiles; zero-crossing and turning-point
  rates; difference of the half means; share of distinct values.

**Circularity (what is deliberately *not* an input).** The rubric surrogate judge
(:mod:`ops.tsrating.rubric_judge`) scores windows from :data:`RUBRIC_STATISTICS`; a rater fed
those exact numbers would just read the answer back. None of them is computed here:

- no linear least-squares fit and no R^2 (``linear_fit_r2``) — the closest feature is the
  difference of the two half means, which ignores the fit quality;
- no spectral peak share of the strongest bin +- 1 (``spectral_peak_share_3bins``) — band
  energies pool fixed log-spaced bands and never locate the peak;
- no "line + top-3 Fourier" structure, so neither its noise ratio nor its variance share;
- no rolling-median robust-z spike share and no robust-z jump count — only moment
  statistics (kurtosis, max) of the first differences;
- no longest run of identical values — only the share of distinct values;
- ``missing_share`` is **off by default** (``missing_feature=False``) because the rubric
  multiplies every score by ``1 - missing_share``; turn it on for a real LLM judge, where it is
  a legitimate signal. With it off the rater only sees missing data through the straight
  segments interpolation leaves behind.

:class:`CallableEncoder` plugs in any user model (e.g. MOMENT's ``embed``, which cannot be
downloaded here): it receives the prepared (interpolated, z-normalised) windows in batches
and its output is concatenated with the scale features.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from ops.hashing import sha256_hex

ACF_LAGS = (1, 2, 4, 8, 16, 32)
_EPS = 1e-12


@runtime_checkable
class Encoder(Protocol):
    name: str
    dim: int
    normalises: bool

    def encode(self, windows: np.ndarray) -> np.ndarray: ...


def interpolate_nan(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise linear interpolation of NaNs; returns (filled float64 array, missing share per
    row)."""
    x = np.array(x, dtype=np.float64, copy=True)
    if x.ndim != 2:
        raise ValueError(f"windows must be 2-D (n, L), got shape {x.shape}")
    ok = np.isfinite(x)
    miss = 1.0 - ok.mean(axis=1) if x.shape[1] else np.ones(x.shape[0])
    bad_rows = np.flatnonzero(~ok.all(axis=1))
    idx = np.arange(x.shape[1])
    for r in bad_rows:
        m = ok[r]
        if not m.any():
            x[r] = 0.0
        else:
            x[r] = np.interp(idx, idx[m], x[r, m])
    return x, miss


def scale_features(filled: np.ndarray) -> np.ndarray:
    """``[log10 std, log10(range / std)]`` of each raw (interpolated) window; 0-variance ->
    floor."""
    std = filled.std(axis=1)
    rng = np.ptp(filled, axis=1)
    log_std = np.log10(np.maximum(std, 1e-8))
    log_ratio = np.where(std > _EPS, np.log10(np.maximum(rng, _EPS) / np.maximum(std, _EPS)), 0.0)
    return np.stack([log_std, log_ratio], axis=1)


def prepare(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z-normalised windows, scale features (n, 2), missing share (n,)). Constant windows ->
    zeros."""
    filled, miss = interpolate_nan(windows)
    mu = filled.mean(axis=1, keepdims=True)
    sd = filled.std(axis=1, keepdims=True)
    z = np.where(
        sd > _EPS * np.maximum(1.0, np.abs(mu)), (filled - mu) / np.where(sd > 0, sd, 1.0), 0.0
    )
    return z, scale_features(filled), miss


def _moments(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Skewness and (excess) kurtosis per row, 0 for constant rows."""
    c = v - v.mean(axis=1, keepdims=True)
    s = c.std(axis=1)
    ok = s > _EPS
    s_ = np.where(ok, s, 1.0)
    skew = np.where(ok, (c**3).mean(axis=1) / s_**3, 0.0)
    kurt = np.where(ok, (c**4).mean(axis=1) / s_**4 - 3.0, 0.0)
    return skew, kurt


class FeatureEncoder:
    """Fixed, offline features (see module docstring). Vectorised over chunks of windows."""

    normalises = True

    def __init__(
        self, paa: int = 16, n_bands: int = 8, missing_feature: bool = False, chunk: int = 8192
    ):
        self.paa = int(paa)
        self.n_bands = int(n_bands)
        self.missing_feature = bool(missing_feature)
        self.chunk = int(chunk)
        self.name = (
            f"features-v1(paa={self.paa},bands={self.n_bands},missing={int(self.missing_feature)})"
        )
        self.dim = self.paa + len(ACF_LAGS) + self.n_bands + 14 + 2 + int(self.missing_feature)

    def config(self) -> dict:
        return {
            "kind": "features-v1",
            "paa": self.paa,
            "n_bands": self.n_bands,
            "missing_feature": self.missing_feature,
        }

    def encode(self, windows: np.ndarray) -> np.ndarray:
        X = np.asarray(windows, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"windows must be 2-D (n, L), got shape {X.shape}")
        out = np.empty((X.shape[0], self.dim), dtype=np.float32)
        for s in range(0, X.shape[0], self.chunk):
            out[s : s + self.chunk] = self._encode(X[s : s + self.chunk])
        return out

    def _encode(self, X: np.ndarray) -> np.ndarray:
        z, scale, miss = prepare(X)
        n, L = z.shape
        feats = []
        # PAA over equal segments (np.array_split boundaries, vectorised via cumulative sums)
        edges = np.linspace(0, L, self.paa + 1).round().astype(int)
        cs = np.concatenate([np.zeros((n, 1)), np.cumsum(z, axis=1)], axis=1)
        width = np.maximum(np.diff(edges), 1)
        feats.append((cs[:, edges[1:]] - cs[:, edges[:-1]]) / width)
        # ACF (z has mean 0, var 1 unless constant)
        acf = np.zeros((n, len(ACF_LAGS)))
        for k, lag in enumerate(ACF_LAGS):
            if lag < L:
                acf[:, k] = (z[:, :-lag] * z[:, lag:]).sum(axis=1) / L
        feats.append(acf)
        # FFT band energy shares (log-spaced bands over the non-DC bins)
        power = np.abs(np.fft.rfft(z, axis=1)) ** 2
        power = power[:, 1:]
        nb = power.shape[1]
        total = power.sum(axis=1, keepdims=True)
        bands = np.zeros((n, self.n_bands))
        if nb:
            bedges = np.unique(np.geomspace(1, nb + 1, self.n_bands + 1).round().astype(int) - 1)
            pc = np.concatenate([np.zeros((n, 1)), np.cumsum(power, axis=1)], axis=1)
            e = (pc[:, bedges[1:]] - pc[:, bedges[:-1]]) / np.where(total > 0, total, 1.0)
            bands[:, : e.shape[1]] = e
        feats.append(bands)
        # roughness and distribution
        d = np.diff(z, axis=1) if L > 1 else np.zeros((n, 1))
        dstd = d.std(axis=1)
        _, dkurt = _moments(d)
        skew, kurt = _moments(z)
        q = np.quantile(z, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1).T
        sgn = np.sign(z)
        zc = (sgn[:, 1:] * sgn[:, :-1] < 0).mean(axis=1) if L > 1 else np.zeros(n)
        tp = ((d[:, 1:] * d[:, :-1]) < 0).mean(axis=1) if L > 2 else np.zeros(n)
        h = L // 2
        half = z[:, h:].mean(axis=1) - z[:, :h].mean(axis=1) if L > 1 else np.zeros(n)
        srt = np.sort(X, axis=1)
        fin = np.isfinite(srt)
        distinct = ((np.diff(srt, axis=1) != 0) & fin[:, 1:]).sum(axis=1) + fin[:, :1].sum(axis=1)
        distinct_share = distinct / np.maximum(fin.sum(axis=1), 1)
        feats.append(
            np.stack(
                [
                    np.log10(dstd + 1e-3),
                    np.log1p(np.maximum(dkurt + 3.0, 0.0)),
                    np.abs(d).max(axis=1) / 4.0,
                    skew,
                    np.log1p(np.maximum(kurt + 3.0, 0.0)),
                    zc,
                    tp,
                    half,
                    distinct_share,
                ],
                axis=1,
            )
        )
        feats.append(q)
        feats.append(scale)
        if self.missing_feature:
            feats.append(miss[:, None])
        return np.concatenate(feats, axis=1)


class CallableEncoder:
    """Wrap a user model: ``fn(prepared (b, L) float32) -> (b, k)``; output + 2 scale features.

    ``fn`` sees windows after the shared :func:`prepare` (NaNs interpolated, per-window
    z-normalised), in batches of ``batch_size``. ``normalises`` is True: the scale features
    are appended here. ``name`` must identify the model (it goes into ``rater_version``).
    """

    normalises = True

    def __init__(
        self, fn: Callable[[np.ndarray], np.ndarray], name: str, out_dim: int, batch_size: int = 256
    ):
        self.fn = fn
        self.name = str(name)
        self.dim = int(out_dim) + 2
        self.batch_size = int(batch_size)

    def config(self) -> dict:
        return {"kind": "callable", "name": self.name, "dim": self.dim}

    def encode(self, windows: np.ndarray) -> np.ndarray:
        X = np.asarray(windows, dtype=np.float64)
        out = np.empty((X.shape[0], self.dim), dtype=np.float32)
        for s in range(0, X.shape[0], self.batch_size):
            z, scale, _ = prepare(X[s : s + self.batch_size])
            emb = np.asarray(self.fn(z.astype(np.float32)), dtype=np.float32)
            if emb.shape != (z.shape[0], self.dim - 2):
                raise ValueError(
                    f"encoder {self.name} returned {emb.shape}, "
                    f"expected {(z.shape[0], self.dim - 2)}"
                )
            out[s : s + self.batch_size] = np.concatenate([emb, scale.astype(np.float32)], axis=1)
        return out


def default_encoder() -> FeatureEncoder:
    return FeatureEncoder()


def encoder_fingerprint(enc: Encoder) -> str:
    cfg = enc.config() if hasattr(enc, "config") else {"name": enc.name, "dim": enc.dim}
    return sha256_hex(json.dumps(cfg, sort_keys=True))[:12]
