"""Hung-task reports from real captures (sample_logs/corpus).

Counts were checked by hand with
`grep -cE "blocked( in I/O wait)? for more than|can't die for more than" <file>`: every match
in these files is a report's INFO line (syzkaller REPORT: sections repeat some; they count too).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import pytest

import stalllog
from stalllog.engine.capture import Capture

CORPUS = Path(__file__).resolve().parent.parent / "sample_logs" / "corpus"


@cache
def cap(name: str) -> Capture:
    return stalllog.parse(CORPUS / name)


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("syzkaller/349", 8),
        ("syzkaller/385", 10),
        ("syzkaller/432", 8),
        ("syzkaller/440", 6),
        ("syzkaller/445", 5),
        ("syzkaller/484", 2),
        ("syzkaller/365", 1),
        ("syzkaller/441", 1),
        ("syzkaller/235", 1),
        ("syzkaller/72", 1),
        ("syzkaller/508", 1),
        ("syzkaller/1000", 1),
        ("lkml/hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt", 2),
        ("lkml/interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt", 3),
        ("lkml/warnalloc-stall-4.9-rsync-2102516ms-xfs-netconsole-syslog.txt", 19),
    ],
)
def test_counts_match_grep(name: str, count: int) -> None:
    assert len(cap(name).hung_tasks) == count


def test_4_20_report_fields_and_links() -> None:
    # syzkaller/349 lines 6-21:
    # `INFO: task jbd2/sda-8:3563 blocked for more than 140 seconds.`
    # `      Not tainted 4.20.0-next-20190102+ #5`, the echo line,
    # `jbd2/sda-8      D22600  3563      2 0x80000000`, `Call Trace:` + 11 frames
    c = cap("syzkaller/349")
    h = c.hung_tasks.iloc[0]
    assert (h.comm, h.pid, h.blocked_s, h.kind) == ("jbd2/sda-8", 3563, 140, "blocked")
    assert (h.tainted, h.release, h.build) == ("", "4.20.0-next-20190102+", "#5")
    assert h.task_state == "D" and h.echo_line and not h.coredump
    task = c.tasks[c.tasks.dump_id == h.dump_id].iloc[0]
    assert (task.pid, task.line_no, task.stack_id) == (3563, 9, h.stack_id)
    frames = c.frames[c.frames.stack_id == h.stack_id]
    assert frames.function.tolist()[0] == "__schedule" and len(frames) == 11
    ev = c.events.set_index("event_id").loc[h.event_id]
    assert (ev.kind, ev.line_start, ev.line_end, ev.corrupted) == ("hung_task", 6, 21, False)
    # the second report carries a `Workqueue: writeback wb_workfn (flush-8:0)` line (26)
    t2 = c.tasks[c.tasks.dump_id == c.hung_tasks.iloc[1].dump_id].iloc[0]
    assert (t2.comm, t2.workqueue, t2.work_func) == ("kworker/u12:5", "writeback", "wb_workfn")


def test_tainted_and_wrapped_echo_line() -> None:
    # `      Tainted: G                   4.12.0+105-ph #1`; the echo line is wrapped by the
    # mailer: `"echo 0 > /proc/sys/kernel/hung_task_timeout_secs"` / `disables this message.`
    c = cap("lkml/hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt")
    h = c.hung_tasks.iloc[0]
    assert (h.comm, h.pid, h.tainted, h.release) == ("ksmtuned", 1399, "G", "4.12.0+105-ph")
    ev = c.events.set_index("event_id").loc[h.event_id]
    assert not ev.corrupted
    frames = c.frames[c.frames.stack_id == h.stack_id]
    assert frames.function.tolist()[:2] == ["__schedule", "schedule"]
    assert frames.reliable.tolist()[:2] == [False, True]  # ` ? __schedule+0x3bc/0x830`


def test_glued_and_pre_4_9_task_lines() -> None:
    # line 349 `BUG: workqueue lockup - pool[ 2417.500236] INFO: task kworker/u8:9:1598 blocked
    # for more than 120 seconds` (two records glued: the dispatcher splits them at the stamp),
    # then
    # `kworker/u8:9    D ffff8800c5f67688     0  1598      2 0x00000000` (PC column)
    c = cap("lkml/interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt")
    h = c.hung_tasks
    assert h.pid.tolist() == [1598, 2344, 3124]
    assert h.comm.tolist() == ["kworker/u8:9", "jbd2/dm-3-8", "Xorg"]
    ev = c.events.set_index("event_id").loc[h.event_id.iloc[0]]
    assert not ev.corrupted
    assert h.ts.iloc[0] == 2417.500236  # the glued record's own stamp
    task = c.tasks[c.tasks.dump_id == h.dump_id.iloc[0]].iloc[0]
    assert task.generation == "<=4.8" and task.pc == 0xFFFF8800C5F67688


def test_cant_die_variant() -> None:
    # syzkaller/508: `INFO: task syz-executor.4:21128 can't die for more than 143 seconds.`
    # directly followed by `syz-executor.4  D27704 21128   7271 0x00004004`
    h = cap("syzkaller/508").hung_tasks.iloc[0]
    assert (h.kind, h.comm, h.pid, h.blocked_s, h.task_state) == (
        "cant_die", "syz-executor.4", 21128, 143, "D"
    )  # fmt: skip
    assert pd.isna(h.tainted)  # no taint line in this variant


def test_io_wait_variant_arm64() -> None:
    # syzkaller/1000 lines 8-12: `INFO: task udevd:5612 blocked in I/O wait for more than 143
    # seconds.`, `      Tainted: G             L      syzkaller #0`, the echo line,
    # `task:udevd           state:D stack:0     pid:5612  tgid:5612  ppid:4302   task_flags:…`,
    # `Call trace:` and arm64 frames with the 6.14+ ` (T)` marker: `__switch_to+0x2b0/0x6e0 (T)`
    c = cap("syzkaller/1000")
    h = c.hung_tasks.iloc[0]
    assert (h.comm, h.pid, h.blocked_s, h.iowait) == ("udevd", 5612, 143, True)
    assert (h.tainted, h.release) == ("GL", "syzkaller")
    t = c.tasks[c.tasks.dump_id == h.dump_id].iloc[0]
    assert (t.comm, t.pid, t.task_flags, t.generation) == ("udevd", 5612, 0x400140, "6.14+")
    frames = c.frames[c.frames.stack_id == h.stack_id]
    assert frames.function.tolist()[:2] == ["__switch_to", "__schedule"]


QEMU = CORPUS.parent / "qemu"


@pytest.mark.parametrize(
    ("kernel", "generation"),
    [("5.10.0-46-amd64", "5.9-5.19"), ("6.1.0-56-amd64", "6.0-6.5"),
     ("6.12.118+deb13-amd64", "6.6-6.13")],
)  # fmt: skip
@pytest.mark.parametrize("form", ["dmesg", "serial", "kmsg", "journal", "dmesg-T"])
def test_qemu_hung_tasks(kernel: str, generation: str, form: str) -> None:
    # sample_logs/qemu/<kernel>-hung-task-*.log: 5 tasks blocked on a frozen ext4, reported
    # twice (after 5 s and 10 s) until hung_task_warnings=10 runs out; `grep -cE "blocked for
    # more than" <file>` = 10 in every form
    c = stalllog.parse(QEMU / f"{kernel}-hung-task-{form}.log")
    h = c.hung_tasks
    assert len(h) == 10
    assert h.comm.tolist()[:5] == ["writer", "sh", "touch", "mkdir", "dd"]
    assert h.blocked_s.tolist() == [5] * 5 + [10] * 5
    assert (h.tainted == "").all() and (h.release == kernel).all()
    assert set(c.tasks.generation) == {generation}
    assert h.stack_id.notna().all()
    ev = c.events.set_index("event_id").loc[h.event_id.tolist()]
    assert not ev.corrupted.any()
    # 6.12 prints `Future hung task reports are suppressed, see sysctl
    # kernel.hung_task_warnings` after the tenth report (6.12…-hung-task-dmesg.log line 772)
    assert h.suppressed.tolist() == [False] * 9 + [kernel.startswith("6.12")]


def test_megabyte_line_of_glued_reports_parses() -> None:
    # a real report line repeated into one 1 MB line (a console with its newlines lost): the
    # unanchored search must stay linear; every glued copy after the first has its own stamp
    real = Path(__file__).parent.parent / "sample_logs/qemu/6.1.0-56-amd64-hung-task-dmesg.log"
    first = next(x for x in real.read_bytes().splitlines() if b"blocked for more than" in x)
    copies = 1_000_000 // len(first) + 1
    cap = stalllog.parse(first * copies + b"\n")
    assert len(cap.lines) == 1
    assert len(cap.hung_tasks) == copies
