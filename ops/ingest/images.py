"""Read a labeled image dataset folder into a validated manifest, quarantining bad rows.

Layouts of ``raw/images/<dataset>/``:

- a manifest ``labels.csv`` or ``labels.parquet`` with columns ``image`` (path relative to
  the folder), ``label`` (class name), optional ``trusted`` (bool), optional ``split``
  (``train``/``test``); failing those, every top-level ``.csv`` / ``.parquet`` whose header
  names an image and a label column (:func:`manifest_files`: Kaggle's ``train.csv`` beside a
  ``train/`` folder; the split from a file named ``train``/``val``/``test``; ids without a
  suffix or folder found by :func:`_locate`); or
- an ImageFolder tree ``<class>/<file>`` (deeper subfolders keep the top folder's class), or
  one split per top folder, ``train/<class>/<file>``, ``val/<class>/<file>`` … (every top
  folder named as a split: :data:`SPLIT_ALIASES`; an image directly under a split folder is
  quarantined as ``missing_label`` unless the names give the class: :func:`_labels_from_names`,
  ``cat.0.jpg``); ``trusted.txt`` (one relative path a line) marks trusted files.

The class list comes from ``classes.txt`` (one name a line) when present; otherwise it is
every label of the manifest (or every class folder). Each row is decoded fully with Pillow;
a row that cannot be used lands in the quarantine table with one of these reasons:
``missing_label``, ``unknown_label``, ``missing_file``, ``outside_dataset``, ``empty_file``,
``undecodable``, ``truncated``, ``too_large`` (more pixels than the documented limit
:data:`ops.ingest.imagefile.MAX_IMAGE_PIXELS`: a decompression bomb is refused before it is
decoded), ``duplicate_entry``, ``invalid_split``, ``invalid_trusted``, ``undecodable_text``
(a manifest row whose bytes are not UTF-8: that row is quarantined, the others are read).
Width and height are recorded upright (EXIF orientation applied, :mod:`ops.ingest.imagefile`).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from PIL import UnidentifiedImageError

from ops.contracts import SPLITS
from ops.ingest.csv_dialect import find_column, separator_of_text
from ops.ingest.imagefile import ImageTooLarge, open_image
from ops.ingest.quarantine import quarantine_frame

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
#: photo formats Pillow may not decode here (phone HEIC, camera raw, vector): listed like the
#: others so that an ImageFolder file of this kind is quarantined (undecodable), not ignored
OTHER_IMAGE_SUFFIXES = (".heic", ".heif", ".avif", ".dng", ".cr2", ".nef", ".arw", ".svg", ".psd")
MANIFEST_NAMES = ("labels.csv", "labels.parquet")
RAW_COLUMNS = ("image", "label", "trusted", "split", "text_error")
#: split names in common use: held-out ones (validation, dev) are ``test``: never cleaned or
#: trained on
SPLIT_ALIASES = {
    "training": "train",
    "testing": "test",
    "val": "test",
    "valid": "test",
    "validation": "test",
    "dev": "test",
    "holdout": "test",
}
#: other names a manifest's columns go by (first match, case and space ignored)
COLUMN_ALIASES = {
    "image": (
        "image",
        "filename",
        "file_name",
        "file",
        "path",
        "filepath",
        "image_path",
        "img",
        "image_id",
        "image_name",
    ),
    "label": ("label", "class", "class_name", "category", "target", "labels"),
}
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}

MANIFEST_SCHEMA: dict[str, pl.DataType] = {
    "image": pl.String(),
    "label": pl.String(),
    "trusted": pl.Boolean(),
    "split": pl.String(),
    "width": pl.Int64(),
    "height": pl.Int64(),
    "mode": pl.String(),
    "source_row": pl.Int64(),
}


@dataclass
class ImageIngest:
    manifest: pl.DataFrame
    quarantine: pl.DataFrame
    classes: list[str]
    layout: str  # manifest | imagefolder
    rows_in: int

    def summary(self) -> dict:
        return {
            "layout": self.layout,
            "rows_in": self.rows_in,
            "rows_out": self.manifest.height,
            "quarantined": self.quarantine.height,
            "classes": len(self.classes),
            "trusted": int(self.manifest["trusted"].sum()),
            "test_rows": int((self.manifest["split"] == "test").sum()),
        }


def _read_lines(path: Path) -> list[str]:
    return [
        ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]


def _has_undecodable(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _printable(text: str) -> str:
    """``text`` read with ``surrogateescape``, with its undecodable bytes shown as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _name_error(name: str) -> str | None:
    if not _has_undecodable(name):
        return None
    return f"file name not UTF-8: {name.encode('utf-8', 'surrogateescape')!r}"


def _read_manifest_csv(path: Path) -> pl.DataFrame:
    """``labels.csv`` as text columns plus ``text_error``: null for a good row, the reason for a
    row whose bytes are not UTF-8 (that row is quarantined, not the file)."""
    data = path.read_bytes()
    sep = separator_of_text(data[:1_000_000].decode("utf-8", "replace"))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return pl.read_csv(io.BytesIO(data), infer_schema=False, separator=sep).with_columns(
            text_error=pl.lit(None, pl.String)
        )
    text = data.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=sep) if r]
    if not rows:
        raise ValueError(f"{path}: empty manifest")
    header = [h.strip() for h in rows[0]]
    if any(_has_undecodable(h) for h in header):
        raise ValueError(f"{path}: the header line is not UTF-8: {_printable(','.join(header))!r}")
    records = []
    for line, row in enumerate(rows[1:], start=2):
        cells = (row + [""] * len(header))[: len(header)]
        bad = [h for h, c in zip(header, cells, strict=True) if _has_undecodable(c)]
        rec = {h: (_printable(c) if c != "" else None) for h, c in zip(header, cells, strict=True)}
        rec["text_error"] = (
            f"data line {line}: column(s) {bad} not UTF-8: "
            f"{','.join(cells).encode('utf-8', 'surrogateescape')[:200]!r}"
            if bad
            else None
        )
        records.append(rec)
    return pl.DataFrame(records, schema={**{h: pl.String for h in header}, "text_error": pl.String})


def _canonical_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """``filename, class`` (or ``Image, Label``) → ``image, label`` (:data:`COLUMN_ALIASES`)."""
    renames = {}
    for canon, aliases in COLUMN_ALIASES.items():
        if canon in frame.columns:
            continue
        found = find_column(frame.columns, aliases)
        if found is not None and found not in renames:
            renames[found] = canon
    return frame.rename(renames) if renames else frame


def _header(path: Path) -> list[str]:
    if path.suffix.lower() == ".parquet":
        return list(pl.read_parquet_schema(path))
    with open(path, "rb") as fh:
        line = fh.readline().decode("utf-8", "replace").removeprefix("\ufeff")
    return [c.strip().strip('"') for c in line.rstrip("\r\n").split(separator_of_text(line))]


def manifest_files(folder: Path) -> list[Path]:
    """``labels.csv`` / ``labels.parquet``; failing those, every ``.csv`` / ``.parquet`` at the
    top of the folder whose header names an image and a label column (Kaggle's ``train.csv``
    beside ``train/``; ``image_id, label``)."""
    for name in MANIFEST_NAMES:
        if (folder / name).is_file():
            return [folder / name]
    found = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in (".csv", ".parquet"):
            try:
                cols = _header(path)
            except Exception:  # noqa: BLE001 - an unreadable side file is not a manifest
                continue
            if all(find_column(cols, COLUMN_ALIASES[k]) for k in ("image", "label")):
                found.append(path)
    return found


def _locate(folder: Path, stem: str, image: str | None) -> str | None:
    """The manifest's image path as given when that file exists; else the first that does of
    ``<manifest stem>/<image>`` and either with an image suffix added (Kaggle ids: ``train.csv``
    lists ``0a1b`` for ``train/0a1b.jpg``)."""
    if not image or (folder / image).exists() or "\x00" in image:
        return image
    for base in (image, f"{stem}/{image}"):
        for cand in (base, *(base + s for s in IMAGE_SUFFIXES)):
            if (folder / cand).is_file():
                return cand
    return image


_NAMED = re.compile(r"^(?P<label>[^\d].*?)[._\- ]+\d+$")


def _labels_from_names(stems: list[str]) -> dict[str, str]:
    """``{stem: class}`` when 90 % of the stems are ``<class><sep><number>`` (Dogs vs Cats'
    ``cat.0``, Oxford-IIIT Pet's ``Abyssinian_12``) and the prefixes repeat (at least two
    classes, at most one per two files); else ``{}`` (those files have no label)."""
    found = {s: m.group("label") for s in stems if (m := _NAMED.match(s))}
    classes = set(found.values())
    if len(found) < 0.9 * len(stems) or not 2 <= len(classes) <= len(stems) // 2:
        return {}
    return found


def _split_name(name: str) -> str | None:
    """``train`` / ``test`` for a folder named as a split (``Train``, ``val``, ``validation``),
    else None."""
    n = name.strip().lower()
    n = SPLIT_ALIASES.get(n, n)
    return n if n in SPLITS else None


def read_raw_manifest(folder: Path) -> tuple[pl.DataFrame, str, str]:
    """The rows to validate (all text columns, plus ``text_error`` for rows whose bytes are not
    UTF-8), the layout name and the manifest file name."""
    paths = manifest_files(folder)
    if paths:
        frames = []
        for path in paths:
            frame = (
                pl.read_parquet(path).with_columns(text_error=pl.lit(None, pl.String))
                if path.suffix.lower() == ".parquet"
                else _read_manifest_csv(path)
            )
            frame = _canonical_columns(frame)
            missing = {"image", "label"} - set(frame.columns)
            if missing:
                raise ValueError(
                    f"{path}: manifest lacks column(s) {sorted(missing)}; it has {frame.columns} "
                    f"(names accepted: {', '.join(f'{k}: {v}' for k, v in COLUMN_ALIASES.items())})"
                )
            frame = frame.with_columns(pl.all().cast(pl.String))
            split = _split_name(path.stem) or "train"  # train.csv / val.csv beside their folders
            for col, default in (("trusted", "false"), ("split", split)):
                if col not in frame.columns:
                    frame = frame.with_columns(pl.lit(default).alias(col))
            images = [_locate(folder, path.stem, v) for v in frame["image"].to_list()]
            frames.append(frame.with_columns(image=pl.Series(images, dtype=pl.String)))
        raw = pl.concat([f.select(*RAW_COLUMNS) for f in frames])
        return raw, "manifest", ", ".join(p.name for p in paths)
    trusted = (
        set(_read_lines(folder / "trusted.txt")) if (folder / "trusted.txt").is_file() else set()
    )
    tops = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    by_split = bool(tops) and all(_split_name(d.name) for d in tops)
    files = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES + OTHER_IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    # files with no class folder (at the top, or right under a split folder): their class is
    # the file-name prefix where the names say it (``cat.0.jpg``, ``Abyssinian_12.jpg``)
    loose_depth = 1 + by_split
    named = _labels_from_names(
        [p.stem for p in files if len(p.relative_to(folder).parts) == loose_depth]
    )
    rows = []
    for p in files:
        rel = p.relative_to(folder)
        if len(rel.parts) == loose_depth:
            label = named.get(p.stem, "")
        else:
            # <class>/<file> as torchvision's ImageFolder (the top folder is the class), or
            # <split>/<class>/<file> (train/, val/, test/ at the top: the next folder is the
            # class)
            label = rel.parts[1] if by_split else rel.parts[0]
        rows.append(
            {
                "image": _printable(str(rel)),
                "label": _printable(label),
                "trusted": str(str(rel) in trusted).lower(),
                "split": _split_name(rel.parts[0]) if by_split else "train",
                "text_error": _name_error(str(rel)),
            }
        )
    if not rows:
        raise FileNotFoundError(
            f"{folder}: no labels.csv/labels.parquet, no <class>/<image> files and no images "
            "named <class>.<number> (cat.0.jpg)"
        )
    return (
        pl.DataFrame(rows, schema={k: pl.String for k in RAW_COLUMNS}),
        "imagefolder",
        "",
    )


def check_image(path: Path) -> tuple[tuple[int, int, str] | None, str | None, str | None]:
    """Decode fully. Returns ((width, height, mode), None, None) or (None, reason, detail)."""
    if not path.is_file():
        return None, "missing_file", str(path)
    if path.stat().st_size == 0:
        return None, "empty_file", "0 bytes"
    try:
        with open_image(path) as img:
            return (img.width, img.height, img.mode), None, None
    except ImageTooLarge as exc:
        return None, "too_large", str(exc)
    except UnidentifiedImageError as exc:
        return None, "undecodable", str(exc)
    except (OSError, SyntaxError, ValueError) as exc:
        reason = "truncated" if "truncated" in str(exc).lower() else "undecodable"
        return None, reason, f"{type(exc).__name__}: {exc}"


def ingest_images(folder: Path, progress=None) -> ImageIngest:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image dataset folder not found: {folder}")
    raw, layout, manifest_name = read_raw_manifest(folder)
    if (folder / "classes.txt").is_file():
        classes = _read_lines(folder / "classes.txt")
    else:
        classes = sorted({lbl.strip() for lbl in raw["label"].drop_nulls() if lbl.strip()})
    if not classes:
        raise ValueError(f"{folder}: no class names (empty labels and no classes.txt)")
    class_set = set(classes)
    root = folder.resolve()
    good, bad, seen = [], [], set()
    for i, row in enumerate(raw.iter_rows(named=True)):
        image = (row["image"] or "").strip()
        if "\\" in image and "\x00" not in image and not (folder / image).exists():
            image = image.replace("\\", "/")  # a manifest written on Windows
        label = (row["label"] or "").strip()
        trusted = (row["trusted"] or "").strip().lower()
        split = (row["split"] or "train").strip().lower() or "train"
        split = SPLIT_ALIASES.get(split, split)

        def quarantine(reason: str, detail: str | None = None, *, i=i, image=image) -> None:
            bad.append(
                {
                    "source_file": manifest_name or image,
                    "source_row": i,
                    "item": image,
                    "reason": reason,
                    "detail": detail,
                }
            )

        path = (folder / image).resolve()
        if row["text_error"]:
            quarantine("undecodable_text", row["text_error"])
        elif not image or not path.is_relative_to(root):
            quarantine("outside_dataset" if image else "missing_file", image or "empty image path")
        elif image in seen:
            quarantine("duplicate_entry", f"{image} listed more than once; first kept")
        elif not label:
            quarantine("missing_label")
        elif label not in class_set:
            quarantine("unknown_label", f"{label!r} not among {len(classes)} classes")
        elif split not in SPLITS:
            quarantine("invalid_split", f"{split!r} not in {SPLITS} (or {sorted(SPLIT_ALIASES)})")
        elif trusted not in _TRUE | _FALSE:
            quarantine("invalid_trusted", repr(row["trusted"]))
        else:
            info, reason, detail = check_image(path)
            if reason:
                quarantine(reason, detail)
            else:
                w, h, mode = info
                good.append(
                    {
                        "image": image,
                        "label": label,
                        "trusted": trusted in _TRUE,
                        "split": split,
                        "width": w,
                        "height": h,
                        "mode": mode,
                        "source_row": i,
                    }
                )
        seen.add(image)
        if progress and (i + 1) % 2000 == 0:
            progress(f"checked {i + 1}/{raw.height} images")
    manifest = pl.DataFrame(good, schema=MANIFEST_SCHEMA)
    return ImageIngest(manifest, quarantine_frame(bad), classes, layout, raw.height)
