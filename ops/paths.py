"""Where Sieve reads and writes: everything hangs off ``SIEVE_DATA_DIR`` (default ``data/``)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ops.contracts import KINDS, Table

#: a dataset name: letters, digits, ``_``, ``-`` and ``.``, at most 100 characters, starting
#: with a letter or digit, never containing ``..``. Names reach folders, Dagster partition keys
#: and log lines; anything else is refused before it reaches any of them.
DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def validate_dataset_name(name: str) -> str:
    """``name`` if it is a safe dataset name (:data:`DATASET_NAME`), else ``ValueError``."""
    if not isinstance(name, str) or not DATASET_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"invalid dataset name {name!r}: use 1-100 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit, without '..'"
        )
    return name


def check_folder_name(name: str) -> str:
    """``name`` if it is one plain folder name (no separator, not ``.``/``..``, not hidden, no
    control character), else ``ValueError``. The path-safety floor every :class:`DatasetPaths`
    enforces; names are held to the stricter :func:`validate_dataset_name` where they enter
    (the CLI, the sensor's folder listing, partition registration)."""
    if (
        not isinstance(name, str)
        or not name
        or name.startswith(".")
        or len(name) > 255
        or any(c in "/\\" or ord(c) < 32 for c in name)
    ):
        raise ValueError(f"invalid dataset name {name!r}: not a single plain folder name")
    return name


def is_valid_dataset_name(name: str) -> bool:
    try:
        validate_dataset_name(name)
    except ValueError:
        return False
    return True


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: the argument, else ``$SIEVE_DATA_DIR``, else ``data`` (relative to cwd)."""
    if root is not None:
        return Path(root).expanduser().resolve()
    return Path(os.environ.get("SIEVE_DATA_DIR", "data")).expanduser().resolve()


@dataclass(frozen=True)
class DatasetPaths:
    """The folders of one dataset: ``raw/<kind>/<name>``, ``clean/<kind>/<name>``."""

    root: Path
    kind: str
    name: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"dataset kind must be one of {KINDS}, got {self.kind!r}")
        check_folder_name(self.name)

    @property
    def raw(self) -> Path:
        return self.root / "raw" / self.kind / self.name

    @property
    def clean(self) -> Path:
        return self.root / "clean" / self.kind / self.name

    @property
    def published(self) -> Path:
        return self.root / "published" / self.kind / self.name

    def table(self, table: Table) -> Path:
        """Where ``table`` of this dataset lives under ``clean/``."""
        return self.clean / table.file


def dataset_paths(kind: str, name: str, root: str | os.PathLike | None = None) -> DatasetPaths:
    return DatasetPaths(data_root(root), kind, name)


def reports_dir(root: str | os.PathLike | None = None) -> Path:
    return data_root(root) / "reports"


def list_datasets(kind: str, root: str | os.PathLike | None = None) -> list[str]:
    """Dataset folder names under ``raw/<kind>/``, sorted; hidden folders and names that are not
    safe dataset names (:func:`validate_dataset_name`) are skipped."""
    base = data_root(root) / "raw" / kind
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and is_valid_dataset_name(p.name))


def find_dataset_kind(name: str, root: str | os.PathLike | None = None) -> str:
    """Which kind a dataset folder is; a clear error when it is neither or both, or when
    ``name`` is not a safe dataset name."""
    validate_dataset_name(name)
    kinds = [k for k in KINDS if (data_root(root) / "raw" / k / name).is_dir()]
    if not kinds:
        searched = ", ".join(str(data_root(root) / "raw" / k / name) for k in KINDS)
        raise FileNotFoundError(f"dataset {name!r} not found; looked for {searched}")
    if len(kinds) > 1:
        raise ValueError(f"dataset {name!r} exists under both raw/timeseries and raw/images")
    return kinds[0]
