"""The tail of a report that dump_stack() and show_mem() print after its own lines: the
dump_stack header, `Hardware name:`/`Workqueue:`/`Modules linked in:`, the call trace (with
registers) and the Mem-Info. Shared by parsers/warn_alloc.py and parsers/lockup.py."""

from __future__ import annotations

import re
from typing import Any

from .base import Block, Feed, Line, SubParser
from .meminfo import MemInfo, is_meminfo_start
from .stacktrace import (
    CallTrace,
    is_dump_stack_header,
    is_register_line,
    is_stack_words,
    is_trace_start,
    parse_dump_stack_header,
    parse_frame,
)

# pid/comm of a dump_stack header that parse_dump_stack_header cannot read whole (wrapped,
# vendor taint blocks)
_DUMP_PID = re.compile(
    r"^(?:CPU: \d+ (?:UID: \d+ )?PID: (?P<pid>\d+)(?: Comm: (?P<comm>\S+))?"
    r"|Pid: (?P<pid2>\d+), comm: (?P<comm2>\S+))"
)
# the last line of a trace that reached the bottom of its stack: a foreign line after it
# follows the report rather than interrupting the trace
_BOTTOM = re.compile(
    r"</TASK>|ret_from_fork|entry_SYSCALL|system_call|secondary_startup|start_secondary"
    r"|cpu_startup_entry|start_kernel|el0t?_\w*sync|el0_svc|^\s*R13: "
)
MAX_FOREIGN = 8  # foreign lines accepted inside one report without caller ids


def _header_fallback(text: str) -> dict[str, Any]:
    m = _DUMP_PID.match(text)
    if m is None:
        return {}
    return {"pid": int(m["pid"] or m["pid2"]), "comm": m["comm"] or m["comm2"]}


class SkipCount:
    """Foreign lines a block let through (SKIP): the dispatcher notes them in the event's
    reason after `finish`, so a block that writes its own `corrupted`/`reason` counts them."""

    def __init__(self) -> None:
        self.n = 0
        self.first: int | None = None

    def __call__(self, verdict: Feed, line: Line) -> Feed:
        if verdict is Feed.SKIP:
            self.n += 1
            if self.first is None:
                self.first = line.line_no
        return verdict

    def reasons(self, problems: list[str]) -> str | None:
        out = list(problems)
        if self.n:
            out.append(f"{self.n} foreign line(s) inside (first at line {self.first})")
        return "; ".join(out) or None


class DumpParts:
    """The dump_stack header, `Hardware name:`/`Workqueue:`/`Modules linked in:` lines, the
    call trace (with registers) and the Mem-Info of a report, parsed for `owner`.

    `feed` returns None for a line that is none of these. Without caller ids a foreign line
    right after a trace frame is accepted (SKIP) up to `MAX_FOREIGN` times, and the trace goes
    on if frames follow (the dispatcher notes every skipped line in the event's reason)."""

    parts = (CallTrace, MemInfo)  # what a report using it writes through it

    def __init__(self, owner: Block, *, meminfo: bool = True) -> None:
        self.owner = owner
        self.allow_meminfo = meminfo
        self.sub: SubParser | None = None
        self.trace: CallTrace | None = None
        self.paused: CallTrace | None = None  # a trace a foreign line interrupted
        self.meminfo: MemInfo | None = None
        self.header: dict[str, Any] | None = None
        self.stack_id: int | None = None
        self.meminfo_id: int | None = None
        self.n_foreign = 0
        self.last_trace_text = ""
        self.hardware_seen = False

    def feed(self, line: Line) -> Feed | None:
        if self.paused is not None:
            trace, self.paused = self.paused, None
            if parse_frame(line.text) is not None and trace.feed(line) is Feed.TAKE:
                self.sub = trace
                return Feed.TAKE
            self._end(trace, None)
        if self.sub is not None:
            verdict = self.sub.feed(line)
            if verdict is not Feed.END:
                if verdict is Feed.TAKE and self.sub is self.trace:
                    self.last_trace_text = line.text
                return verdict
            sub, self.sub = self.sub, None
            if (
                sub is self.trace
                and line.caller is None
                and not _BOTTOM.search(self.last_trace_text)
                and self.n_foreign < MAX_FOREIGN
                and self._foreign(line.text)
            ):
                self.paused = sub
                self._note_foreign(line)
                return Feed.SKIP
            self._end(sub, None)
        text = line.text
        if is_dump_stack_header(text):
            if text.startswith("Hardware name: "):
                self.hardware_seen = True
                return Feed.TAKE
            if self.header is not None or self.trace is not None:
                return None  # a second dump: another report
            self.header = parse_dump_stack_header(text) or _header_fallback(text)
            return Feed.TAKE
        if text.startswith(("Workqueue: ", "Tainted: [", "Modules linked in:")):
            return Feed.TAKE
        if self.trace is None and (
            is_trace_start(text)
            or is_register_line(text)
            or (
                (self.header is not None or self.hardware_seen)
                and (is_stack_words(text) or parse_frame(text))
            )
        ):
            pid = self.header.get("pid") if self.header else self.owner.pid
            comm = self.header.get("comm") if self.header else self.owner.comm
            self.trace = CallTrace(self.owner, line, pid=pid, comm=comm)
            self.stack_id = self.trace.stack_id
            self.sub = self.trace
            return Feed.TAKE
        if self.allow_meminfo and self.meminfo is None and is_meminfo_start(text):
            self.meminfo = MemInfo(self.owner, line)
            self.meminfo_id = self.meminfo.snapshot_id
            self.sub = self.meminfo
            return Feed.TAKE
        return None

    @staticmethod
    def _foreign(text: str) -> bool:
        """A line that is no known part of a report (so not the start of the next one)."""
        return bool(text.strip()) and not (
            is_meminfo_start(text) or is_dump_stack_header(text) or is_trace_start(text)
        )

    def _note_foreign(self, line: Line) -> None:
        self.n_foreign += 1

    def skip(self, line: Line) -> Feed:
        """The owner accepts a foreign line inside its report."""
        self._note_foreign(line)
        return Feed.SKIP

    def _end(self, sub: SubParser, cut: str | None) -> None:
        sub.finish(cut)
        self.owner.problems.extend(sub.problems)

    def finish(self, cut: str | None) -> None:
        if self.paused is not None:
            self._end(self.paused, None)
            self.paused = None
        if self.sub is not None:
            self._end(self.sub, cut)
            self.sub = None


# text that starts a report of its own: never taken as a foreign line inside another
_REPORT_MARKS = (
    "BUG: ",
    "INFO: ",
    "WARNING: ",
    "Kernel panic",
    "cut here ]",
    "invoked oom-killer",
    "MemAlloc",
    "sysrq: ",
    "SysRq : ",
    "NMI backtrace",
    "Watchdog detected",
    "detected stall",
)


def may_be_foreign(text: str) -> bool:
    """Before its trace a report without caller ids may have other CPUs' lines inside: a
    line that is no part of a report and opens none can be one of those."""
    return DumpParts._foreign(text) and opens_nothing(text)


def opens_nothing(text: str) -> bool:
    """The line starts no report (it may be part of one: a trace frame)."""
    return start_kind(text) is None and not any(mark in text for mark in _REPORT_MARKS)


def start_kind(text: str) -> str | None:
    """Which report a line opens: stall, page, vmalloc, slub; None if none."""
    if "page allocation stalls for" in text:
        return "stall"
    if text.startswith("SLUB: Unable to allocate memory"):
        return "slub"
    if "vmalloc: allocation failure" in text or "vmalloc error: size" in text:
        return "vmalloc"
    if "page allocation failure" in text:
        return "page"
    return None
