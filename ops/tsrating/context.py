"""Series-relative window features (docs/tsrating.md §11): "unlike the rest of this series" becomes
visible to the rater.

:func:`series_features(x, starts)` -> ``(len(starts), D)`` float32 for the 128-point windows of ONE
series ``x`` (NaN = missing). Three groups (names in :data:`FEATURE_NAMES`):

1. **absolute** (``a_*``, 17): scale- and offset-invariant integrity statistics of the window alone:
   roughness ratio log(MAD(diff)/MAD(x)), kurtosis of diffs, spike statistic
   max|x − median3(x)| / MAD(diff), share of zero diffs, longest run of equal values, distinct-value
   share, distinct-|diff| share (quantisation), missing share, longest NaN run, straight-line
   share (|2nd diff| ≈ 0 but moving: linear imputation), saturation share (points at the window
   min/max), lag-1 ACF of values and of diffs, spectral flatness, high-frequency power share,
   CUSUM level-change statistic, roughness inhomogeneity across 8 blocks, largest block-mean jump.
2. **series-relative** (``z_*``): for 21 per-window statistics t (the ones above that are
   informative on their own plus log spread, log roughness, log 2nd-diff roughness, slope / series
   scale, and the residual scale / largest residual of an AR(8) forecaster fitted on the whole
   series), ``z = (t − median_series(t)) / (1.4826·MAD_series(t) + floor_t)`` over the series' own
   stride-64 window grid (robust to < 50 % faulty windows). A clean series of an unusual character
   (quantised, integer, flat-ish) has z ≈ 0 everywhere.
3. **neighbour-relative** (``n_*``, 4): for level (median), log spread, log roughness and slope:
   ``min(|t_w − t_left|, |t_w − t_right|)`` (the adjacent non-overlapping windows, start ± 128)
   divided by the series' median of that same quantity: how much more than usual this window
   departs from *both* neighbours (a level shift, gain error or drift that the whole-series norm
   could miss on a non-stationary series).

z and n features are passed through ``sign(v)·log1p(|v|)``. No per-dataset standardisation is done
(fixed transforms only), so the same window in the same series context always gets the same
features and scores stay comparable across datasets and runs.
"""

from __future__ import annotations

import numpy as np

L_DEFAULT = 128
_TINY = 1e-12

ABS_NAMES = [
    "rough_ratio",
    "dkurt",
    "spike",
    "zero_diff",
    "equal_run",
    "distinct",
    "ddistinct",
    "missing",
    "nan_run",
    "straight",
    "saturation",
    "acf1",
    "dacf1",
    "sflat",
    "hf_share",
    "cusum",
    "rough_inhom",
    "block_jump",
]
REL_NAMES0 = [
    "lscale",
    "lrough",
    "ld2",
    "slope",
    "ar_lsd",
    "ar_max",
    "rough_ratio",
    "dkurt",
    "spike",
    "zero_diff",
    "equal_run",
    "distinct",
    "ddistinct",
    "straight",
    "saturation",
    "acf1",
    "dacf1",
    "sflat",
    "hf_share",
    "cusum",
    "rough_inhom",
    "block_jump",
    "jump",
]
NB_NAMES = ["level", "lscale", "lrough", "slope"]
CTX_NAMES = ["pt_max", "pt_mean", "pt_out", "pt_zero", "nn_shape", "nn_raw"]
REL_NAMES = REL_NAMES0 + CTX_NAMES
FEATURE_NAMES = (
    [f"a_{k}" for k in ABS_NAMES]
    + [f"z_{k}" for k in REL_NAMES]
    + [f"n_{k}" for k in NB_NAMES]
    + [f"c_{k}" for k in CTX_NAMES]
)
# floors of the series MAD per relative statistic (units of the statistic)
_FLOOR = {
    "lscale": 0.1,
    "lrough": 0.1,
    "ld2": 0.1,
    "slope": 0.1,
    "ar_lsd": 0.1,
    "ar_max": 0.1,
    "rough_ratio": 0.1,
    "dkurt": 0.1,
    "spike": 0.1,
    "zero_diff": 0.02,
    "equal_run": 0.02,
    "distinct": 0.02,
    "ddistinct": 0.02,
    "straight": 0.02,
    "saturation": 0.02,
    "acf1": 0.02,
    "dacf1": 0.02,
    "sflat": 0.02,
    "hf_share": 0.02,
    "cusum": 0.02,
    "rough_inhom": 0.05,
    "block_jump": 0.1,
    "pt_max": 0.1,
    "pt_mean": 0.1,
    "pt_out": 0.01,
    "pt_zero": 0.02,
    "nn_shape": 0.05,
    "nn_raw": 0.1,
    "jump": 0.1,
}
N_REF = 256  # reference windows per series for the nearest-neighbour features


def grid_starts(n: int, length: int = L_DEFAULT, stride: int = 64) -> np.ndarray:
    """The pipeline's window grid (ops.tsrating.windows.window_starts): end-aligned last window."""
    if n <= length:
        return np.array([0]) if n else np.zeros(0, int)
    s = list(range(0, n - length + 1, stride))
    if s[-1] != n - length:
        s.append(n - length)
    return np.array(s)


def interp_series(x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x)
    if ok.all():
        return x.astype(np.float64)
    if not ok.any():
        return np.zeros(len(x))
    i = np.arange(len(x))
    return np.interp(i, i[ok], x[ok])


def _med_rows(a: np.ndarray) -> np.ndarray:
    """Row medians via one partition (faster than np.median on many short rows; no NaN handling)."""
    m = a.shape[1]
    if m == 0:
        return np.zeros(a.shape[0])
    k = m // 2
    if m % 2:
        return np.partition(a, k, axis=1)[:, k]
    p = np.partition(a, [k - 1, k], axis=1)
    return 0.5 * (p[:, k - 1] + p[:, k])


def _mad(a: np.ndarray) -> np.ndarray:
    return 1.4826 * _med_rows(np.abs(a - _med_rows(a)[:, None]))


def _longest_true_run(b: np.ndarray) -> np.ndarray:
    """Longest run of True per row (vectorised)."""
    c = np.cumsum(b, axis=1)
    reset = np.maximum.accumulate(np.where(~b, c, 0), axis=1)
    return (c - reset).max(axis=1) if b.shape[1] else np.zeros(b.shape[0])


def _acf1(v: np.ndarray) -> np.ndarray:
    c = v - v.mean(axis=1, keepdims=True)
    den = (c * c).sum(axis=1)
    return np.where(den > _TINY, (c[:, 1:] * c[:, :-1]).sum(axis=1) / np.maximum(den, _TINY), 1.0)


def ar_residuals(xi: np.ndarray, p: int = 8) -> np.ndarray:
    """One-step residuals of an AR(p) (+ intercept) least-squares fit on the whole
    (interpolated) series."""
    n = len(xi)
    r = np.zeros(n)
    if n <= 4 * p:
        return r
    sc = np.std(xi) or 1.0
    z = (xi - np.mean(xi)) / sc
    Xl = np.lib.stride_tricks.sliding_window_view(z[:-1], p)
    A = np.hstack([Xl, np.ones((len(Xl), 1))])
    y = z[p:]
    coef, *_ = np.linalg.lstsq(A.T @ A + 1e-6 * np.eye(p + 1), A.T @ y, rcond=None)
    r[p:] = (y - A @ coef) * sc
    return r


def window_stats(
    W: np.ndarray, R: np.ndarray, AR: np.ndarray, scale: float
) -> dict[str, np.ndarray]:
    """Per-window statistics. W interpolated windows, R raw (NaN) windows, AR residual windows."""
    n, L = W.shape
    eps = 1e-6 * scale + _TINY
    d1 = np.diff(W, axis=1)
    d2 = np.diff(d1, axis=1)
    mad = _mad(W)
    sd = W.std(axis=1)
    dmad = _mad(d1)
    dsd = d1.std(axis=1)
    rng_ = np.ptp(W, axis=1)
    st = {}
    st["level"] = _med_rows(W)
    st["lscale"] = np.log(np.maximum(mad, 0.2 * sd) + eps)
    st["lrough"] = np.log(np.maximum(dmad, 0.2 * dsd) + eps)
    st["ld2"] = np.log(d2.std(axis=1) + eps)
    t = np.arange(L) - (L - 1) / 2
    st["slope"] = (W * t).sum(axis=1) / (t * t).sum() * L / scale
    st["rough_ratio"] = st["lrough"] - st["lscale"]
    dc = d1 - d1.mean(axis=1, keepdims=True)
    dvar = (dc**2).mean(axis=1)
    st["dkurt"] = np.log1p(
        np.where(dvar > eps**2, (dc**4).mean(axis=1) / np.maximum(dvar, _TINY) ** 2, 0.0)
    )
    a3, b3, c3 = W[:, :-2], W[:, 1:-1], W[:, 2:]
    m3 = a3 + b3 + c3 - np.maximum(np.maximum(a3, b3), c3) - np.minimum(np.minimum(a3, b3), c3)
    st["spike"] = np.log1p(
        np.abs(W[:, 1:-1] - m3).max(axis=1) / (np.maximum(dmad, 0.2 * dsd) + eps)
    )
    fin = np.isfinite(R)
    nfin = np.maximum(fin.sum(axis=1), 1)
    rd = np.diff(R, axis=1)
    rdf = np.isfinite(rd)
    zero = (rd == 0) & rdf
    st["zero_diff"] = zero.sum(axis=1) / np.maximum(rdf.sum(axis=1), 1)
    st["equal_run"] = (_longest_true_run(zero) + 1) / L
    srt = np.sort(np.where(fin, R, np.inf), axis=1)
    sd_ = np.diff(srt, axis=1)
    distinct = ((sd_ > 0) & np.isfinite(srt[:, 1:])).sum(axis=1) + fin.any(axis=1)
    st["distinct"] = distinct / nfin
    ad = np.where(rdf & (rd != 0), np.abs(rd), np.inf)
    ads = np.sort(ad, axis=1)
    nnz = np.isfinite(ads).sum(axis=1)
    dd = ((np.diff(ads, axis=1) > 1e-9 * scale) & np.isfinite(ads[:, 1:])).sum(axis=1) + (nnz > 0)
    st["ddistinct"] = np.where(nnz > 0, dd / np.maximum(nnz, 1), 0.0)
    st["missing"] = 1.0 - fin.mean(axis=1)
    st["nan_run"] = _longest_true_run(~fin) / L
    tol = 1e-6 * (rng_ + eps)
    st["straight"] = ((np.abs(d2) <= tol[:, None]) & (np.abs(d1[:, 1:]) > tol[:, None])).mean(
        axis=1
    )
    mx, mn = W.max(axis=1, keepdims=True), W.min(axis=1, keepdims=True)
    tol2 = 1e-9 * (rng_[:, None] + eps)
    sat = ((W >= mx - tol2) | (W <= mn + tol2)).mean(axis=1)
    st["saturation"] = np.where(rng_ > eps, sat, 1.0)
    st["acf1"] = _acf1(W)
    st["dacf1"] = _acf1(d1)
    # detrended spectrum
    dt = W - W.mean(axis=1, keepdims=True) - np.outer(st["slope"] * scale / L, t)
    P = np.abs(np.fft.rfft(dt, axis=1))[:, 1:] ** 2 + (eps**2)
    st["sflat"] = np.exp(np.log(P).mean(axis=1)) / P.mean(axis=1)
    st["hf_share"] = P[:, P.shape[1] // 2 :].sum(axis=1) / P.sum(axis=1)
    cs = np.cumsum(W - W.mean(axis=1, keepdims=True), axis=1)
    st["cusum"] = np.abs(cs).max(axis=1) / (np.maximum(sd, eps) * L)
    nb = 8
    B = d1[:, : (L - 1) // nb * nb].reshape(n, nb, -1)
    bs = B.std(axis=2) + eps
    bmed = _med_rows(bs)
    st["rough_inhom"] = np.log(bs.max(axis=1) / bmed)
    Bm = W[:, : L // nb * nb].reshape(n, nb, -1)
    bmean = Bm.mean(axis=2)
    st["block_jump"] = np.log1p(
        np.abs(np.diff(bmean, axis=1)).max(axis=1) / (bmed * np.sqrt(Bm.shape[2]))
    )
    st["jump"] = np.log(
        np.abs(d1).max(axis=1) / scale + 1e-3
    )  # largest step, units of series |diff|
    st["ar_lsd"] = np.log(AR.std(axis=1) + eps)
    st["ar_max"] = np.log(np.abs(AR).max(axis=1) + eps)
    return st


def context_stats(
    xi: np.ndarray, x: np.ndarray, pos: np.ndarray, grid: np.ndarray, length: int, wscale: float
) -> dict[str, np.ndarray]:
    """Statistics that need the whole series: point residuals from a 5-point running median scaled
    by the series' own residual MAD (spikes, noise, flats), and nearest-neighbour distances of each
    window to up to ``N_REF`` non-overlapping reference windows of the same series (z-normalised
    shape, and level-free raw shape in units of the series' typical window scale)."""
    pad = np.pad(xi, 2, mode="edge")
    med5 = np.sort(np.lib.stride_tricks.sliding_window_view(pad, 5), axis=1)[:, 2]
    r = xi - med5
    S = 1.4826 * np.median(np.abs(r - np.median(r)))
    S = max(S, 0.05 * wscale, 1e-12)
    rz = np.abs(r) / S
    idx = pos[:, None] + np.arange(length)[None, :]
    R = rz[idx]
    out = {
        "pt_max": np.log1p(R.max(axis=1)),
        "pt_mean": np.log(R.mean(axis=1) + 0.05),
        "pt_out": (R > 6).mean(axis=1),
        "pt_zero": (R < 1e-9).mean(axis=1),
    }
    W = xi[idx]
    mu = W.mean(axis=1, keepdims=True)
    sd = W.std(axis=1, keepdims=True)
    Zs = np.where(sd > 1e-12, (W - mu) / np.maximum(sd, 1e-12), 0.0)
    Zr = (W - _med_rows(W)[:, None]) / max(wscale, 1e-12)
    ref = grid
    if len(ref) > N_REF:
        ref = np.sort(np.random.default_rng(len(x)).choice(grid, N_REF, replace=False))
    ri = np.searchsorted(pos, ref)
    far = np.abs(pos[:, None] - ref[None, :]) >= length
    for name, Z in (("nn_shape", Zs), ("nn_raw", Zr)):
        Q = Z
        Rf = Z[ri]
        d2 = (Q * Q).sum(1)[:, None] + (Rf * Rf).sum(1)[None, :] - 2.0 * Q @ Rf.T
        d2 = np.where(far, np.maximum(d2, 0.0), np.inf)
        m = np.sqrt(d2.min(axis=1) / length)
        out[name] = np.log(np.where(np.isfinite(m), m, np.nan) + 0.01)
    return out


def _slog(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.log1p(np.abs(v))


def series_features(
    x: np.ndarray, starts: np.ndarray | None = None, length: int = L_DEFAULT, stride: int = 64
) -> np.ndarray:
    """Features (see module docstring) of the windows ``x[s : s + length]`` for s in ``starts``
    (default: the stride-64 grid). Norms always come from the series' own stride-64 grid."""
    with np.errstate(all="ignore"):  # NaN windows and constant series are handled below
        return _series_features(x, starts, length, stride)


def _series_features(
    x: np.ndarray, starts: np.ndarray | None, length: int, stride: int
) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n < length:  # a short series: one NaN-padded window (counts as missing coverage)
        x = np.concatenate([x, np.full(length - n, np.nan)])
        n = length
    grid = grid_starts(n, length, stride)
    starts = grid if starts is None else np.asarray(starts, dtype=np.int64)
    left = starts - length
    right = starts + length
    pos = np.unique(np.concatenate([grid, starts, left[left >= 0], right[right <= n - length]]))
    xi = interp_series(x)
    ar = ar_residuals(xi)
    idx = pos[:, None] + np.arange(length)[None, :]
    fin = x[np.isfinite(x)]
    scale = float(np.median(np.abs(np.diff(fin)))) if fin.size > 2 else 1.0
    scale = max(scale, 1e-3 * (float(np.ptp(fin)) if fin.size else 1.0), 1e-12)
    st = window_stats(xi[idx], x[idx], ar[idx], scale)
    wscale = float(np.median(np.exp(st["lscale"])))
    st.update(context_stats(xi, x, pos, grid, length, wscale))
    for k in CTX_NAMES:  # NaN (no far reference window: a very short series) -> series median
        v = st[k]
        if not np.isfinite(v).all():
            st[k] = np.where(np.isfinite(v), v, np.nanmedian(v) if np.isfinite(v).any() else 0.0)

    def where(q):  # row of start q in pos, -1 if absent (vectorised)
        q = np.asarray(q)
        i = np.clip(np.searchsorted(pos, q), 0, len(pos) - 1)
        return np.where(pos[i] == q, i, -1)

    gi = where(grid)
    si = where(starts)
    feats = [np.stack([st[k][si] for k in ABS_NAMES], axis=1)]
    G = np.stack([st[k][gi] for k in REL_NAMES], axis=1)  # the series' grid: its norms
    med = np.median(G, axis=0)
    mad = 1.4826 * np.median(np.abs(G - med), axis=0)
    floors = np.array([_FLOOR[k] for k in REL_NAMES])
    z = (np.stack([st[k][si] for k in REL_NAMES], axis=1) - med) / (mad + floors)
    feats.append(_slog(z))
    nbf = []
    li, ri = where(left), where(right)
    gli, gri = where(grid - length), where(grid + length)

    def nbdiff(v, a, l_, r_):
        dl = np.where(l_ >= 0, np.abs(v[a] - v[np.maximum(l_, 0)]), np.inf)
        dr = np.where(r_ >= 0, np.abs(v[a] - v[np.maximum(r_, 0)]), np.inf)
        m = np.minimum(dl, dr)
        return np.where(np.isfinite(m), m, np.nan)

    for k in NB_NAMES:
        v = st[k] if k != "level" else st[k] / scale
        typ = nbdiff(v, gi, gli, gri)
        typ = np.nanmedian(typ) if np.isfinite(typ).any() else 0.0
        cur = nbdiff(v, si, li, ri)
        floor = 0.1 if k != "level" else 1.0
        nbf.append(np.nan_to_num(cur / (typ + floor), nan=0.0))
    feats.append(_slog(np.stack(nbf, axis=1)))
    feats.append(np.stack([st[k][si] for k in CTX_NAMES], axis=1))
    out = np.concatenate(feats, axis=1)
    return np.nan_to_num(out, nan=0.0, posinf=20.0, neginf=-20.0).astype(np.float32)
