"""Judge benchmark: does a judge prefer a clean real window over a degraded copy of itself?

Real windows of length 128 from /work/shared/data/timeseries (ETTh1 OT, exchange_rate,
NAB series, NOAA LCD HourlyDryBulbTemperature FM-15 rows); each gets degraded copies with one
known injected degradation (gaussian noise, spikes, dropouts filled flat, random-walk drift,
quantisation). For every (clean, degraded) pair and criterion both orders are asked through
the judgment cache and calibrated; we report the share of pairs where the calibrated
p(clean better) > 0.5, per criterion, per degradation and overall, plus calls/s and the
cache effect (a second pass over the same pairs).

    .venv/bin/python -m benchmarks.judge_bench --pairs-rubric 200 --pairs-llm 10

Not every degradation must lose on every criterion (drift can add a trend, quantisation
hardly changes a smooth window): the table is a description, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from benchmarks.shared_data import shared_data_dir  # noqa: E402
from ops.tsrating.cache import JudgmentCache, judgment_key  # noqa: E402
from ops.tsrating.judge_base import OK, Answer, Query, calibrate  # noqa: E402
from ops.tsrating.prompts import CRITERIA  # noqa: E402
from ops.tsrating.rubric_judge import RubricJudge  # noqa: E402
from ops.tsrating.serialize import content_hash  # noqa: E402

L = 128
DEGRADATIONS = ("noise", "spikes", "dropout_flat", "drift", "quantise")


def load_series(root: Path) -> dict[str, np.ndarray]:
    ts = root / "timeseries"
    out: dict[str, np.ndarray] = {}
    ett = pl.read_csv(ts / "ett" / "ETTh1.csv")
    out["ETTh1/OT"] = ett["OT"].cast(pl.Float64).to_numpy()
    with gzip.open(ts / "exchange_rate" / "exchange_rate.txt.gz", "rt") as f:
        rates = np.loadtxt(f, delimiter=",")
    for c in (0, 1, 5):
        out[f"exchange_rate/{c}"] = rates[:, c]
    for key in (
        "realTraffic/speed_6005.csv",
        "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv",
        "realTweets/Twitter_volume_AAPL.csv",
        "realTraffic/TravelTime_387.csv",
    ):
        out[f"nab/{key}"] = (
            pl.read_csv(ts / "nab" / "data" / key)["value"].cast(pl.Float64).to_numpy()
        )
    for f in sorted((ts / "noaa_lcd").glob("LCD_*.csv")):
        df = pl.read_csv(f, infer_schema_length=0)
        v = (
            df.filter(pl.col("REPORT_TYPE").str.strip_chars() == "FM-15")[
                "HourlyDryBulbTemperature"
            ]
            .str.strip_chars()
            .str.strip_chars_end("s")
            .cast(pl.Float64, strict=False)
            .to_numpy()
        )
        out[f"noaa/{f.stem.split('_')[-2]}"] = v
    return out


def clean_windows(
    series: dict[str, np.ndarray], n: int, rng: np.random.Generator
) -> list[tuple[str, np.ndarray]]:
    cands = []
    for name, x in series.items():
        for s in range(0, len(x) - L + 1, L):
            w = x[s : s + L]
            if np.isfinite(w).all() and np.std(w) > 0:
                cands.append((f"{name}@{s}", w.astype(np.float64)))
    # balance sources: round-robin over series in a seeded order
    by_src = defaultdict(list)
    for c in cands:
        by_src[c[0].split("@")[0]].append(c)
    for v in by_src.values():
        rng.shuffle(v)
    out, srcs = [], sorted(by_src)
    while len(out) < n and any(by_src.values()):
        for s in srcs:
            if by_src[s] and len(out) < n:
                out.append(by_src[s].pop())
    return out


def degrade(w: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    s = 1.4826 * np.median(np.abs(np.diff(w) - np.median(np.diff(w)))) / np.sqrt(2)
    s = max(s, 0.05 * np.std(w), 1e-9)
    sd = max(np.std(w), 1e-9)
    y = w.copy()
    if kind == "noise":
        y = y + rng.normal(0, 0.5 * sd, L)
    elif kind == "spikes":
        idx = rng.choice(L, 4, replace=False)
        y[idx] += rng.choice([-1, 1], 4) * 4 * sd
    elif kind == "dropout_flat":
        for _ in range(2):
            a = int(rng.integers(1, L - 16))
            y[a : a + 16] = y[a - 1]
    elif kind == "drift":
        y = y + np.cumsum(rng.normal(0, 0.15 * sd, L))
    elif kind == "quantise":
        step = 0.5 * sd
        y = np.round(y / step) * step
    else:
        raise ValueError(kind)
    return y


def ask(judge, cache: JudgmentCache, pairs: list[tuple[np.ndarray, np.ndarray]], criterion: str):
    """Both orders of each (clean, degraded) pair through the cache; p(clean better) per pair."""
    ident = judge.identity(criterion)
    keys, qs = [], {}
    for c, d in pairs:
        kf = judgment_key(ident, criterion, content_hash(d), content_hash(c))  # degraded first
        kb = judgment_key(ident, criterion, content_hash(c), content_hash(d))
        keys.append((kf, kb))
        qs.setdefault(kf, Query(d, c, criterion))
        qs.setdefault(kb, Query(c, d, criterion))
    found = cache.get_many(list(qs))
    miss = [k for k in qs if k not in found]
    answers = {k: Answer.from_json(v) for k, v in found.items()}
    calls = 0
    if miss:
        fresh = judge.judge([qs[k] for k in miss])
        calls = sum(a.calls for a in fresh)
        cache.put_many(
            {
                k: a.to_json()
                for k, a in zip(miss, fresh, strict=True)
                if a.status in ("ok", "unparseable")
            }
        )
        answers.update(zip(miss, fresh, strict=True))
    ps, unparse = [], 0
    for kf, kb in keys:
        f, b = answers[kf], answers[kb]
        unparse += (f.status != OK) + (b.status != OK)
        ps.append(
            calibrate(
                f.prob_second if f.status == OK else None, b.prob_second if b.status == OK else None
            )
        )
    return ps, calls, len(miss), unparse


def run(judge, name: str, windows, rng_seed: int, cache: JudgmentCache, criteria=CRITERIA):
    rng = np.random.default_rng(rng_seed)
    pairs_by_deg = {k: [(w, degrade(w, k, rng)) for _, w in windows] for k in DEGRADATIONS}
    res = {}
    t0 = time.perf_counter()
    tot_calls = tot_q = tot_unp = 0
    for crit in criteria:
        for deg in DEGRADATIONS:
            ps, calls, nq, unp = ask(judge, cache, pairs_by_deg[deg], crit)
            res[(crit, deg)] = ps
            tot_calls += calls
            tot_q += nq
            tot_unp += unp
    t1 = time.perf_counter() - t0
    t0 = time.perf_counter()
    calls2 = 0
    for crit in criteria:
        for deg in DEGRADATIONS:
            _, c2, _, _ = ask(judge, cache, pairs_by_deg[deg], crit)
            calls2 += c2
    t2 = time.perf_counter() - t0
    return {
        "name": name,
        "res": res,
        "calls": tot_calls,
        "queries": tot_q,
        "unparseable": tot_unp,
        "t1": t1,
        "t2": t2,
        "calls2": calls2,
        "n_pairs": len(windows),
        "criteria": criteria,
    }


def share(ps):
    v = [p for p in ps if p is not None]
    return (sum(p > 0.5 for p in v) / len(v)) if v else float("nan"), len(ps) - len(v)


def table(r) -> str:
    crit = r["criteria"]
    lines = [
        f"**{r['name']}**: {r['n_pairs']} clean windows x {len(DEGRADATIONS)} degradations; "
        "share of pairs where the judge prefers the clean window (calibrated p > 0.5)",
        "",
        "| degradation | " + " | ".join(crit) + " | all |",
        "|---|" + "---|" * (len(crit) + 1),
    ]
    for deg in DEGRADATIONS + ("all",):
        cells, allp = [], []
        for c in crit:
            ps = (
                [p for d in DEGRADATIONS for p in r["res"][(c, d)]]
                if deg == "all"
                else r["res"][(c, deg)]
            )
            allp += ps
            sh, nn = share(ps)
            cells.append(f"{sh:.2f}" + (f" ({nn} n/a)" if nn else ""))
        sh, nn = share(allp)
        cells.append(f"{sh:.2f}" + (f" ({nn} n/a)" if nn else ""))
        lines.append(f"| {deg} | " + " | ".join(cells) + " |")
    qps = r["queries"] / r["t1"] if r["t1"] > 0 else float("inf")
    lines += [
        "",
        f"first pass: {r['queries']} ordered queries, {r['calls']} judge calls, "
        f"{r['unparseable']} unparseable/failed, {r['t1']:.1f} s ({qps:.2f} queries/s); "
        f"second pass (cache): {r['calls2']} calls, {r['t2']:.2f} s",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(shared_data_dir()))
    ap.add_argument("--pairs-rubric", type=int, default=200)
    ap.add_argument("--pairs-llm", type=int, default=0, help="clean windows for SmolLM2 (0 = skip)")
    ap.add_argument("--llm-criteria", default=",".join(CRITERIA))
    ap.add_argument(
        "--llm-prec", type=int, default=2, help="serialisation digits for SmolLM2 (short prompts)"
    )
    ap.add_argument("--llm-path", choices=["always", "never"], default="always")
    ap.add_argument("--cache", default=None, help="SQLite cache (default: a fresh temporary file)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="judge_bench_")
    cache = JudgmentCache(a.cache or Path(tmp) / "judgments.sqlite")
    series = load_series(Path(a.data))
    wins = clean_windows(series, max(a.pairs_rubric, a.pairs_llm), np.random.default_rng(a.seed))
    print(f"{len(series)} series, {len(wins)} clean windows of length {L}\n")
    print(
        table(
            run(
                RubricJudge(), "rubric judge (rubric-v1)", wins[: a.pairs_rubric], a.seed + 1, cache
            )
        )
    )
    sys.stdout.flush()
    if a.pairs_llm:
        from ops.tsrating.llm_judge import LLMJudge, LLMJudgeConfig
        from ops.tsrating.local_llm import SmolLM2, register_local_provider

        t0 = time.perf_counter()
        model = register_local_provider()
        print(f"SmolLM2 load + litellm import: {time.perf_counter() - t0:.1f} s")
        j = LLMJudge(
            LLMJudgeConfig(
                model=model,
                use_logprobs=a.llm_path,
                top_logprobs=20,
                n_votes=10,
                min_valid_votes=1,
                prec=a.llm_prec,
                max_concurrency=1,
                timeout_s=600,
            )
        )
        crit = tuple(a.llm_criteria.split(","))
        # llm windows: a spread over sources (every k-th of the balanced list)
        step = max(1, len(wins[: a.pairs_rubric]) // a.pairs_llm)
        lw = wins[::step][: a.pairs_llm]
        print(
            table(
                run(
                    j,
                    f"SmolLM2-135M-Instruct via litellm ({model}, path={a.llm_path}, "
                    f"prec={a.llm_prec})",
                    lw,
                    a.seed + 1,
                    cache,
                    crit,
                )
            )
        )
        rb = run(RubricJudge(), "rubric judge on the same windows", lw, a.seed + 1, cache, crit)
        print(table(rb))
        _ = SmolLM2


if __name__ == "__main__":
    main()
