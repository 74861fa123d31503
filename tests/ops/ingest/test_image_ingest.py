from pathlib import Path

import pytest

from ops.ingest.images import ingest_images

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bad_images"


@pytest.fixture(scope="module")
def result():
    return ingest_images(FIXTURES)


def test_bad_rows_are_quarantined_with_reasons(result):
    reasons = dict(zip(result.quarantine["source_row"], result.quarantine["reason"], strict=True))
    # a PNG signature followed by junk fails inside a chunk read: Pillow calls it truncated
    assert reasons.pop(7) in {"undecodable", "truncated"}
    assert reasons == {
        6: "truncated",
        8: "empty_file",
        9: "unknown_label",
        10: "missing_file",
        11: "duplicate_entry",
        12: "outside_dataset",
        13: "duplicate_entry",
    }


def test_rest_of_dataset_is_processed(result):
    assert result.manifest["image"].to_list() == [f"img/good_{i}.png" for i in range(6)]
    assert result.rows_in == result.manifest.height + result.quarantine.height == 14
    assert result.classes == ["cat", "dog"]
    assert result.manifest["trusted"].to_list() == [True, False, False, True, False, False]
    assert result.manifest["split"].to_list()[2] == "test"
    assert set(result.manifest["width"]) == {8}


def test_imagefolder_layout_with_trusted_list(tmp_path):
    import shutil

    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            shutil.copy(FIXTURES / "img" / f"good_{i}.png", tmp_path / cls / f"{i}.png")
    shutil.copy(FIXTURES / "img" / "zero.png", tmp_path / "dog" / "broken.png")
    (tmp_path / "trusted.txt").write_text("cat/0.png\n")
    out = ingest_images(tmp_path)
    assert out.layout == "imagefolder" and out.classes == ["cat", "dog"]
    assert out.manifest.height == 4 and out.quarantine["reason"].to_list() == ["empty_file"]
    assert out.manifest.filter(out.manifest["trusted"])["image"].to_list() == ["cat/0.png"]


def test_manifest_without_required_columns_is_a_clear_error(tmp_path):
    (tmp_path / "labels.csv").write_text("picture,kind\na.png,cat\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['image', 'label'\]"):
        ingest_images(tmp_path)


def test_imagefolder_subfolders_belong_to_their_top_class_folder(tmp_path):
    import shutil

    for sub in ("dog/2019", "dog/2020", "cat"):
        (tmp_path / sub).mkdir(parents=True)
        shutil.copy(FIXTURES / "img" / "good_0.png", tmp_path / sub / "a.PNG")
    out = ingest_images(tmp_path)
    assert out.classes == ["cat", "dog"]  # not "2019" / "2020"
    assert sorted(out.manifest["label"].to_list()) == ["cat", "dog", "dog"]


def test_manifest_column_aliases_and_semicolons(tmp_path):
    import shutil

    for i in range(2):
        shutil.copy(FIXTURES / "img" / f"good_{i}.png", tmp_path / f"{i}.png")
    (tmp_path / "labels.csv").write_text("Filename;Class\n0.png;cat\n1.png;dog\n")
    out = ingest_images(tmp_path)
    assert out.layout == "manifest" and out.classes == ["cat", "dog"]
    assert out.manifest.sort("image")["label"].to_list() == ["cat", "dog"]


def test_imagefolder_photo_formats_pillow_cannot_read_are_quarantined(tmp_path):
    import shutil

    (tmp_path / "cat").mkdir()
    shutil.copy(FIXTURES / "img" / "good_0.png", tmp_path / "cat" / "a.png")
    (tmp_path / "cat" / "phone.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64)
    out = ingest_images(tmp_path)
    assert out.manifest["image"].to_list() == ["cat/a.png"]
    assert out.quarantine.select("source_file", "reason").rows() == [
        ("cat/phone.HEIC", "undecodable")
    ]


def test_validation_splits_are_held_out_like_test(tmp_path):
    import shutil

    for i in range(3):
        shutil.copy(FIXTURES / "img" / f"good_{i % 2}.png", tmp_path / f"{i}.png")
    (tmp_path / "labels.csv").write_text(
        "image,label,split\n0.png,cat,train\n1.png,dog,val\n2.png,cat,Validation\n"
    )
    out = ingest_images(tmp_path)
    assert out.manifest.sort("image")["split"].to_list() == ["train", "test", "test"]


def test_windows_backslash_paths_in_a_manifest(tmp_path):
    import shutil

    (tmp_path / "cat").mkdir()
    shutil.copy(FIXTURES / "img" / "good_0.png", tmp_path / "cat" / "a.png")
    (tmp_path / "labels.csv").write_text("image,label\ncat\\a.png,cat\n")
    out = ingest_images(tmp_path)
    assert out.manifest["image"].to_list() == ["cat/a.png"] and out.quarantine.height == 0


def test_imagefolder_with_split_folders_on_top(tmp_path):
    # torchvision / Kaggle layout train/<class>/, val/<class>/: the classes were "train" and
    # "val" (every label wrong, 40 % flagged on clean CIFAR photos), the split was lost
    import shutil

    for sub in ("Train/cat", "Train/dog", "val/cat", "test"):
        (tmp_path / sub).mkdir(parents=True)
        shutil.copy(FIXTURES / "img" / "good_0.png", tmp_path / sub / "a.png")
    out = ingest_images(tmp_path)
    assert out.classes == ["cat", "dog"]
    rows = sorted(out.manifest.select("image", "label", "split").iter_rows())
    assert rows == [
        ("Train/cat/a.png", "cat", "train"),
        ("Train/dog/a.png", "dog", "train"),
        ("val/cat/a.png", "cat", "test"),
    ]
    assert out.quarantine["reason"].to_list() == ["missing_label"]  # test/a.png: no class


def test_kaggle_style_csvs_beside_their_image_folders(tmp_path):
    # train.csv lists ids without suffix for train/<id>.png; val.csv lists file names in val/;
    # sample_submission.csv (id, label) names no image column and is not a manifest
    import shutil

    for sub, name in (("train", "a1.png"), ("train", "b2.png"), ("val", "c3.png")):
        (tmp_path / sub).mkdir(exist_ok=True)
        shutil.copy(FIXTURES / "img" / "good_0.png", tmp_path / sub / name)
    (tmp_path / "train.csv").write_text("image_id,label\na1,cat\nb2,dog\nzz,dog\n")
    (tmp_path / "val.csv").write_text("filename,class\nc3.png,cat\n")
    (tmp_path / "sample_submission.csv").write_text("id,label\n1,cat\n")
    out = ingest_images(tmp_path)
    assert out.layout == "manifest" and out.classes == ["cat", "dog"]
    assert sorted(out.manifest.select("image", "label", "split").iter_rows()) == [
        ("train/a1.png", "cat", "train"),
        ("train/b2.png", "dog", "train"),
        ("val/c3.png", "cat", "test"),
    ]
    assert out.quarantine["reason"].to_list() == ["missing_file"]  # zz: listed, no such image


def test_classes_from_file_names_when_there_is_no_class_folder(tmp_path):
    # Dogs vs Cats (train/cat.0.jpg) and Oxford-IIIT Pet (Abyssinian_12.jpg): every row was
    # quarantined as missing_label, or the folder was "not a dataset"
    import shutil

    (tmp_path / "train").mkdir()
    for name in ("cat.0", "cat.1", "dog.0", "dog.1"):
        shutil.copy(FIXTURES / "img" / "good_0.png", tmp_path / "train" / f"{name}.png")
    out = ingest_images(tmp_path)
    assert out.classes == ["cat", "dog"] and out.quarantine.height == 0
    assert sorted(set(out.manifest["split"].to_list())) == ["train"]
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("Abyssinian_1", "Abyssinian_2", "great_pyrenees_10", "great_pyrenees_11"):
        shutil.copy(FIXTURES / "img" / "good_0.png", flat / f"{name}.png")
    out = ingest_images(flat)
    assert out.classes == ["Abyssinian", "great_pyrenees"]
    # names that do not say a class: no label, quarantined, not guessed
    odd = tmp_path / "odd"
    odd.mkdir()
    for name in ("IMG_0001", "holiday", "x"):
        shutil.copy(FIXTURES / "img" / "good_0.png", odd / f"{name}.png")
    with pytest.raises(ValueError, match="no class names"):
        ingest_images(odd)
