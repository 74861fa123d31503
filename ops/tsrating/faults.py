"""Parameterised sensor-fault families injected into real series (docs/tsrating.md §11): the
self-supervised judgments and the fault benchmark both use them.

Every fault is ``fn(x, s, e, rng, ref, band) -> None`` and edits ``x[s:e]`` **in place** (``x`` is
the whole float series, NaN = missing, so faults may look at context outside the segment).
Magnitudes are in units of the series' own scale (:class:`SeriesRef`): ``scale`` = median over
the series' 128-windows of the in-window robust std (1.4826·MAD), so a fault is equally visible on
any series. ``band`` chooses the parameter range: ``"train"`` (wide, incl. mild faults, used for
self-supervised pairs) or ``"eval"`` (moderate; the evaluation protocol). Ranges are
``PARAMS[family][band]``.

Simulated families (``FAMILIES``; names -> what a real sensor does)
  noise          additive white noise burst, sd = a·scale
  spikes         k isolated 1-2 point spikes of a·scale + b·spread (spread = series q95 - q05)
  flat_fill      dropout filled by forward-fill / zero / series-mean (a flat line)
  quantise       rounding to a step q = a·scale (random offset): lost resolution
  drift          additive ramp 0 -> ±a·scale (linear or quadratic), resets at the segment end
  level_shift    additive offset ±a·scale over the segment (calibration jump)
  gain           x -> m + g·(x - m) about the segment median m (g < 1 or g > 1)
  stuck          constant at an arbitrary series value (a jump into a flat line), opt. ADC jitter
  missing        NaN gaps (1-3 gaps covering a share a of the segment)
  clipping       saturation at an upper / lower / both quantile(s) q of the segment
  time_warp      local speed change: the next c·len points resampled into len points (c < 1 slow)
  interp_impute  segment replaced by the straight line an imputer draws between its end points

Never simulated (``UNSEEN``, evaluation only; the "design for faults not simulated" check)
  interference   added sinusoid (period 2.5-12 points, amplitude a·scale): mains hum / aliasing
  block_shuffle  the segment cut into 4-8 blocks in random order (timestamp disorder)
  oversmooth     moving average of width 9-25 points (a stuck low-pass / lost detail)

:func:`inject` places non-overlapping segments (length log-uniform in ``seg_len``) with a random
family each until ``share`` of the points is touched, and returns the corrupted copy plus a
per-point ``changed`` mask and family id; :func:`window_labels` turns that into window labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SeriesRef:
    """Robust scales of one series (computed on its windows, NaN-aware)."""

    scale: float  # median over windows of in-window robust std
    median: float
    spread: float  # q95 - q05 of the whole series
    q05: float
    q95: float

    @staticmethod
    def of(x: np.ndarray, length: int = 128, stride: int = 64) -> SeriesRef:
        f = x[np.isfinite(x)]
        if f.size == 0:
            return SeriesRef(1.0, 0.0, 1.0, 0.0, 0.0)
        sc = []
        for s in range(0, max(1, len(x) - length + 1), stride):
            w = x[s : s + length]
            w = w[np.isfinite(w)]
            if w.size >= 8:
                sc.append(1.4826 * np.median(np.abs(w - np.median(w))))
        scale = float(np.median(sc)) if sc else 0.0
        if not scale > 0:
            scale = float(np.std(f)) or 1.0
        q05, q95 = map(float, np.quantile(f, [0.05, 0.95]))
        return SeriesRef(scale, float(np.median(f)), max(q95 - q05, scale), q05, q95)


PARAMS: dict[str, dict[str, tuple]] = {
    "noise": {"train": (0.1, 1.2), "eval": (0.3, 1.0)},
    "spikes": {"train": (1.5, 8.0, 0.1, 1.0), "eval": (3.0, 6.0, 0.25, 0.75)},
    "flat_fill": {"train": (0,), "eval": (0,)},
    "quantise": {"train": (0.15, 1.5), "eval": (0.3, 1.0)},
    "drift": {"train": (0.5, 5.0), "eval": (1.5, 4.0)},
    "level_shift": {"train": (0.5, 5.0), "eval": (1.5, 4.0)},
    "gain": {"train": (0.2, 0.7, 1.5, 5.0), "eval": (0.25, 0.5, 2.0, 4.0)},
    "stuck": {"train": (0,), "eval": (0,)},
    "missing": {"train": (0.05, 1.0), "eval": (0.2, 1.0)},
    "clipping": {"train": (0.5, 0.92), "eval": (0.6, 0.85)},
    "time_warp": {"train": (1.5, 4.0), "eval": (2.0, 4.0)},
    "interp_impute": {"train": (0,), "eval": (0,)},
    "interference": {"train": (0.5, 1.5), "eval": (0.5, 1.5)},
    "block_shuffle": {"train": (4, 8), "eval": (4, 8)},
    "oversmooth": {"train": (9, 25), "eval": (9, 25)},
}


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def _fill_nan(v: np.ndarray) -> np.ndarray:
    ok = np.isfinite(v)
    if ok.all() or not ok.any():
        return np.where(ok, v, 0.0)
    i = np.arange(len(v))
    return np.interp(i, i[ok], v[ok])


def noise(x, s, e, rng, ref, band):
    a = _u(rng, *PARAMS["noise"][band])
    x[s:e] += rng.normal(0.0, a * ref.scale, e - s)


def spikes(x, s, e, rng, ref, band):
    n = e - s
    k = int(rng.integers(1, max(2, n // 24) + 1))
    pos = s + rng.choice(n, size=min(k, n), replace=False)
    for p in pos:
        w = int(rng.integers(1, 3))
        a1, a2, b1, b2 = PARAMS["spikes"][band]
        a = (_u(rng, a1, a2) * ref.scale + _u(rng, b1, b2) * ref.spread) * rng.choice([-1, 1])
        x[p : min(e, p + w)] += a


def flat_fill(x, s, e, rng, ref, band):
    mode = rng.choice(["ffill", "zero", "mean"], p=[0.6, 0.2, 0.2])
    if mode == "ffill":
        prev = x[:s][np.isfinite(x[:s])]
        v = prev[-1] if prev.size else ref.median
    elif mode == "zero":
        v = 0.0
    else:
        v = ref.median
    x[s:e] = v


def quantise(x, s, e, rng, ref, band):
    q = _u(rng, *PARAMS["quantise"][band]) * ref.scale
    off = _u(rng, 0, q)
    x[s:e] = np.round((x[s:e] - off) / q) * q + off


def drift(x, s, e, rng, ref, band):
    d = _u(rng, *PARAMS["drift"][band]) * ref.scale * rng.choice([-1, 1])
    t = np.linspace(0, 1, e - s)
    x[s:e] += d * (t if rng.random() < 0.6 else t**2)


def level_shift(x, s, e, rng, ref, band):
    x[s:e] += _u(rng, *PARAMS["level_shift"][band]) * ref.scale * rng.choice([-1, 1])


def gain(x, s, e, rng, ref, band):
    lo1, hi1, lo2, hi2 = PARAMS["gain"][band]
    g = _u(rng, lo1, hi1) if rng.random() < 0.5 else _u(rng, lo2, hi2)
    seg = x[s:e]
    m = np.nanmedian(seg) if np.isfinite(seg).any() else 0.0
    x[s:e] = m + g * (seg - m)


def stuck(x, s, e, rng, ref, band):
    v = _u(rng, ref.q05, ref.q95) if ref.q95 > ref.q05 else ref.median
    x[s:e] = v + (rng.normal(0, 0.01 * ref.scale, e - s) if rng.random() < 0.5 else 0.0)


def missing(x, s, e, rng, ref, band):
    n = e - s
    share = _u(rng, *PARAMS["missing"][band])
    k = int(rng.integers(1, 4))
    tot = max(1, int(round(share * n)))
    sizes = np.maximum(1, (rng.dirichlet(np.ones(k)) * tot).astype(int))
    for L in sizes:
        p = s + int(rng.integers(0, max(1, n - L + 1)))
        x[p : min(e, p + L)] = np.nan


def clipping(x, s, e, rng, ref, band):
    seg = x[s:e]
    if not np.isfinite(seg).any():
        return
    q = _u(rng, *PARAMS["clipping"][band])
    mode = rng.choice(["upper", "lower", "both"])
    hi = np.nanquantile(seg, q) if mode != "lower" else np.inf
    lo = np.nanquantile(seg, 1 - q) if mode != "upper" else -np.inf
    x[s:e] = np.clip(seg, lo, hi)


def time_warp(x, s, e, rng, ref, band):
    n = e - s
    c = _u(rng, *PARAMS["time_warp"][band])
    if rng.random() < 0.4:
        c = 1.0 / c  # slow motion: stretch the first n/c points
    src_len = int(round(c * n))
    lo = s
    hi = min(len(x), s + src_len)
    if hi - lo < 4:
        return
    src = _fill_nan(x[lo:hi])
    t = np.linspace(0, len(src) - 1, n)
    x[s:e] = np.interp(t, np.arange(len(src)), src)


def interp_impute(x, s, e, rng, ref, band):
    a = x[s - 1] if s > 0 and np.isfinite(x[s - 1]) else ref.median
    b = x[e] if e < len(x) and np.isfinite(x[e]) else a
    x[s:e] = np.linspace(a, b, e - s + 2)[1:-1]


def interference(x, s, e, rng, ref, band):
    a = _u(rng, *PARAMS["interference"][band]) * ref.scale
    period = _u(rng, 2.5, 12.0)
    x[s:e] += a * np.sin(2 * np.pi * np.arange(e - s) / period + _u(rng, 0, 2 * np.pi))


def block_shuffle(x, s, e, rng, ref, band):
    lo, hi = PARAMS["block_shuffle"][band]
    k = int(rng.integers(lo, hi + 1))
    blocks = np.array_split(x[s:e].copy(), k)
    order = rng.permutation(k)
    if (order == np.arange(k)).all():
        order = order[::-1]
    x[s:e] = np.concatenate([blocks[i] for i in order])


def oversmooth(x, s, e, rng, ref, band):
    lo, hi = PARAMS["oversmooth"][band]
    w = int(rng.integers(lo, hi + 1))
    a, b = max(0, s - w), min(len(x), e + w)
    v = _fill_nan(x[a:b])
    sm = np.convolve(np.pad(v, w // 2, mode="edge"), np.ones(w) / w, mode="valid")[: len(v)]
    x[s:e] = sm[s - a : s - a + (e - s)]


FAMILIES = {
    "noise": noise,
    "spikes": spikes,
    "flat_fill": flat_fill,
    "quantise": quantise,
    "drift": drift,
    "level_shift": level_shift,
    "gain": gain,
    "stuck": stuck,
    "missing": missing,
    "clipping": clipping,
    "time_warp": time_warp,
    "interp_impute": interp_impute,
}
UNSEEN = {"interference": interference, "block_shuffle": block_shuffle, "oversmooth": oversmooth}
ALL = {**FAMILIES, **UNSEEN}
NAMES = list(ALL)  # family id = index in this list


def inject(
    x: np.ndarray,
    families: list[str],
    rng: np.random.Generator,
    share: float = 0.2,
    seg_len: tuple[int, int] = (32, 256),
    band: str = "train",
    ref: SeriesRef | None = None,
    max_tries: int = 200,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Corrupt a copy of ``x``: returns (y, delta, family id per point (-1 = none)).

    ``delta`` = |change| per point in units of ``ref.scale`` (inf where missingness changed, 0 for
    untouched points). Segments never overlap and keep a 1-point gap between them.
    """
    y = np.array(x, dtype=np.float64, copy=True)
    n = len(y)
    fam = np.full(n, -1, dtype=np.int16)
    delta = np.zeros(n)
    taken = np.zeros(n, bool)
    ref = ref or SeriesRef.of(x)
    if n < seg_len[0] + 2 or not families:
        return y, delta, fam
    target = share * n
    touched = 0
    for _ in range(max_tries):
        if touched >= target:
            break
        L = int(np.exp(rng.uniform(np.log(seg_len[0]), np.log(seg_len[1]))))
        L = min(L, n - 2)
        s = int(rng.integers(1, n - L))
        e = s + L
        if taken[max(0, s - 1) : e + 1].any():
            continue
        name = families[int(rng.integers(len(families)))]
        before = y[s:e].copy()
        ALL[name](y, s, e, rng, ref, band)
        after = y[s:e]
        both = np.isfinite(before) & np.isfinite(after)
        dl = np.where(
            both, np.abs(after - before), np.where(np.isnan(before) & np.isnan(after), 0.0, np.inf)
        )
        delta[s:e] = dl / max(ref.scale, 1e-12)
        fam[s:e][dl > 0] = NAMES.index(name)
        taken[s:e] = True
        touched += L
    return y, delta, fam


def window_labels(
    delta: np.ndarray,
    fam: np.ndarray,
    starts: np.ndarray,
    length: int = 128,
    min_changed: int = 16,
    material: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Per window: label (1 degraded, 0 clean, -1 ambiguous) and family id.

    A point is *materially* changed when ``delta >= material`` (0.1 × series scale, or missingness
    changed). Degraded = at least ``min(min_changed, half the material points of the fault run it
    touches)`` material points (so a window holding 1 of 3 spikes counts; the first barely-moved
    points of a drift do not); clean = no changed point at all; anything else is ambiguous and
    excluded from AUCs and pairs.
    """
    n = len(delta)
    mat = delta >= material
    anyc = delta > 0
    cm = np.concatenate([[0], np.cumsum(mat)])
    ca = np.concatenate([[0], np.cumsum(anyc)])
    ends = np.minimum(starts + length, n)
    k = cm[ends] - cm[starts]
    ka = ca[ends] - ca[starts]
    lab = np.where(ka == 0, 0, -1)
    fid = np.full(len(starts), -1)
    for i, (s, e) in enumerate(zip(starts, ends, strict=True)):
        if ka[i] == 0:
            continue
        f = fam[s:e][fam[s:e] >= 0]
        ids, cnt = np.unique(f, return_counts=True)
        top = ids[np.argmax(cnt)]
        fid[i] = top
        if k[i] == 0:
            continue
        lo, hi = s, e
        while lo > 0 and fam[lo - 1] == top:
            lo -= 1
        while hi < n and fam[hi] == top:
            hi += 1
        total = int(mat[lo:hi].sum())
        if k[i] >= min(min_changed, max(1, (total + 1) // 2)):
            lab[i] = 1
    return lab, fid
