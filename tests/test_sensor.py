import shutil
from pathlib import Path

import dagster as dg

from assets.partitions import image_datasets, timeseries_datasets
from assets.resources import SieveSettings
from pipelines.sensors import dataset_folder_sensor

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_sensor_registers_new_folders_once(tmp_path):
    shutil.copytree(FIXTURES / "bad_timeseries", tmp_path / "raw" / "timeseries" / "sensors_a")
    shutil.copytree(FIXTURES / "bad_images", tmp_path / "raw" / "images" / "imgs_b")
    (tmp_path / "raw" / "images" / ".hidden").mkdir()
    settings = SieveSettings(data_dir=str(tmp_path))
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, resources={"settings": settings})
        result = dataset_folder_sensor(ctx)
        assert isinstance(result, dg.SensorResult)
        assert sorted((r.job_name, r.partition_key) for r in result.run_requests) == [
            ("images_job", "imgs_b"),
            ("timeseries_job", "sensors_a"),
        ]
        for req in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        assert instance.get_dynamic_partitions(timeseries_datasets.name) == ["sensors_a"]
        assert instance.get_dynamic_partitions(image_datasets.name) == ["imgs_b"]
        again = dataset_folder_sensor(
            dg.build_sensor_context(instance=instance, resources={"settings": settings})
        )
        assert isinstance(again, dg.SkipReason)
