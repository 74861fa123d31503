from pathlib import Path

import polars as pl
import pytest

from ops.ingest import noaa_lcd
from ops.ingest.timeseries import ingest_timeseries, parse_numbers

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bad_timeseries"
SAMPLES = Path(__file__).resolve().parents[3] / "data" / "samples" / "timeseries"


@pytest.fixture(scope="module")
def bad():
    return ingest_timeseries(FIXTURES)


def _file(result, name):
    return next(f for f in result.files if f.file == name)


def test_every_record_is_accounted_for(bad):
    assert bad.records_in == bad.points.height + bad.quarantine.height
    for f in bad.files:
        assert f.records_in == f.records_out + f.quarantined, f


def test_unreadable_files_are_quarantined_by_name(bad):
    unreadable = bad.quarantine.filter(pl.col("reason") == "unreadable_file")
    assert set(unreadable["source_file"]) == {"empty.csv", "garbage.parquet", "no_timestamp.csv"}
    assert "no timestamp column" in _file(bad, "no_timestamp.csv").error
    assert "empty (0 bytes)" in _file(bad, "empty.csv").error


def test_text_in_value_column_becomes_null_and_counted(bad):
    report = _file(bad, "text_values.csv")
    assert report.unparsed_values == 2
    vals = (
        bad.points.filter(pl.col("series_id") == "text_values").sort("timestamp")["value"].to_list()
    )
    assert vals == [1.5, None, 2.5, None, 3.0]


def test_unsorted_and_duplicated_timestamps(bad):
    s1 = bad.points.filter(pl.col("series_id") == "s1")
    assert s1["timestamp"].is_sorted()
    assert s1.height == 4  # 5 records, one duplicate at 01:00
    dupes = bad.quarantine.filter(pl.col("reason") == "duplicate_timestamp")
    assert sorted(dupes["item"].to_list()) == ["s1", "s2"]
    # s2's duplicate at 00:00 has a null value: the non-null record is the one kept
    assert bad.points.filter(pl.col("series_id") == "s2")["value"].to_list() == [10.0]
    bad_ts = bad.quarantine.filter(pl.col("reason") == "unparseable_timestamp")
    assert bad_ts["detail"].to_list() == ["not a time"]
    assert bad_ts["source_row"].to_list() == [6]


def test_wide_file_is_melted_and_text_columns_skipped(bad):
    report = _file(bad, "wide.csv")
    assert report.layout == "wide" and report.skipped_columns == ["note"]
    assert report.records_in == 6
    b = bad.points.filter(pl.col("series_id") == "B").sort("timestamp")["value"].to_list()
    assert b == [10.0, 20.0, None]


def test_series_stats_measure_cadence_and_gaps():
    from ops.ingest.timeseries import series_stats

    ts = pl.datetime_range(pl.datetime(2024, 1, 1), pl.datetime(2024, 1, 1, 9), "1h", eager=True)
    ts = ts.filter(~ts.dt.hour().is_in([4, 5]))  # one gap of 3 h
    points = pl.DataFrame({"series_id": "a", "timestamp": ts, "value": 1.0})
    stats = series_stats(points, pl.DataFrame(schema={"item": pl.String}))
    row = stats.row(0, named=True)
    assert row["cadence_seconds"] == 3600 and row["n_gaps"] == 1 and row["n_points"] == 8


def test_noaa_lcd_codes_are_decoded():
    col = pl.Series("HourlyPrecipitation", ["T", "0.07s", "1.75V", "VRB", "", None, "0.10", "M"])
    decoded, coded = noaa_lcd.decode_cells(col)
    numbers, unparsed = parse_numbers(decoded)
    assert numbers.to_list() == [0.0, 0.07, 1.75, None, None, None, 0.10, None]
    assert coded == 3 and unparsed == 2  # VRB and M; blanks are missing, not unparsed


def test_real_noaa_lcd_export_accounts_for_every_cell():
    result = ingest_timeseries(SAMPLES / "noaa_lcd")
    assert result.records_in == result.points.height + result.quarantine.height
    assert {f.layout for f in result.files} == {"noaa_lcd"}
    reasons = set(result.quarantine["reason"])
    assert "report_type:SOD" in reasons and "report_type:FM-16" in reasons
    by_design = ("duplicate_timestamp", "cadence_padding")  # 3-hourly pressure tendency/change
    assert all(r.startswith("report_type:") or r in by_design for r in reasons)
    padded = result.quarantine.filter(pl.col("reason") == "cadence_padding")
    assert set(padded["item"].str.split(":").list.last()) == {
        "HourlyPressureTendency",
        "HourlyPressureChange",
    }
    temp = result.points.filter(pl.col("series_id") == "72219013874:HourlyDryBulbTemperature")
    assert temp.height > 1000 and temp["value"].null_count() < 10
    summary = result.summary()
    assert (
        summary["coded_values"] > 0 and summary["unparsed_values"] > 0
    )  # T/0.07s decoded, VRB unparsed
    wind = result.series.filter(pl.col("series_id").str.ends_with("HourlyWindDirection"))
    assert wind.height == 2


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        ingest_timeseries(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .csv"):
        ingest_timeseries(tmp_path / "empty")


def _write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def test_same_column_in_two_overlapping_files_is_two_series(tmp_path):
    # two stations' exports, one "temp" column each, same hours, different readings
    _write(tmp_path, "seattle.csv", "date,temp\n2010/01/01 00:00,39.4\n2010/01/01 01:00,39.2\n")
    _write(tmp_path, "sf.csv", "temp,date\n47.8,2010/01/01 00:00:00\n47.4,2010/01/01 01:00:00\n")
    r = ingest_timeseries(tmp_path)
    assert sorted(r.points["series_id"].unique()) == ["seattle/temp", "sf/temp"]
    assert r.quarantine.height == 0 and r.split_series == ["temp"]
    assert r.records_in == r.points.height == 4


def test_same_column_over_disjoint_periods_or_a_reexport_stays_one_series(tmp_path):
    _write(tmp_path / "a", "jan.csv", "date,temp\n2010-01-01,1\n2010-01-02,2\n")
    _write(tmp_path / "a", "feb.csv", "date,temp\n2010-02-01,3\n2010-02-02,4\n")
    _write(tmp_path / "a", "feb_again.csv", "date,temp\n2010-02-01,3\n2010-02-02,4\n")
    r = ingest_timeseries(tmp_path / "a")
    assert r.points["series_id"].unique().to_list() == ["temp"] and r.points.height == 4
    assert r.quarantine["reason"].to_list() == ["duplicate_timestamp"] * 2
    assert r.split_series == []


def test_time_word_columns_and_numeric_years_are_timestamps(tmp_path):
    _write(tmp_path, "monthly.csv", "month,sunspots\n1749-01,58.0\n1749-02,62.6\n")
    _write(tmp_path, "yearly.csv", "YEAR,SUNACTIVITY\n1700.0,5.0\n1701.0,11.0\n")
    r = ingest_timeseries(tmp_path)
    assert r.quarantine.height == 0
    years = r.points.filter(pl.col("series_id") == "SUNACTIVITY")["timestamp"].dt.year()
    assert years.to_list() == [1700, 1701]
    months = r.points.filter(pl.col("series_id") == "sunspots")["timestamp"].dt.month()
    assert months.to_list() == [1, 2]
