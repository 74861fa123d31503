"""Embedding speed of the pretrained encoders on this CPU: images per second by encoder,
resolution, batch size and runtime, side by side in one process.

Two measurements per cell, in interleaved rounds so that a busy machine slows every cell alike:
``network`` -- the encoder alone on a fixed batch of preprocessed images; ``end to end`` -- JPEG
decode + resize + normalise + network on real CIFAR-10 test JPEGs when the shared data is there
(else random 32 x 32 images). Both are reported as wall-clock images/s and as images per CPU-second
of the process (the rate an otherwise idle core would give; robust to load from other processes).

    python -m benchmarks.embed_speed                       # lite0 (+ lite1/lite2 if installed)
    python -m benchmarks.embed_speed --encoders lite0 --resolutions 128 --batches 32,64 --threads 2
    python -m benchmarks.embed_speed --int8 --encoders lite0 --resolutions 128
    python -m benchmarks.embed_speed --memory 50000 --encoders lite0+lite2 --resolutions 128

``--int8``: the encoder's ONNX graph quantised by ONNX Runtime, dynamic (``quantize_dynamic``,
int8 weights) and static (``quantize_static``, QDQ, per-channel, calibrated on 256 CIFAR-10
training images 49,744-49,999), against fp32 in the same process: network img/CPU-s, mean
cosine of the vectors to fp32, and the out-of-fold accuracy (5 folds, default linear head) of
each variant's vectors on CIFAR-10 training images 0-1,999 with their clean labels.
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


def int8_study(name: str, res: int, threads: int, rounds: int, min_s: float) -> None:
    """fp32 vs dynamic vs static int8 ONNX graphs of one encoder (see the module docstring)."""
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from benchmarks.labels_photos import cifar_zips, zip_images
    from ops.labels.backbones import BackboneConfig, EmbeddingSource
    from ops.labels.oof import oof_pred_probs

    enc = PretrainedEncoder(name, res, threads=threads)
    fp32 = enc.onnx_path()
    pre = fp32.with_name(fp32.stem + ".pre.onnx")
    dyn = fp32.with_name(fp32.stem + ".int8-dynamic.onnx")
    qdq = fp32.with_name(fp32.stem + ".int8-static-qdq.onnx")
    train = [np.asarray(im.convert("RGB")) for im in zip_images(cifar_zips("train")[4])]
    calib = [prepare_image(a, res) for a in train[-256:]]
    if not pre.exists():
        quant_pre_process(str(fp32), str(pre))
    if not dyn.exists():
        quantize_dynamic(str(pre), str(dyn), weight_type=QuantType.QInt8)
    if not qdq.exists():

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.it = iter([{"x": to_input(calib[i : i + 32])} for i in range(0, 256, 32)])

            def get_next(self):
                return next(self.it, None)

        quantize_static(
            str(pre),
            str(qdq),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = {
        k: ort.InferenceSession(str(v), so, providers=["CPUExecutionProvider"])
        for k, v in (("fp32", fp32), ("int8-dynamic", dyn), ("int8-static-qdq", qdq))
    }
    first = zip_images(cifar_zips("train")[0], 2000)
    imgs = [prepare_image(im, res) for im in first]
    y = np.load(shared_images_dir() / "cifar10n" / "cifar10n_labels_50000.npz")["clean_label"]
    y = y[:2000].astype(np.int64)
    x = to_input(imgs[:32])
    speed: dict[str, list] = {k: [] for k in sess}
    for _ in range(rounds):
        for k, s in sess.items():
            s.run(None, {"x": x})
            speed[k].append(timed(lambda s=s: len(s.run(None, {"x": x})[0]), min_s))
    vec = {
        k: np.concatenate(
            [s.run(None, {"x": to_input(imgs[i : i + 32])})[0] for i in range(0, 2000, 32)]
        )
        for k, s in sess.items()
    }
    cfg = BackboneConfig(kind="pretrained", num_threads=threads).for_vectors()
    print(f"\n### int8 vs fp32, {name} at {res} px, {threads} thread(s), batch 32\n")
    print("| graph | MB | network img/CPU-s | x fp32 | cosine to fp32 | OOF acc, 2k clean % |")
    print("|---|---|---|---|---|---|")
    paths = {"fp32": fp32, "int8-dynamic": dyn, "int8-static-qdq": qdq}
    base = float(np.median([n / c for _w, c, n in speed["fp32"]]))
    for k, v in vec.items():
        a, b = v / np.linalg.norm(v, axis=1, keepdims=True), vec["fp32"]
        cos = float(np.mean(np.sum(a * b / np.linalg.norm(b, axis=1, keepdims=True), axis=1)))
        p = oof_pred_probs(EmbeddingSource(v), np.arange(2000), y, 10, cfg, seed=0).pred_probs
        ips = float(np.median([n / c for _w, c, n in speed[k]]))
        print(
            f"| {k} | {paths[k].stat().st_size / 1e6:.1f} | {ips:.0f} | {ips / base:.2f} | "
            f"{cos:.4f} | {100 * np.mean(p.argmax(1) == y):.1f} |"
        )


def memory_run(name: str, res: int, n: int, threads: int) -> None:
    """Stream the first ``n`` CIFAR-10N training JPEGs (zip by zip, one decoded batch alive at a
    time) through the encoder into one preallocated ``(n, dim)`` array: time and peak RSS."""
    import resource

    from benchmarks.labels_photos import cifar_zips, zip_images

    def images():
        left = n
        for z in cifar_zips("train"):
            for im in zip_images(z, left):
                yield im
                left -= 1
            if left <= 0:
                return

    enc = PretrainedEncoder(name, res, threads=threads)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    w0, c0 = time.perf_counter(), time.process_time()
    out = enc.embed(images(), n=n, progress=print, every_s=60)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n### Memory, {enc.tag}, {threads} thread(s)\n")
    print("| images | dim | result MB | wall s | img/s | img/CPU-s | peak RSS before / after MB |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {len(out)} | {out.shape[1]} | {out.nbytes / 2**20:.0f} | {wall:.0f} | "
        f"{len(out) / wall:.0f} | {len(out) / cpu:.0f} | {rss0:.0f} / {peak:.0f} |"
    )


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
    ap.add_argument("--int8", action="store_true", help="int8 vs fp32 ONNX graphs (see above)")
    ap.add_argument("--memory", type=int, help="embed this many CIFAR-10N images: peak RSS")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.memory:
        for name in a.encoders.split(","):
            memory_run(name, int(a.resolutions.split(",")[0]), a.memory, a.threads)
        return
    if a.int8:
        for name in a.encoders.split(","):
            for r in map(int, a.resolutions.split(",")):
                int8_study(name, r, a.threads, a.rounds, a.min_s)
        return
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
