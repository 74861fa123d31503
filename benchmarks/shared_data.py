"""Where the benchmarks find the shared real datasets (``../shared/data`` on the dev box).

Order: ``$SIEVE_SHARED_DATA`` if set; else ``../shared/data`` next to the repo when it exists;
else ``.bench_data/`` in the repo (the git-ignored partial copy that travels to the GPU machine,
made by ``benchmarks/stage_gpu_data.sh``).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    env = os.environ.get("SIEVE_SHARED_DATA")
    if env:
        return Path(env)
    shared = REPO.parent / "shared" / "data"
    return shared if shared.is_dir() else REPO / ".bench_data"


def shared_images_dir() -> Path:
    return shared_data_dir() / "images"
