"""The nightly quality report: collect (what is on disk, typed in ``models``), figures/plots
(matplotlib PNGs), diff (night to night), render (HTML through jinja2, Markdown), build (writes
``data/reports/<night>.{html,json}``)."""

from ops.report.build import ReportResult, build_report, find_previous_report
from ops.report.collect import collect_dataset_summary

__all__ = ["ReportResult", "build_report", "collect_dataset_summary", "find_previous_report"]
