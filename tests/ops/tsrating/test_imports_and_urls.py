import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

MODULES = [
    "ops.tsrating",
    "ops.tsrating.judging",
    "ops.tsrating.llm_judge",
    "ops.tsrating.local_llm",
    "ops.tsrating.rubric_judge",
    "ops.tsrating.cache",
    "ops.tsrating.pairs",
    "ops.tsrating.prompts",
    "assets.resources",
]


@pytest.mark.parametrize("module", MODULES)
def test_import_does_not_import_litellm_or_transformers(module):
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        "bad = [m for m in ('litellm', 'transformers', 'openai') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_ops_does_not_import_dagster():
    code = (
        "import sys, importlib\n"
        "for m in ['ops.tsrating.judging', 'ops.tsrating.llm_judge', 'ops.tsrating.local_llm']:\n"
        "    importlib.import_module(m)\n"
        "sys.exit(1 if 'dagster' in sys.modules else 0)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr


URL = re.compile(r"https?://")
ALLOW = set()  # files allowed to contain URL literals (none needed so far)


def test_no_url_literals():
    offenders = []
    for root in ("ops", "pipelines"):
        for p in sorted((REPO / root).rglob("*")):
            if (
                p.suffix not in (".py", ".txt", ".yaml", ".yml", ".toml", ".json")
                or "__pycache__" in p.parts
            ):
                continue
            rel = p.relative_to(REPO).as_posix()
            if rel in ALLOW:
                continue
            for n, line in enumerate(
                p.read_text(encoding="utf-8", errors="replace").splitlines(), 1
            ):
                if URL.search(line):
                    offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
