"""Hung-task reports of khungtaskd (kernel/hung_task.c), one event per reported task.

Block grammar (FORMATS-stalls.md §2), told apart by text only:

    INFO: task <comm>:<pid> blocked for more than <N> seconds.
          Not tainted <release> #<n>               (≈3.13+; `Tainted: G  W …` when tainted)
          Blocked by coredump.                    (6.14+, PF_POSTCOREDUMP)
    "echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.
    <sched_show_task: task line, Workqueue:, raw stack words (<= 4.10), Call Trace + frames>
    INFO: task <comm>:<pid> is blocked on a mutex likely owned by task <comm>:<pid>.
    <sched_show_task of the owner>                 (CONFIG_DETECT_HUNG_TASK_BLOCKER, 6.16+)
    Future hung task reports are suppressed, see sysctl kernel.hung_task_warnings

2025 kernels say `blocked in I/O wait for more than` for tasks in io_schedule (syzkaller/1000).

Through ≈4.19 `<N>` is the configured timeout; from ≈4.20 it is the time since the task last
ran (`jiffies - t->last_switch_time`). The per-task
`N locks held by …` (debug_show_held_locks, <= 4.17) and the per-scan `Showing all locks held
in the system:` (debug_show_all_locks) are lockdep's blocks (parsers/lockdep.py); an
all-CPU `NMI backtrace` is parsers/sysrq.py's. linux-next in 2019 carried Tetsuo Handa's
"can't die" variant (`INFO: task <comm>:<pid> can't die for more than <N> seconds.`, no taint
or echo lines), kept here as `kind = cant_die`.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import regex

from .base import EVENT_ID, Block, Family, Feed, Line, Sink, TableSchema, col
from .tasklines import TaskDump, is_task_line

# comm may contain `:`; the pid is the last `:<digits>` before the fixed text. comm is at most
# 15 bytes (TASK_COMM_LEN): bounding it keeps the unanchored search linear on huge lines.
_INFO = regex.compile(
    r"INFO: task (?P<comm>.{1,64}):(?P<pid>\d+) (?P<what>blocked|can't die)"
    r"(?P<iowait> in I/O wait)? for more than "
    r"(?P<secs>\d+) seconds"
)
# "      %s %s %.*s\n": print_tainted() (`Not tainted` / `Tainted: G        W  O`), release, #build
_TAINT = regex.compile(
    r"^\s+(?:Not tainted|Tainted: (?P<taint>[A-Z ]*[A-Z])?) +(?P<release>\S+)(?: (?P<build>#\S+))?"
    r"(?: .*)?$"
)
_ECHO = '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs"'
_BLOCKER = regex.compile(
    r"^INFO: task (?P<comm>.*):(?P<pid>\d+) (?:<(?P<as>reader|writer)> )?(?:is )?blocked on "
    r"(?:a |an )?(?P<kind>mutex|semaphore|rw-semaphore)"
    r"(?: likely (?:owned|last held) by task (?P<ocomm>.*):(?P<opid>\d+)(?: <(?P<by>\w+)>)?\.?"
    r"|, but the (?:owner|last holder) is not found\.)\s*$"
)
_SUPPRESSED = "Future hung task reports are suppressed"
# Without caller ids other CPUs' lines can land between the INFO line and the task line
# (syzkaller/235); that many are skipped as foreign before the report counts as cut.
_MAX_FOREIGN = 20


class HungTaskBlock(Block):
    kind = "hung_task"

    def __init__(self, first: Line, event_id: int, sink: Sink, m: regex.Match[str]) -> None:
        super().__init__(first, event_id, sink)
        self.pid = int(m["pid"])
        self.comm = m["comm"]
        self.dump_id = self.next_id("dump")
        self.values: dict[str, Any] = {
            "boot": first.boot,
            "ts": first.ts,
            "line_no": first.line_no,
            "comm": self.comm,
            "pid": self.pid,
            "kind": "blocked" if m["what"] == "blocked" else "cant_die",
            "blocked_s": int(m["secs"]),
            "iowait": m["iowait"] is not None,
            "tainted": None,
            "release": None,
            "build": None,
            "coredump": False,
            "echo_line": False,
            "task_state": None,
            "stack_id": None,
            "dump_id": self.dump_id,
            "blocker_kind": None,
            "blocker_role": None,
            "blocker_comm": None,
            "blocker_pid": None,
            "blocker_found": None,
            "blocker_stack_id": None,
            "suppressed": False,
        }
        if m.start() > 0:
            self.problems.append(f"report glued behind other text: {first.text[: m.start()]!r}")
        self.task: TaskDump | None = None
        self.owner_dump: TaskDump | None = None
        self.sub: TaskDump | None = None
        self.after_echo_wrap = False
        self.n_foreign = 0

    def feed(self, line: Line) -> Feed:
        if self.sub is not None:
            verdict = self.sub.feed(line)
            if verdict is not Feed.END:
                return verdict
            self._close_sub(None)
        text = line.text
        v = self.values
        if self.task is None:
            if self.after_echo_wrap and text.strip() == "disables this message.":
                # a mail/terminal wrap of the echo line
                self.after_echo_wrap = False
                return Feed.TAKE
            self.after_echo_wrap = False
            m = _TAINT.match(text)
            if m is not None and v["release"] is None and v["kind"] == "blocked":
                v["tainted"] = "" if m["taint"] is None else "".join(m["taint"].split())
                v["release"], v["build"] = m["release"], m["build"]
                return Feed.TAKE
            if text.strip() == "Blocked by coredump.":
                v["coredump"] = True
                return Feed.TAKE
            if text.startswith(_ECHO):
                v["echo_line"] = True
                self.after_echo_wrap = "disables" not in text
                return Feed.TAKE
            if is_task_line(text):
                self.task = self.sub = TaskDump(self, line, dump_id=self.dump_id)
                if self.task.pid is not None and self.task.pid != self.pid:
                    self.problems.append(
                        f"task line pid {self.task.pid} is not the hung task's {self.pid}"
                    )
                return Feed.TAKE
            if line.caller is None and self.n_foreign < _MAX_FOREIGN and "INFO: task " not in text:
                self.n_foreign += 1
                return Feed.SKIP
            return Feed.END
        m = _BLOCKER.match(text)
        if m is not None and v["blocker_kind"] is None and int(m["pid"]) == self.pid:
            v["blocker_kind"] = m["kind"]
            v["blocker_role"] = m["as"]
            v["blocker_found"] = m["opid"] is not None
            if m["opid"] is not None:
                v["blocker_comm"], v["blocker_pid"] = m["ocomm"], int(m["opid"])
            return Feed.TAKE
        if v["blocker_found"] and self.owner_dump is None and is_task_line(text):
            self.owner_dump = self.sub = TaskDump(self, line, dump_id=self.dump_id)
            return Feed.TAKE
        if text.startswith(_SUPPRESSED):
            v["suppressed"] = True
            return Feed.TAKE
        return Feed.END

    def _close_sub(self, cut: str | None) -> None:
        sub = self.sub
        if sub is None:
            return
        self.sub = None
        sub.finish(cut)
        self.problems.extend(sub.problems)
        if sub is self.task:
            self.values["task_state"] = sub.values.get("state")
            self.values["stack_id"] = sub.values.get("stack_id")
            self.complete = True
        else:
            self.values["blocker_stack_id"] = sub.values.get("stack_id")

    def finish(self, cut: str | None) -> None:
        self._close_sub(cut)
        if self.task is None:
            self.problems.append("no task line after the INFO line")
        self.row("hung_tasks", **self.values)
        super().finish(cut)


class HungTaskFamily(Family):
    parts = (TaskDump,)
    name = "hung_task"
    triggers = ("INFO: task ",)
    pattern = _INFO
    tables = (
        TableSchema(
            "hung_tasks",
            "One row per khungtaskd report (`INFO: task comm:pid blocked for more than N "
            "seconds.`); the task line is in `tasks` (same `dump_id`), its frames in `frames`.",
            (
                EVENT_ID,
                col("boot", pa.int32(), "", "boot number in the capture"),
                col("ts", pa.float64(), "s", "seconds since boot of the INFO line (null if none)"),
                col("line_no", pa.int64(), "", "line of the INFO line"),
                col("comm", pa.string(), "", "hung task's name (untrusted text)"),
                col("pid", pa.int64(), "", "hung task's pid"),
                col(
                    "kind",
                    pa.string(),
                    "",
                    "blocked (D state past the timeout) or cant_die (2019 linux-next: killed "
                    "task that does not exit)",
                ),
                col(
                    "blocked_s",
                    pa.int64(),
                    "s",
                    "the printed seconds: the configured timeout through ≈4.19, the real "
                    "time since the task last ran from ≈v4.20 (`last_switch_time`)",
                ),
                col(
                    "iowait",
                    pa.bool_(),
                    "",
                    "`blocked in I/O wait for more than` (2025 kernels: the task sleeps in "
                    "io_schedule)",
                ),
                col(
                    "tainted",
                    pa.string(),
                    "",
                    "taint letters of the second line, '' for `Not tainted`, null when "
                    "the line is absent (<≈3.13 kernels)",
                ),
                col("release", pa.string(), "", "kernel release from that line"),
                col("build", pa.string(), "", "build number from that line (`#1`)"),
                col("coredump", pa.bool_(), "", "`Blocked by coredump.` line (6.14+)"),
                col("echo_line", pa.bool_(), "", 'the `"echo 0 > …" disables` line was seen'),
                col("task_state", pa.string(), "", "state letter of its task line (D, …)"),
                col("stack_id", pa.int64(), "", "its call trace; joins `stacks`/`frames`"),
                col("dump_id", pa.int64(), "", "joins `tasks.dump_id` (task and blocker owner)"),
                col(
                    "blocker_kind",
                    pa.string(),
                    "",
                    "mutex, semaphore or rw-semaphore from a `… blocked on …` line "
                    "(CONFIG_DETECT_HUNG_TASK_BLOCKER)",
                ),
                col("blocker_role", pa.string(), "", "reader/writer for an rw-semaphore"),
                col("blocker_comm", pa.string(), "", "likely owner (or last holder): name"),
                col("blocker_pid", pa.int64(), "", "likely owner: pid"),
                col(
                    "blocker_found",
                    pa.bool_(),
                    "",
                    "False for `… but the owner is not found.`; null without blocker line",
                ),
                col("blocker_stack_id", pa.int64(), "", "the owner's trace, when printed"),
                col(
                    "suppressed",
                    pa.bool_(),
                    "",
                    "`Future hung task reports are suppressed` followed: the warning budget "
                    "(kernel.hung_task_warnings) is spent",
                ),
            ),
        ),
    )

    def start(self, line: Line, match: regex.Match[str], event_id: int, sink: Sink) -> Block:
        return HungTaskBlock(line, event_id, sink, match)
