"""Findings from what the stalled tasks' stacks show (ANALYSIS.md §3, F7, F8).

`reclaim_throttled`, `kswapd_blocked` (from its stack, or from a hung-task report),
`reclaimer_blocked_on_fs` and `rescuer_stuck` (from its stack, or from kmallocwd's MemAlloc line).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from .findings_context import Ctx, Row, as_int, finding_row, fmt_tasks, fmt_ts


def _group_tasks(
    ctx: Ctx, sel: pd.DataFrame, by_episode: bool = True
) -> Iterable[tuple[Any, Any, pd.DataFrame]]:
    sel = sel.assign(episode=ctx.episode_of(sel["boot"], sel["line_start"]))
    keys = ["boot", "episode"] if by_episode else ["boot"]
    for key, g in sel.groupby(keys, sort=True, dropna=False):
        boot, ep = (
            (key[0], key[1])
            if by_episode
            else (key if not isinstance(key, tuple) else key[0], pd.NA)
        )
        yield boot, ep, g.sort_values("line_start")


def _isolated_note(g: pd.DataFrame) -> str:
    """The too_many_isolated() wait in shrink_inactive_list looped on congestion_wait without
    bound up to v4.13; db73ee0d4637 (v4.14) sleeps once and gives up (§3)."""
    det = g["stuck_detail"].astype("string").fillna("")
    if det.str.contains("too_many_isolated→congestion_wait", regex=False).any():
        return (
            " (on kernels before v4.14 this too_many_isolated() loop has no bound: "
            "db73ee0d4637 made it sleep once and return)"
        )
    return ""


def _detail_counts(g: pd.DataFrame) -> str:
    det = (
        g.drop_duplicates("pid")["stuck_detail"]
        .astype("string")
        .fillna(g.drop_duplicates("pid")["key_symbol"].astype("string"))
    )
    vc = det.dropna().value_counts()
    return ", ".join(f"{d} ×{n}" if n > 1 else str(d) for d, n in vc.head(3).items())


def stack_rules(ctx: Ctx) -> list[Row]:
    """Throttled reclaimers, blocked kswapd, reclaimers blocked on locks, allocating rescuers."""
    sc = ctx.get("stack_classes")
    if sc is None:
        return _rescuer_memalloc(ctx, set())
    # only the stacks some rule looks at get their times (most stacks are idle or "other")
    cand = sc["stuck_in"].isin(["throttled", "lock_wait", "io_wait"]).fillna(False)
    cand |= sc["rescuer"].astype("boolean").fillna(False)
    si = ctx.stack_info(cand.to_numpy(bool))
    if si is None:
        return _rescuer_memalloc(ctx, set())
    si = si.dropna(subset=["boot", "line_start"])
    comm = si["comm"].astype("string").fillna("")
    stuck = si["stuck_in"].astype("string").fillna("")
    in_alloc = si["in_allocator"].astype("boolean").fillna(False).astype(bool)
    kswapd = comm.str.match(r"kswapd\d").fillna(False).astype(bool)
    rows = _throttled(ctx, si[(stuck == "throttled").to_numpy()])
    rows += _kswapd_blocked(ctx, si[(kswapd & stuck.isin(["lock_wait", "io_wait"])).to_numpy()])
    rows += _blocked_on_fs(ctx, si[(in_alloc & ~kswapd & (stuck == "lock_wait")).to_numpy()])
    resc = si[(si["rescuer"].astype("boolean").fillna(False).astype(bool) & in_alloc).to_numpy()]
    rows += _rescuer_traces(ctx, resc)
    return rows


def _throttled(ctx: Ctx, thr: pd.DataFrame) -> list[Row]:
    """reclaim_throttled: one finding per episode of the throttled stacks `thr`."""
    rows: list[Row] = []
    for boot, ep, g in _group_tasks(ctx, thr):
        u = g.drop_duplicates("pid")
        text = (
            f"{len(u)} task(s) are throttled in reclaim ({_detail_counts(g)}): "
            f"{fmt_tasks(u['comm'].tolist(), u['pid'].tolist())}; they sleep and retry "
            f"instead of finishing a reclaim round{_isolated_note(g)}."
        )
        rows.append(_task_group_row("reclaim_throttled", boot, ep, g, u, text))
    return rows


def _task_group_row(
    kind: str, boot: Any, ep: Any, g: pd.DataFrame, u: pd.DataFrame, text: str
) -> Row:
    """A warning about the tasks `u` (one row per pid of the stacks `g`) of one episode."""
    return finding_row(
        kind,
        "warning",
        boot,
        text,
        u["line_start"],
        ts=g["ts"].min(),
        episode=ep,
        pid=u["pid"].iloc[0] if len(u) == 1 else pd.NA,
        comm=u["comm"].iloc[0] if len(u) == 1 else pd.NA,
    )


def _kswapd_blocked(ctx: Ctx, kb: pd.DataFrame) -> list[Row]:
    """kswapd_blocked: a kswapd stack `kb` waiting on a lock or IO (F7), one per kswapd."""
    rows: list[Row] = []
    mem = ctx.get("memalloc")
    for (boot, pid), g in kb.groupby(["boot", "pid"], sort=True):
        g = g.sort_values("line_start")
        first = g.iloc[0]
        detail = (
            first["stuck_detail"] if not pd.isna(first["stuck_detail"]) else first["key_symbol"]
        )
        how = "a lock" if first["stuck_in"] == "lock_wait" else "IO"
        sev, extra = _kswapd_switches(mem, boot, pid)
        path = _frames_context(ctx, int(first["stack_id"]))
        rows.append(
            finding_row(
                "kswapd_blocked",
                sev,
                boot,
                f"{first['comm']}({as_int(pid)}) is waiting for {how} in {detail}{path}{extra}: "
                f"kswapd makes no progress, and every reclaimer that needs it waits too.",
                g["line_start"],
                ts=g["ts"].min(),
                pid=pid,
                comm=first["comm"],
            )
        )
    return rows


def _kswapd_switches(mem: pd.DataFrame | None, boot: Any, pid: Any) -> tuple[str, str]:
    """(severity, `, switches=…` text) from kmallocwd's lines of that kswapd: a switch count
    unchanged over two reports in D state means it has not run at all meanwhile."""
    if mem is None:
        return "warning", ""
    m = mem[["switches", "uninterruptible"]][((mem["boot"] == boot) & (mem["pid"] == pid))]
    m = m.dropna(subset=["switches"])
    if not len(m):
        return "warning", ""
    sw = m["switches"].astype("int64")
    unint = m["uninterruptible"].astype("boolean").fillna(False).all()
    if len(m) >= 2 and sw.nunique() == 1 and unint:
        return "critical", f", switches={sw.iloc[0]} unchanged over {len(m)} reports (D state)"
    return "warning", f", switches={sw.iloc[-1]}" + (" (D state)" if unint else "")


def _blocked_on_fs(ctx: Ctx, fs: pd.DataFrame) -> list[Row]:
    """reclaimer_blocked_on_fs: direct reclaimers `fs` waiting on a (filesystem) lock, one
    finding per episode."""
    rows: list[Row] = []
    for boot, ep, g in _group_tasks(ctx, fs):
        u = g.drop_duplicates("pid")
        text = (
            f"{len(u)} allocating task(s) wait on a lock inside the allocator "
            f"({_detail_counts(g)}): {fmt_tasks(u['comm'].tolist(), u['pid'].tolist())}; "
            f"reclaim is blocked behind filesystem locks held by others."
        )
        rows.append(_task_group_row("reclaimer_blocked_on_fs", boot, ep, g, u, text))
    return rows


def _rescuer_traces(ctx: Ctx, resc: pd.DataFrame) -> list[Row]:
    """rescuer_stuck from the traces `resc` of WQ_MEM_RECLAIM rescuers in the allocator, then
    from kmallocwd for the rescuers without such a trace."""
    rows: list[Row] = []
    seen: set[tuple[int, int]] = set()
    for (boot, pid), g in resc.groupby(["boot", "pid"], sort=True):
        seen.add((as_int(boot), as_int(pid)))
        rows.append(
            _rescuer_row(boot, pid, g["comm"].iloc[0], g["line_start"], g["ts"].min(), "trace")
        )
    rows.extend(_rescuer_memalloc(ctx, seen))
    return rows


def _frames_context(ctx: Ctx, stack_id: int) -> str:
    """`(via shrink_page_list)`: the reclaim function the wait sits under, when there is one."""
    under = ctx.reclaim_frames()
    return f" under {under[stack_id]}" if stack_id in under else ""


def _rescuer_row(boot: Any, pid: Any, comm: Any, lines: Iterable[Any], ts: Any, how: str) -> Row:
    return finding_row(
        "rescuer_stuck",
        "critical",
        boot,
        f"WQ_MEM_RECLAIM rescuer {comm}({as_int(pid)}) is itself stuck allocating memory "
        f"({how}): the forward-progress guarantee of its workqueue is gone.",
        lines,
        ts=ts,
        pid=pid,
        comm=comm,
    )


def _stall_seconds(ctx: Ctx) -> dict[tuple[int, int], tuple[float, int]]:
    """(boot, pid) → (longest stall in seconds, HZ used) from stalled_tasks, where HZ is known."""
    st = ctx.get("stalled_tasks")
    if st is None or not {"max_delay_s", "hz_used"} <= set(st.columns):
        return {}
    st = st.dropna(subset=["boot", "pid", "max_delay_s", "hz_used"])
    st = st.sort_values("max_delay_s").drop_duplicates(["boot", "pid"], keep="last")
    return {
        (as_int(b), as_int(p)): (float(d), as_int(h))
        for b, p, d, h in zip(st["boot"], st["pid"], st["max_delay_s"], st["hz_used"], strict=True)
    }


def _rescuer_memalloc(ctx: Ctx, seen: set[tuple[int, int]]) -> list[Row]:
    """A rescuer thread is named after its workqueue (v4.9–v6.1; `kworker/R-<wq>` @v6.12) and
    has PF_WQ_WORKER (0x20) set; ordinary workers are `kworker/…`."""
    mem = ctx.get("memalloc")
    if mem is None or "flags" not in mem:
        return []
    comm = mem["comm"].astype("string").fillna("")
    wq = (mem["flags"].astype("Int64") & 0x20).fillna(0).astype(bool)
    stalling = mem["stalling"].astype("boolean").fillna(False).astype(bool)
    named = ~comm.str.startswith("kworker/") | comm.str.startswith("kworker/R-")
    cols = ["boot", "pid", "comm", "ts", "line_no", "delay_jiffies", "gfp_flags", "order"]
    sel = mem[cols][(wq & stalling & named).to_numpy()]  # columns first: memalloc is wide
    rows: list[Row] = []
    secs = _stall_seconds(ctx)
    for (boot, pid), g in sel.groupby(["boot", "pid"], sort=True):
        if (as_int(boot), as_int(pid)) in seen:
            continue
        last = g.iloc[-1]
        delay = (
            f"delay={last['delay_jiffies']} jiffies" if not pd.isna(last["delay_jiffies"]) else ""
        )
        s_hz = secs.get((as_int(boot), as_int(pid)))
        if s_hz is not None:
            delay += f", {s_hz[0]:.0f} s at HZ={s_hz[1]}"
        how = f"kmallocwd: {last['gfp_flags']} order={last['order']} {delay}".strip()
        rows.append(_rescuer_row(boot, pid, last["comm"], g["line_no"], g["ts"].min(), how))
    return rows


def kswapd_hung(ctx: Ctx) -> list[Row]:
    """A hung-task report names only TASK_UNINTERRUPTIBLE tasks whose switch count stayed the
    same for the whole timeout (§6.4), while an idle kswapd sleeps interruptibly in
    kswapd_try_to_sleep: a reported kswapd is blocked (F7). Stack-classified kswapds are left
    to the stack rule."""
    hung = ctx.get("hung_tasks")
    if hung is None:
        return []
    k = hung[hung["comm"].astype("string").str.match(r"kswapd\d").fillna(False).to_numpy(bool)]
    if not len(k):
        return []
    sc = ctx.get("stack_classes")
    if sc is not None and "stack_id" in k:
        classified = sc.loc[sc["stuck_in"].isin(["lock_wait", "io_wait"]).fillna(False), "stack_id"]
        k = k[~k["stack_id"].isin(classified).fillna(False).to_numpy(bool)]
    rows: list[Row] = []
    for (boot, pid), g in k.groupby(["boot", "pid"], sort=True):
        first = g.iloc[0]
        secs = g["blocked_s"].dropna()
        how = f" for more than {int(secs.max())} s" if len(secs) else ""
        rows.append(
            finding_row(
                "kswapd_blocked",
                "critical" if len(g) > 1 else "warning",
                boot,
                f"{first['comm']}({as_int(pid)}) was reported hung {len(g)} time(s) (first at "
                f"{fmt_ts(first['ts'])}): blocked in D state{how} without a context switch, so "
                f"background reclaim has stopped.",
                g["line_no"],
                ts=first["ts"],
                pid=pid,
                comm=first["comm"],
            )
        )
    return rows
