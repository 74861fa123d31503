"""Plots for the quality report: matplotlib (Agg) figures rendered to small PNG bytes.

Every function returns PNG bytes (or ``None`` when there is nothing to draw); the renderer
base64-embeds them. matplotlib is imported lazily so importing this module stays cheap.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import polars as pl

DPI = 72


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def to_png(fig, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    plt = pyplot()
    buf = io.BytesIO()
    # no "Software" text chunk: keeps the bytes small and free of URLs
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def shorten(text: str, n: int = 28) -> str:
    """``text`` cut to ``n`` characters from the left (the end of an id says most)."""
    text = str(text)
    return text if len(text) <= n else "…" + text[-(n - 1) :]


def histogram(
    values,
    title: str,
    xlabel: str,
    threshold: float | None = None,
    bins: int = 30,
    size=(4.2, 2.4),
    dpi: int = DPI,
) -> bytes | None:
    """Distribution of ``values`` (nulls dropped); an optional vertical threshold line."""
    v = np.asarray(pl.Series(values).cast(pl.Float64).drop_nulls().to_numpy(), dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=size)
    ax.hist(v, bins=bins, color="#4c72b0", edgecolor="white", linewidth=0.4)
    if threshold is not None:
        ax.axvline(
            threshold,
            color="#c44e52",
            linestyle="--",
            linewidth=1,
            label=f"threshold {threshold:.3g}",
        )
        ax.legend(fontsize=7, frameon=False)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("count", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    return to_png(fig, dpi)


def window_grid(panels: list[dict], title: str, ncols: int = 4) -> bytes | None:
    """Small multiples of windows. Each panel:
    ``{"t": timestamps, "v": values, "title": str, "row": label}``.

    Panels are laid out in rows by their ``row`` label (e.g. "worst" / "typical") so worst
    windows sit beside typical ones.
    """
    if not panels:
        return None
    rows: dict[str, list[dict]] = {}
    for p in panels:
        rows.setdefault(p.get("row", ""), []).append(p)
    nrows = len(rows)
    ncols = max(1, min(ncols, max(len(r) for r in rows.values())))
    plt = pyplot()
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.3 * ncols, 1.55 * nrows + 0.35), squeeze=False
    )
    for r, (label, items) in enumerate(rows.items()):
        for c in range(ncols):
            ax = axes[r][c]
            if c >= len(items):
                ax.axis("off")
                continue
            p = items[c]
            t = np.asarray(p["t"])
            v = np.asarray(pl.Series(p["v"]).cast(pl.Float64).to_numpy(), dtype=float)
            color = "#c44e52" if label.startswith("worst") else "#4c72b0"
            if t.size:
                ax.plot(t, v, color=color, linewidth=0.8)
                missing = ~np.isfinite(v)
                if missing.any():
                    lo = np.nanmin(v) if np.isfinite(v).any() else 0.0
                    ax.plot(
                        t[missing], np.full(missing.sum(), lo), "|", color="black", markersize=4
                    )
            ax.set_title(p.get("title", ""), fontsize=6.5)
            ax.set_xticks([])
            ax.tick_params(labelsize=6)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return to_png(fig)


def confusion_heatmap(
    given, clean, classes: list[str] | None = None, title: str = "given vs clean label"
) -> bytes | None:
    """Counts of (given, clean) label pairs; off-diagonal cells are relabeled rows.

    Rows are the given labels (``classes`` order); columns the same classes plus any other
    clean value (e.g. a "dropped" column), so every flagged row of a class is visible.
    """
    frame = pl.DataFrame(
        {"g": pl.Series(given, dtype=pl.String), "c": pl.Series(clean, dtype=pl.String)}
    ).drop_nulls()
    if frame.height == 0:
        return None
    rows = list(classes) if classes else sorted(set(frame["g"]) | set(frame["c"]))
    rows += sorted(set(frame["g"]) - set(rows))
    cols = rows + sorted(set(frame["c"]) - set(rows))
    ri, ci = {k: i for i, k in enumerate(rows)}, {k: i for i, k in enumerate(cols)}
    m = np.zeros((len(rows), len(cols)), dtype=int)
    for g, c, n in frame.group_by(["g", "c"]).len().iter_rows():
        m[ri[g], ci[c]] += n
    plt = pyplot()
    side = min(6.0, 1.4 + 0.32 * len(cols))
    fig, ax = plt.subplots(figsize=(side + 0.8, side * len(rows) / len(cols) + 0.3))
    shown = np.log1p(m)
    im = ax.imshow(shown, cmap="Blues", aspect="equal")
    rotate = 90 if len(cols) > 12 or any(len(c) > 3 for c in cols[len(rows) :]) else 0
    ax.set_xticks(range(len(cols)), [shorten(x, 10) for x in cols], fontsize=7, rotation=rotate)
    ax.set_yticks(range(len(rows)), [shorten(x, 10) for x in rows], fontsize=7)
    ax.set_xlabel("clean label", fontsize=8)
    ax.set_ylabel("given label", fontsize=8)
    ax.set_title(title, fontsize=9)
    if len(cols) <= 16:
        top = shown.max() or 1
        for i in range(len(rows)):
            for j in range(len(cols)):
                if m[i, j]:
                    off = j >= len(rows) or rows[i] != cols[j]
                    ax.text(
                        j,
                        i,
                        str(m[i, j]),
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white"
                        if shown[i, j] > 0.6 * top
                        else ("#c44e52" if off else "black"),
                    )
    cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cb.set_label("log(1+count)", fontsize=7)
    cb.ax.tick_params(labelsize=6)
    return to_png(fig)


def _load_image(path: Path) -> np.ndarray | None:
    try:
        from PIL import Image

        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)
    except Exception:
        return None


def thumbnail_grid(items: list[dict], title: str, ncols: int = 8) -> bytes | None:
    """Thumbnails; each item ``{"path": Path, "caption": str}``. Unreadable files show a
    placeholder."""
    if not items:
        return None
    ncols = max(1, min(ncols, len(items)))
    nrows = (len(items) + ncols - 1) // ncols
    plt = pyplot()
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(1.05 * ncols, 1.5 * nrows + 0.35), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(items):
            continue
        img = _load_image(Path(items[i]["path"]))
        if img is None:
            ax.text(
                0.5, 0.5, "unreadable", ha="center", va="center", fontsize=6, transform=ax.transAxes
            )
        else:
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
        ax.set_title(items[i].get("caption", ""), fontsize=6.5)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return to_png(fig)


def bar_chart(
    counts: dict[str, int],
    title: str,
    xlabel: str = "rows",
    max_bars: int = 12,
    size: tuple[float, float] | None = None,
    dpi: int = DPI,
) -> bytes | None:
    """Horizontal bars, largest first (the rest lumped into "other")."""
    items = sorted(
        ((str(k), int(v)) for k, v in counts.items() if v), key=lambda kv: (-kv[1], kv[0])
    )
    if not items:
        return None
    if len(items) > max_bars:
        rest = sum(v for _, v in items[max_bars - 1 :])
        items = items[: max_bars - 1] + [("other", rest)]
    labels = [shorten(k, 32) for k, _ in items][::-1]
    values = [v for _, v in items][::-1]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=size or (4.2, 0.3 * len(items) + 0.8))
    bars = ax.barh(labels, values, color="#dd8452")
    ax.bar_label(bars, fontsize=6, padding=2)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    return to_png(fig, dpi)


def share_bars(shares: dict[str, float], dpi: int = 80) -> bytes | None:
    """A horizontal bar chart of shares in [0, 1] (percent labels), for the Markdown: about
    560 px wide with 10-11 pt text at 80 dpi, legible where Dagster shows it at natural size."""
    if not shares:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 0.45 * len(shares) + 0.8))
    names = list(shares)[::-1]
    bars = ax.barh(names, [100 * shares[k] for k in names], color="#4c72b0")
    ax.bar_label(bars, fmt="%.1f%%", fontsize=10, padding=3)
    ax.set_xlim(0, max(5.0, 115 * max(shares.values())))
    ax.tick_params(labelsize=10)
    ax.set_xlabel("% of items flagged", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return to_png(fig, dpi=dpi)
