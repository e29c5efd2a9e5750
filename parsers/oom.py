"""OOM killer reports (mm/oom_kill.c): one block per dump, one `oom_events` row per OOM
invocation and/or kill, the dump's task table in `oom_tasks`.

A dump (FORMATS-memory.md §3) is: the `<comm> invoked oom-killer: gfp_mask=…` header, the
cpuset line (<= 4.19 its own line, 5.0+ folded into `oom-kill:`), dump_stack (header + call
trace, parsers/stacktrace.py), Mem-Info (parsers/meminfo.py) or the memcg part (parsers/memcg.py),
the task table, the `oom-kill:` summary (5.0+) and the kill lines. Variants are told apart by
their text:

* header: `oomkilladj=` (<= 2.6.30), `oom_adj=` (2.6.31-2.6.35), `oom_adj=…, oom_score_adj=`
  (2.6.36-3.6, RHEL6), `oom_score_adj=` (3.7+); `gfp_mask=%#x(%pGg)` flag names from 4.5;
  `nodemask=` from 4.9 to 4.19 (4.11-4.14 print `,  order=` with two spaces); sysrq-f passes
  order=-1.
* victim: <= 5.0 `<msg>: Kill process P (c) score S or sacrifice child` then `Killed process C
  (c) total-vm:…` (C may be a child of P); 5.1+ (bbbe48029720, "remove 'prefer children over
  parent' heuristic") one `<msg>: Killed process …` line, gaining `shmem-rss` (4.5),
  `UID:` (5.3), `pgtables:`/`oom_score_adj:` (5.6). RHEL6 prints `Killed process P, UID U, (c)`,
  RHEL7 `Killed process P (c), UID U, total-vm:…`. 2.6.2x: `kill process … or a child`,
  `Kill process … and children.`, `vsz:` instead of `total-vm:`.
* dump_header is rate limited (5 s / 10): a kill line may come with no dump at all. Such a kill
  is its own row with `complete` False, unless a dump of the same boot is still waiting for its
  kill (its block was cut by an interleaved message), in which case it completes that row.
* `oom_reaper: reaped process N …` (4.6+) is printed later by the reaper kthread (2 s later since
  5.18), often inside the next dump: it updates the row whose victim was N.
* `Out of memory and no killable processes...` (a panic message <= 4.18, a warning after),
  `System is deadlocked on memory`, panic_on_oom `Out of memory: … panic_on_oom is enabled`:
  the panic line is recorded in the row but left unclaimed for whatever family owns panics.

pr_cont pieces split by syslog (`emerge cpuset=` / `/` / ` mems_allowed=0`) and format=flowed or
mail wraps of a line are joined back when a line of the dump is visibly cut short.
"""

from __future__ import annotations

import math
import re
from typing import Any

import regex

from . import memcg as memcg_mod
from .base import CPUSET_LINE as cpuset_line
from .base import Block, Family, Feed, Line, Problems, Sink, SubParser
from .memcg import MemcgInfo, is_memcg_start
from .meminfo import MemInfo, SlabInfo, is_meminfo_start, is_slabinfo_start
from .oom_record import EVENT_COLUMNS, OOM_EVENTS, OomRecord
from .oom_tasks import OOM_TASKS, TASK_ROW, Layouts, TaskTable
from .stacktrace import (
    CallTrace,
    is_dump_stack_header,
    is_frame_line,
    is_stack_words,
    is_trace_start,
    parse_dump_stack_header,
)

# -- line formats ---------------------------------------------------------------------------
_HEADER = re.compile(r"^(?P<comm>.*) invoked oom-killer: (?P<rest>.*)$")
_GFP = re.compile(r"gfp_mask=(?P<mask>0x[0-9a-fA-F]+|\d+)(?:\((?P<flags>[^)]*)\))?")
_NODEMASK = re.compile(r"nodemask=(?P<v>\(null\)|\d+(?:[-,]\d+)*|)")
_ORDER = re.compile(r"(?<![\w])order=(?P<v>-?\d+)")
_SCORE_ADJ = re.compile(r"oom_score_adj=(?P<v>-?\d+)")
_OOM_ADJ = re.compile(r"(?:oom_adj|oomkilladj)=(?P<v>-?\d+)")
_HEADER_END = re.compile(r"(?:oom_score_adj|oom_adj|oomkilladj)=-?\d+\s*$")
_SUMMARY = re.compile(
    r"^oom-kill:constraint=(?P<constraint>\w+),nodemask=(?P<nodemask>\(null\)|\d+(?:[-,]\d+)*|)"
    r"(?:,cpuset=(?P<cpuset>.*?),mems_allowed=(?P<mems>(?:\d+(?:[-,]\d+)*)?))?"
    r"(?:,global_oom|,oom_memcg=(?P<oom_memcg>.*?))?"
    r"(?:,task_memcg=(?P<task_memcg>.*?))?"
    r",task=(?P<task>.*),pid=(?P<pid>\d+),uid=(?P<uid>-?\d+)\s*$"
)
_SELECT = re.compile(
    r"^(?:(?P<msg>.*?): )?[Kk]ill process (?P<pid>\d+) \((?P<comm>.*)\) score (?P<score>-?\d+) "
    r"(?:or sacrifice child|or a child|and children\.?)\s*$"
)
_SHARING = re.compile(r"Kill process (?P<pid>\d+) \((?P<comm>.*)\) sharing same memory\s*$")
_KILLED = re.compile(
    r"^(?:(?P<msg>.*?): )?Killed process (?P<pid>\d+)(?:, UID (?P<uid_a>\d+),)? "
    r"\((?P<comm>.*)\)(?P<rest>(?:, UID \d+)?(?:,? (?:total-vm|vsz):.*)?)\.?\s*$"
)
_KILLED_END = re.compile(r"(?:kB|oom_score_adj:-?\d+|UID:\d+|\)|\.)$")
_KB_FIELD = re.compile(r"(?P<k>total-vm|vsz|anon-rss|file-rss|shmem-rss|pgtables):(?P<v>[^,\s]*)")
_UID_FIELD = re.compile(r"UID[: ](?P<v>[^,\s]*)")
_VICTIM_ADJ = re.compile(r"oom_score_adj:(?P<v>\S*)")
_EXITING = re.compile(
    r"^(?:(?P<msg>.*?): )?OOM victim (?P<pid>\d+) \((?P<comm>.*)\) is already exiting"
)
_PINNED = re.compile(
    r"^oom killer (?P<pid>\d+) \((?P<comm>.*)\) has mm pinned by (?P<pid2>\d+) \((?P<comm2>.*)\)"
)
_GROUP = re.compile(r"^Tasks in (?P<memcg>.*) are going to be killed due to memory\.oom\.group set")
_REAPED = re.compile(
    r"^oom_reaper: reaped process (?P<pid>\d+) \((?P<comm>.*)\), now anon-rss:(?P<anon>\S*?)kB, "
    # `lB`: the early-2016 oom_reaper printed `shmem-rss:%lulB` (typo fixed in review)
    r"file-rss:(?P<file>\S*?)kB, shmem-rss:(?P<shmem>\S*?)[kl]B"
)
_UNABLE = re.compile(r"^oom_reaper: unable to reap pid:(?P<pid>\d+) \((?P<comm>.*)\)")
# pid of a dump_stack header that parse_dump_stack_header cannot read whole (RHEL7 prints
# `Kdump: loaded` and a `------------` taint block)
_DUMP_PID = re.compile(r"^(?:CPU: \d+ (?:UID: \d+ )?PID: |Pid: )(?P<pid>\d+)")
_DUMP_RELEASE = re.compile(r" (?P<release>\d+\.\d+\S*) #\S+")
_PANIC = "Kernel panic - not syncing: "
_NO_KILLABLE = "Out of memory and no killable processes"
_BUDDY0 = re.compile(r"^(?:Node \d+ )?\w+: \d+\*(?P<kb>\d+)kB ")
_KB_COLS = {
    "total-vm": "total_vm_kb",
    "vsz": "total_vm_kb",
    "anon-rss": "anon_rss_kb",
    "file-rss": "file_rss_kb",
    "shmem-rss": "shmem_rss_kb",
    "pgtables": "pgtables_kb",
}
MAX_FOREIGN_RUN = 16  # unknown lines in a row before a dump without its kill is given up
MAX_JOIN = 3  # fragments joined back onto a line cut short
# A dump is printed in one go (its stamps are taken at printk time, so even a slow console
# spreads them little); a line this much later than the dump's last one starts something else.
MAX_GAP_S = 30.0
JOIN_WINDOW_S = 60.0  # a kill this long after a dump that lacks one is not that dump's kill
_VICTIMS_KEPT = 256  # recent victims per boot remembered for oom_reaper lines


# -- tables ---------------------------------------------------------------------------------
def _int(s: str | None) -> int | None:
    if s is None:
        return None
    try:
        return int(s)
    except ValueError:
        return None


def _finite(x: float) -> bool:
    return not math.isnan(x)


def _classify(text: str, in_stack: bool = False) -> tuple[str | None, Any]:
    """What a line of a dump is, without side effects. `in_stack`: a dump_stack header was
    seen and its trace not yet, so a bare frame line opens the trace."""
    if not text:
        return None, None
    if text.startswith("oom_reaper: "):
        return "reaper", None
    c = text[0]
    if c == "[":
        if TASK_ROW.match(text) is not None:
            return "task_row", None
        if "uid" in text and "tgid" in text and "total_vm" in text:
            return "task_header", None
    if "invoked oom-killer: " in text:
        return "header", None
    if text.startswith("oom-kill:"):
        return "summary", None
    if "Killed process " in text:
        m = _KILLED.match(text)
        return ("killed", m) if m is not None else ("killed_partial", None)
    if "ill process " in text:
        m = _SELECT.match(text)
        if m is not None:
            return "select", m
        m = _SHARING.search(text)
        if m is not None:
            return "sharing", m
    if text.startswith(_NO_KILLABLE):
        return "no_killable", None
    if text.startswith(_PANIC):
        return "panic", None
    if "is already exiting" in text:
        m = _EXITING.match(text)
        if m is not None:
            return "exiting", m
    if text.startswith("oom killer "):
        m = _PINNED.match(text)
        if m is not None:
            return "pinned", m
    if text.startswith("Tasks "):
        if text.startswith("Tasks state (memory values in pages)"):
            return "tasks_state", None
        m = _GROUP.match(text)
        if m is not None:
            return "group", m
    if is_memcg_start(text):
        return "memcg", None
    if is_meminfo_start(text):
        return "meminfo", None
    if is_slabinfo_start(text):
        return "slabinfo", None
    if is_dump_stack_header(text):
        return ("dump_extra" if text.startswith("Hardware name: ") else "dump_hdr"), None
    if text.startswith(("Workqueue: ", "Tainted: [")):
        return "dump_extra", None
    if is_trace_start(text) or (in_stack and (is_frame_line(text) or is_stack_words(text))):
        return "trace", None
    if " cpuset=" in text:
        return "cpuset", None
    if text.startswith("COMPACTION is disabled"):
        return "compaction", None
    return None, None


class OomBlock(Block):
    """One OOM dump, or the part of one that follows an interruption (kind `oom_kill`)."""

    kind = "oom"

    def __init__(
        self, first: Line, event_id: int, sink: Sink, family: OomFamily, rec: OomRecord
    ) -> None:
        super().__init__(first, event_id, sink)
        self.family = family
        self.main = rec  # the dump's row
        self.rec = rec  # the row kill-side lines apply to (a memory.oom.group member's)
        self.members: list[OomRecord] = []
        self._killed_pids: set[int] = set()
        self._sub: SubParser | None = None
        self._tasks: TaskTable | None = None
        self._partial: tuple[str, str, Line, int] | None = None  # (kind, text, first line, n)
        self._foreign_run = 0
        self._last_ts = first.ts
        self._n_skipped = 0
        self._first_skipped: int | None = None
        self._dump_hdr = False
        self._trace_done = False
        self._meminfo_seen = False
        self._memcg_done = False
        self._summary = False
        self._selected = False
        self._killed = False
        self._group = False

    # sub-parsers write through the owner: their rows carry the dump's event_id
    def add_row(self, table: str, values: dict[str, Any]) -> None:
        values.setdefault("event_id", self.rec.row["event_id"])
        self._sink.row(table, values)

    # -- feeding ----------------------------------------------------------------------------
    def feed(self, line: Line) -> Feed:
        text = line.text
        if self._partial is not None:
            verdict = self._continue_partial(line)
            if verdict is not None:
                return verdict
        if text.startswith("oom_reaper: ") and self.family.reaper_line(line, self) is not None:
            return Feed.TAKE
        if self._meminfo_seen and "*" in text:
            self.note_buddy(text)
        if self._sub is not None:
            verdict = self._sub.feed(line)
            if verdict is Feed.SKIP:
                return self._skip(line)
            if verdict is Feed.TAKE:
                if _finite(line.ts):
                    self._last_ts = line.ts
                return verdict
            self._end_sub(None)
        if (
            not self._killed
            and _finite(line.ts)
            and _finite(self._last_ts)
            and line.ts - self._last_ts > MAX_GAP_S
        ):
            return Feed.END
        kind, m = _classify(text, self._dump_hdr and not self._trace_done)
        if kind is None:
            r = self.rec.row
            if self._killed or r["panic"] or r["no_killable"]:
                return Feed.END
            self._foreign_run += 1
            if self._foreign_run > MAX_FOREIGN_RUN:
                return Feed.END
            return self._skip(line)
        if not self._allowed(kind):
            return Feed.END
        self._foreign_run = 0
        if _finite(line.ts):
            self._last_ts = line.ts
        return self._handle(kind, m, line)

    def _skip(self, line: Line) -> Feed:
        self._n_skipped += 1
        if self._first_skipped is None:
            self._first_skipped = line.line_no
        return Feed.SKIP

    def _allowed(self, kind: str) -> bool:
        """Whether a line of this kind can still belong to this dump."""
        if kind == "header":
            return False
        if self._killed:
            if kind in ("sharing", "pinned", "group", "exiting"):
                return True
            return kind == "killed" and self._group
        if kind == "dump_hdr":
            return not self._dump_hdr and not self._trace_done
        if kind == "trace":
            return not self._trace_done
        if kind == "meminfo":
            return not self._meminfo_seen
        if kind == "memcg":
            return not self._memcg_done
        if kind == "tasks_state":
            return self._tasks is None
        if kind == "task_header":  # after `Tasks state`, before any row
            return self._tasks is None or (self._tasks.layout is None and not self.main.tasks)
        if kind == "summary":
            return not self._summary
        if kind == "select":
            return not self._selected
        return True

    def _handle(self, kind: str, m: Any, line: Line) -> Feed:
        r = self.rec.row
        text = line.text
        if kind == "task_row":
            self._task_row(line)
        elif kind in ("tasks_state", "task_header"):
            self._tasks = self.family.layouts.table(line, kind == "task_header")
        elif kind in ("killed", "killed_partial"):
            # cut short (wrapped): it does not end the way the kernel ends it
            if kind == "killed_partial" or not _KILLED_END.search(text.rstrip()):
                self._partial = ("killed", text, line, 0)
            else:
                self._kill(line, m)
        elif kind == "summary":
            if _SUMMARY.match(text) is None:
                self._partial = ("summary", text, line, 0)
            else:
                self._summary_line(line, text)
        elif kind == "select":
            self._select(line, m)
        elif kind == "sharing":
            r["n_sharing_killed"] = (r["n_sharing_killed"] or 0) + 1
        elif kind == "pinned":
            r["pinned_by_pid"] = int(m["pid2"])
        elif kind == "group":
            r["oom_group_memcg"] = m["memcg"]
            self._group = True
        elif kind == "exiting":
            if self._killed:  # a memory.oom.group member that is on its way out
                self._member(line)
                r = self.rec.row
            self._outcome(line)
            r["already_exiting"] = True
            self._victim(int(m["pid"]), m["comm"])
            r["message"] = r["message"] or m["msg"]
        elif kind == "no_killable":
            self._outcome(line)
            r["no_killable"] = True
        elif kind == "panic":
            msg = text[len(_PANIC) :].strip()
            if "memory" not in msg:
                return Feed.END
            r["panic"], r["panic_msg"] = True, msg
            r["no_killable"] = r["no_killable"] or _NO_KILLABLE in msg
            if not _finite(r["ts_kill"]):
                r["ts_kill"] = line.ts
            self.complete = True
            return Feed.END  # the panic line itself belongs to the panic report
        elif kind == "memcg":
            self.main.memcg_seen = True
            self._sub = MemcgInfo(self, line)
        elif kind == "meminfo":
            self._meminfo_seen = True
            meminfo = MemInfo(self, line)
            r["meminfo_id"] = meminfo.snapshot_id
            self._sub = meminfo
        elif kind == "slabinfo":
            self._sub = SlabInfo(self, line, snapshot_id=r["meminfo_id"])
        elif kind == "dump_hdr":
            self._dump_hdr = True
            hdr = parse_dump_stack_header(text)
            if hdr is not None:
                r["trigger_pid"] = self.pid = hdr["pid"]
                r["release"] = hdr["release"]
                if r["trigger_comm"] is None:
                    r["trigger_comm"] = self.comm = hdr["comm"]
            elif (p := _DUMP_PID.match(text)) is not None:
                r["trigger_pid"] = self.pid = int(p["pid"])
                rel = _DUMP_RELEASE.search(text)
                r["release"] = rel["release"] if rel is not None else None
        elif kind == "trace":
            trace = CallTrace(self, line, pid=r["trigger_pid"], comm=r["trigger_comm"])
            r["stack_id"] = trace.stack_id
            self._sub = trace
        elif kind == "cpuset":
            self._cpuset(line, text, final=False)
        elif kind == "reaper":  # one reaper_line() could not read
            self.main.problems.append(f"oom_reaper line {line.line_no} unreadable")
        return Feed.TAKE

    def _end_sub(self, cut: str | None) -> None:
        sub = self._sub
        if sub is None:
            return
        self._sub = None
        sub.finish(cut)
        self.problems.extend(sub.problems)
        if isinstance(sub, CallTrace):
            self._trace_done = True
        elif isinstance(sub, MemcgInfo):
            self._memcg_done = True
            r = self.main.row
            r["task_memcg"] = r["task_memcg"] or sub.task_memcg
            r["oom_memcg"] = r["oom_memcg"] or sub.oom_memcg
            r["memcg_version"] = sub.version

    # -- lines cut short ----------------------------------------------------------------------
    def _continue_partial(self, line: Line) -> Feed | None:
        """Join `line` onto a line of this dump that was cut short; None = not a fragment."""
        assert self._partial is not None
        kind, text, first, n = self._partial
        nxt = line.text
        if _classify(nxt)[0] is not None or n >= MAX_JOIN:
            self._partial = None
            self._complete_partial(kind, text, first, cut=True)
            return None
        for joined in (text + nxt, text.rstrip() + " " + nxt.lstrip()):
            if self._fits(kind, joined):
                self._partial = None
                self._complete_partial(kind, joined, first, cut=False)
                return Feed.TAKE
        self._partial = (kind, text + nxt, first, n + 1)
        return Feed.TAKE

    def _fits(self, kind: str, text: str) -> bool:
        if kind == "header":
            return _HEADER_END.search(text) is not None
        if kind == "cpuset":
            return cpuset_line.match(text) is not None
        if kind == "summary":
            return _SUMMARY.match(text) is not None
        return _KILLED.match(text) is not None and _KILLED_END.search(text) is not None

    def _complete_partial(self, kind: str, text: str, first: Line, cut: bool) -> None:
        if cut:
            self.main.problems.append(f"{kind} line {first.line_no} cut short")
        if kind == "header":
            self.family.parse_header(self.main, text, self, final=True)
        elif kind == "cpuset":
            self._cpuset(first, text, final=True)
        elif kind == "summary":
            self._summary_line(first, text)
        else:
            self._kill(first, _KILLED.match(text))

    # -- line handlers ----------------------------------------------------------------------
    def _cpuset(self, line: Line, text: str, final: bool) -> None:
        r = self.main.row
        comm = r["trigger_comm"]
        if comm and text.startswith(comm + " cpuset="):
            # the invoking task's name is known: anchor on it (a name may hold ` cpuset=`)
            m = cpuset_line.match("_" + text[len(comm) :])
        else:
            m = cpuset_line.match(text)
        if m is None:
            if not final and " mems_allowed=" not in text:
                self._partial = ("cpuset", text, line, 0)
            else:
                self.main.problems.append(f"cpuset line {line.line_no} unreadable")
            return
        r["cpuset"], r["mems_allowed"] = m["cpuset"], m["mems"]

    def _summary_line(self, line: Line, text: str) -> None:
        r = self.main.row
        self._summary = True
        m = _SUMMARY.match(text)
        if m is None:
            self.main.problems.append(f"oom-kill line {line.line_no} unreadable")
            return
        r["constraint"] = m["constraint"]
        r["nodemask"] = r["nodemask"] or m["nodemask"]
        if m["cpuset"] is not None:
            r["cpuset"], r["mems_allowed"] = m["cpuset"], m["mems"]
        r["oom_memcg"] = m["oom_memcg"] or r["oom_memcg"]
        r["task_memcg"] = m["task_memcg"] or r["task_memcg"]
        self._victim(int(m["pid"]), m["task"])
        r["victim_uid"] = int(m["uid"])

    def _select(self, line: Line, m: Any) -> None:
        r = self.rec.row
        self._selected = True
        r["selected_pid"], r["selected_comm"] = int(m["pid"]), m["comm"]
        r["score"] = int(m["score"])
        r["message"] = m["msg"]

    def _kill(self, line: Line, m: Any) -> None:
        r = self.rec.row
        rec = self.rec
        if m is None:
            rec.problems.append(f"kill line {line.line_no} unreadable")
            return
        pid = int(m["pid"])
        if self._killed:
            if pid in self._killed_pids:
                return  # the group kill walks the victim's memcg again: same task
            self._member(line)
            rec, r = self.rec, self.rec.row
            self.main.add_group_victim(pid)
        self._killed = True
        self._killed_pids.add(pid)
        self._outcome(line)
        r["message"] = m["msg"] if m["msg"] is not None else r["message"]
        if r["victim_pid"] is not None and r["victim_pid"] != pid and r["selected_pid"] is None:
            rec.problems.append(f"kill line pid {pid} differs from oom-kill pid {r['victim_pid']}")
        self._victim(pid, m["comm"])
        rest = m["rest"] or ""
        for f in _KB_FIELD.finditer(rest):
            value = f["v"]
            v = _int(value[:-2]) if value.endswith("kB") else None
            if v is None:
                rec.problems.append(f"kill line {line.line_no}: unreadable {f['k']} {value!r}")
            r[_KB_COLS[f["k"]]] = v
        uid = _UID_FIELD.search(rest)
        if uid is not None or m["uid_a"] is not None:
            v = _int(m["uid_a"] if uid is None else uid["v"])
            if v is None:
                rec.problems.append(f"kill line {line.line_no}: unreadable UID")
            r["victim_uid"] = v
        adj = _VICTIM_ADJ.search(rest)
        if adj is not None:
            r["victim_oom_score_adj"] = _int(adj["v"])
            if r["victim_oom_score_adj"] is None:
                rec.problems.append(f"kill line {line.line_no}: unreadable oom_score_adj")

    def _member(self, line: Line) -> None:
        """Another task killed by the same memory.oom.group kill: a row of its own."""
        self.rec = self.family.group_member(self.main, line, self._sink)
        self.members.append(self.rec)

    def _outcome(self, line: Line) -> None:
        r = self.rec.row
        r["ts_kill"] = line.ts
        r["kill_line_no"] = line.line_no
        r["kill_event_id"] = self.event_id
        self.complete = True

    def _victim(self, pid: int, comm: str) -> None:
        r = self.rec.row
        r["victim_pid"], r["victim_comm"] = pid, comm
        self.family.remember_victim(self.first, pid, self.rec)
        if not self.rec.has_header:
            self.pid, self.comm = pid, comm

    def _task_row(self, line: Line) -> None:
        if self._tasks is None or self._tasks.layout is None:
            self._tasks = self.family.layouts.reuse(line, self._tasks, self.main.problems)
        row = self._tasks.parse(line.text)
        row["event_id"] = self.main.row["event_id"]
        row["oom_id"] = self.main.row["oom_id"]
        row["line_no"] = line.line_no
        if row["reason"] is not None:
            self.main.problems.append(f"task row line {line.line_no}: {row['reason']}")
        self.main.tasks.append(row)

    def note_buddy(self, text: str) -> None:
        m = _BUDDY0.match(text)
        if m is not None and self.main.buddy_page_kb is None:
            self.main.buddy_page_kb = int(m["kb"])

    # -- end ----------------------------------------------------------------------------------
    def finish(self, cut: str | None) -> None:
        if self._partial is not None:
            kind, text, first, _ = self._partial
            self._partial = None
            self._complete_partial(kind, text, first, cut=True)
        self._end_sub(cut)
        super().finish(cut)
        main = self.main
        if self._n_skipped:
            main.problems.append(
                f"{self._n_skipped} foreign line(s) inside (first at line {self._first_skipped})"
            )
        main.problems.extend(self.problems)
        for rec in (main, *self.members):
            rec.row["line_end"] = max(rec.row["line_end"] or 0, self.last_line_no)
            rec.refresh()
        for task in main.tasks[main.n_tasks_emitted :]:
            self._sink.row("oom_tasks", task)
        main.n_tasks_emitted = len(main.tasks)
        self.family.dump_ended(self)


class OomKillBlock(OomBlock):
    """The kill side of an OOM (kill, `oom-kill:`, task table…) with no header before it."""

    kind = "oom_kill"


class ReaperBlock(Block):
    """An `oom_reaper:` line outside any dump; it updates the row of its victim."""

    kind = "oom_reaper"
    multiline = False


class OomFamily(Family):
    name = "oom"
    priority = 50
    triggers = (
        "invoked oom-killer: ",
        "Killed process ",
        "ill process ",
        "oom-kill:constraint=",
        "oom_reaper: ",
        _NO_KILLABLE,
        "is already exiting",
        "memory.oom.group",
        "Tasks state (memory values in pages)",
        "uid  tgid total_vm",
    )
    pattern = regex.compile(
        r" invoked oom-killer: |Killed process \d|[Kk]ill process \d+ .* score -?\d+ "
        r"|^oom-kill:constraint=|^oom_reaper: |Out of memory and no killable processes"
        r"|OOM victim \d+ .* is already exiting|^Tasks in .* memory\.oom\.group set"
        r"|^Tasks state \(memory values in pages\)|^\[ +pid +\] +uid +tgid total_vm"
    )
    tables = (OOM_EVENTS, OOM_TASKS, *memcg_mod.TABLES)
    parts = (MemcgInfo, MemInfo, SlabInfo, CallTrace)

    def __init__(self) -> None:
        self.layouts = Layouts()
        self._victims: dict[tuple[str, int], dict[int, OomRecord]] = {}
        self._pending: dict[tuple[str, int], OomRecord] = {}

    def start(self, line: Line, match: regex.Match[str], event_id: int, sink: Sink) -> Block | None:
        text = line.text
        key = (line.source, line.boot)
        if text.startswith("oom_reaper: "):
            reaper = ReaperBlock(line, event_id, sink)
            found = self.reaper_line(line, reaper)
            if found is None:
                return None
            reaper.pid, reaper.comm = found.row["victim_pid"], found.row["victim_comm"]
            return reaper
        if " invoked oom-killer: " in text:
            self._pending.pop(key, None)
            rec = self._new_row(line, event_id, sink)
            rec.has_header = True
            block = OomBlock(line, event_id, sink, self, rec)
            self.parse_header(rec, text, block, final=False)
            return block
        kind, m = _classify(text)
        if kind in (None, "header", "reaper") or (kind == "panic" and _NO_KILLABLE not in text):
            return None
        pending = self._pending.get(key)
        if pending is not None and self._continues(pending, line):
            del self._pending[key]
            rec = pending
            rec.problems = Problems(p for p in rec.problems if not p.startswith("incomplete:"))
            rec.problems.append(f"dump continued at line {line.line_no} after an interruption")
        else:
            rec = self._new_row(line, event_id, sink)
        block = OomKillBlock(line, event_id, sink, self, rec)
        block._handle(kind, m, line)
        return block

    def _new_row(self, line: Line, event_id: int, sink: Sink) -> OomRecord:
        row: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)
        row.update(
            oom_id=sink.next_id("oom"), event_id=event_id, boot=line.boot, ts=math.nan,
            ts_kill=math.nan, line_start=line.line_no, line_end=line.line_no,
            gfp_flags_decoded=False, already_exiting=False, no_killable=False,
            unable_to_reap=False, panic=False, complete=False, corrupted=False,
        )  # fmt: skip
        sink.row("oom_events", row)
        return OomRecord(row)

    def parse_header(self, rec: OomRecord, text: str, block: OomBlock, final: bool) -> None:
        """Fields of the `invoked oom-killer:` line, each on its own so that one broken field
        leaves the others. Not `final`: a visibly cut line waits for its continuation."""
        m = _HEADER.match(text)
        if m is None:
            return
        rest = m["rest"]
        if not final and _HEADER_END.search(rest) is None:
            block._partial = ("header", text, block.first, 0)
            return
        r = rec.row
        r["ts"] = block.first.ts
        r["trigger_comm"] = block.comm = m["comm"]
        g = _GFP.search(rest)
        if g is not None:
            r["gfp_mask"] = int(g["mask"], 16) if g["mask"].startswith("0x") else int(g["mask"])
            r["gfp_flags"] = g["flags"]
        nm = _NODEMASK.search(rest)
        r["nodemask"] = nm["v"] if nm is not None else None
        for column, rx in (("order", _ORDER), ("oom_score_adj", _SCORE_ADJ), ("oom_adj", _OOM_ADJ)):
            f = rx.search(rest)
            r[column] = int(f["v"]) if f is not None else None
        missing = [c for c, v in (("gfp_mask", g), ("order", r["order"])) if v is None]
        if r["oom_score_adj"] is None and r["oom_adj"] is None:
            missing.append("oom_score_adj")
        if missing:
            where = f"header line {block.first.line_no}"
            rec.problems.append(f"{where}: unreadable {', '.join(missing)}")

    def _continues(self, rec: OomRecord, line: Line) -> bool:
        """Whether a kill-side line can be the rest of the dump `rec` that lost its end."""
        ts0 = rec.row["ts"]
        if _finite(ts0) and _finite(line.ts) and not 0 <= line.ts - ts0 <= JOIN_WINDOW_S:
            return False
        known = rec.row["victim_pid"] or rec.row["selected_pid"]
        if known is None:
            return True
        m = _SUMMARY.match(line.text) or _EXITING.match(line.text) or _SELECT.match(line.text)
        if m is None:
            m = _KILLED.match(line.text)
            # a sacrificed child differs from the selected parent
            return m is None or rec.row["selected_pid"] is not None or int(m["pid"]) == known
        return int(m["pid"]) == known

    def dump_ended(self, block: OomBlock) -> None:
        key = (block.first.source, block.first.boot)
        if not block.main.outcome and block.main.has_header:
            self._pending[key] = block.main

    def remember_victim(self, line: Line, pid: int, rec: OomRecord) -> None:
        key = (line.source, line.boot)
        if key not in self._victims:
            # oom_reaper lines never cross a reboot: forget the victims (and their task rows)
            # of earlier boots, or a capture of many boots keeps every dump alive
            for old in [k for k in self._victims if k != key]:
                del self._victims[old]
            for old in [k for k in self._pending if k != key]:
                del self._pending[old]
        victims = self._victims.setdefault(key, {})
        victims.pop(pid, None)
        victims[pid] = rec
        if len(victims) > _VICTIMS_KEPT:
            del victims[next(iter(victims))]

    def group_member(self, rec: OomRecord, line: Line, sink: Sink) -> OomRecord:
        """A further `Killed process` of a memory.oom.group kill: a new row of the same event."""
        rec.refresh(tasks=False)
        new = self._new_row(line, rec.row["event_id"], sink)
        for column in (
            "ts",
            "trigger_comm",
            "trigger_pid",
            "gfp_mask",
            "gfp_flags",
            "order",
            "oom_score_adj",
            "nodemask",
            "cpuset",
            "mems_allowed",
            "constraint",
            "oom_memcg",
            "memcg_version",
            "oom_group_memcg",
            "message",
            "line_start",
        ):
            new.row[column] = rec.row[column]  # fmt: skip
        new.has_header = rec.has_header
        new.memcg_seen = rec.memcg_seen
        return new

    def reaper_line(self, line: Line, block: Block) -> OomRecord | None:
        """Apply an `oom_reaper:` line to the row of its victim (a new row if none)."""
        text = line.text
        m = _REAPED.match(text) or _UNABLE.match(text)
        if m is None:
            return None
        pid = int(m["pid"])
        rec = self._victims.get((line.source, line.boot), {}).get(pid)
        if rec is None:
            rec = self._new_row(line, block.event_id, block._sink)
            rec.row.update(victim_pid=pid, victim_comm=m["comm"])
            rec.problems.append("kill line not in the capture")
            self.remember_victim(line, pid, rec)
        r = rec.row
        r["reap_ts"], r["reap_line_no"] = line.ts, line.line_no
        if "anon" in m.groupdict():
            r["reaped"] = True
            for column, group in (
                ("reap_anon_rss_kb", "anon"),
                ("reap_file_rss_kb", "file"),
                ("reap_shmem_rss_kb", "shmem"),
            ):
                r[column] = _int(m[group])  # fmt: skip
                if r[column] is None:
                    rec.problems.append(f"oom_reaper line {line.line_no}: unreadable {group}-rss")
        else:
            r["reaped"], r["unable_to_reap"] = False, True
        rec.refresh(tasks=False)
        return rec
