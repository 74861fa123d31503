"""`sieve run` twice on a time-series folder: the second run keeps the first run's rater and says
so under the scores step; `--refit` (``make run … REFIT=1``) fits it again and says why."""

import json
import shutil
from pathlib import Path

from pipelines.cli import main as cli_main

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "timeseries" / "nab_traffic"


def test_second_run_keeps_the_rater_and_refit_fits_it_again(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data / "raw" / "timeseries" / "traffic")
    monkeypatch.setenv("SIEVE_DATA_DIR", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    report = data / "clean" / "timeseries" / "traffic" / "rater_report.json"

    assert cli_main(["run", "traffic"]) == 0
    first = capsys.readouterr().out
    assert json.loads(report.read_text())["state"]["reused"] is False
    assert "rater kept" not in first and "rater refitted" not in first  # first night: quiet

    assert cli_main(["run", "traffic"]) == 0
    second = capsys.readouterr().out.splitlines()
    kept = [line for line in second if "rater kept from" in line]
    assert kept and "REFIT=1" in kept[0]
    assert second[second.index(kept[0]) - 1].strip().startswith("ok    timeseries_scores")
    assert json.loads(report.read_text())["state"]["reused"] is True

    assert cli_main(["run", "traffic", "--refit"]) == 0
    assert "rater refitted: refit requested" in capsys.readouterr().out
    assert json.loads(report.read_text())["state"]["reason"] == "refit requested"
