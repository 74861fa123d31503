"""Label-cleaning benchmark: CE(+trusted), cleanlab out-of-fold, cleanlab trusted-model, oracle,
and the meta-learned methods (MW-Net scalar weights, VRI kl_mode variants, RST with/without the
convex combination; ops/labels/{mwnet,vri,rst}.py).

One fair protocol (docs/labels.md §8): same SmallCNN, epochs, optimiser, cosine lr, batch
size and augmentation for every method; a trusted set of 10 per class drawn (seeded) before
noise and merged into every retraining; headline = test accuracy at the LAST epoch (Best is
diagnostic only and never used to select anything).

    .venv/bin/python -m benchmarks.labels_bench --quick
    .venv/bin/python -m benchmarks.labels_bench --seeds 5 --datasets digits,usps,cifar10n
    .venv/bin/python -m benchmarks.labels_bench --datasets digits,usps --noises asym0.4,inst0.4 \
        --methods ce,cleanlab,mwnet,vri,vri_det,rst,rst_nocvx

VRI/MW-Net use the trusted set as meta data, RST as corrector data; their test accuracy is that
of the model they train end to end (no retraining); "cleaned-label acc" applies the registered
methods' policy (flag = top class != given label, then ``rectify`` relabels at >= 0.9 or drops).

``--methods cleanlab`` emits four rows per setting: "cleanlab OOF" (the default of
``clean_labels``: out-of-fold probabilities, then the refinement rounds of ops/labels/refine.py,
then the policy), "cleanlab OOF, no refinement" (its round 0 alone, computed once and shared),
"cleanlab trusted", and the fixed 0.9 rule on the round-0 / trusted-model probabilities.

Prints one markdown table (mean ± sd over seeds) and, per setting, the cleaned-label
accuracy under several relabel thresholds (evidence for ``RectifyConfig`` defaults).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import zipfile
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from benchmarks.shared_data import shared_images_dir
from ops.labels.backbones import BackboneConfig, EmbeddingSource
from ops.labels.images import ArrayImageDataset
from ops.labels.methods import MethodContext, get_method
from ops.labels.mwnet import train_mwnet
from ops.labels.noise import draw_trusted, inject_noise
from ops.labels.policy import PolicyConfig, decide
from ops.labels.rectify import DROPPED, RELABELED, RectifyConfig, rectify
from ops.labels.refine import refine_oof
from ops.labels.rst import RSTConfig, train_rst
from ops.labels.training import predict_featnet, predict_proba, train_model
from ops.labels.vri import VRIConfig, rectifier_stats, train_vri

SHARED = shared_images_dir()
NOISES = ("sym0.2", "sym0.4", "sym0.6", "asym0.4", "inst0.4")
CIFAR_NOISES = ("aggre", "worse")
METHOD_ROWS = ("CE + trusted", "cleanlab OOF", "cleanlab trusted", "oracle (clean labels)")
_VRI = VRIConfig()
OOF_ROUND0 = "cleanlab OOF, no refinement"
"""The default's first round alone (``PolicyConfig(refine_rounds=0)``): the ablation row."""
META_METHODS = {  # --methods key -> (row name, trainer kind, settings)
    "mwnet": ("MW-Net (scalar, look-ahead)", "mwnet", None),
    # the default (lam 1e-5, meta lr 3e-4 since 2026-12-01: benchmarks/labels_tune_vri.py)
    "vri": (f"VRI outer (lam {_VRI.lam:g}, meta lr {_VRI.meta_lr:g})", "vri", _VRI),
    # the ablations keep the meta lr they ran with (1e-3, the default until 2026-12-01)
    "vri_lam1e-4": ("VRI outer (lam 1e-4)", "vri", VRIConfig(lam=1e-4, meta_lr=1e-3)),
    "vri_lam1e-2": (
        "VRI outer (lam 1e-2, default until 2026-11-26)",
        "vri",
        VRIConfig(lam=1e-2, meta_lr=1e-3),
    ),
    "vri_lam1e-3": ("VRI outer (lam 1e-3)", "vri", VRIConfig(lam=1e-3, meta_lr=1e-3)),
    "vri_inner": (
        "VRI inner (lam 1e-4)",
        "vri",
        VRIConfig(kl_mode="inner", lam=1e-4, meta_lr=1e-3),
    ),
    "vri_det_nometa": (
        "VRI deterministic, meta lr 1e-12 (no meta-learning)",
        "vri",
        VRIConfig(kl_mode="deterministic", meta_lr=1e-12),
    ),
    "vri_det_mlr1e-2": (
        "VRI deterministic, meta lr 1e-2",
        "vri",
        VRIConfig(kl_mode="deterministic", meta_lr=1e-2),
    ),
    "vri_inert": (
        "VRI inert (released code)",
        "vri",
        VRIConfig(kl_mode="inert", lam=1e-4, meta_lr=1e-3),
    ),
    "vri_det": ("VRI deterministic", "vri", VRIConfig(kl_mode="deterministic", meta_lr=1e-3)),
    "rst": ("RST (convex combination)", "rst", RSTConfig()),
    "rst_nocvx": ("RST, no convex combination", "rst", RSTConfig(convex=False)),
}
# "<key>_retrain": run meta method <key> once and emit two rows: its own model, and a model
# retrained (same recipe, + trusted) on its rectified labels -- what a Sieve user does downstream
# with labels.parquet
RETRAIN = {f"{k}_retrain": k for k in ("rst", "vri", "vri_lam1e-4")}
ALL_METHODS = "ce,cleanlab,oracle," + ",".join(META_METHODS) + "," + ",".join(RETRAIN)
# the README table's methods; the VRI/RST variants above are ablations, run only when named
DEFAULT_METHODS = "ce,cleanlab,rst_retrain,vri_retrain,mwnet,oracle"
THRESHOLDS = (0.5, 0.7, 0.9, 1.01)  # 1.01 = never relabel (drop every flagged row)

# per-dataset recipe, sized for a 2-core CPU: with the default methods, one seed of one setting took
# roughly 2 min (digits), 5 min (USPS), 20 min (CIFAR-10N subset, --epochs-scale 0.5) at 1 thread
# with 2-3 benchmark processes sharing the 2 cores (2026-11-26 runs, README_labels.md)
RECIPE = {
    "digits": dict(epochs=20, width=16, batch_size=64),
    "usps": dict(epochs=8, width=16, batch_size=128),
    "cifar10n": dict(epochs=3, width=16, batch_size=128),
}


def load_digits_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16 * 255).round().astype(np.uint8)
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
    return xtr, ytr, xte, yte, None


def load_usps():
    import h5py

    with h5py.File(SHARED / "usps" / "usps.h5", "r") as f:
        xtr = f["train/data"][:].reshape(-1, 16, 16)
        ytr = f["train/target"][:].astype(np.int64)
        xte = f["test/data"][:].reshape(-1, 16, 16)
        yte = f["test/target"][:].astype(np.int64)
    to8 = lambda a: np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)  # noqa: E731
    return to8(xtr), ytr, to8(xte), yte, None


def read_cifar_zip(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    images, index = [], []
    with zipfile.ZipFile(path) as zf:
        for name in sorted(zf.namelist()):
            index.append(int(name[:-4]))
            images.append(np.asarray(Image.open(io.BytesIO(zf.read(name))).convert("RGB")))
    return np.stack(images), np.asarray(index)


def load_cifar10n():
    xtr, idx = read_cifar_zip(SHARED / "cifar10n" / "cifar10_train_00000-09999_jpg.zip")
    lab = np.load(SHARED / "cifar10n" / "cifar10n_labels_50000.npz")
    xte, idt = read_cifar_zip(SHARED / "cifar10_test" / "cifar10_test_00000-09999_jpg.zip")
    yte = np.load(SHARED / "cifar10_test" / "cifar10_test_original_labels.npy").astype(np.int64)[
        idt
    ]
    human = {k: lab[f"{k}_label"][idx].astype(np.int64) for k in CIFAR_NOISES}
    return xtr, lab["clean_label"][idx].astype(np.int64), xte, yte, human


LOADERS = {"digits": load_digits_data, "usps": load_usps, "cifar10n": load_cifar10n}


def label_metrics(actions, clean, flag, pool, ytr, given):
    """Honest label metrics over the pool: all-row accuracy (a dropped row counts as not
    correct), kept share, kept-only accuracy, relabel accuracy, detection P/R/F1."""
    a, c, f = np.asarray(actions)[pool], np.asarray(clean)[pool], np.asarray(flag)[pool]
    truth, err = ytr[pool], given[pool] != ytr[pool]
    kept = a != DROPPED
    relab = a == RELABELED
    tp = int(np.sum(f & err))
    prec, rec = tp / max(int(f.sum()), 1), tp / max(int(err.sum()), 1)
    return dict(
        prec=prec,
        rec=rec,
        f1=2 * prec * rec / max(prec + rec, 1e-12),
        all_acc=float(np.mean((c == truth) & kept)),
        kept_share=float(kept.mean()),
        clean_acc=float(np.mean((c == truth)[kept])) if kept.any() else np.nan,
        relabel_acc=float(np.mean((c == truth)[relab])) if relab.any() else np.nan,
        n_relabeled=int(relab.sum()),
        n_dropped=int((~kept).sum()),
    )


def run_setting(name, data, noise, seed, base_cfg, k, log, methods=None, labels_only=False):
    methods = tuple(ALL_METHODS.split(",")) if methods is None else methods
    xtr, ytr, xte, yte, human = data
    n_tr, C = len(ytr), 10
    x_all = np.concatenate([xtr, xte])
    # (N, D) float vectors (pretrained features: benchmarks/labels_photos.py) or images
    src = EmbeddingSource(x_all) if x_all.ndim == 2 else ArrayImageDataset(x_all)
    test_idx = np.arange(n_tr, n_tr + len(yte))
    trusted = draw_trusted(ytr, 10, seed=seed, n_classes=C)
    pool = np.setdiff1d(np.arange(n_tr), trusted)
    given = ytr.copy()
    if human is not None:
        given[pool] = human[noise][pool]  # trusted rows keep their clean labels
    else:
        kind, rate = noise[:-3], float(noise[-3:])
        feats = xtr[pool].reshape(len(pool), -1).astype(np.float64) / 255.0
        given[pool] = inject_noise(
            ytr[pool], kind, rate, C, seed=seed + 1000, features=feats
        ).labels
    actual = float(np.mean(given[pool] != ytr[pool]))
    err = given[pool] != ytr[pool]
    labels_all = np.concatenate([given, yte])  # test labels are never used for training/cleaning
    cfg = base_cfg

    def fit_eval(train_rows, train_labels, tag):
        if labels_only:
            return np.nan, np.nan
        accs = []

        def cb(ep, model):
            p = predict_proba(model, src, test_idx, cfg, batch_size=1024)
            accs.append(float(np.mean(p.argmax(1) == yte)))

        train_model(
            src, train_rows, train_labels, C, cfg, seed=seed, epoch_callback=cb, progress=None
        )
        log(f"  {tag}: last {accs[-1]:.3f}")
        return max(accs), accs[-1]

    rows = []
    t = time.perf_counter()
    all_tr = np.arange(n_tr)
    if "ce" in methods:
        best, last = fit_eval(all_tr, given, "CE + trusted")
        rows.append(
            dict(
                method="CE + trusted",
                prec=np.nan,
                rec=np.nan,
                f1=np.nan,
                all_acc=1 - actual,
                kept_share=1.0,
                clean_acc=1 - actual,
                best=best,
                last=last,
                wall=time.perf_counter() - t,
            )
        )
    thr_rows = []
    ctx = MethodContext(
        source=src,
        labels=labels_all,
        pool_idx=pool,
        trusted_idx=trusted,
        test_idx=np.zeros(0, np.int64),
        n_classes=C,
        backbone=cfg,
        k_folds=k,
        seed=seed,
    )

    def run_cleanlab(mname):
        """(result, seconds): round 0 of OOF (no refinement), OOF refined from that round 0
        (the default), or the trusted-model method."""
        t = time.perf_counter()
        if mname == OOF_ROUND0:
            ctx0 = replace(ctx, options={"policy": PolicyConfig(refine_rounds=0)})
            res = get_method("cleanlab_oof")(ctx0)
            round0[0] = (res, time.perf_counter() - t)
            return round0[0]
        if mname == "cleanlab OOF":
            res0, t0 = round0[0]
            return refine_oof(ctx, res0, PolicyConfig()), t0 + time.perf_counter() - t
        return get_method("cleanlab_trusted")(ctx), time.perf_counter() - t

    round0 = [None]
    cl = (OOF_ROUND0, "cleanlab OOF", "cleanlab trusted") if "cleanlab" in methods else ()
    for mname in cl:
        res, wall = run_cleanlab(mname)
        protected = np.ones(len(labels_all), bool)
        protected[pool] = False
        scored = ~protected
        fixed_name = {OOF_ROUND0: "cleanlab OOF", "cleanlab trusted": "cleanlab trusted"}
        # the fixed rule before issue 12 (on round-0 probabilities: no refinement then)
        for thr in THRESHOLDS if mname in fixed_name else ():
            fname = fixed_name[mname]
            a, c = rectify(
                labels_all,
                res.probs,
                res.is_issue,
                protected,
                res.quality,
                RectifyConfig(relabel_threshold=min(thr, 1.0), relabel=thr <= 1.0),
            )
            keep = pool[a[pool] != DROPPED]
            thr_rows.append(
                (fname, thr, float(np.mean(c[keep] == ytr[keep])), len(keep) / len(pool))
            )
            if thr == 0.9:
                m = label_metrics(a, c, res.is_issue, pool, ytr, given)
                rows.append(
                    dict(
                        method=f"{fname}, fixed 0.9 rule (before issue 12)",
                        best=np.nan,
                        last=np.nan,
                        wall=np.nan,
                        policy="fixed",
                        **m,
                    )
                )
        actions, clean, flags, rep = decide(
            labels_all,
            res.probs,
            res.is_issue,
            scored,
            **res.policy_inputs(),
        )
        m = label_metrics(actions, clean, flags, pool, ytr, given)
        keep_pool = pool[actions[pool] != DROPPED]
        train_rows = np.sort(np.concatenate([keep_pool, trusted]))
        log(
            f"  {mname}: flagged {int(flags[pool].sum())}, P {m['prec']:.2f} R {m['rec']:.2f}, "
            f"all-row {m['all_acc']:.3f} (given {1 - actual:.3f}), kept {m['kept_share']:.3f}, "
            f"policy {rep.mode} thr {rep.relabel_threshold} T {rep.temperature:.2f} "
            f"gain lcb {rep.est_gain_lcb}, {len(res.refinement)} scoring round(s)"
        )
        best, last = fit_eval(train_rows, clean[train_rows], mname)
        rows.append(
            dict(
                method=mname,
                best=best,
                last=last,
                wall=wall,
                policy=rep.mode,
                rounds=max(1, len(res.refinement)),
                **m,
            )
        )
    for key in [m for m in methods if m in META_METHODS or m in RETRAIN]:
        base = RETRAIN.get(key, key)
        if key == base and f"{key}_retrain" in methods:
            continue  # the _retrain key emits this row too
        t = time.perf_counter()
        row, clean, keep = run_meta_method(
            base, src, given, ytr, yte, pool, trusted, test_idx, err, cfg, seed, log
        )
        if labels_only:
            row.update(best=np.nan, last=np.nan)
        rows.append(row)
        if key != base:
            train_rows = np.sort(np.concatenate([pool[keep], trusted]))
            labels = given.copy()
            labels[pool] = clean
            best, last = fit_eval(train_rows, labels[train_rows], f"{row['method']} -> retrain")
            rows.append(
                {
                    **row,
                    "method": f"{row['method']} labels -> retrain",
                    "best": best,
                    "last": last,
                    "wall": time.perf_counter() - t,
                }
            )
    if "oracle" in methods:
        t = time.perf_counter()
        best, last = fit_eval(all_tr, ytr, "oracle")
        rows.append(
            dict(
                method="oracle (clean labels)",
                prec=np.nan,
                rec=np.nan,
                f1=np.nan,
                all_acc=1.0,
                kept_share=1.0,
                clean_acc=1.0,
                best=best,
                last=last,
                wall=time.perf_counter() - t,
            )
        )
    for r in rows:
        r.update(dataset=name, noise=noise, actual=actual, seed=seed)
    return rows, thr_rows


def run_meta_method(key, src, given, ytr, yte, pool, trusted, test_idx, err, cfg, seed, log):
    """One end-to-end meta-learned trainer; test accuracy per epoch of its own model.

    Returns ``(row, rectified pool labels, pool keep mask)`` (policy as in the module docstring)."""
    mname, kind, mcfg = META_METHODS[key]
    C = 10
    accs = []

    def cb(ep, net):
        p, _ = predict_featnet(net, src, test_idx, cfg, batch_size=1024)
        accs.append(float(np.mean(p.argmax(1) == yte)))

    t = time.perf_counter()
    args = (src, pool, given[pool], trusted, ytr[trusted], C, cfg, mcfg)
    extra = ""
    if kind == "mwnet":
        net, _ = train_mwnet(*args[:7], seed=seed, epoch_callback=cb)
        probs_pool, _ = predict_featnet(net, src, pool, cfg)
    elif kind == "vri":
        net, nets = train_vri(*args, seed=seed, epoch_callback=cb)
        probs_pool, _ = predict_featnet(net, src, pool, cfg)
        v, vy, sd = rectifier_stats(net, nets, src, pool, given[pool], cfg)
        extra = (
            f", v mean clean {v[~err].mean():.3f} / noisy {v[err].mean():.3f}, v[given] clean "
            f"{vy[~err].mean():.3f} / noisy {vy[err].mean():.3f}, sigma {sd.mean():.2f}"
        )
    else:
        net, probs_pool, state = train_rst(*args, seed=seed, epoch_callback=cb)
        extra = (
            f", {len(state.weights)} rounds, last weights {np.round(state.weights[-1], 2).tolist()}"
        )
    wall = time.perf_counter() - t
    top = probs_pool.argmax(1)
    flag0 = top != given[pool]
    actions, clean, flag, rep = decide(
        given[pool],
        probs_pool,
        flag0,
        np.ones(len(pool), bool),
        None,
        kind="posterior",
        estimated_noise_rate=float(flag0.mean()),
        proxy_ok=False,
    )
    keep = actions != DROPPED
    m = label_metrics(actions, clean, flag, np.arange(len(pool)), ytr[pool], given[pool])
    clean_acc = m["clean_acc"]
    log(
        f"  {mname}: last {accs[-1]:.3f}, argmax acc {np.mean(top == ytr[pool]):.3f}, "
        f"cleaned {clean_acc:.3f} (kept {keep.mean():.2f}){extra}"
    )
    return (
        dict(method=mname, best=max(accs), last=accs[-1], wall=wall, policy=rep.mode, **m),
        clean,
        keep,
    )


def column(rows: list[dict], key: str) -> list:
    """The ``key`` values of ``rows``."""
    return [r[key] for r in rows]


def fmt(vals, pct=True, sd=True):
    v = np.asarray([x for x in vals if not np.isnan(x)], dtype=float)
    if v.size == 0:
        return "–"
    m = v.mean() * (100 if pct else 1)
    if sd and v.size > 1:
        return f"{m:.1f} ± {v.std(ddof=1) * (100 if pct else 1):.1f}"
    return f"{m:.1f}"


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick", action="store_true", help="1 seed, digits sym0.4 + asym0.4 only (smoke)"
    )
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument(
        "--first-seed", type=int, default=0, help="run seeds first-seed .. first-seed+seeds-1"
    )
    ap.add_argument("--save", type=Path, help="append every result row to this JSON-lines file")
    ap.add_argument(
        "--table-from",
        type=Path,
        nargs="+",
        help="print the table from rows saved by --save (several runs merged) and exit",
    )
    ap.add_argument(
        "--summary",
        action="store_true",
        help="with --table-from: one pivot table (setting x method) instead of the full tables",
    )
    ap.add_argument("--datasets", default="digits,usps,cifar10n")
    ap.add_argument(
        "--noises", default=",".join(NOISES), help="for digits/usps; CIFAR-10N uses aggre,worse"
    )
    ap.add_argument(
        "--cifar-noises", default=",".join(CIFAR_NOISES), help="CIFAR-10N label sets: aggre,worse"
    )
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument(
        "--epochs-scale", type=float, default=1.0, help="multiply every recipe's epochs"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--labels-only",
        action="store_true",
        help="label metrics only: no retraining on the cleaned labels (test accuracy not run)",
    )
    ap.add_argument(
        "--methods",
        default=DEFAULT_METHODS,
        help=f"comma list of: ce, cleanlab, oracle, {', '.join(META_METHODS)}, "
        f"{', '.join(RETRAIN)} (default: {DEFAULT_METHODS})",
    )
    args = ap.parse_args(argv)
    if args.table_from:
        rows, thr = [], []
        for path in args.table_from:
            for line in path.read_text().splitlines():
                rec = json.loads(line)
                (rows if rec.pop("kind") == "row" else thr).append(rec)
        seen, unique = set(), []
        for r in rows:  # the same (setting, method, seed) saved by two runs: keep the first
            key = (r["dataset"], r["noise"], r["method"], r["seed"])
            if key not in seen:
                seen.add(key)
                unique.append(r)
        if len(unique) < len(rows):
            print(
                f"({len(rows) - len(unique)} repeated rows ignored: same setting, method and seed)",
                file=sys.stderr,
            )
        rank = {name: i for i, name in enumerate(list(RECIPE) + list(NOISES) + list(CIFAR_NOISES))}
        rows = sorted(unique, key=lambda r: (rank.get(r["dataset"], 99), rank.get(r["noise"], 99)))
        seeds = sorted({r["seed"] for r in rows})
        if args.summary:
            keys = args.methods.split(",")
            names = {
                "ce": [METHOD_ROWS[0]],
                "cleanlab": [METHOD_ROWS[1], OOF_ROUND0, METHOD_ROWS[2]],
                "fixed": [f"{n}, fixed 0.9 rule (before issue 12)" for n in METHOD_ROWS[1:3]],
                "oracle": [METHOD_ROWS[3]],
                **{k: [v[0]] for k, v in META_METHODS.items()},
                **{k: [f"{META_METHODS[b][0]} labels -> retrain"] for k, b in RETRAIN.items()},
            }
            keep = [n for k in keys for n in names.get(k, [])]
            print_summary([r for r in rows if r["method"] in keep], keep)
            return
        print_tables(
            rows,
            [(t["dataset"], t["noise"], t["seed"], *t["values"]) for t in thr],
            f"\n### Label cleaning, merged from {', '.join(str(p) for p in args.table_from)}; "
            f"seeds {seeds}\n",
        )
        return
    torch.set_num_threads(args.threads)
    bad = sorted(set(args.methods.split(",")) - set(ALL_METHODS.split(",")))
    if bad:
        ap.error(f"unknown --methods {bad}; known: {ALL_METHODS}")
    datasets = args.datasets.split(",")
    noises = args.noises.split(",")
    seeds = args.seeds
    if args.quick:
        datasets, noises, seeds = ["digits"], ["sym0.4", "asym0.4"], 1
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.perf_counter()
    all_rows, all_thr = [], []
    for ds in datasets:
        data = LOADERS[ds]()
        rec = RECIPE[ds]
        cfg = BackboneConfig(
            width=rec["width"],
            batch_size=rec["batch_size"],
            epochs=max(1, round(rec["epochs"] * args.epochs_scale)),
            num_threads=args.threads,
        )
        for noise in args.cifar_noises.split(",") if ds == "cifar10n" else noises:
            for seed in range(args.first_seed, args.first_seed + seeds):
                log(f"{ds} {noise} seed {seed} ({time.perf_counter() - t0:.0f} s)")
                rows, thr = run_setting(
                    ds,
                    data,
                    noise,
                    seed,
                    cfg,
                    args.k,
                    log,
                    tuple(args.methods.split(",")),
                    labels_only=args.labels_only,
                )
                for r in rows:
                    r["seed"] = seed
                all_rows += rows
                all_thr += [(ds, noise, seed, *t) for t in thr]
                if args.save:
                    with args.save.open("a") as fh:
                        for r in rows:
                            fh.write(json.dumps({"kind": "row", **r}, default=float) + "\n")
                        for t in thr:
                            fh.write(
                                json.dumps(
                                    {
                                        "kind": "thr",
                                        "dataset": ds,
                                        "noise": noise,
                                        "seed": seed,
                                        "values": list(t),
                                    },
                                    default=float,
                                )
                                + "\n"
                            )
    total = time.perf_counter() - t0

    recipes = "; ".join(
        f"{d}: SmallCNN width {RECIPE[d]['width']}, "
        f"{max(1, round(RECIPE[d]['epochs'] * args.epochs_scale))} epochs, "
        f"batch {RECIPE[d]['batch_size']}"
        for d in datasets
    )
    print_tables(
        all_rows,
        all_thr,
        f"\n### Label cleaning, {seeds} seed(s), K={args.k}, 10 trusted/class, "
        f"SGD 0.05 cosine, min 200 steps, crop aug; {recipes}; total {total / 60:.1f} min\n",
    )


def _get(rows: list[dict], key: str) -> list[float]:
    return [float(r.get(key, np.nan)) for r in rows]


def _tie_or_win(a: list[float], b: list[float]) -> str:
    """``win``/``loss`` when the mean ± sd intervals of ``a`` and ``b`` do not overlap, else
    ``tie`` (``?`` with fewer than 2 values each)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size < 2 or b.size < 2:
        return "?"
    lo_a, hi_a = a.mean() - a.std(ddof=1), a.mean() + a.std(ddof=1)
    lo_b, hi_b = b.mean() - b.std(ddof=1), b.mean() + b.std(ddof=1)
    if lo_a > hi_b:
        return "win"
    if hi_a < lo_b:
        return "loss"
    return "tie"


def print_summary(rows: list[dict], order: list[str]) -> None:
    """Pivot: one line per (dataset, noise), one column per method (in ``order``); cell =
    **label accuracy over all pool rows %** (a dropped row counts as not correct; mean ± sd over
    the seeds) [kept share %] F1 % of the flags, then ``vs given`` (win / tie / loss: whether the
    mean ± sd intervals against the given labels' accuracy overlap) and the test accuracy at the
    last epoch of the model retrained on the labels when it was run."""
    methods = [m for m in order if any(r["method"] == m for r in rows)]
    settings = list(dict.fromkeys((r["dataset"], r["noise"]) for r in rows))
    print("| dataset / noise (given acc %) | seeds | " + " | ".join(methods) + " |")
    print("|---" * (len(methods) + 2) + "|")
    for ds, noise in settings:
        here = [r for r in rows if (r["dataset"], r["noise"]) == (ds, noise)]
        given = {r["seed"]: 1 - r["actual"] for r in here}
        cells, n_seeds = [], set()
        for m in methods:
            rs = [r for r in here if r["method"] == m]
            n_seeds.add(len(rs))
            if not rs:
                cells.append("–")
                continue
            f1 = fmt(_get(rs, "f1"), sd=False)
            last = fmt(_get(rs, "last"))
            vs = _tie_or_win(_get(rs, "all_acc"), [given[r["seed"]] for r in rs])
            cells.append(
                f"**{fmt(_get(rs, 'all_acc'))}** [{fmt(_get(rs, 'kept_share'), sd=False)}]"
                + (f" F1 {f1}" if f1 != "–" else "")
                + f" {vs}"
                + (f"; test {last}" if last != "–" else "")
            )
        g = fmt(list(given.values()), sd=False)
        seeds_txt = "/".join(str(n) for n in sorted(n_seeds - {0}))
        print(f"| {ds} {noise} ({g}) | {seeds_txt} | " + " | ".join(cells) + " |")


def print_tables(all_rows: list[dict], all_thr: list[tuple], title: str) -> None:
    print(title)
    print(
        "| dataset | noise | actual rate % | method | precision % | recall % | F1 % "
        "| **all-row acc %** | kept % | kept-only acc % | relabel acc % | test last % | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    keys = []
    for r in all_rows:
        k = (r["dataset"], r["noise"], r["method"])
        if k not in keys:
            keys.append(k)
    for ds, noise, m in keys:
        rs = [r for r in all_rows if (r["dataset"], r["noise"], r["method"]) == (ds, noise, m)]
        g = partial(_get, rs)
        print(
            f"| {ds} | {noise} | {fmt(g('actual'), sd=False)} | {m} | {fmt(g('prec'))} | "
            f"{fmt(g('rec'))} | {fmt(g('f1'))} | **{fmt(g('all_acc'))}** | "
            f"{fmt(g('kept_share'))} | {fmt(g('clean_acc'))} | {fmt(g('relabel_acc'))} | "
            f"{fmt(g('last'))} | {fmt(g('wall'), pct=False, sd=False)} |"
        )
    print(
        "\nThe fixed rule before issue 12 (relabel at top probability >= threshold, else drop): "
        "kept-only accuracy (kept fraction), mean over all settings:\n"
    )
    print("| method | threshold | kept-only acc % | pool kept % |")
    print("|---|---|---|---|")
    for m in ("cleanlab OOF", "cleanlab trusted"):
        for thr in THRESHOLDS:
            sel = [t for t in all_thr if t[3] == m and t[4] == thr]
            print(
                f"| {m} | {'never relabel' if thr > 1 else thr} | "
                f"{fmt([t[5] for t in sel], sd=False)} | {fmt([t[6] for t in sel], sd=False)} |"
            )


if __name__ == "__main__":
    main()
