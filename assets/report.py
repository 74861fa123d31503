"""The nightly quality report: one HTML page (+ JSON summary) over every dataset on disk.

Unpartitioned and without asset inputs: it reads whatever ``clean/`` holds for the dataset
partitions registered on the instance, so it never forces a load of every partition. It depends
on the ``published_*`` assets (lineage only) because those are what it summarises.
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
from pydantic import Field

from assets.partitions import PARTITIONS_BY_KIND
from assets.publish import published_image_labels, published_timeseries
from assets.resources import SieveSettings
from ops.paths import DatasetPaths, reports_dir
from ops.report import build_report, find_previous_report

GROUP = "report"


class ReportConfig(dg.Config):
    night: str = Field(
        default="",
        description="ISO date of the night reported (YYYY-MM-DD); empty = today in `timezone`.",
    )
    timezone: str = Field(
        default="UTC", description="IANA timezone that decides 'today' when `night` is empty."
    )

    def resolve_night(self) -> date:
        if self.night:
            return date.fromisoformat(self.night)
        return datetime.now(ZoneInfo(self.timezone)).date()


def report_datasets(instance: dg.DagsterInstance, settings: SieveSettings) -> list[tuple[str, str]]:
    """Registered dataset partitions that have a ``clean/`` folder, as ``(kind, name)``."""
    root = settings.root()
    out = []
    for kind, partitions in PARTITIONS_BY_KIND.items():
        for name in instance.get_dynamic_partitions(partitions.name):
            try:
                paths = DatasetPaths(root, kind, name)
            except ValueError:
                continue
            if paths.clean.is_dir():
                out.append((kind, name))
    return sorted(out)


@dg.asset(
    group_name=GROUP,
    kinds={"html", "matplotlib"},
    code_version="1",
    # what it summarises: the lineage edges in the UI (no inputs are loaded: it reads the files
    # of every registered dataset itself, so it never forces a load of every partition)
    deps=[published_timeseries, published_image_labels],
    owners=["team:data-quality"],
    tags={"layer": "report"},
    description="Nightly quality report over every registered dataset: "
    "`data/reports/YYYY-MM-DD.html` (self-contained, open it in a browser) and "
    "`data/reports/YYYY-MM-DD.json`, diffed against the previous night's JSON.",
)
def quality_report(
    context: dg.AssetExecutionContext, config: ReportConfig, settings: SieveSettings
) -> dg.MaterializeResult:
    night = config.resolve_night()
    root = settings.root()
    datasets = report_datasets(context.instance, settings)
    previous = find_previous_report(reports_dir(root), night)
    result = build_report(root, datasets, night, previous)
    for w in result.warnings:
        context.log.warning(w)
    context.log.info(f"quality report {night}: {len(datasets)} datasets -> {result.html_path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.html_path)),
            "summary_json": dg.MetadataValue.path(str(result.json_path)),
            "night": night.isoformat(),
            "previous_night": result.previous_night or "none",
            "datasets": dg.MetadataValue.json([f"{k}/{n}" for k, n in datasets]),
            "summary": dg.MetadataValue.md(result.markdown),
            **{k: dg.MetadataValue.float(v) for k, v in sorted(result.metrics.items())},
        }
    )
