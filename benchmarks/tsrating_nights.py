"""Night over night: do flags of unchanged windows stay put when a dataset grows?

    .venv/bin/python -m benchmarks.tsrating_nights [--split tuning|heldout|fresh] [--seeds 2]

Per domain, seed and scenario (``clean``: the untouched series; ``faults``: all 12 simulated
and 3 never-simulated families on 20 % of the points, as ``tsrating_faults auc``), three nights
see the first 80 %, 90 % and 100 % of every series (each night the same points plus 10 % more,
the way a nightly feed grows). Two ways of scoring them:

- ``refit``: every night fits its own rater (Sieve before ``rater_state``);
- ``kept``: night 1 fits, nights 2 and 3 score with night 1's kept rater (the default since;
  ``refit_growth`` 2.0 never triggers at 1.25×).

Counted on the windows that exist on consecutive nights (their points did not change): flags
that appear (**new**) and disappear (**resolved**), summed over the two transitions. That is
what the nightly report's new-issue diff would show, so on unchanged windows it should be 0.
On night 3: recall on degraded windows, false-positive rate on clean windows and the AUC of
``quality_rank`` (degraded vs clean), to show what keeping the rater costs in detection.
Results: ``benchmarks/results/tsrating_nights_<split>.json`` and a markdown table.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import polars as pl

from benchmarks.tsrating_faults import ALL_FAMS, RESULTS, auc, eval_set, frames, split_domains
from ops.tsrating.scoring import ScoringConfig, ScoringResult, score_windows

NIGHTS = (0.8, 0.9, 1.0)


def _score(xs, seed: int, kept=None) -> ScoringResult:
    points, windows = frames(xs)
    return score_windows(
        windows, points, pl.DataFrame(), config=ScoringConfig(seed=seed), kept=kept
    )


def _flags(res: ScoringResult) -> dict[str, bool]:
    return dict(res.scores.select("window_id", "is_low_quality_issue").iter_rows())


def _changes(before: dict[str, bool], after: dict[str, bool]) -> tuple[int, int]:
    common = before.keys() & after.keys()
    new = sum(after[w] and not before[w] for w in common)
    resolved = sum(before[w] and not after[w] for w in common)
    return new, resolved


def run_cell(xs: list[np.ndarray], lab: np.ndarray, seed: int) -> dict[str, dict]:
    """Both modes over the three nights of one corrupted (or untouched) domain."""
    nights = [[x[: int(round(len(x) * f))] for x in xs] for f in NIGHTS]
    out = {}
    for mode in ("refit", "kept"):
        results, kept = [], None
        for i, night in enumerate(nights):
            res = _score(night, seed, kept=kept if mode == "kept" else None)
            if mode == "kept" and i == 0:
                kept = res.state
            results.append(res)
        flags = [_flags(r) for r in results]
        moves = [_changes(a, b) for a, b in zip(flags, flags[1:], strict=False)]
        last = results[-1].scores
        fl = last["is_low_quality_issue"].to_numpy()
        out[mode] = {
            "flags_night1": int(sum(flags[0].values())),
            "flags_night3": int(fl.sum()),
            "new": sum(m[0] for m in moves),
            "resolved": sum(m[1] for m in moves),
            "reused": [bool(r.report["state"]["reused"]) for r in results],
            "recall": float(fl[lab == 1].mean()) if (lab == 1).any() else None,
            "fpr": float(fl[lab == 0].mean()),
            "auc": auc(-last["quality_rank"].to_numpy().astype(float), lab)
            if (lab == 1).any()
            else None,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=["heldout", "tuning", "fresh"], default="tuning")
    ap.add_argument("--fresh", default=None, help="folder with the unpacked fresh-split wheels")
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    doms = {k: v for k, v in split_domains(args).items() if k != "co2_sunspots"}
    rows = []
    for dname, dom in doms.items():
        for scenario in ("clean", "faults"):
            for seed in range(args.seeds):
                fams = ALL_FAMS if scenario == "faults" else []
                xs, lab, _ = eval_set(dom, fams, seed=2000 + seed)
                cell = run_cell(xs, lab, seed)
                rows.append({"domain": dname, "scenario": scenario, "seed": seed, **cell})
                print(json.dumps(rows[-1]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"tsrating_nights_{args.split}.json").write_text(json.dumps(rows, indent=1))
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    def cell(v, f="{:.3f}"):
        return "–" if v is None else f.format(v)

    print(
        "\n| domain | data | flags night 1 | new + resolved on unchanged windows, refit | "
        "kept | night-3 recall refit / kept | FPR refit / kept | AUC refit / kept |"
    )
    print("|---|---|---|---|---|---|---|---|")
    keys = sorted({(r["domain"], r["scenario"]) for r in rows}, key=lambda k: (k[0], k[1]))
    for d, sc in keys:
        rs = [r for r in rows if r["domain"] == d and r["scenario"] == sc]

        def tot(mode, k, rs=rs):
            return sum(r[mode][k] for r in rs)

        def mean(mode, k, rs=rs):
            v = [r[mode][k] for r in rs if r[mode][k] is not None]
            return float(np.mean(v)) if v else None

        print(
            f"| {d} | {sc} | {tot('refit', 'flags_night1')} | "
            f"{tot('refit', 'new')} + {tot('refit', 'resolved')} | "
            f"{tot('kept', 'new')} + {tot('kept', 'resolved')} | "
            f"{cell(mean('refit', 'recall'), '{:.2f}')} / "
            f"{cell(mean('kept', 'recall'), '{:.2f}')} | "
            f"{cell(mean('refit', 'fpr'))} / {cell(mean('kept', 'fpr'))} | "
            f"{cell(mean('refit', 'auc'))} / {cell(mean('kept', 'auc'))} |"
        )
    for mode in ("refit", "kept"):
        moved = sum(r[mode]["new"] + r[mode]["resolved"] for r in rows)
        flags = sum(r[mode]["flags_night1"] for r in rows)
        print(f"{mode}: {moved} flag changes on unchanged windows ({flags} flags on night 1)")


if __name__ == "__main__":
    main()
