"""Real series for the TSRating fault benchmarks, split by DOMAIN (docs/tsrating.md §11.9).

Tuning (every design choice, the shipped checkpoint): ETTh1 (7 columns, energy), NAB
realAWSCloudwatch (17, cloud), NAB realTweets (10, social), NOAA LCD Atlanta FM-15 (4 variables).
Held-out (never tuned on; the reported tables): exchange_rate (8, finance), NAB realTraffic (7,
transport), NOAA LCD Lincoln FM-15 (4 variables; another station and year), and, when the
statsmodels data files are given (``--co2-sunspots``), weekly CO2 next to yearly sunspots as one
dataset (the "clean series of a different character" case).

Fresh (added 2026-12-01, after the last tuning change; the first look at them is "fresh look
1" in benchmarks/README_tsrating.md): real series from two registry wheels no session had
read, given as a folder holding the unpacked wheels (``--fresh DIR``; the commands are in
:func:`fresh_domains`):
- ``vega_temps``: hourly air temperature, Seattle and San Francisco, 2010 (2 × 8,759 points;
  vega_datasets 0.9.0, BSD-3-Clause package, NOAA public-domain data);
- ``seattle_daily``: daily precipitation, max/min temperature and wind, Seattle 2012–2015
  (4 × 1,461; vega_datasets, NOAA);
- ``msft``: Microsoft daily open/high/low/close and volume, 1986–2017 trading days (5 × 7,983;
  pmdarima 2.1.1, MIT);
- ``taylor``: half-hourly electricity demand, England and Wales, June–August 2000 (4,032;
  pmdarima, from R's forecast package, Taylor 2003);
- ``sunspots_monthly``: monthly sunspot numbers 1749–1983 (2,820; pmdarima, from R's datasets).

NAB series hold labelled real anomalies: :attr:`Series.anomaly` marks their points so the
benchmarks exclude windows overlapping them from the clean class.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.shared_data import shared_data_dir

NOAA_VARS = (
    "HourlyDryBulbTemperature",
    "HourlyRelativeHumidity",
    "HourlyStationPressure",
    "HourlyWindSpeed",
)


@dataclass
class Series:
    name: str
    values: np.ndarray  # float64, NaN = missing
    anomaly: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.anomaly is None:
            self.anomaly = np.zeros(len(self.values), bool)


def _ts() -> Path:
    return shared_data_dir() / "timeseries"


def _nab(sub: str) -> list[Series]:
    wins = json.loads((_ts() / "nab" / "labels" / "combined_windows.json").read_text())
    out = []
    for p in sorted((_ts() / "nab" / "data" / sub).glob("*.csv")):
        f = pl.read_csv(p, try_parse_dates=True)
        ts = f["timestamp"].to_numpy()
        an = np.zeros(len(f), bool)
        for a, b in wins.get(f"{sub}/{p.name}", []):
            an |= (ts >= np.datetime64(a[:19])) & (ts <= np.datetime64(b[:19]))
        out.append(Series(f"{sub}/{p.stem}", f["value"].to_numpy().astype(float), an))
    return out


def _noaa(station_glob: str) -> list[Series]:
    out = []
    for p in sorted((_ts() / "noaa_lcd").glob(station_glob)):
        f = pl.read_csv(p, infer_schema=False).filter(
            pl.col("REPORT_TYPE").str.strip_chars() == "FM-15"
        )
        for col in NOAA_VARS:
            v = f[col].str.replace_all(r"[^0-9.\-]", "").cast(pl.Float64, strict=False)
            out.append(Series(f"noaa/{p.stem[:20]}/{col}", v.to_numpy().astype(float)))
    return out


def tuning_domains() -> dict[str, list[Series]]:
    ett = pl.read_csv(_ts() / "ett" / "ETTh1.csv")
    return {
        "ett": [Series(f"ett/{c}", ett[c].to_numpy().astype(float)) for c in ett.columns[1:]],
        "nab_aws": _nab("realAWSCloudwatch"),
        "nab_tweets": _nab("realTweets"),
        "noaa_atlanta": _noaa("LCD_72219013874*"),
    }


def fresh_domains(root: str | Path) -> dict[str, list[Series]]:
    """The fresh held-out domains from a folder with the two wheels unpacked::

    pip download pmdarima==2.1.1 vega_datasets==0.9.0 --no-deps --only-binary=:all: -d DIR
    cd DIR && unzip -qo 'pmdarima-*.whl' 'pmdarima/datasets/*' && unzip -qo 'vega_datasets-*.whl'
    """
    import re
    import tarfile

    root = Path(root)
    vega = root / "vega_datasets" / "_data"
    pmd = root / "pmdarima" / "datasets"
    sea = pl.read_csv(vega / "seattle-temps.csv")
    sf = pl.read_csv(vega / "sf-temps.csv")
    daily = pl.read_csv(vega / "seattle-weather.csv")
    with tarfile.open(pmd / "data" / "msft.tar.gz") as tar:
        msft = pl.read_csv(tar.extractfile("msft.csv").read())  # type: ignore[union-attr]
    body = (pmd / "taylor.py").read_text().split("rslt = np.array([", 1)[1].split("])", 1)[0]
    taylor = np.array([float(v) for v in re.findall(r"\d+(?:\.\d+)?", body)])
    with gzip.open(pmd / "data" / "sunspots.txt.gz", "rt") as f:
        sun = np.array(f.read().split(), dtype=float)
    return {
        "vega_temps": [
            Series("vega/seattle_temp", sea["temp"].cast(pl.Float64).to_numpy()),
            Series("vega/sf_temp", sf["temp"].cast(pl.Float64).to_numpy()),
        ],
        "seattle_daily": [
            Series(f"seattle_daily/{c}", daily[c].cast(pl.Float64).to_numpy())
            for c in ("precipitation", "temp_max", "temp_min", "wind")
        ],
        "msft": [
            Series(f"msft/{c}", msft[c].cast(pl.Float64).to_numpy())
            for c in ("Open", "High", "Low", "Close", "Volume")
        ],
        "taylor": [Series("taylor/demand", taylor)],
        "sunspots_monthly": [Series("sunspots/monthly", sun)],
    }


def heldout_domains(co2_sunspots: str | None = None) -> dict[str, list[Series]]:
    with gzip.open(_ts() / "exchange_rate" / "exchange_rate.txt.gz", "rt") as f:
        ex = np.loadtxt(f, delimiter=",")
    d = {
        "exchange": [Series(f"exchange/{i}", ex[:, i]) for i in range(ex.shape[1])],
        "nab_traffic": _nab("realTraffic"),
        "noaa_lincoln": _noaa("LCD_USW00014939*"),
    }
    if co2_sunspots:  # statsmodels/datasets: co2/co2.csv (weekly), sunspots/sunspots.csv (yearly)
        root = Path(co2_sunspots)
        co2 = pl.read_csv(root / "co2" / "co2.csv", null_values=["", "NA"])
        sun = pl.read_csv(root / "sunspots" / "sunspots.csv")
        d["co2_sunspots"] = [
            Series("co2_weekly", co2["co2"].cast(pl.Float64).to_numpy()),
            Series("sunspots_yearly", sun["SUNACTIVITY"].cast(pl.Float64).to_numpy()),
        ]
    return d
