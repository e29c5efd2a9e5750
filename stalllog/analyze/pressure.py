"""Memory pressure per stall episode: concurrent direct reclaimers, kswapd, zones, oom_lock.

Table **`episode_pressure`**: one row per `episodes` row (ANALYSIS.md §3-§4).

Which evidence belongs to an episode: the lines from its `first_line` to the end of the block
(`events`) holding its `last_line`, in the same boot, so that the Mem-Info of the last report is
in. Mem-Info snapshots (`meminfo.line_start`) and traces (`stacks.line_start`) are placed by
line, and work without timestamps. oom_lock intervals are placed by time when the episode has
timestamps (window `began_ts` (start of the oldest stalled allocation, else `start_ts`) to
`end_ts`, as for the episode's OOM invocations), else by lines.

- Reclaimers: traces classed (`stack_classes.stuck_in`) in `RECLAIM_CLASSES`, kswapd threads
  excepted. `peak_direct_reclaimers` counts distinct tasks per kmallocwd scan (a `MemAlloc:` line
  of an excerpt that lost its scan joins the scan whose header and trailer bracket its time), per
  task dump (SysRq-t, hung-task, NMI), else per report (a warn_alloc report shows one task).
- Zones: `free < min` in kB as printed (min includes the watermark boost); the allocator's
  check also subtracts reserves and adds `lowmem_reserve` (§4), so a zone at min may already
  fail. `all_unreclaimable? yes` is a zone flag up to v4.7 and a node flag from v4.8 on.
- `reclaim_task_s_under_oom_lock` is an estimate: each stalled task of a reclaim class is taken
  to reclaim from the start of its allocation (`began_ts`, else its first report) to its last
  report; its overlap with each oom_lock interval (clipped to the episode window) is summed.
  The held intervals are lower bounds; throttled tasks sleep between reclaim rounds.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd

from .timeline import col, f64, get

__all__ = ["RECLAIM_CLASSES", "SCHEMA", "episode_pressure"]

RECLAIM_CLASSES = ("direct_reclaim", "slab_shrink", "compaction", "throttled")

SCHEMA: dict[str, list[tuple[str, str, str, str]]] = {
    "episode_pressure": [
        ("episode", "Int64", "", "the `episodes` row"),
        ("boot", "Int64", "", "boot number"),
        (
            "peak_direct_reclaimers",
            "Int64",
            "tasks",
            "most tasks (kswapd excepted) caught in direct_reclaim, slab_shrink, compaction or "
            "throttled in one kmallocwd scan, task dump or report; NA: no trace in the episode",
        ),
        ("n_reclaim_tasks", "Int64", "tasks", "stalled_tasks rows of the episode in those classes"),
        (
            "kswapd_doing",
            "string",
            "",
            "what kswapd's traces show, `stuck_in: stuck_detail`, distinct, `|`-joined; NA: "
            "no kswapd trace",
        ),
        ("n_meminfo", "Int64", "", "Mem-Info snapshots inside the episode"),
        (
            "zones_below_min",
            "string",
            "",
            "zones seen with free < min in those snapshots (`Node N ZONE`), `|`-joined; NA: none",
        ),
        (
            "zones_all_unreclaimable",
            "string",
            "",
            "zones flagged `all_unreclaimable? yes` (zone flag, <= v4.7), `|`-joined; NA: none",
        ),
        (
            "nodes_all_unreclaimable",
            "string",
            "",
            "nodes flagged `all_unreclaimable? yes` (node line, v4.8+: kswapd gave up), "
            "`|`-joined; NA: none",
        ),
        (
            "min_free_over_min",
            "Float64",
            "",
            "lowest free_kb / min_kb over the zones (min > 0) of those snapshots; < 1: below min",
        ),
        ("n_oom_lock_intervals", "Int64", "", "`oom_lock` rows overlapping the episode"),
        (
            "oom_lock_held_s",
            "Float64",
            "s",
            "seconds of those intervals inside the episode window (a lower bound); NA without "
            "timestamps",
        ),
        (
            "reclaimers_under_oom_lock",
            "Int64",
            "tasks",
            "stalled tasks of a reclaim class stalling while oom_lock was held; NA without "
            "timestamps",
        ),
        (
            "reclaim_task_s_under_oom_lock",
            "Float64",
            "task-s",
            "estimate of the time spent by those tasks in reclaim while oom_lock was held: "
            "overlaps of [began_ts, last_ts] with the held intervals, summed; NA without "
            "timestamps",
        ),
    ]
}

_COLUMNS = SCHEMA["episode_pressure"]


def _ints(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _windows(tables: dict[str, pd.DataFrame], eps: pd.DataFrame) -> pd.DataFrame:
    """Per episode: boot, line window [lo, hi], time window [t0, t1] (NaN without ts)."""
    lo = _ints(eps["first_line"])
    last = _ints(eps["last_line"])
    hi = last.copy()
    ev = get(tables, "events")
    if not ev.empty:
        s, e = _ints(ev["line_start"]), _ints(ev["line_end"])
        for i, ln in enumerate(last):
            inside = (s <= ln) & (e >= ln)
            if inside.any():
                hi[i] = max(ln, float(np.nanmax(e[inside])))
    began = f64(col(eps, "began_ts", "Float64"))
    start = f64(col(eps, "start_ts", "Float64"))
    ts = (col(eps, "clock", "string") == "ts").fillna(False).to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            "episode": _ints(eps["episode"]),
            "boot": _ints(eps["boot"]),
            "lo": lo,
            "hi": hi,
            "t0": np.where(ts, np.where(np.isnan(began), start, began), np.nan),
            "t1": np.where(ts, f64(col(eps, "end_ts", "Float64")), np.nan),
        }
    )


def _place(boot: np.ndarray, line: np.ndarray, win: pd.DataFrame) -> np.ndarray:
    """Episode of each (boot, line), NaN outside every episode's line window."""
    out = np.full(len(line), np.nan)
    for w in win.itertuples(index=False):
        same = (boot == w.boot) | np.isnan(boot)
        out[same & (line >= w.lo) & (line <= w.hi)] = w.episode
    return out


def _group_keys(tables: dict[str, pd.DataFrame], sc: pd.DataFrame) -> pd.Series:
    """Snapshot each trace belongs to (index: stack_id): kmallocwd scan, task dump, or event."""
    key = pd.Series(
        ("event:" + col(sc, "event_id", "string").fillna("?")).to_numpy(),
        index=_ints(sc["stack_id"]),
        dtype="string",
    )
    tk = get(tables, "tasks")
    if not tk.empty and "stack_id" in tk.columns:
        tk = tk.dropna(subset=["stack_id"]).drop_duplicates("stack_id")
        k = "dump:" + col(tk, "event_id", "string") + ":" + col(tk, "dump_id", "string")
        key.update(pd.Series(k.to_numpy(), index=_ints(tk["stack_id"])))
    ma = get(tables, "memalloc")
    if not ma.empty and "stack_id" in ma.columns:
        # the columns read, then the rows: a storm's memalloc is wide and mapped from disk
        ma = ma[[c for c in ("stack_id", "scan_id", "ts", "boot") if c in ma.columns]]
        ma = ma.dropna(subset=["stack_id"]).drop_duplicates("stack_id")
        scan = _bracketing_scan(tables, ma)
        ok = scan.notna().to_numpy(dtype=bool)
        k = "scan:" + scan[ok].astype("Int64").astype("string")
        key.update(pd.Series(k.to_numpy(), index=_ints(ma["stack_id"][ok])))
    return key


def _bracketing_scan(tables: dict[str, pd.DataFrame], ma: pd.DataFrame) -> pd.Series:
    """memalloc.scan_id; for a line without one, the header scan whose [header ts, trailer ts]
    holds the line's ts (excerpts that cut the list from its MemAlloc-Info lines)."""
    scan = col(ma, "scan_id", "Float64")
    sc = get(tables, "memalloc_scans")
    lost = scan.isna() & col(ma, "ts", "Float64").notna()
    if sc.empty or not lost.any() or "header_scan_id" not in sc.columns:
        return scan
    pos = col(sc, "position", "string")
    tr = sc[(pos == "trailer").fillna(False).to_numpy(dtype=bool)]
    end = pd.Series(f64(col(tr, "ts", "Float64")), index=_ints(tr["header_scan_id"]))
    hd = sc[(pos == "header").fillna(False).to_numpy(dtype=bool)]
    hdr = pd.DataFrame(
        {
            "boot": _ints(hd["boot"]),
            "ts": f64(col(hd, "ts", "Float64")),
            "hscan": _ints(hd["scan_id"]),
        }
    ).dropna()
    hdr["tend"] = hdr["hscan"].map(end.groupby(level=0).min())
    rows = pd.DataFrame(
        {"boot": _ints(ma["boot"][lost]), "ts": f64(col(ma[lost], "ts", "Float64"))},
        index=ma.index[lost],
    )
    if hdr.empty:
        return scan
    m = pd.merge_asof(
        rows.reset_index().sort_values("ts"),
        hdr.sort_values("ts"),
        on="ts",
        by="boot",
        direction="backward",
    ).set_index("index")
    hit = m["hscan"].where(m["ts"] <= m["tend"])
    return scan.fillna(hit.reindex(ma.index).astype("Float64"))


def _traces(
    tables: dict[str, pd.DataFrame], results: dict[str, pd.DataFrame], win: pd.DataFrame
) -> pd.DataFrame:
    """stack_classes rows with their episode, snapshot key and task identity."""
    sc = results.get("stack_classes")
    st = get(tables, "stacks")
    if sc is None or sc.empty or st.empty or win.empty:
        return pd.DataFrame()
    ids = _ints(sc["stack_id"])
    line = pd.Series(_ints(st["line_start"]), index=_ints(st["stack_id"]))
    line = line[~line.index.duplicated()]
    ev = get(tables, "events")
    boot = pd.Series(dtype=float)
    if not ev.empty:
        boot = pd.Series(_ints(ev["boot"]), index=_ints(ev["event_id"]))
        boot = boot[~boot.index.duplicated()]
    out = pd.DataFrame(
        {
            "stuck_in": col(sc, "stuck_in", "string").to_numpy(),
            "detail": col(sc, "stuck_detail", "string").to_numpy(),
            "comm": col(sc, "comm", "string").to_numpy(),
            "who": col(sc, "pid", "string").fillna(col(sc, "comm", "string")).to_numpy(),
            "key": _group_keys(tables, sc).reindex(ids).to_numpy(),
            "line": line.reindex(ids).to_numpy(),
        }
    )
    b = boot.reindex(_ints(sc["event_id"])).to_numpy() if len(boot) else np.full(len(ids), np.nan)
    out["episode"] = _place(b, out["line"].to_numpy(dtype=float), win)
    return out.dropna(subset=["episode"]).sort_values("line", kind="stable")


def _joined(df: pd.DataFrame, value: str) -> pd.Series:
    """Distinct values per episode in order of appearance, `|`-joined (index: episode)."""
    d = df.dropna(subset=[value]).drop_duplicates(["episode", value])
    if d.empty:
        return pd.Series(dtype="string")
    return d.groupby("episode", sort=False)[value].agg("|".join)


def _from_traces(tr: pd.DataFrame) -> pd.DataFrame:
    """peak_direct_reclaimers and kswapd_doing per episode (index: episode)."""
    out = pd.DataFrame(index=pd.Index([], dtype=float))
    if tr.empty:
        return out
    kswapd = tr["comm"].str.startswith("kswapd").fillna(False).astype(bool)
    rec = tr[tr["stuck_in"].isin(RECLAIM_CLASSES).fillna(False).astype(bool) & ~kswapd]
    peak = rec.groupby(["episode", "key"])["who"].nunique().groupby(level=0).max()
    out = pd.DataFrame({"peak_direct_reclaimers": peak.reindex(tr["episode"].unique())})
    out["peak_direct_reclaimers"] = out["peak_direct_reclaimers"].fillna(0)
    ks = tr[kswapd].copy()
    ks["doing"] = ks["stuck_in"].str.cat(ks["detail"], sep=": ").fillna(ks["stuck_in"])
    out["kswapd_doing"] = _joined(ks, "doing")
    return out


def _zone_label(df: pd.DataFrame) -> pd.Series:
    node = col(df, "node", "Int64").astype("string")
    return ("Node " + node + " " + col(df, "zone", "string")).fillna(col(df, "zone", "string"))


def _from_meminfo(tables: dict[str, pd.DataFrame], win: pd.DataFrame) -> pd.DataFrame:
    """Mem-Info snapshots of each episode: count, zones below min, unreclaimable zones/nodes."""
    mi = get(tables, "meminfo")
    if mi.empty or win.empty:
        return pd.DataFrame(index=pd.Index([], dtype=float))
    snap = pd.Series(
        _place(_ints(mi["boot"]), _ints(mi["line_start"]), win), index=_ints(mi["snapshot_id"])
    ).dropna()
    snap = snap[~snap.index.duplicated()]
    out = pd.DataFrame({"n_meminfo": snap.value_counts()})
    if snap.empty:
        return out
    z = get(tables, "zones")
    if not z.empty:
        z = z[np.isin(_ints(z["snapshot_id"]), snap.index.to_numpy())]
        z = z.assign(episode=snap.reindex(_ints(z["snapshot_id"])).to_numpy(), label=_zone_label(z))
        z = z.dropna(subset=["episode"])
        free, mn = f64(col(z, "free_kb", "Float64")), f64(col(z, "min_kb", "Float64"))
        out["zones_below_min"] = _joined(z[free < mn], "label")
        flag = col(z, "all_unreclaimable", "boolean").fillna(False).to_numpy(dtype=bool)
        out["zones_all_unreclaimable"] = _joined(z[flag], "label")
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = pd.Series(np.where(mn > 0, free / mn, np.nan), index=z.index)
        out["min_free_over_min"] = ratio.groupby(z["episode"]).min()
    nd = get(tables, "meminfo_nodes")
    if not nd.empty:
        ep = snap.reindex(_ints(nd["snapshot_id"])).to_numpy()
        flag = col(nd, "all_unreclaimable", "boolean").fillna(False).to_numpy(dtype=bool)
        label = "Node " + col(nd, "node", "Int64").fillna(0).astype("string")
        n = pd.DataFrame({"episode": ep, "label": label.to_numpy()})[flag]
        out["nodes_all_unreclaimable"] = _joined(n.dropna(subset=["episode"]), "label")
    return out


def _reclaimers(stalled: pd.DataFrame | None) -> pd.DataFrame:
    """Stalled tasks of a reclaim class (kswapd excepted): episode, [a, b] stall interval."""
    if stalled is None or stalled.empty:
        return pd.DataFrame({"episode": [], "a": [], "b": []})
    cls = col(stalled, "stuck_in", "string").isin(RECLAIM_CLASSES).fillna(False)
    ksw = col(stalled, "kswapd", "boolean").fillna(False) | col(
        stalled, "comm", "string"
    ).str.startswith("kswapd").fillna(False)
    st = stalled[(cls & ~ksw).to_numpy(dtype=bool)]
    first = f64(col(st, "first_ts", "Float64"))
    began = f64(col(st, "began_ts", "Float64"))
    return pd.DataFrame(
        {
            "episode": _ints(st["episode"]),
            "a": np.where(np.isnan(began), first, np.fmin(began, first)),
            "b": f64(col(st, "last_ts", "Float64")),
        }
    )


def _lock_intervals(ol: pd.DataFrame) -> pd.DataFrame:
    s, e = f64(col(ol, "start_ts", "Float64")), f64(col(ol, "end_ts", "Float64"))
    return pd.DataFrame(
        {
            "boot": _ints(ol["boot"]),
            "s": np.where(np.isnan(s), e, s),
            "e": np.where(np.isnan(e), s, e),
            "ls": _ints(ol["start_line"]),
            "le": np.fmax(_ints(ol["end_line"]), _ints(ol["start_line"])),
        }
    )


def _under_lock(w: Any, lk: pd.DataFrame, rec: pd.DataFrame) -> tuple[float, ...]:
    """(intervals, held s, reclaimers, reclaim task-s) of one episode window."""
    same = lk["boot"].to_numpy() == w.boot
    if np.isnan(w.t0) or np.isnan(w.t1):
        hit = same & (lk["ls"].to_numpy() <= w.hi) & (lk["le"].to_numpy() >= w.lo)
        return float(hit.sum()), np.nan, np.nan, np.nan
    s, e = lk["s"].to_numpy(), lk["e"].to_numpy()
    hit = same & (s <= w.t1) & (e >= w.t0)
    lo, hi = np.fmax(s[hit], w.t0), np.fmin(e[hit], w.t1)
    r = rec[rec["episode"].to_numpy() == w.episode]
    a, b = r["a"].to_numpy()[:, None], r["b"].to_numpy()[:, None]
    touch = (a <= hi[None, :]) & (b >= lo[None, :])
    ov = np.clip(np.fmin(b, hi[None, :]) - np.fmax(a, lo[None, :]), 0.0, None)
    task_s = float(np.nansum(np.where(touch, ov, 0.0)))
    return float(hit.sum()), float((hi - lo).sum()), float(touch.any(axis=1).sum()), task_s


def _from_oom_lock(
    results: dict[str, pd.DataFrame], win: pd.DataFrame, rec: pd.DataFrame
) -> pd.DataFrame:
    names = [
        "n_oom_lock_intervals",
        "oom_lock_held_s",
        "reclaimers_under_oom_lock",
        "reclaim_task_s_under_oom_lock",
    ]
    ol = results.get("oom_lock")
    lk = _lock_intervals(ol if ol is not None else pd.DataFrame(columns=_LOCK_COLS))
    rows = [_under_lock(w, lk, rec) for w in win.itertuples(index=False)]
    return pd.DataFrame(rows, columns=names, index=win["episode"].to_numpy(), dtype=float)


_LOCK_COLS = ["boot", "start_ts", "end_ts", "start_line", "end_line"]


def episode_pressure(
    tables: dict[str, pd.DataFrame], results: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """One row per episode: reclaimers, kswapd, zone watermarks, oom_lock hold and its cost."""
    eps = results.get("episodes")
    if eps is None or eps.empty:
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d, _, _ in _COLUMNS})
    win = _windows(tables, eps)
    rec = _reclaimers(results.get("stalled_tasks"))
    parts = [
        _from_traces(_traces(tables, results, win)),
        _from_meminfo(tables, win),
        _from_oom_lock(results, win, rec),
    ]
    out = pd.DataFrame({"episode": win["episode"], "boot": win["boot"]}, index=win["episode"])
    for p in parts:
        out = out.join(p) if len(p.columns) else out
    out["n_reclaim_tasks"] = rec.groupby("episode").size().reindex(out.index).fillna(0)
    out["n_meminfo"] = out.get("n_meminfo", pd.Series(0, index=out.index)).fillna(0)
    res = {}
    for name, dtype, _, _ in _COLUMNS:
        v = out[name] if name in out.columns else pd.Series(np.nan, index=out.index)
        if dtype == "Int64":
            res[name] = pd.array(_ints(v), dtype="Float64").astype("Int64")
        else:
            res[name] = pd.array(v.to_numpy(), dtype=cast(Any, dtype))
    return pd.DataFrame(res)
