"""Embedding speed of the pretrained encoders on this CPU: images per second by encoder,
resolution, batch size and runtime, side by side in one process.

Two measurements per cell, in interleaved rounds so that a busy machine slows every cell alike:
``network`` -- the encoder alone on a fixed batch of preprocessed images; ``end to end`` -- JPEG
decode + resize + normalise + network on real CIFAR-10 test JPEGs when the shared data is there
(else random 32 x 32 images). Both are reported as wall-clock images/s and as images per CPU-second
of the process (the rate an otherwise idle core would give; robust to load from other processes).

    python -m benchmarks.embed_speed                       # lite0 (+ lite1/lite2 if installed)
    python -m benchmarks.embed_speed --encoders lite0 --resolutions 128 --batches 32,64 --threads 2
"""

from __future__ import annotations

import argparse
import os
import time
import zipfile

import numpy as np
import torch

from benchmarks.shared_data import shared_images_dir
from ops.labels.encoders import PretrainedEncoder, installed_encoders, prepare_image, to_input


def sample_images(n: int) -> list:
    """``n`` CIFAR-10 test JPEGs as bytes (real decode cost), else random uint8 arrays."""
    z = shared_images_dir() / "cifar10_test" / "cifar10_test_00000-09999_jpg.zip"
    if z.exists():
        with zipfile.ZipFile(z) as zf:
            return [zf.read(name) for name in sorted(zf.namelist())[:n]]
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(n)]


def timed(fn, min_s: float) -> tuple[float, float, int]:
    """Run ``fn`` (returns images done) until ``min_s`` wall seconds: (wall, cpu, images)."""
    n, w0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - w0 < min_s:
        n += fn()
    return time.perf_counter() - w0, time.process_time() - c0, n


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--encoders", default=",".join(installed_encoders()))
    ap.add_argument("--resolutions", default="96,128,160,224")
    ap.add_argument("--batches", default="32,64")
    ap.add_argument("--runtimes", default="onnx,torch")
    ap.add_argument("--torch-resolutions", default="128", help="torch eager is slow: fewer cells")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--min-s", type=float, default=1.5, help="seconds per cell and round")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    jpegs = sample_images(256)
    cells = []
    for name in a.encoders.split(","):
        for rt in a.runtimes.split(","):
            res_list = a.resolutions if rt == "onnx" else a.torch_resolutions
            for r in map(int, res_list.split(",")):
                enc = PretrainedEncoder(name, r, runtime=rt, threads=a.threads)
                for b in map(int, a.batches.split(",")):
                    cells.append(dict(enc=enc, name=name, runtime=rt, res=r, bs=b))
    stats: dict[int, dict[str, list]] = {i: {"net": [], "e2e": []} for i in range(len(cells))}
    for _ in range(a.rounds):
        for i, c in enumerate(cells):
            enc, b = c["enc"], c["bs"]
            x = to_input([prepare_image(j, c["res"]) for j in jpegs[:b]])
            enc.forward(x)  # warm-up (graph optimisation, allocations)
            stats[i]["net"].append(timed(lambda enc=enc, x=x: len(enc.forward(x)), a.min_s))
            stats[i]["e2e"].append(
                timed(lambda enc=enc, b=b: len(enc.embed(jpegs[: max(b, 128)])), a.min_s)
            )
    load = [round(v, 2) for v in os.getloadavg()]
    print(
        f"\n### Embedding speed, {a.threads} thread(s), median of {a.rounds} rounds; "
        f"load average now {load}\n"
    )
    print(
        "| encoder | res | runtime | batch | network img/s | network img/CPU-s "
        "| end-to-end img/s | end-to-end img/CPU-s |"
    )
    print("|---|---|---|---|---|---|---|---|")

    def med(rows, cpu: bool) -> float:
        return float(np.median([n / (c if cpu else w) for w, c, n in rows]))

    for i, c in enumerate(cells):
        s = stats[i]
        print(
            f"| {c['name']} | {c['res']} | {c['runtime']} | {c['bs']} | "
            f"{med(s['net'], False):.0f} | {med(s['net'], True):.0f} | "
            f"{med(s['e2e'], False):.0f} | {med(s['e2e'], True):.0f} |"
        )


if __name__ == "__main__":
    main()
