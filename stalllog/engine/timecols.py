"""`parse(ts="timedelta")`: the time-since-boot columns as durations in the DataFrames."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

TS_UNITS = ("seconds", "timedelta")


def is_ts_column(name: str) -> bool:
    """A time since boot (`ts`, `ts_kill`, `start_ts`, ...), not a duration (`held_s`)."""
    return name == "ts" or name.startswith("ts_") or name.endswith("_ts")


def ts_as_timedelta(t: pa.Table) -> pa.Table:
    """`t` with its seconds-since-boot columns as durations (µs: the finest printk stamp)."""
    for i, name in enumerate(t.column_names):
        if is_ts_column(name) and pa.types.is_floating(t.schema.field(i).type):
            micros = pc.cast(pc.round(pc.multiply(t.column(i), 1e6)), pa.int64())
            t = t.set_column(i, name, micros.cast(pa.duration("us")))
    return t


def check_ts(ts: object) -> None:
    if ts not in TS_UNITS:
        raise ValueError(f"ts must be one of {', '.join(map(repr, TS_UNITS))}, not {ts!r}")
