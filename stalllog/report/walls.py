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
_LOCAL = "local time, zone unknown (--tz)"


def _fmt(t: datetime, with_date: bool = True) -> str:
    if t.year == _YEARLESS:
        return t.strftime("%b %d %H:%M:%S") if with_date else t.strftime("%H:%M:%S")
    return t.strftime("%Y-%m-%d %H:%M:%S") if with_date else t.strftime("%H:%M:%S")


def _span(lo: datetime, hi: datetime, zone: str) -> str:
    same_day = (lo.year, lo.month, lo.day) == (hi.year, hi.month, hi.day)
    return f"{_fmt(lo)} to {_fmt(hi, not same_day)} {zone}"


def _boot_span(r: dict[str, object]) -> str | None:
    if r.get("wall_utc_first") is not None:
        return _span(r["wall_utc_first"], r["wall_utc_last"], "UTC")  # type: ignore[arg-type]
    if r.get("wall_first") is not None:
        return _span(r["wall_first"], r["wall_last"], _LOCAL)  # type: ignore[arg-type]
    return None


def boot_wall_spans(tables: Mapping[str, pa.Table]) -> dict[int, str]:
    """Per boot with a wall clock: `2026-11-25 18:47:11 to 18:49:01 UTC`, or local time as
    printed (`boots.wall_*`)."""
    boots = tables.get("boots")
    if boots is None or "wall_first" not in boots.column_names:
        return {}
    spans = {r["boot"]: _boot_span(r) for r in boots.to_pylist()}
    return {b: s for b, s in spans.items() if s is not None}


def wall_span_text(tables: Mapping[str, pa.Table]) -> str | None:
    """The capture's span in wall-clock time (UTC where every timed boot has it); None
    without wall clocks."""
    boots = tables.get("boots")
    if boots is None or "wall_first" not in boots.column_names:
        return None
    utc = [pc.min_max(boots.column(c)) for c in ("wall_utc_first", "wall_utc_last")]
    if utc[0]["min"].is_valid:
        return _span(utc[0]["min"].as_py(), utc[1]["max"].as_py(), "UTC")
    wall = [pc.min_max(boots.column(c)) for c in ("wall_first", "wall_last")]
    if not wall[0]["min"].is_valid:
        return None
    return _span(wall[0]["min"].as_py(), wall[1]["max"].as_py(), _LOCAL)


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
