"""TSRating rater benchmark: held-out agreement across real domains, and the downstream proof.

Judge = the offline **rubric surrogate** (ops.tsrating.rubric_judge), not an LLM: agreement numbers
measure how well the rater learns *that* judge from pairs through features that exclude the
rubric's own statistics.

Part 1 (agreement): per domain, windows (128, stride 64, up to --windows-per-domain), rubric
judgments (judge_windows, both orders, confident pairs), 20 % of the confident pairs held out.
Rows: (a) target-only rater on the other 80 %; (b) meta-trained on the other domains, adapted with
--shots pairs; (c) meta-trained, no adaptation; (d) random init + the same --shots fine-tune.

Part 2 (downstream): ETTh1 OT and exchange-rate series 0; 70/10/20 split; StandardScaler on the
train span; stride-1 windows of 128 = samples (96 -> 32) of a least-squares linear forecaster. The
rater is trained on rubric judgments of a random subset of training windows and scores them all;
train on top 50 % / random 50 % / bottom 50 % / all; test RMSE on the untouched test span. Then
the same with a share of the train span degraded (noise bursts, spikes, flat-lines).

    .venv/bin/python -m benchmarks.rater_bench            # both parts
    .venv/bin/python -m benchmarks.rater_bench --part agreement --meta-iters 30
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

from benchmarks.shared_data import shared_data_dir
from ops.tsrating.cache import JudgmentCache
from ops.tsrating.encoder import FeatureEncoder
from ops.tsrating.judging import judge_windows
from ops.tsrating.meta import Domain, MetaConfig, evaluate, few_shot_adapt, meta_train
from ops.tsrating.pairs import PairConfig
from ops.tsrating.prompts import CRITERIA
from ops.tsrating.rater import (
    RaterConfig,
    RaterHead,
    fit_rater,
    mix_scores,
    pairs_from_judgments,
    split_pairs,
    standardize,
)

DATA = shared_data_dir() / "timeseries"


def load_domains() -> dict[str, list[np.ndarray]]:
    d: dict[str, list[np.ndarray]] = {}
    ett = pl.read_csv(DATA / "ett" / "ETTh1.csv")
    d["ett"] = [ett[c].to_numpy().astype(float) for c in ett.columns[1:]]
    with gzip.open(DATA / "exchange_rate" / "exchange_rate.txt.gz", "rt") as f:
        ex = np.loadtxt(f, delimiter=",")
    d["exchange"] = [ex[:, i] for i in range(ex.shape[1])]
    for name, sub in (
        ("nab_traffic", "realTraffic"),
        ("nab_aws", "realAWSCloudwatch"),
        ("nab_tweets", "realTweets"),
    ):
        d[name] = [
            pl.read_csv(p)["value"].to_numpy().astype(float)
            for p in sorted((DATA / "nab" / "data" / sub).glob("*.csv"))
        ]
    noaa = []
    for p in sorted((DATA / "noaa_lcd").glob("*.csv")):
        f = pl.read_csv(p, infer_schema=False).filter(
            pl.col("REPORT_TYPE").str.strip_chars() == "FM-15"
        )
        for col in (
            "HourlyDryBulbTemperature",
            "HourlyRelativeHumidity",
            "HourlyStationPressure",
            "HourlyWindSpeed",
        ):
            noaa.append(f[col].cast(pl.Float64, strict=False).to_numpy().astype(float))
    d["noaa"] = noaa
    return d


def cut(series: list[np.ndarray], length=128, stride=64) -> np.ndarray:
    out = [s[i : i + length] for s in series for i in range(0, len(s) - length + 1, stride)]
    return np.stack(out)


def judge(X: np.ndarray, cache: JudgmentCache, seed: int = 0, ratio: float = 1.0) -> pl.DataFrame:
    from ops.tsrating.rubric_judge import RubricJudge

    ids = [f"w{i}" for i in range(len(X))]
    frame, _ = judge_windows(
        X,
        ids,
        RubricJudge(),
        pairs=PairConfig(pairs_per_window=ratio, seed=seed, max_pairs=20 * len(X)),
        cache=cache,
    )
    return frame


def agreement(args) -> None:
    rng = np.random.default_rng(0)
    enc = FeatureEncoder()
    doms = {}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        cache = JudgmentCache(Path(tmp) / "c.sqlite")
        for name, series in load_domains().items():
            W = cut(series)
            if len(W) > args.windows_per_domain:
                W = W[np.sort(rng.choice(len(W), args.windows_per_domain, replace=False))]
            j = judge(W, cache, ratio=args.pairs_per_window)
            pairs = pairs_from_judgments(j, [f"w{i}" for i in range(len(W))])
            doms[name] = (standardize(enc.encode(W)), pairs)
            print(
                f"# {name}: {len(W)} windows, confident pairs "
                + ", ".join(f"{c} {len(p)}" for c, p in pairs.items()),
                f"({time.time() - t0:.0f}s)",
                flush=True,
            )
    rcfg = RaterConfig(hidden=args.hidden)
    mcfg = MetaConfig(meta_iters=args.meta_iters, hidden=args.hidden, seed=0)
    rows = []
    for target, (F, pairs) in doms.items():
        sources = [Domain(n, f, p) for n, (f, p) in doms.items() if n != target]
        heads, _ = meta_train(sources, mcfg)
        for k, c in enumerate(CRITERIA):
            train, test = split_pairs(pairs[c], 0.2, seed=100 + k)
            if len(test) < 5:
                continue
            rater, _ = fit_rater(
                F, {c: train}, RaterConfig(hidden=args.hidden, val_share=0.0, min_pairs=1)
            )
            acc_a = evaluate(rater.heads[c], F, test)
            shot = train.take(np.random.default_rng(k).permutation(len(train))[: args.shots])
            acc_b = evaluate(few_shot_adapt(heads[c], F, shot, lr=args.adapt_lr, seed=k), F, test)
            acc_c = evaluate(heads[c], F, test)
            torch.manual_seed(k)
            acc_d = evaluate(
                few_shot_adapt(
                    RaterHead(F.shape[1], args.hidden), F, shot, lr=args.adapt_lr, seed=k
                ),
                F,
                test,
            )
            rows.append(
                {
                    "dataset": target,
                    "criterion": c,
                    "n_train": len(train),
                    "n_test": len(test),
                    "a_target_only": acc_a,
                    "b_meta_adapted": acc_b,
                    "c_meta_no_adapt": acc_c,
                    "d_random_init_adapted": acc_d,
                }
            )
            print(rows[-1], f"({time.time() - t0:.0f}s)", flush=True)
    df = pl.DataFrame(rows)
    _print_table(
        df, "held-out pairwise agreement with the rubric judge (share of held-out confident pairs)"
    )
    means = df.select([pl.col(c).mean() for c in df.columns if c[1] == "_"])
    _print_table(means, "mean over datasets x criteria")
    del rcfg


def _print_table(df: pl.DataFrame, title: str) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(df.columns) + " |")
    print("|" + "---|" * len(df.columns))
    for r in df.iter_rows():
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r) + " |")


def degrade(x: np.ndarray, share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt about ``share`` of x with segments (length 48-160) of noise, spikes or flat-line."""
    y, bad = x.copy(), np.zeros(len(x), bool)
    sd = np.std(x)
    while bad.mean() < share:
        L = int(rng.integers(48, 160))
        s = int(rng.integers(0, len(x) - L))
        kind = rng.integers(3)
        if kind == 0:
            y[s : s + L] += rng.normal(0, 1.5 * sd, L)
        elif kind == 1:
            idx = s + rng.choice(L, max(2, L // 10), replace=False)
            y[idx] += rng.choice([-1, 1], len(idx)) * rng.uniform(4, 8, len(idx)) * sd
        else:
            y[s : s + L] = y[s]
        bad[s : s + L] = True
    return y, bad


def linear_rmse(train: np.ndarray, test: np.ndarray) -> float:
    X, Y = train[:, :96], train[:, 96:]
    Xa = np.hstack([X, np.ones((len(X), 1))])
    W = np.linalg.solve(Xa.T @ Xa + 1e-1 * np.eye(97), Xa.T @ Y)
    P = np.hstack([test[:, :96], np.ones((len(test), 1))]) @ W
    return float(np.sqrt(np.mean((P - test[:, 96:]) ** 2)))


def downstream(args) -> None:
    d = load_domains()
    targets = {"ETTh1.OT": d["ett"][-1], "exchange.0": d["exchange"][0]}
    enc = FeatureEncoder()
    rows = []
    t0 = time.time()
    for name, x in targets.items():
        n = len(x)
        n_tr, n_va = int(0.7 * n), int(0.1 * n)
        for share in args.degrade:
            for seed in range(args.seeds):
                rng = np.random.default_rng(seed)
                tr_raw = x[:n_tr]
                bad = np.zeros(n_tr, bool)
                if share > 0:
                    tr_raw, bad = degrade(tr_raw, share, rng)
                mu, sd = tr_raw.mean(), tr_raw.std()
                tr = (tr_raw - mu) / sd
                te = (x[n_tr + n_va :] - mu) / sd  # untouched test span, train scaler
                Wtr = np.lib.stride_tricks.sliding_window_view(tr, 128)
                Wte = np.lib.stride_tricks.sliding_window_view(te, 128)
                wbad = np.array([bad[i : i + 128].any() for i in range(len(Wtr))])
                sub = np.sort(rng.choice(len(Wtr), min(args.judged, len(Wtr)), replace=False))
                F = standardize(enc.encode(Wtr))
                with tempfile.TemporaryDirectory() as tmp:
                    j = judge(Wtr[sub], JudgmentCache(Path(tmp) / "c.sqlite"), seed=seed)
                pj = pairs_from_judgments(j, [f"w{i}" for i in range(len(sub))])
                # map judged-subset indices onto all training windows
                from ops.tsrating.rater import Pairs

                pairs = {c: Pairs(sub[p.a], sub[p.b], p.p) for c, p in pj.items()}
                rater, rep = fit_rater(F, pairs, RaterConfig(hidden=args.hidden, seed=seed))
                q = mix_scores(rater.score(F), list(rater.heads))["quality"]
                order = np.argsort(-q, kind="stable")
                half = len(q) // 2
                sel = {
                    "top50": order[:half],
                    "random50": rng.permutation(len(q))[:half],
                    "bottom50": order[-half:],
                    "all": np.arange(len(q)),
                }
                res = {k: linear_rmse(Wtr[v], Wte) for k, v in sel.items()}
                auroc = _auroc(-q, wbad) if wbad.any() and not wbad.all() else None
                rows.append(
                    {
                        "series": name,
                        "degraded_share": share,
                        "seed": seed,
                        **res,
                        "bad_in_top50": float(wbad[sel["top50"]].mean()),
                        "bad_in_random50": float(wbad[sel["random50"]].mean()),
                        "auroc_low_quality_vs_corrupted": auroc,
                        "heldout_acc_mean": float(
                            np.mean(
                                [
                                    r["val_accuracy"]
                                    for r in rep.values()
                                    if r["val_accuracy"] is not None
                                ]
                            )
                        ),
                    }
                )
                print(rows[-1], f"({time.time() - t0:.0f}s)", flush=True)
    df = pl.DataFrame(rows)
    agg = df.group_by(["series", "degraded_share"], maintain_order=True).agg(
        *[
            pl.format("{} ± {}", pl.col(k).mean().round(4), pl.col(k).std().round(4)).alias(k)
            for k in ("top50", "random50", "bottom50", "all")
        ],
        pl.col("bad_in_top50").mean().round(3),
        pl.col("bad_in_random50").mean().round(3),
        pl.col("auroc_low_quality_vs_corrupted").mean().round(3),
        pl.col("heldout_acc_mean").mean().round(3),
        pl.len().alias("seeds"),
    )
    _print_table(
        agg,
        "downstream: test RMSE (standardised) of a linear 96->32 forecaster, mean ± sd over seeds",
    )


def _auroc(score: np.ndarray, label: np.ndarray) -> float:
    from scipy.stats import rankdata

    r = rankdata(score)
    npos, nneg = label.sum(), (~label).sum()
    return float((r[label].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["agreement", "downstream", "both"], default="both")
    ap.add_argument("--windows-per-domain", type=int, default=300)
    ap.add_argument("--pairs-per-window", type=float, default=1.0)
    ap.add_argument("--meta-iters", type=int, default=30)
    ap.add_argument("--shots", type=int, default=50)
    ap.add_argument("--adapt-lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument(
        "--judged", type=int, default=1500, help="training windows judged per run (downstream)"
    )
    ap.add_argument("--degrade", type=float, nargs="+", default=[0.0, 0.3])
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"# args: {vars(args)}")
    if args.part in ("agreement", "both"):
        agreement(args)
    if args.part in ("downstream", "both"):
        downstream(args)


if __name__ == "__main__":
    main()
