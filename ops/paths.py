"""Where Sieve reads and writes: everything hangs off ``SIEVE_DATA_DIR`` (default ``data/``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ops.contracts import KINDS, Table


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
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"invalid dataset name {self.name!r}")

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
    """Dataset folder names under ``raw/<kind>/`` (hidden folders skipped), sorted."""
    base = data_root(root) / "raw" / kind
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def find_dataset_kind(name: str, root: str | os.PathLike | None = None) -> str:
    """Which kind a dataset folder is; a clear error when it is neither or both."""
    kinds = [k for k in KINDS if (data_root(root) / "raw" / k / name).is_dir()]
    if not kinds:
        searched = ", ".join(str(data_root(root) / "raw" / k / name) for k in KINDS)
        raise FileNotFoundError(f"dataset {name!r} not found; looked for {searched}")
    if len(kinds) > 1:
        raise ValueError(f"dataset {name!r} exists under both raw/timeseries and raw/images")
    return kinds[0]
