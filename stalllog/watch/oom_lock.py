"""`oom_lock_held_long`: a task holds the OOM killer's lock too long, told as the log shows it.

The analyzers' evidence and thresholds (analyze/oom_lock.py, analyze/findings_oom.py), as the
log comes in:

- `oom_dump`: the task that printed `invoked oom-killer` holds oom_lock until its kill line.
  Told while the dump is still open once the log's clock is HELD_LONG_S past the header
  (`ongoing` true), or at a kill line that came later than that;
- `stack`: traces inside out_of_memory (`oom_lock_role` holder) of one pid, seen again with no
  other holder seen in between, over more than HELD_LONG_S;
- `lockup`: a holder's trace printed by a lockup report (RCU stall, soft/hard lockup) at most
  LOCKUP_REACH lines before it: it held the lock on a CPU that made no progress.

Each hold is told once: the same holder seen again, with no other holder in between, is the same
hold. Held times are lower bounds, as in the `oom_lock` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stalllog.analyze.findings_oom import HELD_LONG_S, LOCKUP_REACH

from .collect import Holder, Lockup, OpenDump, RowEvent
from .stall import Emit


@dataclass
class _Hold:
    pid: int | None
    comm: str | None
    start_ts: float | None
    start_line: int
    told: bool = False


class OomLockWatch:
    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.boot: int | None = None
        self.hold: _Hold | None = None  # the last holder seen in this boot
        self.lockup: Lockup | None = None  # the last lockup report in this boot

    def feed(self, fact: Holder | Lockup | OpenDump | RowEvent) -> None:
        boot = fact.row.get("boot") if isinstance(fact, RowEvent) else fact.boot
        if boot != self.boot:
            self.boot, self.hold, self.lockup = boot, None, None
        if isinstance(fact, Lockup):
            self.lockup = fact
        elif isinstance(fact, Holder):
            self._stack(fact)
        elif isinstance(fact, OpenDump):
            r = fact.row
            hold = self._holder(r.get("trigger_pid"), r.get("trigger_comm"), r.get("ts"), r)
            self._tell(hold, "oom_dump", fact.ts, fact.line, r, ongoing=True)
        elif fact.kind == "oom_kill":
            r = fact.row
            ts, ts_kill = r.get("ts"), r.get("ts_kill")
            if ts is None or ts_kill is None or r.get("trigger_pid") is None:
                return
            hold = self._holder(r["trigger_pid"], r.get("trigger_comm"), ts, r)
            if ts_kill - ts > HELD_LONG_S:
                self._tell(hold, "oom_dump", ts_kill, r.get("kill_line_no"), r, ongoing=False)
            self.hold = None  # released after the kill: the next dump is a new hold

    def _holder(
        self, pid: int | None, comm: str | None, ts: float | None, row: dict[str, Any]
    ) -> _Hold:
        h = self.hold
        line = row.get("line_start") or 0
        if h is None or h.pid != pid:
            h = self.hold = _Hold(pid, comm, ts, line)
        elif h.start_ts is None:
            h.start_ts = ts
        return h

    def _stack(self, f: Holder) -> None:
        h = self.hold
        if h is None or h.pid != f.pid:
            h = self.hold = _Hold(f.pid, f.comm, f.ts, f.line)
        elif h.start_ts is None:
            h.start_ts = f.ts
        lock = self.lockup
        if lock is not None and 0 <= f.line - lock.line <= LOCKUP_REACH:
            self._tell(h, "lockup", f.ts, f.line, {}, ongoing=True, lockup=lock, detail=f.detail)
        elif h.start_ts is not None and f.ts is not None and f.ts - h.start_ts > HELD_LONG_S:
            self._tell(h, "stack", f.ts, f.line, {}, ongoing=True, detail=f.detail)

    def _tell(
        self,
        h: _Hold,
        how: str,
        ts: float | None,
        line: int | None,
        row: dict[str, Any],
        ongoing: bool,
        lockup: Lockup | None = None,
        detail: str | None = None,
    ) -> None:
        if h.told:
            return
        h.told = True
        held = None if ts is None or h.start_ts is None else round(ts - h.start_ts, 6)
        if how == "lockup" and not held:
            held = None  # one sighting: the lockup's own time says how long (rcu_t_jiffies)
        event: dict[str, Any] = {
            "event": "oom_lock_held_long",
            "boot": self.boot,
            "pid": h.pid,
            "comm": h.comm,
            "evidence": how,
            "start_ts": h.start_ts,
            "ts": ts,
            "held_s": held,
            "ongoing": ongoing,
            "line_start": h.start_line,
            "line_end": line,
            "doing": detail,
        }
        if row:
            event["oom_id"] = row.get("oom_id")
        if lockup is not None:
            event |= {
                "lockup_kind": lockup.kind,
                "lockup_line": lockup.line,
                "rcu_t_jiffies": lockup.rcu_t_jiffies,
                "stuck_s": lockup.stuck_s,
            }
        self.emit(event)
