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
"""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple, cast

import numpy as np
import pandas as pd

from .classify import STUCK_CLASSES

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

_HZ_CHOICES = np.array([100, 250, 300, 1000])
_MIN_GAP_S = 60.0
_MAX_INTERVAL_S = 300.0
_SAME_START_S = 5.0
# attempt ids: s<seq> kmallocwd seq; w/W warn_alloc; m/M kmallocwd lines without seq
_ATTEMPT_IDS = r"^[swWmM]"
_SOURCES = ("memalloc", "alloc_stall", "hung_task", "task_dump")

_DTYPES = {name: [(c, d) for c, d, _, _ in cols] for name, cols in SCHEMA.items()}


def _stuck_classes() -> tuple[str, ...]:
    return tuple(STUCK_CLASSES)


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


def _col(df: pd.DataFrame, c: str, dtype: str) -> pd.Series:
    if c not in df.columns:
        return pd.Series(pd.NA, index=df.index, dtype=dtype)
    s = df[c]
    if dtype == "Float64":
        return pd.to_numeric(s, errors="coerce").astype("Float64")
    return s.astype(cast(Any, dtype))


def _get(tables: dict[str, pd.DataFrame], name: str) -> pd.DataFrame:
    df = tables.get(name)
    return df if df is not None else pd.DataFrame()


# ---------------------------------------------------------------------------------------------
# HZ


def infer_hz(memalloc: pd.DataFrame) -> pd.Series:
    """HZ per boot from kmallocwd delays of the same (pid, seq) in two scans (index: boot).

    Lines without seq (P0 drafts) pair consecutive lines of a pid whose delay grew."""
    need = {"boot", "pid", "seq", "ts", "delay_jiffies"}
    if memalloc.empty or not need <= set(memalloc.columns):
        return pd.Series(dtype="Int64")
    m = pd.DataFrame(
        {
            "boot": _col(memalloc, "boot", "Int64"),
            "pid": _col(memalloc, "pid", "Int64"),
            # generations without seq (P0 drafts): consecutive lines of a pid whose delay grew
            "seq": _col(memalloc, "seq", "Int64").fillna(-1),
            "ts": _col(memalloc, "ts", "Float64"),
            "delay": _col(memalloc, "delay_jiffies", "Float64"),
        }
    ).dropna()
    if m.empty:
        return pd.Series(dtype="Int64")
    m = m.sort_values(["boot", "pid", "seq", "ts"])
    g = m.groupby(["boot", "pid", "seq"], sort=False)
    dt = g["ts"].diff()
    dd = g["delay"].diff()
    ok = (dt > 1.0) & (dd > 0)
    rate = (dd[ok] / dt[ok]).astype(float)
    if rate.empty:
        return pd.Series(dtype="Int64")
    med = rate.groupby(m.loc[rate.index, "boot"]).median()
    idx = np.abs(_HZ_CHOICES[None, :] - med.to_numpy()[:, None]).argmin(axis=1)
    snap = _HZ_CHOICES[idx]
    good = np.abs(snap - med.to_numpy()) <= 0.1 * snap
    return pd.Series(np.where(good, snap, np.nan), index=med.index).dropna().astype("Int64")


# ---------------------------------------------------------------------------------------------
# evidence: one row per report


def _events_pos(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    ev = _get(tables, "events")
    if ev.empty:
        return pd.DataFrame(columns=["event_id", "ev_boot", "ev_ts", "ev_line_end"])
    return pd.DataFrame(
        {
            "event_id": _col(ev, "event_id", "Int64"),
            "ev_boot": _col(ev, "boot", "Int64"),
            "ev_ts": _col(ev, "ts", "Float64"),
            "ev_line_end": _col(ev, "line_end", "Int64"),
        }
    )


def _evidence(
    tables: dict[str, pd.DataFrame], stack_classes: pd.DataFrame, hz_by_boot: pd.Series
) -> pd.DataFrame:
    parts: list[pd.DataFrame] = []
    evpos = _events_pos(tables)
    alloc_stacks = set(
        stack_classes.loc[
            stack_classes["in_allocator"].astype("boolean").fillna(False).astype(bool), "stack_id"
        ]
        .dropna()
        .astype("int64")
    )

    def base(df: pd.DataFrame, source: str) -> pd.DataFrame:
        out = pd.DataFrame(
            {
                "boot": _col(df, "boot", "Int64"),
                "pid": _col(df, "pid", "Int64"),
                "comm": _col(df, "comm", "string"),
                "ts": _col(df, "ts", "Float64"),
                "line": _col(df, "line_no", "Int64"),
                "event_id": _col(df, "event_id", "Int64"),
                "stack_id": _col(df, "stack_id", "Int64"),
            }
        )
        out["source"] = source
        return out

    ma = _get(tables, "memalloc")
    task_lines_taken: list[pd.Series] = []
    if not ma.empty:
        stalling = ma["stalling"].astype("boolean").fillna(False).astype(bool)
        comm = ma["comm"].astype("string").fillna("")
        kswapd = ~stalling & comm.str.startswith("kswapd").astype(bool)
        keep = stalling | kswapd
        m = ma[keep]
        e = base(m, "memalloc")
        e["attempt"] = _col(m, "seq", "Int64")
        e["kswapd"] = kswapd[keep].to_numpy()
        e["gfp_mask"] = _col(m, "gfp_mask", "Int64")
        e["gfp_flags"] = _col(m, "gfp_flags", "string")
        e["order"] = _col(m, "order", "Int64")
        e["state"] = _col(m, "task_state", "string")
        e["uninterruptible"] = _col(m, "uninterruptible", "boolean")
        e["switches"] = _col(m, "switches", "Int64")
        e["victim"] = _col(m, "victim", "boolean")
        hz = e["boot"].map(hz_by_boot).astype("Float64")
        e["delay_jiffies"] = _col(m, "delay_jiffies", "Float64")
        e["age_s"] = e["delay_jiffies"] / hz
        e["in_alloc"] = True
        parts.append(e)
        task_lines_taken.append(_col(ma, "task_line_no", "Int64"))

    st = _get(tables, "alloc_stalls")
    if not st.empty:
        e = base(st, "alloc_stall")
        e["gfp_mask"] = _col(st, "gfp_mask", "Int64")
        e["gfp_flags"] = _col(st, "gfp_flags", "string")
        e["order"] = _col(st, "order", "Int64")
        e["stall_ms"] = _col(st, "stall_ms", "Float64")
        e["age_s"] = e["stall_ms"] / 1000.0
        e["in_alloc"] = True
        parts.append(e)

    ht = _get(tables, "hung_tasks")
    hung_dumps: pd.Series = pd.Series(dtype="Int64")
    if not ht.empty:
        e = base(ht, "hung_task")
        e["state"] = _col(ht, "task_state", "string")
        e["uninterruptible"] = (e["state"] == "D").astype("boolean")
        e["age_s"] = _col(ht, "blocked_s", "Float64")
        e["in_alloc"] = e["stack_id"].isin(alloc_stacks).fillna(False).astype(bool)
        parts.append(e)
        hung_dumps = _col(ht, "dump_id", "Int64").dropna()

    tk = _get(tables, "tasks")
    if not tk.empty and alloc_stacks:
        sel = (tk["state"].astype("string") == "D").fillna(False).astype(bool)
        sel &= _col(tk, "stack_id", "Int64").isin(alloc_stacks).fillna(False).astype(bool)
        sel &= ~_col(tk, "dump_id", "Int64").isin(hung_dumps).fillna(False).astype(bool)
        if task_lines_taken:
            taken = pd.concat(task_lines_taken).dropna()
            sel &= ~_col(tk, "line_no", "Int64").isin(taken).fillna(False).astype(bool)
        t = tk[sel]
        if len(t):
            e = base(t, "task_dump")
            e = e.merge(evpos, on="event_id", how="left")
            e["boot"] = e["ev_boot"]
            e["ts"] = e["ev_ts"]
            e = e.drop(columns=["ev_boot", "ev_ts", "ev_line_end"])
            e["state"] = _col(t, "state", "string").to_numpy()
            e["uninterruptible"] = True
            e["in_alloc"] = True
            parts.append(e)

    nb = _get(tables, "nmi_backtraces")
    if not nb.empty and alloc_stacks:
        sel = _col(nb, "stack_id", "Int64").isin(alloc_stacks).fillna(False).astype(bool)
        n = nb[sel]
        if len(n):
            e = base(n, "task_dump")
            e["state"] = pd.Series("R", index=e.index, dtype="string")
            e["uninterruptible"] = False
            e["in_alloc"] = True
            parts.append(e)

    if not parts:
        return pd.DataFrame()
    ev = pd.concat(parts, ignore_index=True)
    # last line of the report: the report block (warn_alloc, hung task), else the task's trace
    ev = ev.merge(evpos[["event_id", "ev_line_end"]], on="event_id", how="left")
    stacks = _get(tables, "stacks")
    if not stacks.empty:
        se = pd.DataFrame(
            {
                "stack_id": _col(stacks, "stack_id", "Int64"),
                "st_end": _col(stacks, "line_end", "Int64"),
            }
        )
        ev = ev.merge(se, on="stack_id", how="left")
    else:
        ev["st_end"] = pd.Series(pd.NA, index=ev.index, dtype="Int64")
    line = ev["line"].astype("Int64")
    block = ev["source"].isin(["alloc_stall", "hung_task"])
    end = ev["ev_line_end"].astype("Int64").where(block, ev["st_end"].astype("Int64"))
    ev["line_end"] = end.where(end >= line, line)
    ev = ev.drop(columns=["ev_line_end", "st_end"])
    for c, d in (
        ("attempt", "Int64"),
        ("kswapd", "boolean"),
        ("victim", "boolean"),
        ("switches", "Int64"),
        ("gfp_mask", "Int64"),
        ("gfp_flags", "string"),
        ("order", "Int64"),
        ("state", "string"),
        ("uninterruptible", "boolean"),
        ("age_s", "Float64"),
        ("stall_ms", "Float64"),
    ):
        dt = cast(Any, d)
        ev[c] = ev[c].astype(dt) if c in ev.columns else pd.Series(pd.NA, index=ev.index, dtype=dt)
    ev["kswapd"] = ev["kswapd"].fillna(False)
    ev["in_alloc"] = ev["in_alloc"].astype("boolean").fillna(False)
    ev["key"] = ev["pid"].astype("string").fillna("comm:" + ev["comm"].fillna("?"))
    return ev


# ---------------------------------------------------------------------------------------------
# clock, gap, terminators


def _boot_clock(tables: dict[str, pd.DataFrame]) -> pd.Series:
    """'ts' for boots with timestamps, 'line' otherwise (index: boot)."""
    b = _get(tables, "boots")
    if b.empty:
        return pd.Series(dtype="string")
    has = _col(b, "ts_first", "Float64").notna() & _col(b, "ts_last", "Float64").notna()
    return pd.Series(
        np.where(has.to_numpy(dtype=bool), "ts", "line"), index=_col(b, "boot", "Int64")
    ).astype("string")


def _gap_by_boot(tables: dict[str, pd.DataFrame]) -> pd.Series:
    """Episode gap per boot: max(60 s, 3 x the median interval between repeated reports).

    Reports: kmallocwd scan headers, warn_alloc and hung-task reports of the same task;
    intervals over 300 s are not counted."""
    frames: list[pd.DataFrame] = []
    sc = _get(tables, "memalloc_scans")
    if not sc.empty:
        hdr = sc[sc["position"].astype("string") != "trailer"]
        frames.append(
            pd.DataFrame(
                {
                    "boot": _col(hdr, "boot", "Int64"),
                    "key": "scan",
                    "ts": _col(hdr, "ts", "Float64"),
                }
            )
        )
    for name in ("alloc_stalls", "hung_tasks"):
        df = _get(tables, name)
        if df.empty:
            continue
        key = _col(df, "pid", "Int64").astype("string").fillna(_col(df, "comm", "string"))
        frames.append(
            pd.DataFrame(
                {
                    "boot": _col(df, "boot", "Int64"),
                    "key": name + ":" + key.fillna("?"),
                    "ts": _col(df, "ts", "Float64"),
                }
            )
        )
    if not frames:
        return pd.Series(dtype="Float64")
    r = pd.concat(frames, ignore_index=True).dropna(subset=["ts"])
    r = r.sort_values(["boot", "key", "ts"])
    r["d"] = r.groupby(["boot", "key"], sort=False)["ts"].diff()
    # longer intervals are gaps between hangs, not a reporting cadence
    r = r[(r["d"] > 0.5) & (r["d"] <= _MAX_INTERVAL_S)]
    med = r.groupby("boot")["d"].median()
    return (3.0 * med).clip(lower=_MIN_GAP_S).astype("Float64")


def _terminators(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """kmallocwd scans reporting stalling=0: boot, x_ts, x_line."""
    sc = _get(tables, "memalloc_scans")
    if sc.empty:
        return pd.DataFrame({"boot": pd.Series(dtype="Int64")})
    zero = (_col(sc, "stalling", "Int64") == 0).fillna(False).astype(bool)
    z = sc[zero]
    return pd.DataFrame(
        {
            "boot": _col(z, "boot", "Int64"),
            "ts": _col(z, "ts", "Float64"),
            "line": _col(z, "line_no", "Int64"),
        }
    ).reset_index(drop=True)


def _f64(s: pd.Series) -> np.ndarray:
    """Float numpy values, NaN for NA."""
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


class _Ctx(NamedTuple):
    clock: pd.Series  # boot -> "ts" / "line"
    gap: pd.Series  # boot -> episode gap (s)
    term: pd.DataFrame  # kmallocwd scans with stalling=0


def _ctx(tables: dict[str, pd.DataFrame]) -> _Ctx:
    return _Ctx(_boot_clock(tables), _gap_by_boot(tables), _terminators(tables))


def _xcol(df: pd.DataFrame, clock: pd.Series, ts: str, line: str) -> pd.Series:
    """Ordering position: ts in boots with timestamps, line number otherwise."""
    ts_boots = _f64(pd.Series(clock.index[(clock == "ts").fillna(False).to_numpy(dtype=bool)]))
    use_ts = np.isin(_f64(df["boot"]), ts_boots)
    return pd.Series(np.where(use_ts, _f64(df[ts]), _f64(df[line])), index=df.index)


def _segment(df: pd.DataFrame, x: pd.Series, term: pd.DataFrame, clock: pd.Series) -> pd.Series:
    """Number of stalling=0 scans of the same boot before each row."""
    seg = pd.Series(0, index=df.index, dtype="int64")
    if term.empty or df.empty:
        return seg
    tx = _xcol(term, clock, "ts", "line")
    for boot, tb in tx.groupby(term["boot"]):
        pos = np.sort(tb.dropna().to_numpy())
        rows = (df["boot"] == boot).fillna(False).to_numpy(dtype=bool)
        if rows.any() and len(pos):
            seg[rows] = np.searchsorted(pos, x[rows].to_numpy(), side="right")
    return seg


def _fill_ts(ev: pd.DataFrame, clock: pd.Series) -> pd.DataFrame:
    """In boots with timestamps, a report without one takes the previous report's (by line)."""
    ev = ev.sort_values(["boot", "line"], kind="stable")
    g = ev.groupby("boot", sort=False)["ts"]
    filled = g.ffill().fillna(g.bfill())
    use = (ev["boot"].map(clock).astype("string") == "ts").fillna(False).astype(bool)
    ev["ts"] = ev["ts"].where(~use | ev["ts"].notna(), filled)
    return ev


# ---------------------------------------------------------------------------------------------
# stalled_tasks


def stalled_tasks(
    tables: dict[str, pd.DataFrame], stack_classes: pd.DataFrame, hz: int | None = None
) -> pd.DataFrame:
    """One row per (boot, task, allocation attempt, run); see the module docstring."""
    if (
        all(_get(tables, n).empty for n in ("memalloc", "alloc_stalls", "hung_tasks", "tasks"))
        and _get(tables, "nmi_backtraces").empty
    ):
        return _empty("stalled_tasks")
    inferred = infer_hz(_get(tables, "memalloc"))
    boots = _get(tables, "boots")
    boot_ids = _col(boots, "boot", "Int64") if not boots.empty else pd.Series(dtype="Int64")
    hz_by_boot = pd.Series(pd.NA, index=boot_ids, dtype="Int64")
    hz_src = pd.Series(pd.NA, index=boot_ids, dtype="string")
    if hz is not None:
        hz_by_boot[:] = hz
        hz_src[:] = "argument"
    hz_by_boot.update(inferred)
    hz_src[hz_src.index.isin(inferred.index)] = "inferred"
    hz_by_boot = hz_by_boot.astype("Int64")

    ev = _evidence(tables, stack_classes, hz_by_boot)
    if ev.empty:
        return _empty("stalled_tasks")
    ctx = _ctx(tables)
    clock, gap, term = ctx
    ev = _fill_ts(ev, clock)
    ev["x"] = _xcol(ev, clock, "ts", "line")
    ev["seg"] = _segment(ev, ev["x"], term, clock)
    ev["gap"] = _boot_gap(ev["boot"], clock, gap)

    # attempt ids: seq (memalloc), run of growing stall_ms (alloc_stall)
    ev = ev.sort_values(["boot", "key", "x", "line"], kind="stable").reset_index(drop=True)
    ev["aid"] = pd.Series(pd.NA, index=ev.index, dtype="string")
    is_m = (ev["source"] == "memalloc") & ev["attempt"].notna()
    ev.loc[is_m, "aid"] = "s" + ev.loc[is_m, "attempt"].astype("string")
    ev.loc[(ev["source"] == "memalloc") & ev["kswapd"].astype(bool), "aid"] = "kswapd"
    is_w = ev["source"] == "alloc_stall"
    if is_w.any():
        w = ev[is_w]
        ev.loc[is_w, "aid"] = _start_attempts(
            w, w["ts"] - w["stall_ms"] / 1000.0, w["stall_ms"], "w"
        )
    # kmallocwd generations without seq: the same start (report - delay / HZ) is the same
    # allocation; without HZ, a drop in delay starts a new one
    is_q = (ev["source"] == "memalloc") & ev["attempt"].isna() & ~ev["kswapd"].astype(bool)
    if is_q.any():
        q = ev[is_q]
        began = (q["ts"] - q["age_s"]).astype("Float64")
        ev.loc[is_q, "aid"] = _start_attempts(q, began, q["delay_jiffies"], "m")
    ev = _join_unattributed(ev)

    # runs: split at gaps and at stalling=0 scans
    ev = ev.sort_values(["boot", "key", "aid", "x", "line"], kind="stable").reset_index(drop=True)
    g = ev.groupby(["boot", "key", "aid"], sort=False)
    dx = g["x"].diff()
    seg_change = g["seg"].diff().fillna(0) != 0
    # the same seq, or a warn_alloc run of growing stall_ms, proves the allocation was in
    # flight all along: only reports without an attempt id are split at gaps
    proven = ev["aid"].str.match(_ATTEMPT_IDS).fillna(False).astype(bool)
    brk = ((dx > ev["gap"]).fillna(False) & ~proven) | seg_change
    ev["split"] = brk.astype(int).groupby([ev["boot"], ev["key"], ev["aid"]]).cumsum()
    ev["rid"] = ev.groupby(["boot", "key", "aid", "split"], sort=False).ngroup()
    # warn_alloc attempts count as runs too: run = 1-based index over (aid, split) per attempt
    ev["run"] = ev["split"] + 1
    wa = ev["aid"].str.match(r"^[wWmM]").fillna(False).astype(bool)
    ev.loc[wa, "run"] = ev.loc[wa, "aid"].str.slice(1).astype(int) + ev.loc[wa, "split"]

    rows = _aggregate(ev, stack_classes)
    rows["hz_used"] = rows["boot"].map(hz_by_boot).astype("Int64")
    rows["hz_source"] = rows["boot"].map(hz_src).astype("string")
    rows["episode"] = _cluster(tables, rows, ctx)[1]
    _progress(rows)
    rows = rows.sort_values(["boot", "first_ts", "first_line", "pid"], kind="stable")
    return _typed(rows, "stalled_tasks")


def _start_attempts(w: pd.DataFrame, began: pd.Series, stall: pd.Series, prefix: str) -> pd.Series:
    """Attempt ids (prefix + 1, 2, ...) of reports that carry a stall age, per (boot, task).

    Where the start (report time - age) is known, reports of one allocation share it: a new
    attempt starts when it moves by more than _SAME_START_S (this also separates tasks of the
    same comm when the pid was not printed). Elsewhere, a drop in the age starts a new attempt.
    Unknown-start ids get the prefix upper-cased."""
    b = pd.to_numeric(began, errors="coerce").astype(float)
    timed = b.notna()
    aid = pd.Series(pd.NA, index=w.index, dtype="string")
    if timed.any():
        t = w[timed].assign(b=b[timed]).sort_values(["boot", "key", "b"], kind="stable")
        prev = t.groupby(["boot", "key"], sort=False)["b"].shift()
        new = (prev.isna() | ((t["b"] - prev) > _SAME_START_S)).astype(int)
        n = new.groupby([t["boot"], t["key"]]).cumsum()
        aid[t.index] = prefix + n.astype(str)
    if (~timed).any():
        u = w[~timed].assign(_st=stall[~timed]).sort_values(["boot", "key", "line"], kind="stable")
        prev = u.groupby(["boot", "key"], sort=False)["_st"].shift()
        new = (prev.isna() | (u["_st"] <= prev)).fillna(True).astype(int)
        n = new.groupby([u["boot"], u["key"]]).cumsum()
        aid[u.index] = prefix.upper() + n.astype(str)
    return aid


def _boot_gap(boot: pd.Series, clock: pd.Series, gap: pd.Series) -> pd.Series:
    g = boot.map(gap).astype("Float64").fillna(_MIN_GAP_S)
    line = (boot.map(clock).astype("string") == "line").fillna(True).astype(bool)
    return g.astype(float).where(~line, np.inf)


def _join_unattributed(ev: pd.DataFrame) -> pd.DataFrame:
    """Hung-task and task-dump reports take the attempt of the same task reported nearest."""
    na = ev["aid"].isna()
    if not na.any():
        return ev
    known = ev[~na & (ev["aid"] != "kswapd")][["boot", "key", "seg", "x", "aid"]]
    todo = ev[na][["boot", "key", "seg", "x", "gap"]].reset_index()
    if len(known):
        k = known.dropna(subset=["x"]).sort_values("x")
        t = todo.dropna(subset=["x"]).sort_values("x")
        k = k.astype({"boot": "int64", "seg": "int64", "key": "object"})
        t = t.astype({"boot": "int64", "seg": "int64", "key": "object"})
        k["kx"] = k["x"]
        j = pd.merge_asof(t, k, on="x", by=["boot", "key", "seg"], direction="nearest")
        ok = ((j["x"] - j["kx"]).abs() <= j["gap"]).fillna(False).astype(bool) & j["aid"].notna()
        ev.loc[j.loc[ok, "index"].to_numpy(), "aid"] = j.loc[ok, "aid"].to_numpy()
    ev["aid"] = ev["aid"].fillna("-")
    return ev


def _mode_class(ev: pd.DataFrame, stack_classes: pd.DataFrame) -> pd.DataFrame:
    """stuck_in and stuck_detail per run (rid)."""
    sc = stack_classes[["stack_id", "stuck_in", "stuck_detail"]].copy()
    sc["stack_id"] = sc["stack_id"].astype("Int64")
    s = ev[["rid", "stack_id"]].dropna().merge(sc, on="stack_id", how="inner")
    s = s.dropna(subset=["stuck_in"])
    if s.empty:
        return pd.DataFrame(columns=["rid", "stuck_in", "stuck_detail"])
    order = {c: i for i, c in enumerate(_stuck_classes())}
    cnt = s.groupby(["rid", "stuck_in"]).size().rename("n").reset_index()
    cnt["other"] = cnt["stuck_in"] == "other"
    cnt["rank"] = cnt["stuck_in"].map(order).fillna(len(order))
    cnt = cnt.sort_values(["rid", "other", "n", "rank"], ascending=[True, True, False, True])
    best = cnt.drop_duplicates("rid")[["rid", "stuck_in"]]
    det = s.merge(best, on=["rid", "stuck_in"]).dropna(subset=["stuck_detail"])
    det = det.groupby(["rid", "stuck_detail"]).size().rename("n").reset_index()
    det = det.sort_values(["rid", "n"], ascending=[True, False]).drop_duplicates("rid")
    return best.merge(det[["rid", "stuck_detail"]], on="rid", how="left")


def _aggregate(ev: pd.DataFrame, stack_classes: pd.DataFrame) -> pd.DataFrame:
    ev = ev.sort_values(["rid", "x", "line"], kind="stable")
    ev["began"] = ev["ts"] - ev["age_s"]
    g = ev.groupby("rid", sort=False)
    first = g.first()  # first non-null per column
    last = g.last()
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
            "seg": first["seg"],
            "aid": first["aid"],
        }
    )
    src = ev[["rid", "source"]].drop_duplicates()
    src["o"] = src["source"].map({s: i for i, s in enumerate(_SOURCES)})
    src = src.sort_values(["rid", "o"])
    out["source"] = src.groupby("rid")["source"].agg("|".join)
    # first_x / last_x for clustering
    out["first_x"] = g["x"].min()
    out["last_x"] = g["x"].max()
    out = out.reset_index()
    cls = _mode_class(ev, stack_classes)
    out = out.merge(cls, on="rid", how="left")
    return out


def _progress(rows: pd.DataFrame) -> None:
    real = rows["aid"].astype("string").str.match(_ATTEMPT_IDS).fillna(False).astype(bool)
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
# clustering


def _cluster(
    tables: dict[str, pd.DataFrame], rows: pd.DataFrame, ctx: _Ctx | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """Episode bounds and the episode of each stalled row.

    rows needs boot, first_ts, last_ts, first_line, last_line, in_allocator (and optionally the
    precomputed first_x/last_x/seg). Deterministic: episodes() calls it again on the stalled
    table and gets the same numbering."""
    clock, gap, term = ctx if ctx is not None else _ctx(tables)
    r = pd.DataFrame(
        {
            "boot": rows["boot"].astype("Int64"),
            "ts0": rows["first_ts"].astype("Float64"),
            "ts1": rows["last_ts"].astype("Float64"),
            "l0": rows["first_line"].astype("Int64"),
            "l1": rows["last_line"].astype("Int64"),
            "mem": rows["in_allocator"].astype("boolean").fillna(False).astype(bool),
        },
        index=rows.index,
    )
    r["x0"] = _xcol(r, clock, "ts0", "l0")
    r["x1"] = _xcol(r, clock, "ts1", "l1")
    r["seg"] = _segment(r, r["x0"], term, clock)
    r["kind"] = "row"

    sc = _get(tables, "memalloc_scans")
    if not sc.empty:
        pos = (_col(sc, "stalling", "Int64") > 0).fillna(False).astype(bool)
        s = sc[pos]
        p = pd.DataFrame(
            {
                "boot": _col(s, "boot", "Int64"),
                "ts0": _col(s, "ts", "Float64"),
                "l0": _col(s, "line_no", "Int64"),
            }
        )
        p["ts1"], p["l1"], p["mem"] = p["ts0"], p["l0"], True
        p["x0"] = _xcol(p, clock, "ts0", "l0")
        p["x1"] = p["x0"]
        p["seg"] = _segment(p, p["x0"], term, clock)
        p["kind"] = "scan"
        pts = pd.concat([r[r["mem"]], p])
    else:
        pts = r[r["mem"]]
    pts = pts.dropna(subset=["x0"])
    empty_eps = pd.DataFrame(
        columns=["episode", "boot", "seg", "x0", "x1", "ts0", "ts1", "l0", "l1", "clock", "gap"]
    )
    if pts.empty:
        return empty_eps, pd.Series(pd.NA, index=rows.index, dtype="Int64")
    pts = pts.sort_values(["boot", "seg", "x0", "x1"], kind="stable")
    pts["gap"] = _boot_gap(pts["boot"], clock, gap).to_numpy()
    grp = pts.groupby(["boot", "seg"], sort=False)
    reach = grp["x1"].cummax()
    prev_reach = reach.groupby([pts["boot"], pts["seg"]]).shift()
    new = prev_reach.isna() | ((pts["x0"] - prev_reach) > pts["gap"])
    pts["ep"] = new.astype(int).cumsum() - 1
    eg = pts.groupby("ep")
    eps = pd.DataFrame(
        {
            "boot": eg["boot"].first(),
            "seg": eg["seg"].first(),
            "x0": eg["x0"].min(),
            "x1": eg["x1"].max(),
            "ts0": eg["ts0"].min(),
            "ts1": eg["ts1"].max(),
            "l0": eg["l0"].min(),
            "l1": eg["l1"].max(),
            "gap": eg["gap"].first(),
        }
    ).reset_index(names="episode")
    eps["clock"] = eps["boot"].map(clock).astype("string").fillna("line")
    ep_of = pd.Series(pd.NA, index=rows.index, dtype="Int64")
    mem_rows = pts[pts["kind"] == "row"]
    ep_of[mem_rows.index] = mem_rows["ep"].to_numpy()
    # rows outside the allocator join an episode whose gap they fall within
    other = r[~r["mem"]].dropna(subset=["x0"])
    if len(other) and len(eps):
        o = other.reset_index().sort_values("x0")
        e = eps[["episode", "boot", "seg", "x0", "x1", "gap"]].rename(
            columns={"x0": "ex0", "x1": "ex1"}
        )
        e = e.astype({"boot": "int64", "seg": "int64"}).sort_values("ex0")
        o = o.astype({"boot": "int64", "seg": "int64"})
        j = pd.merge_asof(
            o, e, left_on="x0", right_on="ex0", by=["boot", "seg"], direction="backward"
        )
        ok = (j["x0"] <= j["ex1"] + j["gap"]).fillna(False).astype(bool)
        j2 = pd.merge_asof(
            o.sort_values("x1"),
            e.sort_values("ex0"),
            left_on="x1",
            right_on="ex0",
            by=["boot", "seg"],
            direction="forward",
        ).set_index("index")
        hit = j.set_index("index")["episode"].where(ok.to_numpy())
        ok2 = (j2["ex0"] - j2["x1"] <= j2["gap"]).fillna(False).astype(bool)
        hit = hit.fillna(j2["episode"].where(ok2))
        ep_of[hit.dropna().index] = hit.dropna().astype("int64").to_numpy()
        # the episode spans the rows that joined it
        att = r.loc[hit.dropna().index].assign(ep=hit.dropna().astype("int64"))
        if len(att):
            ag = att.groupby("ep")
            for col, fn in (("x0", "min"), ("ts0", "min"), ("l0", "min")):
                v = eps["episode"].map(ag[col].agg(fn))
                eps[col] = eps[col].where(~(v < eps[col]).fillna(False).astype(bool), v)
            for col, fn in (("x1", "max"), ("ts1", "max"), ("l1", "max")):
                v = eps["episode"].map(ag[col].agg(fn))
                eps[col] = eps[col].where(~(v > eps[col]).fillna(False).astype(bool), v)
    return eps, ep_of


# ---------------------------------------------------------------------------------------------
# episodes


def _assign(items: pd.DataFrame, eps: pd.DataFrame, lo: str, hi: str) -> pd.Series:
    """Episode of each item whose x lies in [eps[lo], eps[hi]] of its boot (NA otherwise).

    Episodes of a boot do not overlap: the candidate is the last one starting at or before x."""
    out = pd.Series(pd.NA, index=items.index, dtype="Int64")
    if items.empty or eps.empty:
        return out
    eb, elo, ehi = _f64(eps["boot"]), _f64(eps[lo]), _f64(eps[hi])
    ok_e = ~np.isnan(elo)
    eb, elo, ehi = eb[ok_e], elo[ok_e], ehi[ok_e]
    eid = eps["episode"].to_numpy(dtype="int64")[ok_e]
    order = np.lexsort((elo, eb))
    eb, elo, ehi, eid = eb[order], elo[order], ehi[order], eid[order]
    ib, ix = _f64(items["boot"]), _f64(items["x"])
    # position among episodes sorted by (boot, lo): boots first, then x within the boot
    start = np.searchsorted(eb, ib, side="left")
    end = np.searchsorted(eb, ib, side="right")
    res = np.full(len(items), -1, dtype="int64")
    for b in np.unique(ib[~np.isnan(ib)]):
        rows = np.flatnonzero((ib == b) & ~np.isnan(ix))
        if not len(rows):
            continue
        s0, s1 = int(start[rows[0]]), int(end[rows[0]])
        if s0 == s1:
            continue
        k = np.searchsorted(elo[s0:s1], ix[rows], side="right") - 1
        hit = (k >= 0) & (ix[rows] <= ehi[s0:s1][np.clip(k, 0, None)])
        res[rows[hit]] = eid[s0:s1][k[hit]]
    found = res >= 0
    out[found] = res[found]
    return out


def _items(df: pd.DataFrame, clock: pd.Series, ts: str, line: str) -> pd.DataFrame:
    it = pd.DataFrame(
        {
            "boot": _col(df, "boot", "Int64"),
            "ts": _col(df, ts, "Float64"),
            "line": _col(df, line, "Int64"),
        },
    )
    it["x"] = _xcol(it, clock, "ts", "line")
    # a marker without its own time (console drop) is placed by line
    it["xl"] = it["line"].astype(float)
    return it


def _place(
    it: pd.DataFrame, eps: pd.DataFrame, lo_x: str, hi_x: str, hi_line: str = "l1"
) -> pd.Series:
    """Episode by x (time or line), falling back to the line window when x is missing."""
    a = _assign(it, eps, lo_x, hi_x)
    miss = it[a.isna() & it["x"].isna()]
    if len(miss):
        b = _assign(miss.assign(x=miss["xl"]), eps, "l0", hi_line)
        a[b.dropna().index] = b.dropna()
    return a


def episodes(tables: dict[str, pd.DataFrame], stalled: pd.DataFrame) -> pd.DataFrame:
    """One row per stall episode; see the module docstring."""
    scans = _get(tables, "memalloc_scans")
    if stalled.empty and (scans.empty or not (_col(scans, "stalling", "Int64") > 0).any()):
        return _empty("episodes")
    ctx = _ctx(tables)
    clock = ctx.clock
    eps, _ = _cluster(tables, stalled, ctx)
    if eps.empty:
        return _empty("episodes")
    eps = eps.sort_values("episode").reset_index(drop=True)
    st = stalled.copy()
    st_ep = st["episode"].astype("Int64")
    # began: the oldest stalled allocation's start
    began = st.groupby(st_ep)["began_ts"].min().astype("Float64")
    eps["began_ts"] = eps["episode"].map(began).astype("Float64")
    eps["began_ts"] = eps[["began_ts", "ts0"]].min(axis=1).astype("Float64")
    eps.loc[eps["ts0"].isna(), "began_ts"] = pd.NA
    line_clock = eps["clock"] == "line"
    eps["bx"] = np.where(line_clock, eps["x0"], eps["began_ts"].astype(float).fillna(eps["x0"]))
    eps["after"] = eps["x1"] + eps["gap"]
    # next episode start in the same boot bounds the "after" window
    nxt = eps.groupby("boot")["x0"].shift(-1)
    eps["after"] = eps[["after"]].assign(n=nxt).min(axis=1)

    not_kswapd = ~st["kswapd"].astype("boolean").fillna(False).astype(bool)
    n_tasks = st[st_ep.notna() & not_kswapd].assign(
        k=st["pid"].astype("string").fillna("comm:" + st["comm"].fillna("?"))
    )
    eps["n_tasks"] = eps["episode"].map(n_tasks.groupby("episode")["k"].nunique()).fillna(0)
    eps["longest_stall_s"] = eps["episode"].map(st.groupby(st_ep)["max_delay_s"].max())
    eps["peak_stalled"] = _peak(tables, eps, st, clock)

    # OOM invocations and kills: from the oldest stalled allocation to the last report
    oe = _get(tables, "oom_events")
    kills_in = pd.Series(dtype="Int64")
    if not oe.empty:
        it = _items(oe, clock, "ts", "line_start")
        it["ts"] = it["ts"].fillna(_col(oe, "ts_kill", "Float64"))
        it["x"] = _xcol(it, clock, "ts", "line")
        eps["oom_invocations"] = eps["episode"].map(_place(it, eps, "bx", "x1").value_counts())
        kl = oe[_col(oe, "kill_line_no", "Int64").notna()]
        kit = _items(kl, clock, "ts_kill", "kill_line_no")
        kit["ts"] = kit["ts"].fillna(_col(kl, "ts", "Float64"))
        kit["x"] = _xcol(kit, clock, "ts", "line")
        kills_in = _place(kit, eps, "bx", "x1")
        eps["kills"] = eps["episode"].map(kills_in.value_counts())
        # kills relieving the episode: up to the gap after its last report
        relief = _place(kit, eps, "bx", "after")
        kit = kit.assign(ep=relief)
        last_kill = kit.dropna(subset=["ep"]).sort_values("line").groupby("ep")["line"].last()
        eps["kill_line"] = eps["episode"].map(last_kill)
    for c in ("oom_invocations", "kills"):
        eps[c] = eps[c].fillna(0) if c in eps.columns else 0
    if "kill_line" not in eps.columns:
        eps["kill_line"] = pd.NA

    # kmallocwd oom_count first/last
    sc = _get(tables, "memalloc_scans")
    eps["oom_count_first"] = pd.NA
    eps["oom_count_last"] = pd.NA
    if not sc.empty:
        it = _items(sc, clock, "ts", "line_no")
        it["oom_count"] = _col(sc, "oom_count", "Int64")
        it["ep"] = _place(it, eps, "x0", "x1")
        it = it.dropna(subset=["ep", "oom_count"]).sort_values(["x", "line"])
        eps["oom_count_first"] = eps["episode"].map(it.groupby("ep")["oom_count"].first())
        eps["oom_count_last"] = eps["episode"].map(it.groupby("ep")["oom_count"].last())
        # how long oom_count stayed at its last value (ANALYSIS.md §2.4: flat = nobody
        # reached out_of_memory())
        last = it.groupby("ep")["oom_count"].transform("last")
        flat = it[it["oom_count"] == last]
        changed = it[it["oom_count"] != last].groupby("ep")["x"].max()
        flat = flat[~(flat["x"] < flat["ep"].map(changed)).fillna(False).astype(bool)]
        span = flat.groupby("ep")["ts"].agg(lambda v: v.max() - v.min())
        eps["oom_count_flat_s"] = eps["episode"].map(span)

    _outcome(tables, eps, ctx)

    # printk loss (placed by line when the marker has no time of its own) from the first
    # report to the last one, or to the end of the boot when the episode is still stalled there
    pl = _get(tables, "printk_loss")
    eps["printk_dropped"] = pd.NA
    if not pl.empty:
        boots = _get(tables, "boots")
        b = pd.DataFrame(
            {
                "ts_last": _col(boots, "ts_last", "Float64").to_numpy(dtype=float, na_value=np.nan),
                "line_end": _f64(boots["line_end"]),
            },
            index=_f64(boots["boot"]),
        )
        still = eps["outcome"].isin(["stalled_at_end", "reboot", "panic"]).to_numpy(dtype=bool)
        boot_f = _f64(eps["boot"])
        end_x = np.where(
            eps["clock"] == "ts",
            pd.Series(boot_f).map(b["ts_last"]).to_numpy(dtype=float),
            pd.Series(boot_f).map(b["line_end"]).to_numpy(dtype=float),
        )
        end_l = pd.Series(boot_f).map(b["line_end"]).to_numpy(dtype=float)
        eps["pl_x1"] = np.where(still, np.fmax(end_x, _f64(eps["x1"])), _f64(eps["x1"]))
        eps["pl_l1"] = np.where(still, np.fmax(end_l, _f64(eps["l1"])), _f64(eps["l1"]))
        it = _items(pl, clock, "ts", "line_no")
        it["count"] = _col(pl, "count", "Int64")
        it["ep"] = _place(it, eps, "x0", "pl_x1", "pl_l1")
        eps["printk_dropped"] = eps["episode"].map(it.groupby("ep")["count"].sum(min_count=1))

    eps["start_ts"] = eps["ts0"]
    eps["end_ts"] = eps["ts1"]
    eps["first_line"] = eps["l0"]
    eps["last_line"] = eps["l1"]
    eps["duration_s"] = eps["ts1"] - eps["ts0"]
    return _typed(eps, "episodes")


def _peak(
    tables: dict[str, pd.DataFrame], eps: pd.DataFrame, st: pd.DataFrame, clock: pd.Series
) -> pd.Series:
    """Most tasks stalled at once: kmallocwd `stalling`, or the most overlapping reports."""
    peak = pd.Series(0.0, index=eps.index, dtype="float64")
    s = st[st["episode"].notna() & ~st["kswapd"].astype("boolean").fillna(False).astype(bool)]
    if len(s):
        x0 = _xcol(s.assign(a=s["first_ts"], b=s["first_line"]), clock, "a", "b")
        x1 = _xcol(s.assign(a=s["last_ts"], b=s["last_line"]), clock, "a", "b")
        sw = pd.concat(
            [
                pd.DataFrame({"ep": s["episode"], "x": x0, "d": 1}),
                pd.DataFrame({"ep": s["episode"], "x": x1, "d": -1}),
            ]
        ).sort_values(["ep", "x", "d"], ascending=[True, True, False])
        sw["c"] = sw.groupby("ep")["d"].cumsum()
        peak = eps["episode"].map(sw.groupby("ep")["c"].max()).fillna(0).astype(float)
    sc = _get(tables, "memalloc_scans")
    if not sc.empty:
        it = _items(sc, clock, "ts", "line_no")
        it["stalling"] = _col(sc, "stalling", "Int64")
        it["ep"] = _place(it, eps, "x0", "x1")
        m = eps["episode"].map(it.dropna(subset=["ep"]).groupby("ep")["stalling"].max())
        peak = pd.concat([peak, m.astype(float)], axis=1).max(axis=1)
    return peak


def _panics(tables: dict[str, pd.DataFrame], clock: pd.Series) -> pd.DataFrame:
    parts = []
    oe = _get(tables, "oom_events")
    if not oe.empty and "panic" in oe.columns:
        p = oe[oe["panic"].astype("boolean").fillna(False).astype(bool)]
        it = _items(p, clock, "ts_kill", "line_end")
        it["ts"] = it["ts"].fillna(_col(p, "ts", "Float64"))
        parts.append(it)
    un = tables.get("unparsed")
    if un is not None and not un.empty:
        hit = un["text"].astype("string").str.startswith("Kernel panic - not syncing")
        p = un[hit.fillna(False).astype(bool)]
        parts.append(_items(p, clock, "ts", "line_no"))
    if not parts:
        return pd.DataFrame(columns=["boot", "ts", "line", "x", "xl"])
    out = pd.concat(parts, ignore_index=True)
    out["x"] = _xcol(out, clock, "ts", "line")
    return out


def _outcome(tables: dict[str, pd.DataFrame], eps: pd.DataFrame, ctx: _Ctx) -> None:
    clock, term = ctx.clock, ctx.term
    boots = _get(tables, "boots")
    b = pd.DataFrame(
        {
            "boot": _col(boots, "boot", "Int64"),
            "ts_last": _col(boots, "ts_last", "Float64"),
            "line_end": _col(boots, "line_end", "Int64"),
            "line_start": _col(boots, "line_start", "Int64"),
            "source": _col(boots, "source", "string"),
        }
    ).set_index("boot")
    bx_end = pd.Series(
        np.where(
            eps["clock"] == "ts",
            eps["boot"].map(b["ts_last"]).astype(float),
            eps["boot"].map(b["line_end"]).astype(float),
        ),
        index=eps.index,
    )
    # a next boot of the same source
    nb = b.reset_index()
    nb["next_start"] = nb.groupby("source")["line_start"].shift(-1)
    next_start = eps["boot"].map(nb.set_index("boot")["next_start"])

    # stalls stopped: a stalling=0 scan after the episode, or the log goes on past the gap
    stop_line = pd.Series(pd.NA, index=eps.index, dtype="Int64")
    if not term.empty:
        t = term.assign(x=_xcol(term, clock, "ts", "line"))
        t = t.dropna(subset=["x"]).astype({"boot": "int64"}).sort_values("x")
        e = eps[["episode", "boot", "x1"]].reset_index().astype({"boot": "int64"})
        j = pd.merge_asof(
            e.sort_values("x1"), t, left_on="x1", right_on="x", by="boot", direction="forward"
        ).set_index("index")
        stop_line[j.index] = j["line"].astype("Int64")
    last_in_boot = eps.groupby("boot")["x0"].transform("max") == eps["x0"]
    went_on = (bx_end - eps["x1"]) > eps["gap"]
    kill_line = eps["kill_line"].astype("Int64")
    stopped = stop_line.notna() | ~last_in_boot | went_on
    # without timestamps: a kill after the last report, and nothing stalls after it
    stopped |= (eps["clock"] == "line") & (kill_line > eps["l1"]).fillna(False)

    outcome = pd.Series("stalled_at_end", index=eps.index, dtype="string")
    line = eps["l1"].astype("Int64").copy()
    reboot = ~stopped & next_start.notna()
    outcome[reboot] = "reboot"
    line[reboot] = next_start[reboot].astype("Int64")
    rel = stopped & kill_line.isna()
    outcome[rel] = "relieved_without_kill"
    line[rel] = stop_line[rel].fillna(eps.loc[rel, "l1"].astype("Int64"))
    byk = stopped & kill_line.notna()
    outcome[byk] = "relieved_by_kill"
    line[byk] = kill_line[byk]

    pan = _panics(tables, clock)
    if len(pan):
        after_end = pd.concat([eps["after"], bx_end.where(last_in_boot)], axis=1).max(axis=1)
        win = eps.assign(_pe=after_end)
        p = _place(pan, win, "x0", "_pe")
        first_p = pan.assign(ep=p).dropna(subset=["ep"]).sort_values("line").groupby("ep")["line"]
        pl = eps["episode"].map(first_p.first())
        has = pl.notna()
        outcome[has] = "panic"
        line[has] = pl[has].astype("Int64")
    eps["outcome"] = outcome
    eps["outcome_line"] = line
