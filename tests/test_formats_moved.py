"""Formats that moved on (issue 10, item 5) and loss accounting, on real posted captures.

Each value was read off the raw sample by hand (hex masks with `printf %d 0x…`); counts with
the grep given next to the assertion. Sources: sample_logs/corpus/*/INDEX.md.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

import stalllog
from stalllog.engine.capture import Capture

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
CORPUS = SAMPLES / "corpus"
SLUB_612 = "posted/slub-6.12-tempesta-qemu-cpu-node-interleaved-warn_alloc.txt"
SLUB_OLD = "posted/slub-old-gfp-paren-moby-docker-kmemcg.txt"
COMM_PID = "lkml/warnalloc-stall-4.10-rc-commpid-nowarn-sysrq-t-snipped.txt"
IMUXSOCK = "posted/rsyslog-imuxsock-lost-nethserver-ptrack.txt"
DROPS = "lkml/printk-dropped-4.9-stalls-after-oom-short.txt"
DECODED = "posted/decoded-5.19-rc3-lkp-sleeping-in-atomic-decode_stacktrace.txt"


@cache
def cap(name: str) -> Capture:
    return stalllog.parse(CORPUS / name)


def test_slub_6_12_cpu_line_interleaved_with_a_trace() -> None:
    # grep -c "SLUB: Unable to allocate memory on CPU 0 (of node 0) on node -1" = 3, each
    # followed (between another CPU's trace lines) by its cache line and one node line
    df = cap(SLUB_612).alloc_failures
    assert list(df.line_no) == [4, 9, 15]
    assert set(df.kind) == {"slub"}
    assert set(df.cpu) == {0} and set(df.cpu_node) == {0} and set(df.node) == {-1}
    assert set(df.gfp_mask) == {0x820} and set(df.gfp_flags) == {"GFP_ATOMIC"}
    assert set(df.slab_cache) == {"kmalloc-rnd-05-64"}
    assert set(df.object_size_bytes) == {64} and set(df.buffer_size_bytes) == {128}
    assert list(df.slabs) == [235] * 3 and list(df.objs) == [7520] * 3
    assert list(df.free_objs) == [0] * 3
    # the trace lines in between are another CPU's: each report says how many it let through
    assert list(df.reason) == [f"{n} foreign line(s) inside (first at line {f})"
                               for n, f in ((2, 5), (1, 10), (2, 16))]  # fmt: skip
    # the trace keeps its frames: dump_stack_lvl (line 7) … __alloc_pages_noprof (line 20)
    frames = cap(SLUB_612).frames
    assert {"dump_stack_lvl", "warn_alloc", "__alloc_pages_noprof"} <= set(frames.function)


def test_slub_old_paren_gfp_form() -> None:
    # grep -c "SLUB: Unable to allocate memory on node -1 (gfp=0x20)" = 4
    df = cap(SLUB_OLD).alloc_failures
    assert len(df) == 4 and not df.corrupted.any()
    assert set(df.gfp_mask) == {0x20} and df.gfp_flags.isna().all()
    assert set(df.node) == {-1} and df.cpu.isna().all()
    assert list(df.slabs) == [663, 663, 664, 666]
    assert list(df.objs) == [20964, 20964, 20996, 21032]
    assert set(df.object_size_bytes) == {1024} and set(df.default_order) == {3}
    assert df.slab_cache.iloc[0].startswith("kmalloc-1024(1793:c8edefa9")


def test_stall_header_with_comm_pid() -> None:
    # grep -c "a.out(5337): page allocation stalls for" = 11
    df = cap(COMM_PID).alloc_stalls
    assert len(df) == 11
    assert set(df.comm) == {"a.out"} and set(df.pid) == {5337}
    assert list(df.stall_ms[:3]) == [160001, 170002, 180002]
    assert df.stall_ms.iloc[-1] == 730002
    assert set(df.order) == {1} and set(df.gfp_mask) == {0x2604240}
    assert set(df.gfp_flags) == {"GFP_NOFS|__GFP_NOWARN|__GFP_COMP|__GFP_NOTRACK"}


def test_sysrq_dump_goes_on_over_unstamped_lines() -> None:
    # one `sysrq: SysRq : Show State` (line 8); the author's `(...snipped...)` (line 47, no
    # printk stamp) sits between systemd (pid 1, line 10) and kswapd0 (pid 56, line 48)
    c = cap(COMM_PID)
    dumps = c.sysrq[c.sysrq.key == "t"]
    assert len(dumps) == 1 and dumps.n_tasks.iloc[0] == 2
    assert list(zip(c.tasks.comm, c.tasks.pid, strict=True)) == [("systemd", 1), ("kswapd0", 56)]
    ev = c.events[c.events.kind == "sysrq_dump"].iloc[0]
    assert (ev.line_start, ev.line_end) == (8, 76)
    assert ev.reason == "1 foreign line(s) inside (first at line 47)"
    # kswapd0's trace is the dump's, not an orphan trace
    assert not (c.events.kind == "orphan_trace").any()


def test_rcu_t_line_after_a_tab() -> None:
    # syzkaller 521: `[ 2700.728310][    C0] \t(t=10500 jiffies g=481481 q=89)`
    lk = stalllog.parse(CORPUS / "syzkaller" / "521").lockups
    row = lk[lk.kind == "rcu"].iloc[0]
    assert (row.rcu_t_jiffies, row.rcu_g, row.rcu_q) == (10500, 481481, 89)


def test_imuxsock_loss_is_not_kernel_loss() -> None:
    row = cap(IMUXSOCK).printk_loss.iloc[0]
    assert (row.kind, row["count"], row.who, row.pid) == ("rsyslog_lost", 984, "imuxsock", 13518)
    assert not row.kernel_messages
    # mixed into a real capture's stall episode (after its line 15), the episode's kernel
    # loss stays the 88 + 72 + 2081 + 119 + 56 = 2416 console drops of the clean capture
    clean = (CORPUS / DROPS).read_bytes().split(b"\n")
    extra = (CORPUS / IMUXSOCK).read_bytes().rstrip(b"\n")
    mixed = stalllog.parse(b"\n".join([*clean[:15], extra, *clean[15:]]))
    assert list(cap(DROPS).episodes.printk_dropped) == [2416]
    assert list(mixed.episodes.printk_dropped) == [2416]
    loss = mixed.printk_loss
    assert list(loss.kernel_messages) == [True, False, True, True, True, True]


def test_decode_stacktrace_output_is_one_trace() -> None:
    # 0-day (lkp) report: 31 frame lines from `dump_stack_lvl (lib/dump_stack.c:107
    # (discriminator 1)) ` (line 8) to `entry_SYSCALL_64_after_hwframe (…entry_64.S:115) `
    # (line 38), decoded and undecoded (`start_flush_work+0x2a/0x680 `) frames mixed
    c = cap(DECODED)
    assert len(c.stacks) == 1 and c.stacks.n_frames.iloc[0] == 31
    assert (c.stacks.pid.iloc[0], c.stacks.comm.iloc[0]) == (3796, "pty03")
    f = c.frames.set_index("line_no")
    assert f.loc[8, "src"] == "lib/dump_stack.c:107" and f.loc[8, "function"] == "dump_stack_lvl"
    # several locations are one frame (inlined functions), innermost first
    assert f.loc[36, "function"] == "__x64_sys_ioctl"
    assert f.loc[36, "src_chain"] == "fs/ioctl.c:52 fs/ioctl.c:870 fs/ioctl.c:856 fs/ioctl.c:856"
    assert f.loc[36, "src"] == "fs/ioctl.c:52"
    assert f.loc[19, "src_chain"] == "kernel/workqueue.c:3074 kernel/workqueue.c:3096"
    assert not f.loc[19, "reliable"]  # `? flush_work (…)`
    # the module name the script prints bare after the location
    assert (f.loc[24, "function"], f.loc[24, "module"]) == ("close_candev", "can_dev")
    assert f.loc[10, "offset"] == 0x2A and f.loc[10, "src"] is pd.NA
    assert c.lines.unparsed.sum() == 3  # the `BUG: sleeping function …` header lines 1-3


QEMU_SYSRQ_OOM = SAMPLES / "qemu" / "6.12.118+deb13-amd64-sysrq-oom-serial.log"


def _without(lines: list[bytes], i: int, new: bytes | None = None) -> bytes:
    """The capture with line index i removed (a header lost in transit) or replaced."""
    return b"\n".join([*lines[:i], *([] if new is None else [new]), *lines[i + 1 :]])


def test_task_table_that_lost_its_header_reuses_the_boots_layout() -> None:
    # two SysRq-f dumps in one boot, each with `[  pid  ]   uid  tgid total_vm      rss
    # rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name`; the second
    # dump's header line is dropped (as printk or a syslog rate limit drops lines)
    lines = QEMU_SYSRQ_OOM.read_bytes().split(b"\n")
    headers = [i for i, t in enumerate(lines) if b"]   uid  tgid total_vm" in t]
    assert len(headers) == 2
    clean = stalllog.parse(QEMU_SYSRQ_OOM)
    lost = stalllog.parse(_without(lines, headers[1]))
    key = ["line_no", "event_id", "source"]
    want = clean.oom_tasks[clean.oom_tasks.oom_id == 1].drop(columns=key)
    got = lost.oom_tasks[lost.oom_tasks.oom_id == 1].drop(columns=key)
    assert len(got) == 5
    assert got.reset_index(drop=True).equals(want.reset_index(drop=True))  # value for value
    first_row = headers[1] + 1  # 1-based line number of the first row once the header is gone
    note = f"task table header lost before line {first_row}: layout of line {headers[0] + 1} reused"
    # the clean dump's own note (a foreign line at 442, before the header) follows
    assert lost.oom_events.reason.iloc[1] == f"{note}; 1 foreign line(s) inside (first at line 442)"
    assert clean.oom_events.reason.iloc[1] == "1 foreign line(s) inside (first at line 442)"


def test_task_row_with_a_damaged_stamp_is_kept() -> None:
    # the first row of the first table with its printk stamp damaged (`.` -> `:`): the lines
    # layer cannot read the prefix, the row stays a row with every value and a reason
    lines = QEMU_SYSRQ_OOM.read_bytes().split(b"\n")
    i = next(i for i, t in enumerate(lines) if b"]   uid  tgid total_vm" in t) + 1
    damaged = lines[i].replace(b".", b":", 1)
    cap_ = stalllog.parse(_without(lines, i, damaged))
    clean = stalllog.parse(QEMU_SYSRQ_OOM)
    assert len(cap_.oom_tasks) == len(clean.oom_tasks) == 11
    row = cap_.oom_tasks[cap_.oom_tasks.line_no == i + 1].iloc[0]
    ref = clean.oom_tasks[clean.oom_tasks.line_no == i + 1].iloc[0]
    for c in ("pid", "uid", "total_vm_pages", "rss_pages", "oom_score_adj", "name"):
        assert row[c] == ref[c]
    stamp = damaged.split(b"]")[0].decode() + "]"
    assert row.reason == f"damaged line prefix {stamp!r}"
