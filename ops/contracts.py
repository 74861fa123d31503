"""The data contract: every table Sieve writes, its file, its columns and their meaning.

One place for what was spelled out in many: writers validate against these specs before they
write, the schema checks compare files with them, the report and publishing read the file names
and column sets from here, and the Dagster layer turns a spec into a column schema with
descriptions (``assets/_common.py``). DESIGN.md and README describe the same tables in prose.

Layout under ``SIEVE_DATA_DIR``: ``clean/<kind>/<dataset>/<file>`` for what each asset writes,
``published/<kind>/<dataset>/<file>`` for what consumers read (copied or joined once every
blocking check passed). Each asset owns its files: ``timeseries_windows`` writes
``windows.parquet``, ``timeseries_scores`` writes ``scores.parquet`` (keyed by ``window_id``);
the published ``windows.parquet`` is the two joined (:data:`PUBLISHED_WINDOWS`).

Column dtypes are polars dtype names (``"String"``, ``"Int64"``, ``"Datetime[us]"`` …) resolved
only when asked (:meth:`Column.polars_dtype`): importing this module imports nothing, so the
label vocabulary is usable where polars is not installed (the GPU benchmark image).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# --- vocabularies -------------------------------------------------------------------------

TIMESERIES, IMAGES = "timeseries", "images"
KINDS = (TIMESERIES, IMAGES)  # one folder per kind under raw/, clean/, published/

#: TSRating criteria; each has a ``<criterion>_score`` column and a prompt template.
CRITERIA = ("trend", "frequency", "amplitude", "pattern")
QUALITY_SCORE = "quality_score"
#: the score columns in [0, 1] (four criteria, then their mix)
SCORE_COLUMNS = (*(f"{c}_score" for c in CRITERIA), QUALITY_SCORE)
#: values of ``judge_kind``: who made a judgment (docs/tsrating.md §11.6)
LLM, LOCAL_LLM, RUBRIC_SURROGATE, SELF_SUPERVISED = (
    "llm",
    "local-llm",
    "rubric-surrogate",
    "self-supervised",
)
JUDGE_KINDS = (LLM, LOCAL_LLM, RUBRIC_SURROGATE, SELF_SUPERVISED)

#: values of ``labels.action``: what label cleaning did with a row
KEPT, RELABELED, DROPPED, QUARANTINED = "kept", "relabeled", "dropped", "quarantined"
ACTIONS = (KEPT, RELABELED, DROPPED, QUARANTINED)
CLEANING_ACTIONS = (KEPT, RELABELED, DROPPED)  # decided by the cleaning policy (not quarantine)
#: values of ``split`` (test rows are never cleaned nor trained on)
SPLITS = ("train", "test")
TEST = SPLITS[1]
PROB_PREFIX = "prob_"  # labels.parquet has one ``prob_<class>`` column per class

# --- specs ----------------------------------------------------------------------------------

_DTYPES = {
    "String": "String",
    "Boolean": "Boolean",
    "Int64": "Int64",
    "UInt32": "UInt32",
    "Float64": "Float64",
}


@dataclass(frozen=True)
class Column:
    """One column: name, polars dtype name, and a one-line description for people."""

    name: str
    dtype: str
    description: str

    def polars_dtype(self) -> Any:
        """The polars dtype (``Datetime[us]``: microseconds in UTC, stored without a zone)."""
        import polars as pl

        if self.dtype == "Datetime[us]":
            return pl.Datetime("us")
        if self.dtype == "List[Float32]":
            return pl.List(pl.Float32)
        if self.dtype not in _DTYPES:
            raise ValueError(f"column {self.name}: unknown dtype {self.dtype!r}")
        return getattr(pl, _DTYPES[self.dtype])()


@dataclass(frozen=True)
class Table:
    """A Parquet table of the contract.

    ``columns`` are in file order. Columns whose names depend on the data (``prob_<class>`` in
    labels.parquet) start with ``dynamic_prefix``, are described by ``dynamic`` and sit right
    after the column ``dynamic_after``.
    """

    key: str
    file: str
    kind: str
    writer: str  # the asset that writes it
    description: str
    columns: tuple[Column, ...]
    dynamic_prefix: str = ""
    dynamic: str = ""
    dynamic_after: str = ""
    key_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.key}: duplicate column names")

    @property
    def stem(self) -> str:
        """The file name without ``.parquet`` (how the report keys its frames)."""
        return self.file.removesuffix(".parquet")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.file} has no column {name!r}")

    def polars_schema(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        """``{name: polars dtype}`` of all columns, or of ``names`` in that order."""
        chosen = self.names if names is None else tuple(names)
        return {n: self.column(n).polars_dtype() for n in chosen}

    def dynamic_columns(self, schema_names: Iterable[str]) -> list[str]:
        """The names of a file's data-dependent columns (empty for tables without any)."""
        if not self.dynamic_prefix:
            return []
        return [n for n in schema_names if n.startswith(self.dynamic_prefix)]

    def problems(self, schema: Mapping[str, Any], *, required: Iterable[str] | None = None) -> list:
        """What a file's schema (``{name: polars dtype}``) lacks or types differently.

        ``required`` limits the comparison to those columns (default: all declared). Extra
        columns are allowed: readers select what they need.
        """
        out = []
        for name in self.names if required is None else required:
            want = self.column(name).polars_dtype()
            if name not in schema:
                out.append(f"missing column {name}")
            elif not (schema[name] == want or schema[name].base_type() == want.base_type()):
                out.append(f"{name} is {schema[name]}, expected {want}")
        return out

    def validate(self, frame: Any) -> Any:
        """Raise ``ValueError`` when ``frame`` (a polars DataFrame) does not meet the contract:
        a column missing or of another type, or a repeated key. Returns it unchanged."""
        problems = self.problems(frame.schema)
        if not problems and self.key_columns:
            n_keys = frame.select(self.key_columns).n_unique()
            if n_keys != frame.height:
                problems.append(f"{frame.height - n_keys} repeated {'/'.join(self.key_columns)}")
        if problems:
            raise ValueError(f"{self.file} does not meet its contract: {'; '.join(problems)}")
        return frame


def _cols(*spec: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*s) for s in spec)


RUN_ID = ("run_id", "String", "Dagster run that wrote the row")
#: every Datetime column is UTC, stored without a zone (Parquet "naive" microseconds)
TIMESTAMP_UTC = (
    "observation time in UTC (microseconds, stored without a zone): offsets in the source are "
    "converted to UTC; times given without an offset (NOAA LCD local standard time included) "
    "are kept as written"
)
SOURCE_FILE = ("source_file", "String", "input file, relative to the dataset folder")

# --- time series: clean/timeseries/<dataset>/ ---------------------------------------------

POINTS = Table(
    key="points",
    file="points.parquet",
    kind=TIMESERIES,
    writer="timeseries_points",
    description="every parsed record of raw/timeseries/<dataset>/, sorted, duplicates resolved",
    columns=_cols(
        ("series_id", "String", "series name (file stem, series column, or column of a wide file)"),
        ("timestamp", "Datetime[us]", TIMESTAMP_UTC),
        ("value", "Float64", "observed value; null when the cell could not be parsed"),
        SOURCE_FILE,
        ("source_row", "Int64", "0-based data row in source_file"),
        RUN_ID,
    ),
)
QUARANTINE_COLUMNS = _cols(
    SOURCE_FILE,
    ("source_row", "Int64", "0-based data row in source_file; null when the whole file failed"),
    ("item", "String", "what was rejected: the record, the column, or the image path"),
    ("reason", "String", "machine-readable reason (e.g. unparseable_timestamp, truncated)"),
    ("detail", "String", "raw text or exception message"),
    RUN_ID,
)
TIMESERIES_QUARANTINE = Table(
    key="timeseries_quarantine",
    file="quarantine.parquet",
    kind=TIMESERIES,
    writer="timeseries_points",
    description="input records that could not be used, with their reason (also by design: "
    "NOAA report types filtered out, cadence_padding: empty cells between the reports of a "
    "coarser-cadence series)",
    columns=QUARANTINE_COLUMNS,
)
SERIES = Table(
    key="series",
    file="series.parquet",
    kind=TIMESERIES,
    writer="timeseries_points",
    description="one row per series: size, nulls, span, cadence, gaps",
    columns=_cols(
        ("series_id", "String", "series name"),
        ("n_points", "UInt32", "points kept"),
        ("n_null_values", "UInt32", "points whose value is null"),
        ("start", "Datetime[us]", "first timestamp (UTC)"),
        ("end", "Datetime[us]", "last timestamp (UTC)"),
        ("cadence_seconds", "Float64", "median step between timestamps, seconds"),
        ("n_gaps", "UInt32", "steps longer than 1.5 cadences"),
        ("n_duplicates_dropped", "UInt32", "records dropped as duplicate timestamps"),
    ),
    key_columns=("series_id",),
)
FILES = Table(
    key="files",
    file="files.parquet",
    kind=TIMESERIES,
    writer="timeseries_points",
    description="one row per input file: layout and record counts (the row-accounting check)",
    columns=_cols(
        ("file", "String", "input file, relative to the dataset folder"),
        (
            "layout",
            "String",
            "long | long_keyed | wide | wide_keyed | noaa_lcd | unreadable "
            "| unsupported (a data format not read, e.g. .xlsx) | refused (outside the folder)",
        ),
        ("records_in", "Int64", "value cells read (a long row, or a row x series column)"),
        ("records_out", "Int64", "records written to points.parquet"),
        ("quarantined", "Int64", "records written to quarantine.parquet"),
        ("unparsed_values", "Int64", "cells kept as null because they did not parse"),
        ("coded_values", "Int64", "coded cells decoded (NOAA T, 0.07s, VRB ...)"),
        ("duplicates_dropped", "Int64", "records dropped as duplicate timestamps"),
        ("skipped_columns", "String", "comma-separated columns not read as series"),
        ("error", "String", "why the file could not be read, else null"),
    ),
    key_columns=("file",),
)
WINDOWS = Table(
    key="windows",
    file="windows.parquet",
    kind=TIMESERIES,
    writer="timeseries_windows",
    description="fixed-length windows of every series: the unit TSRating rates",
    columns=_cols(
        ("window_id", "String", "<series_id>#<start_index>"),
        ("series_id", "String", "series the window belongs to"),
        ("start_index", "Int64", "position of the first point in the series, 0-based"),
        ("window_start", "Datetime[us]", "timestamp of the first point (UTC)"),
        ("window_end", "Datetime[us]", "timestamp of the last point (UTC)"),
        ("n_points", "Int64", "observed points in the window"),
        (
            "n_missing",
            "Int64",
            "null values plus points the cadence expects but are absent "
            "(recurring schedule gaps such as weekends excluded)",
        ),
        ("mean", "Float64", "mean of the non-null values"),
        ("std", "Float64", "standard deviation of the non-null values"),
        ("min", "Float64", "smallest non-null value"),
        ("max", "Float64", "largest non-null value"),
        RUN_ID,
    ),
    key_columns=("window_id",),
)
RATING_COLUMNS = _cols(
    *(
        (f"{c}_score", "Float64", f"judge head's {c} utility, min-max normalised over the dataset")
        for c in CRITERIA
    ),
    (QUALITY_SCORE, "Float64", "(1 - p_fault) x (1 - missing_share); 0 above max_missing"),
    ("quality_rank", "Int64", "rank by quality_score, 1 = best, ties by window order"),
    ("is_low_quality_issue", "Boolean", "calibrated fault flag, or missing_share > max_missing"),
    ("p_fault", "Float64", "calibrated probability that the window holds a fault"),
    ("missing_share", "Float64", "n_missing / points the window should hold (with gaps)"),
    ("selectable", "Boolean", "false when missing_share > max_missing: never selected"),
    ("rater_version", "String", "version of the rater that scored the window"),
    ("judge_model", "String", "judge model(s) whose judgments trained the criterion heads"),
    ("judge_kind", "String", "kind of judgments behind quality_score (self-supervised)"),
)
SCORES = Table(
    key="scores",
    file="scores.parquet",
    kind=TIMESERIES,
    writer="timeseries_scores",
    description="TSRating scores per window, keyed by window_id (joined onto windows to publish)",
    columns=(WINDOWS.column("window_id"), *RATING_COLUMNS, Column(*RUN_ID)),
    key_columns=("window_id",),
)
#: ``published/timeseries/<dataset>/windows.parquet``: windows with their scores
PUBLISHED_WINDOWS = Table(
    key="published_windows",
    file=WINDOWS.file,
    kind=TIMESERIES,
    writer="published_timeseries",
    description="windows.parquet joined with scores.parquet on window_id (run_id of the windows)",
    columns=(*WINDOWS.columns, *RATING_COLUMNS),
    key_columns=("window_id",),
)
JUDGMENTS = Table(
    key="judgments",
    file="judgments.parquet",
    kind=TIMESERIES,
    writer="timeseries_judgments",
    description="every pairwise judgment: one row per (pair, criterion), both orders asked",
    columns=_cols(
        ("block_a", "String", "window_id of window a"),
        ("block_b", "String", "window_id of window b"),
        ("idx_a", "Int64", "row of window a in windows.parquet"),
        ("idx_b", "Int64", "row of window b in windows.parquet"),
        ("criterion", "String", "trend | frequency | amplitude | pattern"),
        ("comparisons_forward", "Float64", "P(b better) with a shown first"),
        ("comparisons_backward", "Float64", "P(a better) with b shown first"),
        ("comparisons_avg", "Float64", "calibrated p(b better than a), both orders averaged"),
        ("confident", "Boolean", "comparisons_avg <= confident_low or >= confident_high"),
        ("prob_a_forward", "Float64", "1 - comparisons_forward"),
        ("prob_a_backward", "Float64", "1 - comparisons_backward"),
        ("votes_fwd", "String", "A:<n>,B:<n> votes of the forward query (votes path)"),
        ("votes_bwd", "String", "A:<n>,B:<n> votes of the backward query (votes path)"),
        ("model", "String", "judge model"),
        ("template_version", "String", "prompt template version"),
        ("template_sha256", "String", "sha256 of the prompt template text"),
        ("path", "String", "how the preference was read: logprobs, votes, rubric (+ joined)"),
        ("path_forward", "String", "path of the forward query"),
        ("path_backward", "String", "path of the backward query"),
        ("cost_usd", "Float64", "cost of the calls made for this pair (0 when cached)"),
        ("tokens", "Int64", "tokens of the calls made for this pair (0 when cached)"),
        ("calls", "Int64", "judge calls made for this pair (0 when cached)"),
        ("cache_key_forward", "String", "judgment cache key of the forward query"),
        ("cache_key_backward", "String", "judgment cache key of the backward query"),
        ("cached_forward", "Boolean", "forward answer came from the cache"),
        ("cached_backward", "Boolean", "backward answer came from the cache"),
        ("status", "String", "ok | unparseable | error | budget_exhausted"),
        ("reason", "String", "why an answer is not ok, else null"),
        ("judge_kind", "String", "llm | local-llm | rubric-surrogate (a rule-based stand-in)"),
        RUN_ID,
    ),
)
SELECTED = Table(
    key="selected",
    file="selected.parquet",
    kind=TIMESERIES,
    writer="timeseries_selected",
    description="the points of the top top_percent % windows by quality_score (points columns)",
    columns=POINTS.columns,
)

# --- images: clean/images/<dataset>/ ------------------------------------------------------

MANIFEST = Table(
    key="manifest",
    file="manifest.parquet",
    kind=IMAGES,
    writer="image_manifest",
    description="readable, valid input rows with image size and mode",
    columns=_cols(
        ("image", "String", "path relative to the dataset folder"),
        ("label", "String", "given class name"),
        ("trusted", "Boolean", "verified by an expert (the trusted meta set)"),
        ("split", "String", "train | test"),
        ("width", "Int64", "pixels"),
        ("height", "Int64", "pixels"),
        ("mode", "String", "Pillow mode (L, RGB, ...)"),
        ("source_row", "Int64", "0-based row in the manifest file (or folder listing)"),
        RUN_ID,
    ),
    key_columns=("image",),
)
IMAGES_QUARANTINE = Table(
    key="images_quarantine",
    file="quarantine.parquet",
    kind=IMAGES,
    writer="image_manifest",
    description="input rows that could not be used, with their reason",
    columns=QUARANTINE_COLUMNS,
)
LABELS = Table(
    key="labels",
    file="labels.parquet",
    kind=IMAGES,
    writer="image_labels_clean",
    description="one row per input row, none lost: given and clean label, quality, action",
    columns=_cols(
        ("image", "String", "path relative to the dataset folder"),
        ("given_label", "String", "label as given (null when the input row had none)"),
        ("clean_label", "String", "label after cleaning (given label unless relabeled)"),
        ("label_quality", "Float64", "0..1, higher is better; low means a likely label error"),
        ("is_label_issue", "Boolean", "flagged as a likely label error"),
        ("action", "String", "kept | relabeled | dropped | quarantined"),
        ("method", "String", "label-cleaning method that produced the row"),
        ("trusted", "Boolean", "in the trusted set (never changed)"),
        ("split", "String", "train | test (test rows are never changed)"),
        ("quarantine_reason", "String", "why the row was quarantined, else null"),
        RUN_ID,
    ),
    dynamic_prefix=PROB_PREFIX,
    dynamic="prob_<class> (Float64): the model's probability of each class, in class order",
    dynamic_after="split",
)
EMBEDDINGS = Table(
    key="embeddings",
    file="embeddings.parquet",
    kind=IMAGES,
    writer="image_embeddings",
    description="one pretrained-encoder vector per manifest image (docs/labels.md §10)",
    columns=_cols(
        ("image", "String", "path relative to the dataset folder"),
        ("sha256", "String", "content hash of the image file (the cache key)"),
        ("encoder", "String", "encoder version: name, resolution and fingerprint"),
        ("embedding", "List[Float32]", "the vector (1280 floats for EfficientNet-Lite)"),
        RUN_ID,
    ),
    key_columns=("image",),
)
#: the label columns every cleaning method fills (then prob_<class>, quarantine_reason, run_id)
LABEL_BASE_COLUMNS = LABELS.names[: LABELS.names.index("split") + 1]
#: the manifest columns label cleaning needs
MANIFEST_REQUIRED_COLUMNS = ("image", "label", "trusted", "split")

# --- side files (JSON) ----------------------------------------------------------------------


@dataclass(frozen=True)
class SideFile:
    file: str
    kind: str
    writer: str
    description: str


JUDGMENTS_SUMMARY = SideFile(
    "judgments_summary.json",
    TIMESERIES,
    "timeseries_judgments",
    "calls, cache hits, tokens, cost and budget of the night's judging (judge_budget check)",
)
RATER_REPORT = SideFile(
    "rater_report.json",
    TIMESERIES,
    "timeseries_scores",
    "rater version, init, calibration, self-supervised and judge agreement, timings, notes",
)
CLASSES = SideFile(
    "classes.json", IMAGES, "image_manifest", "the class names in order (prob_<class> order)"
)
RATER_STATE = SideFile(
    "rater_state.pt",
    TIMESERIES,
    "timeseries_scores",
    "the rater kept between nights (net, series norms, threshold; ops/tsrating/rater_state.py)",
)

# --- sets -----------------------------------------------------------------------------------

TABLES: tuple[Table, ...] = (
    POINTS,
    TIMESERIES_QUARANTINE,
    SERIES,
    FILES,
    WINDOWS,
    SCORES,
    JUDGMENTS,
    SELECTED,
    MANIFEST,
    IMAGES_QUARANTINE,
    EMBEDDINGS,
    LABELS,
)
SIDE_FILES: tuple[SideFile, ...] = (JUDGMENTS_SUMMARY, RATER_REPORT, CLASSES, RATER_STATE)
#: what ``published_<kind>`` makes available to consumers, per kind
PUBLISHED: dict[str, tuple[Table, ...]] = {
    TIMESERIES: (POINTS, TIMESERIES_QUARANTINE, PUBLISHED_WINDOWS, SELECTED, JUDGMENTS, SERIES),
    IMAGES: (LABELS, IMAGES_QUARANTINE),
}
