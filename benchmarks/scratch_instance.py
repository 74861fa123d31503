"""A throw-away Sieve home for benchmarks that run the CLI as a user would: a temporary data
folder and Dagster instance, and the environment that points ``python -m pipelines.cli`` at
them (no telemetry, litellm's bundled price map)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

INSTANCE_YAML = "telemetry:\n  enabled: false\n"


@contextmanager
def scratch_instance(instance_yaml: str = INSTANCE_YAML) -> Iterator[tuple[dict, Path]]:
    """``(environment, data folder)``; both are removed on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        home, data = Path(tmp) / "home", Path(tmp) / "data"
        home.mkdir()
        (home / "dagster.yaml").write_text(instance_yaml)
        yield (
            {
                **os.environ,
                "DAGSTER_HOME": str(home),
                "SIEVE_DATA_DIR": str(data),
                "DAGSTER_DISABLE_TELEMETRY": "1",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            },
            data,
        )
