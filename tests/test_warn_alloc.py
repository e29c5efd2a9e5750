"""warn_alloc stall/failure, vmalloc and SLUB reports from real captures (sample_logs/).

Counts were checked by hand with `grep -c "page allocation stalls for"`,
`grep -c "page allocation failure"`, `grep -c "vmalloc: allocation failure"` and
`grep -c "SLUB: Unable to allocate memory"` on each file; the values were read off the quoted
lines (hex masks converted by hand: 0x40cc0 = 265408).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

import stalllog
from stalllog.engine.capture import Capture

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"


@cache
def cap(name: str) -> Capture:
    return stalllog.parse(SAMPLES / name)


@pytest.mark.parametrize("release", ["5.10.0-46-amd64", "6.1.0-56-amd64", "6.12.118+deb13-amd64"])
@pytest.mark.parametrize("form", ["serial", "dmesg", "dmesg-T", "kmsg", "journal"])
def test_qemu_page_alloc_fail(release: str, form: str) -> None:
    # 4 `pafail: page allocation failure: order:N, mode:0x40cc0(GFP_KERNEL|__GFP_COMP),
    # nodemask=(null),cpuset=/,mems_allowed=0` reports per capture, each with a full
    # dump_stack and show_mem (grep -c "page allocation failure" = 4 in every form; the
    # serial logs give order:10 four times on 6.1, three times plus one order:9 on 5.10/6.12)
    df = cap(f"qemu/{release}-page-alloc-fail-{form}.log").alloc_failures
    assert len(df) == 4
    assert set(df.comm) == {"pafail"}
    assert set(df.kind) == {"page"}
    orders = sorted(df.order)
    assert orders == ([10, 10, 10, 10] if release.startswith("6.1.") else [9, 10, 10, 10])
    assert set(df.gfp_mask) == {0x40CC0}
    assert set(df.gfp_flags) == {"GFP_KERNEL|__GFP_COMP"}
    assert set(df.nodemask) == {"(null)"}
    assert set(df.cpuset) == {"/"} and set(df.mems_allowed) == {"0"}
    assert set(df.release) == {release}
    assert df.stack_id.notna().all() and df.meminfo_id.notna().all()
    assert not df.corrupted.any()
    assert df.pid.nunique() == 1  # one test process per boot


def test_qemu_failure_links_its_stack() -> None:
    c = cap("qemu/6.1.0-56-amd64-page-alloc-fail-serial.log")
    first = c.alloc_failures.iloc[0]
    assert first.line_no == 372 and first.pid == 110  # `CPU: 0 PID: 110 Comm: pafail`
    frames = c.frames[c.frames.stack_id == first.stack_id]
    # dump_stack_lvl+0x44/0x5c, warn_alloc+0x151/0x170 are the first two frames (lines 377-378)
    assert list(frames.function[:2]) == ["dump_stack_lvl", "warn_alloc"]


def test_old_period_form_2_6_28() -> None:
    # `swapper: page allocation failure. order:0, mode:0x4020` then `Pid: 0, comm: swapper`
    df = cap("corpus/lkml/allocfail-2.6.28-ubuntu-sky2-netrx-order0-flowed.txt").alloc_failures
    assert len(df) == 1
    r = df.iloc[0]
    assert (r.comm, r.order, r.gfp_mask, r.pid) == ("swapper", 0, 0x4020, 0)
    assert r.stack_id is not None and r.meminfo_id is not None
    # line 3 is the format=flowed rest (`#57-Ubuntu`) of the dump_stack header: joined to it
    # (stalllog/input/repair.py), so the release is read and no line is foreign
    assert not r.corrupted and r.release == "2.6.28-16-generic"


def test_old_period_form_rhel6_syslog() -> None:
    # `varnishd: page allocation failure. order:6, mode:0xd0 ` (trailing space kept)
    df = cap("corpus/lkml/allocfail-2.6.32-431-rhel6-varnish-tcp-order6-syslog.txt").alloc_failures
    assert len(df) == 1
    r = df.iloc[0]
    assert (r.comm, r.order, r.gfp_mask, r.pid) == ("varnishd", 6, 0xD0, 11831)
    assert r.release == "2.6.32-431.el6.x86_64"
    assert r.gfp_flags_decoded  # 2.6 prints only hex: stalllog decodes it by release


def test_slub_and_failure_interleaved_4_6_2() -> None:
    df = cap(
        "corpus/lkml/interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt"
    ).alloc_failures
    # grep: 3 `page allocation failure` lines + 1 `SLUB: Unable to allocate memory`
    assert sorted(df.kind.value_counts().items()) == [("page", 3), ("slub", 1)]
    slub = df[df.kind == "slub"].iloc[0]
    # lines 110-112: node -1, gfp=0x2080020(GFP_ATOMIC); cache kmalloc-256, 256/256, 0/0;
    # node 0: slabs: 1922, objs: 30752, free: 0
    assert slub.node == -1 and slub.gfp_mask == 0x2080020 and slub.gfp_flags == "GFP_ATOMIC"
    assert (slub.slab_cache, slub.object_size_bytes, slub.buffer_size_bytes) == (
        "kmalloc-256",
        256,
        256,
    )
    assert (slub.default_order, slub.min_order) == (0, 0)
    assert (slub.slabs, slub.objs, slub.free_objs) == (1922, 30752, 0)
    page = df[df.kind == "page"]
    assert list(page.comm) == ["swapper/3", "kworker/u8:3", "kworker/u8:3"]
    assert set(page.gfp_flags) == {"GFP_NOWAIT|__GFP_HIGH|__GFP_NOTRACK"}


def test_slub_ppc64_then_failure() -> None:
    df = cap("corpus/lkml/allocfail-4.12-rc2-ppc64-g5-slub-order4-nots.txt").alloc_failures
    assert list(df.kind) == ["slub", "page"]
    slub, page = df.iloc[0], df.iloc[1]
    # `  cache: pgtable-2^12, object size: 32768, buffer size: 65536, default order: 4, ...`
    assert slub.slab_cache == "pgtable-2^12" and slub.object_size_bytes == 32768
    assert (slub.slabs, slub.objs, slub.free_objs) == (209, 209, 8)
    # `gcc: page allocation failure: order:4, mode:0x16040c0(...), nodemask=(null)`
    assert (page.comm, page.order, page.gfp_mask, page.nodemask) == (
        "gcc",
        4,
        0x16040C0,
        "(null)",
    )


def test_stalls_with_drops_4_9() -> None:
    df = cap("corpus/lkml/printk-dropped-4.9-stalls-after-oom-short.txt").alloc_stalls
    # grep -c "page allocation stalls for" = 11
    assert len(df) == 11
    assert list(df.stall_ms[:3]) == [10024, 90001, 100004]
    assert df.stall_ms.iloc[-1] == 90046
    assert set(df.order) == {0}
    kw = df[df.comm == "kworker/1:2"].iloc[0]
    assert kw.gfp_mask == 0x2400000 and kw.gfp_flags == "GFP_NOIO"
    # `** 88 printk messages dropped **` is glued before the 302.797171 stall: the stall
    # printed before it (223.485251, nmbd) lost its tail
    nmbd = df[df.ts == 223.485251].iloc[0]
    assert nmbd.corrupted and "88 printk messages dropped" in nmbd.reason


def test_flowed_stall_header_joined_4_11() -> None:
    # `QXcbEventReader: page allocation stalls for 10048ms, ` + `order:0, mode:0x14200ca(...)`
    df = cap(
        "corpus/lkml/warnalloc-stall-4.11-rc8-desktop-swap-QXcbEventReader-flowed.txt"
    ).alloc_stalls
    assert len(df) == 1
    r = df.iloc[0]
    assert (r.comm, r.stall_ms, r.order, r.gfp_mask) == ("QXcbEventReader", 10048, 0, 0x14200CA)
    assert r.gfp_flags == "GFP_HIGHUSER_MOVABLE" and r.nodemask == "(null)"
    assert (r.cpuset, r.mems_allowed) == ("/", "0")
    assert r.stack_id is not None and r.meminfo_id is not None


def test_wrapped_order9_stall_4_12() -> None:
    # header wrapped over 4 lines (35-38), own cpuset line `khugepaged cpuset=/ mems_allowed=0-1`
    df = cap(
        "corpus/lkml/hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt"
    ).alloc_stalls
    assert len(df) == 1
    r = df.iloc[0]
    assert (r.comm, r.stall_ms, r.order, r.gfp_mask) == ("khugepaged", 224236, 9, 0x4740CA)
    assert (r.nodemask, r.cpuset, r.mems_allowed) == ("(null)", "/", "0-1")
    assert r.stack_id is not None


def test_vmalloc_forms_syzkaller() -> None:
    # 4.x: `syz-executor6: vmalloc: allocation failure: 8589934588 bytes, mode:0x14080c0(...)`
    a = cap("corpus/syzkaller/198").alloc_failures
    assert len(a) == 1
    r = a.iloc[0]
    assert (r.kind, r.comm, r.size_bytes, r.gfp_mask) == (
        "vmalloc",
        "syz-executor6",
        8589934588,
        0x14080C0,
    )
    assert r.pid == 30482 and r.stack_id is not None
    # 4.4: `vmalloc: allocation failure: 17178820608 bytes` alone, then the
    # `syz-executor7: page allocation failure: order:0, mode:0x24000c2` line it goes with
    b = cap("corpus/syzkaller/199").alloc_failures
    assert len(b) == 1
    r = b.iloc[0]
    assert (r.kind, r.comm, r.size_bytes, r.order, r.gfp_mask) == (
        "vmalloc",
        "syz-executor7",
        17178820608,
        0,
        0x24000C2,
    )


def test_caller_ids_failure_in_its_own_stream() -> None:
    # syzkaller/492: the C1 failure line is interleaved with C0's NMI backtrace; C0 lines
    # never enter the C1 report
    c = cap("corpus/syzkaller/492")
    df = c.alloc_failures
    assert len(df) == 1
    r = df.iloc[0]
    assert (r.comm, r.order, r.gfp_mask) == ("kworker/u4:4", 0, 0x40A20)
    ev = c.events.set_index("event_id").loc[r.event_id]
    assert ev.caller == "C1"
    lines = c.lines[c.lines.event_id == r.event_id]
    assert set(lines.caller) == {"C1"}
