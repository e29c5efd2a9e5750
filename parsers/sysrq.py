"""SysRq dumps (drivers/tty/sysrq.c) and NMI backtraces (lib/nmi_backtrace.c).

SysRq header (`op_p->action_msg`), by era (FORMATS-stalls.md §3):

* ≈<= 4.4: `SysRq : Show State` (printk).
* ≈4.5–5.5: `sysrq: SysRq : Show State` (pr_info under `pr_fmt("sysrq: ")`).
* 5.6+: `sysrq: Show State` (commit c3fee60908db "sysrq: Remove duplicated sysrq message",
  also backported to 4.4/4.9/4.14/4.19 stable).

SysRq-t (`Show State`) and SysRq-w (`Show Blocked State`) print sched_show_task() for each
task, before 5.9 under a column header (`  task                        PC stack   pid father`);
SysRq-t then prints the sched debug dump (`Sched Debug Version: …`, per-CPU `key : value`
lines, `runnable tasks:` tables; CONFIG_SCHED_DEBUG) and the workqueue state; SysRq-w ends with
lockdep's `Showing all locks held in the system:` (parsers/lockdep.py). Each t/w dump is one
event with one `tasks` row and one trace per task. Other keys (`Show Memory`, `Manual OOM
execution`, `Show backtrace of all active CPUs`, …) are one-line events in `sysrq`.

NMI backtraces (SysRq-l, hung-task / RCU / lockup all-CPU backtraces): `NMI backtrace for cpu
%d` then a dump_stack / show_regs of that CPU, or `NMI backtrace for cpu %d skipped: idling at
%pS` (4.x+ for idle CPUs). With caller ids each CPU's lines come in its own `[ Cn]` stream.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import regex

from .base import EVENT_ID, Block, Family, Feed, Line, Sink, TableSchema, col
from .stacktrace import (
    CallTrace,
    is_dump_stack_extra,
    is_dump_stack_header,
    is_register_line,
    is_stack_words,
    is_trace_start,
    normalize_symbol,
    parse_dump_stack_header,
    parse_frame,
)
from .tasklines import TaskDump, is_task_line

_SYSRQ = regex.compile(r"^(?:sysrq: )?(?:SysRq : )?(?P<action>\S.*?)\s*$")
_DUMPS = {"Show State": "t", "Show Blocked State": "w"}
# action_msg -> key, from the sysrq_key_op tables in drivers/tty/sysrq.c (and
# kernel/power/poweroff.c for `o`); unknown actions keep a null key
_KEYS = {
    "Show State": "t",
    "Show Blocked State": "w",
    "Show backtrace of all active CPUs": "l",
    "Show Memory": "m",
    "Manual OOM execution": "f",
    "Show Locks Held": "d",
    "Show Regs": "p",
    "Show clockevent devices & pending hrtimers (no others)": "q",
    "Emergency Sync": "s",
    "Emergency Remount R/O": "u",
    "Resetting": "b",
    "Kill All Tasks": "i",
    "Terminate All Tasks": "e",
    "Trigger a crash": "c",
    "Nice All RT Tasks": "n",
    "Changing Loglevel": None,
    "Emergency Thaw of all frozen filesystems": "j",
    "Dump ftrace buffer": "z",
    "SAK": "k",
    "Keyboard mode set to system default": "r",
    "Power Off": "o",
}
_COLUMNS = regex.compile(r"^\s+task\s+(?:PC\s+)?stack\s+pid\s+father\s*$")
# sched debug dump of SysRq-t (kernel/sched/debug.c): `Sched Debug Version: v0.11, …`,
# `ktime   : …`, `cpu#0, 2893.202 MHz`, `  .nr_running   : 0`, `cfs_rq[0]:/`,
# `runnable tasks:`, column headers, `-----` rules, ` S  task  PID  1.5 …` / `>R …` rows
# (`%-40s: %Ld` header keys, `  .%-30s: …` per-CPU keys, `%15s` comm right-aligned after the
# state letter in task rows, so a 15-character comm touches the letter)
_SCHED_DEBUG = regex.compile(
    r"^(?:Sched Debug Version: |cpu#\d+|(?:cfs|rt|dl)_rq\[\d+\]:|runnable tasks:|sysctl_sched\s*$"
    r"|\s*\.\S+\s*: |[a-z_()]+ +: |-{20,}\s*$| ?S? +task +PID |[ >][A-Za-z].*\d\.\d{6}"
    r"|numa_faults |current_node=)"
)
_NMI = regex.compile(
    r"^NMI backtrace for cpu (?P<cpu>\d+)(?: skipped: idling at (?P<idle>\S+))?\s*$"
)


class SysrqDumpBlock(Block):
    """A SysRq-t or SysRq-w dump: tasks, their traces, and (t) the sched debug dump."""

    kind = "sysrq_dump"

    def __init__(self, first: Line, event_id: int, sink: Sink, action: str) -> None:
        super().__init__(first, event_id, sink)
        self.dump_id = self.next_id("dump")
        self.action = action
        self.task: TaskDump | None = None
        self.n_tasks = 0
        self.sched_debug = False
        self.complete = True  # a dump ends wherever the tasks end

    def feed(self, line: Line) -> Feed:
        if line.caller is None and math.isnan(line.ts) and not math.isnan(self.first.ts):
            # a console line without a printk stamp inside a stamped dump: userspace writing
            # to the serial console (or an author's snip mark), not the end of the dump
            return Feed.SKIP
        if self.task is not None:
            verdict = self.task.feed(line)
            if verdict is not Feed.END:
                return verdict
            self._close_task(None)
        text = line.text
        if not self.sched_debug:
            if is_task_line(text):
                self.task = TaskDump(self, line, dump_id=self.dump_id)
                self.n_tasks += 1
                return Feed.TAKE
            if self.n_tasks == 0 and _COLUMNS.match(text):
                return Feed.TAKE
            if text.startswith("Sched Debug Version: "):
                self.sched_debug = True
                return Feed.TAKE
            return Feed.END
        if not text.strip() or _SCHED_DEBUG.match(text):
            return Feed.TAKE
        return Feed.END

    def _close_task(self, cut: str | None) -> None:
        if self.task is not None:
            self.task.finish(cut)
            self.problems.extend(self.task.problems)
            self.task = None

    def finish(self, cut: str | None) -> None:
        self._close_task(cut)
        self.row(
            "sysrq",
            boot=self.first.boot,
            ts=self.first.ts,
            line_no=self.first.line_no,
            action=self.action,
            key=_KEYS.get(self.action),
            dump_id=self.dump_id,
            n_tasks=self.n_tasks,
            sched_debug=self.sched_debug,
        )
        super().finish(cut)


class SysrqLineBlock(Block):
    kind = "sysrq"
    multiline = False


class NmiBacktraceBlock(Block):
    """`NMI backtrace for cpu N` + the CPU's dump_stack header, registers and trace."""

    kind = "nmi_backtrace"

    def __init__(self, first: Line, event_id: int, sink: Sink, cpu: int) -> None:
        super().__init__(first, event_id, sink)
        self.cpu = cpu
        self.trace: CallTrace | None = None
        self.header: dict[str, Any] | None = None

    def feed(self, line: Line) -> Feed:
        if self.trace is not None:
            return self.trace.feed(line)
        text = line.text
        if is_dump_stack_header(text):
            if self.header is None and text.startswith(("CPU: ", "Pid: ")):
                self.header = parse_dump_stack_header(text)
                if self.header is not None:
                    self.pid, self.comm = self.header["pid"], self.header["comm"]
            return Feed.TAKE
        if is_dump_stack_extra(text) or text.startswith("Modules linked in:"):
            return Feed.TAKE
        if text.strip() and (
            is_trace_start(text)
            or is_register_line(text)
            or is_stack_words(text)
            or parse_frame(text) is not None
        ):
            self.trace = CallTrace(self, line, pid=self.pid, comm=self.comm)
            self.complete = True
            return Feed.TAKE
        return Feed.END

    def finish(self, cut: str | None) -> None:
        stack_id = None
        if self.trace is not None:
            self.trace.finish(cut)
            self.problems.extend(self.trace.problems)
            stack_id = self.trace.stack_id
        self.row("nmi_backtraces", boot=self.first.boot, ts=self.first.ts,
                 line_no=self.first.line_no, cpu=self.cpu, idle_at=None, idle_symbol=None,
                 pid=self.pid, comm=self.comm, stack_id=stack_id)  # fmt: skip
        super().finish(cut)


class NmiIdleBlock(Block):
    """`NMI backtrace for cpu N skipped: idling at func+0x…/0x…` (an idle CPU, one line)."""

    kind = "nmi_backtrace"
    multiline = False

    def __init__(self, first: Line, event_id: int, sink: Sink, cpu: int, idle: str) -> None:
        super().__init__(first, event_id, sink)
        self.row("nmi_backtraces", boot=first.boot, ts=first.ts, line_no=first.line_no,
                 cpu=cpu, idle_at=idle, idle_symbol=normalize_symbol(idle.split("+", 1)[0]),
                 pid=None, comm=None, stack_id=None)  # fmt: skip


class SysrqFamily(Family):
    name = "sysrq"
    triggers = ("sysrq: ", "SysRq : ", "NMI backtrace for cpu ")
    pattern = regex.compile(r"^(?:sysrq: |SysRq : )|^NMI backtrace for cpu \d+")
    parts = (TaskDump, CallTrace)
    tables = (
        TableSchema(
            "sysrq",
            "One row per SysRq action message (`sysrq: Show State`, `SysRq : Show Memory`); "
            "t/w dumps list their tasks in `tasks` (same `dump_id`).",
            (
                EVENT_ID,
                col("boot", pa.int32(), "", "boot number in the capture"),
                col("ts", pa.float64(), "s", "seconds since boot (null if none)"),
                col("line_no", pa.int64(), "", "line of the SysRq message"),
                col("action", pa.string(), "", "action message as printed (`Show Blocked State`)"),
                col("key", pa.string(), "", "SysRq key of a known action (t, w, l, m, f, …)"),
                col("dump_id", pa.int64(), "", "t/w dumps: joins `tasks.dump_id`"),
                col("n_tasks", pa.int32(), "tasks", "t/w dumps: task lines in the dump"),
                col("sched_debug", pa.bool_(), "", "t dumps: the sched debug dump followed"),
            ),
        ),
        TableSchema(
            "nmi_backtraces",
            "One row per `NMI backtrace for cpu N` (all-CPU backtraces of SysRq-l, hung "
            "tasks, RCU stalls, lockups); the trace is in `frames`.",
            (
                EVENT_ID,
                col("boot", pa.int32(), "", "boot number in the capture"),
                col("ts", pa.float64(), "s", "seconds since boot (null if none)"),
                col("line_no", pa.int64(), "", "line of the `NMI backtrace for cpu` line"),
                col("cpu", pa.int32(), "", "the CPU"),
                col("idle_at", pa.string(), "", "`skipped: idling at` function, as printed"),
                col("idle_symbol", pa.string(), "", "that function, normalized"),
                col("pid", pa.int64(), "", "task on the CPU (from its `CPU: … PID:` line)"),
                col("comm", pa.string(), "", "that task's name"),
                col("stack_id", pa.int64(), "", "its trace; joins `stacks`/`frames`"),
            ),
        ),
    )

    def start(self, line: Line, match: regex.Match[str], event_id: int, sink: Sink) -> Block | None:
        text = line.text
        if text.startswith("NMI"):
            m = _NMI.match(text)
            if m is None:
                return None
            if m["idle"] is not None:
                return NmiIdleBlock(line, event_id, sink, int(m["cpu"]), m["idle"])
            return NmiBacktraceBlock(line, event_id, sink, int(m["cpu"]))
        m = _SYSRQ.match(text)
        if m is None:
            return None
        action = m["action"]
        if action in _DUMPS:
            return SysrqDumpBlock(line, event_id, sink, action)
        block = SysrqLineBlock(line, event_id, sink)
        block.row("sysrq", boot=line.boot, ts=line.ts, line_no=line.line_no, action=action,
                  key=_KEYS.get(action), dump_id=None, n_tasks=None, sched_debug=None)  # fmt: skip
        return block
