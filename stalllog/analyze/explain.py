"""`oom_explain`: why each OOM happened, derived from the parsed tables (no log lines read).

One row per `oom_events` row: the request (size, zones its gfp mask allows), the state of those
zones in the dump's Mem-Info (watermarks with lowmem_reserve, free blocks of the order), swap,
the victim's share of RAM, and where memory went. Anything the dump of that era does not print
is NA: values are derived, never guessed.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pyarrow as pa

from stalllog.analyze.watermark import free_area_fails, order0_fails
from stalllog.engine.steps import post_step
from stalllog.kernel.gfp import Version, parse_release
from stalllog.parsers.base import Context, TableSchema, col

# Zone types in kernel order (enum zone_type); a kernel configures a subsequence of them.
ZONE_ORDER = ("DMA", "DMA32", "Normal", "HighMem", "Movable", "Device")
_Z = {z: i for i, z in enumerate(ZONE_ORDER)}

# Composite GFP names and the zone modifier bits they carry (include/linux/gfp*.h). Names not
# here and not `__GFP_*` make the zones unknown: a composite we do not know may hold zone bits.
_COMPOSITE_ZONE_BITS: dict[str, frozenset[str]] = {
    "GFP_DMA": frozenset({"__GFP_DMA"}),
    "GFP_DMA32": frozenset({"__GFP_DMA32"}),
    "GFP_HIGHUSER": frozenset({"__GFP_HIGHMEM"}),
    "GFP_HIGHUSER_MOVABLE": frozenset({"__GFP_HIGHMEM", "__GFP_MOVABLE"}),
    "GFP_HIGHUSER_PAGECACHE": frozenset({"__GFP_HIGHMEM", "__GFP_MOVABLE"}),  # 2.6.23-2.6.2x
    "GFP_USER_PAGECACHE": frozenset({"__GFP_MOVABLE"}),  # 2.6.23-2.6.2x
    "GFP_TRANSHUGE": frozenset({"__GFP_HIGHMEM", "__GFP_MOVABLE"}),
    "GFP_TRANSHUGE_LIGHT": frozenset({"__GFP_HIGHMEM", "__GFP_MOVABLE"}),
}
_NO_ZONE_BITS = frozenset(
    {"GFP_KERNEL", "GFP_KERNEL_ACCOUNT", "GFP_NOFS", "GFP_NOIO", "GFP_ATOMIC", "GFP_NOWAIT",
     "GFP_USER", "GFP_TEMPORARY", "GFP_IOFS", "GFP_THISNODE"}
)  # fmt: skip


def allowed_zones(gfp_flags: str | None) -> tuple[str, ...] | None:
    """Zone types an allocation with these flag names may use, lowest first (gfp_zone():
    __GFP_DMA -> DMA, __GFP_DMA32 -> DMA32, __GFP_HIGHMEM -> HighMem, with __GFP_MOVABLE ->
    Movable; __GFP_MOVABLE alone stays in Normal). None when a name is not understood."""
    if not gfp_flags:
        return None
    bits: set[str] = set()
    for name in gfp_flags.split("|"):
        name = name.strip()
        if name in _COMPOSITE_ZONE_BITS:
            bits |= _COMPOSITE_ZONE_BITS[name]
        elif name.startswith("__GFP_"):
            bits.add(name)
        elif name not in _NO_ZONE_BITS:
            return None
    if "__GFP_DMA" in bits:
        top = "DMA"
    elif "__GFP_DMA32" in bits:
        top = "DMA32"
    elif "__GFP_HIGHMEM" in bits:
        top = "Movable" if "__GFP_MOVABLE" in bits else "HighMem"
    else:
        top = "Normal"
    return ZONE_ORDER[: _Z[top] + 1]


def gfp_bits(gfp_flags: str | None) -> frozenset[str]:
    """The `__GFP_*` bits of flag names that the watermark check looks at (zone modifiers,
    __GFP_HIGH of GFP_ATOMIC); allowed_zones() tells whether the names are understood."""
    bits: set[str] = set()
    for name in (gfp_flags or "").split("|"):
        name = name.strip()
        bits |= _COMPOSITE_ZONE_BITS.get(name, set())
        if name.startswith("__GFP_"):
            bits.add(name)
        elif name == "GFP_ATOMIC":
            bits.add("__GFP_HIGH")
    return frozenset(bits)


def reserve_pages(reserve: list[int] | None, printed: list[str], top: str) -> int | None:
    """lowmem_reserve[classzone] of one zone, against allocations whose highest zone is `top`.

    The list has one entry per configured zone type, but which types are configured is not
    printed (HighMem, Movable, Device depend on the config). Every configuration that fits the
    list's length and the zones printed is tried; the value counts only when they all agree.
    HighMem exists only on 32-bit and DMA32 only on 64-bit kernels (mm/Kconfig, arch Kconfigs):
    a dump that prints one has not the other (i686 `DMA, Normal, HighMem` + Movable)."""
    if not reserve:
        return None
    n = len(reserve)
    values = set()
    for conf in itertools.combinations(ZONE_ORDER, n):
        if not set(printed) <= set(conf) or {"HighMem", "DMA32"} <= set(conf):
            continue
        # gfp_zone() falls back to the highest configured zone at or below the requested one
        below = [i for i, z in enumerate(conf) if _Z[z] <= _Z[top]]
        if not below:
            continue
        values.add(reserve[below[-1]])
    return values.pop() if len(values) == 1 else None


EXPLAIN = TableSchema(
    "oom_explain",
    "One row per `oom_events` row: plain facts that explain the OOM, derived from that row and "
    "its Mem-Info dump (`meminfo`, `zones`, `buddy`, `hugepages`). NA when the dump of that era "
    "does not print what is needed (memcg OOMs print no Mem-Info).",
    (
        col("event_id", pa.int64(), "", "the OOM's event; joins `events`"),
        col("oom_id", pa.int64(), "", "joins `oom_events`"),
        col(
            "request_kb", pa.int64(), "kB", "requested block: 2^order pages (NA for sysrq order -1)"
        ),
        col(
            "allowed_zones",
            pa.string(),
            "",
            "zone types the gfp mask allows (`, `-joined, lowest first), limited to the zones "
            "printed in the dump when there is one; NA when gfp_flags is unknown",
        ),
        col(
            "zones_below_min",
            pa.string(),
            "",
            "allowed zones the kernel's order-0 watermark check refuses (__zone_watermark_ok: "
            "free - unusable <= min + lowmem_reserve[requested zone]; unusable: 2^order - 1 "
            "pages, the high-atomic reserve and free CMA where printed); `, `-joined, empty: "
            "none, `Node N Zone` when the dump has several nodes; NA when a value is not known",
        ),
        col("zones_below_low", pa.string(), "", "the same against the low watermark"),
        col(
            "zones_failing_min",
            pa.string(),
            "",
            "allowed zones failing the whole __zone_watermark_ok at min: below min, or for "
            "order > 0 the free-area check of the buddy line (cumulative up to 4.3, a usable "
            "free block of the order since 4.4); NA when the era or a value is not known",
        ),
        col(
            "free_block_available",
            pa.bool_(),
            "",
            "some allowed zone has a free buddy block of the requested order or larger",
        ),
        col("swap_used_kb", pa.int64(), "kB", "total swap - free swap"),
        col(
            "victim_rss_kb",
            pa.int64(),
            "kB",
            "victim anon + file + shmem RSS (shmem was in file before 4.5)",
        ),
        col("ram_kb", pa.int64(), "kB", "`pages RAM` x page size"),
        col("zones_present_kb", pa.int64(), "kB", "sum of the dump's zones' `present:`"),
        col(
            "ram_matches_zones",
            pa.bool_(),
            "",
            "ram_kb equals zones_present_kb (show_mem counts the zones' present pages since "
            "3.x; older arch code, or zones of nodes left out of the dump, can differ)",
        ),
        col("victim_share_of_ram", pa.float64(), "fraction", "victim_rss_kb / ram_kb"),
        col("anon_kb", pa.int64(), "kB", "anon LRU (active + inactive + isolated; holds shmem)"),
        col("file_kb", pa.int64(), "kB", "page-cache LRU (active + inactive + isolated)"),
        col("unevictable_kb", pa.int64(), "kB", "unevictable LRU"),
        col("shmem_kb", pa.int64(), "kB", "shmem/tmpfs (already inside anon_kb or unevictable_kb)"),
        col("slab_reclaimable_kb", pa.int64(), "kB", "reclaimable slab"),
        col("slab_unreclaimable_kb", pa.int64(), "kB", "unreclaimable slab"),
        col("pagetables_kb", pa.int64(), "kB", "page tables"),
        col("hugepages_kb", pa.int64(), "kB", "hugetlb pool (total x size over nodes)"),
        col("free_kb", pa.int64(), "kB", "free pages"),
        col(
            "unaccounted_kb",
            pa.int64(),
            "kB",
            "RAM - reserved - (anon, file, unevictable, slab, page tables, hugepages, free): "
            "kernel stacks, vmalloc, drivers...; NA if any piece is unknown",
        ),
        col("summary", pa.string(), "", "the above in one plain-English line"),
    ),
)

_ARROW = EXPLAIN.arrow()


def _rows_by(t: pa.Table | None, key: str) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    if t is not None and t.num_rows and key in t.column_names:
        for r in t.to_pylist():
            out[r[key]].append(r)
    return out


def _mul(pages: int | None, page_kb: int | None) -> int | None:
    return None if pages is None or page_kb is None else pages * page_kb


def _sum(*xs: int | None) -> int | None:
    return None if any(x is None for x in xs) else sum(x for x in xs if x is not None)


def _pct(part: int | None, whole: int | None) -> str | None:
    if part is None or not whole:
        return None
    return "<1%" if 0 < part < whole / 100 else f"{100 * part / whole:.0f}%"


def explain_table(tables: dict[str, pa.Table]) -> pa.Table:
    """Build `oom_explain` from the Arrow tables of a parse."""
    ooms = tables.get("oom_events")
    if ooms is None or ooms.num_rows == 0:
        return _ARROW.empty_table()
    meminfo = {k: v[0] for k, v in _rows_by(tables.get("meminfo"), "snapshot_id").items()}
    zones = _rows_by(tables.get("zones"), "snapshot_id")
    buddy = _rows_by(tables.get("buddy"), "snapshot_id")
    huge = _rows_by(tables.get("hugepages"), "snapshot_id")
    boots = tables.get("boots")
    release = (
        {}
        if boots is None
        else dict(zip(boots["boot"].to_pylist(), boots["release"].to_pylist(), strict=True))
    )
    rows = [
        _explain(o, meminfo.get(o["meminfo_id"]), zones.get(o["meminfo_id"], []),
                 buddy.get(o["meminfo_id"], []), huge.get(o["meminfo_id"]),
                 parse_release(release.get(o["boot"]) or ""))
        for o in ooms.to_pylist()
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=_ARROW)


def _zone_state(
    zs: list[dict[str, Any]],
    bs: list[dict[str, Any]],
    allowed: tuple[str, ...],
    o: dict[str, Any],
    page_kb: int | None,
    version: Version | None,
) -> tuple[str | None, str | None, str | None]:
    """Zones below min and low (the order-0 part of __zone_watermark_ok), and zones failing
    the whole check at min (free areas too, for order > 0); each node's zones on their own."""
    printed = list(dict.fromkeys(z["zone"] for z in zs))
    numa = len({z["node"] for z in zs}) > 1
    gfp, order = gfp_bits(o["gfp_flags"]), o["order"]
    found: dict[str, list[str]] = {"min_kb": [], "low_kb": [], "fail": []}
    unknown: set[str] = set()
    for z in zs:
        if z["zone"] not in allowed:
            continue
        label = f"Node {z['node']} {z['zone']}" if numa else z["zone"]
        res = reserve_pages(z["lowmem_reserve"], printed, allowed[-1])
        mine = [b for b in bs if (b["node"], b["zone"]) == (z["node"], z["zone"])]
        for mark in ("min_kb", "low_kb"):
            fails = None
            if page_kb:  # an unknown reserve still decides a zone below the bare mark
                fails = order0_fails(z, mark, order, res or 0, page_kb, gfp)
                fails = fails if res is not None or fails else None
            if fails is None:
                unknown.add(mark)
            elif fails:
                found[mark].append(label)
        area = free_area_fails(z, mine, order, page_kb, gfp, version) if page_kb else None
        if label in found["min_kb"] or area:
            found["fail"].append(label)
        elif "min_kb" in unknown or area is None:
            unknown.add("fail")

    def names(m: str) -> str | None:
        if m in unknown:
            return None
        return ", ".join(dict.fromkeys(sorted(found[m], key=_zone_key)))

    return names("min_kb"), names("low_kb"), names("fail")


def _zone_key(label: str) -> tuple[str, int]:
    """Node first, then zone type order (labels `Normal` or `Node 1 Normal`)."""
    node, _, zone = label.rpartition(" ")
    return node, _Z.get(zone, len(_Z))


def _explain(
    o: dict[str, Any],
    m: dict[str, Any] | None,
    zs: list[dict[str, Any]],
    bs: list[dict[str, Any]],
    hs: list[dict[str, Any]] | None,
    version: Version | None,
) -> dict[str, Any]:
    page_kb = o["page_kb"] or (m["page_size_kb"] if m else None)
    order = o["order"]
    r: dict[str, Any] = {"event_id": o["event_id"], "oom_id": o["oom_id"]}
    r["request_kb"] = (2**order) * page_kb if order is not None and order >= 0 and page_kb else None
    allowed = allowed_zones(o["gfp_flags"])
    printed = list(dict.fromkeys(z["zone"] for z in zs))
    if allowed is not None and printed:
        allowed = tuple(z for z in allowed if z in printed) or allowed
    r["allowed_zones"] = ", ".join(allowed) if allowed is not None else None
    r["zones_below_min"] = r["zones_below_low"] = r["zones_failing_min"] = None
    r["free_block_available"] = None
    if allowed is not None and zs and order is not None and order >= 0:
        top = allowed_zones(o["gfp_flags"])
        assert top is not None
        r["zones_below_min"], r["zones_below_low"], r["zones_failing_min"] = _zone_state(
            zs, bs, top, o, page_kb, version
        )
        mine = [b for b in bs if b["zone"] in top and b["count"] is not None]
        if mine:
            r["free_block_available"] = any(b["count"] > 0 and b["order"] >= order for b in mine)
    rss = (o["anon_rss_kb"], o["file_rss_kb"])
    # before 4.5 shmem was counted in file-rss and not printed on its own
    r["victim_rss_kb"] = None if None in rss else sum(rss) + (o["shmem_rss_kb"] or 0)
    for k in ("swap_used_kb", "ram_kb", "zones_present_kb", "ram_matches_zones",
              "victim_share_of_ram", "anon_kb", "file_kb",
              "unevictable_kb", "shmem_kb", "slab_reclaimable_kb", "slab_unreclaimable_kb",
              "pagetables_kb", "hugepages_kb", "free_kb", "unaccounted_kb"):  # fmt: skip
        r[k] = None
    if m is not None:
        _memory(r, m, page_kb, hs)
    present = [z["present_kb"] for z in zs]
    if present and None not in present:
        r["zones_present_kb"] = sum(present)
        if r["ram_kb"] is not None:
            r["ram_matches_zones"] = r["ram_kb"] == r["zones_present_kb"]
    r["summary"] = _sentence(o, r)
    return r


def _memory(
    r: dict[str, Any], m: dict[str, Any], page_kb: int | None, hs: list[dict[str, Any]] | None
) -> None:
    if m["total_swap_kb"] is not None and m["free_swap_kb"] is not None:
        r["swap_used_kb"] = m["total_swap_kb"] - m["free_swap_kb"]
    r["ram_kb"] = _mul(m["ram_pages"], page_kb)
    if r["victim_rss_kb"] is not None and r["ram_kb"]:
        r["victim_share_of_ram"] = r["victim_rss_kb"] / r["ram_kb"]

    def lru(kind: str) -> int | None:
        both = _sum(m[f"active_{kind}_pages"], m[f"inactive_{kind}_pages"])
        # isolated pages are printed since 2.6.32; before, they are in unaccounted_kb
        return _mul(_sum(both, m[f"isolated_{kind}_pages"] or 0), page_kb)

    r["anon_kb"], r["file_kb"] = lru("anon"), lru("file")
    for k in ("unevictable", "shmem", "slab_reclaimable", "slab_unreclaimable", "pagetables",
              "free"):  # fmt: skip
        r[f"{k}_kb"] = _mul(m[f"{k}_pages"], page_kb)
    if hs:
        sizes = [(h["total"], h["size_kb"]) for h in hs]
        if all(t is not None and s is not None for t, s in sizes):
            r["hugepages_kb"] = sum(t * s for t, s in sizes)
    parts = [r[k] for k in _PIECES]
    used = _sum(*parts, _mul(m["reserved_pages"], page_kb))
    if used is not None and r["ram_kb"] is not None:
        r["unaccounted_kb"] = r["ram_kb"] - used


_PIECES = ("anon_kb", "file_kb", "unevictable_kb", "slab_reclaimable_kb", "slab_unreclaimable_kb",
           "pagetables_kb", "hugepages_kb", "free_kb")  # fmt: skip
_BIGGEST = (*_PIECES, "unaccounted_kb")


def _sentence(o: dict[str, Any], r: dict[str, Any]) -> str | None:
    parts = []
    flags = o["gfp_flags"] or (f"gfp 0x{o['gfp_mask']:x}" if o["gfp_mask"] is not None else None)
    order = o["order"]
    if order is not None and order < 0:
        parts.append("manual (sysrq-f) OOM")
    elif order is not None:
        size = f" ({r['request_kb']} kB)" if r["request_kb"] is not None else ""
        parts.append(f"order-{order}{size} {flags or 'gfp unknown'} request")
    if o["kind"] not in (None, "global", "sysrq"):
        parts.append(f"{o['kind']} OOM")
    if r["zones_below_min"]:
        parts.append(f"{r['zones_below_min']} below min")
    elif r["zones_below_low"]:
        parts.append(f"{r['zones_below_low']} below low")
    elif r["zones_below_low"] == "":
        parts.append("no allowed zone below its low watermark")
    if r["free_block_available"] is False and order:
        parts.append(f"no free order-{order}+ block (fragmented)")
    if r["swap_used_kb"] is not None:
        total = r["swap_used_kb"]
        parts.append("no swap in use" if total == 0 else f"swap used {total:,} kB")
    share = _pct(r["victim_rss_kb"], r["ram_kb"])
    if o["victim_comm"] is not None and share is not None:
        parts.append(f"victim {o['victim_comm']} held {share} of RAM")
    if r["ram_matches_zones"] is False:
        parts.append(f"pages RAM {r['ram_kb']:,} kB but zones present {r['zones_present_kb']:,} kB")
    known = [(r[k], k) for k in _BIGGEST if r[k] is not None]
    if known and r["ram_kb"]:
        kb, k = max(known)
        parts.append(
            f"largest: {k.removesuffix('_kb').replace('_', ' ')} {_pct(kb, r['ram_kb'])} of RAM"
        )
    return "; ".join(parts) or None


@post_step("oom_explain", order=30, tables=(EXPLAIN,))
def _explain_step(tables: dict[str, pa.Table], context: Context) -> dict[str, pa.Table]:
    return {**tables, "oom_explain": explain_table(tables)}  # after gfp_flags: uses the names
