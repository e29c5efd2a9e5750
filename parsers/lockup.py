"""Soft and hard lockups, RCU CPU stalls, workqueue lockups (`lockups`) and the workqueue
state dump (`workqueues`, `worker_pools`). Formats: FORMATS-stalls.md §4.

* Soft lockup, kernel/watchdog.c watchdog_timer_fn():
  `BUG: soft lockup - CPU#%d stuck for %us! [%s:%d]`, under pr_fmt `NMI watchdog: ` (≈4.0-4.13)
  or `watchdog: ` (≈4.14+; no prefix before 4.0), then
  `Modules linked in:`, irq-trace lines, dump_stack header, registers and trace.
* Hard lockup: `Watchdog detected hard LOCKUP on cpu %d` (a WARN body in 3.x, pr_emerg under
  `NMI watchdog: ` 4.x, kernel/watchdog_hld.c; `watchdog: CPU%u: Watchdog detected hard
  LOCKUP on cpu %u` in the 6.5+ buddy/perf detector, kernel/watchdog.c).
* RCU (kernel/rcu/tree_stall.h since 5.0, tree_plugin.h/tree.c before):
  `INFO: %s self-detected stall on CPU` / `INFO: %s detected stalls on CPUs/tasks:` (pr_fmt
  `rcu: ` from ≈4.20), per-CPU lines `%d-%c%c%c%c: (%s) idle=… softirq=%u/%u fqs=%ld`, the
  `(t=%lu jiffies g=%ld q=%lu ncpus=%d)` / `(detected by %d, t=… jiffies, g=…, q=…)` line (3.x:
  `{ 1}` CPU list and ` c=` on the header line itself), `Tasks blocked on level-0 rcu_node`,
  `%s kthread starved for %ld jiffies!`, `RCU grace-period kthread stack dump:`,
  `Task dump for CPU %d:` with sched_show_task() output. An all-CPU `NMI backtrace for cpu`
  is parsers/sysrq.py's: the stall block ends there.
* Workqueue lockup, kernel/workqueue.c wq_watchdog_timer_fn() (4.5+):
  `BUG: workqueue lockup - pool cpus=%*pbl[ node=%d] flags=0x%x nice=%d stuck for %us!`.
* show_workqueue_state() (`Showing busy workqueues and worker pools:`; SysRq-t, the wq
  watchdog and kmallocwd print it): `workqueue %s: flags=0x%x`, `  pwq %d: <pool info>
  active=%d/%d[ refcnt=%d][ MAYDAY]` (6.9+ `active=%d refcnt=%d`), `    in-flight: pid:func…`,
  `    pending: …` (≈5.15+ `N*func` runs), `    delayed: …` (`    inactive:` from 5.15,
  commit f97a4a1a3f87 "workqueue: Rename "delayed" (delayed by active management) to
  "inactive"", also in 5.10 stable), `pool %d: <pool info> hung=%us workers=%d[ manager:
  %d][ idle: …]`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pyarrow as pa
import regex

from .base import EVENT_ID, Block, Family, Feed, Line, Sink, SubParser, TableSchema, col
from .dump_parts import MAX_FOREIGN, DumpParts, SkipCount, may_be_foreign
from .stacktrace import CallTrace
from .tasklines import TaskDump, is_task_line

_SOFT = re.compile(
    r"(?:(?P<pfx>NMI watchdog|watchdog): )?BUG: soft lockup - CPU#(?P<cpu>\d+) stuck for "
    r"(?P<secs>\d+)s! \[(?P<comm>.*):(?P<pid>\d+)\]"
)
_HARD = re.compile(
    r"(?:(?P<pfx>NMI watchdog|watchdog): )?(?:CPU\d+: )?Watchdog detected hard LOCKUP on cpu "
    r"(?P<cpu>\d+)"
)
_POOL = (
    r"cpus=(?P<cpus>[\d,-]*)(?: node=(?P<node>-?\d+))? flags=0x(?P<pflags>[0-9a-f]+)"
    r" nice=(?P<nice>-?\d+)"
)
_WQ_LOCKUP = re.compile(rf"BUG: workqueue lockup - pool {_POOL} stuck for (?P<secs>\d+)s!")
_RCU = re.compile(
    r"(?:rcu: )?INFO: (?P<flavor>\S+) (?P<what>self-detected stall on CPU"
    r"|detected stalls on (?:CPUs/)?tasks:?)(?P<rest>.*)$"
)
_RCU_CPU = re.compile(
    r"^(?P<cpu>\d+)(?:-(?P<flags>[.\w!]+))?: \((?P<why>[^)]*)\)"
    r"(?: idle=(?P<idle>\S+))?(?: softirq=(?P<softirq>\d+/\d+))?(?: fqs=(?P<fqs>-?\d+))?"
)
_RCU_T = re.compile(
    r"\((?:detected by (?P<by>\d+), )?t=(?P<t>\d+) jiffies(?:,? g=(?P<g>-?\d+))?"
    r"(?:,? c=(?P<c>-?\d+))?(?:,? q=(?P<q>\d+))?(?: ncpus=(?P<ncpus>\d+))?\)"
)
_RCU_LIST = re.compile(r"\{(?P<cpus>[\d ]*)\}")
# RCU Tasks holdouts (kernel/rcu/tasks.h check_holdout_task): `%p: %c%c nvcsw: %lu/%lu
# holdout: %d idle_cpu: %d/%d`, each followed by sched_show_task()
_HOLDOUT = re.compile(r"^[0-9a-f]+: \S\S nvcsw: \d+/\d+ holdout: ")
_STARVED = re.compile(r"kthread starved for (?P<j>\d+) jiffies")
_RCU_OTHER = (
    "Tasks blocked on level-",
    "Unless ",
    "RCU grace-period kthread stack dump:",
    "Stack dump where RCU GP kthread last ran:",
    "All QSes seen",
    "Possible timer handling issue",
    "blocking rcu_node structures",
    "Task dump for CPU ",
    "Sending NMI from CPU ",
    "INFO: Stall ended before state dump start",
)
_SOFT_OTHER = (
    "irq event stamp:",
    "hardirqs last ",
    "softirqs last ",
    "Sending NMI from CPU ",
    "NMI backtrace for cpus ",  # `NMI backtrace for cpus 0-1` header of trigger_*_backtrace
)
_WQ = re.compile(r"^workqueue (?P<name>.+): flags=0x(?P<flags>[0-9a-f]+)\s*$")
_PWQ = re.compile(
    rf"^\s+pwq (?P<pwq>\d+): {_POOL} active=(?P<active>\d+)(?:/(?P<max>\d+))?"
    r"(?: refcnt=(?P<refcnt>\d+))?(?P<mayday> MAYDAY)?\s*$"
)
_LIST = re.compile(r"^\s+(?P<kind>in-flight|pending|delayed|inactive):(?P<items>.*)$")
_WPOOL = re.compile(
    rf"^pool (?P<pool>\d+): {_POOL}(?: hung=(?P<hung>\d+)s)?(?: workers=(?P<workers>\d+))?"
    r"(?: manager: (?P<manager>\d+))?(?: idle: (?P<idle>[\d ]+))?\s*$"
)
_INFLIGHT_SPLIT = re.compile(r", (?=\d+(?:\(RESCUER\))?:)")
_RUN = re.compile(r"^(?P<n>\d+)\*")
_SHOWING = "Showing busy workqueues and worker pools:"
_STALLED_BT = "Showing backtraces of running workers in stalled CPU-bound worker pools:"
WQ_LINK_S = 10.0  # a workqueue dump this soon after a wq lockup line is that lockup's

LOCKUPS = TableSchema(
    "lockups",
    "One row per soft lockup, hard lockup, RCU CPU stall or workqueue lockup report. RCU "
    "per-CPU details are summarised here; the stacks of its task dumps are in `tasks`/`frames` "
    "(same event_id).",
    (
        EVENT_ID,
        col("boot", pa.int32(), "", "boot number in the capture"),
        col("ts", pa.float64(), "s", "time of the report line (null if none)"),
        col("line_no", pa.int64(), "", "line of the report line"),
        col("kind", pa.string(), "", "soft, hard, rcu or workqueue"),
        col("prefix", pa.string(), "", "pr_fmt of the line: `NMI watchdog`, `watchdog`, `rcu`"),
        col("cpu", pa.int32(), "", "CPU stuck (soft/hard); RCU: the first stalled CPU"),
        col("stuck_s", pa.int64(), "s", "soft lockup / workqueue lockup duration as printed"),
        col("comm", pa.string(), "", "task running on the stuck CPU (soft lockup `[comm:pid]`)"),
        col("pid", pa.int64(), "", "its pid (soft lockup line, else the dump_stack header)"),
        col("rcu_flavor", pa.string(), "", "rcu_sched, rcu_preempt, rcu_bh, rcu_tasks…"),
        col("rcu_self_detected", pa.bool_(), "", "`self-detected stall on CPU` form"),
        col("rcu_cpus", pa.string(), "", "stalled CPUs, comma-joined, from `{ }` or per-CPU lines"),
        col("rcu_cpu_flags", pa.string(), "", "per-CPU state tokens (`0-...!`), `;`-joined"),
        col("rcu_t_jiffies", pa.int64(), "jiffies", "`t=`: time since the grace period started"),
        col("rcu_g", pa.int64(), "", "`g=`: grace-period number (gp_seq from ≈4.20)"),
        col("rcu_c", pa.int64(), "", "`c=`: completed grace period (<= ≈4.19)"),
        col("rcu_q", pa.int64(), "callbacks", "`q=`: queued callbacks"),
        col("rcu_ncpus", pa.int32(), "", "`ncpus=` (≈5.17+)"),
        col("rcu_detected_by", pa.int32(), "", "CPU that detected the stall (`detected by`)"),
        col("rcu_blocked_tasks", pa.string(), "", "`Tasks blocked on level-N rcu_node …` text"),
        col(
            "rcu_kthread_starved_jiffies",
            pa.int64(),
            "jiffies",
            "`<flavor> kthread starved for N jiffies!`",
        ),
        col("wq_pool_cpus", pa.string(), "", "workqueue lockup: the pool's cpus list"),
        col("wq_pool_node", pa.int32(), "", "its NUMA node (absent = unbound to a node)"),
        col("wq_pool_flags", pa.int64(), "", "its flags"),
        col("wq_pool_nice", pa.int32(), "", "its nice level"),
        col(
            "workqueue_dump_id",
            pa.int64(),
            "",
            "workqueue lockup: event_id of the `Showing busy workqueues` dump that followed",
        ),
        col("release", pa.string(), "", "kernel release of the dump_stack header"),
        col("stack_id", pa.int64(), "", "the report's own trace (`stacks`/`frames`)"),
        col("n_task_dumps", pa.int32(), "tasks", "sched_show_task dumps inside (RCU)"),
        col("corrupted", pa.bool_(), "", "the report was cut, interleaved, or lost messages"),
        col("reason", pa.string(), "", "why `corrupted`, `; `-joined"),
    ),
)

WORKQUEUES = TableSchema(
    "workqueues",
    "One row per pool_workqueue (`  pwq N:` line) of a `Showing busy workqueues and worker "
    "pools:` dump, with its in-flight, pending and inactive (`delayed:`) work items.",
    (
        EVENT_ID,
        col("boot", pa.int32(), "", "boot number in the capture"),
        col("ts", pa.float64(), "s", "time of the pwq line"),
        col("line_no", pa.int64(), "", "line of the pwq line"),
        col("workqueue", pa.string(), "", "workqueue name (`workqueue <name>: flags=…`)"),
        col("wq_flags", pa.int64(), "", "the workqueue's WQ_* flags"),
        col("pwq", pa.int32(), "", "pool id of the pwq"),
        col("pool_cpus", pa.string(), "", "the pool's cpus list"),
        col("pool_node", pa.int32(), "", "its NUMA node"),
        col("pool_flags", pa.int64(), "", "its flags"),
        col("pool_nice", pa.int32(), "", "its nice level"),
        col("active", pa.int32(), "works", "active work items"),
        col("max_active", pa.int32(), "works", "max_active (absent 6.9+)"),
        col("refcnt", pa.int32(), "", "pwq refcount (≈5.5+)"),
        col("mayday", pa.bool_(), "", "` MAYDAY`: the rescuer was requested"),
        col("in_flight", pa.string(), "", "in-flight list as printed (`pid:func, …`)"),
        col("n_in_flight", pa.int32(), "works", "in-flight work items (workers + extra works)"),
        col("in_flight_pids", pa.string(), "", "pids of the busy workers, comma-joined"),
        col("rescuer_busy", pa.bool_(), "", "a `(RESCUER)` worker is in flight"),
        col("pending", pa.string(), "", "pending list as printed"),
        col("n_pending", pa.int32(), "works", "pending work items (`N*func` counts N)"),
        col("inactive", pa.string(), "", "`delayed:` / `inactive:` list as printed"),
        col("n_inactive", pa.int32(), "works", "inactive (delayed) work items"),
    ),
)

WORKER_POOLS = TableSchema(
    "worker_pools",
    "One row per `pool N:` line of a workqueue state dump.",
    (
        EVENT_ID,
        col("boot", pa.int32(), "", "boot number in the capture"),
        col("ts", pa.float64(), "s", "time of the line"),
        col("line_no", pa.int64(), "", "line of the pool line"),
        col("pool", pa.int32(), "", "pool id"),
        col("cpus", pa.string(), "", "cpus list"),
        col("node", pa.int32(), "", "NUMA node"),
        col("flags", pa.int64(), "", "pool flags"),
        col("nice", pa.int32(), "", "nice level"),
        col("hung_s", pa.int64(), "s", "seconds since the pool last made progress"),
        col("workers", pa.int32(), "", "workers in the pool"),
        col("manager_pid", pa.int64(), "", "pid of the manager worker"),
        col("idle_pids", pa.string(), "", "idle workers' pids, comma-joined"),
        col("n_idle", pa.int32(), "", "idle workers"),
    ),
)


def _int(s: str | None, base: int = 10) -> int | None:
    return None if s is None else int(s, base)


def _count_works(items: str) -> int:
    """Work items in a pending/inactive list: `, `-separated, `N*func` runs (5.15+)."""
    n = 0
    for item in items.split(", "):
        item = item.strip()
        if not item:
            continue
        run = _RUN.match(item)
        n += int(run["n"]) if run else 1
    return n


class LockupBlock(Block):
    kind = "lockup"

    def __init__(self, first: Line, event_id: int, sink: Sink, values: dict[str, Any]) -> None:
        super().__init__(first, event_id, sink)
        self.values = values
        values["event_id"] = event_id
        self.skips = SkipCount()
        self.parts = DumpParts(self, meminfo=False)
        self.task: SubParser | None = None
        self.dump_id: int | None = None
        self.cpu_flags: list[str] = []
        self.cpus: list[str] = []
        self.complete = True
        self.pid, self.comm = values.get("pid"), values.get("comm")

    def feed(self, line: Line) -> Feed:
        return self.skips(self._feed(line), line)

    def _feed(self, line: Line) -> Feed:
        if self.task is not None:
            verdict = self.task.feed(line)
            if verdict is not Feed.END:
                return verdict
            self._close_task(None)
        text = line.text
        v = self.values
        if v["kind"] == "rcu":
            if self._rcu_line(text):
                return Feed.TAKE
            if is_task_line(text):
                if self.dump_id is None:
                    self.dump_id = self.next_id("dump")
                self.task = TaskDump(self, line, dump_id=self.dump_id)
                v["n_task_dumps"] += 1
                return Feed.TAKE
        elif text.startswith(_SOFT_OTHER):
            return Feed.TAKE
        if text.startswith("NMI backtrace for cpu"):
            return Feed.END
        part = self.parts.feed(line)
        if part is not None:
            return part
        if (
            v["kind"] in ("soft", "hard")
            and line.caller is None
            and self.parts.header is None
            and self.parts.trace is None
            and self.parts.n_foreign < MAX_FOREIGN
            and may_be_foreign(text)
        ):
            # other CPUs' lines before the lockup's dump_stack (syzkaller/7: a program line)
            return self.parts.skip(line)
        return Feed.END

    def _rcu_line(self, text: str) -> bool:
        v = self.values
        s = text[5:] if text.startswith("rcu: ") else text
        s = s.strip()
        m = _RCU_CPU.match(s)
        if m is not None:
            self.cpus.append(m["cpu"])
            self.cpu_flags.append(f"{m['cpu']}-{m['flags'] or ''}")
            return True
        if _HOLDOUT.match(s) is not None:
            return True
        if s.startswith("(") and "jiffies" in s:
            self._t_line(s)
            return True
        m2 = _STARVED.search(s)
        if m2 is not None:
            v["rcu_kthread_starved_jiffies"] = int(m2["j"])
            return True
        if s.startswith(_RCU_OTHER) or "kthread timer wakeup didn't happen" in s:
            if s.startswith("Tasks blocked on level-"):
                v["rcu_blocked_tasks"] = s
            return True
        return False

    def _t_line(self, s: str) -> None:
        m = _RCU_T.search(s)
        if m is None:
            self.problems.append(f"RCU `(t=… jiffies …)` line unreadable: {s[:60]!r}")
            return
        v = self.values
        v["rcu_t_jiffies"] = int(m["t"])
        for c, g in (("rcu_g", "g"), ("rcu_c", "c"), ("rcu_q", "q"), ("rcu_ncpus", "ncpus"),
                     ("rcu_detected_by", "by")):  # fmt: skip
            if m[g] is not None:
                v[c] = int(m[g])

    def _close_task(self, cut: str | None) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.finish(cut)
            self.problems.extend(task.problems)

    def finish(self, cut: str | None) -> None:
        self._close_task(cut)
        self.parts.finish(cut)
        v = self.values
        header = self.parts.header or {}
        if v["pid"] is None and header.get("pid") is not None:
            v["pid"], v["comm"] = header["pid"], header.get("comm")
            self.pid, self.comm = v["pid"], v["comm"]
        v["release"] = header.get("release")
        v["stack_id"] = self.parts.stack_id
        if self.cpus:
            v["rcu_cpus"] = v["rcu_cpus"] or ",".join(self.cpus)
            v["rcu_cpu_flags"] = ";".join(self.cpu_flags)
            if v["cpu"] is None:
                v["cpu"] = int(self.cpus[0])
        super().finish(cut)
        v["reason"] = self.skips.reasons(self.problems)
        v["corrupted"] = v["reason"] is not None
        self.row("lockups", **v)


class SoftLockupBlock(LockupBlock):
    kind = "soft_lockup"


class HardLockupBlock(LockupBlock):
    kind = "hard_lockup"


class RcuStallBlock(LockupBlock):
    kind = "rcu_stall"


class WorkqueueLockupBlock(LockupBlock):
    kind = "workqueue_lockup"


_BLOCKS: dict[str, type[LockupBlock]] = {
    "soft": SoftLockupBlock,
    "hard": HardLockupBlock,
    "rcu": RcuStallBlock,
    "workqueue": WorkqueueLockupBlock,
}


class WorkqueueDumpBlock(Block):
    kind = "workqueue_dump"

    def __init__(self, first: Line, event_id: int, sink: Sink) -> None:
        super().__init__(first, event_id, sink)
        self.wq: tuple[str, int] | None = None
        self.pwq: dict[str, Any] | None = None
        self.rows: list[dict[str, Any]] = []
        self.parts = DumpParts(self, meminfo=False)
        self.task: SubParser | None = None
        self.dump_id: int | None = None
        self.complete = True

    def feed(self, line: Line) -> Feed:
        if self.task is not None:
            verdict = self.task.feed(line)
            if verdict is not Feed.END:
                return verdict
            task, self.task = self.task, None
            task.finish(None)
            self.problems.extend(task.problems)
        text = line.text
        first = text[:1]
        if first == "w":
            m = _WQ.match(text)
            if m is not None:
                self.wq = (m["name"], int(m["flags"], 16))
                return Feed.TAKE
        elif first == " ":
            m = _PWQ.match(text)
            if m is not None:
                self._pwq(line, m)
                return Feed.TAKE
            m = _LIST.match(text)
            if m is not None and self.pwq is not None:
                self._list(m["kind"], m["items"].strip())
                return Feed.TAKE
        elif first == "p":
            m = _WPOOL.match(text)
            if m is not None:
                self._pool(line, m)
                return Feed.TAKE
        if text.startswith(_STALLED_BT):
            return Feed.TAKE
        if is_task_line(text):
            if self.dump_id is None:
                self.dump_id = self.next_id("dump")
            self.task = TaskDump(self, line, dump_id=self.dump_id)
            return Feed.TAKE
        part = self.parts.feed(line)
        return part if part is not None else Feed.END

    def _pwq(self, line: Line, m: re.Match[str]) -> None:
        name, flags = self.wq if self.wq is not None else (None, None)
        if self.wq is None:
            self.problems.append(f"pwq line {line.line_no} without its workqueue line")
        self.pwq = {
            "boot": line.boot, "ts": line.ts, "line_no": line.line_no, "workqueue": name,
            "wq_flags": flags, "pwq": int(m["pwq"]), "pool_cpus": m["cpus"],
            "pool_node": _int(m["node"]), "pool_flags": int(m["pflags"], 16),
            "pool_nice": int(m["nice"]), "active": int(m["active"]), "max_active": _int(m["max"]),
            "refcnt": _int(m["refcnt"]), "mayday": m["mayday"] is not None, "in_flight": None,
            "n_in_flight": None, "in_flight_pids": None, "rescuer_busy": None, "pending": None,
            "n_pending": None, "inactive": None, "n_inactive": None,
        }  # fmt: skip
        self.rows.append(self.pwq)

    def _list(self, kind: str, items: str) -> None:
        p = self.pwq
        assert p is not None
        if kind == "in-flight":
            workers = [w for w in _INFLIGHT_SPLIT.split(items) if w.strip()]
            pids = []
            n = 0
            for w in workers:
                head, _, funcs = w.partition(":")
                pids.append(head.replace("(RESCUER)", "").strip())
                n += sum(1 for tok in funcs.split() if not tok.startswith(("[", "(")))
            p["in_flight"], p["n_in_flight"] = items, n
            p["in_flight_pids"] = ",".join(pids)
            p["rescuer_busy"] = "(RESCUER)" in items
        elif kind == "pending":
            p["pending"], p["n_pending"] = items, _count_works(items)
        else:
            p["inactive"], p["n_inactive"] = items, _count_works(items)

    def _pool(self, line: Line, m: re.Match[str]) -> None:
        idle = m["idle"].split() if m["idle"] else []
        self.row("worker_pools", boot=line.boot, ts=line.ts, line_no=line.line_no,
                 pool=int(m["pool"]), cpus=m["cpus"], node=_int(m["node"]),
                 flags=int(m["pflags"], 16), nice=int(m["nice"]), hung_s=_int(m["hung"]),
                 workers=_int(m["workers"]), manager_pid=_int(m["manager"]),
                 idle_pids=",".join(idle) or None, n_idle=len(idle))  # fmt: skip
        self.pwq = None

    def finish(self, cut: str | None) -> None:
        if self.task is not None:
            self.task.finish(cut)
            self.problems.extend(self.task.problems)
            self.task = None
        self.parts.finish(cut)
        super().finish(cut)
        for r in self.rows:
            self.row("workqueues", **r)


class LockupFamily(Family):
    name = "lockup"
    priority = 60
    triggers = (
        "BUG: soft lockup",
        "Watchdog detected hard LOCKUP",
        "BUG: workqueue lockup",
        "detected stall",
        _SHOWING,
    )
    pattern = regex.compile(
        r"BUG: soft lockup - CPU#\d+ stuck for \d+s!|Watchdog detected hard LOCKUP on cpu \d+"
        r"|BUG: workqueue lockup - pool .* stuck for \d+s!"
        r"|INFO: \S+ (?:self-detected stall on CPU|detected stalls on )"
        r"|^Showing busy workqueues and worker pools:"
    )
    tables = (LOCKUPS, WORKQUEUES, WORKER_POOLS)
    parts = (TaskDump, CallTrace)  # DumpParts without Mem-Info

    def __init__(self) -> None:
        self._wq_lockups: dict[tuple[str, int], list[dict[str, Any]]] = {}

    def start(self, line: Line, match: regex.Match[str], event_id: int, sink: Sink) -> Block | None:
        text = line.text
        if text.startswith(_SHOWING):
            self._link_wq(line, event_id)
            return WorkqueueDumpBlock(line, event_id, sink)
        if text.startswith("Kernel panic"):
            return None  # the panic message of a lockup already reported
        v: dict[str, Any] = dict.fromkeys(c.name for c in LOCKUPS.columns)
        v.update(boot=line.boot, ts=line.ts, line_no=line.line_no, n_task_dumps=0)
        problems: list[str] = []
        m = _SOFT.search(text)
        if m is not None:
            v.update(kind="soft", prefix=m["pfx"], cpu=int(m["cpu"]), stuck_s=int(m["secs"]),
                     comm=m["comm"], pid=int(m["pid"]))  # fmt: skip
        elif (m := _HARD.search(text)) is not None:
            v.update(kind="hard", prefix=m["pfx"], cpu=int(m["cpu"]))
        elif (m := _WQ_LOCKUP.search(text)) is not None:
            v.update(kind="workqueue", stuck_s=int(m["secs"]), wq_pool_cpus=m["cpus"],
                     wq_pool_node=_int(m["node"]), wq_pool_flags=int(m["pflags"], 16),
                     wq_pool_nice=int(m["nice"]))  # fmt: skip
        elif (m := _RCU.search(text)) is not None:
            v.update(kind="rcu", prefix="rcu" if text.startswith("rcu: ") else None,
                     rcu_flavor=m["flavor"],
                     rcu_self_detected=m["what"].startswith("self"))  # fmt: skip
            rest = m["rest"]
            cpus = _RCU_LIST.search(rest)
            if cpus is not None:
                v["rcu_cpus"] = ",".join(cpus["cpus"].split()) or None
            if "jiffies" in rest:
                t = _RCU_T.search(rest)
                if t is None:
                    problems.append("RCU stall line: `(t=… jiffies …)` part unreadable")
                else:
                    v["rcu_t_jiffies"] = int(t["t"])
                    for c, g in (("rcu_g", "g"), ("rcu_c", "c"), ("rcu_q", "q"),
                                 ("rcu_ncpus", "ncpus"), ("rcu_detected_by", "by")):  # fmt: skip
                        if t[g] is not None:
                            v[c] = int(t[g])
        else:
            return None
        if text[: m.start()].strip():
            problems.append(f"report glued behind other text: {text[: m.start()]!r}")
        block = _BLOCKS[v["kind"]](line, event_id, sink, v)
        block.problems.extend(problems)
        if v["kind"] == "workqueue":
            self._wq_lockups.setdefault((line.source, line.boot), []).append(v)
        return block

    def _link_wq(self, line: Line, event_id: int) -> None:
        """Workqueue lockup lines just before this dump get its event_id."""
        pending = self._wq_lockups.pop((line.source, line.boot), [])
        for v in pending:
            ts = v["ts"]
            if math.isnan(ts) or math.isnan(line.ts) or 0 <= line.ts - ts <= WQ_LINK_S:
                v["workqueue_dump_id"] = event_id
