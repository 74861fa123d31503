"""Versioned prompt templates, one per criterion (docs/tsrating.md §3).

Templates live in ``ops/tsrating/prompts/<version>/<criterion>.txt`` and contain the two
placeholders ``{{series_a}}`` and ``{{series_b}}``. A template is identified by its version
and the sha256 of its text; both go into every cache key, so editing a template file
invalidates exactly the judgments made with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ops.contracts import CRITERIA  # one template per criterion of the data contract
from ops.hashing import sha256_hex
from ops.tsrating.serialize import serialize_series

DEFAULT_TEMPLATE_VERSION = "v1"
PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
PLACEHOLDER_A = "{{series_a}}"
PLACEHOLDER_B = "{{series_b}}"


@dataclass(frozen=True)
class PromptTemplate:
    criterion: str
    version: str
    text: str

    @property
    def sha256(self) -> str:
        return sha256_hex(self.text)

    def render(self, series_a, series_b, prec: int = 4) -> str:
        """The prompt with ``series_a`` shown as Option A and ``series_b`` as Option B."""
        return self.text.replace(PLACEHOLDER_A, serialize_series(series_a, prec)).replace(
            PLACEHOLDER_B, serialize_series(series_b, prec)
        )


def available_versions() -> list[str]:
    return sorted(
        p.name for p in PROMPTS_DIR.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    )


@lru_cache(maxsize=64)
def load_template(criterion: str, version: str = DEFAULT_TEMPLATE_VERSION) -> PromptTemplate:
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; expected one of {CRITERIA}")
    path = PROMPTS_DIR / version / f"{criterion}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"no prompt template {path} (versions: {available_versions()})")
    text = path.read_text(encoding="utf-8")
    for ph in (PLACEHOLDER_A, PLACEHOLDER_B):
        if text.count(ph) != 1:
            raise ValueError(f"template {path} must contain {ph} exactly once")
    return PromptTemplate(criterion=criterion, version=version, text=text)
