"""The one place where family rows (Python dicts) become Arrow, checked.

A number read from a mangled log can be too big for its column (`Killed process
99999999999999999999`) or the wrong kind of value. The fast path is one
`RecordBatch.from_pylist`; only when it fails are that batch's columns converted one by one,
the values that do not fit set to null, and a reason recorded (`oom_tasks.pid:
99999999999999999999 out of range`) in the row's own `reason`/`problems` column and, through
the dispatcher, in its event's `reason`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# What pyarrow raises for a value that does not fit the column type.
CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError,
                     OverflowError, ValueError, TypeError)  # fmt: skip
SHOWN = 40  # characters of a bad value quoted in its reason
_FLOAT_MAX = 2**1023  # float() of a bigger int raises
REASON_COLUMNS = ("reason", "problems")  # a table's own "why" column, string, `; `-joined


def shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def to_batch(
    rows: list[dict[str, Any]], schema: pa.Schema, table: str
) -> tuple[pa.RecordBatch, list[tuple[int, str]]]:
    """The rows as one batch, and (row index, reason) of every value that had to be nulled."""
    try:
        # one struct conversion in C++ reads the dicts: from_pylist first builds a Python list
        # per column (~30 % more CPU on the 27-column memalloc rows of a storm)
        struct = pa.array(rows, type=pa.struct(list(schema)))
        return pa.RecordBatch.from_arrays(struct.flatten(), schema=schema), []
    except CONVERSION_ERRORS:
        pass
    columns: dict[str, list[Any]] = {}
    bad: list[tuple[int, str]] = []
    for field in schema:
        values = [row.get(field.name) for row in rows]
        try:
            pa.array(values, field.type)
        except CONVERSION_ERRORS:
            values = _fit(values, field, table, bad)
        columns[field.name] = values
    _mark(columns, schema, bad)
    arrays = [pa.array(columns[f.name], f.type) for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema), bad


def _fit(values: list[Any], field: pa.Field, table: str, bad: list[tuple[int, str]]) -> list[Any]:
    """The values with each one the column cannot hold replaced by None (a reason each)."""
    out = []
    for i, v in enumerate(values):
        if isinstance(v, int) and pa.types.is_floating(field.type) and abs(v) < _FLOAT_MAX:
            v = float(v)  # a huge integer in a float column is still a number, rounded
        try:
            pa.array([v], field.type)
        except CONVERSION_ERRORS:
            what = "out of range" if isinstance(v, int | float) else "not a " + str(field.type)
            bad.append((i, f"{table}.{field.name}: {shown(v)} {what}"))
            v = None
        out.append(v)
    return out


def _mark(columns: dict[str, list[Any]], schema: pa.Schema, bad: list[tuple[int, str]]) -> None:
    """Append each reason to its row's own reason column and mark the row corrupted."""
    names = set(schema.names)
    for i, reason in bad:
        for name in REASON_COLUMNS:
            if name in names and pa.types.is_string(schema.field(name).type):
                old = columns[name][i]
                columns[name][i] = f"{old}; {reason}" if old else reason
        if "corrupted" in names and pa.types.is_boolean(schema.field("corrupted").type):
            columns["corrupted"][i] = True


def add_event_reasons(events: pa.Table, reasons: dict[int, list[str]]) -> pa.Table:
    """Mark the events whose rows had values nulled: corrupted, reasons appended."""
    if not reasons:
        return events
    ids = events.column("event_id").to_numpy()
    rows = np.flatnonzero(np.isin(ids, list(reasons)))
    if not len(rows):
        return events
    old = events.column("reason").take(pa.array(rows)).to_pylist()
    new = []
    for i, before in zip(ids[rows].tolist(), old, strict=True):
        added = "; ".join(dict.fromkeys(reasons[i]))  # once each, in order
        new.append(f"{before}; {added}" if before else added)
    mask = np.zeros(events.num_rows, bool)
    mask[rows] = True
    reason = pc.replace_with_mask(
        events.column("reason").combine_chunks(), pa.array(mask), pa.array(new, pa.string())
    )
    corrupted = pc.or_(events.column("corrupted").combine_chunks(), pa.array(mask))
    events = events.set_column(events.schema.get_field_index("reason"), "reason", reason)
    return events.set_column(events.schema.get_field_index("corrupted"), "corrupted", corrupted)
