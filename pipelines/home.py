"""A Dagster home for ``SIEVE_DAGSTER_HOME`` that does not exist yet.

``make`` points ``$DAGSTER_HOME`` at the repository by default, whose ``dagster.yaml`` keeps
the instance's state under ``.dagster/`` relative to the working directory. A user who sets
``SIEVE_DAGSTER_HOME=/srv/sieve-home`` expects the state *there*, and Dagster itself refuses a
home that does not exist. :func:`ensure_dagster_home` creates the folder and writes the
repository's ``dagster.yaml`` into it with every relative ``base_dir`` made absolute under the
new home (same pools, run limits, retention and logging as the repository's instance). A home
that already exists is left exactly as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO_CONFIG = Path(__file__).resolve().parents[1] / "dagster.yaml"


def _anchor(node: Any, home: Path) -> Any:
    """``node`` with each relative ``base_dir`` value turned into ``home / base_dir``."""
    if isinstance(node, dict):
        return {
            k: (
                str(home / v)
                if k == "base_dir" and isinstance(v, str) and not Path(v).is_absolute()
                else _anchor(v, home)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_anchor(v, home) for v in node]
    return node


def ensure_dagster_home(home: str | Path) -> str | None:
    """Create ``home`` with Sieve's instance config if it does not exist (or is an empty
    folder); returns a line saying what was done, or ``None`` when nothing was."""
    home = Path(home).expanduser().resolve()
    if home.exists() and not home.is_dir():
        raise SystemExit(f"DAGSTER_HOME {home} exists but is not a folder")
    if home.is_dir() and any(home.iterdir()):
        return None
    home.mkdir(parents=True, exist_ok=True)
    config = _anchor(yaml.safe_load(REPO_CONFIG.read_text()), home)
    (home / "dagster.yaml").write_text(
        "# written by Sieve (pipelines/home.py) from the repository's dagster.yaml;\n"
        "# instance state lives under this folder\n" + yaml.safe_dump(config, sort_keys=False)
    )
    return f"created Dagster home {home} (dagster.yaml from the repository, state under it)"
