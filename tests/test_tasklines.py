"""sched_show_task() task lines: every generation, read from real captures.

Expected values were read by hand from the raw lines quoted in each case (the files are in
sample_logs/corpus); pids/ppids/flags are the printed numbers, flags converted from hex.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest

import stalllog
from stalllog.parsers.stacktrace import _parse_frame, is_frame_line
from stalllog.parsers.tasklines import (
    _task_line,
    is_task_line,
    parse_task_head,
    parse_task_line,
    parse_task_tail,
)

CORPUS = Path(__file__).resolve().parent.parent / "sample_logs" / "corpus"


@cache
def _texts(name: str) -> dict[int, str]:
    lines = stalllog.parse(CORPUS / name).lines
    return dict(zip(lines.line_no.tolist(), lines.text.tolist(), strict=True))


def text(name: str, line_no: int) -> str:
    return _texts(name)[line_no]


@pytest.mark.parametrize(
    ("name", "line_no", "expect"),
    [
        # `systemd         D ffff88011ad63a30     0     1      0 0x00000000` (4.6.2, PC column)
        (
            "lkml/interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt",
            118,
            {
                "comm": "systemd",
                "state": "D",
                "running": False,
                "pid": 1,
                "ppid": 0,
                "flags": 0,
                "stack_free_bytes": 0,
                "pc": 0xFFFF88011AD63A30,
                "generation": "<=4.8",
            },
        ),
        # `jbd2/sda-8      D22600  3563      2 0x80000000` (4.20-next, state glued to digits)
        (
            "syzkaller/349",
            9,
            {
                "comm": "jbd2/sda-8",
                "state": "D",
                "running": False,
                "pid": 3563,
                "ppid": 2,
                "flags": 0x80000000,
                "stack_free_bytes": 22600,
                "pc": None,
                "generation": "4.9-5.8",
            },
        ),
        # `kworker/u4:6    R  running task    24784   282      2 0x80004000`
        (
            "syzkaller/487",
            10,
            {
                "comm": "kworker/u4:6",
                "state": "R",
                "running": True,
                "pid": 282,
                "ppid": 2,
                "flags": 0x80004000,
                "stack_free_bytes": 24784,
                "generation": "<=5.8",
            },
        ),
        # `task:rcu_preempt     state:R  running task     stack:29584 pid:   10 ppid:     2 ...`
        (
            "syzkaller/521",
            11,
            {
                "comm": "rcu_preempt",
                "state": "R",
                "running": True,
                "pid": 10,
                "ppid": 2,
                "tgid": None,
                "flags": 0x4000,
                "stack_free_bytes": 29584,
                "generation": "5.9-5.19",
            },
        ),
        # `task:rcu_sched       state:R  running task on cpu   0   stack:    0 pid:   13 ...`
        (
            "syzkaller/688",
            21,
            {
                "comm": "rcu_sched",
                "state": "R",
                "running": True,
                "cpu": 0,
                "pid": 13,
                "ppid": 2,
                "flags": 8,
                "stack_free_bytes": 0,
                "generation": "5.9-5.19",
            },
        ),
        # `task:rcu_preempt     state:R  running task     stack:26920 pid:17    tgid:17 ...`
        (
            "syzkaller/718",
            13,
            {
                "comm": "rcu_preempt",
                "state": "R",
                "pid": 17,
                "tgid": 17,
                "ppid": 2,
                "task_flags": None,
                "flags": 0x4000,
                "stack_free_bytes": 26920,
                "generation": "6.6-6.13",
            },
        ),
        # `task:udevd           state:D stack:0     pid:5612  tgid:5612  ppid:4302
        #  task_flags:0x400140 flags:0x00800019` (one line)
        (
            "syzkaller/1000",
            11,
            {
                "comm": "udevd",
                "state": "D",
                "running": False,
                "pid": 5612,
                "tgid": 5612,
                "ppid": 4302,
                "task_flags": 0x400140,
                "flags": 0x800019,
                "stack_free_bytes": 0,
                "generation": "6.14+",
            },
        ),
        # `task:syz.0.2297      state:R  running task     stack:24168 pid:14797 tgid:14796 ...`
        (
            "syzkaller/1002",
            9,
            {
                "comm": "syz.0.2297",
                "state": "R",
                "running": True,
                "pid": 14797,
                "tgid": 14796,
                "ppid": 5615,
                "task_flags": 0x400140,
                "flags": 0x80005,
                "generation": "6.14+",
            },
        ),
    ],
)
def test_generations(name: str, line_no: int, expect: dict[str, object]) -> None:
    got = parse_task_line(text(name, line_no))
    assert got is not None
    assert {k: got[k] for k in expect} == expect


def test_comm_with_space_keeps_fixed_columns() -> None:
    # `rs:main Q:Reg` is a real comm (syzkaller/349 line 168: `Comm: rs:main Q:Reg`); the
    # `%-15.15s %c` task line of such a task puts the state in column 16.
    line = f"{'rs:main Q:Reg':<15} S    0  5857      1 0x00000000"
    got = parse_task_line(line)
    assert got is not None and got["comm"] == "rs:main Q:Reg" and got["pid"] == 5857


def test_not_task_lines() -> None:
    # lines around task lines in the same files must not parse as tasks
    assert parse_task_line(text("syzkaller/349", 10)) is None  # `Call Trace:`
    assert parse_task_line(text("syzkaller/349", 8)) is None  # the `"echo 0 > …"` line
    assert parse_task_line(text("syzkaller/349", 77)) is None  # `RBP: … R08: … R09: …`
    assert parse_task_line(text("syzkaller/349", 7)) is None  # `      Not tainted 4.20.0-next…`


def test_split_line() -> None:
    # FORMATS-stalls.md §2, 6.9-next syzbot (msgid 00000000000059a7eb06187613b2@google.com):
    # `task:jbd2/sda1-8     state:D`
    # ` stack:25008 pid:4509  tgid:4509  ppid:2      flags:0x00004000`
    head = parse_task_head("task:jbd2/sda1-8     state:D")
    assert head == {"comm": "jbd2/sda1-8", "state": "D", "running": False, "cpu": None}
    assert parse_task_line("task:jbd2/sda1-8     state:D") is None
    tail = parse_task_tail(" stack:25008 pid:4509  tgid:4509  ppid:2      flags:0x00004000")
    assert tail is not None
    assert (tail["pid"], tail["tgid"], tail["ppid"], tail["flags"]) == (4509, 4509, 2, 0x4000)
    assert tail["stack_free_bytes"] == 25008


def test_orphan_task_lines_become_tasks_rows() -> None:
    # syzkaller/612: three RCU `Task dump` task lines (lines 8, 59, 83) with their traces
    cap = stalllog.parse(CORPUS / "syzkaller/612")
    tasks = cap.tasks
    assert tasks.pid.tolist()[:3] == [17688, 9, 14]
    first = tasks.iloc[0]
    assert first.comm == "syz-executor.0" and first.line_no == 8
    assert first.stack_id >= 0
    stack = cap.stacks[cap.stacks.stack_id == first.stack_id].iloc[0]
    assert stack.pid == 17688 and stack.n_frames > 0


def test_rcu_task_dump_for_cpu() -> None:
    # syzkaller/688 lines 32-35: `Task dump for CPU 0:`, `task:syz-executor913 state:R  running
    # task on cpu   0   stack:    0 pid: 1432 ppid:  1414 flags:0x00000002`, `Call trace:` …
    cap = stalllog.parse(CORPUS / "syzkaller/688")
    t = cap.tasks.set_index("line_no")
    assert (t.loc[33, "comm"], t.loc[33, "pid"], t.loc[33, "cpu"]) == ("syz-executor913", 1432, 0)
    assert (t.loc[38, "pid"], t.loc[38, "cpu"]) == (1429, 1)
    # the first dump is inside the RCU stall report (same caller C1 as its glued header at
    # line 15); the second, after the unsymbolized ` 0x202` frame, stands alone
    rcu = cap.events[cap.events.kind == "rcu_stall"].iloc[0]
    assert t.loc[33, "event_id"] == rcu["event_id"] and rcu["line_end"] == 35
    ev = cap.events[cap.events.kind == "task_dump"].set_index("line_start")
    assert ev.loc[37, "line_end"] == 74 and not ev.loc[37, "corrupted"]


@pytest.mark.parametrize(
    ("memo", "check", "short"),
    [(_task_line, is_task_line, "task:x"), (_parse_frame, is_frame_line, " schedule+0x3a/0x90")],
)
def test_line_memos_keep_short_texts_only(memo: Any, check: Any, short: str) -> None:
    """Task lines and frames are parsed once per distinct text (a storm repeats them); a long
    text (a hostile input can make thousands of cut 4 MiB lines) is parsed but never kept."""
    memo.cached.cache_clear()
    assert not check(short[:6] + "x" * memo.longest)
    assert memo.cached.cache_info().currsize == 0
    check(short)
    assert memo.cached.cache_info().currsize == 1
