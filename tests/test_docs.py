"""The repository's docs are self-contained: every ``docs/<file>.md §N`` a docstring or page
cites exists, and nothing cites documents that are not in the
repository (``METHODS``, ``STACK.md``, ``STYLE``)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CITE = re.compile(r"docs/(\w+)\.md(?: (§\d+(?:, §\d+)*))?")
OUTSIDE = re.compile(r"\b(?:METHODS|STACK|STYLE)(?:\.md| §)")


def _sources():
    for pattern in (
        "ops/**/*.py",
        "assets/*.py",
        "pipelines/*.py",
        "benchmarks/*",
        "tests/**/*.py",
    ):
        yield from (p for p in REPO.glob(pattern) if p.is_file() and p.suffix in (".py", ".md"))
    yield from (REPO / "docs").glob("*.md")
    yield from (REPO / name for name in ("README.md", "DESIGN.md", "Makefile"))


def test_cited_docs_and_sections_exist():
    missing = []
    for path in _sources():
        for doc, sections in CITE.findall(path.read_text()):
            target = REPO / "docs" / f"{doc}.md"
            if not target.is_file():
                missing.append(f"{path.relative_to(REPO)}: docs/{doc}.md")
                continue
            headings = set(re.findall(r"^## (\d+)\.", target.read_text(), re.M))
            for n in re.findall(r"§(\d+)", sections):
                if n not in headings:
                    missing.append(f"{path.relative_to(REPO)}: docs/{doc}.md §{n}")
    assert not missing, missing


def test_no_citations_of_documents_outside_the_repository():
    offenders = [
        str(p.relative_to(REPO))
        for p in _sources()
        if p != Path(__file__) and OUTSIDE.search(p.read_text())
    ]
    assert not offenders, offenders
