"""Time and peak memory of out-of-fold probabilities on CIFAR images streamed from disk.

Writes the first ``--n`` CIFAR-10N training images (32x32 JPEGs, up to all five zips = 50k) out
as PNG files once (``--workdir``),
then runs ``ops.labels.oof.oof_pred_probs`` on an ``ImageFileDataset`` with the decoded-image
cache off (every batch decoded from disk: memory stays flat) or on (``--cache``).

    .venv/bin/python -m benchmarks.labels_oof_speed --n 10000 --epochs 1 --k 5

Peak memory is the process's ``ru_maxrss`` (Linux: KiB) before and after the OOF run.
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

from benchmarks.shared_data import shared_images_dir
from ops.labels.backbones import BackboneConfig
from ops.labels.images import ImageFileDataset, ImageSpec
from ops.labels.oof import oof_pred_probs

SHARED = shared_images_dir()


def write_pngs(workdir: Path, n: int) -> tuple[list[Path], np.ndarray]:
    from PIL import Image

    workdir.mkdir(parents=True, exist_ok=True)
    lab = np.load(SHARED / "cifar10n" / "cifar10n_labels_50000.npz")["aggre_label"].astype(np.int64)
    paths, labels = [], []
    for zip_path in sorted((SHARED / "cifar10n").glob("cifar10_train_*_jpg.zip")):
        if len(paths) >= n:
            break
        with zipfile.ZipFile(zip_path) as zf:
            for name in sorted(zf.namelist())[: n - len(paths)]:
                p = workdir / (name[:-4] + ".png")
                if not p.exists():
                    Image.open(io.BytesIO(zf.read(name))).convert("RGB").save(p)
                paths.append(p)
                labels.append(lab[int(name[:-4])])
    if len(paths) < n:
        raise SystemExit(
            f"only {len(paths)} CIFAR-10N images under {SHARED / 'cifar10n'}, asked for {n}"
        )
    return paths, np.asarray(labels)


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", action="store_true", help="keep decoded uint8 images in RAM")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/sieve_cifar_png"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    t = time.perf_counter()
    paths, labels = write_pngs(args.workdir, args.n)
    t_write = time.perf_counter() - t
    ds = ImageFileDataset(paths, ImageSpec(size=32, channels=3), cache=args.cache)
    rss0 = maxrss_mib()
    cfg = BackboneConfig(
        width=args.width, epochs=args.epochs, min_steps=0, batch_size=128, num_threads=args.threads
    )
    t = time.perf_counter()
    fp = ds.fingerprint()
    t_hash = time.perf_counter() - t
    t = time.perf_counter()
    res = oof_pred_probs(
        ds,
        np.arange(len(ds)),
        labels,
        10,
        cfg,
        k=args.k,
        seed=0,
        source_fingerprint=fp,
        progress=lambda m: print(m, file=sys.stderr, flush=True) if "done" in m else None,
    )
    t_oof = time.perf_counter() - t
    acc = float(np.mean(res.pred_probs.argmax(1) == labels))
    img_passes = args.k * args.epochs * (len(ds) - len(ds) // args.k) + len(ds)
    print(
        "| images | K | epochs | width | cache | threads | PNG write s | content hash s | OOF s "
        "| train+predict img/s | peak RSS MiB (before OOF -> after) | OOF acc vs aggre |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {len(ds)} | {args.k} | {args.epochs} | {args.width} | "
        f"{'on' if args.cache else 'off'} | "
        f"{args.threads} | {t_write:.1f} | {t_hash:.1f} | {t_oof:.1f} | {img_passes / t_oof:.0f} | "
        f"{rss0:.0f} -> {maxrss_mib():.0f} | {acc:.3f} |"
    )


if __name__ == "__main__":
    main()
