"""image_embeddings through Dagster on a real instance: a colour dataset gets one vector per
image (cached by content hash: the rerun and the labels asset embed nothing new), a greyscale
dataset is skipped under backbone auto."""

import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
from PIL import Image

from assets.partitions import image_datasets
from assets.resources import QualityThresholds, SieveSettings
from ops.labels.backbones import load_embeddings
from pipelines.definitions import defs

REPO = Path(__file__).resolve().parents[2]


def _colour_dataset(folder: Path, n: int = 20) -> None:
    rng = np.random.default_rng(0)
    (folder / "img").mkdir(parents=True)
    rows = ["image,label,trusted,split"]
    for i in range(n):
        a = rng.integers(0, 80, (36, 40, 3), dtype=np.uint8)
        a[..., 0 if i % 2 == 0 else 2] += 150
        Image.fromarray(a, mode="RGB").save(folder / "img" / f"{i:03d}.png")
        rows.append(f"img/{i:03d}.png,{'red' if i % 2 == 0 else 'blue'},false,train")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    (folder / "classes.txt").write_text("red\nblue\n")


def test_image_embeddings_asset(tmp_path, monkeypatch):
    monkeypatch.setenv("SIEVE_ENCODER_CACHE", str(tmp_path / "encoders"))
    root = tmp_path / "data"
    _colour_dataset(root / "raw" / "images" / "photos")
    shutil.copytree(
        REPO / "data" / "samples" / "images" / "digits_noisy", root / "raw" / "images" / "digits"
    )
    job = defs.resolve_job_def("images_job")
    run_config = {
        "ops": {
            "image_embeddings": {"config": {"encoder_resolution": 64}},
            "image_labels_clean": {"config": {"preset": "tiny", "encoder_resolution": 64}},
        }
    }
    resources = {"settings": SieveSettings(data_dir=str(root)), "thresholds": QualityThresholds()}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(image_datasets.name, ["photos", "digits"])
        runs = [
            job.execute_in_process(
                partition_key=name, instance=instance, run_config=run_config, resources=resources
            )
            for name in ("photos", "photos", "digits")
        ]
    assert all(r.success for r in runs)

    def meta(run, asset):
        mats = [m for m in run.asset_materializations_for_node(asset)]
        return {k: v.value for k, v in mats[0].metadata.items()}

    first, second = meta(runs[0], "image_embeddings"), meta(runs[1], "image_embeddings")
    assert (first["n_embedded"], first["n_cached"]) == (20, 0)
    assert (second["n_embedded"], second["n_cached"]) == (0, 20)  # the nightly rerun
    table = pl.read_parquet(root / "clean" / "images" / "photos" / "embeddings.parquet")
    assert table.height == 20 and table["encoder"][0].startswith("lite0+lite2-r64-")
    vec = load_embeddings(
        root / "clean" / "images" / "photos" / "embeddings.parquet", table["image"].to_list()
    )
    assert vec.dim == 2 * 1280  # the default: Lite0 and Lite2 side by side
    labels_meta = meta(runs[1], "image_labels_clean")
    assert "auto -> pretrained:lite0+lite2" in labels_meta["notes"]
    assert "'n_embedded': 0" in labels_meta["notes"]  # the labels asset reused the cache
    assert "skipped" in meta(runs[2], "image_embeddings")  # greyscale 8 px: small CNN
    assert not (root / "clean" / "images" / "digits" / "embeddings.parquet").exists()
