"""Win / tie / loss between label-cleaning methods from saved benchmark rows (issue 12, item 7).

Reads rows saved by ``benchmarks.labels_bench --save`` (several files merged; a repeated
(setting, method, seed) keeps the first) and prints, per setting and metric, one line per
method with its mean ± sd and a verdict against every other method: **win** / **loss** when the
mean ± sd intervals over the seeds do not overlap, **tie** when they do (``?`` with fewer than
2 seeds on either side). Only seeds both methods ran are compared.

    R=benchmarks/results
    .venv/bin/python -m benchmarks.labels_meta_stats --metric all_acc \\
        $R/labels_2026-11-30/digits.jsonl $R/labels_2026-12-01/*_digits.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SHORT = {  # row name prefix -> column label
    "CE + trusted": "CE",
    "cleanlab OOF": "OOF",
    "cleanlab trusted": "trusted",
    "RST (convex combination) labels -> retrain": "RST",
    "VRI outer (lam 1e-05, meta lr 0.0003) labels -> retrain": "VRI",
    "VRI outer (lam 1e-4) labels -> retrain": "VRI old",
    "MW-Net (scalar, look-ahead)": "MW-Net",
    "VRI deterministic": "VRI det",
    "VRI deterministic, meta lr 1e-12 (no meta-learning)": "VRI no-meta",
}


def verdict(a: list[float], b: list[float]) -> str:
    """``win``/``loss`` when the mean ± sd intervals of ``a`` and ``b`` do not overlap, else
    ``tie``; ``?`` with fewer than 2 values on either side."""
    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    a_, b_ = a_[~np.isnan(a_)], b_[~np.isnan(b_)]
    if a_.size < 2 or b_.size < 2:
        return "?"
    if a_.mean() - a_.std(ddof=1) > b_.mean() + b_.std(ddof=1):
        return "win"
    if a_.mean() + a_.std(ddof=1) < b_.mean() - b_.std(ddof=1):
        return "loss"
    return "tie"


def load(paths: list[Path]) -> list[dict]:
    rows, seen = [], set()
    for p in paths:
        for line in p.read_text().splitlines():
            r = json.loads(line)
            if r.pop("kind", "row") != "row":
                continue
            key = (r["dataset"], r["noise"], r["method"], r["seed"])
            if key not in seen:
                seen.add(key)
                rows.append(r)
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("files", type=Path, nargs="+")
    ap.add_argument("--metric", default="all_acc", help="all_acc, last, f1, kept_share, ...")
    args = ap.parse_args(argv)
    rows = [r for r in load(args.files) if r["method"] in SHORT]
    settings = list(dict.fromkeys((r["dataset"], r["noise"]) for r in rows))
    names = [n for n in SHORT if any(r["method"] == n for r in rows)]
    cols = [SHORT[n] for n in names]
    print(
        f"\n{args.metric} (mean ± sd over seeds, %); verdict of the row method against each column"
    )
    print("| setting | method | seeds | mean ± sd | " + " | ".join(f"vs {c}" for c in cols) + " |")
    print("|---" * (4 + len(cols)) + "|")
    for ds, noise in settings:
        here = [r for r in rows if (r["dataset"], r["noise"]) == (ds, noise)]

        def vals(name: str, seeds: set[int] | None = None, here=here) -> dict[int, float]:
            return {
                r["seed"]: float(r.get(args.metric, np.nan))
                for r in here
                if r["method"] == name and (seeds is None or r["seed"] in seeds)
            }

        for n in names:
            mine = {s: v for s, v in vals(n).items() if not np.isnan(v)}
            if len(mine) == 0:
                continue
            v = np.asarray(list(mine.values()))
            sd = f"{v.std(ddof=1) * 100:.1f}" if v.size > 1 else "–"
            cells = []
            for m in names:
                other = {s: x for s, x in vals(m, set(mine)).items() if not np.isnan(x)}
                common = sorted(set(other) & set(mine))
                if m == n or not common:
                    cells.append("–")
                    continue
                cells.append(verdict([mine[s] for s in common], [other[s] for s in common]))
            print(
                f"| {ds} {noise} | {SHORT[n]} | {len(v)} | {v.mean() * 100:.1f} ± {sd} | "
                + " | ".join(cells)
                + " |"
            )


if __name__ == "__main__":
    main()
