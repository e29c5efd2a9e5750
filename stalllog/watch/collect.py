"""What `stalllog watch` takes from the parse as it runs (in the reader thread, run.py).

The parse is the normal one (the same families, dispatcher and line stage); the collector is
its observer (engine.dispatch.Observer). A block's rows are final when the block ends, so they
are turned into facts then: stall evidence by the rules of analyze.evidence (kmallocwd
`MemAlloc:` lines, warn_alloc stall reports, hung tasks and D-state/NMI task dumps whose trace is
in the page allocator), kmallocwd scans, repeated reports for the episode gap
(analyze.timeline), and row events. An OOM kill is told as soon as its `Killed process` line
is read (the row may still take an `oom_reaper` line later: that is not waited for).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stalllog.analyze.classify import MAX_FRAMES, classify_symbols
from stalllog.analyze.findings_oom import HELD_LONG_S
from stalllog.analyze.hz import MIN_PAIR_S, snap_hz
from stalllog.analyze.stack_rules import Classification

WATCHED = frozenset(
    {
        "memalloc",
        "memalloc_scans",
        "alloc_stalls",
        "hung_tasks",
        "tasks",
        "nmi_backtraces",
        "frames",
        "stacks",
        "lockups",
        "printk_loss",
    }
)
ROW_EVENTS = {"hung_tasks": "hung_task", "lockups": "lockup", "printk_loss": "printk_loss"}
# rows that own a trace: an oom_lock holder's stack in one is evidence (analyze.oom_lock)
_STACK_OWNERS = frozenset(
    {"memalloc", "hung_tasks", "nmi_backtraces", "lockups", "alloc_stalls", "tasks"}
)
_OOM_ROWS_KEPT = 256  # oom_events rows waiting for a kill line (a dump whose kill never came)
_HZ_KEYS_KEPT = 4096  # (boot, pid, seq) of recent kmallocwd lines, to measure HZ


@dataclass(slots=True)
class Evidence:
    """A report that a task is stuck in the allocator (a point of a stall episode)."""

    boot: int | None
    ts: float | None
    line: int
    line_end: int  # the report's last line: its block (warn_alloc, hung task), else its trace
    source: str  # memalloc, alloc_stall, hung_task, task_dump
    pid: int | None
    comm: str | None
    delay_s: float | None
    stuck_in: str | None
    weak: bool = False  # a hung task outside the allocator: joins an episode, never starts one


@dataclass(slots=True)
class Report:
    """A report repeated at a cadence (scan header, per-task warn_alloc or hung task): the
    intervals between them set the episode gap (analyze.timeline.gap_by_boot)."""

    boot: int | None
    key: str
    ts: float | None


@dataclass(slots=True)
class Scan:
    """A kmallocwd `MemAlloc-Info:` line; stalling=0 ends an episode."""

    boot: int | None
    ts: float | None
    line: int
    stalling: int | None
    early: bool = False  # told on its header line, before the scan ended: may only start


@dataclass(slots=True)
class RowEvent:
    """A row reported as it is: oom_kill, hung_task, lockup, printk_loss."""

    kind: str
    table: str
    row: dict[str, Any]
    line_start: int | None
    line_end: int | None


@dataclass(slots=True)
class Holder:
    """A trace inside out_of_memory (classify: oom_lock_role holder): the task holds oom_lock."""

    boot: int | None
    ts: float | None
    line: int
    pid: int | None
    comm: str | None
    detail: str | None  # where in out_of_memory (stuck_detail)


@dataclass(slots=True)
class Lockup:
    """A lockup report (RCU stall, soft/hard lockup): a holder's trace printed near it was
    on a CPU that made no progress."""

    boot: int | None
    ts: float | None
    line: int
    kind: str | None
    rcu_t_jiffies: int | None
    stuck_s: float | None


@dataclass(slots=True)
class OpenDump:
    """An OOM dump still open (no kill line yet) while the log's clock ran HELD_LONG_S past
    its header: its invoker holds oom_lock all that time."""

    boot: int | None
    ts: float | None  # the log's clock
    line: int  # the last line read
    row: dict[str, Any]  # the oom_events row so far


@dataclass(slots=True)
class Clock:
    """The last line of a batch: the log went on to here."""

    boot: int | None
    ts: float | None
    line: int


Fact = Evidence | Report | Scan | RowEvent | Clock | Holder | Lockup | OpenDump


def _num(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def plain_row(row: dict[str, Any]) -> dict[str, Any]:
    """A copy fit for JSON (NaN is null): the parser may still change the original."""
    return {k: _num(v) for k, v in row.items()}


class Collector:
    """The dispatcher's observer: facts for the main thread, in line order, through `put`."""

    def __init__(self, put: Callable[[Fact], None], hz: int | None = None) -> None:
        self.put = put
        self.hz_arg = hz
        self.pending: dict[int, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        self.unkilled: dict[int, dict[str, Any]] = {}  # id(row) -> oom_events row
        self._delays: dict[tuple[Any, ...], tuple[float, float]] = {}
        self._rates: dict[int | None, deque[float]] = defaultdict(lambda: deque(maxlen=1000))
        self.hz: dict[int | None, int] = {}
        self.early: dict[int, Scan] = {}  # id(memalloc_scans row) -> its scan, told early
        self.told_open: set[int] = set()  # id(oom_events row) of dumps told open too long

    # -- engine.dispatch.Observer ------------------------------------------------------
    def row(self, table: str, values: dict[str, Any]) -> None:
        if table == "oom_events":
            self.unkilled[id(values)] = values
            if len(self.unkilled) > _OOM_ROWS_KEPT:
                del self.unkilled[next(iter(self.unkilled))]
        elif table in WATCHED:
            self.pending[values.get("event_id", -1)].append((table, values))
            if table == "memalloc_scans" and (values.get("stalling") or 0) > 0:
                # the header line alone says tasks stall: start after this batch, not when
                # the scan's task list ends (its traces can take seconds on a serial console)
                boot, ts = values.get("boot"), _num(values.get("ts"))
                scan = Scan(boot, ts, values["line_no"], values["stalling"], early=True)
                self.early[id(values)] = scan

    def finished(self, event: dict[str, Any]) -> None:
        self.flush()  # a kill read before this block ended is told first
        rows = self.pending.pop(event["event_id"], [])
        for _, r in rows:
            self.early.pop(id(r), None)  # ended before it was told early: told now
        if rows:
            facts = _facts(event, rows, self._delay_s)
            facts.sort(key=_line_order)
            for fact in facts:
                self.put(fact)

    # -- after each batch ----------------------------------------------------------------
    def after_batch(self, batch: pa.RecordBatch, open_firsts: frozenset[int]) -> None:
        """open_firsts: the first lines of the blocks still open. The clock stops short of the
        oldest: the facts of that block come later, and must not find the clock past them."""
        open_from = min(open_firsts, default=None)
        self.flush()
        line_no = batch.column("line_no")
        n = batch.num_rows
        if n and self.unkilled:
            self._open_dumps(batch, open_firsts)
        if open_from is not None and n:
            n = int(pc.sum(pc.less(line_no, open_from)).as_py() or 0)
        if n:
            ts = pc.max(batch.column("ts").slice(0, n)).as_py()
            self.put(Clock(batch.column("boot")[n - 1].as_py(), _num(ts), line_no[n - 1].as_py()))
        for scan in self.early.values():  # after the clock of the lines before them
            self.put(scan)
        self.early.clear()

    def _open_dumps(self, batch: pa.RecordBatch, open_firsts: frozenset[int]) -> None:
        now = _num(pc.max(batch.column("ts")).as_py())
        if now is None:
            return
        for key, row in self.unkilled.items():
            ts = _num(row.get("ts"))
            if (
                key not in self.told_open
                and ts is not None
                and now - ts > HELD_LONG_S
                and row.get("line_start") in open_firsts
            ):
                self.told_open.add(key)
                line = batch.column("line_no")[batch.num_rows - 1].as_py()
                self.put(OpenDump(row.get("boot"), now, line, plain_row(row)))

    def flush(self) -> None:
        """Tell the OOM kills whose kill line was read."""
        for key, row in list(self.unkilled.items()):
            if row.get("kill_line_no") is not None:
                del self.unkilled[key]
                self.told_open.discard(key)
                start = row.get("line_start")
                self.put(
                    RowEvent("oom_kill", "oom_events", plain_row(row), start, row["kill_line_no"])
                )

    # -- HZ, as analyze.hz infers it -----------------------------------------------------
    def _delay_s(self, r: dict[str, Any]) -> float | None:
        jiffies, ts, boot = r.get("delay_jiffies"), _num(r.get("ts")), r.get("boot")
        if jiffies is None:
            return None
        if ts is not None and r.get("pid") is not None:
            key = (boot, r["pid"], r.get("seq"))
            prev = self._delays.pop(key, None)
            self._delays[key] = (ts, jiffies)
            if len(self._delays) > _HZ_KEYS_KEPT:
                del self._delays[next(iter(self._delays))]
            # sub-second pairs are too short to measure; a shrinking delay is a new request
            if prev is not None and ts - prev[0] > MIN_PAIR_S and jiffies > prev[1]:
                self._rates[boot].append((jiffies - prev[1]) / (ts - prev[0]))
                hz = snap_hz(statistics.median(self._rates[boot]))
                if hz is not None:
                    self.hz[boot] = hz
        hz = self.hz.get(boot, self.hz_arg)
        return jiffies / hz if hz else None


def _stack_classes(rows: list[tuple[str, dict[str, Any]]]) -> dict[int, Classification]:
    """stack_id -> class of the stacks among these rows, as analyze.classify classifies them
    (reliable frames with a symbol, innermost first)."""
    frames: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for table, r in rows:
        if table == "frames" and r.get("symbol") is not None and r.get("reliable") is not False:
            frames[r["stack_id"]].append((r.get("depth") or 0, r["symbol"]))
    out = {}
    for sid, fr in frames.items():
        fr.sort()
        out[sid] = classify_symbols([s for _, s in fr[:MAX_FRAMES]])
    return out


def _facts(
    event: dict[str, Any],
    rows: list[tuple[str, dict[str, Any]]],
    delay_s: Callable[[dict[str, Any]], float | None],
) -> list[Fact]:
    """The facts of one finished event's rows."""
    classes = _stack_classes(rows)
    stack_end = {r["stack_id"]: r.get("line_end") for t, r in rows if t == "stacks"}
    out: list[Fact] = []
    for table, r in rows:
        out += _row_facts(table, r, event, classes, stack_end, delay_s)
    return out


def _row_facts(
    table: str,
    r: dict[str, Any],
    event: dict[str, Any],
    classes: dict[int, Classification],
    stack_end: dict[int, int | None],
    delay_s: Callable[[dict[str, Any]], float | None],
) -> list[Fact]:
    cls = classes.get(r.get("stack_id", -1))
    stuck_in = None if cls is None else cls.stuck_in
    in_alloc = cls is not None and bool(cls.in_allocator)
    boot, ts, line = r.get("boot", event["boot"]), _num(r.get("ts")), r.get("line_no") or 0
    trace_end = max(line, stack_end.get(r.get("stack_id", -1)) or 0)
    out: list[Fact] = []

    def evidence(source: str, end: int, delay: float | None, weak: bool = False) -> None:
        out.append(
            Evidence(
                boot, ts, line, end, source, r.get("pid"), r.get("comm"), delay, stuck_in, weak
            )
        )

    if table in ("alloc_stalls", "hung_tasks"):
        out.append(Report(boot, table + ":" + _who(r), ts))
    if table == "memalloc_scans":
        out.append(Scan(boot, ts, line, r.get("stalling")))
        if r.get("position") != "trailer":
            out.append(Report(boot, "scan", ts))
    elif table == "memalloc" and _stalling_or_kswapd(r):
        evidence("memalloc", trace_end, delay_s(r))
    elif table == "alloc_stalls":
        ms = r.get("stall_ms")
        evidence("alloc_stall", event["line_end"], None if ms is None else ms / 1000)
    elif table == "hung_tasks":
        evidence("hung_task", event["line_end"], _num(r.get("blocked_s")), not in_alloc)
    elif table == "tasks" and event.get("family") not in ("hung_task", "kmallocwd"):
        if r.get("state") == "D" and in_alloc:
            # a dump's task lines carry no time of their own: the dump event's
            boot, ts = event["boot"], _num(event["ts"])
            evidence("task_dump", trace_end, None)
    elif table == "nmi_backtraces" and in_alloc:
        evidence("task_dump", trace_end, None)
    if table in _STACK_OWNERS and cls is not None and cls.oom_lock_role == "holder":
        if ts is None and table == "tasks":  # a dump's task line: the dump's time
            ts = _num(event["ts"])
        out.append(Holder(boot, ts, line, r.get("pid"), r.get("comm"), cls.stuck_detail))
    if table == "lockups":
        out.append(
            Lockup(boot, ts, line, r.get("kind"), r.get("rcu_t_jiffies"), _num(r.get("stuck_s")))
        )
    if table in ROW_EVENTS:
        out.append(
            RowEvent(ROW_EVENTS[table], table, plain_row(r), event["line_start"], event["line_end"])
        )
    return out


def _stalling_or_kswapd(r: dict[str, Any]) -> bool:
    """kmallocwd lists stalling tasks, kswapd threads whenever anything stalls, and dying or
    exiting tasks that are no stall evidence (analyze.evidence)."""
    return bool(r.get("stalling")) or str(r.get("comm") or "").startswith("kswapd")


def _line_order(fact: Fact) -> int:
    return -1 if isinstance(fact, Report | RowEvent) else (fact.line or 0)


def _who(r: dict[str, Any]) -> str:
    return str(r["pid"]) if r.get("pid") is not None else str(r.get("comm") or "?")


__all__ = [
    "Clock", "Collector", "Evidence", "Fact", "Holder", "Lockup", "OpenDump", "Report", "RowEvent",
    "Scan",
]  # fmt: skip
