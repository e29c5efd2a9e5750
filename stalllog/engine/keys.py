"""The line key on every table: each row says which input (`source`) and which `boot` it came
from, so that any row joins `lines` on (`source`, `line_no`) — or on (`boot`, `line_no`): boot
numbers are unique in a capture and every boot lies in one source.

Families write rows without them (a family knows its event, not its input); they are filled
here once the tables are final, from `events` (by `event_id`) or `boots` (by `boot`), in one
vectorized look-up per table. `keyed` says the same for the docs (docs/tables.md).

Key names match across tables: the reporting tables (`oom_events`, `alloc_stalls`,
`alloc_failures`, `memalloc_scans`) name a Mem-Info snapshot `meminfo_id`, so the snapshot
tables get `meminfo_id` beside their own `snapshot_id` (public, kept): `merge(on="meminfo_id")`.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from stalllog.parsers.base import TableSchema, col

SOURCE_TYPE = pa.dictionary(pa.int32(), pa.string())  # one path repeated over many rows
_SOURCE = col("source", SOURCE_TYPE, "", "the input the row came from (line key, see the top)")
_BOOT = col("boot", pa.int32(), "", "boot number in the capture (line key, see the top)")
_MEMINFO_ID = col(
    "meminfo_id", pa.int64(), "", "= `snapshot_id`, under the name the reporting tables use"
)
CORE = frozenset({"lines", "events", "unparsed", "boots", "sources"})


def _alias_at(names: list[str]) -> int | None:
    """Where `meminfo_id` goes (after `snapshot_id`), None when the table needs none."""
    ok = "snapshot_id" in names and "meminfo_id" not in names
    return names.index("snapshot_id") + 1 if ok else None


def _missing(names: list[str]) -> list[str]:
    """The key columns a table with these columns gets, in order."""
    if "event_id" in names:
        return [k for k in ("source", "boot") if k not in names]
    return ["source"] if "boot" in names and "source" not in names else []


def _position(names: list[str]) -> int:
    """Where they go: after `event_id`, else before `boot`."""
    return names.index("event_id") + 1 if "event_id" in names else names.index("boot")


def keyed(schema: TableSchema) -> TableSchema:
    """`schema` with the key columns `add_keys` gives its table."""
    columns = schema.columns
    names = [c.name for c in columns]
    missing = _missing(names) if schema.name not in CORE else []
    if missing:
        at = _position(names)
        added = tuple(_SOURCE if k == "source" else _BOOT for k in missing)
        columns = (*columns[:at], *added, *columns[at:])
    alias = _alias_at([c.name for c in columns])
    if alias is not None:
        columns = (*columns[:alias], _MEMINFO_ID, *columns[alias:])
    return schema if columns is schema.columns else TableSchema(schema.name, schema.doc, columns)


def missing_as_null(t: pa.Table | pa.RecordBatch) -> pa.Table | pa.RecordBatch:
    """Float NaN (no timestamp, no value) as null: pandas' `isna()` does not count an Arrow
    NaN as missing, and the files say the same as the API."""
    nulled = {}
    for i, c in enumerate(t.columns):
        if pa.types.is_floating(c.type) and len(c) > c.null_count:
            nan = pc.is_nan(c)
            if pc.any(nan).as_py():
                nulled[i] = pc.if_else(nan, pa.scalar(None, c.type), c)
    if not nulled:
        return t
    if isinstance(t, pa.RecordBatch):
        cols = [nulled.get(i, c) for i, c in enumerate(t.columns)]
        return pa.RecordBatch.from_arrays(cols, schema=t.schema)
    for i, c in nulled.items():  # not from_arrays: see capture.plain
        t = t.set_column(i, t.schema.field(i), c)
    return t


def add_keys(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """Every table but the core ones with `source` and `boot`, and NaN as null (idempotent)."""
    tables = {name: missing_as_null(t) for name, t in tables.items()}
    events, boots = tables.get("events"), tables.get("boots")
    out = dict(tables)
    for name, t in tables.items():
        alias = _alias_at(t.column_names)
        if alias is not None:
            t = out[name] = t.add_column(alias, "meminfo_id", t.column("snapshot_id"))
        missing = _missing(t.column_names) if name not in CORE else []
        if not missing:
            continue
        if "event_id" in t.column_names:
            if events is None:
                continue
            at = pc.index_in(t.column("event_id"), value_set=events.column("event_id"))
            values = {"source": events.column("source"), "boot": events.column("boot")}
        else:
            if boots is None:
                continue
            at = pc.index_in(t.column("boot"), value_set=boots.column("boot"))
            values = {"source": boots.column("source")}
        pos = _position(t.column_names)
        for i, key in enumerate(missing):
            column = values[key].take(at)
            if key == "source":
                column = pc.dictionary_encode(column).cast(SOURCE_TYPE)
            t = t.add_column(pos + i, pa.field(key, column.type), column)
        out[name] = t
    return out
