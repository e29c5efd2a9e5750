"""Tables `vmcore_tasks`, `vmcore_frames` and `vmcore_oom_lock` from the collector's document.

Every task's stack is classified by the same rules as a stack printed on the console: its
function names normalized as `frames.symbol` is (stalllog/parsers/stacktrace.py), then
`classify_symbols` (stalllog/analyze/classify.py). drgn unwinds from the saved registers, so
every frame is reliable (no `? ` guesses to drop). drgn also names the functions inlined at a
pc; the console prints only the function the pc is in, and the rules were written for what
the console prints: the class is decided without the inlined frames, unless that leaves the
task `other` and the frames with them are classified (a 6.12 oom_lock backoff sleeps in
`schedule_timeout` under an inlined `__alloc_pages_may_oom`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from stalllog.analyze.classify import MAX_FRAMES, classify_symbols
from stalllog.parsers.stacktrace import normalize_symbol
from stalllog.vmcore.document import (
    as_bool,
    as_dict,
    as_float,
    as_int,
    as_list,
    as_str,
    as_u64,
)
from stalllog.vmcore.schema import SCHEMA

__all__ = ["TOP_FRAMES", "frames_table", "oom_lock_table", "tasks_table"]

PF_WQ_WORKER = 0x20  # include/linux/sched.h
TOP_FRAMES = 6  # frames shown in `vmcore_tasks.top_frames`
_STATES = frozenset("RSDTtXZPIKWN")


def _frame(f: dict[str, Any]) -> dict[str, Any]:
    function = as_str(f.get("function"))
    pc = as_u64(f.get("pc"))
    return {
        "function": function,
        "symbol": normalize_symbol(function) if function else None,
        "offset": as_int(f.get("offset")),
        "module": as_str(f.get("module")),
        "pc": f"{pc:#x}" if pc is not None else None,
        "inline": as_bool(f.get("inline")),
    }


def _frames(t: dict[str, Any]) -> list[dict[str, Any]]:
    return [_frame(f) for f in as_list(t.get("stack")) if isinstance(f, dict)]


def _task(t: dict[str, Any]) -> dict[str, Any]:
    frames = _frames(t)
    # the frames the console would print: an inlined function shares the pc of its caller
    syms = [f["symbol"] for f in frames if f["symbol"] and not f["inline"]]
    comm = as_str(t.get("comm"))
    flags = as_int(t.get("flags"))
    wq = bool(flags is not None and flags & PF_WQ_WORKER) or (comm or "").startswith("kworker/")
    c = classify_symbols(syms[:MAX_FRAMES], wq_worker=wq) if syms else None
    if c is not None and c.stuck_in == "other" and any(f["inline"] for f in frames):
        # what the console cannot show may decide: the inlined __alloc_pages_may_oom of a
        # trylock backoff
        full = classify_symbols([f["symbol"] for f in frames if f["symbol"]][:MAX_FRAMES], wq)
        c = full if full.stuck_in != "other" else c
    state = as_str(t.get("state"))
    since = as_float(t.get("since_ran_s"))
    stack_error = as_str(t.get("stack_error"))
    return {
        "pid": as_int(t.get("pid")),
        "tgid": as_int(t.get("tgid")),
        "ppid": as_int(t.get("ppid")),
        "comm": comm,
        "state": state if state in _STATES else None,
        "flags": flags,
        "cpu": as_int(t.get("cpu")),
        "on_cpu": as_bool(t.get("on_cpu")),
        "since_ran_s": since if since is not None and since >= 0 else None,
        "memcg": as_str(t.get("memcg")),
        "rss_pages": as_int(t.get("rss_pages")),
        "n_frames": len(frames) if stack_error is None else None,
        "top_frames": "←".join(syms[:TOP_FRAMES]) or None,
        "stuck_in": c.stuck_in if c else None,
        "detail": c.stuck_detail if c else None,
        "oom_lock_role": c.oom_lock_role if c else None,
        "idle": (c.stuck_detail or "").startswith("idle") if c else None,
        "stack_error": stack_error,
    }


def typed(rows: list[dict[str, Any]], table: str) -> pd.DataFrame:
    """Rows as a DataFrame with the table's columns and dtypes (unknown values NA)."""
    cols = SCHEMA[table]
    return pd.DataFrame(
        {c: pd.Series([r[c] for r in rows], dtype=d) for c, d, *_ in cols}
        if rows
        else {c: pd.Series(dtype=d) for c, d, *_ in cols}
    )


def _task_dicts(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in as_list(doc.get("tasks")) if isinstance(t, dict)]


def tasks_table(doc: dict[str, Any]) -> pd.DataFrame:
    return typed([_task(t) for t in _task_dicts(doc)], "vmcore_tasks")


def frames_table(doc: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {"pid": as_int(t.get("pid")), "depth": depth, **f}
        for t in _task_dicts(doc)
        for depth, f in enumerate(_frames(t))
    ]
    return typed(rows, "vmcore_frames")


def _pids(values: Any) -> list[int]:
    return [p for p in (as_int(v) for v in as_list(values)) if p is not None]


def oom_lock_table(doc: dict[str, Any], tasks: pd.DataFrame) -> pd.DataFrame:
    """One row: the mutex's owner and wait list as read, with what the tasks table says of
    them, and the tasks the classifier sees waiting for or inside the OOM killer."""
    lock = as_dict(doc.get("oom_lock"))
    owner = as_int(lock.get("owner_pid"))
    waiters = _pids(lock.get("waiters"))
    row: dict[str, Any] = {
        "owner_pid": owner,
        "waiters": len(waiters),
        "waiter_pids": " ".join(map(str, waiters)) or None,
        "uptime_s": _uptime_s(doc),
    }
    mine = tasks[tasks["pid"] == owner] if owner is not None else tasks.iloc[:0]
    o = mine.iloc[0] if len(mine) else None
    for col, src in (("owner_comm", "comm"), ("owner_state", "state"),
                     ("owner_stuck_in", "stuck_in"), ("owner_detail", "detail"),
                     ("owner_since_ran_s", "since_ran_s")):  # fmt: skip
        row[col] = None if o is None or pd.isna(o[src]) else o[src]
    cls = tasks["stuck_in"].fillna("")
    backoff = tasks.loc[cls == "oom_lock_wait", "pid"].dropna().astype(int).tolist()
    row["oom_lock_wait"] = len(backoff)
    row["oom_lock_wait_pids"] = " ".join(map(str, backoff)) or None
    row["oom_killers"] = int((cls == "oom_killer").sum())
    return typed([row], "vmcore_oom_lock")


def _uptime_s(doc: dict[str, Any]) -> float | None:
    ns = as_int(as_dict(doc.get("dump")).get("uptime_ns"))
    return ns / 1e9 if ns is not None and ns >= 0 else None
