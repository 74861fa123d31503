"""kill -9 while publishing (issue 15): the published folder never mixes two runs' tables,
and the next publish removes what the killed one left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from ops.publish import publish_tables

from .corpus import TABLES, clean_set, published_tags

REPO = Path(__file__).resolve().parents[2]


PUBLISHER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from ops.contracts import JUDGMENTS, LABELS, SELECTED, SERIES
    from ops.publish import publish_tables
    root = Path(sys.argv[1])
    i = 0
    print("ready", flush=True)
    while True:
        tag = "a" if i % 2 == 0 else "b"
        publish_tables(root / "clean" / tag, root / "published" / "ds",
                       (SELECTED, JUDGMENTS, SERIES, LABELS))
        i += 1
    """
)


def test_kill_9_while_publishing_never_leaves_a_mixed_set(tmp_path):
    """A publisher alternating between two complete sets is SIGKILLed at random moments; after
    every kill the published folder holds one complete set, and the next publish removes what
    the killed one left."""
    for tag in ("a", "b"):
        clean_set(tmp_path / "clean" / tag, tag, rows=300_000)  # a few MB per table
    pub = tmp_path / "published" / "ds"
    rng = np.random.default_rng(0)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    kills = 0
    for _ in range(12):
        proc = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            cwd=REPO,
        )
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.05, 0.6)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        tags = published_tags(pub) if pub.exists() else {}
        if tags:
            assert len(tags) == 4, tags  # all four tables present
            assert len(set().union(*tags.values())) == 1, f"mixed set after kill {kills}: {tags}"
    clean_set(tmp_path / "clean" / "c", "c", 10)
    publish_tables(tmp_path / "clean" / "c", pub, TABLES)
    assert published_tags(pub) == {t.file: {"c"} for t in TABLES}
    # nothing a killed publisher left behind survives the next publish
    assert not [p for p in pub.parent.rglob("*") if p.name.startswith(".tmp-")]
    assert not list(pub.parent.rglob("*.tmp")) and kills == 12
