"""The real Dagster UI in headless Chromium: open the asset graph, launch one dataset partition,
wait for the run to succeed, check that the launchpad offers the label-cleaning methods and
that the report asset's description shows its path, open the quality report built from the run's
output, and save screenshots under ``test-artifacts/`` (ui_asset_graph.png,
ui_launch_dialog.png, ui_runs.png, ui_launchpad_method.png, ui_report_asset.png, report.png).

Needs Debian's ``chromium`` (``apt-get install chromium``; `.ci/run` installs it) and the
``playwright`` Python package (dev extra; it drives the system browser, no browser download).
Marked ``ui``; `.ci/run` sets SIEVE_REQUIRE_SERVICES=1 so a missing browser fails instead of
skipping.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.ui


def _require(ok: bool, why: str) -> None:
    if not ok:
        if os.environ.get("SIEVE_REQUIRE_SERVICES"):
            pytest.fail(why)
        pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} not up after {timeout}s")


@pytest.fixture()
def dagster_ui(tmp_path):
    import dagster as dg

    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "python_logs:\n  managed_python_loggers: [sieve]\n  python_log_level: INFO\n"
    )
    shutil.copytree(
        REPO / "data" / "samples" / "timeseries" / "nab_traffic",
        data / "raw" / "timeseries" / "nab_traffic",
    )
    with dg.DagsterInstance.from_config(
        str(home)
    ) as instance:  # registered, so the sensor leaves it to us
        instance.add_dynamic_partitions("timeseries_datasets", ["nab_traffic"])
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SIEVE_DATA_DIR": str(data),
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "PYTHONWARNINGS": "ignore:Function `dev_command` is superseded",  # as `make ui`
    }
    log = open(tmp_path / "dagster_dev.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",  # the code location of pyproject.toml [tool.dagster], named sieve
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/server_info", 180, proc)
        yield f"http://127.0.0.1:{port}", data
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _dismiss_popup(page) -> None:
    skip = page.get_by_role("button", name="Skip")
    if skip.count() and skip.first.is_visible():
        skip.first.click()


def test_launch_partition_from_ui(dagster_ui):
    _require(CHROMIUM is not None, "Debian chromium not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _require(False, "playwright not installed (pip install -e .[dev])")
    base, data = dagster_ui
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 2200, "height": 1000})
        page.set_default_timeout(60_000)

        page.goto(f"{base}/locations/sieve/jobs/timeseries_job")
        page.wait_for_timeout(4000)
        _dismiss_popup(page)
        page.screenshot(path=str(ARTIFACTS / "ui_asset_graph.png"))
        for text in ("timeseries_points", "timeseries_windows", re.compile(r"View \d+ assets")):
            expect(page.get_by_text(text).first).to_be_visible()

        page.get_by_role("button", name="Materialize all…").click()
        page.wait_for_timeout(2000)
        page.screenshot(path=str(ARTIFACTS / "ui_launch_dialog.png"))
        picker = page.get_by_text("Select a partition or create one")
        if picker.count():  # "Custom" mode: pick the partition by name
            picker.click()
            page.locator("text=nab_traffic >> visible=true").first.click()
        launch = page.get_by_role("button", name="Launch 1 run")
        expect(launch).to_be_enabled()
        launch.click()
        page.wait_for_timeout(2000)

        page.goto(f"{base}/runs")
        deadline = time.time() + 540  # the run trains a rater; generous for a loaded 2-core box
        while time.time() < deadline:
            body = page.inner_text("body")
            if "Success" in body or "Failure" in body:
                break
            page.wait_for_timeout(3000)
            page.reload()
        page.screenshot(path=str(ARTIFACTS / "ui_runs.png"))
        body = page.inner_text("body")
        assert "timeseries_job" in body or "__ASSET_JOB" in body, body[:2000]
        assert "Success" in body and "Failure" not in body, body[:2000]

        # the data checks are asset checks of timeseries_scores, listed on its checks tab
        # (the job graph only shows a node's "Asset checks" row at some zoom levels)
        from ops.checks import CHECKS

        page.goto(f"{base}/assets/timeseries_scores?view=checks")
        page.wait_for_timeout(3000)
        _dismiss_popup(page)
        for check in [c for c in CHECKS if c.kind == "timeseries"][:2]:
            expect(page.get_by_text(check.name).first).to_be_visible(timeout=30_000)

        # the launchpad offers the label-cleaning methods as choices (an Enum, not a string)
        page.goto(f"{base}/locations/sieve/jobs/images_job/playground")
        page.wait_for_timeout(4000)
        _dismiss_popup(page)
        line = page.locator(".CodeMirror-line", has_text="method:").first
        expect(line).to_contain_text("cleanlab_oof")  # the default, scaffolded
        line.click()
        page.keyboard.press("End")
        for _ in "cleanlab_oof":
            page.keyboard.press("Backspace")
        page.keyboard.press("Control+Space")
        hints = page.locator(".CodeMirror-hints")
        expect(hints).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "ui_launchpad_method.png"))
        offered = set(hints.inner_text().split())
        assert {"cleanlab_oof", "cleanlab_trusted", "vri", "rst"} <= offered, offered

        # the report asset: its description renders its path, and it depends on what it reports
        page.goto(f"{base}/assets/quality_report")
        page.wait_for_timeout(4000)
        _dismiss_popup(page)
        expect(page.get_by_text("data/reports/YYYY-MM-DD.html").first).to_be_visible()
        expect(page.get_by_text("published_timeseries").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "ui_report_asset.png"))

        # the nightly report over what the UI run produced, opened in the same browser
        from ops.report import build_report

        report = build_report(data, [("timeseries", "nab_traffic")], date(2026, 11, 26), None)
        page.goto(report.html_path.as_uri())
        expect(page.get_by_role("heading", name="nab_traffic").first).to_be_visible()
        images = page.locator("img")
        assert images.count() >= 2
        assert all(
            images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
            for i in range(images.count())
        )
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    windows = pl.read_parquet(data / "clean" / "timeseries" / "nab_traffic" / "windows.parquet")
    assert windows.height > 0
