"""Findings about the OOM killer itself: `oom_lock` held long or by a CPU stuck in a lockup
report (F1, F2), memcg OOMs with nothing to kill (F10), OOM kills that ended a stall (F12), and
printk floods while stalling or under the lock (F9).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .findings_context import (
    Ctx,
    Row,
    as_int,
    finding_row,
    fmt_ts,
    fmt_when,
    interval_of,
    known,
    records,
)
from .timeline import kernel_loss

HELD_LONG_S = 5.0  # F2: a header→kill gap over 5 s with concurrent reports


HELD_CRITICAL_S = 60.0


LOCKUP_REACH = 500  # lines from a lockup report to the NMI backtraces it triggers


def oom_lock_rules(ctx: Ctx) -> list[Row]:
    held = ctx.get("oom_lock")
    if held is None:
        return []
    rows: list[Row] = []
    long = held[held["held_s"].astype("Float64").fillna(0) > HELD_LONG_S]
    for h in records(long):
        sev = "critical" if h["held_s"] > HELD_CRITICAL_S else "warning"
        end = {"kill": "its kill line", "no_killable": "its no-killable line"}.get(
            h["ended_by"], "the last sighting"
        )
        # F2: the holder flushes everybody's printk output (console_unlock prints every pending
        # record), so concurrent stall reports and drops lengthen the hold
        noise = _count_between(ctx, "alloc_stalls", h["boot"], h["start_line"], h["end_line"])
        drops = _count_between(ctx, "printk_loss", h["boot"], h["start_line"], h["end_line"])
        extra = ""
        if noise or drops:
            extra = (
                f"; {noise} warn_alloc stall report(s) and {drops} printk loss marker(s) fall "
                f"inside, output the holder may have had to print itself"
            )
        rows.append(
            finding_row(
                "oom_lock_held_long",
                sev,
                h["boot"],
                f"{h['comm']}({h['pid']}) held oom_lock for at least {h['held_s']:.1f} s "
                f"({fmt_ts(h['start_ts'])} to {end} at {fmt_ts(h['end_ts'])}, evidence: "
                f"{h['source']}) while "
                f"{h['waiters']} task(s) were seen waiting for it{extra}.",
                [h["start_line"], h["evidence_line"], h["end_line"]],
                ts=h["start_ts"],
                pid=h["pid"],
                comm=h["comm"],
            )
        )
    return rows


def holder_in_lockup(ctx: Ctx) -> list[Row]:
    """F2: an oom_lock holder's trace printed by a lockup report (RCU stall, soft/hard lockup
    NMI backtraces): the holder was on a CPU that made no progress, typically printing the OOM
    report under the lock (vprintk_emit/console_unlock ← dump_header)."""
    held, lock = ctx.get("oom_lock"), ctx.get("lockups")
    if held is None or lock is None:
        return []
    sc = ctx.get("stack_classes")
    si = None if sc is None else ctx.stack_info(sc["oom_lock_role"].eq("holder").fillna(False))
    if si is None:
        return []
    h = held[held["source"].astype("string").str.contains("stack", regex=False).fillna(False)]
    h = h[h["held_s"].fillna(0).to_numpy("float64") <= HELD_LONG_S]  # long ones say it already
    if not len(h):
        return []
    left = h[["boot", "evidence_line", "pid", "comm"]].dropna(subset=["boot", "evidence_line"])
    left = left.astype({"boot": "int64", "evidence_line": "int64"}).sort_values("evidence_line")
    right = lock[["boot", "line_no", "ts", "kind", "rcu_t_jiffies", "stuck_s"]].dropna(
        subset=["boot", "line_no"]
    )
    right = right.astype({"boot": "int64", "line_no": "int64"}).sort_values("line_no")
    m = pd.merge_asof(
        left, right, left_on="evidence_line", right_on="line_no", by="boot",
        direction="backward", tolerance=LOCKUP_REACH,
    )  # fmt: skip
    m = m.dropna(subset=["line_no"])
    if not len(m):
        return []
    detail = dict(zip(si["line_start"].dropna().astype(int), si["stuck_detail"], strict=False))
    rows: list[Row] = []
    for r in records(m):
        what = {"rcu": "an RCU stall", "soft": "a soft lockup", "hard": "a hard lockup"}.get(
            str(r["kind"]), "a lockup"
        )
        how = ""
        if known(r["rcu_t_jiffies"]):
            how = f" (t={int(r['rcu_t_jiffies'])} jiffies without a grace period)"
        elif known(r["stuck_s"]):
            how = f" (stuck for {int(r['stuck_s'])} s)"
        where = detail.get(int(r["evidence_line"]))
        doing = f" in {where}" if isinstance(where, str) else ""
        rows.append(
            finding_row(
                "oom_lock_held_long",
                "warning",
                r["boot"],
                f"{r['comm']}({r['pid']}) holds oom_lock and its trace{doing} is printed by "
                f"{what} report{how}: the OOM killer does not get off that CPU, most likely "
                f"busy printing its report under the lock.",
                [r["line_no"], r["evidence_line"]],
                ts=r["ts"],
                pid=r["pid"],
                comm=r["comm"],
            )
        )
    return rows


def _count_between(ctx: Ctx, name: str, boot: Any, lo: Any, hi: Any) -> int:
    df = ctx.get(name)
    if df is None or pd.isna(lo) or pd.isna(hi):
        return 0
    if name == "printk_loss":
        df = kernel_loss(df)
    return int(((df["boot"] == boot) & df["line_no"].between(lo, hi)).sum())


def memcg_no_killable(ctx: Ctx) -> list[Row]:
    oom = ctx.get("oom_events")
    if oom is None:
        return []
    # memcg "no killable processes" is printed since 3100dab2aa09 (v4.19); before, and for a
    # global OOM, the same text is the panic message (kind global: not this finding)
    nk = oom[oom["no_killable"].astype("boolean").fillna(False).astype(bool)]
    nk = nk[(nk["kind"].astype("string") == "memcg").fillna(False).astype(bool)]
    if not len(nk):
        return []
    tasks = ctx.get("oom_tasks")
    rows: list[Row] = []
    memcg = nk["oom_memcg"].astype("string").fillna(nk["task_memcg"].astype("string")).fillna("?")
    for (boot, cg), g in nk.groupby([nk["boot"], memcg], sort=True):
        adj = ""
        if tasks is not None:
            t = tasks[tasks["oom_id"].isin(g["oom_id"])]
            if len(t) and t["oom_score_adj"].notna().all() and (t["oom_score_adj"] == -1000).all():
                adj = "; every task in its dumps has oom_score_adj -1000"
        rows.append(
            finding_row(
                "memcg_no_killable",
                "critical" if len(g) > 1 else "warning",
                boot,
                f"memcg {cg}: {len(g)} OOM invocation(s) from {fmt_ts(g['ts'].min())} to "
                f"{fmt_ts(g['ts_kill'].max())} found no killable process{adj}, so charges keep "
                f"failing and every attempt prints another dump.",
                [*g["line_start"], *g["kill_line_no"]],
                ts=g["ts"].min(),
                pid=g["trigger_pid"].iloc[0] if g["trigger_pid"].nunique() == 1 else pd.NA,
                comm=g["trigger_comm"].iloc[0] if g["trigger_pid"].nunique() == 1 else pd.NA,
            )
        )
    return rows


def oom_resolved_outside(ctx: Ctx) -> list[Row]:
    """OOM kills outside every stall episode (or without an episode table), with no stall
    reported after the boot's last kill: normal OOMs (F12). One finding per boot."""
    agg = _kills_outside_episodes(ctx)
    if agg is None:
        return []
    # the stall ended: nothing reported as stalling after the last kill of the boot
    last_stall = _last_stall_line(ctx)
    stall_line = agg.index.map(lambda b: last_stall.get(int(b), -1)).to_numpy("float64")
    agg = agg[~(stall_line > agg["last_line"].astype("float64").to_numpy())]
    held = ctx.get("oom_lock")
    held_by_boot = held.groupby("boot")["held_s"].max() if held is not None else pd.Series()
    held_max = [held_by_boot.get(b, pd.NA) for b in agg.index]
    rows: list[Row] = []
    for boot, r in zip(agg.index, records(agg.assign(held=held_max)), strict=True):
        within = f", each within {r['gap']:.2f} s of its header" if not pd.isna(r["gap"]) else ""
        held_txt = f"; oom_lock held at most {r['held']:.2f} s" if not pd.isna(r["held"]) else ""
        one = r["n"] == 1
        # the kills inside episodes are told by the episodes' findings
        outside = f"outside the stall episodes ({r['inside']} inside) " if r["inside"] else ""
        rows.append(
            finding_row(
                "oom_resolved",
                "info",
                boot,
                f"{r['n']} {r['kinds']} OOM kill(s) {outside}"
                f"{fmt_when(r['ts_min'], r['kill_ts_max'], r['first_line'], r['last_line'])}"
                f"{within}{held_txt}; {r['reaped']} victim(s) reaped, "
                f"and no allocation stall was reported afterwards.",
                [r["first_line"], r["last_line"]],
                ts=r["ts_min"],
                pid=r["victim_pid"] if one else pd.NA,
                comm=r["victim_comm"] if one else pd.NA,
            )
        )
    return rows


def _kills_outside_episodes(ctx: Ctx) -> pd.DataFrame | None:
    """Per boot (the index), the OOM kills outside every episode: how many, when, the slowest
    header→kill gap, how many were reaped, the OOM kinds and the first victim; and how many
    kills of the boot fell inside an episode."""
    oom = ctx.get("oom_events")
    if oom is None:
        return None
    no_kill = oom["no_killable"].astype("boolean").fillna(False).astype(bool)
    panic = oom["panic"].astype("boolean").fillna(False).astype(bool)
    k = oom[(oom["victim_pid"].notna() & ~no_kill & ~panic).to_numpy()]
    if not len(k):
        return None
    k = k.assign(episode=ctx.episode_of(k["boot"], k["line_start"]))
    inside = k[k["episode"].notna()].groupby("boot").size()
    k = k[k["episode"].isna()]
    k = k.assign(
        gap=(k["ts_kill"] - k["ts"]).astype("Float64"),
        reaped_n=k["reaped"].astype("boolean").fillna(False).astype("int64"),
        kind_s=k["kind"].astype("string").fillna("OOM"),
    )
    g = k.groupby("boot", sort=True)
    return pd.DataFrame(
        {
            "n": g.size(),
            "ts_min": g["ts"].min(),
            "kill_ts_max": g["ts_kill"].max(),
            "first_line": g["line_start"].min(),
            "last_line": g["kill_line_no"].max(),
            "gap": g["gap"].max(),
            "reaped": g["reaped_n"].sum(),
            "kinds": g["kind_s"].agg(lambda x: ", ".join(dict.fromkeys(x))),
            "victim_pid": g["victim_pid"].first(),
            "victim_comm": g["victim_comm"].first(),
        }
    ).assign(inside=lambda df: inside.reindex(df.index, fill_value=0))


def _last_stall_line(ctx: Ctx) -> pd.Series:
    """Per boot, the last line reporting a stalled allocation or task (warn_alloc stalls, hung
    tasks, stalling MemAlloc lines and scans, episode starts)."""
    parts: list[pd.DataFrame] = []
    for name in ("alloc_stalls", "hung_tasks"):
        df = ctx.get(name)
        if df is not None:
            parts.append(df[["boot", "line_no"]])
    mem = ctx.get("memalloc")
    if mem is not None:
        st = mem["stalling"].astype("boolean").fillna(False).to_numpy(bool)
        parts.append(mem.loc[st, ["boot", "line_no"]])
    scans = ctx.get("memalloc_scans")
    if scans is not None:
        st = (scans["stalling"].astype("Int64").fillna(0) > 0).to_numpy(bool)
        parts.append(scans.loc[st, ["boot", "line_no"]])
    ep = ctx.get("episodes")
    if ep is not None:
        parts.append(ep[["boot", "first_line"]].rename(columns={"first_line": "line_no"}))
    parts = [p.dropna() for p in parts if len(p)]
    if not parts:
        return pd.Series(dtype="Int64")
    allp = pd.concat(parts, ignore_index=True).astype("int64")
    return allp.groupby("boot")["line_no"].max()


def printk_flood(ctx: Ctx) -> list[Row]:
    """printk drops and rate-limit suppressions while stalling or under oom_lock (F9), one
    finding per episode."""
    loss = _flood_markers(ctx)
    if loss is None:
        return []
    return [
        _flood_row(ctx, boot, ep, g)
        for (boot, ep), g in loss.groupby(["boot", "episode"], sort=True, dropna=False)
    ]


def _flood_markers(ctx: Ctx) -> pd.DataFrame | None:
    """The printk loss markers inside an episode or an oom_lock interval, with `episode` and
    `holder` (the pid holding oom_lock then)."""
    loss = ctx.get("printk_loss")
    if loss is None:
        return None
    loss = loss[
        loss["kind"].isin(["console_dropped", "callbacks_suppressed", "messages_suppressed"])
    ]
    loss = loss.dropna(subset=["boot", "line_no"])
    if not len(loss):
        return None
    loss = loss.assign(episode=ctx.episode_of(loss["boot"], loss["line_no"], to_end=True))
    # inside an oom_lock interval
    loss = loss.assign(holder=_holder_at(ctx.get("oom_lock"), loss["boot"], loss["line_no"]))
    have_episodes = ctx.get("episodes") is not None
    if not have_episodes:
        # no episode table: a boot with stall reports counts as one stretch
        boots: set[int] = set()
        for name in ("alloc_stalls", "memalloc", "hung_tasks"):
            df = ctx.get(name)
            if df is not None:
                boots |= set(df["boot"].dropna().astype(int))
        keep = loss["boot"].astype(int).isin(boots) | loss["holder"].notna()
    else:
        keep = loss["episode"].notna() | loss["holder"].notna()
    return loss[keep.to_numpy()]


def _flood_row(ctx: Ctx, boot: Any, ep: Any, g: pd.DataFrame) -> Row:
    """The printk_flood finding of the markers `g` of one episode."""
    drop = g[g["kind"] == "console_dropped"]
    supp = g[g["kind"] != "console_dropped"]
    parts = []
    if len(drop):
        parts.append(
            f"{int(drop['count'].fillna(0).sum())} printk messages dropped in {len(drop)} marker(s)"
        )
    if len(supp):
        who = ", ".join(supp["who"].dropna().astype(str).value_counts().index[:3])
        n = int(supp["count"].fillna(0).sum())
        parts.append(f"{n} messages suppressed by rate limits ({who})")
    holders = g["holder"].dropna().unique()
    under = (
        f"; {int((g['holder'].notna()).sum())} of the markers fall while "
        f"pid {', '.join(str(as_int(p)) for p in holders)} held oom_lock"
        if len(holders)
        else ""
    )
    stalls = _alloc_stall_count(ctx, boot, g["line_no"].min(), g["line_no"].max())
    return finding_row(
        "printk_flood",
        "warning",
        boot,
        f"The console could not keep up: {' and '.join(parts)} {_span(g)}"
        f"{stalls}{under}; the log of this "
        f"stretch is incomplete and the printing itself delays whoever holds the "
        f"console.",
        g["line_no"],
        ts=g["ts"].min(),
        episode=ep,
    )


def _holder_at(held: pd.DataFrame | None, boot: pd.Series, line: pd.Series) -> pd.Series:
    """The pid holding oom_lock at each (boot, line), NA when nobody is known to."""
    if held is None:
        return pd.Series(pd.NA, index=boot.index, dtype="Int64")
    return interval_of(boot, line, held["boot"], held["start_line"], held["end_line"], held["pid"])


def _span(g: pd.DataFrame) -> str:
    """`between 1.0 s and 9.0 s` from the markers' stamps, else their lines (a console drop
    marker has no stamp of its own)."""
    ts = g["ts"].dropna()
    if len(ts) >= 2 and ts.min() < ts.max():
        return f"between {fmt_ts(ts.min())} and {fmt_ts(ts.max())}"
    lo, hi = int(g["line_no"].min()), int(g["line_no"].max())
    return f"at line {lo}" if lo == hi else f"between lines {lo} and {hi}"


def _alloc_stall_count(ctx: Ctx, boot: Any, lo: Any, hi: Any) -> str:
    st = ctx.get("alloc_stalls")
    if st is None:
        return ""
    n = int(((st["boot"] == boot) & st["line_no"].between(lo, hi)).sum())
    return f", among {n} warn_alloc stall reports" if n else ""
