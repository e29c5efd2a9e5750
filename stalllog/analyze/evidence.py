"""Stall evidence for `stalled_tasks`: one row per report that a task is stuck (see stalls.py).

Sources: kmallocwd `MemAlloc:` lines (`memalloc`; stalling tasks, and kswapd threads listed
without an allocation), warn_alloc `page allocation stalls` reports (`alloc_stalls`, 4.9-4.14),
khungtaskd reports (`hung_tasks`), and SysRq/NMI task dumps (`tasks`, `nmi_backtraces`) whose
trace is in the page allocator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
import pandas as pd

from stalllog.engine.trim import release_mapped, release_memory

from .timeline import col, get

SOURCES = ("memalloc", "alloc_stall", "hung_task", "task_dump")  # the order runs list them in

# columns every source may lack, made present (all NA) with their dtype
_OPTIONAL = (
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
)


def _events_pos(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    ev = get(tables, "events")
    if ev.empty:
        return pd.DataFrame(columns=["event_id", "ev_boot", "ev_ts", "ev_line_end"])
    return pd.DataFrame(
        {
            "event_id": col(ev, "event_id", "Int64"),
            "ev_boot": col(ev, "boot", "Int64"),
            "ev_ts": col(ev, "ts", "Float64"),
            "ev_line_end": col(ev, "line_end", "Int64"),
        }
    )


def _alloc_stacks(stack_classes: pd.DataFrame) -> set[int]:
    """Stacks with a frame in the page allocator: they make a hung task or dump a stall."""
    in_alloc = stack_classes["in_allocator"].astype("boolean").fillna(False).astype(bool)
    return set(stack_classes.loc[in_alloc, "stack_id"].dropna().astype("int64"))


def _picker(df: pd.DataFrame, keep: np.ndarray | None) -> Callable[[str, str], pd.Series]:
    """col() of df's rows where `keep`: each column converted, then filtered, one at a time
    (a filtered copy of the columns first, beside their conversions, made a storm's peak).
    The column's mapped pages go once read: a storm's memalloc columns, all of them resident
    at once, were 150 of the 750 MB it peaked at here."""
    if keep is None:
        return lambda c, dtype: col(df, c, dtype)

    def pick(c: str, dtype: str) -> pd.Series:
        picked = col(df, c, dtype)[keep]
        release_mapped()
        return picked

    return pick


def _base(df: pd.DataFrame, source: str, keep: np.ndarray | None = None) -> pd.DataFrame:
    pick = _picker(df, keep)
    out = pd.DataFrame(
        {
            "boot": pick("boot", "Int64"),
            "pid": pick("pid", "Int64"),
            "comm": pick("comm", "string"),
            "ts": pick("ts", "Float64"),
            "line": pick("line_no", "Int64"),
            "event_id": pick("event_id", "Int64"),
            "stack_id": pick("stack_id", "Int64"),
        }
    )
    out["source"] = source
    return out


def _from_memalloc(ma: pd.DataFrame, hz_by_boot: pd.Series) -> pd.DataFrame:
    """Stalling tasks, and kswapd threads: kmallocwd lists them whenever anything stalls."""
    stalling = ma["stalling"].astype("boolean").fillna(False).astype(bool)
    comm = ma["comm"].astype("string").fillna("")
    kswapd = ~stalling & comm.str.startswith("kswapd").astype(bool)
    keep = (stalling | kswapd).to_numpy()
    pick = _picker(ma, keep)  # only the columns read here, never a take of the wide table
    e = _base(ma, "memalloc", keep)
    e["attempt"] = pick("seq", "Int64")
    e["kswapd"] = kswapd.to_numpy()[keep]
    e["gfp_mask"] = pick("gfp_mask", "Int64")
    e["gfp_flags"] = pick("gfp_flags", "string")
    e["order"] = pick("order", "Int64")
    e["state"] = pick("task_state", "string")
    e["uninterruptible"] = pick("uninterruptible", "boolean")
    e["switches"] = pick("switches", "Int64")
    e["victim"] = pick("victim", "boolean")
    hz = e["boot"].map(hz_by_boot).astype("Float64")
    e["delay_jiffies"] = pick("delay_jiffies", "Float64")
    e["age_s"] = e["delay_jiffies"] / hz
    e["in_alloc"] = True
    return e


def _from_alloc_stalls(st: pd.DataFrame) -> pd.DataFrame:
    e = _base(st, "alloc_stall")
    e["gfp_mask"] = col(st, "gfp_mask", "Int64")
    e["gfp_flags"] = col(st, "gfp_flags", "string")
    e["order"] = col(st, "order", "Int64")
    e["stall_ms"] = col(st, "stall_ms", "Float64")
    e["age_s"] = e["stall_ms"] / 1000.0
    e["in_alloc"] = True
    return e


def _from_hung_tasks(ht: pd.DataFrame, alloc_stacks: set[int]) -> pd.DataFrame:
    e = _base(ht, "hung_task")
    e["state"] = col(ht, "task_state", "string")
    e["uninterruptible"] = (e["state"] == "D").astype("boolean")
    # blocked_s: the time blocked, or the timeout on kernels before 4.20
    e["age_s"] = col(ht, "blocked_s", "Float64")
    e["in_alloc"] = e["stack_id"].isin(alloc_stacks).fillna(False).astype(bool)
    return e


def _from_task_dumps(
    tk: pd.DataFrame,
    alloc_stacks: set[int],
    hung_dumps: pd.Series,
    taken: pd.Series | None,
    evpos: pd.DataFrame,
) -> pd.DataFrame | None:
    """D-state tasks of a SysRq dump whose trace is in the allocator.

    Skipped: dumps printed by khungtaskd (the hung-task report already counts them) and task
    lines kmallocwd printed for its MemAlloc: lines (`taken`: the memalloc row is the report)."""
    sel = (tk["state"].astype("string") == "D").fillna(False).astype(bool)
    sel &= col(tk, "stack_id", "Int64").isin(alloc_stacks).fillna(False).astype(bool)
    sel &= ~col(tk, "dump_id", "Int64").isin(hung_dumps).fillna(False).astype(bool)
    if taken is not None:
        sel &= ~col(tk, "line_no", "Int64").isin(taken.dropna()).fillna(False).astype(bool)
    t = tk[sel]
    if not len(t):
        return None
    e = _base(t, "task_dump")
    # a dump's task lines carry no time of their own: the dump event's
    e = e.merge(evpos, on="event_id", how="left")
    e["boot"] = e["ev_boot"]
    e["ts"] = e["ev_ts"]
    e = e.drop(columns=["ev_boot", "ev_ts", "ev_line_end"])
    e["state"] = col(t, "state", "string").to_numpy()
    e["uninterruptible"] = True
    e["in_alloc"] = True
    return e


def _from_nmi(nb: pd.DataFrame, alloc_stacks: set[int]) -> pd.DataFrame | None:
    """Running tasks caught in the allocator by an NMI backtrace."""
    sel = col(nb, "stack_id", "Int64").isin(alloc_stacks).fillna(False).astype(bool)
    n = nb[sel]
    if not len(n):
        return None
    e = _base(n, "task_dump")
    e["state"] = pd.Series("R", index=e.index, dtype="string")
    e["uninterruptible"] = False
    e["in_alloc"] = True
    return e


def _sources(
    tables: dict[str, pd.DataFrame],
    alloc_stacks: set[int],
    hz_by_boot: pd.Series,
    evpos: pd.DataFrame,
) -> list[pd.DataFrame]:
    """The reports of each source present in the capture."""
    parts: list[pd.DataFrame | None] = []
    ma = get(tables, "memalloc")
    taken: pd.Series | None = None
    if not ma.empty:
        parts.append(_from_memalloc(ma, hz_by_boot))
        taken = col(ma, "task_line_no", "Int64")
    st = get(tables, "alloc_stalls")
    if not st.empty:
        parts.append(_from_alloc_stalls(st))
    ht = get(tables, "hung_tasks")
    hung_dumps: pd.Series = pd.Series(dtype="Int64")
    if not ht.empty:
        parts.append(_from_hung_tasks(ht, alloc_stacks))
        hung_dumps = col(ht, "dump_id", "Int64").dropna()
    tk = get(tables, "tasks")
    if not tk.empty and alloc_stacks:
        parts.append(_from_task_dumps(tk, alloc_stacks, hung_dumps, taken, evpos))
    nb = get(tables, "nmi_backtraces")
    if not nb.empty and alloc_stacks:
        parts.append(_from_nmi(nb, alloc_stacks))
    return [p for p in parts if p is not None]


def _concat_freeing(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """`pd.concat(parts, ignore_index=True)` a column at a time, each column dropped from the
    parts once copied: the parts and their concatenation are never all alive at once (at a
    million reports both were ~120 MB). Columns are concatenated independently by pandas, so
    each one's values and dtype are those of the whole-frame concat."""
    names = list(dict.fromkeys(c for p in parts for c in p.columns))
    columns: dict[str, pd.Series] = {}
    for name in names:
        pieces = [p[[name]] if name in p.columns else p[[]] for p in parts]
        columns[name] = pd.concat(pieces, ignore_index=True)[name]
        for p in parts:
            if name in p.columns:
                del p[name]
    parts.clear()
    return pd.DataFrame(columns, copy=False)


def _left_join(ev: pd.DataFrame, right: pd.DataFrame, on: str) -> pd.DataFrame:
    """`ev.merge(right, on=on, how="left")`, merging the key column alone: with unique ids
    (each row matching at most one) the joined columns are added to `ev`, not a copy of it."""
    m = ev[[on]].assign(_row=range(len(ev))).merge(right, on=on, how="left")
    if len(m) != len(ev):
        ev = ev.iloc[m["_row"].to_numpy()].reset_index(drop=True)
    for c in right.columns.drop(on):
        ev[c] = m[c].set_axis(ev.index)
    return ev


def _with_line_end(
    ev: pd.DataFrame, tables: dict[str, pd.DataFrame], evpos: pd.DataFrame
) -> pd.DataFrame:
    """Last line of each report: the report block (warn_alloc, hung task), else its trace."""
    ev = _left_join(ev, evpos[["event_id", "ev_line_end"]], "event_id")
    stacks = get(tables, "stacks")
    if not stacks.empty:
        se = pd.DataFrame(
            {
                "stack_id": col(stacks, "stack_id", "Int64"),
                "st_end": col(stacks, "line_end", "Int64"),
            }
        )
        ev = _left_join(ev, se, "stack_id")
    else:
        ev["st_end"] = pd.Series(pd.NA, index=ev.index, dtype="Int64")
    line = ev["line"].astype("Int64")
    block = ev["source"].isin(["alloc_stall", "hung_task"])
    end = ev["ev_line_end"].astype("Int64").where(block, ev["st_end"].astype("Int64"))
    ev["line_end"] = end.where(end >= line, line)
    return ev.drop(columns=["ev_line_end", "st_end"])


def evidence(
    tables: dict[str, pd.DataFrame], stack_classes: pd.DataFrame, hz_by_boot: pd.Series
) -> pd.DataFrame:
    """One row per report: boot, pid, comm, ts, line, line_end, source (categorical), key (pid,
    else comm:<comm>), age_s, attempt and the allocation's details; empty without any
    report."""
    evpos = _events_pos(tables)
    parts = _sources(tables, _alloc_stacks(stack_classes), hz_by_boot, evpos)
    release_memory()  # the parts are copies: the (maybe mapped) tables' pages can go
    if not parts:
        return pd.DataFrame()
    ev = _concat_freeing(parts)
    ev = _with_line_end(ev, tables, evpos)
    del ev["event_id"]  # read for line_end only
    # one byte a row, not a pointer to one of four names
    ev["source"] = ev["source"].astype(pd.CategoricalDtype(list(SOURCES)))
    for c, d in _OPTIONAL:
        dt = cast(Any, d)
        ev[c] = ev[c].astype(dt) if c in ev.columns else pd.Series(pd.NA, index=ev.index, dtype=dt)
    ev["kswapd"] = ev["kswapd"].fillna(False)
    # a few masks in a million reports: 1 byte a row, not ~45 (only its first value is read)
    ev["gfp_flags"] = ev["gfp_flags"].astype("category")
    ev["in_alloc"] = ev["in_alloc"].astype("boolean").fillna(False)
    ev["key"] = ev["pid"].astype("string").fillna("comm:" + ev["comm"].fillna("?"))
    return ev
