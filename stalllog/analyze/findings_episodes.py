"""Findings over whole stall episodes: the OOM killer never invoked (F6), all-NOFS stalls (F5),
stalls relieved by a kill (F12), and why reclaim may have kept looping (stale vmstat counters).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .findings_context import (
    NO_LINES,
    Ctx,
    Row,
    as_int,
    finding_row,
    floats,
    fmt_num,
    fmt_ts,
    has_gfp_fs,
    records,
)


def nofs(ctx: Ctx) -> list[Row]:
    st = ctx.get("stalled_tasks")
    if st is not None and {"gfp_flags", "first_line", "episode"} <= set(st.columns):
        df = st.rename(columns={"first_line": "line"})
        df = df.assign(ts=df["first_ts"])
    else:
        mem = ctx.get("memalloc")
        if mem is None:
            return []
        df = mem[mem["stalling"].astype("boolean").fillna(False).astype(bool)]
        df = df.rename(columns={"line_no": "line"})
        df = df.assign(episode=ctx.episode_of(df["boot"], df["line"]))
    df = df.dropna(subset=["gfp_flags", "boot"])
    if not len(df):
        return []
    df = df.assign(fs=has_gfp_fs(df["gfp_flags"]))
    oom = ctx.get("oom_events")
    rows: list[Row] = []
    for (boot, ep), g in df.groupby(["boot", "episode"], sort=True, dropna=False):
        if g["fs"].isna().any() or g["fs"].any():
            continue
        lo, hi = g["line"].min(), g["line"].max()
        if oom is not None:
            ob = oom[(oom["boot"] == boot) & oom["ts"].notna()]
            if ((ob["line_start"] >= lo - 1) & (ob["line_start"] <= hi)).any():
                continue
        u = g.drop_duplicates("pid")
        if len(u) < 2:
            continue  # one task's mask says little about why the OOM killer stays silent
        vc = u["gfp_flags"].astype("string").str.split("|").str[0].value_counts()
        gfps = ", ".join(f"{k} ×{n}" for k, n in vc.items())
        rows.append(
            finding_row(
                "nofs_cannot_oom",
                "warning",
                boot,
                f"all {len(u)} stalling allocation(s) lack __GFP_FS ({gfps}): out_of_memory() "
                f"returns without killing for them (v4.7+: 3da88fb3bacf; before, they never "
                f"call it), so only other allocations can trigger the OOM killer.",
                u["line"],
                ts=g["ts"].min(),
                episode=ep,
            )
        )
    return rows


def episode_rules(ctx: Ctx) -> list[Row]:
    """Per episode: the OOM killer never invoked (F6), or the stall relieved by a kill (F12)."""
    ep = ctx.get("episodes")
    rows: list[Row] = []
    if ep is None:
        return rows
    held = ctx.get("oom_lock")
    st = ctx.get("stalled_tasks")
    for e in records(ep):
        longest = (
            f", the longest for {float(e['longest_stall_s']):.0f} s"
            if not pd.isna(e["longest_stall_s"])
            else ""
        )
        if _never_invoked(e, held):
            rows.append(_never_invoked_row(e, longest, st))
        if e["outcome"] == "relieved_by_kill":
            rows.append(
                finding_row(
                    "oom_resolved",
                    "info",
                    e["boot"],
                    f"The stall from {fmt_ts(e['start_ts'])} ({e['n_tasks']} task(s){longest}) "
                    f"ended after {fmt_num(e['kills'])} OOM kill(s), at line {e['outcome_line']}.",
                    [e["first_line"], e["outcome_line"]],
                    ts=e["start_ts"],
                    episode=e["episode"],
                )
            )
    return rows


def _never_invoked(e: dict[str, Any], held: pd.DataFrame | None) -> bool:
    """The episode `e` stalled for 30 s or more to its end and nothing shows an OOM invocation."""
    # with kmallocwd counters the scan rules say more (oom_count may rise without a header)
    counted = not pd.isna(e["oom_count_first"])
    # an oom_lock holder seen inside the episode (a stack in out_of_memory) invoked it
    holder = held is not None and bool(
        (
            (held["boot"] == e["boot"])
            & (held["end_line"] >= e["first_line"])
            & (held["start_line"] <= e["last_line"])
        ).any()
    )
    return (
        e["outcome"] in ("stalled_at_end", "panic", "reboot")
        and not counted
        and not holder
        and (pd.isna(e["oom_invocations"]) or e["oom_invocations"] == 0)
        and _long(e["duration_s"], e["longest_stall_s"], limit=30)
    )


def _never_invoked_row(e: dict[str, Any], longest: str, st: pd.DataFrame | None) -> Row:
    why = _costly_orders(st, e["episode"])
    return finding_row(
        "no_oom_progress",
        "critical" if _long(e["duration_s"], e["longest_stall_s"]) else "warning",
        e["boot"],
        f"{e['n_tasks']} task(s) were reported stalled from {fmt_ts(e['start_ts'])} to "
        f"{fmt_ts(e['end_ts'])}{longest}, and the OOM killer was never invoked up to the "
        f"{_end_word(e['outcome'])}: " + (why or "reclaim keeps the allocations looping."),
        [
            e["first_line"],
            e["outcome_line"] if not pd.isna(e["outcome_line"]) else e["last_line"],
        ],
        ts=e["start_ts"],
        episode=e["episode"],
        src="episode",
    )


def _long(*secs: Any, limit: float = 60) -> bool:
    """Any of the durations is `limit` seconds (a minute) or more."""
    return any(not pd.isna(x) and float(x) >= limit for x in secs)


def _costly_orders(st: pd.DataFrame | None, episode: Any) -> str:
    """When every stalled allocation of the episode is above PAGE_ALLOC_COSTLY_ORDER (3):
    `__alloc_pages_may_oom` returns before `out_of_memory` for them (§1.1), so they never
    invoke the OOM killer and only reclaim/compaction retries remain."""
    if st is None or "order" not in st:
        return ""
    o = st.loc[(st["episode"] == episode).fillna(False).to_numpy(bool), "order"].dropna()
    if not len(o) or not (o > 3).all():
        return ""
    orders = "/".join(str(int(x)) for x in sorted(set(o)))
    return (
        f"every stalled request is order {orders} (> PAGE_ALLOC_COSTLY_ORDER), which never "
        f"invokes the OOM killer; only reclaim and compaction retries remain."
    )


def _end_word(outcome: str) -> str:
    return {"panic": "panic", "reboot": "reboot"}.get(outcome, "end of the capture")


_DELAY = re.compile(r"vmstat_update\(delay=(\d+)\)")


def vmstat_note(ctx: Ctx, boot: Any, line: Any) -> str:
    """`vmstat_update` pending on its workqueue after `line` (until the next kill): reclaim then
    decides on stale counters and keeps looping instead of declaring OOM (the 2016 4.4 stall
    behind 373ccbe59270, fixed by making kworkers sleep in wait_iff_congested)."""
    wq = ctx.vmstat_pending()
    if wq is None or line is None or pd.isna(line) or boot is None or pd.isna(boot):
        return ""
    kills = ctx.kills_by_boot().get(as_int(boot), NO_LINES)
    after = kills[kills > line]
    stop = float(after[0]) if len(after) else np.inf
    wl = ctx.cached("vmstat_lines", lambda: floats(wq["line_no"]))
    hit = _rows_between(ctx.cached("vmstat_by_boot", lambda: _by_boot(wq)), boot, line, stop)
    if not len(hit):
        return ""
    # per-row delays and the pool note are cached: storms ask this once per finding
    delays_of = ctx.cached("vmstat_delays", lambda: [_delays(p) for p in wq["pending"]])
    delays = [d for i in hit for d in delays_of[i]]
    biggest = f" (delay up to {max(delays)})" if delays else ""
    last = int(hit[-1])
    pool = ctx.cached("vmstat_pools", dict)
    if last not in pool:
        # plain row dicts of the three keys read: `wq.iloc` per finding dominated storms
        keys = ctx.cached("vmstat_rows", lambda: records(wq[["event_id", "pwq", "boot"]]))
        pool[last] = _busy_pool(ctx, keys[last])
    return (
        f"; vmstat_update stayed pending on its workqueue in {len(hit)} dump(s){biggest}"
        f"{pool[last]}, so the vmstat counters reclaim decides on were stale "
        f"(line {int(wl[hit[0]])})"
    )


def _by_boot(wq: pd.DataFrame) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """boot → (line numbers in order, their row positions) of the pending rows."""
    boots, lines = floats(wq["boot"]), floats(wq["line_no"])
    out = {}
    for b in np.unique(boots[~np.isnan(boots)]):
        rows = np.flatnonzero(boots == b)
        order = np.argsort(lines[rows], kind="stable")
        out[float(b)] = (lines[rows][order], rows[order])
    return out


def _rows_between(
    by_boot: dict[float, tuple[np.ndarray, np.ndarray]], boot: Any, lo: Any, hi: float
) -> np.ndarray:
    """Positions, in row order, of the boot's rows with lo <= line < hi: two binary searches,
    not a mask over every row per finding (quadratic in storms)."""
    lines, rows = by_boot.get(float(boot), (np.zeros(0), np.zeros(0, dtype="int64")))
    a, b = np.searchsorted(lines, float(lo), "left"), np.searchsorted(lines, hi, "left")
    return np.sort(rows[a:b])


def _delays(pending: Any) -> list[int]:
    return [int(d) for d in _DELAY.findall(str(pending))]


_MEM_COLS = ["boot", "pid", "comm", "gfp_flags", "gfp_mask"]


def _busy_pool(ctx: Ctx, row: Row) -> str:
    """The in-flight works of the pool the pending vmstat_update waits on (same dump, same
    pwq), and whether their workers are themselves stalling in an allocation: a worker that
    loops without sleeping keeps the pool from running anything else."""
    wq = ctx.get("workqueues")
    if wq is None:
        return ""
    busy = ctx.cached("busy_wq", lambda: _in_flight(wq))
    pools = ctx.cached("busy_pools", lambda: busy.groupby(["event_id", "pwq"], sort=False).indices)
    at = pools.get((row["event_id"], row["pwq"]))
    if at is None:
        return ""
    # Python lists once, not a pandas take per pool: storms ask for hundreds of pools
    in_flight, in_pids = ctx.cached(
        "busy_lists", lambda: (busy["in_flight"].tolist(), busy["in_flight_pids"].tolist())
    )
    same_works = [in_flight[i] for i in at if not pd.isna(in_flight[i])]
    same_pids = [in_pids[i] for i in at if not pd.isna(in_pids[i])]
    works = ", ".join(dict.fromkeys(str(x) for x in same_works))
    text = f" behind in-flight {works} on the same pool"
    pids = {int(p) for x in same_pids for p in str(x).split(",") if p}
    first = ctx.cached("stalling_mem", lambda: _stalling_mem(ctx.get("memalloc")))
    if pids:
        boot = row["boot"]
        hits = sorted(first[(boot, p)] for p in pids if (boot, p) in first)
        for _, r in hits:
            gfp = r["gfp_flags"] if not pd.isna(r["gfp_flags"]) else f"gfp=0x{int(r['gfp_mask']):x}"
            text += f", whose worker {r['comm']}({r['pid']}) is stalling in an allocation ({gfp})"
    return text


def _in_flight(wq: pd.DataFrame) -> pd.DataFrame:
    """The workqueue rows with works in flight (the columns `_busy_pool` reads)."""
    cols = ["event_id", "pwq", "in_flight", "in_flight_pids"]
    return wq.loc[wq["n_in_flight"].fillna(0).astype("int64").to_numpy() > 0, cols]


def _stalling_mem(mem: pd.DataFrame | None) -> dict[tuple[Any, int], tuple[int, Row]]:
    """(boot, pid) → (position, row) of the first stalling MemAlloc row of each task."""
    if mem is None:
        return {}
    m = mem[_MEM_COLS][mem["stalling"].astype("boolean").fillna(False).to_numpy(bool)]
    m = m.dropna(subset=["boot", "pid"]).drop_duplicates(["boot", "pid"])
    return {(r["boot"], int(r["pid"])): (i, r) for i, r in enumerate(records(m))}


HPAGE_PMD_ORDER = 9  # a THP on x86-64 (2 MiB of 4 KiB pages); arm64 with 4K pages too


def thp_thisnode(ctx: Ctx) -> list[Row]:
    """THP allocations bound to one node (`__GFP_THISNODE`) with direct reclaim: reclaim and
    compaction grind (and swap) that node instead of falling back to another one, so stalls of
    minutes happen with free memory elsewhere (the 2018 thread on "mm, thp: relax
    __GFP_THISNODE for MADV_HUGEPAGE mappings", Fixes 5265047ac301)."""
    st = ctx.get("stalled_tasks")
    if st is None or st.empty or "gfp_flags" not in st:
        return []
    flags = st["gfp_flags"].astype("string").fillna("")
    hit = st[
        (st["order"] >= HPAGE_PMD_ORDER).fillna(False).to_numpy(bool)
        & flags.str.contains("__GFP_THISNODE", regex=False).to_numpy(bool)
        & flags.str.contains("__GFP_DIRECT_RECLAIM", regex=False).to_numpy(bool)
    ]
    rows: list[Row] = []
    for boot, g in hit.groupby("boot", sort=True):
        worst = g.sort_values("max_delay_s", ascending=False, na_position="last").iloc[0]
        names = ", ".join(f"{c}({p})" for c, p in zip(g["comm"], g["pid"], strict=True))
        longest = worst["max_delay_s"]
        how_long = f" for up to {float(longest):.0f} s" if not pd.isna(longest) else ""
        rows.append(
            finding_row(
                "thp_thisnode_reclaim",
                "warning",
                boot,
                f"{len(g)} transparent huge page allocation(s) (order {int(worst['order'])}, "
                f"__GFP_THISNODE with direct reclaim) stalled{how_long}: {names}; a THP request "
                "bound to one node reclaims and compacts (and swaps) that node instead of "
                "falling back to another, so it can stall with free memory on other nodes "
                "(defrag=madvise / MADV_HUGEPAGE; Fixes 5265047ac301).",
                [*g["first_line"], *g["last_line"]],
                ts=g["first_ts"].min(),
                pid=worst["pid"] if len(g) == 1 else None,
                comm=worst["comm"] if len(g) == 1 else None,
            )
        )
    return rows
