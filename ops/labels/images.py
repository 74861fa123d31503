"""Image sources for training: files decoded lazily with Pillow, or in-memory uint8 arrays.

Both sources are torch ``Dataset`` objects whose items are ``(uint8 tensor (C, H, W), index)``
and which also offer :meth:`get_batch` (a stacked ``(B, C, H, W)`` uint8 tensor) so a training
loop can batch without a ``DataLoader``. Images are converted to a fixed size and a fixed
channel count: 1 when every image is greyscale, else 3.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ops.hashing import sha256_file, sha256_hex

GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})


@dataclass(frozen=True)
class ImageSpec:
    """How images are normalised before training.

    Attributes
    ----------
    size : int or None
        Side length in pixels of the square the images are resized to. ``None`` (default):
        the images' own side (median of the larger side over up to 256 file headers),
        clamped to [8, ``max_size``] — small images are not upsampled (8x8 digits train
        16x faster than at 32 px for the same information), large ones are shrunk.
    max_size : int
        Upper bound for the automatic size (default 32, a CPU-sized budget).
    channels : int or None
        1 or 3; ``None`` decides from a header scan (1 if every file is greyscale).
    cache_max_bytes : int
        The decoded uint8 cache is used when ``N * C * size * size`` is at most this many
        bytes (default 512 MiB); 0 turns the cache off (every access decodes from disk).
    """

    size: int | None = None
    channels: int | None = None
    cache_max_bytes: int = 512 * 2**20
    max_size: int = 32

    def __post_init__(self) -> None:
        if self.size is not None and not 4 <= self.size <= 512:
            raise ValueError(f"image size must be in [4, 512], got {self.size}")
        if not 8 <= self.max_size <= 512:
            raise ValueError(f"max_size must be in [8, 512], got {self.max_size}")
        if self.channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1, 3 or None, got {self.channels}")
        if self.cache_max_bytes < 0:
            raise ValueError("cache_max_bytes must be >= 0")


def scan_channels(paths: Sequence[str | os.PathLike]) -> int:
    """Return 1 if every image is greyscale, else 3. Reads headers only (no pixel decode)."""
    from PIL import Image

    for p in paths:
        with Image.open(p) as im:
            if im.mode not in GREY_MODES:
                return 3
    return 1


def scan_native_size(
    paths: Sequence[str | os.PathLike], max_size: int = 32, sample: int = 256
) -> int:
    """Median larger side of up to ``sample`` evenly spaced images (headers only), clamped to
    [8, max_size]."""
    from PIL import Image

    if not paths:
        return max_size
    step = max(1, len(paths) // sample)
    sides = []
    for p in list(paths)[::step][:sample]:
        with Image.open(p) as im:
            sides.append(max(im.size))
    return int(min(max(int(np.median(sides)), 8), max_size))


def decode_image(path: str | os.PathLike, size: int, channels: int) -> np.ndarray:
    """Decode one file to a ``(channels, size, size)`` uint8 array (bilinear resize if needed),
    upright (EXIF orientation applied) and within the pixel limit
    (``ops.ingest.imagefile.open_image``)."""
    from PIL import Image

    from ops.ingest.imagefile import open_image

    with open_image(path) as im:
        if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            arr = np.asarray(im, dtype=np.float64)
            lo, hi = float(arr.min()), float(arr.max())
            arr = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
            im2 = Image.fromarray(arr.astype(np.uint8), mode="L")
        else:
            im2 = im.convert("L" if channels == 1 else "RGB")
        if channels == 3 and im2.mode != "RGB":
            im2 = im2.convert("RGB")
        if im2.size != (size, size):
            im2 = im2.resize((size, size), Image.Resampling.BILINEAR)
        arr = np.asarray(im2, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = arr.transpose(2, 0, 1)
    return np.ascontiguousarray(arr)


class ImageFileDataset(Dataset):
    """Images decoded lazily from files on disk, with an optional uint8 cache.

    Parameters
    ----------
    paths : sequence of paths
        One file per row.
    spec : ImageSpec
        Size, channels and cache policy.
    cache : bool or None
        ``True`` keeps every decoded image in a preallocated uint8 array (filled on first
        access); ``False`` decodes on every access (streaming; memory stays flat); ``None``
        caches when the array would fit in ``spec.cache_max_bytes``.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        spec: ImageSpec | None = None,
        cache: bool | None = None,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.spec = spec or ImageSpec()
        self.channels = self.spec.channels or (scan_channels(self.paths) if self.paths else 3)
        self.size = self.spec.size or scan_native_size(self.paths, self.spec.max_size)
        nbytes = len(self.paths) * self.channels * self.size * self.size
        self.cache_enabled = (nbytes <= self.spec.cache_max_bytes) if cache is None else bool(cache)
        self._cache: np.ndarray | None = None
        self._filled: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    def _decode(self, i: int) -> np.ndarray:
        if not self.cache_enabled:
            return decode_image(self.paths[i], self.size, self.channels)
        if self._cache is None:
            self._cache = np.empty((len(self.paths), *self.shape), dtype=np.uint8)
            self._filled = np.zeros(len(self.paths), dtype=bool)
        if not self._filled[i]:
            self._cache[i] = decode_image(self.paths[i], self.size, self.channels)
            self._filled[i] = True
        return self._cache[i]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(np.array(self._decode(int(i)))), int(i)

    def get_batch(self, idx: np.ndarray) -> torch.Tensor:
        """Stack rows ``idx`` into a ``(B, C, H, W)`` uint8 tensor."""
        return torch.from_numpy(np.stack([self._decode(int(i)) for i in idx]))

    def fingerprint(self) -> str:
        """sha256 over the file contents (in row order) and the spec: identifies the pixels."""
        h = hashlib.sha256(f"files|{self.size}|{self.channels}".encode())
        for p in self.paths:
            h.update(bytes.fromhex(sha256_file(p)))  # the file's digest, read in blocks
        return h.hexdigest()


class ArrayImageDataset(Dataset):
    """Images already in memory as uint8 (or float in [0, 1]) arrays.

    Parameters
    ----------
    images : array
        ``(N, H, W)`` greyscale, ``(N, H, W, C)`` or ``(N, C, H, W)`` with C in {1, 3}.
        Float arrays are taken to be in [0, 1] and scaled to uint8.
    size : int, optional
        Resize (bilinear) to ``size`` x ``size``; default keeps the native size.
    """

    def __init__(self, images: np.ndarray, size: int | None = None) -> None:
        x = np.asarray(images)
        if np.issubdtype(x.dtype, np.floating):
            x = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
        elif x.dtype != np.uint8:
            raise TypeError(f"images must be uint8 or float in [0, 1], got {x.dtype}")
        if x.ndim == 3:
            x = x[:, None]
        elif x.ndim == 4:
            if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
                x = x.transpose(0, 3, 1, 2)
        else:
            raise ValueError(f"images must be 3-D or 4-D, got shape {x.shape}")
        if x.shape[1] not in (1, 3):
            raise ValueError(f"images must have 1 or 3 channels, got shape {x.shape}")
        t = torch.from_numpy(np.ascontiguousarray(x))
        if size is not None and (t.shape[2], t.shape[3]) != (size, size):
            t = (
                torch.nn.functional.interpolate(
                    t.float(), size=(size, size), mode="bilinear", align_corners=False
                )
                .round()
                .clamp(0, 255)
                .to(torch.uint8)
            )
        self.data = t.contiguous()
        self.channels = int(self.data.shape[1])
        self.size = int(self.data.shape[2])

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape[1:])  # type: ignore[return-value]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.data[int(i)], int(i)

    def get_batch(self, idx: np.ndarray) -> torch.Tensor:
        """Rows ``idx`` as a ``(B, C, H, W)`` uint8 tensor on the dataset's device."""
        return self.data[torch.as_tensor(np.asarray(idx), dtype=torch.long, device=self.device)]

    def to(self, device: str | torch.device) -> ArrayImageDataset:
        """Keep the images on ``device`` (e.g. the GPU: batches are then gathered there)."""
        self.data = self.data.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return self.data.device

    def fingerprint(self) -> str:
        return sha256_hex(f"array|{tuple(self.data.shape)}", self.data.cpu().numpy().tobytes())


def to_float(
    batch: torch.Tensor, mean: Sequence[float] = (0.5,), std: Sequence[float] = (0.25,)
) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` -> float32 ``(x/255 - mean) / std``.

    The default ``(x/255 - 0.5) / 0.25`` is roughly zero-mean and unit-scale for any image;
    per-channel ``mean``/``std`` (three values) are dataset statistics such as CIFAR's.
    """
    x = batch.float() / 255.0
    if len(mean) == 1:
        return (x - float(mean[0])) / float(std[0])
    shape = (1, len(mean), 1, 1)
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(shape)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(shape)
    return (x - m) / s
