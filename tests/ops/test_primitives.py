"""ops.fileio, ops.hashing, ops.device: the small shared primitives."""

import os
import stat

import numpy as np
import polars as pl
import pytest

from ops.device import resolve_device, validate_device
from ops.fileio import (
    copy_file_atomic,
    remove_stale_temp_files,
    write_json_atomic,
    write_parquet_atomic,
    write_text_atomic,
)
from ops.hashing import sha256_hex, stable_hash


def test_atomic_writes_honour_umask(tmp_path):
    old = os.umask(0o027)
    try:
        p = write_text_atomic(tmp_path / "a.txt", "x")
        q = write_parquet_atomic(pl.DataFrame({"a": [1]}), tmp_path / "b.parquet")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o640
    assert stat.S_IMODE(q.stat().st_mode) == 0o640
    assert pl.read_parquet(q)["a"].to_list() == [1]


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = write_text_atomic(tmp_path / "t.json", "old")

    class Boom:
        pass

    with pytest.raises(TypeError):
        write_json_atomic(target, Boom(), default=None)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]


def test_copy_and_stale_temp_cleanup(tmp_path):
    src = write_text_atomic(tmp_path / "src.txt", "hello")
    dst = copy_file_atomic(src, tmp_path / "out" / "dst.txt")
    assert dst.read_text() == "hello"
    (tmp_path / "out" / ".dst.txt.abc.tmp").write_text("partial")
    removed = remove_stale_temp_files(tmp_path / "out")
    assert [p.name for p in removed] == [".dst.txt.abc.tmp"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dst.txt"]


def test_stable_hash_is_order_and_type_stable():
    a = {"b": [1, 2.5, "x"], "a": np.arange(3, dtype=np.int64)}
    b = {"a": np.arange(3, dtype=np.int64), "b": (1, 2.5, "x")}
    assert stable_hash(a) == stable_hash(b)
    assert stable_hash(a) != stable_hash({**a, "a": np.arange(3, dtype=np.int32)})
    assert sha256_hex("ab", b"c") == sha256_hex(b"abc")


def test_device_rules():
    assert validate_device("CUDA:1") == "cuda:1"
    with pytest.raises(ValueError):
        validate_device("gpu")
    assert str(resolve_device("cpu")) == "cpu"
    if not __import__("torch").cuda.is_available():
        with pytest.raises(RuntimeError):
            resolve_device("cuda:0")
        assert str(resolve_device("auto")) == "cpu"
