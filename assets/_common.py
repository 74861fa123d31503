"""Small helpers shared by the asset modules (metadata shaping only; no algorithms)."""

from __future__ import annotations

import dagster as dg
import polars as pl

from ops.contracts import Table

#: materialization metadata whose text the console prints under the step's line
CONSOLE_NOTE = "sieve/console_note"


def table_metadata(frame: pl.DataFrame, limit: int = 20) -> dg.TableMetadataValue:
    """A Dagster table preview of the first ``limit`` rows (values as strings)."""
    head = frame.head(limit)
    schema = dg.TableSchema(columns=[dg.TableColumn(c, str(t)) for c, t in head.schema.items()])
    records = [
        dg.TableRecord({k: (None if v is None else str(v)) for k, v in r.items()})
        for r in head.iter_rows(named=True)
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def table_schema(table: Table) -> dg.TableSchema:
    """The contract's column schema of ``table``, with each column's description (for
    ``dagster/column_schema`` on asset definitions). Data-dependent columns (``prob_<class>``)
    are described in the table's description, not listed."""
    columns = [
        dg.TableColumn(c.name, str(c.polars_dtype()), description=c.description)
        for c in table.columns
    ]
    return dg.TableSchema(columns=columns)


def column_schema(frame: pl.DataFrame, table: Table | None = None) -> dg.TableSchema:
    """The column schema of a written frame; descriptions from ``table``'s contract."""
    described = {c.name: c.description for c in table.columns} if table else {}
    if table is not None and table.dynamic:
        described |= {c: table.dynamic for c in table.dynamic_columns(frame.columns)}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c, str(t), description=described.get(c)) for c, t in frame.schema.items()
        ]
    )


def as_text(metadata: dict) -> dict:
    """``metadata`` with its plain numbers as text. Dagster plots every numeric metadata entry
    of an asset as a line over its materializations; for a dataset-partitioned asset that line
    runs across unrelated datasets and means nothing. ``dagster/*`` entries (row count) stay."""
    out = {}
    for key, value in metadata.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or key.startswith("dagster/")
        ):
            out[key] = value
        elif isinstance(value, float):
            out[key] = dg.MetadataValue.text(f"{value:.4g}")
        else:
            out[key] = dg.MetadataValue.text(f"{value:,}")
    return out


def materialize_result(metadata: dict) -> dg.MaterializeResult:
    """``MaterializeResult(metadata=as_text(metadata))``: what a dataset-partitioned asset
    returns, its numbers shown as text rather than plotted across datasets."""
    return dg.MaterializeResult(metadata=as_text(metadata))


def run_id(context: dg.AssetExecutionContext) -> str:
    return context.run.run_id
