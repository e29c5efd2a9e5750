"""Columns as the text formats (CSV, JSON) write them: dictionaries plain, binary as hex,
nested values as JSON text in CSV."""

from __future__ import annotations

import json

import pyarrow as pa

from stalllog.output.safe import csv_safe_array


def _plain_type(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def plain_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, _plain_type(f.type)) for f in schema])


def _hex(col: pa.ChunkedArray) -> pa.Array:
    return pa.array([None if b is None else b.hex() for b in col.to_pylist()], pa.string())


def _json_text(col: pa.ChunkedArray) -> pa.Array:
    return pa.array(
        [None if v is None else json.dumps(v, default=str) for v in col.to_pylist()], pa.string()
    )


def text_columns(t: pa.Table, for_csv: bool, csv_safe: bool = False) -> pa.Table:
    """Binary -> hex; for CSV, nested values (lists) -> JSON text and formula-looking strings
    made inert (when csv_safe)."""
    cols = []
    for f, c in zip(t.schema, t.columns, strict=True):
        if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type):
            c = _hex(c) if c.null_count < len(c) else pa.nulls(len(c), pa.string())
        elif for_csv and pa.types.is_nested(f.type):
            c = _json_text(c)
        if for_csv and csv_safe and pa.types.is_string(c.type):
            c = csv_safe_array(c)
        cols.append(c)
    return pa.Table.from_arrays(cols, names=t.schema.names)


def text_schema(schema: pa.Schema, for_csv: bool) -> pa.Schema:
    def text(t: pa.DataType) -> bool:
        return (
            pa.types.is_binary(t)
            or pa.types.is_large_binary(t)
            or (for_csv and pa.types.is_nested(t))
        )

    return pa.schema(
        [pa.field(f.name, pa.string()) if text(f.type) else f for f in plain_schema(schema)]
    )
