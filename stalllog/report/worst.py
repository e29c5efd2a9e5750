"""OOM kills worst-first: the victims ranked by the memory they held when killed, and kills
counted per boot and per memcg. Shared by `stalllog summary` (text and `--json`) and the
reports, so all of them name the same worst kill.

A victim's RSS is anon + file + shmem RSS of its `Killed process` line (`oom_events`): what
the kill freed, the number people compare. Kills whose line printed no RSS rank last.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

WORST_KILLS = 5  # kills listed by name; the rest are counted
RANKED_BY = "victim_rss_kb"  # `worst_kills_by`: names what the ranking used (stable key)
RSS_PARTS = ("anon_rss_kb", "file_rss_kb", "shmem_rss_kb")


def victim_rss_kb(r: Mapping[str, Any]) -> int | None:
    """anon + file + shmem RSS of the victim in kB; None when its kill line printed none
    (a missing part, e.g. shmem before 4.5, counts as 0 when another part is known)."""
    parts = [r.get(p) for p in RSS_PARTS]
    known = [int(p) for p in parts if p is not None]
    return sum(known) if known else None


def victim_memcg(r: Mapping[str, Any]) -> str | None:
    """The victim's memcg (`task_memcg=`), else the memcg whose limit was hit."""
    memcg = r.get("task_memcg") or r.get("oom_memcg")
    return str(memcg) if memcg else None


def kills(tables: Mapping[str, pa.Table]) -> list[dict[str, Any]]:
    """`oom_events` rows with a victim, in capture order."""
    t = tables.get("oom_events")
    return [] if t is None else [r for r in t.to_pylist() if r["victim_pid"] is not None]


def ranked_kills(tables: Mapping[str, pa.Table]) -> list[dict[str, Any]]:
    """Kills by victim RSS, largest first; equal or unknown RSS in capture order."""
    rows = kills(tables)
    order = sorted(
        range(len(rows)),
        key=lambda i: (victim_rss_kb(rows[i]) is None, -(victim_rss_kb(rows[i]) or 0), i),
    )
    return [rows[i] for i in order]


def kill_record(r: Mapping[str, Any]) -> dict[str, Any]:
    """One worst kill as JSON-ready data (keys documented in docs/outputs.md)."""
    return {
        "boot": r["boot"],
        "source": r["source"],
        "line_no": r["kill_line_no"],
        "ts": r["ts_kill"] if r["ts_kill"] is not None and math.isfinite(r["ts_kill"]) else None,
        "pid": r["victim_pid"],
        "comm": r["victim_comm"],
        "rss_kb": victim_rss_kb(r),
        "anon_rss_kb": r["anon_rss_kb"],
        "file_rss_kb": r["file_rss_kb"],
        "shmem_rss_kb": r["shmem_rss_kb"],
        "kind": r["kind"],
        "constraint": r["constraint"],
        "memcg": victim_memcg(r),
    }


def _most_first(values: list[Any]) -> dict[str, int]:
    return dict(Counter(str(v) for v in values if v is not None).most_common())


def worst_kill_facts(tables: Mapping[str, pa.Table], n: int = WORST_KILLS) -> dict[str, Any]:
    """`worst_kills` (the n largest victims), `worst_kills_by`, `kills_by_boot` and
    `kills_by_memcg` (kills per key, most first; a kill without a memcg is not counted
    there)."""
    ranked = ranked_kills(tables)
    in_order = kills(tables)
    return {
        "worst_kills": [kill_record(r) for r in ranked[:n]],
        "worst_kills_by": RANKED_BY,
        "kills_by_boot": _most_first([r["boot"] for r in in_order]),
        "kills_by_memcg": _most_first([victim_memcg(r) for r in in_order]),
    }
