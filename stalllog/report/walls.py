"""Wall-clock times for the report: when the capture was logged and when its worst kill
happened, as people compare them with their own incident timeline.

`lines.wall_utc` is shown where the prefix or `--tz` gives the zone; otherwise `lines.wall`
as printed, said to be local time of an unknown zone; RFC 3164 stamps without a year
(`wall` in 1900) are shown without one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

_YEARLESS = 1900  # lines.wall of an RFC 3164 stamp (no year printed)


def _fmt(t: datetime, with_date: bool = True) -> str:
    if t.year == _YEARLESS:
        return t.strftime("%b %d %H:%M:%S") if with_date else t.strftime("%H:%M:%S")
    return t.strftime("%Y-%m-%d %H:%M:%S") if with_date else t.strftime("%H:%M:%S")


def _span(lo: datetime, hi: datetime, zone: str) -> str:
    same_day = (lo.year, lo.month, lo.day) == (hi.year, hi.month, hi.day)
    return f"{_fmt(lo)} to {_fmt(hi, not same_day)} {zone}"


def wall_span_text(tables: Mapping[str, pa.Table]) -> str | None:
    """`2026-11-25 18:47:11 to 18:49:01 UTC`, or local time as printed; None without walls."""
    lines = tables.get("lines")
    if lines is None or "wall" not in lines.column_names:
        return None
    utc = pc.min_max(lines.column("wall_utc")) if "wall_utc" in lines.column_names else None
    if utc is not None and utc["min"].is_valid:
        return _span(utc["min"].as_py(), utc["max"].as_py(), "UTC")
    wall = pc.min_max(lines.column("wall"))
    if not wall["min"].is_valid:
        return None
    return _span(wall["min"].as_py(), wall["max"].as_py(), "local time, zone unknown (--tz)")


def wall_at(tables: Mapping[str, pa.Table], source: str | None, line_no: int | None) -> str | None:
    """The wall clock of one line: UTC when known, else as printed (`local`)."""
    lines = tables.get("lines")
    if lines is None or line_no is None or "wall" not in lines.column_names:
        return None
    hit = pc.equal(lines.column("line_no"), line_no)
    if source is not None and "source" in lines.column_names:
        hit = pc.and_(hit, pc.equal(lines.column("source"), source))
    row = lines.filter(pc.fill_null(hit, False)).slice(0, 1).to_pylist()
    if not row:
        return None
    if row[0].get("wall_utc") is not None:
        return f"{_fmt(row[0]['wall_utc'])} UTC"
    return f"{_fmt(row[0]['wall'])} local" if row[0]["wall"] is not None else None
