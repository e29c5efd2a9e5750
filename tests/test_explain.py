"""`oom_explain` on real captures: every expected value below was computed by hand from the
raw lines of the named sample (quoted in the comments)."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import pytest

import stalllog
from stalllog.analyze.explain import allowed_zones, reserve_pages
from stalllog.analyze.watermark import free_area_fails
from stalllog.report.summary import summary_text

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
QEMU_GLOBAL = SAMPLES / "qemu/6.1.0-56-amd64-global-oom-serial.log.xz"
QEMU_MEMCG = SAMPLES / "qemu/5.10.0-46-amd64-memcg-oom-serial.log"
QEMU_SYSRQ = SAMPLES / "qemu/5.10.0-46-amd64-sysrq-oom-serial.log"
HAPROXY = SAMPLES / "corpus/lkml/oom-2.6.32-279-rhel6-haproxy-slab-unreclaimable-syslog.txt"
ALLOCFAIL = SAMPLES / "corpus/lkml/allocfail-2.6.32.1-i686-e1000-nat-order3-syslog.txt"


@functools.cache
def _cap(path: Path) -> stalllog.engine.capture.Capture:
    return stalllog.parse(path)


def test_allowed_zones_from_gfp_names() -> None:
    # names as printed: `gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO)`
    # (6.1 qemu), `0xcc0(GFP_KERNEL)` (5.10 memcg); gfp_zone(): HIGHMEM+MOVABLE -> Movable
    assert allowed_zones("GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO") == (
        "DMA", "DMA32", "Normal", "HighMem", "Movable"
    )  # fmt: skip
    assert allowed_zones("GFP_KERNEL") == ("DMA", "DMA32", "Normal")
    assert allowed_zones("GFP_KERNEL|__GFP_DMA32") == ("DMA", "DMA32")
    assert allowed_zones("GFP_ATOMIC|__GFP_DMA") == ("DMA",)
    assert allowed_zones("GFP_USER|__GFP_MOVABLE") == ("DMA", "DMA32", "Normal")  # no HIGHMEM
    assert allowed_zones("GFP_KERNEL|0x4000000") is None  # unnamed bits: zone unknown
    assert allowed_zones(None) is None


def test_reserve_is_used_only_when_every_zone_config_agrees() -> None:
    # haproxy 2.6.32 `Node 1 DMA ... lowmem_reserve[]: 0 3243 8041 8041`: with DMA, DMA32,
    # Normal printed, the 4th type is HighMem, Movable or Device; a Movable request lands on
    # index 3 or 2 (no Movable zone), both 8041.
    printed = ["Normal", "DMA", "DMA32"]
    assert reserve_pages([0, 3243, 8041, 8041], printed, "Movable") == 8041
    assert reserve_pages([0, 3243, 8041, 8041], printed, "Normal") == 8041
    # a DMA32 request: index 1 in every config
    assert reserve_pages([0, 3243, 8041, 8041], printed, "DMA32") == 3243
    # a list where configs disagree: with only DMA printed, Normal is index 2 (DMA, DMA32,
    # Normal, Movable) or 1 (DMA, Normal, HighMem, Movable)
    assert reserve_pages([0, 1, 2, 3], ["DMA"], "Normal") is None
    # ...but no kernel has both HighMem (32-bit) and DMA32 (64-bit): i686 2.6.32.1
    # `DMA ... lowmem_reserve[]: 0 865 1762 1762` with DMA, Normal, HighMem printed is
    # (DMA, Normal, HighMem, Movable): a GFP_KERNEL request (Normal) reserves 865 pages
    assert reserve_pages([0, 865, 1762, 1762], ["DMA", "Normal", "HighMem"], "Normal") == 865
    assert reserve_pages([0, 1, 2, 8041, 9000], ["DMA", "DMA32"], "Movable") == 8041


def test_global_oom_6_1() -> None:
    e = _cap(QEMU_GLOBAL).oom_explain
    ooms = _cap(QEMU_GLOBAL).oom_events
    assert len(e) == len(ooms) == 32
    assert e.oom_id.tolist() == ooms.oom_id.tolist()
    r = e.iloc[0]
    # `hog invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO),
    # order=0`, buddy `1*4kB` pages: 4 kB; only DMA and DMA32 are printed
    assert r.request_kb == 4
    assert r.allowed_zones == "DMA, DMA32"
    # `Node 0 DMA free:680kB ... min:156kB low:192kB` with `lowmem_reserve[]: 0 134 134 134 134`
    # (Movable is index 3 or 4: both 134 pages = 536 kB): 680 < 156 + 536;
    # `Node 0 DMA32 free:1264kB ... min:1404kB`: below min without reserve
    assert r.zones_below_min == "DMA, DMA32"
    assert r.zones_below_low == "DMA, DMA32"
    # `Node 0 DMA: 2*4kB (UM) ...`: order-0 blocks exist
    assert bool(r.free_block_available) is True
    # `Free swap  = 0kB`, `Total swap = 0kB`
    assert r.swap_used_kb == 0
    # `65406 pages RAM` x 4 kB
    assert r.ram_kb == 261624
    # `active_anon:1958 inactive_anon:32755 isolated_anon:0` = 34713 pages
    assert r.anon_kb == 34713 * 4
    assert r.file_kb == 11 * 4  # `active_file:11 inactive_file:0 isolated_file:0`
    assert r.shmem_kb == 7850 * 4  # `shmem:7850`
    assert (r.slab_reclaimable_kb, r.slab_unreclaimable_kb) == (2543 * 4, 2360 * 4)
    assert r.pagetables_kb == 127 * 4  # `pagetables:127`
    assert r.hugepages_kb == 0  # both `hugepages_total=0` lines
    assert r.free_kb == 513 * 4  # `free:513`
    # 65406 - 22625 reserved - (34713 + 11 + 0 + 2543 + 2360 + 127 + 0 + 513) = 2514 pages
    assert r.unaccounted_kb == 2514 * 4
    # `Killed process 135 (hog) ... anon-rss:16360kB, file-rss:0kB, shmem-rss:0kB`
    assert r.victim_rss_kb == 16360
    assert r.victim_share_of_ram == pytest.approx(16360 / 261624)
    assert r.summary == (
        "order-0 (4 kB) GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO request; DMA, DMA32 below "
        "min; no swap in use; victim hog held 6% of RAM; largest: anon 53% of RAM"
    )


def test_haproxy_slab_unreclaimable_dominates() -> None:
    # INDEX.md ground truth: slab_unreclaimable:3898229 pages, about 15 GB of 16 GB, a kernel
    # slab leak; the victim's anon-rss is only 12 MB
    e = _cap(HAPROXY).oom_explain
    assert len(e) == 1
    r = e.iloc[0]
    # `gfp_mask=0x201da, order=0`, decoded GFP_HIGHUSER_MOVABLE|__GFP_COLD; zones printed:
    # Node 0 Normal, Node 1 DMA, DMA32, Normal
    assert r.allowed_zones == "DMA, DMA32, Normal"
    # Normal: free 15468 < min 45120 (node 0) and 9304 < 26788 (node 1); DMA: 15740 <
    # 80 + 8041*4; DMA32: 36536 < 18112 + 4797*4 = 37300 (reserve of the Movable request)
    # (36536 <= 37300: the kernel's `<=`); two nodes: each node's zones named on their own
    assert r.zones_below_min == "Node 0 Normal, Node 1 DMA, Node 1 DMA32, Node 1 Normal"
    assert r.zones_failing_min == r.zones_below_min  # order 0: no free-area check
    # `4194303 pages RAM` (2.6.32 counted valid pfns of the node spans) but the zones'
    # `present:` add up to 8273920 + 15352 + 3321540 + 4912640 kB: the two disagree
    assert r.zones_present_kb == 8273920 + 15352 + 3321540 + 4912640
    assert not pd.isna(r.ram_matches_zones) and not r.ram_matches_zones
    assert "pages RAM 16,777,212 kB but zones present 16,523,452 kB" in r.summary
    assert r.swap_used_kb == 32767992 - 25878484  # `Total swap = ...`, `Free swap  = ...`
    assert r.slab_unreclaimable_kb == 3898229 * 4
    assert r.ram_kb == 4194303 * 4  # `4194303 pages RAM`
    # `Killed process 20557, UID 188, (haproxy) ... anon-rss:12468kB, file-rss:264kB`
    assert r.victim_rss_kb == 12468 + 264
    assert r.victim_share_of_ram < 0.001
    # no `hugepages_total=` lines in this era's dump: the hugetlb pool, and so the
    # unaccounted rest, is unknown
    assert pd.isna(r.hugepages_kb) and pd.isna(r.unaccounted_kb)
    assert "largest: slab unreclaimable 93% of RAM" in r.summary
    assert "victim haproxy held <1% of RAM" in r.summary


def test_memcg_oom_has_no_mem_info() -> None:
    e = _cap(QEMU_MEMCG).oom_explain
    r = e.iloc[0]
    # `hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0`; a memcg OOM prints no
    # Mem-Info: zone state, swap and memory breakdown are unknown
    assert r.allowed_zones == "DMA, DMA32, Normal"
    assert pd.isna(r.zones_below_min) and pd.isna(r.free_block_available)
    assert pd.isna(r.swap_used_kb) and pd.isna(r.anon_kb) and pd.isna(r.victim_share_of_ram)
    # `Killed process 93 (hog) total-vm:224092kB, anon-rss:24808kB, file-rss:0kB, shmem-rss:0kB`
    assert r.victim_rss_kb == 24808
    assert r.summary == "order-0 (4 kB) GFP_KERNEL request; memcg OOM"


def test_sysrq_oom_has_no_request() -> None:
    r = _cap(QEMU_SYSRQ).oom_explain.iloc[0]
    # sysrq-f prints `order=-1`: no allocation to size
    assert pd.isna(r.request_kb) and pd.isna(r.zones_below_min)
    assert r.summary.startswith("manual (sysrq-f) OOM; no swap in use")


def test_allocation_failure_is_not_an_oom() -> None:
    cap = _cap(ALLOCFAIL)
    assert len(cap.alloc_failures) == 1
    assert len(cap.oom_explain) == 0


def test_summary_lists_explanations() -> None:
    text = summary_text(_cap(QEMU_GLOBAL), width=200)
    assert "#0: order-0 (4 kB) GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO request" in text
    assert "#4: " in text and "#5: " not in text
    assert "... 27 more (oom_explain table)" in text


def _zone_rows(path: Path, node: int, zone: str) -> tuple[dict, list[dict]]:
    """The first Mem-Info's zone row and buddy rows of (node, zone), as Arrow gives them."""
    t = _cap(path).arrow
    z = next(r for r in t["zones"].to_pylist() if (r["node"], r["zone"]) == (node, zone))
    b = [r for r in t["buddy"].to_pylist()
         if (r["snapshot_id"], r["node"], r["zone"]) == (z["snapshot_id"], node, zone)]  # fmt: skip
    return z, b


def test_free_area_check_since_4_4() -> None:
    # 6.1 serial, first Mem-Info: `Node 0 DMA32: 26*4kB (UME) 20*8kB (UME) 3*16kB (UE)
    # 8*32kB (UE) 0*64kB 1*128kB (M) 0*256kB 1*512kB (M) 0*1024kB 0*2048kB 0*4096kB`: since
    # 4.4 a request passes the free-area check when some order >= its own has a block on a
    # U/M/E list
    z, b = _zone_rows(QEMU_GLOBAL, 0, "DMA32")
    movable = frozenset({"__GFP_HIGHMEM", "__GFP_MOVABLE"})
    assert free_area_fails(z, b, 7, 4, movable, (6, 1, 0)) is False  # 1*512kB: order 7
    assert free_area_fails(z, b, 8, 4, movable, (6, 1, 0)) is True  # nothing of order 8-10
    assert free_area_fails(z, b, 0, 4, movable, (6, 1, 0)) is False  # order 0: no check


def test_free_area_check_up_to_4_3() -> None:
    # 2.6.32 haproxy `Node 1 DMA32 free:36536kB min:18112kB` (9134 pages, min 4528) and
    # `Node 1 DMA32: 1*4kB 537*8kB 320*16kB 307*32kB 135*64kB 45*128kB 0*256kB 0*512kB
    # 0*1024kB 1*2048kB 0*4096kB`: the cumulative check of 2.6.32-4.3. Order 10: free 9134 -
    # 1023 = 8111, then minus each lower order's pages against min halved each step: 8110 >
    # 2264, 7036 > 1132, 5756 > 566, 3300 > 283, 1140 > 141, -300 <= 70: fails at order 5.
    z, b = _zone_rows(HAPROXY, 1, "DMA32")
    movable = frozenset({"__GFP_HIGHMEM", "__GFP_MOVABLE"})
    assert free_area_fails(z, b, 10, 4, movable, (2, 6, 32)) is True
    assert free_area_fails(z, b, 5, 4, movable, (2, 6, 32)) is False  # 5756 - 2456 - 2160 > 141
    # order 9: 8623 - ... - 1440 = 212 > 70, and then 212 > 35, 17, 8: passes; since 4.4 the
    # 1*2048kB block passes it too. Where the eras agree the release is not needed
    assert free_area_fails(z, b, 9, 4, movable, (2, 6, 32)) is False
    assert free_area_fails(z, b, 9, 4, movable, None) is False
    assert free_area_fails(z, b, 10, 4, movable, None) is True  # no block of order 10 either
