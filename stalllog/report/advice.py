"""Per-OOM explanation: the analyzer's plain-words line (`oom_explain.summary`) and what to look
at or change, each piece tied to the numbers of that OOM's dump (order and free blocks,
watermarks, swap, memcg limit, unreclaimable slab caches, the victim's share)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from stalllog.report.model import Paragraph, Section, cut_table, kb, known, num, rows, task

MAX_IDS = 8  # OOM numbers listed for one piece of advice
TOP_CACHES = 3  # unreclaimable slab caches named
BIG_SHARE = 0.25  # a part of RAM worth pointing at


def _share(part: Any, ram: Any) -> float | None:
    return part / ram if known(part) and known(ram) and ram else None


def _fragmentation(x: dict[str, Any], o: dict[str, Any]) -> str | None:
    order = o["order"]
    if not known(order) or order <= 0:
        return None
    size = f" ({kb(x['request_kb'])})" if known(x["request_kb"]) else ""
    if x["free_block_available"] is False:
        return (
            f"fragmentation: no free block of order {order}{size} in "
            f"{x['allowed_zones'] or 'the allowed zones'} while {kb(x['free_kb'])} was free: "
            "look at /proc/buddyinfo and compaction (kcompactd, vm.compaction_proactiveness); "
            "a caller that can use order-0 pages (kvmalloc) avoids it."
        )
    return (
        f"order-{order} request{size}: higher orders need compaction; "
        "check /proc/buddyinfo and compact_* counters in /proc/vmstat."
    )


def _watermarks(x: dict[str, Any]) -> str | None:
    below = x["zones_below_min"]
    if not below:
        return None
    return (
        f"watermarks: {below} below the min watermark ({kb(x['free_kb'])} free in all): memory "
        "was really exhausted, not just fragmented; raising vm.min_free_kbytes only moves the "
        "line, the consumers below are what to cut."
    )


def _swap(x: dict[str, Any], ram: Any) -> str | None:
    anon_share = _share(x["anon_kb"], ram)
    if x["swap_used_kb"] != 0 or anon_share is None or anon_share < BIG_SHARE:
        return None
    return (
        f"swap: none in use while anonymous memory held {kb(x['anon_kb'])} "
        f"({anon_share:.0%} of RAM): without swap (or zram) anon pages cannot be reclaimed, "
        "only killed."
    )


def _slab(x: dict[str, Any], caches: list[dict[str, Any]], ram: Any) -> str | None:
    share = _share(x["slab_unreclaimable_kb"], ram)
    if share is None or share < BIG_SHARE / 2:
        return None
    top = sorted(caches, key=lambda c: -(c["total_kb"] or 0))[:TOP_CACHES]
    named = ", ".join(f"{c['name']} {kb(c['total_kb'])}" for c in top)
    which = f"; largest caches: {named}" if named else " (no per-cache list printed)"
    return (
        f"unreclaimable slab: {kb(x['slab_unreclaimable_kb'])} ({share:.0%} of RAM){which}: "
        "a leak or unbounded cache in the kernel, not a user process; /proc/slabinfo over time."
    )


def _memcg(o: dict[str, Any], limits: list[dict[str, Any]]) -> str | None:
    if o["kind"] != "memcg":
        return None
    mem = next((m for m in limits if m["counter"] == "memory"), None)
    usage = f" at {kb(mem['usage_kb'])} of {kb(mem['limit_kb'])}" if mem else ""
    group = o["oom_memcg"] or o["task_memcg"] or "the cgroup"
    return (
        f"memcg limit: {group} hit its memory limit{usage}; the machine may have had memory "
        "free: raise memory.max (v2) / memory.limit_in_bytes (v1) or cut that group's usage."
    )


def _victim(x: dict[str, Any], o: dict[str, Any]) -> str | None:
    share = x["victim_share_of_ram"]
    if not known(share) or share >= 0.1 or o["kind"] == "memcg":
        return None
    return (
        f"victim: {task(o['victim_comm'], o['victim_pid'])} held only {share:.0%} of RAM "
        f"({kb(x['victim_rss_kb'])}): the kill freed little; the memory is elsewhere."
    )


def _unaccounted(x: dict[str, Any], ram: Any) -> str | None:
    share = _share(x["unaccounted_kb"], ram)
    if share is None or share < BIG_SHARE:
        return None
    return (
        f"unaccounted: {kb(x['unaccounted_kb'])} ({share:.0%} of RAM) is in no LRU, slab or "
        "page-table counter: kernel stacks, vmalloc, drivers; look at /proc/vmallocinfo."
    )


def _hugepages(x: dict[str, Any], ram: Any) -> str | None:
    share = _share(x["hugepages_kb"], ram)
    if share is None or share < BIG_SHARE / 2:
        return None
    return (
        f"hugetlb: the pool holds {kb(x['hugepages_kb'])} ({share:.0%} of RAM), unusable "
        "for anything else; check vm.nr_hugepages."
    )


ADVICE = ("memcg", "fragmentation", "watermarks", "swap", "slab", "hugetlb", "unaccounted",
          "victim")  # fmt: skip


def advice(
    x: dict[str, Any], o: dict[str, Any], caches: list[dict[str, Any]], limits: list[dict[str, Any]]
) -> dict[str, str]:
    """What to look at or change for one OOM (`oom_explain` row x, `oom_events` row o), by
    kind of advice."""
    if o["order"] == -1:
        return {"manual": "manual OOM kill (SysRq-f): someone asked for it; no allocation failed."}
    ram = x["ram_kb"]
    parts = [
        _memcg(o, limits), _fragmentation(x, o), _watermarks(x), _swap(x, ram),
        _slab(x, caches, ram), _hugepages(x, ram), _unaccounted(x, ram), _victim(x, o),
    ]  # fmt: skip
    return {k: p for k, p in zip(ADVICE, parts, strict=True) if p}


def _by_event(tables: Mapping[str, pa.Table], name: str) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in rows(tables, name):
        out[r["event_id"]].append(r)
    return out


def _ids(ids: list[int]) -> str:
    shown = ", ".join(f"#{i}" for i in ids[:MAX_IDS])
    return shown + (f" and {len(ids) - MAX_IDS} more" if len(ids) > MAX_IDS else "")


def oom_explanations(tables: Mapping[str, pa.Table]) -> Section:
    """One row per OOM with the analyzer's explanation, then each kind of advice once, with
    the numbers of the first OOM it applies to and which OOMs it applies to."""
    section = Section("explain", "Why each OOM happened, and what to look at")
    ooms = {o["oom_id"]: o for o in rows(tables, "oom_events")}
    explained = rows(tables, "oom_explain")
    if not explained:
        return section
    caches = _by_event(tables, "slab_unreclaimable")
    limits = _by_event(tables, "memcg")
    body = []
    seen: dict[str, tuple[str, list[int]]] = {}
    for x in explained:
        o = ooms[x["oom_id"]]
        body.append(
            [f"#{x['oom_id']}", num(o["ts"], "{:,.3f}"), str(o["line_start"]),
             task(o["victim_comm"], o["victim_pid"]), x["summary"] or ""]
        )  # fmt: skip
        for kind, text in advice(x, o, caches[o["event_id"]], limits[o["event_id"]]).items():
            seen.setdefault(kind, (text, []))[1].append(x["oom_id"])
    cols = ["OOM", "time (s)", "line", "victim", "explanation"]
    section.blocks.append(cut_table(cols, body, "the oom_explain table", numeric=frozenset({1, 2})))
    if seen:
        section.blocks.append(Paragraph("What to look at or change:"))
    for text, ids in seen.values():
        which = f"all {len(ids)} OOMs" if len(ids) == len(explained) > 1 else f"OOM {_ids(ids)}"
        numbers = f"; numbers of OOM #{ids[0]}" if len(ids) > 1 else ""
        section.blocks.append(Paragraph(f"{text} ({which}{numbers})", bullet=True))
    return section
