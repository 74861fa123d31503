"""Real-world file shapes a user drops in as they come: keyed long tables, Unix epochs,
compact dates, European dialects, separate date and time columns. Each one was read wrongly
(rows quarantined as duplicates, or the whole file unreadable) before ops/ingest learnt it."""

from __future__ import annotations

import gzip
from datetime import datetime

import polars as pl
import pytest

from ops.ingest.timeseries import ingest_timeseries


def _ingest(tmp_path, name, text):
    (tmp_path / name).write_bytes(text.encode())
    r = ingest_timeseries(tmp_path)
    assert r.records_in == r.points.height + r.quarantine.height
    return r


def _series(r):
    return sorted(r.points["series_id"].unique().to_list())


@pytest.mark.parametrize(
    ("text", "series", "layout"),
    [
        (
            "symbol,date,price\nMSFT,Jan 1 2000,39.81\nMSFT,Feb 1 2000,36.35\n"
            "IBM,Jan 1 2000,100.52\nIBM,Feb 1 2000,92.11\n",
            ["IBM/price", "MSFT/price"],
            "wide_keyed",
        ),
        (
            "station,timestamp,value\nA,2020-01-01 00:00,1\nB,2020-01-01 00:00,5\n"
            "A,2020-01-01 01:00,2\nB,2020-01-01 01:00,6\n",
            ["A", "B"],
            "long_keyed",
        ),
    ],
)
def test_text_key_columns_name_the_series_when_timestamps_repeat(tmp_path, text, series, layout):
    r = _ingest(tmp_path, "keyed.csv", text)
    assert _series(r) == series and r.quarantine.height == 0
    assert r.files[0].layout == layout


def test_a_note_column_with_unique_timestamps_is_skipped_not_a_key(tmp_path):
    r = _ingest(
        tmp_path, "w.csv", "date,temp,weather\n2012/01/01,12.8,rain\n2012/01/02,10.6,rain\n"
    )
    assert _series(r) == ["temp"] and r.files[0].skipped_columns == ["weather"]


def test_unix_epochs_by_magnitude_and_compact_dates(tmp_path):
    r = _ingest(
        tmp_path,
        "s.csv",
        "timestamp,value\n1577836800,1\n1577840400,2\n",
    )
    assert r.points["timestamp"].to_list() == [datetime(2020, 1, 1, 0), datetime(2020, 1, 1, 1)]
    (tmp_path / "s.csv").unlink()
    r = _ingest(tmp_path, "ms.csv", "timestamp,value\n1577836800000,1\n1577836800500,2\n")
    assert r.points["timestamp"][1] == datetime(2020, 1, 1, 0, 0, 0, 500_000)
    (tmp_path / "ms.csv").unlink()
    r = _ingest(tmp_path, "d.csv", "date,value\n20200101,1\n20200102,2\n")
    assert r.points["timestamp"].to_list() == [datetime(2020, 1, 1), datetime(2020, 1, 2)]
    (tmp_path / "d.csv").unlink()
    r = _ingest(tmp_path, "h.csv", "date,value\n2020010112,1\n2020010113,2\n")
    assert r.points["timestamp"].to_list() == [datetime(2020, 1, 1, 12), datetime(2020, 1, 1, 13)]


def test_semicolons_decimal_commas_and_day_first_dotted_dates(tmp_path):
    r = _ingest(
        tmp_path,
        "e.csv",
        "Datum;Wert;Zähler\n01.02.2020 00:00;1,5;1.234,5\n02.02.2020 00:00;-2,25;7\n",
    )
    got = r.points.sort("series_id", "timestamp")
    assert got["timestamp"].to_list()[:2] == [datetime(2020, 2, 1), datetime(2020, 2, 2)]
    assert got.filter(pl.col("series_id") == "Wert")["value"].to_list() == [1.5, -2.25]
    assert got.filter(pl.col("series_id") == "Zähler")["value"].to_list() == [1234.5, 7.0]


def test_separate_date_and_time_columns_question_marks_and_tabs(tmp_path):
    text = "Date;Time;Global_active_power\n16/12/2006;17:24:00;4.216\n16/12/2006;17:25:00;?\n"
    with gzip.open(tmp_path / "power.csv.gz", "wt") as f:
        f.write(text)
    (tmp_path / "tabs.csv").write_text("time\tvalue\n2020-01-01 00:00\t1\n")
    r = ingest_timeseries(tmp_path)
    p = r.points.filter(pl.col("series_id") == "Global_active_power")
    assert p["timestamp"].to_list() == [
        datetime(2006, 12, 16, 17, 24),
        datetime(2006, 12, 16, 17, 25),
    ]
    assert p["value"].to_list() == [4.216, None] and r.files[0].unparsed_values == 1
    assert r.points.filter(pl.col("series_id") == "tabs")["value"].to_list() == [1.0]


def test_slashed_dates_stay_month_first_unless_a_day_exceeds_12(tmp_path):
    r = _ingest(tmp_path, "us.csv", "date,value\n01/02/2020,1\n12/16/2020,2\n")
    assert r.points["timestamp"].to_list() == [datetime(2020, 1, 2), datetime(2020, 12, 16)]


def test_thousands_commas_currency_and_percent_cells_are_numbers(tmp_path):
    r = _ingest(
        tmp_path,
        "a.csv",
        'date,volume,revenue,share\n2020-01-01,"1,234,567",$1200.50,12%\n'
        '2020-01-02,"987,654",-$3.25,13.5 %\n',
    )
    got = {s: r.points.filter(pl.col("series_id") == s)["value"].to_list() for s in _series(r)}
    assert got == {
        "volume": [1234567.0, 987654.0],
        "revenue": [1200.5, -3.25],
        "share": [12.0, 13.5],
    }
    assert r.files[0].skipped_columns == []


def test_comment_preamble_is_skipped_and_unused_long_columns_are_listed(tmp_path):
    r = _ingest(
        tmp_path,
        "log.csv",
        "# exported by logger v2\n# station: X\ntimestamp,value,flag\n"
        "2020-01-01 00:00,1,ok\n2020-01-01 01:00,2,ok\n",
    )
    assert r.points["value"].to_list() == [1.0, 2.0]
    assert r.files[0].layout == "long" and r.files[0].skipped_columns == ["flag"]


def test_unsupported_data_files_are_quarantined_not_ignored(tmp_path):
    (tmp_path / "a.tsv").write_text("timestamp\tvalue\n2020-01-01\t1\n")
    (tmp_path / "b.xlsx").write_bytes(b"PK\x03\x04 not really")
    (tmp_path / "README.md").write_text("notes")  # not a data format: left alone
    r = ingest_timeseries(tmp_path)
    assert r.points["value"].to_list() == [1.0]
    q = r.quarantine.row(0, named=True)
    assert (q["source_file"], q["reason"]) == ("b.xlsx", "unsupported_format")
    assert "save each sheet as CSV" in q["detail"]
    (tmp_path / "a.tsv").unlink()
    with pytest.raises(FileNotFoundError, match=r"found only b\.xlsx \(a spreadsheet"):
        ingest_timeseries(tmp_path)


def test_windows_1252_utf16_and_bom_files_are_decoded(tmp_path):
    latin = "Zeit;Temperatur (°C)\n01.01.2020 00:00;1,5\n".encode("cp1252")
    (tmp_path / "latin.csv").write_bytes(latin)
    (tmp_path / "unicode.csv").write_bytes("Zeit,Zähler\n2020-01-01 01:00,7\n".encode("utf-16"))
    (tmp_path / "bom.csv").write_bytes("\ufefftimestamp,value\n2020-01-01 02:00,2\n".encode())
    r = ingest_timeseries(tmp_path)
    assert _series(r) == ["Temperatur (°C)", "Zähler", "bom"]
    assert sorted(r.points["value"].to_list()) == [1.5, 2.0, 7.0]


def test_a_file_that_makes_polars_panic_is_quarantined_not_fatal(tmp_path):
    (tmp_path / "nul.csv").write_bytes(b"ti\x00me,value\n2020-01-01 00:00,1\n")
    (tmp_path / "ok.csv").write_text("timestamp,value\n2020-01-01 00:00,1\n")
    r = ingest_timeseries(tmp_path)
    assert r.points["series_id"].to_list() == ["ok"]
    bad = next(f for f in r.files if f.file == "nul.csv")
    assert bad.layout == "unreadable" and bad.quarantined == 1


def test_sample_index_timestamps_are_offsets_not_years(tmp_path):
    # anomaly-benchmark layout (UCR/KDD, aeon): 0, 1, 2 … sample numbers and a 0/1 label column.
    # pandas read 1000 … as the year 1000 and quarantined 0 … 999.
    rows = "".join(f"{i},{i % 7}.5,{int(i == 1500)}\n" for i in range(2000))
    r = _ingest(tmp_path, "ucr.csv", "timestamp,value-0,is_anomaly\n" + rows)
    assert r.quarantine.height == 0 and _series(r) == ["value-0"]
    assert r.files[0].skipped_columns == ["is_anomaly"]
    ts = r.points.sort("timestamp")["timestamp"]
    assert ts[0] == datetime(1970, 1, 1) and ts[1999] == datetime(1970, 1, 1, 0, 33, 19)
    # seconds since the start, fractional: spacing kept
    (tmp_path / "f").mkdir()
    r = _ingest(tmp_path / "f", "t.csv", "time,v\n0.0,1\n0.5,2\n1.0,3\n")
    assert r.points["timestamp"].diff().drop_nulls().unique().to_list() == [
        datetime(1970, 1, 1, 0, 0, 0, 500000) - datetime(1970, 1, 1)
    ]


def test_unnamed_index_of_years_and_quarter_strings(tmp_path):
    # R / pandas export of an annual series: the years are the unnamed index (aeon's Lynx.csv)
    r = _ingest(tmp_path, "lynx.csv", ",0\n1821,269\n1822,321\n1823,585\n")
    assert r.points.sort("timestamp")["timestamp"].to_list() == [
        datetime(y, 1, 1) for y in (1821, 1822, 1823)
    ]
    # quarters, with a written-out row index that is skipped, not a straight-line series
    (tmp_path / "q").mkdir()
    r = _ingest(
        tmp_path / "q",
        "us.csv",
        ",Quarter,Income\n0,1970 Q1,0.97\n1,1970 Q2,1.17\n2,1970-Q3,1.55\n3,Q4 1970,-0.1\n",
    )
    assert r.quarantine.height == 0 and _series(r) == ["Income"]
    assert r.files[0].skipped_columns == [""]
    assert r.points.sort("timestamp")["timestamp"].to_list() == [
        datetime(1970, m, 1) for m in (1, 4, 7, 10)
    ]


def test_a_year_column_and_an_obs_counter_and_a_real_index_series(tmp_path):
    # Longley layout: "Obs" 1..n is a row counter; a column that merely contains 0/1 values but
    # is not named as a label, or an index-named column that is not consecutive, stays a series
    r = _ingest(
        tmp_path,
        "l.csv",
        '"Obs","GNP","index","flag","YEAR"\n1,234,5.5,0,1947\n2,259,5.9,1,1948\n3,258,5.1,0,1949\n',
    )
    assert _series(r) == ["GNP", "flag", "index"] and r.files[0].skipped_columns == ["Obs"]
    assert r.points["timestamp"].min() == datetime(1947, 1, 1)


TSF = """# Monash forecasting archive layout (a made-up three-series file)
@relation demo
@attribute series_name string
@attribute state string
@attribute start_timestamp date
@frequency 10_minutes
@horizon 6
@missing true
@equallength false
@data
T1:NSW:2019-01-01 00-00-00:1.5,2.5,?,4.0
T2:VIC:2019-01-01 00-00-00:7,8
T3:QLD:2019-01-01 23-50-00:1,x
"""


def test_monash_tsf_files_are_read_with_their_frequency_and_missing_values(tmp_path):
    (tmp_path / "ucr.ts").write_text("@problemName X\n@data\n1,2,3:a\n")
    r = _ingest(tmp_path, "demo.tsf", TSF)
    assert _series(r) == ["T1/NSW", "T2/VIC", "T3/QLD"]
    (tsf,) = [f for f in r.files if f.file == "demo.tsf"]
    assert tsf.layout == "tsf" and r.points.height == 8
    assert tsf.unparsed_values == 1  # "x"; "?" is a declared missing value
    t1 = r.points.filter(pl.col("series_id") == "T1/NSW").sort("timestamp")
    assert t1["value"].to_list() == [1.5, 2.5, None, 4.0]
    assert t1["timestamp"][3] == datetime(2019, 1, 1, 0, 30)
    t3 = r.points.filter(pl.col("series_id") == "T3/QLD").sort("timestamp")
    assert t3["timestamp"][1] == datetime(2019, 1, 2)  # steps cross midnight
    q = r.quarantine.filter(pl.col("reason") == "unsupported_format")
    assert q["source_file"].to_list() == ["ucr.ts"] and "UCR/UEA" in q["detail"][0]


def test_a_tsf_file_without_data_or_with_short_lines_is_quarantined(tmp_path):
    r = _ingest(tmp_path, "bad.tsf", "@relation x\n@attribute series_name string\n")
    assert r.quarantine["reason"].to_list() == ["unreadable_file"]
    assert "no @data line" in r.quarantine["detail"][0]


def test_year_and_quarter_columns_make_one_date_and_a_year_beats_a_time_counter(tmp_path):
    # statsmodels macrodata: year, quarter, then the series; before, "year" was the timestamp,
    # every year's four rows were duplicates and "quarter" was a series
    r = _ingest(
        tmp_path,
        "macro.csv",
        '"year","quarter","realgdp"\n1959,1,2710.3\n1959,2,2778.8\n1959,3,2775.5\n1960,1,2847.7\n',
    )
    assert _series(r) == ["realgdp"] and r.quarantine.height == 0
    assert r.points.sort("timestamp")["timestamp"].to_list() == [
        datetime(1959, 1, 1),
        datetime(1959, 4, 1),
        datetime(1959, 7, 1),
        datetime(1960, 1, 1),
    ]
    # statsmodels copper: YEAR and a 1, 2, 3 … counter named TIME
    (tmp_path / "c").mkdir()
    r = _ingest(tmp_path / "c", "copper.csv", '"YEAR","PRICE","TIME"\n1951,26.5,1\n1952,27.3,2\n')
    assert r.points["timestamp"].min() == datetime(1951, 1, 1)
    assert _series(r) == ["PRICE", "TIME"]


def test_nixtla_and_prophet_long_layouts(tmp_path):
    r = _ingest(tmp_path, "n.csv", "unique_id,ds,y\nH1,1,5.0\nH1,2,6.0\nH2,1,7.0\nH2,2,8.0\n")
    assert _series(r) == ["H1", "H2"] and r.files[0].layout == "long"
    (tmp_path / "p").mkdir()
    r = _ingest(tmp_path / "p", "sales.csv", "ds,y\n2024-01-01,5\n2024-01-02,6\n")
    assert _series(r) == ["sales"]


def test_a_column_named_value_among_other_measurements_is_a_wide_table(tmp_path):
    # statsmodels grunfeld: only "value" was rated per firm; invest and capital were skipped
    r = _ingest(
        tmp_path,
        "g.csv",
        "invest,value,capital,firm,year\n317.6,3078.5,2.8,GM,1935\n391.8,4661.7,52.6,GM,1936\n"
        "33.1,1170.6,97.8,GE,1935\n45.0,2015.8,104.4,GE,1936\n",
    )
    assert r.files[0].layout == "wide_keyed" and r.quarantine.height == 0
    assert _series(r) == [f"{k}/{c}" for k in ("GE", "GM") for c in ("capital", "invest", "value")]


def test_a_whole_number_key_column_names_each_rows_unit(tmp_path):
    # river's chick-weights: time repeats once per chick; 1,698 of 1,734 records were
    # quarantined as duplicates. A text key still wins, and a measurement is never a key.
    r = _ingest(
        tmp_path,
        "chicks.csv",
        "weight,time,chick,diet\n42,0,1,1\n40,0,2,1\n51,2,1,1\n49,2,2,1\n",
    )
    assert r.quarantine.height == 0 and r.files[0].layout == "wide_keyed"
    assert _series(r) == ["chick=1/diet", "chick=1/weight", "chick=2/diet", "chick=2/weight"]


def test_python_ordinal_dates(tmp_path):
    # river's trump_approval: date.toordinal() days; the file was unreadable
    r = _ingest(tmp_path, "t.csv", "ordinal_date,gallup\n736389,43.8\n736390,43.9\n")
    assert r.points.sort("timestamp")["timestamp"].to_list() == [
        datetime(2017, 3, 1),
        datetime(2017, 3, 2),
    ]


def test_a_few_repeated_timestamps_are_duplicates_not_keys(tmp_path):
    # a DST fall-back hour repeated in a local-time export: the differing "sky" text and
    # "count" numbers of the two rows must not split the file into series
    rows = [
        f"2024-10-27 {h:02d}:00,{h}.5,{h % 3},{'clear' if h % 2 else 'rain'}" for h in range(24)
    ]
    rows.insert(3, "2024-10-27 02:00,9.9,7,fog")
    r = _ingest(tmp_path, "dst.csv", "timestamp,temp,count,sky\n" + "\n".join(rows) + "\n")
    assert _series(r) == ["count", "temp"]
    assert r.quarantine["reason"].unique().to_list() == ["duplicate_timestamp"]
