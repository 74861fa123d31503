"""ops.fileio.write_parquet_atomic: round trip, and a crash mid-write keeps the old file."""

import polars as pl
import pytest

from ops.fileio import write_parquet_atomic


def test_roundtrip(tmp_path):
    frame = pl.DataFrame({"a": [1, 2], "b": ["x", None]})
    path = write_parquet_atomic(frame, tmp_path / "sub" / "t.parquet")
    assert pl.read_parquet(path).equals(frame)


def test_crash_mid_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "t.parquet"
    old = pl.DataFrame({"a": [1]})
    write_parquet_atomic(old, path)

    def half_write(self, file, *args, **kwargs):
        file.write(b"PAR1 half")  # the temporary file's handle
        raise RuntimeError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", half_write)
    with pytest.raises(RuntimeError, match="disk full"):
        write_parquet_atomic(pl.DataFrame({"a": [2, 3]}), path)
    monkeypatch.undo()
    assert pl.read_parquet(path).equals(old)
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]
