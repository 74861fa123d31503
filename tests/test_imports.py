"""The import rules in ``[tool.importlinter]`` (pyproject.toml) hold for the whole tree.

One test per contract, so a failure names the rule it breaks: ``ops`` never imports dagster,
``assets`` or ``pipelines``; ``assets`` never imports ``pipelines``; ``ops.tsrating`` and
``ops.labels`` stay independent; no import cycles anywhere (function-level imports count).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONTRACTS = [
    c["id"]
    for c in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
]


@pytest.mark.parametrize("contract", CONTRACTS)
def test_import_contract(contract):
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run(
        [str(lint), "--config", "pyproject.toml", "--contract", contract, "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_rule_is_checked():
    assert {"ops-is-plain-python", "assets-below-pipelines", "tsrating-labels-independent"} <= set(
        CONTRACTS
    )
    assert {"no-cycles", "no-cycles-labels"} <= set(CONTRACTS)
