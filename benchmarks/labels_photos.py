"""Real photos on CPU: label cleaning on pretrained features (default: EfficientNet-Lite0 and
Lite2 side by side at 128 px, linear head).

Benchmarks on the vectors of the default pretrained backbone (``pretrained:lite0+lite2``,
docs/labels.md §10; ``--encoder`` / ``--flip`` / ``--head`` / ``--head-wd`` change it),
computed by the code users run (:class:`PretrainedEncoder`) or read from a cache of them that is
first checked against a fresh embedding of 64 images:

``cifar10n`` -- the CIFAR-10N training images (all 50,000 by default) with the human labels
``aggre`` or ``worse``, 10 trusted images per class (drawn per seed, given their clean labels;
the same for every method), the CIFAR-10 test set for the head's test accuracy. Per method and
seed: flag precision / recall / F1 against ``given != clean``, kept share of the pool, label
accuracy over the kept rows and over **all** pool rows (a dropped row keeps its wrong given
label; also with every flagged row relabelled to the head's top class instead), and the
last-epoch test accuracy of the default head retrained on the kept rows
with their rectified labels (plus the trusted rows), and of the same head on every training row
(dropped rows with their given label: what a user who does not drop gets; measured, not used to
choose anything). ``CE`` trains the head on the given labels, ``oracle`` on the clean ones.

``train_sets`` -- which training set built from the default's output gives the best head,
judged on a validation split (head trained on rows 0-39,999, scored against the clean labels of
rows 40,000-49,999), never on the test set: given labels, ``labels.parquet`` as handed over,
every row, pruned to the unflagged rows, oracle.

``cifar10_test`` -- the 10,000 CIFAR-10 test images with their original labels, of which 54
were validated as wrong by Mechanical Turk workers (Northcutt, Athalye & Mueller 2021;
:mod:`benchmarks.cifar10_test_label_errors`): how many of the 54 ``cleanlab_oof`` flags, and at
what flag rate, per fold seed.

``heads`` -- which vectors and head: out-of-fold accuracy on the ``tune`` rows (CIFAR-10N
40,000-49,999) against the given labels (the criterion) and the clean ones, and the embedding
cost per CPU-second; ``tune`` -- the head's weight decay on the same rows.

    python -m benchmarks.labels_photos cifar10n --seeds 3 --methods ce,cleanlab_oof,oracle
    python -m benchmarks.labels_photos train_sets --seeds 1
    python -m benchmarks.labels_photos cifar10_test --seeds 3
    python -m benchmarks.labels_photos heads --features lite0,lite0+lite2 --heads linear@0.3
    python -m benchmarks.labels_photos backbones --seeds 3    # digits, USPS: clean-label head
    python -m benchmarks.labels_photos tune                   # how head_weight_decay was chosen
    python -m benchmarks.labels_photos cifar10n --n-train 5000 --seeds 1     # quick look

Embeddings: ``--emb-dir`` (default ``$SIEVE_EMB_CACHE`` or ``.bench_data/emb``) holds
``cifar_train50000_<tag>.npy`` / ``cifar_test_<tag>.npy`` / ``cifar_train40000-49999_<tag>.npy``,
one file per encoder (a combination reads its parts); missing files are computed from the
CIFAR zips (about 4.5 CPU-minutes per 50k images for the default pair) and saved there.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

from benchmarks.cifar10_test_label_errors import ERROR_IDS
from benchmarks.labels_bench import label_metrics
from benchmarks.shared_data import REPO, shared_images_dir
from ops.contracts import DROPPED, KEPT
from ops.labels.backbones import BackboneConfig, EmbeddingSource
from ops.labels.encoders import PretrainedEncoder
from ops.labels.methods import MethodContext, get_method
from ops.labels.noise import draw_trusted
from ops.labels.policy import decide
from ops.labels.training import predict_proba, train_model

N_CLASSES = 10


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def zip_images(path: Path, limit: int | None = None):
    """PIL images of a CIFAR zip in index order (one decoded at a time)."""
    from PIL import Image

    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist(), key=lambda s: int(s[:-4]))[:limit]
        for name in names:
            yield Image.open(io.BytesIO(zf.read(name)))


def cifar_zips(split: str) -> list[Path]:
    root = shared_images_dir()
    if split == "train":
        return sorted((root / "cifar10n").glob("cifar10_train_*_jpg.zip"))
    return [root / "cifar10_test" / "cifar10_test_00000-09999_jpg.zip"]


SPLITS = {"train": 50000, "test": 10000, "tune": 10000}
"""``tune``: CIFAR-10N training rows 40,000-49,999, where the features and the head were chosen."""


def split_zips(split: str) -> list[Path]:
    return cifar_zips("train")[4:] if split == "tune" else cifar_zips(split)


def embeddings(
    split: str, enc: PretrainedEncoder, emb_dir: Path, n: int | None = None
) -> np.ndarray:
    """``(n, enc.dim)`` vectors of the first ``n`` images of ``split`` (``train``, ``test`` or
    ``tune``): read from ``emb_dir`` when a file there agrees with a fresh embedding of its first
    64 images, else computed and saved. Several encoders (``lite0+lite2``): each encoder's vectors
    side by side, as the combined encoder computes them (checked on 64 images)."""
    total = SPLITS[split]
    n = total if n is None else n
    check = enc.embed(zip_images(split_zips(split)[0], 64), n=64)
    if len(enc.parts) > 1:
        kw = dict(threads=enc.threads, batch_size=enc.batch_size, cache_dir=enc.cache_dir)
        parts = [PretrainedEncoder(p, enc.resolution, flip=enc.flip, **kw) for p in enc.parts]
        x = np.concatenate([embeddings(split, e, emb_dir, n) for e in parts], axis=1)
        diff = float(np.abs(x[:64] - check).max())
        if diff > 2e-3:
            raise RuntimeError(f"{enc.tag}: parts disagree with the combined encoder ({diff:.1e})")
        return x
    rows = {"train": "train50000", "test": "test", "tune": "train40000-49999"}[split]
    path = emb_dir / f"cifar_{rows}_{enc.tag}.npy"
    cands = [path]
    if split == "tune":  # rows 40,000-49,999 of a full training-set file
        cands.append(emb_dir / f"cifar_train50000_{enc.tag}.npy")
    if not enc.flip:  # files of the research pass that made the encoder's prototype
        pat = f"emb_cifar_{'train' if split == 'tune' else split}*_{enc.name}_r{enc.resolution}"
        cands += sorted(emb_dir.glob(f"{pat}_fp32_pil*.npy"))
    for cand in cands:
        if cand.exists():
            v = np.load(cand, mmap_mode="r")
            if split == "tune" and len(v) == 50000:
                v = v[40000:]
            diff = float(np.abs(np.asarray(v[:64]) - check).max())
            if len(v) >= n and diff < 2e-3:
                log(f"{split}: cached {cand.name} (max |diff| {diff:.1e} on 64 images)")
                return np.array(v[:n], dtype=np.float32)
            log(f"{split}: {cand.name} does not match this encoder (max |diff| {diff:.2e})")
    log(f"{split}: embedding {total} images with {enc.tag} ...")
    out = np.empty((total, enc.dim), np.float32)
    done = 0
    for z in split_zips(split):
        imgs = list(zip_images(z))
        enc.embed(imgs, out=out[done : done + len(imgs)], progress=log, every_s=30)
        done += len(imgs)
    emb_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out[:n]


def head_config(a) -> BackboneConfig:
    """The recipe on vectors (what label cleaning trains with a pretrained backbone): the
    defaults of :class:`BackboneConfig`, or ``--head`` / ``--head-wd`` when given."""
    over = {"head": a.head} if a.head else {}
    if a.head_wd is not None:
        over["head_weight_decay"] = a.head_wd
    return BackboneConfig(kind="pretrained", num_threads=a.threads, **over).for_vectors()


def fit_last(src, rows, labels, test_idx, yte, cfg, seed) -> float:
    accs: list[float] = []

    def cb(_ep, model):
        accs.append(float(np.mean(predict_proba(model, src, test_idx, cfg).argmax(1) == yte)))

    train_model(src, rows, labels, N_CLASSES, cfg, seed=seed, epoch_callback=cb)
    return accs[-1]


def noisy_split(a, lab, ytr: np.ndarray, yte: np.ndarray, noise: str, seed: int):
    """One seed's CIFAR-10N setting: ``trusted`` rows (clean labels), the ``pool``, the given
    labels, the labels of every source row (training rows, then the test rows, never trained on)
    and the rows the policy may not change."""
    n = len(ytr)
    trusted = draw_trusted(ytr, a.trusted_per_class, seed=seed, n_classes=N_CLASSES)
    pool = np.setdiff1d(np.arange(n), trusted)
    given = lab[f"{noise}_label"][:n].astype(np.int64)
    given[trusted] = ytr[trusted]
    labels_all = np.concatenate([given, yte])
    protected = np.zeros(len(labels_all), bool)
    protected[trusted] = True
    protected[n:] = True
    return trusted, pool, given, labels_all, protected


def clean_as_the_asset(a, enc, src, method, labels_all, pool, trusted, protected, seed):
    """Run ``method`` and decide as the ``image_labels_clean`` asset does (ops/labels/clean.py):
    ``(result, actions, clean labels, flags, policy report)``."""
    ctx = MethodContext(
        source=src,
        labels=labels_all,
        pool_idx=pool,
        trusted_idx=trusted,
        test_idx=np.zeros(0, np.int64),
        n_classes=N_CLASSES,
        backbone=head_config(a),
        k_folds=a.k,
        seed=seed,
        source_fingerprint=f"photos-{enc.tag}-{len(pool) + len(trusted)}",
    )
    res = get_method(method)(ctx)
    actions, clean, flags, rep = decide(
        labels_all, res.probs, res.is_issue & ~protected, ~protected, **res.policy_inputs()
    )
    return res, actions, clean, flags, rep


def cifar10n_data(a, enc: PretrainedEncoder, n_train: int = SPLITS["train"]):
    """The first ``n_train`` CIFAR-10N training rows and the test set: the label file, clean
    training labels, test labels, one source of vectors (training rows, then test rows) and
    the test rows' indices in it."""
    root = shared_images_dir()
    lab = np.load(root / "cifar10n" / "cifar10n_labels_50000.npz")
    xtr = embeddings("train", enc, a.emb_dir, n_train)
    xte = embeddings("test", enc, a.emb_dir, SPLITS["test"])
    yte = np.load(root / "cifar10_test" / "cifar10_test_original_labels.npy").astype(np.int64)
    ytr = lab["clean_label"][:n_train].astype(np.int64)
    src = EmbeddingSource(np.concatenate([xtr, xte]))
    return lab, ytr, yte, src, np.arange(n_train, n_train + len(yte))


def run_cifar10n(a, enc: PretrainedEncoder) -> list[dict]:
    lab, ytr, yte, src, test_idx = cifar10n_data(a, enc, a.n_train)
    n = len(ytr)
    cfg = head_config(a)
    out = []
    for noise in a.noises.split(","):
        for seed in range(a.first_seed, a.first_seed + a.seeds):
            trusted, pool, given, labels_all, protected = noisy_split(a, lab, ytr, yte, noise, seed)
            err = given[pool] != ytr[pool]
            base = dict(noise=noise, seed=seed, n_train=n, actual_noise=float(err.mean()))
            for m in a.methods.split(","):
                t = time.perf_counter()
                if m in ("ce", "oracle"):
                    y = given if m == "ce" else ytr
                    last = fit_last(src, np.arange(n), y, test_idx, yte, cfg, seed)
                    acc = float(np.mean(y[pool] == ytr[pool]))
                    row = dict(method=m, prec=None, rec=None, f1=None, kept=1.0)
                    row |= dict(label_acc_kept=acc, label_acc_all=acc, label_acc_relabel_all=acc)
                    row |= dict(test_last=last, test_last_every_row=last)
                else:
                    res, actions, clean, flags, rep = clean_as_the_asset(
                        a, enc, src, m, labels_all, pool, trusted, protected, seed
                    )
                    lm = label_metrics(actions, clean, flags, pool, ytr, given)
                    kept = actions[pool] != DROPPED
                    rows = np.sort(np.concatenate([pool[kept], trusted]))
                    last = fit_last(src, rows, clean[rows], test_idx, yte, cfg, seed)
                    # the same head on every training row: the policy's label where it kept or
                    # relabelled a row, the given label where it dropped one (a user who keeps
                    # dropped rows; measured, not used to choose anything)
                    every = np.arange(n)
                    y_every = np.where(actions[:n] == DROPPED, labels_all[:n], clean[:n])
                    last_every = fit_last(src, every, y_every, test_idx, yte, cfg, seed)
                    flag = res.is_issue[pool]
                    row = dict(
                        method=m,
                        prec=lm["prec"],
                        rec=lm["rec"],
                        f1=lm["f1"],
                        kept=lm["kept_share"],
                        label_acc_kept=lm["clean_acc"],
                        label_acc_all=lm["all_acc"],  # a dropped row counts as not correct
                        # the alternative policy: every flagged row relabelled to the argmax
                        label_acc_relabel_all=float(
                            np.mean(
                                np.where(flag, res.probs[pool].argmax(1), given[pool]) == ytr[pool]
                            )
                        ),
                        n_relabeled=lm["n_relabeled"],
                        n_dropped=lm["n_dropped"],
                        policy_mode=rep.mode,
                        test_last=last,
                        test_last_every_row=last_every,
                    )
                row = base | row | dict(wall_s=round(time.perf_counter() - t, 1))
                log(json.dumps(row, default=float))
                out.append(row)
    return out


def run_train_sets(a, enc: PretrainedEncoder) -> list[dict]:
    """Which training set, built from the default's output, gives the best head -- chosen on a
    validation split, not on the test set: the labels are cleaned on all 50,000 rows as usual;
    each head then trains on rows 0-39,999 only and is scored against the *clean* labels of rows
    40,000-49,999 (test accuracy of the same recipe trained on all rows beside it, for the
    record). Recipes: the given labels; the policy's labels on the kept rows (what
    ``labels.parquet`` hands over); on every row; only rows neither flagged nor changed (prune);
    the clean labels (oracle)."""
    lab, ytr, yte, src, test_idx = cifar10n_data(a, enc)
    n = len(ytr)
    val = np.arange(40000, n)
    fit_rows = np.arange(n) < 40000
    cfg = head_config(a)
    out = []
    for noise in a.noises.split(","):
        for seed in range(a.first_seed, a.first_seed + a.seeds):
            trusted, pool, given, labels_all, protected = noisy_split(a, lab, ytr, yte, noise, seed)
            _, actions, clean, flags, _ = clean_as_the_asset(
                a, enc, src, "cleanlab_oof", labels_all, pool, trusted, protected, seed
            )
            drop, changed = actions[:n] == DROPPED, actions[:n] != KEPT
            recipes = {
                "given labels": (np.ones(n, bool), given),
                "policy labels, kept rows (labels.parquet)": (~drop, clean[:n]),
                "policy labels, every row (dropped: given)": (
                    np.ones(n, bool),
                    np.where(drop, given, clean[:n]),
                ),
                "unflagged, unchanged rows only (prune)": (~flags[:n] & ~changed, given),
                "clean labels (oracle)": (np.ones(n, bool), ytr),
            }
            for name, (mask, y) in recipes.items():
                rows_v = np.flatnonzero(mask & fit_rows)
                v = fit_last(src, rows_v, y[rows_v], val, ytr[val], cfg, seed)
                rows_t = np.flatnonzero(mask)
                t = fit_last(src, rows_t, y[rows_t], test_idx, yte, cfg, seed)
                row = dict(
                    noise=noise,
                    seed=seed,
                    recipe=name,
                    rows=int(mask.sum()),
                    label_acc=float(np.mean(y[mask] == ytr[mask])),
                    val_acc=v,
                    test_last=t,
                )
                log(json.dumps(row))
                out.append(row)
    return out


def print_train_sets(rows: list[dict]) -> None:
    print(
        "\n| noise | training set | seeds | rows | label acc % | **validation acc %** "
        "(rows 40k-50k, head on rows < 40k) | test last % (head on all rows) |"
    )
    print("|---|---|---|---|---|---|---|")
    for noise, recipe in dict.fromkeys((r["noise"], r["recipe"]) for r in rows):
        rs = [r for r in rows if r["noise"] == noise and r["recipe"] == recipe]
        print(
            f"| {noise} | {recipe} | {len(rs)} | {np.mean([r['rows'] for r in rs]):.0f} | "
            f"{mean_sd([r['label_acc'] for r in rs])} | **{mean_sd([r['val_acc'] for r in rs])}** "
            f"| {mean_sd([r['test_last'] for r in rs])} |"
        )


def run_cifar10_test(a, enc: PretrainedEncoder) -> list[dict]:
    root = shared_images_dir()
    x = embeddings("test", enc, a.emb_dir, 10000)
    y = np.load(root / "cifar10_test" / "cifar10_test_original_labels.npy").astype(np.int64)
    err = np.zeros(len(y), bool)
    err[list(ERROR_IDS)] = True
    src = EmbeddingSource(x)
    out = []
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        t = time.perf_counter()
        ctx = MethodContext(
            source=src,
            labels=y,
            pool_idx=np.arange(len(y)),
            trusted_idx=np.zeros(0, np.int64),
            test_idx=np.zeros(0, np.int64),
            n_classes=N_CLASSES,
            backbone=head_config(a),
            k_folds=a.k,
            seed=seed,
            source_fingerprint=f"photos-test-{enc.tag}",
        )
        res = get_method("cleanlab_oof")(ctx)
        f = res.is_issue
        rank = np.argsort(res.quality)  # worst first
        row = dict(
            seed=seed,
            oof_acc=float(np.mean(res.probs.argmax(1) == y)),
            flagged=int(f.sum()),
            flag_rate=float(f.mean()),
            hits_of_54=int(f[err].sum()),
            top275_hits=int(err[rank[:275]].sum()),
            wall_s=round(time.perf_counter() - t, 1),
        )
        log(json.dumps(row))
        out.append(row)
    return out


def knn_fit_predict(x: np.ndarray, k: int):
    """A ``fit_predict`` for :func:`oof_pred_probs`: distance-weighted k-NN vote on
    standardised, unit-length vectors (smoothed so every class keeps some probability)."""
    from sklearn.neighbors import KNeighborsClassifier

    xs = (x - x.mean(0)) / (x.std(0) + 1e-6)
    xs /= np.linalg.norm(xs, axis=1, keepdims=True)

    def fp(tr, ytr, score, _prefix):
        m = KNeighborsClassifier(n_neighbors=k, weights="distance", n_jobs=1).fit(xs[tr], ytr)
        out = []
        for rows in score:
            p = np.zeros((len(rows), N_CLASSES))
            if len(rows):
                p[:, m.classes_] = m.predict_proba(xs[rows])
            out.append(0.98 * p + 0.002)
        return out

    return fp


def run_heads(a, _enc: PretrainedEncoder) -> list[dict]:
    """Which vectors and head: out-of-fold accuracy (K folds) on the ``tune`` rows (CIFAR-10N
    40,000-49,999) against the *given* labels (the criterion; no clean label is used to choose)
    and, for information, against the clean labels; and the embedding cost in images per
    CPU-second (decode + resize + network, 256 JPEGs after a warm-up, in this process)."""
    from ops.labels.oof import oof_pred_probs

    root = shared_images_dir()
    lab = np.load(root / "cifar10n" / "cifar10n_labels_50000.npz")
    rows = np.arange(40000, 50000)
    clean = lab["clean_label"][rows].astype(np.int64)
    jpegs = []
    with zipfile.ZipFile(split_zips("tune")[0]) as zf:
        jpegs = [zf.read(nm) for nm in sorted(zf.namelist())[:288]]
    out = []
    for feat in a.features.split(","):
        name, _, opt = feat.partition(":")
        enc = PretrainedEncoder(name, a.resolution, threads=a.threads, flip=opt == "flip")
        enc.embed(jpegs[:32])
        c0 = time.process_time()
        enc.embed(jpegs[32:])
        ips = 256 / max(time.process_time() - c0, 1e-9)
        x = embeddings("tune", enc, a.emb_dir)
        src = EmbeddingSource(x)
        for head in a.heads.split(","):
            for noise in a.noises.split(","):
                given = lab[f"{noise}_label"][rows].astype(np.int64)
                t = time.process_time()
                if head.startswith("knn"):
                    p = oof_pred_probs(
                        src,
                        np.arange(len(rows)),
                        given,
                        N_CLASSES,
                        head_config(a),
                        k=a.k,
                        seed=a.first_seed,
                        fit_predict=knn_fit_predict(x, int(head[3:])),
                    ).pred_probs
                else:
                    kind, _, wd = head.partition("@")
                    cfg = BackboneConfig(
                        kind="pretrained",
                        head=kind,
                        num_threads=a.threads,
                        head_weight_decay=float(wd or BackboneConfig.head_weight_decay),
                    ).for_vectors()
                    p = oof_pred_probs(
                        src, np.arange(len(rows)), given, N_CLASSES, cfg, k=a.k, seed=a.first_seed
                    ).pred_probs
                pg = p[np.arange(len(given)), given]
                row = dict(
                    features=feat,
                    dim=x.shape[1],
                    embed_img_per_cpu_s=ips,
                    head=head,
                    noise=noise,
                    oof_acc_given=float(np.mean(p.argmax(1) == given)),
                    oof_logloss_given=float(-np.mean(np.log(pg + 1e-12))),
                    oof_acc_clean=float(np.mean(p.argmax(1) == clean)),
                    head_cpu_s=round(time.process_time() - t, 1),
                )
                log(json.dumps(row))
                out.append(row)
    return out


def print_heads(rows: list[dict]) -> None:
    print(
        "\n| vectors | dim | embed img/CPU-s | head | noise | OOF acc vs given % "
        "| OOF log-loss vs given | OOF acc vs clean % | head CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['features']} | {r['dim']} | {r['embed_img_per_cpu_s']:.0f} | {r['head']} | "
            f"{r['noise']} | {100 * r['oof_acc_given']:.1f} | {r['oof_logloss_given']:.3f} | "
            f"{100 * r['oof_acc_clean']:.1f} | {r['head_cpu_s']:.0f} |"
        )


def run_tune(a, enc: PretrainedEncoder) -> list[dict]:
    """How ``head_weight_decay`` was chosen: out-of-fold accuracy and log-loss of the head
    against the *given* labels (no clean or test label is read) on CIFAR-10N rows 40,000-49,999,
    which the ``cifar10n`` benchmark's default ``--n-train`` subsets (rows 0-9,999) never use."""
    root = shared_images_dir()
    lab = np.load(root / "cifar10n" / "cifar10n_labels_50000.npz")
    rows = np.arange(40000, 50000)
    src = EmbeddingSource(embeddings("tune", enc, a.emb_dir))
    out = []
    for noise in a.noises.split(","):
        given = lab[f"{noise}_label"][rows].astype(np.int64)
        for wd in (5e-4, 5e-3, 5e-2, 1e-1, 2e-1, 5e-1):
            cfg = BackboneConfig(kind="pretrained", num_threads=a.threads, weight_decay=wd)
            ctx = MethodContext(
                source=src,
                labels=given,
                pool_idx=np.arange(len(rows)),
                trusted_idx=np.zeros(0, np.int64),
                test_idx=np.zeros(0, np.int64),
                n_classes=N_CLASSES,
                backbone=cfg,
                k_folds=a.k,
                seed=a.first_seed,
                source_fingerprint=f"tune-{enc.tag}",
            )
            p = get_method("cleanlab_oof")(ctx).probs
            p_given = p[np.arange(len(given)), given]
            row = dict(
                noise=noise,
                weight_decay=wd,
                oof_acc_vs_given=float(np.mean(p.argmax(1) == given)),
                oof_logloss_vs_given=float(-np.mean(np.log(p_given + 1e-12))),
            )
            log(json.dumps(row))
            out.append(row)
    return out


def print_tune(rows: list[dict]) -> None:
    print("\n| noise | weight decay | OOF acc vs given % | OOF log-loss vs given |")
    print("|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['noise']} | {r['weight_decay']:g} | {100 * r['oof_acc_vs_given']:.1f} | "
            f"{r['oof_logloss_vs_given']:.3f} |"
        )


def run_backbones(a, enc: PretrainedEncoder) -> list[dict]:
    """Clean-label test accuracy of the default head on pretrained vectors for digits and USPS
    (the evidence behind ``auto``: compare with the SmallCNN oracle rows of README_labels)."""
    from benchmarks.labels_bench import load_digits_data, load_usps

    out = []
    for name, loader in (("digits", load_digits_data), ("usps", load_usps)):
        xtr, ytr, xte, yte, _ = loader()
        x = enc.embed(list(np.concatenate([xtr, xte])), progress=log, every_s=30)
        src = EmbeddingSource(x)
        test_idx = np.arange(len(ytr), len(x))
        for seed in range(a.first_seed, a.first_seed + a.seeds):
            cfg = head_config(a)
            last = fit_last(src, np.arange(len(ytr)), ytr, test_idx, yte, cfg, seed)
            row = dict(dataset=name, seed=seed, oracle_test_last=last)
            log(json.dumps(row))
            out.append(row)
    return out


def print_backbones(rows: list[dict]) -> None:
    print("\n| dataset | seeds | oracle test last %, linear head on pretrained vectors |")
    print("|---|---|---|")
    for d in dict.fromkeys(r["dataset"] for r in rows):
        rs = [r["oracle_test_last"] for r in rows if r["dataset"] == d]
        print(f"| {d} | {len(rs)} | {mean_sd(rs)} |")


def mean_sd(vals) -> str:
    v = [x for x in vals if x is not None]
    if not v:
        return "–"
    return f"{100 * np.mean(v):.1f} ± {100 * np.std(v):.1f}"


def print_cifar10n(rows: list[dict]) -> None:
    print(
        "\n| noise (actual %) | method | seeds | P % | R % | F1 % | kept % | label acc kept % "
        "| **label acc all rows %** | all rows, relabel every flag % | **test last %** "
        "| test last %, dropped rows kept with the given label | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    keys = dict.fromkeys((r["noise"], r["method"]) for r in rows)
    for noise, m in keys:
        rs = [r for r in rows if r["noise"] == noise and r["method"] == m]
        col = lambda k, rs=rs: mean_sd([r.get(k) for r in rs])  # noqa: E731
        print(
            f"| {noise} ({100 * np.mean([r['actual_noise'] for r in rs]):.1f}) | {m} | "
            f"{len(rs)} | {col('prec')} | {col('rec')} | {col('f1')} | {col('kept')} | "
            f"{col('label_acc_kept')} | **{col('label_acc_all')}** | "
            f"{col('label_acc_relabel_all')} | **{col('test_last')}** | "
            f"{col('test_last_every_row')} | {np.mean([r['wall_s'] for r in rs]):.0f} |"
        )


def print_cifar10_test(rows: list[dict]) -> None:
    print("\n| seeds | OOF acc % | flagged | flag rate % | of the 54 flagged | in worst 275 |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {len(rows)} | {mean_sd([r['oof_acc'] for r in rows])} | "
        f"{np.mean([r['flagged'] for r in rows]):.0f} | {mean_sd([r['flag_rate'] for r in rows])} "
        f"| {np.mean([r['hits_of_54'] for r in rows]):.1f} "
        f"({min(r['hits_of_54'] for r in rows)}–{max(r['hits_of_54'] for r in rows)}) | "
        f"{np.mean([r['top275_hits'] for r in rows]):.1f} |"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "bench", choices=["cifar10n", "train_sets", "cifar10_test", "backbones", "tune", "heads"]
    )
    ap.add_argument("--noises", default="aggre,worse")
    ap.add_argument("--methods", default="ce,cleanlab_oof,cleanlab_trusted,oracle")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=50000)
    ap.add_argument("--trusted-per-class", type=int, default=10)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    dflt = BackboneConfig()
    ap.add_argument("--encoder", default=dflt.encoder, help="e.g. lite0, lite2, lite0+lite2")
    ap.add_argument("--resolution", type=int, default=dflt.encoder_resolution)
    ap.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=dflt.encoder_flip,
        help="average each vector with its mirror image's",
    )
    ap.add_argument("--head", choices=["linear", "mlp"], help=f"default {dflt.head}")
    ap.add_argument("--head-wd", type=float, help=f"default {dflt.head_weight_decay}")
    default_emb = os.environ.get("SIEVE_EMB_CACHE") or str(REPO / ".bench_data" / "emb")
    ap.add_argument("--emb-dir", type=Path, default=Path(default_emb))
    ap.add_argument("--save", type=Path, help="append the rows to this JSON-lines file")
    ap.add_argument(
        "--features",
        default="lite0,lite0:flip,lite2,lite2:flip,lite0+lite2,lite0+lite2:flip",
        help="heads: encoders to compare (name[+name][:flip])",
    )
    ap.add_argument(
        "--heads",
        default="linear@0.1,linear@0.2,mlp@0.1,knn30",
        help="heads: linear@<weight decay>, mlp@<weight decay>, knn<k>",
    )
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    enc = PretrainedEncoder(a.encoder, a.resolution, threads=a.threads, flip=a.flip)
    runs = {
        "cifar10n": run_cifar10n,
        "train_sets": run_train_sets,
        "cifar10_test": run_cifar10_test,
        "backbones": run_backbones,
        "tune": run_tune,
        "heads": run_heads,
    }
    rows = runs[a.bench](a, enc)
    if a.save:
        with a.save.open("a") as fh:
            for r in rows:
                fh.write(json.dumps({"bench": a.bench, "encoder": enc.tag, **r}) + "\n")
    cfg = head_config(a)
    print(
        f"\n### {a.bench}, {enc.tag}, head {cfg.head} wd {cfg.weight_decay:g}, K={a.k}, "
        f"total {time.perf_counter() - t0:.0f} s"
    )
    prints = {
        "cifar10n": print_cifar10n,
        "train_sets": print_train_sets,
        "cifar10_test": print_cifar10_test,
        "tune": print_tune,
        "heads": print_heads,
    }
    prints.get(a.bench, print_backbones)(rows)


if __name__ == "__main__":
    main()
