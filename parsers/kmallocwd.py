"""kmallocwd, Tetsuo Handa's memory-allocation watchdog (out of tree, 2015-10 -> 2017-11):
`MemAlloc-Info:` scan lines (`memalloc_scans`) and `MemAlloc:` task lines (`memalloc`).

Ten generations (FORMATS-stalls.md §1, with the Message-Ids of each patch), told apart by
their text only. Scan lines:

* P0, P1, v1, v2, v3-v4: `MemAlloc-Info: %u stalling task, %u dying task, %u victim task.`
* D1: `… %u exiting task, %u victim task. oom_count=%u`
* D2: `MemAlloc-Info: stalling=%u dying=%u exiting=%u, victim=%u oom_count=%u` (comma)
* D3: `… victim=%u oom_count=%u/%u` (out_of_memory() calls / allocations that skipped it)
* v5-v9: `… victim=%u oom_count=%u`, printed twice: header and, after show_mem, workqueues
  and locks, a trailer with the counts recomputed (D3 debug builds do the same)
* S: the SystemTap companion's `… victim=%u` (no oom_count)

Task lines:

* P0: `MemAlloc%s: %s(%u) gfp=0x%x order=%u delay=%lu` (`%s` = `-victim`, `-dying`, ``)
* v1: stalling tasks as P0 untagged; dying tasks `MemAlloc: %s(%u)` + ` uninterruptible`,
  ` dying`, ` victim`
* v2: `MemAlloc: %s(%u)` + ` gfp=0x%x order=%u delay=%lu` + those suffixes
* v3-v4: ` seq=%u gfp=0x%x order=… delay=…` + suffixes, ` exiting` among them
* D1: ` seq=%u gfp=0x%x(%pGg) order=… delay=…` + the same suffixes
* D2: ` flags=0x%x` + ` seq=… gfp=0x%x(%pGg) order=… delay=…` + suffixes
* D3, v5-v9: ` flags=0x%x switches=%lu` + the D2 part + suffixes; D3 debug builds may print
  `Call Trace: looping inside shrink_inactive_list()` / `Call Trace: waiting for oom_lock`
  instead of a trace
* S: the D3 form with only ` uninterruptible`, printed inside sched_show_task() after the
  task line and before `Call Trace:` (so the trace follows the MemAlloc line)

A line fits several generations when their formats print it the same way; `generation` then
lists them all (`P0|v1|v2`), narrowed by the scan line of the same scan (for MemAlloc lines
without one, by the boot's last scan line: one kmallocwd build per boot). The suffix flags are
NA where a generation that fits does not print that suffix. `delay=` is in jiffies (HZ is
not printed anywhere: `with_hz` converts when the user knows it); `seq` is `sequence >> 1`
in v3..D3.

A scan groups the scan line, its MemAlloc lines with their sched_show_task dumps (task line,
trace: `tasks`/`frames` rows of the same event) and its Mem-Info. A run of MemAlloc lines
cut from its scan line by another message continues that scan.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import regex

from .base import (
    EVENT_ID,
    Block,
    Context,
    Family,
    Feed,
    Line,
    Sink,
    SubParser,
    TableSchema,
    col,
)
from .kmallocwd_gens import (
    _G_ALL,
    _G_D1,
    _G_D2,
    _G_D3,
    _G_D3_V5,
    _G_OLD,
    _G_S,
    Gens,
    _label,
    suffix_flags,
    task_fit,
    task_generations_of,
)
from .meminfo import MemInfo, is_meminfo_start
from .stacktrace import CallTrace, is_trace_start
from .tasklines import TaskDump, is_task_line

_INFO_OLD = re.compile(
    r"^MemAlloc-Info: (?P<stalling>\d+) stalling task, (?P<dying>\d+) dying task, "
    r"(?:(?P<exiting>\d+) exiting task, )?(?P<victim>\d+) victim task\."
    r"(?: oom_count=(?P<oom>\d+))?\s*$"
)
_INFO_NEW = re.compile(
    r"^MemAlloc-Info: stalling=(?P<stalling>\d+) dying=(?P<dying>\d+) "
    r"exiting=(?P<exiting>\d+)(?P<comma>,)? victim=(?P<victim>\d+)"
    r"(?: oom_count=(?P<oom>\d+)(?:/(?P<oom2>\d+))?)?\s*$"
)
# comm is greedy and the pid the last `(digits)` before the fixed fields (comm may hold `(`)
_TASK = re.compile(
    r"^MemAlloc(?P<tag>-victim|-dying)?: (?P<comm>.*)\((?P<pid>\d+)\)"
    r"(?: flags=0x(?P<flags>[0-9a-fA-F]+))?(?: switches=(?P<switches>\d+))?"
    r"(?: seq=(?P<seq>\d+))?"
    r"(?: gfp=(?P<mask>0x[0-9a-fA-F]+)(?:\((?P<gfp_flags>[^)]*)\))? order=(?P<order>\d+)"
    r" delay=(?P<delay>\d+))?"
    r"(?P<u> uninterruptible)?(?P<e> exiting)?(?P<d> dying)?(?P<v> victim)?\s*$"
)
# The same with a comm free of parentheses: no backtracking from the line's end. When it
# matches, _TASK matches with the same groups (a later `(digits)` could only close the gfp
# flag names, and ` order=` cannot follow the pid); otherwise _TASK decides.
_TASK_PLAIN = re.compile(_TASK.pattern.replace(r"(?P<comm>.*)\(", r"(?P<comm>[^()\n]*)\(", 1))


def _task_match(text: str) -> re.Match[str] | None:
    return _TASK_PLAIN.match(text) or _TASK.match(text)


_PSEUDO = "Call Trace: "  # D3 debug build: `Call Trace: waiting for oom_lock`
MAX_JOIN_GAP_S = 60.0  # MemAlloc lines this close to their scan line continue it
MAX_FOREIGN_RUN = 3  # foreign lines in a row accepted inside a task list without caller ids
# what follows the task list of a scan (show_workqueue_state, debug_show_all_locks)
_ENDERS = ("Showing busy workqueues", "Showing all locks held", "MemAlloc")


def scan_generations(m: re.Match[str]) -> Gens:
    if m.re is _INFO_OLD:
        if m["exiting"] is None:
            return _G_OLD
        return _G_D1
    if m["comma"]:
        return _G_D2
    if m["oom2"] is not None:
        return _G_D3
    if m["oom"] is None:
        return _G_S
    return _G_D3_V5  # D3's trailer-less debug builds also printed `oom_count=%u/%u`


MEMALLOC = TableSchema(
    "memalloc",
    "One row per kmallocwd `MemAlloc:` task line (all generations). `delay_jiffies` is as "
    "printed; `delay_s` needs HZ, which the kernel does not print (`stalllog.parsers.kmallocwd."
    "with_hz(df, hz)`). Suffix flags are NA where the line's generation does not print them.",
    (
        EVENT_ID,
        col("scan_id", pa.int64(), "", "the scan (`memalloc_scans`); null when no scan line seen"),
        col("boot", pa.int32(), "", "boot number in the capture"),
        col("ts", pa.float64(), "s", "time of the line (null if none)"),
        col("line_no", pa.int64(), "", "line of the MemAlloc line"),
        col("comm", pa.string(), "", "task name (untrusted text)"),
        col("pid", pa.int64(), "", "pid (kmallocwd prints the thread id, never a tgid)"),
        col("tag", pa.string(), "", "P0 only: `victim` / `dying` from `MemAlloc-victim:`"),
        col("flags", pa.int64(), "", "PF_* task flags (`flags=0x…`, D2+)"),
        col("switches", pa.int64(), "", "context switches so far (nvcsw + nivcsw, D3+)"),
        col("seq", pa.int64(), "", "allocation sequence number (v3..D3 print it halved)"),
        col("gfp_mask", pa.int64(), "", "gfp mask of the stalling allocation"),
        col(
            "gfp_flags",
            pa.string(),
            "",
            "flag names of the mask: as printed (D2+), or decoded by stalllog; null if neither",
        ),
        col("gfp_flags_decoded", pa.bool_(), "", "True when stalllog decoded gfp_flags"),
        col("order", pa.int32(), "", "allocation order"),
        col(
            "delay_jiffies", pa.int64(), "jiffies", "time since the allocation entered the slowpath"
        ),
        col("delay_s", pa.float64(), "s", "delay_jiffies / HZ; NA unless HZ is given"),
        col("uninterruptible", pa.bool_(), "", "` uninterruptible`: task in TASK_UNINTERRUPTIBLE"),
        col("exiting", pa.bool_(), "", "` exiting`: PF_EXITING and not TASK_DEAD"),
        col("dying", pa.bool_(), "", "` dying`: fatal signal pending (or P0 `-dying`)"),
        col("victim", pa.bool_(), "", "` victim`: TIF_MEMDIE, an OOM victim (or P0 `-victim`)"),
        col("stalling", pa.bool_(), "", "the line has the seq/gfp/order/delay part"),
        col("generation", pa.string(), "", "kmallocwd generation(s) the line fits, `|`-joined"),
        col(
            "pseudo_trace",
            pa.string(),
            "",
            "D3 debug text printed instead of a trace (`waiting for oom_lock`)",
        ),
        col("task_line_no", pa.int64(), "", "line of its sched_show_task task line (`tasks`)"),
        col("task_state", pa.string(), "", "state letter of that task line"),
        col("stack_id", pa.int64(), "", "its call trace (`stacks`/`frames`)"),
    ),
)

MEMALLOC_SCANS = TableSchema(
    "memalloc_scans",
    "One row per kmallocwd `MemAlloc-Info:` line. v5..v9 print it before the task list "
    "(header) and again after show_mem/workqueues/locks with recounted values (trailer).",
    (
        col("scan_id", pa.int64(), "", "scan number in the capture, from 0"),
        EVENT_ID,
        col("boot", pa.int32(), "", "boot number in the capture"),
        col("ts", pa.float64(), "s", "time of the line (null if none)"),
        col("line_no", pa.int64(), "", "line of the MemAlloc-Info line"),
        col("position", pa.string(), "", "header or trailer"),
        col("header_scan_id", pa.int64(), "", "trailer: the scan_id of its header"),
        col("stalling", pa.int64(), "tasks", "tasks stalling in the allocator"),
        col("dying", pa.int64(), "tasks", "tasks with a fatal signal pending"),
        col("exiting", pa.int64(), "tasks", "exiting tasks (D1+)"),
        col("victim", pa.int64(), "tasks", "OOM victims (TIF_MEMDIE)"),
        col("oom_count", pa.int64(), "calls", "cumulative out_of_memory() calls (D1+)"),
        col(
            "no_oom_count",
            pa.int64(),
            "calls",
            "D3 `oom_count=a/b` second count: allocations that skipped the OOM killer",
        ),
        col("generation", pa.string(), "", "kmallocwd generation(s) the line fits, `|`-joined"),
        col("n_tasks", pa.int32(), "tasks", "MemAlloc lines seen in this scan"),
        col("meminfo_id", pa.int64(), "", "the scan's Mem-Info snapshot"),
        col(
            "dropped",
            pa.int64(),
            "messages",
            "`** N printk messages dropped **` inside the scan (summed): the scan is incomplete",
        ),
    ),
)


def _check_hz(hz: int | float) -> None:
    if not hz or hz <= 0 or math.isnan(hz):
        raise ValueError(f"HZ must be a positive number, not {hz!r}")


def with_hz(memalloc: pd.DataFrame, hz: int | float) -> pd.DataFrame:
    """`memalloc` with `delay_s` = delay_jiffies / hz (CONFIG_HZ: 100, 250, 300 or 1000)."""
    _check_hz(hz)
    out = memalloc.copy()
    out["delay_s"] = (out["delay_jiffies"] / hz).astype(out["delay_s"].dtype)
    return out


def with_hz_arrow(memalloc: pa.Table, hz: int | float) -> pa.Table:
    """The same on the Arrow table (for `stalllog.parse(..., hz=)` before output)."""
    _check_hz(hz)
    i = memalloc.schema.get_field_index("delay_s")
    delay_s = pc.divide(pc.cast(memalloc.column("delay_jiffies"), pa.float64()), float(hz))
    return memalloc.set_column(i, memalloc.schema.field(i), delay_s)


class _Scan:
    """What a scan keeps across the blocks it is spread over."""

    def __init__(self, row: dict[str, Any] | None, gens: Gens, line: Line) -> None:
        self.row = row  # the memalloc_scans row (None: MemAlloc lines with no scan line)
        self.gens = gens
        self.last_ts = line.ts
        self.meminfo_seen = False
        self.paired = False
        self.prev: _Scan | None = None  # the stream's scan before this one (header/trailer)


class MemAllocBlock(Block):
    kind = "memalloc_scan"

    def __init__(self, first: Line, event_id: int, sink: Sink, scan: _Scan) -> None:
        super().__init__(first, event_id, sink)
        self.scan = scan
        self.rows: list[dict[str, Any]] = []
        self.sub: SubParser | None = None
        self.dump_id: int | None = None
        self.complete = True
        self.n_foreign_run = 0
        self._last_groups: tuple[str | None, ...] = ()  # the groups of rows[-1]

    def feed(self, line: Line) -> Feed:
        if line.dropped and self.scan.row is not None:
            self.scan.row["dropped"] = (self.scan.row["dropped"] or 0) + line.dropped
        if self.sub is not None:
            verdict = self.sub.feed(line)
            if verdict is not Feed.END:
                return verdict
            self._close_sub(None)
        verdict = self._own(line)
        if verdict is not Feed.END:
            self.n_foreign_run = 0
            return verdict
        text = line.text
        if (
            line.caller is None
            and self.rows
            and not self.scan.meminfo_seen
            and self.n_foreign_run < MAX_FOREIGN_RUN
            and text.strip()
            and not text.startswith(_ENDERS)
        ):
            # without caller ids other CPUs' lines land inside the task list
            self.n_foreign_run += 1
            return Feed.SKIP
        return Feed.END

    def _own(self, line: Line) -> Feed:
        text = line.text
        if text.startswith("MemAlloc"):
            if text.startswith("MemAlloc-Info:") or self.scan.meminfo_seen:
                return Feed.END
            m = _task_match(text)
            if m is None:
                self.problems.append(f"MemAlloc line {line.line_no} unreadable")
                return Feed.TAKE
            self.task_line(line, m)
            return Feed.TAKE
        if not self.scan.meminfo_seen:
            if is_task_line(text):
                if self.dump_id is None:
                    self.dump_id = self.next_id("dump")
                self.sub = TaskDump(self, line, dump_id=self.dump_id)
                return Feed.TAKE
            last = self.rows[-1] if self.rows else None
            if text.startswith(_PSEUDO) and not is_trace_start(text[len(_PSEUDO) :]):
                rest = text[len(_PSEUDO) :].strip()
                if last is not None and rest and not rest.startswith("["):
                    last["pseudo_trace"] = rest
                    return Feed.TAKE
            if line.dropped and is_trace_start(text):
                # the rest of a trace whose task line was lost with the dropped messages
                self.sub = CallTrace(self, line)
                return Feed.TAKE
            if last is not None and last["stack_id"] is None and is_trace_start(text):
                # S: the MemAlloc line sits between the task line and its trace
                trace = CallTrace(self, line, pid=last["pid"], comm=last["comm"], context="task")
                last["stack_id"] = trace.stack_id
                if "S" in self.scan.gens or self.scan.row is None:
                    self._narrow_s(last)
                self.sub = trace
                return Feed.TAKE
        if not self.scan.meminfo_seen and is_meminfo_start(text):
            self.scan.meminfo_seen = True
            meminfo = MemInfo(self, line)
            if self.scan.row is not None:
                self.scan.row["meminfo_id"] = meminfo.snapshot_id
            self.sub = meminfo
            return Feed.TAKE
        return Feed.END

    def task_line(self, line: Line, m: re.Match[str]) -> None:
        g = m.groups()  # positional: one call, not a look-up per named group
        tag, comm, pid, flags, switches, seq, mask, gfp_flags, order, delay = g[:10]
        scan_row = self.scan.row
        # memoized per line shape: generations, fit and suffix flags in one call
        fits, label, u, e, d, v = task_fit(
            task_generations_of(g), self.scan.gens, mask is not None, g[10] is not None,
            g[11] is not None, g[12] is not None, g[13] is not None, tag,
        )  # fmt: skip
        if scan_row is not None and not fits:
            self.problems.append(
                f"MemAlloc line {line.line_no} does not fit the scan line's generation"
            )
        row: dict[str, Any] = {
            "event_id": self.event_id,
            "scan_id": scan_row["scan_id"] if scan_row is not None else None,
            "boot": line.boot,
            "ts": line.ts,
            "line_no": line.line_no,
            "comm": comm,
            "pid": int(pid),
            "tag": tag[1:] if tag else None,
            "flags": int(flags, 16) if flags else None,
            "switches": int(switches) if switches else None,
            "seq": int(seq) if seq else None,
            "gfp_mask": int(mask, 16) if mask else None,
            "gfp_flags": gfp_flags,
            "gfp_flags_decoded": False,
            "order": int(order) if order else None,
            "delay_jiffies": int(delay) if delay else None,
            "delay_s": None,
            "uninterruptible": u,
            "exiting": e,
            "dying": d,
            "victim": v,
            "stalling": mask is not None,
            "generation": label,
            "pseudo_trace": None,
            "task_line_no": None,
            "task_state": None,
            "stack_id": None,
        }
        self.rows.append(row)
        self._last_groups = g
        if scan_row is not None:
            scan_row["n_tasks"] += 1
        if self.pid is None and len(self.rows) == 1 and scan_row is None:
            self.pid, self.comm = row["pid"], row["comm"]

    def _narrow_s(self, row: dict[str, Any]) -> None:
        """The last task line is S's (its trace follows it): generation and suffix flags."""
        g = self._last_groups
        (row["generation"], row["uninterruptible"], row["exiting"], row["dying"],
         row["victim"]) = suffix_flags(_G_S, g[6] is not None, g[10] is not None,
                                       g[11] is not None, g[12] is not None,
                                       g[13] is not None, g[0])  # fmt: skip

    def _close_sub(self, cut: str | None) -> None:
        sub, self.sub = self.sub, None
        if sub is None:
            return
        sub.finish(cut)
        self.problems.extend(sub.problems)
        if isinstance(sub, TaskDump):
            # v3+: right after its MemAlloc line; v1/v2: after all of them. Join by pid.
            for row in reversed(self.rows):
                if row["pid"] == sub.pid and row["task_line_no"] is None:
                    row["task_line_no"] = sub.values["line_no"]
                    row["task_state"] = sub.values.get("state")
                    row["stack_id"] = sub.values.get("stack_id")
                    break

    def finish(self, cut: str | None) -> None:
        self._close_sub(cut)
        super().finish(cut)
        if self.rows and not math.isnan(self.rows[-1]["ts"]):
            self.scan.last_ts = self.rows[-1]["ts"]
        sink_row = self._sink.row  # rows carry event_id already (task_line)
        for row in self.rows:
            sink_row("memalloc", row)


class KmallocwdFamily(Family):
    name = "kmallocwd"
    priority = 60
    triggers = ("MemAlloc",)
    pattern = regex.compile(r"^MemAlloc(?:-Info|-victim|-dying)?: ")
    tables = (MEMALLOC, MEMALLOC_SCANS)
    parts = (TaskDump, CallTrace, MemInfo)

    def post(self, tables: dict[str, pa.Table], context: Context) -> dict[str, pa.Table]:
        if context.hz is None or "memalloc" not in tables:
            return tables
        return {**tables, "memalloc": with_hz_arrow(tables["memalloc"], context.hz)}

    def __init__(self) -> None:
        self._scans: dict[tuple[str, int, str | None], _Scan] = {}
        # generations of the last scan line of each boot: the same kmallocwd build prints
        # the MemAlloc lines that come without a scan line of their own
        self._boot_gens: dict[tuple[str, int], Gens] = {}

    def start(self, line: Line, match: regex.Match[str], event_id: int, sink: Sink) -> Block | None:
        text = line.text
        key = (line.source, line.boot, line.caller)
        if text.startswith("MemAlloc-Info:"):
            m = _INFO_NEW.match(text) or _INFO_OLD.match(text)
            if m is None:
                return None
            prev = self._scans.get(key)
            row: dict[str, Any] = {
                "scan_id": sink.next_id("memalloc_scan"),
                "event_id": event_id,
                "boot": line.boot,
                "ts": line.ts,
                "line_no": line.line_no,
                "position": "header",
                "header_scan_id": None,
                "stalling": int(m["stalling"]),
                "dying": int(m["dying"]),
                "exiting": int(m["exiting"]) if m["exiting"] is not None else None,
                "victim": int(m["victim"]),
                "oom_count": int(m["oom"]) if m["oom"] is not None else None,
                "no_oom_count": int(m["oom2"]) if m.groupdict().get("oom2") else None,
                "generation": None,
                "n_tasks": 0,
                "meminfo_id": None,
                "dropped": None,
            }
            gens = scan_generations(m)
            self._boot_gens[(line.source, line.boot)] = gens
            row["generation"] = _label(gens)
            sink.row("memalloc_scans", row)
            scan = _Scan(row, gens, line)
            scan.prev = prev
            self._scans[key] = scan
            return _ScanBlock(line, event_id, sink, scan)
        m2 = _task_match(text)
        if m2 is None:
            return None
        last = self._scans.get(key)
        if (
            last is None
            or last.row is None
            or last.meminfo_seen
            or last.paired
            or (
                not math.isnan(line.ts)
                and not math.isnan(last.last_ts)
                and not 0 <= line.ts - last.last_ts <= MAX_JOIN_GAP_S
            )
        ):
            gens = self._boot_gens.get((line.source, line.boot), _G_ALL)
            last = _Scan(None, gens, line)
            self._scans[key] = last
        scan = last
        block = MemAllocBlock(line, event_id, sink, scan)
        block.task_line(line, m2)
        return block


def _may_be_trailer_of(row: dict[str, Any], header: dict[str, Any]) -> bool:
    """The trailer recounts only the tasks the header's pass flagged (plus a few that began
    stalling meanwhile), so it cannot count many more (D3 posted log: 67 -> 1011 is a new scan)."""
    flagged = sum(header[k] or 0 for k in ("stalling", "dying", "exiting", "victim"))
    return (row["stalling"] or 0) <= flagged + _TRAILER_SLACK


_TRAILER_SLACK = 8


class _ScanBlock(MemAllocBlock):
    """A block that starts on a `MemAlloc-Info:` line."""

    def finish(self, cut: str | None) -> None:
        super().finish(cut)
        row = self.scan.row
        assert row is not None
        prev = self.scan.prev
        self.scan.prev = None
        # A scan line with no task list of its own right after a header of a generation
        # that prints a trailer (v5..v9; D3 debug builds) is that header's trailer.
        if (
            row["n_tasks"] == 0
            and prev is not None
            and prev.row is not None
            and prev.row["position"] == "header"
            and not prev.paired
            and self.scan.gens & {"D3", "v5-v9"}
            and prev.gens & self.scan.gens
            and _may_be_trailer_of(row, prev.row)
        ):
            row["position"] = "trailer"
            row["header_scan_id"] = prev.row["scan_id"]
            prev.paired = True
            self.scan.paired = True
