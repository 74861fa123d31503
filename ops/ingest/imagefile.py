"""Opening one image file safely: a pixel limit against decompression bombs, EXIF orientation.

Every place Sieve decodes an image (the ingest check in :mod:`ops.ingest.images`, training in
``ops.labels.images``) opens it through :func:`open_image`:

- **Pixel limit.** An image whose header declares more than :data:`MAX_IMAGE_PIXELS` pixels
  (default 64 Mi = 67,108,864, e.g. 8192 x 8192; override with the environment variable
  ``SIEVE_MAX_IMAGE_PIXELS``) is refused *before any pixel is decoded*, with
  :class:`ImageTooLarge`; the ingest quarantines the row with reason ``too_large``. Pillow's
  own guard is set to the same limit (``PIL.Image.MAX_IMAGE_PIXELS``), and its
  ``DecompressionBombError``/``DecompressionBombWarning`` are turned into the same refusal, so
  no path decodes a 30000 x 30000 "image" into memory.
- **EXIF orientation.** A JPEG/TIFF/WebP carrying an EXIF ``Orientation`` tag is turned upright
  (``PIL.ImageOps.exif_transpose``) when it is loaded, so a phone photo stored sideways is
  trained on (and its width and height recorded) as it is displayed.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageOps

MAX_IMAGE_PIXELS = int(os.environ.get("SIEVE_MAX_IMAGE_PIXELS", 64 * 2**20))
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
# EXIF Orientation values 5-8 swap width and height when applied
_TRANSPOSED = {5, 6, 7, 8}
_ORIENTATION_TAG = 0x0112


class ImageTooLarge(ValueError):
    """The image declares more pixels than :data:`MAX_IMAGE_PIXELS`."""


def _check_pixels(width: int, height: int, limit: int) -> None:
    if width * height > limit:
        raise ImageTooLarge(
            f"{width}x{height} = {width * height:,} pixels > the limit of {limit:,} "
            "(SIEVE_MAX_IMAGE_PIXELS): refused as a possible decompression bomb"
        )


def orientation(img: Image.Image) -> int:
    """The EXIF orientation of ``img`` (1 = upright, also when there is no EXIF)."""
    try:
        return int(img.getexif().get(_ORIENTATION_TAG, 1) or 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block means "no orientation"
        return 1


def upright_size(img: Image.Image) -> tuple[int, int]:
    """(width, height) as displayed, from the header: swapped for orientations 5-8."""
    w, h = img.size
    return (h, w) if orientation(img) in _TRANSPOSED else (w, h)


@contextmanager
def open_image(
    path: str | os.PathLike, *, load: bool = True, limit: int | None = None
) -> Iterator[Image.Image]:
    """Open ``path``; refuse it (:class:`ImageTooLarge`) if it declares more than ``limit``
    pixels (default :data:`MAX_IMAGE_PIXELS`); with ``load`` decode it and apply its EXIF
    orientation. Other Pillow errors propagate unchanged."""
    limit = MAX_IMAGE_PIXELS if limit is None else limit
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(Path(path)) as img:
                _check_pixels(img.width, img.height, limit)
                if not load:
                    yield img
                    return
                img.load()
                if orientation(img) == 1:
                    yield img
                    return
                upright = ImageOps.exif_transpose(img)
                try:
                    yield upright
                finally:
                    if upright is not img:
                        upright.close()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(
                f"refused as a possible decompression bomb (limit {MAX_IMAGE_PIXELS:,} pixels, "
                f"SIEVE_MAX_IMAGE_PIXELS): {exc}"
            ) from exc
