"""Asset checks built from the registry in ops/checks.py, one per (dataset kind, check).

Checks attach to the last clean asset of each kind (``timeseries_scores``,
``image_labels_clean``) and read the dataset's files for their partition. Blocking checks
fail with ERROR severity and so stop the ``published_*`` assets downstream; the others warn
(docs/stack.md §5, §6).
"""

import dagster as dg

from assets.images import image_labels_clean
from assets.partitions import PARTITIONS_BY_KIND
from assets.rating import timeseries_scores
from assets.resources import QualityThresholds, SieveSettings
from ops.checks import CHECKS, CheckDef, run_check
from ops.contracts import IMAGES, TIMESERIES

CHECKED_ASSET = {TIMESERIES: timeseries_scores, IMAGES: image_labels_clean}


def build_check(check: CheckDef) -> dg.AssetChecksDefinition:
    severity = dg.AssetCheckSeverity.ERROR if check.blocking else dg.AssetCheckSeverity.WARN

    @dg.asset_check(
        asset=CHECKED_ASSET[check.kind],
        name=check.name,
        blocking=check.blocking,
        description=check.description + (" (blocking)" if check.blocking else " (warning)"),
        partitions_def=PARTITIONS_BY_KIND[check.kind],
    )
    def _check(
        context: dg.AssetCheckExecutionContext,
        settings: SieveSettings,
        thresholds: QualityThresholds,
    ) -> dg.AssetCheckResult:
        paths = settings.dataset(check.kind, context.partition_key)
        outcome = run_check(check, paths.raw, paths.clean, thresholds.to_ops())
        return dg.AssetCheckResult(
            passed=outcome.passed,
            severity=severity,
            metadata={
                "dataset": context.partition_key,
                **{k: _meta(v) for k, v in outcome.metadata.items()},
            },
        )

    return _check


def _meta(value):
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return dg.MetadataValue.json(value)


asset_checks = [build_check(c) for c in CHECKS]
