"""The bundled demo's label cleaning against its injected noise (``noise_truth.csv``).

Prints, for the scored pool (untrusted train rows) of ``data/samples/images/digits_noisy``:
rows, injected flips, flagged, detection precision / recall / F1, relabeled (and how many of
them are right), dropped, kept share, label accuracy over **all** pool rows (a dropped row
counts as not correct) against the given labels', and the accuracy of the kept rows only.

    make demo && .venv/bin/python -m benchmarks.labels_demo_truth      # the demo's labels.parquet
    .venv/bin/python -m benchmarks.labels_demo_truth --run            # clean the sample here
    .venv/bin/python -m benchmarks.labels_demo_truth --run --seeds 0,1,2

``--run`` calls ``clean_labels`` with the default configuration (what ``make demo`` runs) on the
sample folder, once per seed; without it the script reads ``labels.parquet`` that the demo wrote
under ``$SIEVE_DATA_DIR/clean/images/digits_noisy`` (default ``data/``). Sieve never reads
``noise_truth.csv``; only this script does.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import polars as pl

from ops.contracts import DROPPED, RELABELED

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "samples" / "images" / "digits_noisy"


def truth_metrics(frame: pl.DataFrame, truth: pl.DataFrame) -> dict[str, float]:
    """The pool metrics of a ``labels.parquet``-shaped frame against ``image, true_label``."""
    f = frame.join(truth, on="image", how="inner")
    pool = f.filter(~pl.col("trusted") & (pl.col("split") == "train"))
    if "quarantine_reason" in pool.columns:
        pool = pool.filter(pl.col("quarantine_reason").is_null())
    given = pool["given_label"].to_numpy()
    true = pool["true_label"].to_numpy()
    clean = pool["clean_label"].to_numpy()
    act = pool["action"].to_numpy()
    flag = pool["is_label_issue"].to_numpy()
    wrong = given != true
    kept = act != DROPPED
    relab = act == RELABELED
    tp = int(np.sum(flag & wrong))
    prec = tp / max(1, int(flag.sum()))
    rec = tp / max(1, int(wrong.sum()))
    return {
        "pool_rows": float(len(pool)),
        "flips": float(wrong.sum()),
        "flagged": float(flag.sum()),
        "precision": prec,
        "recall": rec,
        "f1": 2 * prec * rec / max(prec + rec, 1e-12),
        "relabeled": float(relab.sum()),
        "relabeled_right": float(np.sum(relab & (clean == true))),
        "dropped": float((~kept).sum()),
        "kept_share": float(kept.mean()),
        "all_row_acc": float(np.mean((clean == true) & kept)),
        "given_acc": float(np.mean(~wrong)),
        "kept_acc": float(np.mean((clean == true)[kept])) if kept.any() else float("nan"),
    }


def _line(tag: str, m: dict[str, float]) -> str:
    return (
        f"| {tag} | {int(m['pool_rows'])} | {int(m['flips'])} | {int(m['flagged'])} | "
        f"{m['precision']:.3f} / {m['recall']:.3f} / {m['f1']:.3f} | {int(m['relabeled'])} "
        f"({int(m['relabeled_right'])} right) | {int(m['dropped'])} | "
        f"{100 * m['kept_share']:.1f} | "
        f"**{100 * m['all_row_acc']:.1f}** | {100 * m['given_acc']:.1f} | "
        f"{100 * m['kept_acc']:.1f} |"
    )


HEADER = (
    "| run | pool rows | injected flips | flagged | P / R / F1 | relabeled | dropped | kept % | "
    "all-row acc % | given acc % | kept-only acc % |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="store_true", help="clean the sample here (default config)")
    ap.add_argument("--seeds", default="0", help="with --run: comma-separated seeds")
    ap.add_argument("--labels", type=Path, default=None, help="a labels.parquet to score")
    args = ap.parse_args(argv)
    truth = pl.read_csv(SAMPLE / "noise_truth.csv", schema_overrides={"true_label": pl.Utf8})
    print(HEADER)
    if not args.run:
        from ops.paths import data_root

        path = args.labels or data_root() / "clean" / "images" / "digits_noisy" / "labels.parquet"
        if not path.is_file():
            raise SystemExit(f"{path} not found: run `make demo` first, or pass --run")
        print(_line(str(path.name), truth_metrics(pl.read_parquet(path), truth)))
        return 0
    from ops.labels.clean import LabelCleaningConfig, clean_labels

    manifest = pl.read_csv(SAMPLE / "labels.csv", schema_overrides={"label": pl.Utf8})
    classes = (SAMPLE / "classes.txt").read_text().split()
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        t = time.perf_counter()
        frame, summary = clean_labels(
            manifest, SAMPLE, classes, config=LabelCleaningConfig(seed=seed)
        )
        m = truth_metrics(frame, truth)
        rows.append(m)
        print(_line(f"seed {seed} ({time.perf_counter() - t:.0f} s)", m), flush=True)
    if len(rows) > 1:
        for k in ("all_row_acc", "kept_share", "f1"):
            v = np.array([r[k] for r in rows]) * 100
            print(f"{k}: {v.mean():.1f} ± {v.std(ddof=1):.1f} over {len(v)} seeds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
