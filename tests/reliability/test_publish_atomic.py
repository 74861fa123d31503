"""Publishing is atomic per dataset: a versioned folder and one pointer switch. Readers see the
old set or the new set, never a mix, even when the publisher is killed with SIGKILL."""

from __future__ import annotations

import os
import threading

import pytest

from ops.publish import KEEP_VERSIONS, publish_tables, resolve_published, versions_dir

from .corpus import TABLES, clean_set, published_tags


def test_publish_switches_one_pointer_and_keeps_the_previous_version(tmp_path):
    pub = tmp_path / "published" / "timeseries" / "ds"
    for tag in ("n1", "n2", "n3"):
        clean_set(tmp_path / "clean" / tag, tag, 10)
        written = publish_tables(tmp_path / "clean" / tag, pub, TABLES)
        assert [p.parent for p in written] == [pub] * 4
        assert pub.is_symlink() and not os.path.isabs(os.readlink(pub))  # relocatable
        assert published_tags(pub) == {t.file: {tag} for t in TABLES}
    versions = [p for p in versions_dir(pub).iterdir() if p.is_dir()]
    assert len(versions) == KEEP_VERSIONS and resolve_published(pub) in versions
    assert oct(pub.resolve().stat().st_mode & 0o777) == oct(0o777 & ~_umask())


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_a_legacy_plain_folder_is_adopted(tmp_path):
    pub = tmp_path / "published" / "images" / "ds"
    pub.mkdir(parents=True)
    (pub / "labels.parquet").write_bytes(b"old")
    (pub / ".labels.parquet.abc123.tmp").write_bytes(b"partial")  # a killed unversioned write
    clean_set(tmp_path / "clean", "new", 10)
    publish_tables(tmp_path / "clean", pub, TABLES)
    assert pub.is_symlink() and published_tags(pub)["labels.parquet"] == {"new"}
    assert not list(versions_dir(pub).rglob("*.tmp"))


def test_nothing_to_publish_leaves_the_current_set(tmp_path):
    pub = tmp_path / "published" / "images" / "ds"
    clean_set(tmp_path / "clean", "good", 10)
    publish_tables(tmp_path / "clean", pub, TABLES)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="nothing to publish"):
        publish_tables(tmp_path / "empty", pub, TABLES)
    assert published_tags(pub) == {t.file: {"good"} for t in TABLES}
    assert not [p for p in versions_dir(pub).iterdir() if p.name.startswith(".tmp-")]


def test_a_reader_resolving_the_pointer_once_always_reads_one_set(tmp_path):
    for tag in ("a", "b"):
        clean_set(tmp_path / "clean" / tag, tag, rows=20_000)
    pub = tmp_path / "published" / "ds"
    publish_tables(tmp_path / "clean" / "a", pub, TABLES)
    stop, mixed, reads = threading.Event(), [], [0]

    def reader():
        while not stop.is_set():
            folder = resolve_published(pub)
            try:
                tags = published_tags(folder)
            except Exception:  # noqa: BLE001 - polars raises its own errors for a vanished file
                continue  # that version was pruned meanwhile (two publishes later): resolve again
            if len(tags) != len(TABLES):
                continue  # pruned while being listed
            if len(set().union(*tags.values())) != 1:
                mixed.append(tags)
            reads[0] += 1

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(20):
            publish_tables(tmp_path / "clean" / ("b" if i % 2 == 0 else "a"), pub, TABLES)
    finally:
        stop.set()
        t.join()
    assert reads[0] > 0 and not mixed


def test_stale_temp_files_in_clean_are_removed_by_the_next_publish(tmp_path):
    clean = tmp_path / "clean"
    clean_set(clean, "n", 10)
    stale, young = clean / ".labels.parquet.dead01.tmp", clean / ".labels.parquet.live01.tmp"
    stale.write_bytes(b"partial write of a killed run")
    young.write_bytes(b"a writer still at work")
    old = os.stat(stale).st_mtime - 2 * 3600
    os.utime(stale, (old, old))
    publish_tables(clean, tmp_path / "published" / "ds", TABLES)
    assert not stale.exists() and young.exists()


PUBLISH_MANY = """
import os, sys, time
from ops.publish import publish_tables
from tests.reliability.corpus import TABLES
print("ready", flush=True)
while not os.path.exists(sys.argv[4]):  # both start publishing together
    time.sleep(0.001)
for _ in range(int(sys.argv[3])):
    publish_tables(sys.argv[1], sys.argv[2], TABLES)
"""


def test_concurrent_publishes_of_one_dataset_from_two_processes(tmp_path):
    """Two worker processes (as two Celery workers would) publish the same dataset at once: the
    per-dataset lock serialises them, every publish lands, nothing is half-built or left over,
    and the pointer ends on one complete set."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    pub = tmp_path / "published" / "timeseries" / "ds"
    go = str(tmp_path / "go")
    for tag in ("w1", "w2"):
        clean_set(tmp_path / "clean" / tag, tag, rows=5_000)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PUBLISH_MANY, str(tmp_path / "clean" / tag), str(pub), "30", go],
            cwd=repo,
            env={**os.environ, "PYTHONPATH": str(repo)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("w1", "w2")
    ]
    assert [p.stdout.readline().strip() for p in procs] == ["ready", "ready"]
    Path(go).touch()
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    tags = published_tags(pub)
    assert len(tags) == len(TABLES) and len(set().union(*tags.values())) == 1
    entries = list(versions_dir(pub).iterdir())
    versions = [p for p in entries if p.is_dir() and not p.name.startswith(".")]
    assert len(versions) == KEEP_VERSIONS and resolve_published(pub) in versions
    assert not [p for p in entries if p.name.startswith(".tmp-")]
    assert not list(pub.parent.glob(".ds.*.link.tmp"))
