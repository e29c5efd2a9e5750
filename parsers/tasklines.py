"""Task lines of sched_show_task() (kernel/sched/core.c) and the `tasks` table.

sched_show_task() prints one line per task in SysRq-t/w dumps, hung-task reports, RCU
`Task dump for CPU`, kmallocwd ... then `Workqueue:` (print_worker_info) and the stack.
Six generations (FORMATS-stalls.md §3), told apart by their text:

* <= 4.8: `"%-15.15s %c"` + `" %016lx "` (thread_saved_pc; `" %08lx "` on 32-bit) or
  `"  running task    "` + `"%5lu %5d %6d 0x%08lx\\n"` (free stack, pid, ppid, ti flags):
  `a.out           D ffff8800254c75a8     0  2989   1230 0x00000084`.
* 4.9–5.8: the PC column removed (commit 8243d55 "sched/core: Remove pointless printout
  in sched_show_task()", v4.9), so the state letter is glued to the free-stack digits:
  `kswapd0         D10936    67      2 0x00000000`. Running tasks print the same in both.
* 5.9–5.19: `"task:%-15.15s state:%c"` + `" stack:%5lu pid:%5d ppid:%6d flags:0x%08lx\\n"`
  (commit cc172ff301d8 "sched/debug: Fix the alignment of the show-state debug output", v5.9):
  `task:syz-executor.0  state:D stack:14632 pid:29056 ppid:  6574 flags:0x00000004`.
* 6.0–6.5: left-aligned numbers (`stack:%-5lu pid:%-5d ppid:%-6d`,
  "sched/debug: Print each field value left-aligned", v6.0).
* 6.6–6.13: `tgid:%-5d` added ("sched/debug: Dump the tgid", v6.6).
* 6.14+: `task_flags:0x%04x` before `flags:` (commit 65ef17aa0711, v6.14).

Vendor kernels append fields after the flags (Android `" c%d %llu"`; syzkaller/441 shows
`… 0xb0020002 2141275110779`); they are ignored.

Every generation is printk + pr_cont, so the line can split: 6.9-next consoles show
`task:jbd2/sda1-8     state:D` then ` stack:25008 pid:4509 …` as a separate record.
comm is `%-15.15s`: padded, truncated, and may hold spaces, `:`, `/`, `(`; numbers are parsed
from the right.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import regex

from .base import EVENT_ID, Block, Family, Feed, Line, Sink, SubParser, TableSchema, col, text_memo
from .stacktrace import CallTrace, is_stack_words, is_trace_start, parse_frame

__all__ = [
    "TASKS",
    "TaskDump",
    "is_task_line",
    "parse_task_head",
    "parse_task_line",
    "parse_task_tail",
]

_STATE = r"[A-Za-z?]"
# <= 5.8: `%-15.15s %c` then PC / running / glued digits; fields parsed from the right
_LEGACY = regex.compile(
    rf"^(?P<comm>.*?) ?(?P<state>{_STATE})"
    r"(?:(?P<running> +running(?: task)?) +| (?P<pc>[0-9a-f]{16}|[0-9a-f]{8}) +| *)"
    r"(?P<free>\d+) +(?P<pid>\d+) +(?P<ppid>\d+)"
    r"(?: +0x(?P<flags>[0-9a-f]+)(?P<extra> [ \w]+)?)?\s*$"
)
_TAIL_FIELDS = (
    r"stack: *(?P<free>\d+) +pid: *(?P<pid>\d+) +(?:tgid: *(?P<tgid>\d+) +)?ppid: *(?P<ppid>\d+)"
    r"(?: +task_flags: *0x(?P<task_flags>[0-9a-f]+))? +flags: *0x(?P<flags>[0-9a-f]+)"
)
_TASK = regex.compile(
    rf"^task:(?P<comm>.*) state:(?P<state>{_STATE})"
    r"(?P<running>  running task(?: on cpu +(?P<cpu>\d+))?)?"
    rf"(?: +{_TAIL_FIELDS})?\s*$"
)
_TAIL = regex.compile(rf"^ +{_TAIL_FIELDS}\s*$")
# print_worker_info(): `"%sWorkqueue: %s %ps"` + `" (%s)"` (the worker's description); an
# idle kworker prints an empty name and `0x0`: `Workqueue:  0x0 (rcu_gp)` (6.1 SysRq-t)
_WORKQUEUE = regex.compile(r"^Workqueue: (?P<wq>\S*) (?P<func>\S+)(?: \((?P<desc>.*)\))?")


def _int(s: str | None, base: int = 10) -> int | None:
    return None if s is None else int(s, base)


def _generation_59(line: str, tgid: bool, task_flags: bool) -> str:
    if task_flags:
        return "6.14+"
    if tgid:
        return "6.6-6.13"
    # right-aligned numbers leave blanks after the colon, left-aligned ones before the next key
    if regex.search(r"(?:pid|ppid): +\d", line):
        return "5.9-5.19"
    if regex.search(r"(?:stack|pid):\d+ {2,}", line):
        return "6.0-6.5"
    return "5.9-6.5"


def parse_task_line(text: str) -> dict[str, Any] | None:
    """A complete sched_show_task line -> the `tasks` columns it gives (comm, state, running,
    pid, ppid, tgid, flags, task_flags, stack_free_bytes, pc, cpu, generation); None otherwise
    (including the first half of a split 5.9+ line: see `parse_task_head`)."""
    parsed = _task_line(text)
    return None if parsed is None else dict(parsed)  # a copy: the memoized one is shared


@text_memo(1024)  # `is_task_line`, then `TaskDump` on the same line: parsed once (shared)
def _task_line(text: str) -> dict[str, Any] | None:
    if text.startswith("task:"):
        m = _TASK.match(text)
        if m is None or m["pid"] is None:
            return None
        return {
            "comm": m["comm"].rstrip(),
            "state": m["state"],
            "running": m["running"] is not None,
            "pid": int(m["pid"]),
            "ppid": int(m["ppid"]),
            "tgid": _int(m["tgid"]),
            "flags": int(m["flags"], 16),
            "task_flags": _int(m["task_flags"], 16),
            "stack_free_bytes": int(m["free"]),
            "pc": None,
            "cpu": _int(m["cpu"]),
            "generation": _generation_59(text, m["tgid"] is not None, m["task_flags"] is not None),
        }
    if len(text) < 20 or not text[-1:].isalnum():
        return None
    m = _LEGACY.match(text)
    if m is None:
        return None
    comm = m["comm"]
    # `%-15.15s %c`: with the padding intact the state letter sits in column 16
    if len(text) > 16 and text[15] == " " and text[16] == m["state"]:
        comm = text[:15]
    elif m["flags"] is None:
        return None  # neither the fixed columns nor the flags word: too weak to be a task
    if m["running"] is not None:
        generation = "<=5.8"
    elif m["pc"] is not None:
        generation = "<=4.8"
    else:
        generation = "4.9-5.8"
    return {
        "comm": comm.rstrip(),
        "state": m["state"],
        "running": m["running"] is not None,
        "pid": int(m["pid"]),
        "ppid": int(m["ppid"]),
        "tgid": None,
        "flags": _int(m["flags"], 16),
        "task_flags": None,
        "stack_free_bytes": int(m["free"]),
        "pc": _int(m["pc"], 16),
        "cpu": None,
        "generation": generation,
    }


def parse_task_head(text: str) -> dict[str, Any] | None:
    """The first record of a split 5.9+ task line (`task:comm state:D` alone)."""
    if not text.startswith("task:"):
        return None
    m = _TASK.match(text)
    if m is None or m["pid"] is not None:
        return None
    return {
        "comm": m["comm"].rstrip(),
        "state": m["state"],
        "running": m["running"] is not None,
        "cpu": _int(m["cpu"]),
    }


def parse_task_tail(text: str) -> dict[str, Any] | None:
    """The ` stack:… pid:… flags:…` continuation record of a split 5.9+ task line."""
    if not text.startswith(" stack:"):
        return None
    m = _TAIL.match(text)
    if m is None:
        return None
    return {
        "pid": int(m["pid"]),
        "ppid": int(m["ppid"]),
        "tgid": _int(m["tgid"]),
        "flags": int(m["flags"], 16),
        "task_flags": _int(m["task_flags"], 16),
        "stack_free_bytes": int(m["free"]),
        "pc": None,
        "generation": _generation_59(text, m["tgid"] is not None, m["task_flags"] is not None),
    }


def is_task_line(text: str) -> bool:
    """A sched_show_task line, complete or the head of a split one."""
    return _task_line(text) is not None or parse_task_head(text) is not None


TASKS = TableSchema(
    "tasks",
    "One row per sched_show_task() task line (SysRq-t/w dumps, hung tasks, NMI/RCU task "
    "dumps, kmallocwd), with the workqueue it runs and its trace.",
    (
        EVENT_ID,
        col("dump_id", pa.int64(), "", "the dump (one SysRq/NMI/hung-task report) it belongs to"),
        col("line_no", pa.int64(), "", "line of the task line"),
        col("comm", pa.string(), "", "task name (`%-15.15s`: at most 15 characters, untrusted)"),
        col(
            "state",
            pa.string(),
            "",
            "state letter: R running, S sleeping, D uninterruptible, T stopped, t traced, "
            "X dead, Z zombie, P parked, I idle kthread (4.14+), K/W/N/n (<= 4.13)",
        ),
        col("running", pa.bool_(), "", "printed as `running task` (on a CPU)"),
        col("pid", pa.int64(), "", "pid"),
        col("ppid", pa.int64(), "", "parent pid"),
        col("tgid", pa.int64(), "", "thread-group id (6.6+ lines only)"),
        col("flags", pa.int64(), "", "thread_info flags (`flags:0x…`)"),
        col("task_flags", pa.int64(), "", "PF_* task flags (6.14+ `task_flags:0x…`)"),
        col(
            "stack_free_bytes",
            pa.int64(),
            "bytes",
            "free kernel stack; 0 when the kernel lacks CONFIG_DEBUG_STACK_USAGE",
        ),
        col("pc", pa.uint64(), "", "saved PC (<= 4.8 lines of sleeping tasks)"),
        col(
            "cpu",
            pa.int32(),
            "",
            "CPU from a `running task on cpu N` line (some vendor kernels) or the "
            "`Task dump for CPU N:` line before it",
        ),
        col(
            "generation",
            pa.string(),
            "",
            "line format: <=4.8 (PC column), 4.9-5.8 (glued state), <=5.8 (running task, "
            "same in both), 5.9-5.19, 6.0-6.5, 5.9-6.5 (alignment not telling), 6.6-6.13 (tgid), "
            "6.14+ (task_flags)",
        ),
        col(
            "split", pa.bool_(), "", "the line came as two records (`task:… state:D` + ` stack:…`)"
        ),
        col("workqueue", pa.string(), "", "`Workqueue: <name> <func>` line after it: name"),
        col("work_func", pa.string(), "", "that line's work function (`0x0` when idle)"),
        col("work_desc", pa.string(), "", "worker description in parentheses (`flush-8:0`)"),
        col("stack_id", pa.int64(), "", "the trace printed for it; joins `stacks`/`frames`"),
    ),
)


class TaskDump(SubParser):
    """One sched_show_task() output: task line (or split head + tail), `Workqueue:`, raw stack
    words, then its call trace. Create it on a line for which `is_task_line` is true; it ends
    at the first line that is none of these. Writes one `tasks` row (and the trace rows)."""

    tables = (TASKS,)
    parts = (CallTrace,)

    def __init__(self, owner: Block, first: Line, *, dump_id: int | None = None) -> None:
        super().__init__(owner, first)
        parsed = _task_line(first.text)  # spread into values below, never changed
        self.split = parsed is None
        if parsed is None:
            parsed = parse_task_head(first.text) or {}
            self.pending_tail = True
        else:
            self.pending_tail = False
        self.values: dict[str, Any] = {
            "dump_id": dump_id,
            "line_no": first.line_no,
            "tgid": None,
            "task_flags": None,
            "pc": None,
            "cpu": None,
            "split": self.split,
            "workqueue": None,
            "work_func": None,
            "work_desc": None,
            "stack_id": None,
            **parsed,
        }
        self.trace: CallTrace | None = None
        self.done = False

    @property
    def pid(self) -> int | None:
        pid: int | None = self.values.get("pid")
        return pid

    @property
    def comm(self) -> str | None:
        comm: str | None = self.values.get("comm")
        return comm

    def feed(self, line: Line) -> Feed:
        if self.done:
            return Feed.END
        if self.trace is not None:
            verdict = self.trace.feed(line)
            if verdict is Feed.END:
                self.done = True
            return verdict
        text = line.text
        if self.pending_tail:
            tail = parse_task_tail(text)
            self.pending_tail = False
            if tail is not None:
                self.values.update(tail)
                return Feed.TAKE
            self.problems.append(f"task line of {self.comm!r} lost its ` stack:` continuation")
        m = _WORKQUEUE.match(text)
        if m is not None and self.values["work_func"] is None:
            self.values["workqueue"] = m["wq"] or None
            self.values["work_func"] = m["func"]
            self.values["work_desc"] = m["desc"]
            return Feed.TAKE
        # print_stop_info() `Stopper: %pS <- %pS` (stopper kthreads), print_scx_info() (6.12+)
        if text.startswith(("Stopper: ", "Sched_ext: ")):
            return Feed.TAKE
        if is_trace_start(text) or is_stack_words(text) or parse_frame(text) is not None:
            self.trace = CallTrace(
                self.owner,
                line,
                pid=self.pid,
                comm=self.comm,
                task_row=self.values,
                context="task",
            )
            return Feed.TAKE
        self.done = True
        return Feed.END

    def finish(self, cut: str | None) -> None:
        if self.trace is not None:
            self.trace.finish(cut)
            self.problems.extend(self.trace.problems)
        elif self.pending_tail and cut is not None:
            self.problems.append(f"task line of {self.comm!r} cut before its ` stack:` part")
        self.owner.row("tasks", **self.values)


class OrphanTaskBlock(Block):
    """A task line no other block took, or RCU's `Task dump for CPU N:` + its task
    (kernel/rcu/tree_stall.h: `pr_err("Task dump for CPU %d:\n", cpu); sched_show_task(t);`)."""

    kind = "task_dump"

    def __init__(self, first: Line, event_id: int, sink: Sink, cpu: int | None) -> None:
        super().__init__(first, event_id, sink)
        self.dump_id = self.next_id("dump")
        self.cpu = cpu
        self.dump: TaskDump | None = None
        if cpu is None:
            self._open(first)

    def _open(self, line: Line) -> None:
        self.dump = TaskDump(self, line, dump_id=self.dump_id)
        self.pid, self.comm = self.dump.pid, self.dump.comm
        self.complete = True

    def feed(self, line: Line) -> Feed:
        if self.dump is None:
            if not is_task_line(line.text):
                return Feed.END
            self._open(line)
            if self.dump is not None and self.dump.values.get("cpu") is None:
                self.dump.values["cpu"] = self.cpu
            return Feed.TAKE
        verdict = self.dump.feed(line)
        self.pid = self.dump.pid
        return verdict

    def finish(self, cut: str | None) -> None:
        if self.dump is not None:
            self.dump.finish(cut)
            self.problems.extend(self.dump.problems)
        else:
            self.problems.append("`Task dump for CPU` without a task line")
        super().finish(cut)


class TaskLinesFamily(Family):
    """5.9+ task lines outside any other block (a dump another family does not know, or the
    rest of a dump whose block was cut), RCU `Task dump for CPU N:` dumps; also the home of
    the `tasks` schema."""

    name = "tasklines"
    priority = 850
    triggers = ("task:", "Task dump for CPU ")
    pattern = regex.compile(r"^task:.* state:|^(?:rcu: )?Task dump for CPU (?P<cpu>\d+):")
    tables = (TASKS,)
    parts = (CallTrace,)

    def start(self, line: Line, match: regex.Match[str], event_id: int, sink: Sink) -> Block | None:
        if match["cpu"] is not None:
            return OrphanTaskBlock(line, event_id, sink, int(match["cpu"]))
        if not is_task_line(line.text):
            return None
        return OrphanTaskBlock(line, event_id, sink, None)
