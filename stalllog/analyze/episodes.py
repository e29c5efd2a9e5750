"""Stall episodes: clustering the stall evidence of each boot in time (see stalls.py).

`cluster` numbers the episodes and places each `stalled_tasks` row; `episode_table` builds the
`episodes` rows (untyped), with their outcome from outcome.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .outcome import outcome
from .place import items, place
from .timeline import Ctx, boot_gap, col, ctx_of, f64, get, kernel_loss, segment, sort_rows, xcol

_EPISODE_COLS = ["episode", "boot", "seg", "x0", "x1", "ts0", "ts1", "l0", "l1", "clock", "gap"]


def _row_points(rows: pd.DataFrame, ctx: Ctx) -> pd.DataFrame:
    """Stalled rows as intervals x0..x1 on the boot's clock, with their segment."""
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
    r["x0"] = xcol(r, ctx.clock, "ts0", "l0")
    r["x1"] = xcol(r, ctx.clock, "ts1", "l1")
    r["seg"] = segment(r, r["x0"], ctx.term, ctx.clock)
    r["kind"] = "row"
    return r


def _scan_points(tables: dict[str, pd.DataFrame], ctx: Ctx) -> pd.DataFrame | None:
    """kmallocwd scans with stalling > 0: evidence even when no task line survived."""
    sc = get(tables, "memalloc_scans")
    if sc.empty:
        return None
    s = sc[(col(sc, "stalling", "Int64") > 0).fillna(False).astype(bool)]
    p = pd.DataFrame(
        {
            "boot": col(s, "boot", "Int64"),
            "ts0": col(s, "ts", "Float64"),
            "l0": col(s, "line_no", "Int64"),
        }
    )
    p["ts1"], p["l1"], p["mem"] = p["ts0"], p["l0"], True
    p["x0"] = xcol(p, ctx.clock, "ts0", "l0")
    p["x1"] = p["x0"]
    p["seg"] = segment(p, p["x0"], ctx.term, ctx.clock)
    p["kind"] = "scan"
    return p


def _bounds(pts: pd.DataFrame, ctx: Ctx) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Points with their episode `ep`, and the episodes' bounds.

    A point starts a new episode when it begins more than the gap after everything before it
    in its (boot, segment) ended."""
    sort_rows(pts, ["boot", "seg", "x0", "x1"])
    pts["gap"] = boot_gap(pts["boot"], ctx.clock, ctx.gap).to_numpy()
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
    eps["clock"] = eps["boot"].map(ctx.clock).astype("string").fillna("line")
    return pts, eps


def _nearby_episode(other: pd.DataFrame, eps: pd.DataFrame) -> pd.Series:
    """Episode of each row outside the allocator: the one it overlaps or follows within the
    gap, else the next one starting within the gap after it (NA: none)."""
    o = other.reset_index().sort_values("x0")
    e = eps[["episode", "boot", "seg", "x0", "x1", "gap"]].rename(
        columns={"x0": "ex0", "x1": "ex1"}
    )
    e = e.astype({"boot": "int64", "seg": "int64"}).sort_values("ex0")
    o = o.astype({"boot": "int64", "seg": "int64"})
    j = pd.merge_asof(o, e, left_on="x0", right_on="ex0", by=["boot", "seg"], direction="backward")
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
    return hit.fillna(j2["episode"].where(ok2)).dropna()


def _widen(eps: pd.DataFrame, att: pd.DataFrame) -> None:
    """Stretch each episode over the rows that joined it (att: rows with their episode `ep`)."""
    ag = att.groupby("ep")
    for c, fn in (("x0", "min"), ("ts0", "min"), ("l0", "min")):
        v = eps["episode"].map(ag[c].agg(fn))
        eps[c] = eps[c].where(~(v < eps[c]).fillna(False).astype(bool), v)
    for c, fn in (("x1", "max"), ("ts1", "max"), ("l1", "max")):
        v = eps["episode"].map(ag[c].agg(fn))
        eps[c] = eps[c].where(~(v > eps[c]).fillna(False).astype(bool), v)


def cluster(
    tables: dict[str, pd.DataFrame], rows: pd.DataFrame, ctx: Ctx
) -> tuple[pd.DataFrame, pd.Series]:
    """Episode bounds and the episode of each stalled row.

    rows needs boot, first_ts, last_ts, first_line, last_line, in_allocator. Deterministic:
    episodes() calls it again on the stalled table and gets the same numbering."""
    r = _row_points(rows, ctx)
    p = _scan_points(tables, ctx)
    pts = pd.concat([r[r["mem"]], p]) if p is not None else r[r["mem"]]
    pts = pts.dropna(subset=["x0"])
    ep_of = pd.Series(pd.NA, index=rows.index, dtype="Int64")
    if pts.empty:
        return pd.DataFrame(columns=_EPISODE_COLS), ep_of
    pts, eps = _bounds(pts, ctx)
    mem_rows = pts[pts["kind"] == "row"]
    ep_of[mem_rows.index] = mem_rows["ep"].to_numpy()
    # rows outside the allocator (hung tasks) join an episode whose gap they fall within
    other = r[~r["mem"]].dropna(subset=["x0"])
    if len(other) and len(eps):
        hit = _nearby_episode(other, eps)
        ep_of[hit.index] = hit.astype("int64").to_numpy()
        att = r.loc[hit.index].assign(ep=hit.astype("int64"))
        if len(att):
            _widen(eps, att)
    return eps, ep_of


def _with_windows(eps: pd.DataFrame, st: pd.DataFrame, st_ep: pd.Series) -> None:
    """began_ts, and the windows kills are counted in: from `bx` (the oldest stalled
    allocation's start) to the last report `x1`, or to `after` for a kill relieving it."""
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


def _peak(
    tables: dict[str, pd.DataFrame], eps: pd.DataFrame, st: pd.DataFrame, clock: pd.Series
) -> pd.Series:
    """Most tasks stalled at once: kmallocwd `stalling`, or the most overlapping reports."""
    peak = pd.Series(0.0, index=eps.index, dtype="float64")
    s = st[st["episode"].notna() & ~st["kswapd"].astype("boolean").fillna(False).astype(bool)]
    if len(s):
        x0 = xcol(s.assign(a=s["first_ts"], b=s["first_line"]), clock, "a", "b")
        x1 = xcol(s.assign(a=s["last_ts"], b=s["last_line"]), clock, "a", "b")
        # sweep: +1 at each first report, -1 at each last; starts before ends at a tie
        sw = pd.concat(
            [
                pd.DataFrame({"ep": s["episode"], "x": x0, "d": 1}),
                pd.DataFrame({"ep": s["episode"], "x": x1, "d": -1}),
            ]
        ).sort_values(["ep", "x", "d"], ascending=[True, True, False])
        sw["c"] = sw.groupby("ep")["d"].cumsum()
        peak = eps["episode"].map(sw.groupby("ep")["c"].max()).fillna(0).astype(float)
    sc = get(tables, "memalloc_scans")
    if not sc.empty:
        it = items(sc, clock, "ts", "line_no")
        it["stalling"] = col(sc, "stalling", "Int64")
        it["ep"] = place(it, eps, "x0", "x1")
        m = eps["episode"].map(it.dropna(subset=["ep"]).groupby("ep")["stalling"].max())
        peak = pd.concat([peak, m.astype(float)], axis=1).max(axis=1)
    return peak


def _task_counts(
    tables: dict[str, pd.DataFrame],
    eps: pd.DataFrame,
    st: pd.DataFrame,
    st_ep: pd.Series,
    clock: pd.Series,
) -> None:
    """n_tasks (kswapd not counted), longest_stall_s and peak_stalled."""
    not_kswapd = ~st["kswapd"].astype("boolean").fillna(False).astype(bool)
    n_tasks = st[st_ep.notna() & not_kswapd].assign(
        k=st["pid"].astype("string").fillna("comm:" + st["comm"].fillna("?"))
    )
    eps["n_tasks"] = eps["episode"].map(n_tasks.groupby("episode")["k"].nunique()).fillna(0)
    eps["longest_stall_s"] = eps["episode"].map(st.groupby(st_ep)["max_delay_s"].max())
    eps["peak_stalled"] = _peak(tables, eps, st, clock)


def _oom_kills(tables: dict[str, pd.DataFrame], eps: pd.DataFrame, clock: pd.Series) -> None:
    """oom_invocations and kills from the oldest stalled allocation to the last report, and
    `kill_line`: the last kill up to the gap after it (a kill relieving the episode)."""
    oe = get(tables, "oom_events")
    if not oe.empty:
        it = items(oe, clock, "ts", "line_start")
        it["ts"] = it["ts"].fillna(col(oe, "ts_kill", "Float64"))
        it["x"] = xcol(it, clock, "ts", "line")
        eps["oom_invocations"] = eps["episode"].map(place(it, eps, "bx", "x1").value_counts())
        kl = oe[col(oe, "kill_line_no", "Int64").notna()]
        kit = items(kl, clock, "ts_kill", "kill_line_no")
        kit["ts"] = kit["ts"].fillna(col(kl, "ts", "Float64"))
        kit["x"] = xcol(kit, clock, "ts", "line")
        eps["kills"] = eps["episode"].map(place(kit, eps, "bx", "x1").value_counts())
        relief = place(kit, eps, "bx", "after")
        kit = kit.assign(ep=relief)
        last_kill = kit.dropna(subset=["ep"]).sort_values("line").groupby("ep")["line"].last()
        eps["kill_line"] = eps["episode"].map(last_kill)
    for c in ("oom_invocations", "kills"):
        eps[c] = eps[c].fillna(0) if c in eps.columns else 0
    if "kill_line" not in eps.columns:
        eps["kill_line"] = pd.NA


def _oom_count(tables: dict[str, pd.DataFrame], eps: pd.DataFrame, clock: pd.Series) -> None:
    """kmallocwd oom_count at the first and last scan, and how long it stayed at its last value
    (ANALYSIS.md §2.4: flat = nobody reached out_of_memory())."""
    sc = get(tables, "memalloc_scans")
    eps["oom_count_first"] = pd.NA
    eps["oom_count_last"] = pd.NA
    if sc.empty:
        return
    it = items(sc, clock, "ts", "line_no")
    it["oom_count"] = col(sc, "oom_count", "Int64")
    it["ep"] = place(it, eps, "x0", "x1")
    it = it.dropna(subset=["ep", "oom_count"]).sort_values(["x", "line"])
    eps["oom_count_first"] = eps["episode"].map(it.groupby("ep")["oom_count"].first())
    eps["oom_count_last"] = eps["episode"].map(it.groupby("ep")["oom_count"].last())
    last = it.groupby("ep")["oom_count"].transform("last")
    flat = it[it["oom_count"] == last]
    # only the scans after the last change: an earlier spell at the same value does not count
    changed = it[it["oom_count"] != last].groupby("ep")["x"].max()
    flat = flat[~(flat["x"] < flat["ep"].map(changed)).fillna(False).astype(bool)]
    span = flat.groupby("ep")["ts"].agg(lambda v: v.max() - v.min())
    eps["oom_count_flat_s"] = eps["episode"].map(span)


def _printk_dropped(tables: dict[str, pd.DataFrame], eps: pd.DataFrame, clock: pd.Series) -> None:
    """printk loss (placed by line when the marker has no time of its own) from the first
    report to the last one, or to the end of the boot when the episode is still stalled there:
    the messages lost then may be the reports that would have shown it go on."""
    pl = kernel_loss(get(tables, "printk_loss"))
    eps["printk_dropped"] = pd.NA
    if pl.empty:
        return
    boots = get(tables, "boots")
    b = pd.DataFrame(
        {
            "ts_last": col(boots, "ts_last", "Float64").to_numpy(dtype=float, na_value=np.nan),
            "line_end": f64(boots["line_end"]),
        },
        index=f64(boots["boot"]),
    )
    still = eps["outcome"].isin(["stalled_at_end", "reboot", "panic"]).to_numpy(dtype=bool)
    boot_f = pd.Series(f64(eps["boot"]))
    end_x = np.where(
        eps["clock"] == "ts",
        boot_f.map(b["ts_last"]).to_numpy(dtype=float),
        boot_f.map(b["line_end"]).to_numpy(dtype=float),
    )
    end_l = boot_f.map(b["line_end"]).to_numpy(dtype=float)
    eps["pl_x1"] = np.where(still, np.fmax(end_x, f64(eps["x1"])), f64(eps["x1"]))
    eps["pl_l1"] = np.where(still, np.fmax(end_l, f64(eps["l1"])), f64(eps["l1"]))
    it = items(pl, clock, "ts", "line_no")
    it["count"] = col(pl, "count", "Int64")
    it["ep"] = place(it, eps, "x0", "pl_x1", "pl_l1")
    eps["printk_dropped"] = eps["episode"].map(it.groupby("ep")["count"].sum(min_count=1))


def episode_table(tables: dict[str, pd.DataFrame], stalled: pd.DataFrame) -> pd.DataFrame | None:
    """The `episodes` rows with every SCHEMA column (untyped); None when there is none."""
    scans = get(tables, "memalloc_scans")
    if stalled.empty and (scans.empty or not (col(scans, "stalling", "Int64") > 0).any()):
        return None
    ctx = ctx_of(tables)
    eps, _ = cluster(tables, stalled, ctx)
    if eps.empty:
        return None
    eps = eps.sort_values("episode").reset_index(drop=True)
    st = stalled.copy()
    st_ep = st["episode"].astype("Int64")
    _with_windows(eps, st, st_ep)
    _task_counts(tables, eps, st, st_ep, ctx.clock)
    _oom_kills(tables, eps, ctx.clock)
    _oom_count(tables, eps, ctx.clock)
    outcome(tables, eps, ctx)
    _printk_dropped(tables, eps, ctx.clock)
    eps["start_ts"] = eps["ts0"]
    eps["end_ts"] = eps["ts1"]
    eps["first_line"] = eps["l0"]
    eps["last_line"] = eps["l1"]
    eps["duration_s"] = eps["ts1"] - eps["ts0"]
    return eps
