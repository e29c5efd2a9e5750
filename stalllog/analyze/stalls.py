"""Stalled tasks and stall episodes.

`stalled_tasks` merges every report that a task is stuck: kmallocwd `MemAlloc:` lines
(`memalloc`), warn_alloc `page allocation stalls` reports (`alloc_stalls`), khungtaskd reports
(`hung_tasks`) and SysRq/NMI task dumps (`tasks`, `nmi_backtraces`) whose trace is in the page
allocator, into one row per task and allocation attempt.

Identity of an attempt:

- kmallocwd: `seq` (ANALYSIS.md §2.3). The same seq in two scans is the same request still in
  flight (no progress); a pid listed with a grown seq completed a request in between (slow
  progress). kswapd threads carry no seq: kmallocwd lists them whenever anything stalls, so they
  are kept as rows with `attempt` NA and `kswapd` True. Generations without seq (P0 drafts):
  lines of a pid dating the same start (report time - delay / HZ, within 5 s) are one
  allocation; without HZ, a drop in delay starts a new one (`attempt` NA, counted in `run`).
- warn_alloc (4.9-4.14): the reports of a task (pid, or comm when the pid was not printed)
  that share the allocation's start (report time - stall_ms, within 5 s); without timestamps
  a run of growing `stall_ms`, a drop starting a new attempt. Attempts are numbered in `run`.
- hung-task reports and task dumps have no attempt id: they join the attempt of the same task
  reported nearest in time (within the episode gap), else they form their own row.

Rows are split at kmallocwd scans that report no stalling task, and rows without an attempt
id (kswapd, hung tasks, dumps) also at gaps longer than the episode gap, so that one row never
spans two episodes: the key is (boot, pid or comm, attempt, run). A row with an attempt id
(seq, or a start time shared by its reports) is never split at a gap: the same request was in
flight all along, and its interval holds its episode together.

`stuck_in` of a task: the class (from `stack_classes`) seen on most of its stacks, `other`
only when nothing else was seen, ties broken by `STUCK_CLASSES` order (most specific first). A
task looping between reclaim and the oom_lock backoff thus gets the class it was caught in most.

`episodes` clusters the stall evidence of each boot in time: the memory-stall rows (every row
but a hung task or task dump whose trace is outside the allocator) and every kmallocwd scan
header with `stalling` > 0. A gap longer than max(60 s, 3 x the median reporting interval of
the boot) ends an episode; so does a kmallocwd scan with `stalling=0`, and the end of the boot.
A boot without timestamps is ordered by line numbers (`clock` = `line`): only scans with
`stalling=0` and the boot's end split it. Hung tasks outside the allocator join an episode only
when they fall within the gap of one.

Outcome of an episode, first that applies:

- `panic`: an OOM panic (`oom_events.panic`) or a `Kernel panic - not syncing` line (from
  `unparsed`, when that table is given: `analyze()` leaves it out) after the episode started,
  up to the gap after its last report (or the boot's end for the last episode of a boot);
- `relieved_by_kill`: the stalls stopped (a later scan with `stalling=0`, or the boot went on for
  longer than the gap after the last report) and an OOM kill fell between the start of the
  oldest stalled allocation (report time minus its delay; without timestamps: the first report)
  and the gap after the last report (without timestamps: the next episode or the boot's end);
  the line is the last such kill. `oom_invocations` and `kills` count the same window up to
  the last report;
- `relieved_without_kill`: the stalls stopped without a kill; the line is the `stalling=0`
  scan, else the last report;
- `reboot`: still stalling when the boot's log ends and a next boot follows; the line is the
  next boot's first line;
- `stalled_at_end`: still stalling when the capture ends; the line is the last report.

kmallocwd delays are in jiffies. HZ is inferred per boot from the same (pid, seq) seen in two
scans: Δdelay_jiffies / Δts, snapped to 100, 250, 300 or 1000 when within 10 %; else the `hz`
argument; else NA (`hz_source` says which).

Code: evidence.py gathers the reports, attempts.py groups them into attempts and runs, hz.py
infers HZ, timeline.py orders each boot (clock, gap, stalling=0 scans), episodes.py clusters
the episodes, place.py places markers into them and outcome.py decides how each ended.
"""

from __future__ import annotations

from functools import cache
from typing import Any, cast

import pandas as pd

from .attempts import ATTEMPT_IDS, attempt_ids, split_runs
from .classify import STUCK_CLASSES
from .episodes import cluster, episode_table
from .evidence import SOURCES, evidence
from .hz import hz_by_boot, infer_hz
from .timeline import boot_gap, ctx_of, fill_ts, get, segment, sort_rows, xcol

__all__ = ["OUTCOMES", "SCHEMA", "episodes", "infer_hz", "stalled_tasks"]

SCHEMA: dict[str, list[tuple[str, str, str, str]]] = {
    "stalled_tasks": [
        ("boot", "Int64", "", "boot number"),
        ("pid", "Int64", "", "task pid; NA when only the comm was printed (warn_alloc header)"),
        ("comm", "string", "", "task name"),
        ("attempt", "Int64", "", "kmallocwd allocation seq; NA for other sources and kswapd"),
        (
            "run",
            "Int64",
            "",
            "1-based run of this (boot, task, attempt): warn_alloc attempt, or a"
            " part split off by an episode boundary",
        ),
        ("source", "string", "", "memalloc, alloc_stall, hung_task, task_dump, `|`-joined"),
        ("first_ts", "Float64", "s", "first report"),
        ("last_ts", "Float64", "s", "last report"),
        ("first_line", "Int64", "", "line of the first report"),
        ("last_line", "Int64", "", "line of the last report"),
        ("n_reports", "Int64", "reports", "reports of this task and attempt"),
        (
            "max_delay_s",
            "Float64",
            "s",
            "longest stall reported: kmallocwd delay / HZ, warn_alloc"
            " stall_ms, hung-task seconds (the timeout on kernels before 4.20)",
        ),
        ("began_ts", "Float64", "s", "estimated start of the stall: report time minus its delay"),
        ("hz_used", "Int64", "Hz", "HZ used for kmallocwd delays of this boot"),
        ("hz_source", "string", "", "inferred (from Δdelay/Δts), argument, or NA"),
        ("gfp_mask", "Int64", "", "gfp mask of the allocation"),
        ("gfp_flags", "string", "", "its flag names"),
        ("order", "Int64", "", "allocation order"),
        ("state", "string", "", "task state letter of the last task line"),
        ("uninterruptible", "boolean", "", "last report: TASK_UNINTERRUPTIBLE"),
        ("switches_first", "Int64", "", "kmallocwd context switches at the first report"),
        ("switches_last", "Int64", "", "kmallocwd context switches at the last report"),
        (
            "progress",
            "string",
            "",
            "none: same attempt reported again; slow: the task (by pid) reported"
            " more than one attempt in the episode; NA: one report",
        ),
        ("stuck_in", "string", "", "class seen on most of its stacks (STUCK_CLASSES)"),
        ("stuck_detail", "string", "", "detail of that class (most frequent)"),
        ("kswapd", "boolean", "", "a kswapd thread listed by kmallocwd without an allocation"),
        ("victim", "boolean", "", "kmallocwd flagged it an OOM victim (TIF_MEMDIE)"),
        (
            "in_allocator",
            "boolean",
            "",
            "memory-stall evidence: an allocation report, or a trace in the page allocator",
        ),
        ("episode", "Int64", "", "the `episodes` row; NA for a hung task outside any episode"),
    ],
    "episodes": [
        ("episode", "Int64", "", "episode number in the capture, from 0"),
        ("boot", "Int64", "", "boot number"),
        ("clock", "string", "", "ts: ordered by timestamps; line: no timestamps, line order"),
        ("start_ts", "Float64", "s", "first stall report"),
        ("end_ts", "Float64", "s", "last stall report"),
        ("began_ts", "Float64", "s", "start of the oldest stalled allocation (report minus delay)"),
        ("first_line", "Int64", "", "line of the first report"),
        ("last_line", "Int64", "", "line of the last report"),
        ("duration_s", "Float64", "s", "end_ts - start_ts"),
        (
            "peak_stalled",
            "Int64",
            "tasks",
            "most tasks stalled at once: kmallocwd `stalling`, or overlapping reports",
        ),
        (
            "n_tasks",
            "Int64",
            "tasks",
            "distinct tasks reported (kswapd listed by kmallocwd"
            " without an allocation not counted)",
        ),
        ("longest_stall_s", "Float64", "s", "longest max_delay_s"),
        ("oom_invocations", "Int64", "", "OOM killer invocations (oom_events) in the episode"),
        ("kills", "Int64", "", "OOM kills in the episode"),
        ("oom_count_first", "Int64", "calls", "kmallocwd oom_count at the first scan"),
        ("oom_count_last", "Int64", "calls", "kmallocwd oom_count at the last scan"),
        (
            "oom_count_flat_s",
            "Float64",
            "s",
            "time oom_count stayed at its last value, over"
            " the scans of the episode (0: one scan); NA without kmallocwd",
        ),
        (
            "printk_dropped",
            "Int64",
            "messages",
            "messages lost (printk_loss counts) from the first report to the last, or to the end"
            " of the boot when the episode is still stalled there",
        ),
        (
            "outcome",
            "string",
            "",
            "relieved_by_kill, relieved_without_kill, stalled_at_end, panic, reboot",
        ),
        ("outcome_line", "Int64", "", "the line showing the outcome"),
    ],
}

OUTCOMES = ("relieved_by_kill", "relieved_without_kill", "stalled_at_end", "panic", "reboot")

_DTYPES = {name: [(c, d) for c, d, _, _ in cols] for name, cols in SCHEMA.items()}


@cache
def _empty_cached(name: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=cast(Any, d)) for c, d in _DTYPES[name]})


def _empty(name: str) -> pd.DataFrame:
    return _empty_cached(name).copy()


def _typed(df: pd.DataFrame, name: str) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for c, d in _DTYPES[name]:
        col = df[c] if c in df.columns else pd.Series(pd.NA, index=df.index)
        if d == "Int64":
            col = pd.to_numeric(col, errors="coerce").round().astype("Int64")
        out[c] = col.astype(cast(Any, d))
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# stalled_tasks


def stalled_tasks(
    tables: dict[str, pd.DataFrame], stack_classes: pd.DataFrame, hz: int | None = None
) -> pd.DataFrame:
    """One row per (boot, task, allocation attempt, run); see the module docstring."""
    sources = ("memalloc", "alloc_stalls", "hung_tasks", "tasks", "nmi_backtraces")
    if all(get(tables, n).empty for n in sources):
        return _empty("stalled_tasks")
    hz_used, hz_src = hz_by_boot(tables, hz)
    ev = evidence(tables, stack_classes, hz_used)
    if ev.empty:
        return _empty("stalled_tasks")
    ctx = ctx_of(tables)
    ev = fill_ts(ev, ctx.clock)
    ev["x"] = xcol(ev, ctx.clock, "ts", "line")
    ev["seg"] = segment(ev, ev["x"], ctx.term, ctx.clock)
    ev["gap"] = boot_gap(ev["boot"], ctx.clock, ctx.gap)
    ev = attempt_ids(ev)
    for raw in ("stall_ms", "delay_jiffies"):  # read for the attempt ids only
        if raw in ev.columns:
            del ev[raw]
    ev = split_runs(ev)
    ev = ev[_AGGREGATED]  # the rest (ids, keys, raw delays) would be sorted for nothing

    rows = _aggregate(ev, stack_classes)
    rows["hz_used"] = rows["boot"].map(hz_used).astype("Int64")
    rows["hz_source"] = rows["boot"].map(hz_src).astype("string")
    rows["episode"] = cluster(tables, rows, ctx)[1]
    _progress(rows)
    sort_rows(rows, ["boot", "first_ts", "first_line", "pid"])
    return _typed(rows, "stalled_tasks")


def _mode_class(ev: pd.DataFrame, stack_classes: pd.DataFrame) -> pd.DataFrame:
    """stuck_in and stuck_detail per run (rid)."""
    sc = stack_classes[["stack_id", "stuck_in", "stuck_detail"]].copy()
    sc["stack_id"] = sc["stack_id"].astype("Int64")
    s = ev[["rid", "stack_id"]].dropna().merge(sc, on="stack_id", how="inner")
    s = s.dropna(subset=["stuck_in"])
    if s.empty:
        return pd.DataFrame(columns=["rid", "stuck_in", "stuck_detail"])
    # most stacks wins; `other` only when nothing else was seen; ties: most specific class
    order = {c: i for i, c in enumerate(STUCK_CLASSES)}
    cnt = s.groupby(["rid", "stuck_in"]).size().rename("n").reset_index()
    cnt["other"] = cnt["stuck_in"] == "other"
    cnt["rank"] = cnt["stuck_in"].map(order).fillna(len(order))
    cnt = cnt.sort_values(["rid", "other", "n", "rank"], ascending=[True, True, False, True])
    best = cnt.drop_duplicates("rid")[["rid", "stuck_in"]]
    det = s.merge(best, on=["rid", "stuck_in"]).dropna(subset=["stuck_detail"])
    det = det.groupby(["rid", "stuck_detail"]).size().rename("n").reset_index()
    det = det.sort_values(["rid", "n"], ascending=[True, False]).drop_duplicates("rid")
    return best.merge(det[["rid", "stuck_detail"]], on="rid", how="left")


_FIRST = ["boot", "pid", "attempt", "run", "gfp_mask", "gfp_flags", "order", "switches", "aid"]
_LAST = ["comm", "state", "uninterruptible", "switches"]
# every column _aggregate reads: the others hold a quarter of a storm's evidence bytes
_AGGREGATED = list(dict.fromkeys([
    "rid", "x", "line", "line_end", "ts", "age_s", *_FIRST, *_LAST,
    "kswapd", "victim", "in_alloc", "source", "stack_id",
]))  # fmt: skip


def _aggregate(ev: pd.DataFrame, stack_classes: pd.DataFrame) -> pd.DataFrame:
    """One row per run (rid): first/last report, largest delay, the class it was stuck in."""
    sort_rows(ev, ["rid", "x", "line"])  # in place: no second copy
    ev["began"] = ev["ts"] - ev["age_s"]
    g = ev.groupby("rid", sort=False)
    # first/last non-null per column, over the columns read below only
    first = ev[["rid", *_FIRST]].groupby("rid", sort=False).first()
    last = ev[["rid", *_LAST]].groupby("rid", sort=False).last()
    out = pd.DataFrame(
        {
            "boot": first["boot"],
            "pid": first["pid"],
            "comm": last["comm"],
            "attempt": first["attempt"],
            "run": first["run"],
            "first_ts": g["ts"].min(),
            "last_ts": g["ts"].max(),
            "first_line": g["line"].min(),
            "last_line": g["line_end"].max(),
            "n_reports": g.size(),
            "max_delay_s": g["age_s"].max(),
            "began_ts": g["began"].min(),
            "gfp_mask": first["gfp_mask"],
            "gfp_flags": first["gfp_flags"],
            "order": first["order"],
            "state": last["state"],
            "uninterruptible": last["uninterruptible"],
            "switches_first": first["switches"],
            "switches_last": last["switches"],
            "kswapd": g["kswapd"].any(),
            "victim": g["victim"].any(),
            "in_allocator": g["in_alloc"].any(),
            "aid": first["aid"],
        }
    )
    src = ev[["rid", "source"]].drop_duplicates()
    src["o"] = src["source"].astype(object).map({s: i for i, s in enumerate(SOURCES)})
    sort_rows(src, ["rid", "o"])
    # one dict pass, not groupby.agg("|".join): a Python call per run dominated storms
    joined: dict[Any, list[str]] = {}
    for rid, name in zip(src["rid"].tolist(), src["source"].tolist(), strict=True):
        joined.setdefault(rid, []).append(name)
    out["source"] = pd.Series({rid: "|".join(v) for rid, v in joined.items()}, dtype=object)
    out = out.reset_index()
    return out.merge(_mode_class(ev, stack_classes), on="rid", how="left")


def _progress(rows: pd.DataFrame) -> None:
    """none: the same attempt reported again; slow: the task (by pid) reported more than one
    attempt in the episode."""
    real = rows["aid"].astype("string").str.match(ATTEMPT_IDS).fillna(False).astype(bool)
    # another allocation of the same comm without a pid may be another task: no "slow"
    known = real & rows["pid"].notna()
    ep = rows["episode"].astype("Int64").fillna(-1)
    n_att = (
        rows[known].assign(e=ep[known]).groupby(["boot", "pid", "e"])["aid"].transform("nunique")
    )
    prog = pd.Series(pd.NA, index=rows.index, dtype="string")
    prog[(rows["n_reports"] > 1) & real] = "none"
    prog[n_att[n_att > 1].index] = "slow"
    rows["progress"] = prog


# ---------------------------------------------------------------------------------------------
# episodes


def episodes(tables: dict[str, pd.DataFrame], stalled: pd.DataFrame) -> pd.DataFrame:
    """One row per stall episode; see the module docstring."""
    eps = episode_table(tables, stalled)
    return _empty("episodes") if eps is None else _typed(eps, "episodes")
