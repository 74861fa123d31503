"""TSRating fault-benchmark baselines, scored on the same windows as the rater (higher = better
quality for every function; docs/tsrating.md §11.9).

Heuristics (per window, no training): ``spectral_flatness`` (−flatness of the detrended window:
white noise is flat), ``lag1_acf`` (+lag-1 autocorrelation), ``roughness`` (−std(diff)/std(x)).
Residual-based anomaly score: ``ar_residual`` (−mean squared one-step residual of an AR(16) fitted
on the whole series, relative to the series' residual variance: a small forecaster; PyOD's ECOD
on the same residuals scored lower in the research pass and would add numba/matplotlib pins).
Data valuation (TSRating paper comparators; each window = one regression sample, X = first 127
points, y = last point, series robust-standardised): ``data_oob`` (Data-OOB, Kwon & Zou 2023:
B = 200 bootstrap ridge regressors (paper: 1000; 200 to fit the CPU budget), value = mean
OOB −squared error), ``knn_shapley`` (Jia et al. 2019 exact recursion with the per-neighbour
regression utility u(i) = −(y_i − y_val)², K = 10 % N,
validation = 20 % random windows; a window's own match is excluded), ``timeinf`` (closed-form
influence on a linear AR model: value = Σ over the window's AR samples of g_val·H⁻¹·g_i, θ fitted on
all samples, g_val = mean gradient over the last 20 % of each series). pyDVL / OpenDataVal were not
usable (they force numpy 1.x / torch 2.1 + CUDA), so these are small faithful implementations.
"""

from __future__ import annotations

import numpy as np

from ops.tsrating.context import ar_residuals, grid_starts, interp_series


def _windows(series, length=128):
    W, sid = [], []
    for i, x in enumerate(series):
        x = np.asarray(x, float)
        if len(x) < length:
            x = np.concatenate([x, np.full(length - len(x), np.nan)])
        xi = interp_series(x)
        g = grid_starts(len(xi), length)
        W.append(xi[g[:, None] + np.arange(length)])
        sid.append(np.full(len(g), i))
    return np.concatenate(W), np.concatenate(sid)


def heuristics(series) -> dict[str, np.ndarray]:
    W, _ = _windows(series)
    L = W.shape[1]
    t = np.arange(L) - (L - 1) / 2
    slope = (W * t).sum(1) / (t * t).sum()
    dt = W - W.mean(1, keepdims=True) - np.outer(slope, t)
    P = np.abs(np.fft.rfft(dt, axis=1))[:, 1:] ** 2 + 1e-20
    flat = np.exp(np.log(P).mean(1)) / P.mean(1)
    c = W - W.mean(1, keepdims=True)
    den = (c * c).sum(1)
    acf = np.where(den > 0, (c[:, 1:] * c[:, :-1]).sum(1) / np.maximum(den, 1e-20), 0.0)
    sd = W.std(1)
    rough = np.where(sd > 0, np.diff(W, axis=1).std(1) / np.maximum(sd, 1e-20), 0.0)
    return {"spectral_flatness": -flat, "lag1_acf": acf, "roughness": -rough}


def residual_scores(series, p: int = 16) -> dict[str, np.ndarray]:
    out_ar = []
    for x in series:
        x = np.asarray(x, float)
        if len(x) < 128:
            x = np.concatenate([x, np.full(128 - len(x), np.nan)])
        xi = interp_series(x)
        r = ar_residuals(xi, p)
        v = np.var(r[p:]) + 1e-12
        g = grid_starts(len(xi))
        R = r[g[:, None] + np.arange(128)]
        out_ar.append(-(R**2).mean(1) / v)
    return {"ar_residual": np.concatenate(out_ar)}


def _regression_samples(series):
    W, sid = _windows(series)
    Z = np.empty_like(W)
    for i in np.unique(sid):
        m = sid == i
        med = np.median(W[m])
        sc = 1.4826 * np.median(np.abs(W[m] - med)) or (W[m].std() or 1.0)
        Z[m] = (W[m] - med) / sc
    return Z[:, :-1], Z[:, -1], sid


def data_oob(series, B: int = 200, lam: float = 1.0, seed: int = 0) -> np.ndarray:
    X, y, _ = _regression_samples(series)
    n, d = X.shape
    Xa = np.hstack([X, np.ones((n, 1))])
    rng = np.random.default_rng(seed)
    tot = np.zeros(n)
    cnt = np.zeros(n)
    for _ in range(B):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        A = (Xa * w[:, None]).T @ Xa + lam * np.eye(d + 1)
        coef = np.linalg.solve(A, (Xa * w[:, None]).T @ y)
        oob = w == 0
        tot[oob] += -((Xa[oob] @ coef - y[oob]) ** 2)
        cnt[oob] += 1
    return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nanmean(tot / np.maximum(cnt, 1)))


def knn_shapley(series, k_frac: float = 0.1, val_frac: float = 0.2, seed: int = 0) -> np.ndarray:
    X, y, _ = _regression_samples(series)
    n = len(X)
    K = max(1, int(k_frac * n))
    rng = np.random.default_rng(seed)
    val = rng.choice(n, max(1, int(val_frac * n)), replace=False)
    sq = (X * X).sum(1)
    vals = np.zeros(n)
    for v in val:
        d = sq + sq[v] - 2 * X @ X[v]
        d[v] = np.inf  # a window is not its own neighbour
        order = np.argsort(d)[: n - 1]
        u = -((y[order] - y[v]) ** 2)
        N = len(order)
        # Jia et al. 2019 recursion, vectorised: s_N = u_N / N,
        # s_i = s_{i+1} + (u_i − u_{i+1}) / K · min(K, i) / i   (1-based i)
        i1 = np.arange(1, N)  # 1-based i for i = 1..N-1
        inc = (u[:-1] - u[1:]) / K * np.minimum(K, i1) / i1
        s = np.empty(N)
        s[N - 1] = u[N - 1] / N
        s[:-1] = u[N - 1] / N + np.cumsum(inc[::-1])[::-1]
        vals[order] += s
    return vals / len(val)


def timeinf(series, p: int = 16, lam: float = 1e-3) -> np.ndarray:
    out = []
    samples = []
    for x in series:
        x = np.asarray(x, float)
        if len(x) < 128:
            x = np.concatenate([x, np.full(128 - len(x), np.nan)])
        xi = interp_series(x)
        med = np.median(xi)
        sc = 1.4826 * np.median(np.abs(xi - med)) or (xi.std() or 1.0)
        z = (xi - med) / sc
        Xl = np.lib.stride_tricks.sliding_window_view(z[:-1], p)
        samples.append((np.hstack([Xl, np.ones((len(Xl), 1))]), z[p:], len(z)))
    Xa = np.concatenate([s[0] for s in samples])
    Y = np.concatenate([s[1] for s in samples])
    H = Xa.T @ Xa / len(Xa) + lam * np.eye(p + 1)
    theta = np.linalg.solve(H, Xa.T @ Y / len(Xa))
    gval = []
    for A, yy, _n in samples:
        cut = int(0.8 * len(A))
        gval.append((A[cut:] @ theta - yy[cut:])[:, None] * A[cut:])
    gval = np.concatenate(gval).mean(0)
    hv = np.linalg.solve(H, gval)
    for A, yy, n in samples:
        infl = (A @ theta - yy) * (A @ hv)  # g_i · H^-1 g_val  (value: >0 helps validation)
        per_t = np.zeros(n)
        per_t[p:] = infl
        cs = np.concatenate([[0], np.cumsum(per_t)])
        g = grid_starts(n)
        out.append(cs[g + 128] - cs[g])
    return np.concatenate(out)


def all_baselines(series, seed: int = 0, slow: bool = True) -> dict[str, np.ndarray]:
    n = len(_windows(series)[0])
    out = {"random": np.random.default_rng(seed).random(n)}
    out.update(heuristics(series))
    out.update(residual_scores(series))
    if slow:
        out["data_oob"] = data_oob(series, seed=seed)
        out["knn_shapley"] = knn_shapley(series, seed=seed)
        out["timeinf"] = timeinf(series)
    return out
