"""Asset checks built from the registry in ops/checks.py: one multi-asset check per dataset kind.

Checks attach to the last clean asset of each kind (``timeseries_scores``,
``image_labels_clean``) and read the dataset's files for their partition. All the checks of a
kind run in one step (they take well under a second together; one step each cost a process
start apiece in the UI, 10-20 s, for that). Each stays its own check in the UI, can be run alone
(``can_subset``), and blocking ones fail with ERROR severity and so stop the ``published_*``
assets downstream; the others warn (docs/stack.md §5, §6).
"""

import dagster as dg

from assets.images import image_labels_clean
from assets.partitions import PARTITIONS_BY_KIND
from assets.rating import timeseries_scores
from assets.resources import QualityThresholds, SieveSettings
from ops.checks import CHECKS, run_check
from ops.contracts import IMAGES, KINDS, TIMESERIES

CHECKED_ASSET = {TIMESERIES: timeseries_scores, IMAGES: image_labels_clean}


def build_checks(kind: str) -> dg.AssetChecksDefinition:
    checks = [c for c in CHECKS if c.kind == kind]
    asset_key = CHECKED_ASSET[kind].key
    specs = [
        dg.AssetCheckSpec(
            c.name,
            asset=asset_key,
            blocking=c.blocking,
            description=c.description + (" (blocking)" if c.blocking else " (warning)"),
            partitions_def=PARTITIONS_BY_KIND[kind],
        )
        for c in checks
    ]

    @dg.multi_asset_check(
        name=f"{kind}_checks",
        specs=specs,
        can_subset=True,
        description=f"The {kind} data checks of one dataset partition, in one step.",
    )
    def _checks(
        context: dg.AssetCheckExecutionContext,
        settings: SieveSettings,
        thresholds: QualityThresholds,
    ):
        paths = settings.dataset(kind, context.partition_key)
        selected = context.selected_asset_check_keys
        for check in checks:
            if dg.AssetCheckKey(asset_key, check.name) not in selected:
                continue
            outcome = run_check(check, paths.raw, paths.clean, thresholds.to_ops())
            severity = dg.AssetCheckSeverity.ERROR if check.blocking else dg.AssetCheckSeverity.WARN
            yield dg.AssetCheckResult(
                asset_key=asset_key,
                check_name=check.name,
                passed=outcome.passed,
                severity=severity,
                metadata={
                    "dataset": context.partition_key,
                    **{k: _meta(v) for k, v in outcome.metadata.items()},
                },
            )

    return _checks


def _meta(value):
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return dg.MetadataValue.json(value)


asset_checks = [build_checks(kind) for kind in KINDS]
