"""The resource every asset uses to find its data root."""

from pathlib import Path

import dagster as dg

from ops.paths import DatasetPaths, data_root


class SieveSettings(dg.ConfigurableResource):
    """Where Sieve reads and writes.

    ``data_dir`` empty means ``$SIEVE_DATA_DIR`` at run time, else ``data/``. ``device``
    is where torch trains and scores (label cleaning, the rater).
    """

    data_dir: str = ""
    device: str = "cpu"  # "cpu", "cuda" or "auto" (CUDA when available) for torch work

    def root(self) -> Path:
        return data_root(self.data_dir or None)

    def dataset(self, kind: str, name: str) -> DatasetPaths:
        return DatasetPaths(self.root(), kind, name)


class QualityThresholds(dg.ConfigurableResource):
    """Thresholds of the asset checks (see ops/checks.py); shares in [0, 1]."""

    max_quarantine_share: float = 0.5
    max_label_issue_share: float = 0.5
    max_low_quality_share: float = 0.5
    max_judge_budget_share: float = 1.0

    def to_ops(self):
        from ops.checks import Thresholds

        return Thresholds(
            max_quarantine_share=self.max_quarantine_share,
            max_label_issue_share=self.max_label_issue_share,
            max_low_quality_share=self.max_low_quality_share,
            max_judge_budget_share=self.max_judge_budget_share,
        )
