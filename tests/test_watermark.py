"""oom_explain's zone verdicts against a by-hand application of the kernel's
`__zone_watermark_ok()` to every Mem-Info an OOM printed in sample_logs.

Written from the kernel source, not from stalllog.analyze (nothing of it is imported): reads
the parsed `zones`, `buddy`, `oom_events` and `boots` rows and applies mm/page_alloc.c:

    free_pages -= __zone_watermark_unusable_free(z, order, alloc_flags);
        /* (1 << order) - 1, nr_reserved_highatomic unless ALLOC_HARDER|ALLOC_OOM,
           NR_FREE_CMA_PAGES unless ALLOC_CMA (5.10 f27ce0e14088; inline before) */
    if (alloc_flags & ALLOC_HIGH) min -= min / 2;          /* __GFP_HIGH */
    if (free_pages <= min + z->lowmem_reserve[highest_zoneidx]) return false;
    if (!order) return true;
    /* since 4.4 (97a16fc82a7c): some order >= N has a free block on a U/M/E list
       (CMA with ALLOC_CMA);  up to 4.3: for o < N: free_pages -= nr_free[o] << o;
       min >>= 1; if (free_pages <= min) return false; */

highest_zoneidx is gfp_zone() of the request (include/linux/gfp.h) in the build's enum
zone_type (include/linux/mmzone.h): DMA, DMA32, NORMAL, MOVABLE[, DEVICE] on x86_64 (a dump
printing DMA and DMA32), DMA, NORMAL, HIGHMEM, MOVABLE[, DEVICE] on i686 (a dump printing
HighMem); other layouts are left out here. ALLOC_CMA is set for movable requests
(gfp_migratetype() == MIGRATE_MOVABLE), and OOM-invoking requests may reclaim, so they are
never ALLOC_HARDER.
"""

from __future__ import annotations

import functools
import lzma
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import sample_files, sample_id

import stalllog

ENUM_64 = ("DMA", "DMA32", "Normal", "Movable", "Device")
ENUM_32 = ("DMA", "Normal", "HighMem", "Movable", "Device")
# gfp_types.h: the composites' zone and reserve bits (GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM,
# GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE, GFP_ATOMIC = __GFP_HIGH | ...)
COMPOSITE_BITS = {
    "GFP_HIGHUSER": {"__GFP_HIGHMEM"},
    "GFP_HIGHUSER_MOVABLE": {"__GFP_HIGHMEM", "__GFP_MOVABLE"},
    "GFP_TRANSHUGE": {"__GFP_HIGHMEM", "__GFP_MOVABLE"},
    "GFP_TRANSHUGE_LIGHT": {"__GFP_HIGHMEM", "__GFP_MOVABLE"},
    "GFP_ATOMIC": {"__GFP_HIGH"},
}
NO_BITS = {"GFP_KERNEL", "GFP_KERNEL_ACCOUNT", "GFP_NOFS", "GFP_NOIO", "GFP_USER"}


def _oom_samples() -> list[Path]:
    out = []
    for p in sample_files():
        data = p.read_bytes()
        if data[:6] == b"\xfd7zXZ\x00":
            data = lzma.decompress(data)
        if b"invoked oom-killer" in data and b"lowmem_reserve[]" in data:
            out.append(p)
    return out


SAMPLES_WITH_MEMINFO = _oom_samples()
# the default suite: the corpus, one QEMU capture per kernel, and one whose free equals
# min + reserve (`<=`, not `<`); every one with -m slow
QUICK = [p for p in SAMPLES_WITH_MEMINFO
         if "corpus" in p.parts or p.name.endswith("global-oom-serial.log.xz")
         or p.name == "6.12.118+deb13-amd64-global-oom-notime-serial.log"]  # fmt: skip


def _bits(flags: str) -> set[str] | None:
    bits: set[str] = set()
    for name in flags.split("|"):
        if name.startswith("__GFP_"):
            bits.add(name)
        elif name in COMPOSITE_BITS:
            bits |= COMPOSITE_BITS[name]
        elif name not in NO_BITS:
            return None
    return bits


def _highest_zoneidx(bits: set[str], enum: tuple[str, ...]) -> int:
    """gfp_zone(): DMA, DMA32, MOVABLE (HIGHMEM + MOVABLE), HIGHMEM (Normal where there is
    no HighMem: OPT_ZONE_HIGHMEM), else NORMAL."""
    if "__GFP_DMA" in bits:
        return enum.index("DMA")
    if "__GFP_DMA32" in bits:
        return enum.index("DMA32")
    if "__GFP_HIGHMEM" in bits and "__GFP_MOVABLE" in bits:
        return enum.index("Movable")
    if "__GFP_HIGHMEM" in bits and "HighMem" in enum:
        return enum.index("HighMem")
    return enum.index("Normal")


def _zone_ok(z: dict[str, Any], mark_kb: int, order: int, reserve: int, page_kb: int,
             bits: set[str], free_area: list[dict[str, Any]] | None,
             new_era: bool) -> bool:  # fmt: skip
    """__zone_watermark_ok(); free_area None: the order-0 part only."""
    free = z["free_kb"] // page_kb
    unusable = (1 << order) - 1
    if new_era and not pd.isna(z["reserved_highatomic_kb"]):
        unusable += z["reserved_highatomic_kb"] // page_kb
    cma = 0 if pd.isna(z["free_cma_kb"]) or "__GFP_MOVABLE" in bits else z["free_cma_kb"]
    mark = mark_kb // page_kb
    if "__GFP_HIGH" in bits:
        mark -= mark // 2
    if free - unusable - cma // page_kb <= mark + reserve:
        return False
    if free_area is None or order == 0:
        return True
    if new_era:
        usable = set("UME") | ({"C"} if "__GFP_MOVABLE" in bits else set())
        return any(b["order"] >= order and b["count"] > 0
                   and (pd.isna(b["types"]) or set(b["types"]) & usable)
                   for b in free_area)  # fmt: skip
    nr_free = {b["order"]: b["count"] for b in free_area}
    free -= unusable
    for o in range(order):
        free -= nr_free[o] << o
        mark >>= 1
        if free <= mark:
            return False
    return True


def _label(z: dict[str, Any], numa: bool) -> str:
    return f"Node {z['node']} {z['zone']}" if numa else z["zone"]


def _names(value: Any) -> set[str] | None:
    return None if pd.isna(value) else {n for n in value.split(", ") if n}


@functools.cache
def _tables(path: Path) -> dict[str, pd.DataFrame]:
    cap = stalllog.parse(path, analysis=False)
    return {n: cap[n] for n in ("oom_events", "oom_explain", "zones", "buddy", "boots", "meminfo")}


def _check(path: Path) -> int:
    """Compare every OOM with a Mem-Info; returns how many verdicts were compared."""
    t = _tables(path)
    explain = t["oom_explain"].set_index("oom_id")
    release = dict(zip(t["boots"]["boot"], t["boots"]["release"], strict=True))
    page_size = dict(zip(t["meminfo"]["snapshot_id"], t["meminfo"]["page_size_kb"], strict=True))
    compared = 0
    for o in t["oom_events"].to_dict("records"):
        zones = t["zones"][t["zones"]["snapshot_id"] == o["meminfo_id"]].to_dict("records")
        if not zones or pd.isna(o["order"]) or o["order"] < 0 or pd.isna(o["gfp_flags"]):
            continue
        printed = {z["zone"] for z in zones}
        enum = ENUM_32 if "HighMem" in printed else ENUM_64 if {"DMA", "DMA32"} <= printed else None
        bits = _bits(o["gfp_flags"])
        if bits is None:
            continue
        if enum is None:  # another layout: only where every reserve entry is the same
            if printed != {"DMA"} or any(len(set(z["lowmem_reserve"])) > 1 for z in zones):
                continue
            enum = ENUM_64
        top = _highest_zoneidx(bits, enum)
        page = o["page_kb"] if not pd.isna(o["page_kb"]) else page_size[o["meminfo_id"]]
        if pd.isna(page):  # no page size printed: zone kB cannot become pages
            assert pd.isna(explain.loc[o["oom_id"]]["zones_below_min"])
            continue
        page_kb = int(page)
        rel = release.get(o["boot"])
        version = tuple(int(x) for x in rel.split("-")[0].split(".")[:2]) if rel else None
        numa = len({z["node"] for z in zones}) > 1
        want: dict[str, set[str]] = {"min": set(), "low": set(), "fail": set()}
        for z in zones:
            if enum.index(z["zone"]) > top:
                continue
            reserve = z["lowmem_reserve"][top]
            new = version is not None and version >= (4, 4)
            for mark in ("min", "low"):
                if not _zone_ok(z, z[f"{mark}_kb"], o["order"], reserve, page_kb, bits, None, new):
                    want[mark].add(_label(z, numa))
            buddy = t["buddy"]
            area = buddy[(buddy["snapshot_id"] == o["meminfo_id"]) & (buddy["node"] == z["node"])
                         & (buddy["zone"] == z["zone"])].to_dict("records")  # fmt: skip
            judged = version is not None and (area or o["order"] == 0)
            if judged and not _zone_ok(
                z, z["min_kb"], o["order"], reserve, page_kb, bits, area, new
            ):
                want["fail"].add(_label(z, numa))
        got = explain.loc[o["oom_id"]]
        where = f"{sample_id(path)} oom {o['oom_id']}"
        assert _names(got["zones_below_min"]) == want["min"], where
        assert _names(got["zones_below_low"]) == want["low"], where
        if version is not None:
            assert _names(got["zones_failing_min"]) == want["fail"], where
        compared += 1
    return compared


def test_samples_with_meminfo_found() -> None:
    # the corpus OOMs with zone lines, and the QEMU global/sysrq OOMs of three kernels
    assert len(SAMPLES_WITH_MEMINFO) >= 40 and len(QUICK) >= 4


def test_zone_verdicts_quick() -> None:
    """The by-hand check skips OOMs it cannot judge (no page size, unknown zone layout):
    most of those in the quick set are judged all the same."""
    compared = {sample_id(p): _check(p) for p in QUICK}
    assert sum(compared.values()) >= 32 and sum(n > 0 for n in compared.values()) >= 4, compared


@pytest.mark.slow
@pytest.mark.parametrize("path", SAMPLES_WITH_MEMINFO, ids=sample_id)
def test_zone_verdicts_every_meminfo(path: Path) -> None:
    _check(path)
