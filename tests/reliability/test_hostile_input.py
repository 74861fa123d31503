"""Hostile and broken inputs from issue 15, each generated here and accounted for row by row:
records in = records out + records quarantined, with a reason for every quarantined one."""

from __future__ import annotations

import os

import numpy as np
import polars as pl
import pytest
from PIL import Image

from ops.ingest.images import ingest_images
from ops.ingest.timeseries import ingest_timeseries
from ops.labels.images import decode_image
from ops.paths import DatasetPaths, find_dataset_kind, list_datasets

from .corpus import exif_rotated_jpeg, png, png_bomb_header, series_csv

# names added by issue 15 are imported inside the tests, so that this file also runs (and
# fails for the right reason) against the code from before the fix


def _labels_csv(folder, rows: list[bytes]) -> None:
    (folder / "labels.csv").write_bytes(b"image,label\n" + b"".join(r + b"\n" for r in rows))


# --- images -------------------------------------------------------------------------------


def test_decompression_bomb_among_good_images_is_quarantined_with_a_reason(tmp_path):
    folder = tmp_path / "imgs"
    rows = []
    for i in range(209):
        png(folder / "img" / f"g{i}.png", i)
        rows.append(f"img/g{i}.png,{'a' if i % 2 else 'b'}".encode())
    png_bomb_header(folder / "img" / "bomb.png")
    rows.insert(100, b"img/bomb.png,a")
    _labels_csv(folder, rows)
    assert (folder / "img" / "bomb.png").stat().st_size < 2000  # a header, not 900 MB

    result = ingest_images(folder)
    from ops.ingest.imagefile import MAX_IMAGE_PIXELS

    assert result.rows_in == 210
    assert result.manifest.height == 209 and result.quarantine.height == 1
    q = result.quarantine.row(0, named=True)
    assert q["item"] == "img/bomb.png" and q["reason"] == "too_large"
    assert "900000000 pixels" in q["detail"] and f"{MAX_IMAGE_PIXELS:,}" in q["detail"]


def test_the_training_decoder_refuses_a_bomb_too(tmp_path):
    from ops.ingest.imagefile import MAX_IMAGE_PIXELS, ImageTooLarge

    bomb = png_bomb_header(tmp_path / "bomb.png")
    with pytest.raises(ImageTooLarge):
        decode_image(bomb, 8, 1)
    # Pillow's own guard is set to the same documented limit
    assert Image.MAX_IMAGE_PIXELS == MAX_IMAGE_PIXELS


def test_exif_orientation_is_applied_when_decoding_and_in_the_manifest(tmp_path):
    stored = exif_rotated_jpeg(tmp_path / "ds" / "a" / "rot.jpg", orientation=6, size=16)
    png(tmp_path / "ds" / "b" / "plain.png", 0, size=16)
    # stored: left half black, right half white; orientation 6 = rotate 90 degrees clockwise
    upright = np.rot90(stored, k=-1)
    assert not np.array_equal(upright, stored)
    decoded = decode_image(tmp_path / "ds" / "a" / "rot.jpg", 16, 1)[0].astype(int)
    assert np.abs(decoded - upright).max() < 40  # JPEG noise only
    assert np.abs(decoded - stored).max() > 200  # not the stored orientation

    wide = tmp_path / "wide"
    img = Image.fromarray(np.zeros((10, 30), np.uint8), mode="L")  # 30 wide, 10 high
    exif = Image.Exif()
    exif[0x0112] = 8
    (wide / "a").mkdir(parents=True)
    img.save(wide / "a" / "w.jpg", exif=exif.tobytes())
    png(wide / "b" / "p.png", 1)
    m = ingest_images(wide).manifest.filter(pl.col("image") == "a/w.jpg").row(0, named=True)
    assert (m["width"], m["height"]) == (10, 30)  # upright: rotated 90 degrees


def test_latin1_byte_in_one_labels_row_quarantines_that_row_only(tmp_path):
    folder = tmp_path / "imgs"
    rows = []
    for i in range(6):
        png(folder / f"g{i}.png", i)
        rows.append(f"g{i}.png,{'cat' if i % 2 else 'dog'}".encode())
    rows[3] = "g3.png,caf\xe9".encode("latin-1")  # one Latin-1 byte (0xE9)
    _labels_csv(folder, rows)

    result = ingest_images(folder)

    assert result.rows_in == 6
    assert result.manifest.height == 5 and result.quarantine.height == 1
    q = result.quarantine.row(0, named=True)
    assert q["reason"] == "undecodable_text" and q["source_row"] == 3
    assert "data line 5" in q["detail"] and "xe9" in q["detail"]
    assert sorted(result.manifest["image"]) == ["g0.png", "g1.png", "g2.png", "g4.png", "g5.png"]


# --- time series --------------------------------------------------------------------------


def test_symlink_out_of_a_timeseries_folder_is_refused_and_its_content_never_read(tmp_path):
    secret = tmp_path / "outside" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("timestamp,value\n2024-01-01,SECRET-LINE-1\n2024-01-02,42\n")
    folder = tmp_path / "ds"
    n = series_csv(folder / "good.csv", 50)
    (folder / "linked.csv").symlink_to(secret)
    (folder / "sub").symlink_to(secret.parent, target_is_directory=True)

    result = ingest_timeseries(folder)

    assert result.points.height == n
    refused = result.quarantine.filter(pl.col("reason") == "outside_dataset")
    assert refused.height >= 1 and "linked.csv" in refused["source_file"].to_list()
    dumped = str(result.quarantine.to_dicts()) + str(result.points.to_dicts())
    assert "SECRET" not in dumped and "42" not in str(result.points["value"].to_list())
    assert result.records_in == result.points.height + result.quarantine.height


@pytest.mark.parametrize("text", ["NaN", "nan", "inf", "-Infinity", "1e400", "-1e999"])
def test_non_finite_text_is_missing_not_a_value(tmp_path, text):
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "s.csv").write_text(
        f"timestamp,value\n2024-01-01T00,1.5\n2024-01-01T01,{text}\n2024-01-01T02,2.5\n"
    )
    result = ingest_timeseries(folder)
    values = result.points["value"]
    assert values.len() == 3 and values.null_count() == 1
    assert values.drop_nulls().is_finite().all()
    assert result.summary()["unparsed_values"] == 1
    assert result.series["n_null_values"].to_list() == [1]


def test_non_finite_floats_in_parquet_are_missing(tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    pl.DataFrame(
        {
            "timestamp": ["2024-01-01T00", "2024-01-01T01", "2024-01-01T02"],
            "value": [1.0, float("nan"), float("inf")],
        }
    ).write_parquet(folder / "s.parquet")
    values = ingest_timeseries(folder).points["value"]
    assert values.to_list() == [1.0, None, None]


# --- dataset names ------------------------------------------------------------------------

BAD_NAMES = [
    "..",
    ".",
    "../etc",
    "a/b",
    'x"; touch pwned; echo "',
    "`touch pwned`",
    "$(touch pwned)",
    "a b",
    "-rf",
    ".hidden",
    "x" * 101,
    "",
    "a..b",
    "name\n",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_unsafe_dataset_names_are_refused_everywhere(tmp_path, name):
    from ops.paths import validate_dataset_name

    with pytest.raises(ValueError, match="invalid dataset name"):
        validate_dataset_name(name)
    with pytest.raises(ValueError, match="invalid dataset name"):
        find_dataset_kind(name, tmp_path)
    if name in ("", ".", "..", "../etc", "a/b", ".hidden", "name\n"):  # not one plain folder
        with pytest.raises(ValueError, match="invalid dataset name"):
            DatasetPaths(tmp_path, "images", name)


@pytest.mark.parametrize("name", ["digits_noisy", "nab-traffic", "ETTh1", "v1.2", "a"])
def test_ordinary_dataset_names_pass(name):
    from ops.paths import validate_dataset_name

    assert validate_dataset_name(name) == name


def test_folders_with_unsafe_names_are_not_listed(tmp_path):
    for name in ("good", "bad name", "semi;colon", "ok.v2"):
        (tmp_path / "raw" / "images" / name).mkdir(parents=True)
    assert list_datasets("images", tmp_path) == ["good", "ok.v2"]
    assert os.path.isdir(tmp_path / "raw" / "images" / "bad name")  # untouched, just skipped
