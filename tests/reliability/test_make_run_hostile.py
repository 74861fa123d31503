"""`make run` as a user runs it (issue 15): no shell ever sees the dataset name, and every file
Sieve writes honours the umask, so another account can read ``published/``."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from .corpus import png, series_csv

REPO = Path(__file__).resolve().parents[2]


def _make(tmp_path: Path, *args: str, umask: str = "022") -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SIEVE_DATA_DIR": str(tmp_path / "data"),
        "SIEVE_DAGSTER_HOME": str(tmp_path / "home"),
    }
    (tmp_path / "home").mkdir(exist_ok=True)
    # `make` itself is started through argv (no shell here); the umask is set by a shell that
    # sees only fixed text, the name travels as one argv element
    return subprocess.run(
        ["bash", "-c", f'umask {umask} && exec make -s -C "$0" "$@"', str(REPO), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    "payload",
    [
        'x"; touch {p}; echo "',
        "`touch {p}`",
        "$$(touch {p})",
        "$(touch {p})",
        "x'; touch {p}; echo '",
        "x\ntouch {p}",
    ],
)
def test_a_dataset_name_never_reaches_a_shell(tmp_path, payload):
    marker = tmp_path / "pwned"
    out = _make(tmp_path, "run", "DATASET=" + payload.format(p=marker))
    assert not marker.exists(), "the dataset name was executed by a shell"
    assert out.returncode != 0
    assert "invalid dataset name" in out.stderr or "usage" in out.stdout + out.stderr


def test_dotdot_is_refused_and_never_registered(tmp_path):
    (tmp_path / "data" / "raw" / "timeseries").mkdir(parents=True)
    out = _make(tmp_path, "run", "DATASET=..")
    assert out.returncode == 2 and "invalid dataset name '..'" in out.stderr
    assert not list((tmp_path / "home").rglob("*.db"))  # the instance was never even opened


@pytest.mark.slow
def test_every_output_file_of_make_run_honours_the_umask(tmp_path):
    data = tmp_path / "data"
    for s in range(2):
        series_csv(data / "raw" / "timeseries" / "perm_ts" / f"s{s}.csv", 300, seed=s)
    for i in range(8):
        png(data / "raw" / "images" / "perm_img" / ("a" if i % 2 else "b") / f"{i}.png", i * 20)
    for name in ("perm_ts", "perm_img"):
        out = _make(tmp_path, "run", f"DATASET={name}", umask="022")
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    files = dirs = 0
    for base in (data / "clean", data / "published", data / "cache"):
        for p in base.rglob("*"):
            if p.is_symlink():
                continue
            mode = stat.S_IMODE(p.lstat().st_mode)
            if p.is_dir():
                dirs += 1
                assert mode == 0o755, f"{p}: {oct(mode)}"
            else:
                files += 1
                assert mode == 0o644, f"{p}: {oct(mode)}"
    published = list((data / "published").rglob("*.parquet"))
    assert len(published) >= 5 and files > 10 and dirs > 4
    for p in published:  # what a consumer in another account opens
        assert stat.S_IMODE(p.stat().st_mode) & 0o004
