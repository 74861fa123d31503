"""Publishing: copy a dataset's checked tables to ``published/<kind>/<dataset>/`` atomically.

Consumers read only ``published/``; a dataset whose blocking checks fail keeps its previous
published version (or none), while ``clean/`` always holds the latest attempt.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def publish_files(clean_dir: Path, published_dir: Path, names: list[str]) -> list[Path]:
    """Copy each existing ``names`` file from ``clean_dir``; returns the published paths."""
    published_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        src = clean_dir / name
        if not src.is_file():
            continue
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=published_dir)
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, published_dir / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        out.append(published_dir / name)
    if not out:
        raise FileNotFoundError(f"nothing to publish: none of {names} in {clean_dir}")
    return out
