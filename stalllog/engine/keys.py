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

from collections.abc import Callable

import numpy as np
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


Positions = Callable[[pa.ChunkedArray], pa.Array | pa.ChunkedArray]


def _positions(values: pa.ChunkedArray) -> Positions:
    """`pc.index_in(keys, value_set=values)` for many key columns: ids numbered from 0 (event
    ids, boots) look up in one array. index_in builds a hash table of `values` per call, and
    its buffers left ~12 MB of glibc heap per table behind (a storm's 35 tables: 300 MB)."""
    ids = values.to_numpy() if not values.null_count else None
    if ids is None or not len(ids) or ids.min() < 0 or ids.max() > 4 * len(ids) + 1024:
        return lambda keys: pc.index_in(keys, value_set=values)
    where = np.full(int(ids.max()) + 1, -1, np.int32)
    where[ids[::-1]] = np.arange(len(ids) - 1, -1, -1, dtype=np.int32)  # the first of equals

    def at(keys: pa.ChunkedArray) -> pa.Array:
        k = pc.fill_null(keys, -1).to_numpy()
        pos = np.full(len(k), -1, np.int32)
        inside = (k >= 0) & (k < len(where))
        pos[inside] = where[k[inside]]
        return pa.array(pos, mask=pos < 0)

    return at


def add_keys(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """Every table but the core ones with `source` and `boot`, and NaN as null (idempotent)."""
    tables = {name: missing_as_null(t) for name, t in tables.items()}
    events, boots = tables.get("events"), tables.get("boots")
    # key column -> (its positions in the keying table, the values found there)
    lookups: dict[str, tuple[Positions, dict[str, pa.ChunkedArray]]] = {}
    if events is not None:
        values = {"source": events.column("source"), "boot": events.column("boot")}
        lookups["event_id"] = (_positions(events.column("event_id")), values)
    if boots is not None:
        lookups["boot"] = (_positions(boots.column("boot")), {"source": boots.column("source")})
    out = dict(tables)
    for name, t in tables.items():
        alias = _alias_at(t.column_names)
        if alias is not None:
            t = out[name] = t.add_column(alias, "meminfo_id", t.column("snapshot_id"))
        missing = _missing(t.column_names) if name not in CORE else []
        if not missing:
            continue
        key_column = "event_id" if "event_id" in t.column_names else "boot"
        if key_column not in lookups:
            continue
        find, values = lookups[key_column]
        at = find(t.column(key_column))
        pos = _position(t.column_names)
        for i, key in enumerate(missing):
            column = values[key].take(at)
            if key == "source":
                column = pc.dictionary_encode(column).cast(SOURCE_TYPE)
            t = t.add_column(pos + i, pa.field(key, column.type), column)
        out[name] = t
    return out
