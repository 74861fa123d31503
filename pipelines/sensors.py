"""Register new dataset folders as partitions and request their first run."""

import dagster as dg

from assets.partitions import PARTITIONS_BY_KIND
from assets.resources import SieveSettings
from ops.contracts import KINDS
from ops.paths import list_datasets
from pipelines.jobs import JOB_BY_KIND, images_job, timeseries_job


def new_dataset_requests(
    instance: dg.DagsterInstance, settings: SieveSettings
) -> dg.SensorResult | dg.SkipReason:
    add_requests, runs = [], []
    for kind in KINDS:
        partitions = PARTITIONS_BY_KIND[kind]
        known = set(instance.get_dynamic_partitions(partitions.name))
        new = [name for name in list_datasets(kind, settings.root()) if name not in known]
        if new:
            add_requests.append(partitions.build_add_request(new))
            runs += [
                dg.RunRequest(
                    run_key=f"{kind}:{name}", partition_key=name, job_name=JOB_BY_KIND[kind].name
                )
                for name in new
            ]
    if not add_requests:
        return dg.SkipReason(f"no new dataset folders under {settings.root() / 'raw'}")
    return dg.SensorResult(run_requests=runs, dynamic_partitions_requests=add_requests)


@dg.sensor(
    jobs=[timeseries_job, images_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers each new folder under raw/timeseries and raw/images as a dataset "
    "partition and requests a run that materializes all of its assets.",
)
def dataset_folder_sensor(context: dg.SensorEvaluationContext, settings: SieveSettings):
    return new_dataset_requests(context.instance, settings)
