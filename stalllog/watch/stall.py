"""The stall state machine of `stalllog watch`: stall episodes as the log comes in.

The rules are the analyzers' (analyze/stalls.py, episodes.py, timeline.py), applied to each
fact as it arrives instead of to the whole boot:

- an episode starts at the first stall evidence (collect.Evidence, or a kmallocwd scan with
  stalling > 0);
- it ends when a kmallocwd scan reports stalling=0 (`cleared`), when the log's clock runs past
  the episode gap after its last evidence (`quiet`), when no input came for `quiet_after`
  seconds of wall time (`quiet`, a live machine that went silent), at a new boot (`reboot`), or
  at the end of the input (`end_of_input`, `interrupted` on Ctrl-C);
- the gap is the analyzers' (max(60 s, 3 x the median reporting interval), intervals of 0.5 to
  300 s) over the intervals seen so far in the boot, infinite in a boot without timestamps.

Replaying a whole capture thus yields the episodes `analyze` finds (tests/test_watch.py); they
differ only where the later part of a boot changes the median interval, or a report of one
allocation comes after a gap longer than the gap.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stalllog.analyze.timeline import GAP_FACTOR, MAX_INTERVAL_S, MIN_GAP_S, MIN_INTERVAL_S

from .collect import Clock, Evidence, Fact, Report, RowEvent, Scan

Emit = Callable[[dict[str, Any]], None]
UPDATE_EVERY_S = 1.0  # at most one stall_update per second of wall time
_KEYS_KEPT = 4096  # repeated-report keys remembered per boot (tasks come and go)
_PIDS_SHOWN = 100


@dataclass
class _Task:
    pid: int | None
    comm: str | None
    source: str
    first_line: int
    last_line: int
    last_x: float
    delay_s: float | None
    stuck_in: str | None


@dataclass
class Episode:
    number: int
    boot: int | None
    first_line: int
    start_ts: float | None
    last_line: int
    end_ts: float | None
    reach: float  # position of the last evidence: ts, or the line in a boot without ts
    start_x: float  # position of the first
    tasks: dict[tuple[Any, ...], _Task] = field(default_factory=dict)
    kills: int = 0
    peak_stalled: int = 0
    scans_stalling: int | None = None
    longest_delay_s: float | None = None

    def stalled(self, gap: float) -> list[_Task]:
        return [t for t in self.tasks.values() if self.reach - t.last_x <= gap]


class StallTracker:
    def __init__(
        self,
        emit: Emit,
        quiet_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.emit = emit
        self.quiet_after = quiet_after
        self.now = clock
        self.episode: Episode | None = None
        self.episodes = 0
        self.boot: int | None = None
        self.timed = False  # this boot has timestamps: episodes are ordered by ts
        self.last_ts: float | None = None  # the log's clock in this boot
        self.intervals: deque[float] = deque(maxlen=10_000)
        self.last_report: dict[str, float] = {}
        self.waiting: deque[Evidence] = deque(maxlen=_PIDS_SHOWN)  # weak evidence, no episode
        self.last_input = self.now()
        self._last_update = -math.inf
        self._changed = False

    # -- facts ---------------------------------------------------------------------------
    def feed(self, fact: Fact) -> None:
        self.last_input = self.now()
        if isinstance(fact, RowEvent):
            if fact.kind == "oom_kill" and self.episode is not None:
                self.episode.kills += 1
            return
        self._boot(fact.boot, getattr(fact, "line", None))
        if fact.ts is not None:
            if not self.timed and self.episode is not None:
                # positions were lines: bfill them from this ts
                self.episode.reach = self.episode.start_x = math.nan
            self.timed = True
            self.last_ts = fact.ts if self.last_ts is None else max(self.last_ts, fact.ts)
        if isinstance(fact, Report):
            self._report(fact)
        elif isinstance(fact, Clock):
            self._quiet_by_log(fact.line)
        elif isinstance(fact, Scan):
            self._scan(fact)
        elif isinstance(fact, Evidence):
            self._evidence(fact)

    def tick(self) -> None:
        """Called while no input comes: a silent machine ends its episode after quiet_after
        (default: the episode gap) seconds of wall time."""
        ep = self.episode
        if ep is None:
            return
        quiet = self.quiet_after if self.quiet_after is not None else self.gap()
        if math.isfinite(quiet) and self.now() - self.last_input > quiet:
            self.end("quiet", ep.last_line)
        elif self._changed and self.now() - self._last_update >= UPDATE_EVERY_S:
            self._update()

    def close(self, reason: str = "end_of_input") -> None:
        if self.episode is not None:
            self.end(reason, self.episode.last_line)

    # -- rules ---------------------------------------------------------------------------
    def gap(self) -> float:
        if not self.timed:
            return math.inf
        if not self.intervals:
            return MIN_GAP_S
        return max(MIN_GAP_S, GAP_FACTOR * statistics.median(self.intervals))

    def _boot(self, boot: int | None, line: int | None) -> None:
        if boot == self.boot:
            return
        if self.episode is not None:
            self.end("reboot", line if line is not None else self.episode.last_line)
        self.boot, self.timed, self.last_ts = boot, False, None
        self.intervals.clear()
        self.last_report.clear()
        self.waiting.clear()

    def _report(self, r: Report) -> None:
        if r.ts is None:
            return
        prev = self.last_report.pop(r.key, None)
        self.last_report[r.key] = r.ts
        if len(self.last_report) > _KEYS_KEPT:
            del self.last_report[next(iter(self.last_report))]
        if prev is not None and MIN_INTERVAL_S < r.ts - prev <= MAX_INTERVAL_S:
            self.intervals.append(r.ts - prev)

    def _x(self, ts: float | None, line: int) -> float:
        if not self.timed:
            return float(line)
        # a report without a time of its own takes the previous one's (analyze fill_ts); none
        # before it: NaN, which joins whatever comes next (its bfill)
        if ts is not None:
            return ts
        if self.episode is not None:
            return self.episode.reach
        return math.nan

    def _quiet_by_log(self, line: int) -> None:
        ep = self.episode
        ts = self.last_ts
        if ep is not None and self.timed and ts is not None and ts - ep.reach > self.gap():
            self.end("quiet", ep.last_line)

    def _scan(self, s: Scan) -> None:
        if s.stalling == 0:
            if self.episode is not None:
                self.end("cleared", s.line)
            return
        if s.stalling is None or (s.early and self.episode is not None):
            return  # an open episode takes the scan when it ended, with its interval
        ep = self._point(s.ts, s.line, s.line, None)
        ep.scans_stalling = s.stalling
        ep.peak_stalled = max(ep.peak_stalled, s.stalling)

    def _weak(self, e: Evidence) -> Episode | None:
        """A hung task outside the allocator joins the episode it falls within the gap of
        (analyze.place); one before any episode waits in case one starts within the gap."""
        x, ep = self._x(e.ts, e.line), self.episode
        if ep is not None and math.isnan(ep.reach):
            ep.reach = ep.start_x = x  # its reports had no time: they take this one's (bfill)
        if ep is not None and ep.start_x - self.gap() <= x <= ep.reach + self.gap():
            return ep
        self.waiting.append(e)
        return None

    def _join_waiting(self, ep: Episode) -> None:
        gap = self.gap()
        for w in self.waiting:
            if ep.reach - self._x(w.ts, w.line) <= gap:
                ep.first_line = min(ep.first_line, w.line)
                self._add_task(ep, w, self._x(w.ts, w.line))
        self.waiting.clear()

    def _evidence(self, e: Evidence) -> None:
        if e.weak:
            weak_ep = self._weak(e)
            if weak_ep is not None:
                weak_ep.last_line = max(weak_ep.last_line, e.line_end)
                self._add_task(weak_ep, e, self._x(e.ts, e.line))
            return
        ep = self._point(e.ts, e.line, e.line_end, e, e.delay_s)
        self._add_task(ep, e, self._x(e.ts, e.line))

    def _add_task(self, ep: Episode, e: Evidence, x: float) -> None:
        key = (e.pid,) if e.pid is not None else (e.comm,)
        t = ep.tasks.pop(key, None) or _Task(e.pid, e.comm, e.source, e.line, e.line, x, None, None)
        t.last_line, t.last_x = e.line, x
        if e.source not in t.source.split("|"):
            t.source += "|" + e.source
        if e.delay_s is not None:
            t.delay_s = max(t.delay_s or 0.0, e.delay_s)
            ep.longest_delay_s = max(ep.longest_delay_s or 0.0, e.delay_s)
        t.stuck_in = e.stuck_in or t.stuck_in
        ep.tasks[key] = t
        ep.peak_stalled = max(ep.peak_stalled, len(ep.stalled(self.gap())))

    def _point(
        self,
        ts: float | None,
        line: int,
        line_end: int,
        e: Evidence | None,
        delay_s: float | None = None,
    ) -> Episode:
        x = self._x(ts, line)
        # a report whose allocation began within the gap continues the episode: the same
        # request was in flight all along (the analyzers' attempt rule, seen from one report)
        began = x - delay_s if delay_s is not None and self.timed else x
        ep = self.episode
        if ep is not None and began - ep.reach > self.gap():
            self.end("quiet", ep.last_line)
            ep = None
        if ep is None:
            ep = self.episode = Episode(self.episodes, self.boot, line, ts, line, ts, x, x)
            self.episodes += 1
            self._last_update = self.now()
            self._join_waiting(ep)
            self.emit(self._started(ep, e))
        if math.isnan(ep.reach):
            ep.reach = ep.start_x = x
        ep.reach = max(ep.reach, x)
        ep.last_line = max(ep.last_line, line_end)
        if ts is not None:
            ep.end_ts = ts if ep.end_ts is None else max(ep.end_ts, ts)
        self._changed = True
        if self.now() - self._last_update >= UPDATE_EVERY_S:
            self._update()
        return ep

    # -- events --------------------------------------------------------------------------
    def _started(self, ep: Episode, e: Evidence | None) -> dict[str, Any]:
        return {
            "event": "stall_started",
            "episode": ep.number,
            "boot": ep.boot,
            "ts": ep.start_ts,
            "line_start": ep.first_line,
            "line_end": ep.first_line,
            "source": e.source if e else "memalloc_scan",
            "pid": e.pid if e else None,
            "comm": e.comm if e else None,
            "stuck_in": e.stuck_in if e else None,
        }

    def _summary(self, ep: Episode) -> dict[str, Any]:
        stalled = ep.stalled(self.gap())
        pids = sorted({t.pid for t in stalled if t.pid is not None})
        return {
            "episode": ep.number,
            "boot": ep.boot,
            "start_ts": ep.start_ts,
            "end_ts": ep.end_ts,
            "line_start": ep.first_line,
            "line_end": ep.last_line,
            "stalled": max(len(stalled), ep.scans_stalling or 0),
            "tasks": len(ep.tasks),
            "pids": pids[:_PIDS_SHOWN],
            "longest_delay_s": ep.longest_delay_s,
            "classes": dict(Counter(t.stuck_in or "unknown" for t in stalled)),
            "kills": ep.kills,
            "peak_stalled": ep.peak_stalled,
        }

    def _update(self) -> None:
        ep = self.episode
        self._last_update = self.now()
        self._changed = False
        if ep is not None:
            self.emit({"event": "stall_update", **self._summary(ep)})

    def end(self, reason: str, line: int) -> None:
        ep = self.episode
        if ep is None:
            return
        if self._changed:
            self._update()
        self.episode = None
        duration = None
        if ep.start_ts is not None and ep.end_ts is not None:
            duration = ep.end_ts - ep.start_ts
        self.emit(
            {
                "event": "stall_ended",
                **self._summary(ep),
                "reason": reason,
                "ended_at_line": line,
                "duration_s": duration,
            }
        )
