"""Small helpers shared by the asset modules (metadata shaping only; no algorithms)."""

from __future__ import annotations

import dagster as dg
import polars as pl


def table_metadata(frame: pl.DataFrame, limit: int = 20) -> dg.TableMetadataValue:
    """A Dagster table preview of the first ``limit`` rows (values as strings)."""
    head = frame.head(limit)
    schema = dg.TableSchema(columns=[dg.TableColumn(c, str(t)) for c, t in head.schema.items()])
    records = [
        dg.TableRecord({k: (None if v is None else str(v)) for k, v in r.items()})
        for r in head.iter_rows(named=True)
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def column_schema(frame: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(c, str(t)) for c, t in frame.schema.items()])


def run_id(context: dg.AssetExecutionContext) -> str:
    return context.run.run_id
