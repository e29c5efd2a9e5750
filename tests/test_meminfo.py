"""show_mem ("Mem-Info:") parsing on real dumps of every era in sample_logs/.

Every expected value below was read by hand from the raw file named in the test (the line
number is given where it helps); sums were done by hand from the printed tokens.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

import stalllog
from stalllog.parsers.base import Block, Family, Feed, Line, Sink
from stalllog.parsers.meminfo import (
    MemInfo,
    MemInfoFamily,
    is_meminfo_start,
    is_slabinfo_start,
)

ROOT = Path(__file__).resolve().parent.parent / "sample_logs"
LKML = ROOT / "corpus" / "lkml"
SYZ = ROOT / "corpus" / "syzkaller"


def parse(path: Path, *families: Family) -> stalllog.Capture:
    return stalllog.parse(str(path), families=list(families) or [MemInfoFamily()])


def one(df: pd.DataFrame, **where: Any) -> pd.Series:
    sel = df
    for k, v in where.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, f"{len(sel)} rows for {where}"
    return sel.iloc[0]


def na(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


# --------------------------------------------------------------------------------------
# start predicates


def test_start_predicates() -> None:
    # lines copied from the files named
    assert is_meminfo_start("Mem-Info:")  # kmallocwd-4.4 line 6
    # sles11 line 18: the global block after the author's `[...]`
    assert is_meminfo_start("active_anon:1135959151 inactive_anon:1051962 isolated_anon:0")
    # 2.6.28 line 42
    assert is_meminfo_start("Active_anon:146370 active_file:616793 inactive_anon:74536")
    # 4.11 line 46, kmallocwd-4.4 line 3
    assert not is_meminfo_start("Node 0 active_anon:5918236kB inactive_anon:1124644kB ")
    assert not is_meminfo_start("MemAlloc-Info: 8 stalling task, 0 dying task, 0 victim task.")
    assert not is_slabinfo_start("Mem-Info:")


# --------------------------------------------------------------------------------------
# eras


def test_2_6_28_flowed_percpu_capital_active_anon() -> None:
    cap = parse(LKML / "allocfail-2.6.28-ubuntu-sky2-netrx-order0-flowed.txt")
    m = one(cap.meminfo)
    assert (m.line_start, m.line_end, m.complete, m.header) == (32, 75, True, True)
    # line 42 `Active_anon:146370`, line 44 is a flowed wrap holding `writeback:692`
    assert m.active_anon_pages == 146370
    assert m.writeback_pages == 692
    assert m.slab_pages == 51933 and na(m.slab_reclaimable_pages)
    assert m.free_pages == 7738 and na(m.free_pcp_pages)
    assert (m.ram_pages, m.reserved_pages, m.shared_pages, m.nonshared_pages) == (
        2359280, 339669, 602075, 1500164,
    )  # fmt: skip
    assert m.page_size_kb == 4
    z = cap.zones
    dma = one(z, zone="DMA")
    assert na(dma.node)  # UMA kernel: no `Node N` prefix
    # `present:5560kB pages_scanned:0 all_unreclaimable? no` sits on wrapped line 49
    assert (dma.free_kb, dma.min_kb, dma.present_kb, dma.pages_scanned) == (6700, 4, 5560, 0)
    assert dma.all_unreclaimable is False or dma.all_unreclaimable == False  # noqa: E712
    assert list(one(z, zone="DMA32").lowmem_reserve) == [0, 0, 5050, 5050]
    assert one(z, zone="Normal").buddy_total_kb == 2520
    # line 63-64: `DMA32: 5191*4kB 1*8kB 51*16kB ...` wrapped, `= 21620kB`
    b = one(cap.buddy, zone="DMA32", order=0)
    assert (b["count"], b.size_kb, b.zone_total_kb) == (5191, 4, 21620)
    assert na(b.types)  # no migrate types before 3.3
    assert len(cap.buddy) == 33
    pcp = one(cap.zone_pcp, zone="DMA32", cpu=0)
    assert (pcp.high_pages, pcp.batch_pages, pcp.used_pages) == (186, 31, 46)
    assert len(cap.zone_pcp) == 6
    assert not cap.events.corrupted.any()


def test_2_6_32_rhel6_numa_percpu_syslog() -> None:
    cap = parse(LKML / "oom-2.6.32-279-rhel6-haproxy-slab-unreclaimable-syslog.txt")
    m = one(cap.meminfo)
    # lines 99-103: syslog dropped the one-space indent of the continuation lines
    assert m.slab_unreclaimable_pages == 3898229
    assert m.mapped_pages == 230 and m.free_pages == 19262
    assert (m.free_swap_kb, m.total_swap_kb) == (25878484, 32767992)
    assert (m.swap_cache_add, m.swap_cache_find_hits, m.swap_cache_find_total) == (
        1919969, 72763, 93573,
    )  # fmt: skip
    assert len(cap.zone_pcp) == 64  # 4 zones x 16 CPUs
    assert one(cap.zone_pcp, node=1, zone="DMA32", cpu=13).used_pages == 168
    n1 = one(cap.zones, node=1, zone="DMA32")
    assert (n1.free_kb, n1.slab_unreclaimable_kb) == (36536, 2982720)
    assert na(n1.managed_kb)  # `managed:` came in 3.8
    assert one(cap.buddy, node=1, zone="Normal", order=0)["count"] == 1670


def test_2_6_32_i686_highmem() -> None:
    cap = parse(LKML / "allocfail-2.6.32.1-i686-e1000-nat-order3-syslog.txt")
    m = one(cap.meminfo)
    assert (m.highmem_pages, m.reserved_pages) == (231422, 5001)
    assert na(m.highmem_movableonly_pages)
    hm = one(cap.zones, zone="HighMem")
    assert (hm.free_kb, hm.present_kb, hm.buddy_total_kb) == (796756, 918456, 796756)
    assert one(cap.buddy, zone="HighMem", order=10)["count"] == 100


def test_3_0_sles11_missing_header_and_cut() -> None:
    cap = parse(LKML / "oom-3.0.101-sles11-numa-mempolicy-free-memory-no-timestamps.txt")
    m = one(cap.meminfo)
    assert m.header == False and m.complete == False  # noqa: E712
    assert m.free_pages == 432672819 and m.active_anon_pages == 1135959151
    assert len(cap.zones) == 10  # Node 0 DMA, DMA32, Normal + Nodes 1-7 Normal
    assert one(cap.zones, node=1, zone="Normal").free_kb == 476718144
    assert list(one(cap.zones, node=0, zone="DMA").lowmem_reserve) == [0, 2892, 775542, 775542]
    ev = one(cap.events)
    assert ev.corrupted and "header line missing" in ev.reason and "cut before" in ev.reason
    assert "1 foreign line(s)" in ev.reason  # the author's `[...]` on line 23


def test_3_10_rhel7_hash012() -> None:
    cap = parse(LKML / "oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt")
    m = one(cap.meminfo)
    # line 26: the whole global block in one syslog record with #012 escapes
    assert (m.active_anon_pages, m.isolated_anon_pages, m.free_pages) == (1573603, 32, 25783)
    assert (m.free_pcp_pages, m.free_cma_pages, m.unstable_pages) == (0, 0, 0)
    assert (m.ram_pages, m.highmem_movableonly_pages, m.reserved_pages) == (2097022, 0, 94779)
    assert (m.free_swap_kb, m.total_swap_kb) == (0, 5242876)
    d32 = one(cap.zones, node=0, zone="DMA32")
    assert (d32.min_kb, d32.present_kb, d32.managed_kb, d32.pages_scanned) == (
        24460, 3129216, 2898784, 997,
    )  # fmt: skip
    assert d32.all_unreclaimable == True  # noqa: E712
    assert list(d32.lowmem_reserve) == [0, 0, 4972, 4972]
    b = one(cap.buddy, node=0, zone="Normal", order=0)
    assert (b["count"], b.types) == (453, "UEM")
    assert na(one(cap.buddy, node=0, zone="Normal", order=10).types)  # count 0: no letters
    assert sorted(cap.hugepages.size_kb) == [2048, 1048576]
    assert not one(cap.events).corrupted


def test_4_4_kmallocwd_zone_free_vs_buddy_total() -> None:
    cap = parse(LKML / "kmallocwd-4.4-vmstat-wq-pending-oldformat.txt")
    assert len(cap.meminfo) == 2 and cap.meminfo.complete.all()
    assert list(cap.meminfo.free_pages) == [8045, 8050]
    first = cap.meminfo.snapshot_id.iloc[0]
    normal = one(cap.zones, snapshot_id=first, zone="Normal")
    # the thread's point: vmstat's `free:3568kB` disagrees with the buddy total `= 3592kB`
    assert (normal.free_kb, normal.buddy_total_kb) == (3568, 3592)
    assert cap.meminfo.hwpoisoned_pages.iloc[0] == 0
    # the dump ends at `0 pages hwpoisoned`; `Showing busy workqueues` is not taken
    assert list(cap.meminfo.line_end) == [31, 115]


def test_4_6_2_cut_then_complete() -> None:
    cap = parse(LKML / "interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt")
    m = cap.meminfo.sort_values("line_start")
    assert list(m.complete) == [False, True]
    second = m.iloc[1]
    assert (second.free_pages, second.free_pcp_pages) == (591, 5)
    dma = one(cap.zones, snapshot_id=second.snapshot_id, zone="DMA")
    assert (dma.free_kb, dma.min_kb, dma.buddy_total_kb) == (12, 32, 0)
    ev = cap.events.sort_values("line_start")
    assert list(ev.corrupted) == [True, False]
    assert "cut before its summary" in ev.reason.iloc[0]


def test_4_11_flowed_node_line_and_wraps() -> None:
    cap = parse(LKML / "warnalloc-stall-4.11-rc8-desktop-swap-QXcbEventReader-flowed.txt")
    m = one(cap.meminfo)
    # continuation lines re-indented by 17 spaces (lines 41-45)
    assert (m.active_file_pages, m.free_pages, m.free_pcp_pages) == (49213, 25470, 0)
    # `Swap cache stats: add 3287896, delete 3277870, find ` + `405176/629612` (lines 87-88)
    assert (m.swap_cache_find_hits, m.swap_cache_find_total) == (405176, 629612)
    node = one(cap.meminfo_nodes)
    # `shmem_thp: 0kB` (space after the colon), `pages_scanned:0` on wrapped line 50
    assert (node.active_anon_kb, node.shmem_kb, node.shmem_thp_kb) == (5918236, 583552, 0)
    assert node.isolated_anon_kb == 1196 and node.pages_scanned == 0
    assert node.all_unreclaimable == False  # noqa: E712
    d32 = one(cap.zones, zone="DMA32")
    assert (d32.high_kb, d32.writepending_kb, d32.kernel_stack_kb) == (40420, 440, 7992)
    # `... 3*4096kB (M) = ` + `15904kB` (lines 73-74)
    assert one(cap.zones, zone="DMA").buddy_total_kb == 15904
    assert one(cap.buddy, zone="Normal", order=2).types == "UME"  # `(UME)` wrapped to line 79
    assert sorted(cap.hugepages["total"]) == [0, 0]
    assert not one(cap.events).corrupted


def test_4_12_numa_hard_wraps() -> None:
    cap = parse(LKML / "hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt")
    m = one(cap.meminfo)
    assert m.complete and m.free_pages == 44265934
    n0 = one(cap.meminfo_nodes, node=0)
    assert n0.anon_thp_kb == 14430208 and n0.all_unreclaimable == False  # noqa: E712
    assert list(one(cap.zones, node=0, zone="DMA").lowmem_reserve) == [
        0,
        1922,
        193381,
        193381,
        193381,
    ]
    b = one(cap.buddy, node=1, zone="Normal", order=10)
    assert (b["count"], b.types, b.zone_total_kb) == (16206, "M", 104501892)
    assert len(cap.hugepages) == 4
    assert not one(cap.events).corrupted  # every buddy line adds up despite the wraps


def test_4_12_cut_after_node_lines() -> None:
    cap = parse(LKML / "warnalloc-stall-4.12-sle15-kvm-thp-order9-html-artifact.txt")
    m = one(cap.meminfo)
    assert not m.complete and m.free_pages == 32294031
    assert list(cap.meminfo_nodes.node) == [0, 1]
    assert one(cap.meminfo_nodes, node=1).anon_thp_kb == 31897600
    assert len(cap.zones) == 0


def test_6_12_arm64_journal_truncated_lines() -> None:
    cap = parse(LKML / "oom-6.12.62-rpi-arm64-journal-notimestamps-truncated.txt")
    m = one(cap.meminfo)
    assert (m.sec_pagetables_pages, m.kernel_misc_reclaimable_pages) == (0, 0)
    assert (m.free_pages, m.free_pcp_pages, m.cma_reserved_pages) == (4345, 142, 65536)
    assert na(m.swap_cache_add)  # `Swap cache stats:` is gone in 6.x
    node = one(cap.meminfo_nodes)
    # line 34 ends `pagetables:4856kB sec_paget>`: the pager cut it
    assert (node.kernel_stack_kb, node.pagetables_kb) == (3024, 4856)
    assert na(node.sec_pagetables_kb) and na(node.all_unreclaimable)
    dma = one(cap.zones, zone="DMA")
    assert (dma.boost_kb, dma.reserved_highatomic_kb, dma.managed_kb) == (0, 0, 426072)
    assert na(dma.mlocked_kb)  # `mlocked:0kB>` is the truncated last token
    assert dma.buddy_total_kb == 17476
    assert one(cap.buddy, zone="DMA", order=1).types == "UE"
    ev = one(cap.events)
    assert ev.corrupted and "'sec_paget>'" in ev.reason and "'mlocked:0kB>'" in ev.reason


# --------------------------------------------------------------------------------------
# QEMU captures of Debian kernels (sample_logs/qemu, MANIFEST.tsv)

QEMU = ROOT / "qemu"


def test_qemu_5_10_sysrq_m_kmsg() -> None:
    # /dev/kmsg records, lines 466-486; the global block is one record with `\x0a` escapes
    cap = parse(QEMU / "5.10.0-46-amd64-sysrq-kmsg.log")
    ev = one(cap.events)
    assert (ev.kind, ev.line_start, ev.line_end, ev.corrupted) == (
        "sysrq_show_mem",
        467,
        486,
        False,
    )
    m = one(cap.meminfo)
    assert (m.active_anon_pages, m.inactive_anon_pages, m.free_pages, m.free_pcp_pages) == (
        1888, 33170, 3932, 40,
    )  # fmt: skip
    assert na(m.sec_pagetables_pages) and na(m.kernel_misc_reclaimable_pages)  # 6.0+, 5.15+
    assert (m.swap_cache_add, m.swap_cache_find_total) == (0, 0)  # still printed before 6.0
    assert (m.ram_pages, m.reserved_pages, m.hwpoisoned_pages) == (65406, 21011, 0)
    node = one(cap.meminfo_nodes)
    # `shmem_thp: 0kB` with the space; kernel_stack on the node line, pagetables not yet
    assert (node.shmem_thp_kb, node.kernel_stack_kb) == (0, 992) and na(node.pagetables_kb)
    d32 = one(cap.zones, zone="DMA32")
    assert (d32.free_kb, d32.managed_kb, d32.pagetables_kb, d32.local_pcp_kb) == (
        1740, 161672, 440, 12,
    )  # fmt: skip
    assert d32.buddy_total_kb == 1748 and list(d32.lowmem_reserve) == [0, 0, 0, 0, 0]
    assert one(cap.buddy, zone="DMA", order=10)[["count", "types"]].tolist() == [2, "M"]


def test_qemu_6_12_sysrq_m_dmesg() -> None:
    # dmesg lines 393-419
    cap = parse(QEMU / "6.12.118+deb13-amd64-sysrq-dmesg.log")
    m = one(cap.meminfo)
    assert (m.line_start, m.line_end, m.complete) == (394, 419, True)
    assert (m.free_pages, m.free_pcp_pages, m.sec_pagetables_pages) == (5239, 841, 0)
    assert m.kernel_misc_reclaimable_pages == 0 and na(m.swap_cache_add)  # gone in 6.0
    assert na(m.cma_reserved_pages)  # no `pages cma reserved` line in this dump
    node = one(cap.meminfo_nodes)
    # `shmem_thp:0kB` without the space by 6.12; pagetables moved to the node line
    assert (node.shmem_kb, node.shmem_thp_kb, node.pagetables_kb) == (31880, 0, 536)
    assert node.sec_pagetables_kb == 0 and node.all_unreclaimable == False  # noqa: E712
    dma = one(cap.zones, zone="DMA")
    assert list(dma.lowmem_reserve) == [0, 143, 143, 143, 143]
    assert (dma.boost_kb, dma.reserved_highatomic_kb, dma.present_kb) == (0, 0, 15992)
    assert na(dma.pagetables_kb)
    # `3*256kB (UME) 3*512kB (UME)`, `= 5696kB`
    b = one(cap.buddy, zone="DMA32", order=6)
    assert (b["count"], b.types, b.zone_total_kb) == (3, "UME", 5696)
    assert sorted(cap.hugepages.size_kb) == [2048, 1048576]


def test_qemu_sysrq_action_line_left_to_the_sysrq_family() -> None:
    cap = stalllog.parse(str(QEMU / "6.12.118+deb13-amd64-sysrq-dmesg.log"))
    ev = cap.events.set_index("event_id")
    lines = cap.lines.set_index("line_no")
    assert ev.family[lines.event_id[393]] != "meminfo"  # `sysrq: Show Memory`
    assert ev.kind[lines.event_id[394]] == "sysrq_show_mem"  # `Mem-Info:`


_SKIP = ["event_id", "line_start", "line_end", "ts", "boot", "source"]


@pytest.mark.parametrize(
    "boot",
    [
        "5.10.0-46-amd64-sysrq",
        "6.1.0-56-amd64-page-alloc-fail",
        "6.1.0-56-amd64-global-oom-notime",
        "6.12.118+deb13-amd64-sysrq-oom",
    ],
)
def test_qemu_transports_agree(boot: str) -> None:
    """The serial console, dmesg, dmesg -T, journal and /dev/kmsg forms of one boot give
    the same Mem-Info tables (an independent check of the joining of continuation lines,
    `\x0a` records and prefixes)."""
    got = {}
    for form in ("serial", "dmesg", "dmesg-T", "journal", "kmsg"):
        (path,) = QEMU.glob(f"{boot}-{form}.log*")
        cap = parse(path)
        got[form] = {
            t: cap.tables[t].drop(columns=_SKIP, errors="ignore").astype(str).values.tolist()
            for t in ("meminfo", "meminfo_nodes", "zones", "buddy", "hugepages")
        }  # fmt: skip
        assert len(got[form]["meminfo"]) > 0
        assert cap.meminfo.complete.all() and cap.meminfo.problems.isna().all()
    ref = got.pop("dmesg")
    for form, tables in got.items():
        assert tables == ref, form


# --------------------------------------------------------------------------------------
# interleaving (syzkaller: pr_cont fragments with another CPU's lines in between)


def test_syzkaller_198_fragments_interleaved() -> None:
    cap = parse(SYZ / "198")
    m = one(cap.meminfo)
    assert m.complete and (m.line_start, m.line_end) == (111, 430)
    assert m.free_pages == 1436134 and m.reserved_pages == 328420
    z = cap.zones
    # `Node 0 ` / `DMA free:...` / `lowmem_reserve[]:` / ` 0` / ` 2868` / ` 6378` / ` 6378`
    assert list(one(z, node=0, zone="DMA").lowmem_reserve) == [0, 2868, 6378, 6378]
    assert one(z, node=0, zone="DMA32").free_kb == 2939248
    b = one(cap.buddy, node=0, zone="Normal", order=10)
    assert (b["count"], b.types, b.zone_total_kb) == (629, "UM", 2789412)
    assert len(cap.buddy) == 33
    ev = one(cap.events)
    assert ev.corrupted and ev.reason.startswith("211 foreign line(s)")


def test_syzkaller_206_cut_mid_buddy() -> None:
    cap = parse(SYZ / "206")
    m = one(cap.meminfo)
    assert not m.complete
    # `2*64kB (U) 1*128kB (U) 1*256kB (U) ` arrives as one fragment among others
    dma = cap.buddy[cap.buddy.zone == "DMA"]
    assert list(dma["count"]) == [1, 0, 0, 1, 2, 1, 1, 0, 1, 1, 3]
    assert one(cap.zones, zone="DMA").buddy_total_kb == 15908
    assert na(one(cap.zones, zone="DMA32").buddy_total_kb)
    assert "Node 0 DMA32: buddy line without its `= NkB` total" in one(cap.events).reason


def test_syzkaller_199_two_dumps() -> None:
    cap = parse(SYZ / "199")
    assert list(cap.meminfo.free_pages) == [1551197, 1551167]
    assert list(cap.meminfo.snapshot_id) == [0, 1]
    assert not cap.events.corrupted.any()


# --------------------------------------------------------------------------------------
# MemInfo as a SubParser of another family's block


class _Owner(Block):
    """A stand-in for the OOM/warn_alloc blocks: takes its header, delegates the Mem-Info
    dump, and ends at the first line after it."""

    kind = "test_owner"

    def __init__(self, first: Line, event_id: int, sink: Sink) -> None:
        super().__init__(first, event_id, sink)
        self.mem: MemInfo | None = None
        self.after: list[str] = []
        self.skipped: list[int] = []

    def feed(self, line: Line) -> Feed:
        if self.mem is None:
            if is_meminfo_start(line.text):
                self.mem = MemInfo(self, line)
            return Feed.TAKE
        v = self.mem.feed(line)
        if v is Feed.END:
            self.after.append(line.text)
        elif v is Feed.SKIP:
            self.skipped.append(line.line_no)
        return v

    def finish(self, cut: str | None) -> None:
        if self.mem is not None:
            self.mem.finish(cut)
            self.problems.extend(self.mem.problems)
        OWNERS.append(self)
        super().finish(cut)


OWNERS: list[_Owner] = []


class _OwnerFamily(Family):
    name = "test_owner"
    triggers = ("invoked oom-killer",)
    pattern = regex.compile(r"invoked oom-killer")

    def start(self, line: Line, match: regex.Match[str], event_id: int, sink: Sink) -> Block:
        return _Owner(line, event_id, sink)


def test_owner_block_rows_carry_its_event_id() -> None:
    OWNERS.clear()
    path = LKML / "oom-2.6.32-279-rhel6-haproxy-slab-unreclaimable-syslog.txt"
    cap = parse(path, _OwnerFamily(), MemInfoFamily())
    owner = one(cap.events, kind="test_owner")
    assert set(cap.events.kind) == {"test_owner"}  # the meminfo family never saw `Mem-Info:`
    assert list(cap.meminfo.event_id) == [owner.event_id]
    assert set(cap.zones.event_id) == {owner.event_id}
    assert set(cap.buddy.event_id) == {owner.event_id}
    (blk,) = OWNERS
    assert blk.mem is not None and blk.mem.snapshot_id == 0
    # line 125: the task table header is handed back to the owner
    assert blk.after == ["[ pid ]   uid  tgid total_vm      rss cpu oom_adj oom_score_adj name"]
    assert owner.line_end == 124


def test_owner_sees_skips_for_interleaved_lines() -> None:
    OWNERS.clear()
    # 198 lines 110-431 fed straight to an owner block, as a family would route them
    lines = (SYZ / "198").read_text(errors="replace").splitlines()
    text = [regex.sub(r"^\[ *[0-9.]+\] ", "", s) for s in lines[110:431]]

    class _Sink:
        def __init__(self) -> None:
            self.rows: dict[str, list[dict[str, Any]]] = {}
            self.ids: dict[str, int] = {}

        def row(self, table: str, values: dict[str, Any]) -> None:
            self.rows.setdefault(table, []).append(values)

        def next_id(self, kind: str) -> int:
            self.ids[kind] = self.ids.get(kind, -1) + 1
            return self.ids[kind]

    sink = _Sink()
    mk = lambda i, t: Line("198", 111 + i, 0, float("nan"), None, None, t, 0)  # noqa: E731
    owner = _Owner(mk(-1, regex.sub(r"^\[ *[0-9.]+\] ", "", lines[109])), 7, sink)
    verdicts = [owner.feed(mk(i, t)) for i, t in enumerate(text)]
    # `Mem-Info:` (line 111) opens it; ` ? __lock_is_held+0xb6/0x140` (line 112) is skipped
    assert verdicts[1] is Feed.SKIP and 112 in owner.skipped
    assert verdicts[-2] is Feed.TAKE  # line 430 `328420 pages reserved`
    assert verdicts[-1] is Feed.END  # line 431 the Code: bytes after the dump
    owner.finish(None)
    (row,) = sink.rows["meminfo"]
    assert row["event_id"] == 7 and row["reserved_pages"] == 328420 and row["complete"]
    assert {r["event_id"] for r in sink.rows["buddy"]} == {7}


# --------------------------------------------------------------------------------------
# transport damage, generated from real dumps


class _ListSink:
    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def row(self, table: str, values: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(values)

    def next_id(self, kind: str) -> int:
        return 0


@functools.cache
def _dump_texts(path: Path) -> list[str]:
    """The text of the lines of the file's first Mem-Info dump (prefixes removed, `#012`
    records split like the dispatcher splits them)."""
    cap = parse(path)
    m = cap.meminfo.iloc[0]
    lines = cap.lines
    sel = lines[(lines.line_no >= m.line_start) & (lines.line_no <= m.line_end)]
    return [part for t in sel.text for part in t.split("\n")]


def _run(texts: list[str]) -> dict[str, list[dict[str, Any]]]:
    sink = _ListSink()
    mk = lambda i, t: Line("x", i, 0, float("nan"), None, None, t, 0)  # noqa: E731
    owner = Block(mk(0, texts[0]), 1, sink)
    mem = MemInfo(owner, mk(1, texts[0]))
    for i, t in enumerate(texts[1:], start=2):
        if mem.feed(mk(i, t)) is Feed.END:
            break
    mem.finish(None)
    for r in sink.rows["meminfo"]:
        for k in ("line_end", "line_start", "ts"):
            r.pop(k)
    return sink.rows


_DAMAGE_SOURCES = [
    LKML / "oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt",
    LKML / "warnalloc-stall-4.11-rc8-desktop-swap-QXcbEventReader-flowed.txt",
    LKML / "hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt",
    LKML / "oom-6.12.62-rpi-arm64-journal-notimestamps-truncated.txt",
]


@pytest.mark.parametrize("path", _DAMAGE_SOURCES, ids=lambda p: p.name[:24])
def test_wrapping_any_line_at_any_space_changes_nothing(path: Path) -> None:
    """A mail or terminal wrap (a line broken at a space, past the 40th column, as real
    wraps at 72-80 columns are) must give the same tables as the unwrapped dump."""
    texts = _dump_texts(path)
    want = _run(texts)
    # a token already broken in the file (6.12's `sec_paget>`) may become a foreign line
    # of its own: then only the problem text may change
    clean = want["meminfo"][0]["problems"] is None
    for i, t in enumerate(texts):
        for j, ch in enumerate(t):
            if ch != " " or j < 40 or not t[j + 1 :].strip():
                continue
            got = _run([*texts[:i], t[:j], t[j + 1 :], *texts[i + 1 :]])
            if not clean:
                got["meminfo"][0]["problems"] = want["meminfo"][0]["problems"]
            assert got == want, (i, j, t)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_cut_or_lost_lines_never_raise(data: st.DataObject) -> None:
    """Lines cut at any character or lost anywhere: still one `meminfo` row, a problem
    when something is missing, never an exception."""
    texts = _dump_texts(data.draw(st.sampled_from(_DAMAGE_SOURCES)))
    i = data.draw(st.integers(1, len(texts) - 1))
    if data.draw(st.booleans()):
        damaged = texts[:i] + texts[i + 1 :]
    else:
        j = data.draw(st.integers(0, len(texts[i])))
        damaged = [*texts[:i], texts[i][:j], *texts[i + 1 :]]
    rows = _run(damaged)
    assert len(rows["meminfo"]) == 1


def test_cut_buddy_line_loses_only_its_tail() -> None:
    """3.10 dump, `Node 0 DMA32: 404*4kB (UEM) 841*8kB (UEM) 524*16kB (UEM) 95*32kB ...` cut
    inside `95*32kB` (as a console losing the rest of a pr_cont line would)."""
    texts = _dump_texts(LKML / "oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt")
    (i,) = [k for k, t in enumerate(texts) if t.startswith("Node 0 DMA32: ")]
    cut = texts[i][: texts[i].index("95*32kB") + 4]
    assert cut.endswith("(UEM) 95*3")
    rows = _run([*texts[:i], cut, *texts[i + 1 :]])
    d32 = [r for r in rows["buddy"] if r["zone"] == "DMA32"]
    assert [(r["order"], r["count"], r["types"]) for r in d32] == [
        (0, 404, "UEM"), (1, 841, "UEM"), (2, 524, "UEM"),
    ]  # fmt: skip
    assert {r["zone_total_kb"] for r in d32} == {None}
    normal = [r for r in rows["buddy"] if r["zone"] == "Normal"]
    assert len(normal) == 11 and normal[0]["count"] == 453 and normal[0]["zone_total_kb"] == 43268
    (m,) = rows["meminfo"]
    assert m["complete"] and m["free_pages"] == 25783
    assert "Node 0 DMA32: unreadable buddy token '95*3'" in m["problems"]
    assert "Node 0 DMA32: buddy line without its `= NkB` total" in m["problems"]
