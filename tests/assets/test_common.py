"""assets/_common.py: the Dagster column schema of a contract table, with descriptions."""

import dagster as dg
import polars as pl

from assets._common import column_schema, table_schema
from ops.contracts import LABELS, PUBLISHED_WINDOWS, TABLES


def test_table_schema_has_every_column_with_its_description():
    for table in (*TABLES, PUBLISHED_WINDOWS):
        schema = table_schema(table)
        assert isinstance(schema, dg.TableSchema)
        assert [c.name for c in schema.columns] == list(table.names)
        assert all(c.description for c in schema.columns)
    assert table_schema(LABELS).columns[0].type == "String"


def test_column_schema_of_a_written_frame_describes_dynamic_columns():
    frame = pl.DataFrame({"image": ["a.png"], "prob_cat": [0.5], "extra": [1]})
    cols = {c.name: c for c in column_schema(frame, LABELS).columns}
    assert cols["image"].description == LABELS.column("image").description
    assert "prob_<class>" in cols["prob_cat"].description
    assert cols["extra"].description is None
