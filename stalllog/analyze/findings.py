"""Findings: what a kernel developer would conclude, one plain sentence each, with evidence.

Table **`findings`**: one row per conclusion, ordered by boot and first evidence line. Each rule
reads the parsed tables and the other analysis tables (`stack_classes`, `stalled_tasks`,
`episodes`, `oom_lock`); the rules follow ANALYSIS.md §2.4 (what `oom_count` says), §3 (what the
stalled tasks do) and §8 (named findings F1–F12):

Kinds (severity) and their rules:

- `no_oom_progress` (critical past 60 s, else warning): kmallocwd `oom_count` unchanged over ≥2
  scans while `stalling > 0` (§2.4); 2015 headers without oom_count: stalling with dying=0,
  victim=0 and no OOM message; or an episode stalled to its end with no OOM invocation (F6).
- `oom_livelock` (critical): `oom_count` rising with `victim ≥ 1` and no kill line in between
  (§2.4, F3); or rising with victim=0 and an exiting task, no OOM message (the OOM killer waits
  for an exiting task).
- `victim_not_exiting` (warning, critical past 60 s): `oom_reaper: unable to reap` (F4); a
  victim counted by kmallocwd ≥10 s after its kill with no new kill; a victim listed ≥10 s.
- `nofs_cannot_oom` (warning): every stalling allocation (at least two tasks) lacks `__GFP_FS`
  and no OOM header (F5); with kmallocwd, oom_count rising with victim=0 and NOFS masks only.
- `reclaim_throttled` (warning): tasks throttled in reclaim (`too_many_isolated`,
  `congestion_wait`, `reclaim_throttle`, pfmemalloc throttle).
- `kswapd_blocked` (warning; critical when two reports show no context switch): kswapd waiting
  on a lock or IO (F7); or named by a hung-task report (D state, no switch for the timeout).
- `reclaimer_blocked_on_fs` (warning): direct reclaimers waiting on a lock (§3).
- `rescuer_stuck` (critical): a WQ_MEM_RECLAIM rescuer allocating (F8).
- `printk_flood` (warning): printk drops/suppressions inside an episode or while oom_lock was
  held (F9).
- `oom_lock_held_long` (warning; critical past 60 s): an `oom_lock` interval over 5 s (F1, F2);
  or the holder's trace printed by a lockup report (RCU stall, NMI backtrace) (F2).
- `memcg_no_killable` (warning; critical when repeated): memcg OOMs that found no killable
  process (F10).
- `oom_resolved` (info): OOM kills after which the stall ended (F12).
- `thp_thisnode_reclaim` (warning): stalled THP-order allocations bound to one node
  (`__GFP_THISNODE` with direct reclaim), which reclaim that node instead of falling back.
- `analysis_failed` (warning): an analyzer raised; written by step.py, the parse is kept.

`evidence` lists line numbers (`12,40-45`) of the capture's source (the `lines.line_no`);
`start_ts`/`end_ts` are the times of the first and last evidence lines, `pids` every pid named.

The rules live in findings_oom_count.py (kmallocwd counters, victims), findings_stacks.py (what
the stalled tasks do), findings_episodes.py (whole episodes, NOFS) and findings_oom.py (oom_lock,
memcg, OOM outcomes, printk); findings_context.py holds what they share.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pandas as pd

from stalllog.engine.trim import release_mapped, release_memory

from .findings_context import Ctx, floats, has_gfp_fs, interval_of, line_ranges
from .findings_episodes import episode_rules, nofs, thp_thisnode, vmstat_note
from .findings_oom import (
    HELD_CRITICAL_S,
    HELD_LONG_S,
    holder_in_lockup,
    memcg_no_killable,
    oom_lock_rules,
    oom_resolved_outside,
    printk_flood,
)
from .findings_oom_count import VICTIM_STUCK_S, scan_runs, victims
from .findings_stacks import kswapd_hung, stack_rules

# has_gfp_fs, line_ranges, interval_of and the thresholds are re-exported: tests and callers
# import them from here
__all__ = [
    "HELD_CRITICAL_S",
    "HELD_LONG_S",
    "KINDS",
    "SCHEMA",
    "VICTIM_STUCK_S",
    "findings",
    "has_gfp_fs",
    "interval_of",
    "line_ranges",
]

SCHEMA: dict[str, list[tuple[str, str, str, str]]] = {
    "findings": [
        ("finding", "Int64", "", "finding number, from 0"),
        ("boot", "Int64", "", "boot number in the capture"),
        ("episode", "Int64", "", "the stall episode (`episodes`), NA when outside any"),
        ("kind", "string", "", "what was found (see the module docstring)"),
        ("severity", "string", "", "info, warning or critical"),
        ("start_ts", "Float64", "s", "time of the first evidence line"),
        (
            "end_ts",
            "Float64",
            "s",
            "time of the last evidence line (of the latest timed line at or before it)",
        ),
        ("pid", "Int64", "", "the task the finding is about, if one"),
        ("comm", "string", "", "its name"),
        ("pids", "string", "", "every pid the finding names, `,`-joined"),
        ("text", "string", "", "one plain sentence with the numbers"),
        ("evidence", "string", "", "line numbers of the evidence, `12,40-45`"),
    ]
}

KINDS = (
    "oom_lock_held_long",
    "oom_livelock",
    "victim_not_exiting",
    "reclaim_throttled",
    "no_oom_progress",
    "printk_flood",
    "reclaimer_blocked_on_fs",
    "kswapd_blocked",
    "rescuer_stuck",
    "nofs_cannot_oom",
    "memcg_no_killable",
    "oom_resolved",
    "thp_thisnode_reclaim",
    "analysis_failed",  # written by the analysis step when an analyzer raised (step.py)
)


_COLUMNS = [c for c, *_ in SCHEMA["findings"]]
_DTYPES = {c: d for c, d, *_ in SCHEMA["findings"]}

# the order rows come in breaks ties of the final (boot, first line) sort: keep it
RULES = (
    scan_runs,
    victims,
    stack_rules,
    kswapd_hung,
    nofs,
    episode_rules,
    thp_thisnode,
    printk_flood,
    oom_lock_rules,
    holder_in_lockup,
    memcg_no_killable,
    oom_resolved_outside,
)


def findings(tables: dict[str, pd.DataFrame], results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The `findings` table from parsed tables and the other analysis tables (`results`)."""
    ctx = Ctx(tables, results)
    rows = []
    for rule in RULES:
        rows += rule(ctx)
        release_memory()  # what a rule read of a storm's (maybe mapped) tables
    for r in rows:
        if r["kind"] == "no_oom_progress":
            r["summary"] = r["summary"][:-1] + vmstat_note(ctx, r["boot"], r["first_line"]) + "."
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in _DTYPES.items()})
    df = pd.DataFrame(rows)
    # the rules build rows with the names they share with the other tables
    df = df.rename(columns={"ts": "start_ts", "summary": "text", "evidence_lines": "evidence"})
    for c in _COLUMNS:
        if c not in df:
            df[c] = pd.NA
    df["boot"] = df["boot"].astype("Int64")
    df["first_line"] = df["first_line"].astype("Int64")
    ep = ctx.episode_of(df["boot"], df["first_line"])
    df["episode"] = df["episode"].astype("Int64").fillna(ep)
    df = _drop_repeats(df)
    df = df.sort_values(["boot", "first_line"], kind="stable", na_position="last")
    df["finding"] = range(len(df))
    df["end_ts"] = _end_ts(tables, df)
    df["pids"] = _pids(df)
    return df[_COLUMNS].astype(_DTYPES).reset_index(drop=True)


_PID_IN_TEXT = re.compile(r"\((\d+)\)")  # `comm(pid)`, as every rule names a task
_LAST_LINE = re.compile(r"(\d+)$")


def _pids(df: pd.DataFrame) -> list[str | None]:
    out: list[str | None] = []
    for pid, text in zip(df["pid"], df["text"], strict=True):
        found = {int(p) for p in _PID_IN_TEXT.findall(str(text))}
        if pid is not None and not pd.isna(pid):
            found.add(int(pid))
        out.append(",".join(map(str, sorted(found))) or None)
    return out


def _timed_sources(tables: dict[str, pd.DataFrame]) -> Iterator[tuple[pd.DataFrame, str, str]]:
    """(table, line column, ts column) of every parsed row kind that has a line and a time."""
    for name, line_col, ts_col in (("events", "line_start", "ts"), ("events", "line_end", "ts"),
                                   ("oom_events", "kill_line_no", "ts_kill"),
                                   *((n, "line_no", "ts") for n in tables
                                     if n not in ("lines", "unparsed"))):  # fmt: skip
        t = tables.get(name)
        if t is not None and line_col in t and "boot" in t and ts_col in t:
            yield t, line_col, ts_col


def _end_ts(tables: dict[str, pd.DataFrame], df: pd.DataFrame) -> pd.Series:
    """The time of each finding's last evidence line: the latest timed row at or before it in
    the same boot (lines between records carry no time of their own); of rows on that line,
    the last of the last table. Looked up one table at a time: the rows of all of them, as
    floats, were a storm's peak."""
    last = df["evidence"].astype("string").str.extract(_LAST_LINE)[0].astype("Float64")
    q_boot, q_line = floats(df["boot"]), floats(last)
    asked = ~(np.isnan(q_boot) | np.isnan(q_line))
    best_line = np.full(len(df), -np.inf)
    best_ts = np.full(len(df), np.nan)
    of_boot = {b: np.flatnonzero(asked & (q_boot == b)) for b in np.unique(q_boot[asked])}
    for t, line_col, ts_col in _timed_sources(tables):
        boot, line, ts = floats(t["boot"]), floats(t[line_col]), floats(t[ts_col])
        keep = ~(np.isnan(boot) | np.isnan(line) | np.isnan(ts))
        boot, line, ts = boot[keep], line[keep], ts[keep]
        order = np.lexsort((line, boot))  # stable: equal lines keep the table's order
        boot, line, ts = boot[order], line[order], ts[order]
        for b, asking in of_boot.items():
            lo, hi = np.searchsorted(boot, b, "left"), np.searchsorted(boot, b, "right")
            pos = np.searchsorted(line[lo:hi], q_line[asking], side="right") - 1
            found = pos >= 0
            rows, pos = asking[found], pos[found] + lo
            later = line[pos] >= best_line[rows]  # a later table wins a tie
            best_line[rows[later]], best_ts[rows[later]] = line[pos[later]], ts[pos[later]]
        release_mapped()
    end = pd.Series(best_ts, index=df.index, dtype="Float64")
    start = df["start_ts"].astype("Float64")
    return end.where(end.isna() | start.isna() | (end >= start), start)


def _drop_repeats(df: pd.DataFrame) -> pd.DataFrame:
    """An episode-level "OOM killer never invoked" says less than a kmallocwd counter or victim
    finding of the same episode (a victim means it was invoked before): keep the latter."""
    if "src" not in df:
        return df
    counter = df["kind"].isin(
        ["no_oom_progress", "oom_livelock", "nofs_cannot_oom", "victim_not_exiting"]
    )
    counter &= df["src"].isna()
    covered = set(zip(df.loc[counter, "boot"], df.loc[counter, "episode"], strict=True))
    generic = (df["src"] == "episode").fillna(False).astype(bool)
    dup = generic & pd.Series(
        [(b, e) in covered for b, e in zip(df["boot"], df["episode"], strict=True)],
        index=df.index,
    )
    return df[~dup]
