"""Who held `oom_lock`, when, and how many tasks waited for it meanwhile.

Table **`oom_lock`**: one row per interval during which one task held the OOM killer's mutex,
merged from every kind of evidence (ANALYSIS.md §1):

- `oom_dump`: the task that printed `invoked oom-killer` holds the lock from that header to its
  kill (or "no killable processes") line: `mm/oom_kill.c:out_of_memory` runs under it. The
  header→kill span is a *lower bound* of the hold (§1.4: the lock is taken before the last-chance
  allocation and `select_bad_process`, released after `out_of_memory` returns). A kill line whose
  header was rate-limited (`oom_rs`) gives a point.
- `stack`: a stack classified `oom_lock_role == "holder"` (classify.py: `out_of_memory` under the
  allocator, memcg charge, SysRq-f or page-fault path; the ≤v4.18 `schedule_timeout_killable`
  sleep inside `out_of_memory`) in a kmallocwd, SysRq-t, hung-task, NMI or RCU-stall dump.
- `lockdep`: a `held_locks` row of class `oom_lock`. `__mutex_lock_common` records the
  acquisition before it sleeps, so a task *blocked* in `mutex_lock(&oom_lock)` lists it too
  (§1.3): a row counts as the holder when it was taken at a trylock site
  (`__alloc_pages_may_oom`/`__alloc_pages_slowpath`, `pagefault_out_of_memory`: a failed trylock
  records nothing), or when the task's nearest earlier stack has no `__mutex_lock*` frame.

Evidence of the same pid is merged: snapshots inside a task's own OOM dump belong to that dump;
consecutive snapshots of one pid with no other holder seen in between form one interval (from
the first to the last sighting: again a lower bound). Two OOM dumps are never merged: the lock is
released and retaken between them.

`waiters` counts distinct tasks whose stack shows them waiting for the lock (`oom_lock_role ==
"waiter"`: the 1-jiffy `schedule_timeout_uninterruptible` backoff of a lost trylock, or
`__mutex_lock*` under `moom_callback`/`mem_cgroup_out_of_memory`/`__oom_reap_task_mm`) in the
interval's lines, widened to the whole dump (kmallocwd scan, SysRq-t/hung-task dump) of a
snapshot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stalllog.engine.trim import release_mapped

__all__ = ["SCHEMA", "oom_lock"]

SCHEMA: dict[str, list[tuple[str, str, str, str]]] = {
    "oom_lock": [
        ("boot", "Int64", "", "boot number in the capture"),
        ("pid", "Int64", "", "the holder"),
        ("comm", "string", "", "its name (untrusted text)"),
        ("start_ts", "Float64", "s", "first evidence of the hold (OOM header, first snapshot)"),
        ("end_ts", "Float64", "s", "last evidence (kill / no-killable line, last snapshot)"),
        ("start_line", "Int64", "", "line of the first evidence"),
        ("end_line", "Int64", "", "line of the last evidence"),
        ("held_s", "Float64", "s", "end_ts - start_ts: a lower bound of the hold"),
        ("source", "string", "", "evidence kinds, `|`-joined: oom_dump, stack, lockdep"),
        ("evidence_line", "Int64", "", "line of the strongest evidence (header, lock, trace)"),
        ("n_evidence", "Int64", "", "pieces of evidence merged into the interval"),
        ("waiters", "Int64", "tasks", "distinct tasks seen waiting for oom_lock meanwhile"),
        ("ended_by", "string", "", "kill, no_killable, panic (OOM panic) or unknown"),
    ]
}

_COLUMNS = [c for c, *_ in SCHEMA["oom_lock"]]
_DTYPES = {c: d for c, d, *_ in SCHEMA["oom_lock"]}

# Sites where oom_lock is taken with mutex_trylock: a lockdep entry there is a holder, because a
# failed trylock records nothing (§1.3). pagefault_out_of_memory: ≤v5.15 (60e2793d440a removed
# the fallback in v5.16).
_TRYLOCK_SITES = frozenset(
    {"__alloc_pages_may_oom", "__alloc_pages_slowpath", "pagefault_out_of_memory"}
)
# parsed tables whose rows own a trace and carry the time of their first line
_STACK_OWNERS = ("memalloc", "hung_tasks", "nmi_backtraces", "lockups", "alloc_stalls",
                 "alloc_failures", "oom_events")  # fmt: skip
_SOURCE_RANK = {"oom_dump": 0, "lockdep": 1, "stack": 2}


_EMPTY: list[pd.DataFrame] = []


def _empty() -> pd.DataFrame:
    if not _EMPTY:
        _EMPTY.append(pd.DataFrame({c: pd.Series(dtype=d) for c, d in _DTYPES.items()}))
    return _EMPTY[0].copy()


def _get(tables: dict[str, pd.DataFrame], name: str, cols: list[str]) -> pd.DataFrame:
    df = tables.get(name)
    if df is None or not set(cols) <= set(df.columns):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    return df[cols]


_times_cache: list[tuple[object, object, pd.DataFrame]] = []


def stack_times(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """`stack_id, boot, ts, line_start, snap_first, snap_last` for every stack.

    ts: the time of the record owning the trace (MemAlloc line, hung-task INFO line, NMI
    backtrace, OOM header…), else of the trace's block. snap_first/snap_last: the lines of the
    dump the trace belongs to (a kmallocwd scan, a SysRq-t/hung-task dump, else its block).
    Cached for the last (stacks, events) frames seen: oom_lock and findings both need it."""
    key = (tables.get("stacks"), tables.get("events"))
    for st, ev, out in _times_cache:
        if st is key[0] and ev is key[1]:
            return out
    out = _stack_times(tables)
    release_mapped()  # it read a storm's memalloc and tasks columns
    _times_cache[:] = [(key[0], key[1], out)]
    return out


def _f64(s: pd.Series) -> np.ndarray:
    return s.to_numpy(dtype="float64", na_value=np.nan)


def _lookup(keys: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Position of each key in `index` (-1 when absent); NaN keys are absent."""
    ok = ~np.isnan(keys)
    out = np.full(len(keys), -1, dtype="int64")
    out[ok] = pd.Index(index).get_indexer(keys[ok].astype("int64"))
    return out


def _stack_times(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    # numpy over the columns: this runs for every capture, most of them small
    stacks = _get(tables, "stacks", ["stack_id", "event_id", "line_start", "line_end"])
    events = _get(tables, "events", ["event_id", "boot", "ts", "line_start", "line_end"])
    sid = _f64(stacks["stack_id"]).astype("int64")
    ev = _lookup(_f64(stacks["event_id"]), _f64(events["event_id"]).astype("int64"))

    def from_events(col: str) -> np.ndarray:
        vals = np.append(_f64(events[col]), np.nan)  # index -1 → NaN
        return vals[ev]

    boot, ts = from_events("boot"), from_events("ts")
    first, last = from_events("line_start"), from_events("line_end")
    # the owner's own line time wins over its block's (first table listed first)
    for name in reversed(_STACK_OWNERS):
        df = tables.get(name)
        if df is None or not len(df) or not {"stack_id", "ts"} <= set(df.columns):
            continue
        pos = _lookup(_f64(df["stack_id"]), sid)
        t = _f64(df["ts"])
        ok = (pos >= 0) & ~np.isnan(t)
        ts[pos[ok]] = t[ok]
    # a kmallocwd scan prints one block per MemAlloc line: the snapshot is the scan; a SysRq-t
    # or hung-task dump is one dump
    line_end = _f64(stacks["line_end"])
    for name, key in (("memalloc", "scan_id"), ("tasks", "dump_id")):
        df = _get(tables, name, ["stack_id", key, "line_no"])
        k, st, ln = _f64(df[key]), _f64(df["stack_id"]), _f64(df["line_no"])
        pos = _lookup(st, sid)
        ok = (pos >= 0) & ~np.isnan(k)
        if not ok.any():
            continue
        k, pos, ln = k[ok].astype("int64"), pos[ok], ln[ok]
        span = pd.DataFrame({"k": k, "first": ln, "last": line_end[pos]}).groupby("k")
        lo, hi = span["first"].min(), span["last"].max()
        first[pos] = lo.reindex(k).to_numpy()
        last[pos] = hi.reindex(k).to_numpy()
    return pd.DataFrame(
        {
            "stack_id": sid,
            "boot": pd.array(boot, dtype="Float64").astype("Int64"),
            "ts": pd.array(ts, dtype="Float64"),
            "line_start": pd.array(_f64(stacks["line_start"]), dtype="Float64").astype("Int64"),
            "snap_first": pd.array(first, dtype="Float64").astype("Int64"),
            "snap_last": pd.array(last, dtype="Float64").astype("Int64"),
        }
    )


def _dump_evidence(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    cols = ["boot", "ts", "ts_kill", "line_start", "kill_line_no", "line_end", "trigger_pid",
            "trigger_comm", "no_killable", "victim_pid", "panic"]  # fmt: skip
    oom = _get(tables, "oom_events", cols)
    if not len(oom):
        return pd.DataFrame()
    header = oom["ts"].notna() | oom["trigger_pid"].notna()
    no_kill = oom["no_killable"].astype("boolean").fillna(False).astype(bool)
    killed = oom["kill_line_no"].notna() & ~no_kill
    panic = oom["panic"].astype("boolean").fillna(False).astype(bool)
    ev = pd.DataFrame(
        {
            "boot": oom["boot"].astype("Int64"),
            "pid": oom["trigger_pid"].astype("Int64"),
            "comm": oom["trigger_comm"].astype("string"),
            # a kill line without its header (rate-limited by oom_rs) is a point
            "start_ts": oom["ts"].astype("Float64").fillna(oom["ts_kill"].astype("Float64")),
            "end_ts": oom["ts_kill"].astype("Float64"),
            "start_line": oom["line_start"].astype("Int64"),
            "end_line": oom["kill_line_no"].astype("Int64"),
            "source": "oom_dump",
            "evidence_line": oom["line_start"].astype("Int64"),
            "ended_by": np.select(
                [no_kill.to_numpy(), killed.to_numpy(), panic.to_numpy()],
                ["no_killable", "kill", "panic"],
                "unknown",
            ),
        }
    )
    # a dump cut before its outcome: held at least to the end of what was printed
    ev["end_line"] = ev["end_line"].fillna(oom["line_end"].astype("Int64"))
    ev["end_ts"] = ev["end_ts"].where(ev["end_ts"].notna() | ~header, ev["start_ts"])
    # without a header the holder is unknown (the kill line names the victim, not the killer)
    return ev[ev["pid"].notna()]


def _stack_evidence(
    stack_classes: pd.DataFrame | None, tables: dict[str, pd.DataFrame], dump_stacks: pd.Series
) -> pd.DataFrame:
    if stack_classes is None or not len(stack_classes):
        return pd.DataFrame()
    sc = stack_classes[stack_classes["oom_lock_role"].astype("string") == "holder"]
    sc = sc[~sc["stack_id"].isin(dump_stacks) & sc["pid"].notna()]
    if not len(sc):
        return pd.DataFrame()
    sc = sc[["stack_id", "pid", "comm"]].merge(stack_times(tables), on="stack_id", how="left")
    return _point_evidence(sc, "line_start", "stack").assign(
        snap_first=sc["snap_first"].astype("Int64"), snap_last=sc["snap_last"].astype("Int64")
    )


def _point_evidence(df: pd.DataFrame, line: str, source: str) -> pd.DataFrame:
    """One sighting of a holder at one line: an interval of length zero, end unknown."""
    return pd.DataFrame(
        {
            "boot": df["boot"].astype("Int64"),
            "pid": df["pid"].astype("Int64"),
            "comm": df["comm"].astype("string"),
            "start_ts": df["ts"].astype("Float64"),
            "end_ts": df["ts"].astype("Float64"),
            "start_line": df[line].astype("Int64"),
            "end_line": df[line].astype("Int64"),
            "source": source,
            "evidence_line": df[line].astype("Int64"),
            "ended_by": "unknown",
        }
    )


def mutex_waiting_stacks(tables: dict[str, pd.DataFrame]) -> pd.Series:
    """stack_ids with a reliable `__mutex_lock*` frame (blocked in, or spinning on, a mutex)."""
    frames = _get(tables, "frames", ["stack_id", "symbol", "reliable"])
    sym = frames["symbol"].astype("string")
    hit = sym.str.startswith("__mutex_lock").fillna(False).astype(bool)
    hit &= frames["reliable"].astype("boolean").fillna(True).astype(bool)
    return pd.Series(frames.loc[hit, "stack_id"].unique())


def _lockdep_evidence(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    cols = ["boot", "ts", "line_no", "comm", "pid", "lock", "at_symbol"]
    held = _get(tables, "held_locks", cols)
    held = held[(held["lock"].astype("string") == "oom_lock").fillna(False).astype(bool)]
    held = held[held["pid"].notna()]
    if not len(held):
        return pd.DataFrame()
    times = stack_times(tables)
    held = held.assign(boot=held["boot"].astype("int64"), line_no=held["line_no"].astype("int64"))
    # the task's nearest earlier trace in the same boot (its stack in the same dump, usually)
    st = _get(tables, "stacks", ["stack_id", "pid", "line_start"]).dropna()
    st = st.merge(times[["stack_id", "boot"]], on="stack_id").dropna(subset=["boot"])
    st = st.assign(
        boot=st["boot"].astype("int64"),
        pid=st["pid"].astype("int64"),
        line_start=st["line_start"].astype("int64"),
    ).sort_values("line_start")
    held = held.assign(pid=held["pid"].astype("int64")).sort_values("line_no")
    held = pd.merge_asof(
        held, st, left_on="line_no", right_on="line_start", by=["boot", "pid"],
        direction="backward",
    )  # fmt: skip
    waiting = held["stack_id"].isin(mutex_waiting_stacks(tables))
    trylock = held["at_symbol"].astype("string").isin(_TRYLOCK_SITES).fillna(False)
    known_stack = held["stack_id"].notna()
    holder = trylock.astype(bool) | (known_stack & ~waiting)
    return _point_evidence(held[holder], "line_no", "lockdep")


def _merge(ev: pd.DataFrame) -> pd.DataFrame:
    """One row per interval: points inside the same pid's dump join it; runs of points of one
    pid with no other holder in between join each other."""
    ev = ev.sort_values(["boot", "start_line", "end_line"], kind="stable").reset_index(drop=True)
    is_dump = (ev["source"] == "oom_dump").to_numpy()
    dumps = ev[is_dump]
    ev["group"] = -1
    ev.loc[is_dump, "group"] = np.flatnonzero(is_dump)
    points = ev[~is_dump]
    if len(points) and len(dumps):
        left = points[["boot", "pid", "start_line"]].astype("int64").reset_index()
        right = dumps[["boot", "pid", "start_line", "end_line"]].astype("int64").reset_index()
        right = right.rename(columns={"index": "dump", "start_line": "d_start"})
        m = pd.merge_asof(
            left.sort_values("start_line"), right.sort_values("d_start"),
            left_on="start_line", right_on="d_start", by=["boot", "pid"], direction="backward",
        )  # fmt: skip
        inside = m["dump"].notna() & (m["start_line"] <= m["end_line"])
        # positional: a Series would align on m's index, not ev's (NaN groups)
        dump_of = m.loc[inside, "dump"].astype("int64").to_numpy()
        ev.loc[m.loc[inside, "index"].to_numpy(), "group"] = dump_of
    # runs: a new group starts at every dump and whenever boot or pid changes
    free = (ev["group"] < 0).to_numpy()
    rest = ev[(ev["group"] < 0) | is_dump]  # the holder sequence, points absorbed left out
    new = (
        (rest["boot"] != rest["boot"].shift())
        | (rest["pid"] != rest["pid"].shift())
        | (rest["source"] == "oom_dump")
        | (rest["source"].shift() == "oom_dump")
    ).fillna(True)
    run = new.astype(bool).cumsum()
    run_first = rest.index.to_series().groupby(run.to_numpy()).transform("min")
    ev.loc[free, "group"] = run_first[~is_dump[rest.index]].to_numpy()
    ev["rank"] = ev["source"].map(_SOURCE_RANK)
    best = ev.sort_values(["group", "rank", "start_line"]).drop_duplicates("group")
    g = ev.groupby("group", sort=True)
    out = pd.DataFrame(
        {
            "boot": g["boot"].first(),
            "pid": g["pid"].first(),
            "comm": g["comm"].first(),
            "start_ts": g["start_ts"].min(),
            "end_ts": g["end_ts"].max(),
            "start_line": g["start_line"].min(),
            "end_line": g["end_line"].max(),
            "source": _joined_sources(ev),
            "n_evidence": g.size(),
            "snap_first": g["snap_first"].min(),
            "snap_last": g["snap_last"].max(),
        }
    )
    best = best.set_index("group")
    out["evidence_line"] = best["evidence_line"]
    out["ended_by"] = best["ended_by"]
    out["comm"] = out["comm"].fillna(best["comm"])
    return out.reset_index(drop=True)


def _joined_sources(ev: pd.DataFrame) -> pd.Series:
    """Per group, its distinct sources joined by `|` in `_SOURCE_RANK` order (a bit per rank:
    one vectorized groupby instead of a Python call per group)."""
    pairs = ev[["group", "rank"]].astype("int64").drop_duplicates()
    bits = pd.Series(np.left_shift(1, pairs["rank"].to_numpy()), index=pairs.index)
    mask = bits.groupby(pairs["group"].to_numpy()).sum()
    names = sorted(_SOURCE_RANK, key=_SOURCE_RANK.__getitem__)
    text = {m: "|".join(n for n in names if m >> _SOURCE_RANK[n] & 1) for m in np.unique(mask)}
    return mask.map(text)


def _count_waiters(
    intervals: pd.DataFrame, stack_classes: pd.DataFrame | None, tables: dict[str, pd.DataFrame]
) -> pd.Series:
    zero = pd.Series(0, index=intervals.index, dtype="Int64")
    if stack_classes is None or not len(stack_classes) or not len(intervals):
        return zero
    w = stack_classes[stack_classes["oom_lock_role"].astype("string") == "waiter"]
    if not len(w):
        return zero
    times = stack_times(tables)
    w = w[["stack_id", "pid"]].merge(times[["stack_id", "boot", "line_start"]], on="stack_id")
    w = w.dropna(subset=["boot", "line_start"])
    if not len(w):
        return zero
    first = intervals["start_line"].astype("Float64")
    first = first.where(intervals["snap_first"].isna(), intervals["snap_first"].clip(upper=first))
    last = intervals["end_line"].astype("Float64")
    last = last.where(intervals["snap_last"].isna(), intervals["snap_last"].clip(lower=last))
    win = pd.DataFrame(
        {
            "iv": intervals.index,
            "boot": intervals["boot"].astype("int64"),
            "w_first": first.astype("int64"),
            "w_last": last.astype("int64"),
            "holder": intervals["pid"].astype("Int64"),
        }
    ).sort_values("w_first")
    w = w.assign(boot=w["boot"].astype("int64"), line_start=w["line_start"].astype("int64"))
    # windows of different holders do not overlap (one mutex); the nearest window starting at or
    # before the waiter's trace is the only candidate
    m = pd.merge_asof(
        w.sort_values("line_start"), win, left_on="line_start", right_on="w_first", by="boot",
        direction="backward",
    )  # fmt: skip
    m = m[m["iv"].notna() & (m["line_start"] <= m["w_last"]) & (m["pid"] != m["holder"])]
    counts = m.groupby("iv")["pid"].nunique()
    return zero.add(counts.reindex(intervals.index, fill_value=0).astype("Int64"))


def oom_lock(tables: dict[str, pd.DataFrame], stack_classes: pd.DataFrame | None) -> pd.DataFrame:
    """The `oom_lock` table (see the module docstring) from parsed tables and `stack_classes`."""
    dump_stacks = _get(tables, "oom_events", ["stack_id"])["stack_id"].dropna()
    parts = [
        _dump_evidence(tables),
        _stack_evidence(stack_classes, tables, dump_stacks),
        _lockdep_evidence(tables),
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty()
    ev = pd.concat(parts, ignore_index=True)
    for c in ("snap_first", "snap_last"):
        ev[c] = (
            ev[c].astype("Int64") if c in ev else pd.Series(pd.NA, index=ev.index, dtype="Int64")
        )
    ev = ev.dropna(subset=["boot", "start_line"])
    if not len(ev):
        return _empty()
    out = _merge(ev)
    out["waiters"] = _count_waiters(out, stack_classes, tables)
    out["held_s"] = (out["end_ts"].astype("Float64") - out["start_ts"].astype("Float64")).clip(
        lower=0
    )
    out = out.sort_values(["boot", "start_line"], kind="stable").reset_index(drop=True)
    return out[_COLUMNS].astype(_DTYPES)
