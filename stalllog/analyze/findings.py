"""Findings: what a kernel developer would conclude, one plain sentence each, with evidence.

Table **`findings`**: one row per conclusion, ordered by boot and first evidence line. Each rule
reads the parsed tables and the other analysis tables (`stack_classes`, `stalled_tasks`,
`episodes`, `oom_lock`); the rules follow ANALYSIS.md §2.4 (what `oom_count` says), §3 (what the
stalled tasks do) and §8 (named findings F1–F12):

Kinds (severity) and their rules:

- `no_oom_progress` (critical past 60 s, else warning): kmallocwd `oom_count` unchanged over ≥2
  scans while `stalling > 0` (§2.4); 2015 headers without oom_count: stalling with dying=0,
  victim=0 and no OOM message; or an episode stalled to its end with no OOM invocation (F6).
- `oom_livelock` (critical): `oom_count` rising with `victim ≥ 1` and no kill line in between
  (§2.4, F3); or rising with victim=0 and an exiting task, no OOM message (the OOM killer waits
  for an exiting task).
- `victim_not_exiting` (warning, critical past 60 s): `oom_reaper: unable to reap` (F4); a
  victim counted by kmallocwd ≥10 s after its kill with no new kill; a victim listed ≥10 s.
- `nofs_cannot_oom` (warning): every stalling allocation (at least two tasks) lacks `__GFP_FS`
  and no OOM header (F5); with kmallocwd, oom_count rising with victim=0 and NOFS masks only.
- `reclaim_throttled` (warning): tasks throttled in reclaim (`too_many_isolated`,
  `congestion_wait`, `reclaim_throttle`, pfmemalloc throttle).
- `kswapd_blocked` (warning; critical when two reports show no context switch): kswapd waiting
  on a lock or IO (F7); or named by a hung-task report (D state, no switch for the timeout).
- `reclaimer_blocked_on_fs` (warning): direct reclaimers waiting on a lock (§3).
- `rescuer_stuck` (critical): a WQ_MEM_RECLAIM rescuer allocating (F8).
- `printk_flood` (warning): printk drops/suppressions inside an episode or while oom_lock was
  held (F9).
- `oom_lock_held_long` (warning; critical past 60 s): an `oom_lock` interval over 5 s (F1, F2);
  or the holder's trace printed by a lockup report (RCU stall, NMI backtrace) (F2).
- `memcg_no_killable` (warning; critical when repeated): memcg OOMs that found no killable
  process (F10).
- `oom_resolved` (info): OOM kills after which the stall ended (F12).

`evidence_lines` lists line numbers (`12,40-45`) of the capture's source (the `lines.line_no`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .oom_lock import stack_times

__all__ = ["KINDS", "SCHEMA", "findings"]

SCHEMA: dict[str, list[tuple[str, str, str, str]]] = {
    "findings": [
        ("finding", "Int64", "", "finding number, from 0"),
        ("boot", "Int64", "", "boot number in the capture"),
        ("episode", "Int64", "", "the stall episode (`episodes`), NA when outside any"),
        ("kind", "string", "", "what was found (see the module docstring)"),
        ("severity", "string", "", "info, warning or critical"),
        ("ts", "Float64", "s", "time of the first evidence"),
        ("pid", "Int64", "", "the task the finding is about, if one"),
        ("comm", "string", "", "its name"),
        ("summary", "string", "", "one plain sentence with the numbers"),
        ("evidence_lines", "string", "", "line numbers of the evidence, `12,40-45`"),
    ]
}

KINDS = (
    "oom_lock_held_long",
    "oom_livelock",
    "victim_not_exiting",
    "reclaim_throttled",
    "no_oom_progress",
    "printk_flood",
    "reclaimer_blocked_on_fs",
    "kswapd_blocked",
    "rescuer_stuck",
    "nofs_cannot_oom",
    "memcg_no_killable",
    "oom_resolved",
)

_COLUMNS = [c for c, *_ in SCHEMA["findings"]]
_DTYPES = {c: d for c, d, *_ in SCHEMA["findings"]}

HELD_LONG_S = 5.0  # F2: a header→kill gap over 5 s with concurrent reports
HELD_CRITICAL_S = 60.0
VICTIM_STUCK_S = 10.0  # F1/F3: two snapshots ≥10 s apart

# gfp names (as %pGg prints them) that include __GFP_FS; GFP_NOFS, GFP_NOIO, GFP_ATOMIC and
# GFP_NOWAIT do not. GFP_IOFS: ≤4.x, GFP_TEMPORARY: ≤4.14.
_FS_NAMES = frozenset(
    {
        "__GFP_FS",
        "GFP_KERNEL",
        "GFP_KERNEL_ACCOUNT",
        "GFP_USER",
        "GFP_HIGHUSER",
        "GFP_HIGHUSER_MOVABLE",
        "GFP_TEMPORARY",
        "GFP_TRANSHUGE",
        "GFP_TRANSHUGE_LIGHT",
        "GFP_IOFS",
    }
)
_NOFS_NAMES = frozenset({"GFP_NOFS", "GFP_NOIO", "GFP_ATOMIC", "GFP_NOWAIT"})

Row = dict[str, Any]

_LINE_MAX = 2**40  # line numbers stay far below; boot * 2**41 + line orders (boot, line)


def interval_of(
    boot: pd.Series,
    line: pd.Series,
    iv_boot: pd.Series,
    iv_first: pd.Series,
    iv_last: pd.Series,
    iv_value: pd.Series,
) -> pd.Series:
    """For each (boot, line), `iv_value` of the interval [iv_first, iv_last] of that boot that
    holds it (intervals of one boot do not overlap; the latest starting one is taken), else NA.
    numpy searchsorted over a combined (boot, line) key: this runs for every capture."""
    out = np.full(len(boot), -1, dtype="int64")
    found = np.zeros(len(boot), dtype=bool)
    ivb, ivf, ivl = (x.to_numpy("float64", na_value=np.nan) for x in (iv_boot, iv_first, iv_last))
    val = iv_value.to_numpy("float64", na_value=np.nan)
    ok = ~(np.isnan(ivb) | np.isnan(ivf) | np.isnan(ivl) | np.isnan(val))
    b, ln = boot.to_numpy("float64", na_value=np.nan), line.to_numpy("float64", na_value=np.nan)
    have = ~(np.isnan(b) | np.isnan(ln))
    if ok.any() and have.any():
        start = ivb[ok].astype("int64") * 2 * _LINE_MAX + ivf[ok].astype("int64")
        end = ivb[ok].astype("int64") * 2 * _LINE_MAX + ivl[ok].astype("int64")
        order = np.argsort(start, kind="stable")
        start, end, v = start[order], end[order], val[ok][order].astype("int64")
        key = b[have].astype("int64") * 2 * _LINE_MAX + ln[have].astype("int64")
        i = np.searchsorted(start, key, "right") - 1
        hit = (i >= 0) & (key <= end[np.maximum(i, 0)])
        idx = np.flatnonzero(have)
        out[idx[hit]] = v[i[hit]]
        found[idx[hit]] = True
    return pd.Series(pd.arrays.IntegerArray(out, ~found), index=boot.index)


_RECLAIM_FUNCS = ["shrink_page_list", "shrink_folio_list", "shrink_slab", "super_cache_scan"]


def has_gfp_fs(flags: pd.Series) -> pd.Series:
    """True/False when the `|`-joined gfp names say whether `__GFP_FS` is set; NA otherwise."""
    tokens = flags.astype("string").str.split("|")
    has = tokens.map(lambda t: bool(_FS_NAMES.intersection(t)) if isinstance(t, list) else None)
    nofs = tokens.map(lambda t: bool(_NOFS_NAMES.intersection(t)) if isinstance(t, list) else None)
    out = pd.Series(pd.NA, index=flags.index, dtype="boolean")
    out[has.eq(True)] = True
    out[has.eq(False) & nofs.eq(True)] = False
    return out


def line_ranges(lines: Iterable[Any]) -> str:
    """`[12, 40, 41, 42]` → `"12,40-42"`."""
    vals = sorted({int(x) for x in lines if x is not None and not pd.isna(x)})
    parts: list[str] = []
    start = prev = None
    for v in vals:
        if prev is not None and v == prev + 1:
            prev = v
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = v
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(parts)


def _known(x: Any) -> bool:
    return x is not None and not pd.isna(x) and bool(np.isfinite(float(x)))


def _ts(x: Any) -> str:
    return f"{float(x):.1f} s" if _known(x) else "?"


def _when(t0: Any, t1: Any, l0: Any, l1: Any) -> str:
    """`from 7.1 s to 48.6 s`, or `between lines 12 and 40` for captures without stamps."""
    if _known(t0) and _known(t1):
        return f"from {_ts(t0)} to {_ts(t1)}"
    if int(l0) == int(l1):
        return f"at line {int(l0)}"
    return f"between lines {int(l0)} and {int(l1)}"


def _dur(a: Any, b: Any) -> str:
    if a is None or b is None or pd.isna(a) or pd.isna(b):
        return ""
    return f" ({float(b) - float(a):.1f} s)"


def _tasks(comms: Sequence[Any], pids: Sequence[Any], limit: int = 4) -> str:
    names = [f"{c}({_int(p)})" for c, p in zip(comms, pids, strict=True) if not pd.isna(p)]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _row(kind: str, severity: str, boot: Any, summary: str, lines: Iterable[Any], **kw: Any) -> Row:
    lines = list(lines)
    return {
        "kind": kind,
        "severity": severity,
        "boot": boot,
        "summary": summary,
        "evidence_lines": line_ranges(lines),
        "first_line": min((int(x) for x in lines if not pd.isna(x)), default=None),
        **kw,
    }


class _Ctx:
    def __init__(self, tables: dict[str, pd.DataFrame], results: dict[str, pd.DataFrame]):
        self.t = tables
        self.r = results
        self._reclaim_frames: dict[int, str] | None = None
        self._cache: dict[str, Any] = {}

    def get(self, name: str) -> pd.DataFrame | None:
        df = self.r.get(name)
        if df is None:
            df = self.t.get(name)
        return df if df is not None and len(df) else None

    def stack_info(self, rows: Any = None) -> pd.DataFrame | None:
        """stack_classes (the `rows` selected, when given) with boot, ts and the trace's first
        line."""
        sc = self.get("stack_classes")
        if sc is None:
            return None
        if rows is not None:
            sc = sc[rows]
            if not len(sc):
                return None
        return sc.merge(stack_times(self.t), on="stack_id", how="left")

    def vmstat_pending(self) -> pd.DataFrame | None:
        """Workqueue rows with `vmstat_update` pending."""
        if "vmstat" not in self._cache:
            wq = self.get("workqueues")
            if wq is not None:
                pend = wq["pending"].astype("string").fillna("")
                wq = wq[pend.str.contains("vmstat_update", regex=False).to_numpy(bool)]
            self._cache["vmstat"] = wq if wq is not None and len(wq) else None
        return self._cache["vmstat"]

    def kills_by_boot(self) -> dict[int, np.ndarray]:
        if "kills" not in self._cache:
            self._cache["kills"] = _lines_by_boot(self.get("oom_events"), "kill_line_no")
        return self._cache["kills"]

    def reclaim_frames(self) -> dict[int, str]:
        """stack_id → the outermost-listed reclaim function of the trace (for "under …")."""
        if self._reclaim_frames is None:
            self._reclaim_frames = {}
            frames = self.get("frames")
            if frames is not None:
                f = frames[frames["symbol"].isin(_RECLAIM_FUNCS).fillna(False).to_numpy(bool)]
                f = f.assign(rank=f["symbol"].map(_RECLAIM_FUNCS.index))
                f = f.sort_values(["stack_id", "rank"]).drop_duplicates("stack_id")
                self._reclaim_frames = dict(
                    zip(f["stack_id"].astype(int), f["symbol"].astype(str), strict=True)
                )
        return self._reclaim_frames

    def episode_of(self, boot: pd.Series, line: pd.Series, to_end: bool = False) -> pd.Series:
        """Episode number of each (boot, line), NA outside every episode. to_end: an episode
        that stalled to the end of the capture also owns the lines after its last report."""
        ep = self.get("episodes")
        if ep is None:
            return pd.Series(pd.NA, index=boot.index, dtype="Int64")
        last = ep["last_line"]
        if to_end and "outcome" in ep:
            open_end = (ep["outcome"] == "stalled_at_end").fillna(False).to_numpy(bool)
            last = last.where(~open_end, _LINE_MAX)
        return interval_of(boot, line, ep["boot"], ep["first_line"], last, ep["episode"])


# --- kmallocwd counters (§2.4) -----------------------------------------------------------------


def _between(arr: np.ndarray, lo: int, hi: int) -> int:
    """How many of the sorted `arr` lie in [lo, hi]."""
    return int(np.searchsorted(arr, hi, "right") - np.searchsorted(arr, lo, "left"))


def _lines_by_boot(df: pd.DataFrame | None, col: str, mask: Any = None) -> dict[int, np.ndarray]:
    """boot → the sorted non-null values of `col` (line numbers) in that boot."""
    if df is None:
        return {}
    sel = df if mask is None else df[np.asarray(mask, dtype=bool)]
    sel = sel[["boot", col]].dropna().astype("int64").sort_values(["boot", col])
    boots = sel["boot"].to_numpy()
    vals = sel[col].to_numpy()
    keys, starts = np.unique(boots, return_index=True)
    return {int(k): v for k, v in zip(keys, np.split(vals, starts[1:]), strict=True)}


_NONE = np.array([], dtype="int64")


def _step_kind(b: list[dict[str, Any]], i: int, ev: dict[str, np.ndarray]) -> str:
    """What scans i → i+1 of one boot say (§2.4): frozen, livelock, exiting, nofs, quiet or ''."""
    r0, r1 = b[i], b[i + 1]
    if not (r0["stalling"] > 0 and r1["stalling"] > 0):
        return ""
    lo, hi = int(r0["line_no"]), int(r1["line_no"])
    if _between(ev["kills"], lo, hi):
        return ""
    v0, v1 = _int(r0["victim"]), _int(r1["victim"])
    c0, c1 = r0["oom_count"], r1["oom_count"]
    if pd.isna(c0) or pd.isna(c1):
        # headers without oom_count (2015 drafts): no OOM message, nobody dying or a victim
        quiet = v0 == v1 == 0 and _int(r0["dying"]) == _int(r1["dying"]) == 0
        return "quiet" if quiet and not _between(ev["headers"], lo, hi) else ""
    if c1 == c0:
        return "frozen"
    if c1 < c0:
        return ""  # wrapped or another boot's counter
    if v0 >= 1 and v1 >= 1:
        return "livelock"
    if _between(ev["headers"], lo, hi):
        return ""
    fs = ev["gfp_fs"]  # (line, has_fs) of stalling MemAlloc lines
    here = fs[(fs[:, 0] >= lo) & (fs[:, 0] <= hi)] if len(fs) else fs
    if len(here) and not here[:, 1].any():
        return "nofs"
    if _int(r0["exiting"]) >= 1 and _int(r1["exiting"]) >= 1:
        return "exiting"
    return ""


def _int(x: Any) -> int:
    return 0 if x is None or pd.isna(x) else int(x)


def _scan_runs(ctx: _Ctx) -> list[Row]:
    scans = ctx.get("memalloc_scans")
    if scans is None:
        return []
    s = scans[scans["position"].astype("string").fillna("header") != "trailer"]
    s = s.dropna(subset=["stalling", "boot", "line_no"]).sort_values(["boot", "line_no"])
    if len(s) < 2:
        return []
    oom = ctx.get("oom_events")
    mem = ctx.get("memalloc")
    sysrq = ctx.get("sysrq")
    rows: list[Row] = []
    kills = _lines_by_boot(oom, "kill_line_no")
    headers = _lines_by_boot(oom, "line_start", oom["ts"].notna() if oom is not None else None)
    gfp_fs: dict[int, np.ndarray] = {}
    if mem is not None:
        m = mem[mem["stalling"].astype("boolean").fillna(False).to_numpy(bool)]
        m = m.assign(fs=has_gfp_fs(m["gfp_flags"])).dropna(subset=["fs", "boot", "line_no"])
        for bt, g in m.groupby("boot"):
            gfp_fs[_int(bt)] = np.column_stack(
                [g["line_no"].astype("int64").to_numpy(), g["fs"].astype(bool).to_numpy()]
            ).astype("int64")
    for boot, b in s.groupby("boot", sort=True):
        b = b.reset_index(drop=True)
        ev = {
            "kills": kills.get(_int(boot), _NONE),
            "headers": headers.get(_int(boot), _NONE),
            "gfp_fs": gfp_fs.get(_int(boot), np.zeros((0, 2), dtype="int64")),
        }
        recs = _records(b)
        steps = [_step_kind(recs, i, ev) for i in range(len(b) - 1)]
        i = 0
        while i < len(steps):
            kind = steps[i]
            if not kind:
                i += 1
                continue
            j = i
            while j + 1 < len(steps) and steps[j + 1] == kind:
                j += 1
            row = _scan_finding(kind, boot, b.iloc[i], b.iloc[j + 1], j - i + 2, ev, sysrq)
            if kind == "frozen":
                row["summary"] = row["summary"][:-1] + _holder_note(
                    ctx.get("oom_lock"), boot, b.iloc[i]["line_no"], b.iloc[j + 1]["line_no"]
                )
            rows.append(row)
            i = j + 1
        rows.extend(_scan_victims(boot, b, ev, oom))
    return rows


def _scan_finding(
    kind: str, boot: Any, a: pd.Series, z: pd.Series, n: int, ev: dict[str, np.ndarray],
    sysrq: pd.DataFrame | None,
) -> Row:  # fmt: skip
    ts_a, ts_z = a["ts"], z["ts"]
    span = float(ts_z) - float(ts_a) if not (pd.isna(ts_a) or pd.isna(ts_z)) else np.nan
    sa, sz = _int(a["stalling"]), _int(z["stalling"])
    stalling = f"{sa}" if sa == sz else f"{sa}→{sz}"
    lines = [a["line_no"], z["line_no"]]
    when = f"from {_ts(ts_a)} to {_ts(ts_z)}{_dur(ts_a, ts_z)}"
    sev = "warning" if span < 60 else "critical"
    ca, cz = a["oom_count"], z["oom_count"]
    if kind in ("frozen", "quiet"):
        what = (
            f"oom_count stayed at {cz} over {n} kmallocwd scans"
            if kind == "frozen"
            else f"{n} kmallocwd scans reported stalling tasks with dying=0 victim=0 and no OOM "
            f"message in between"
        )
        vic = (
            f"; victim={_int(z['victim'])} throughout: an earlier OOM victim has not exited"
            if _int(a["victim"]) >= 1 and _int(z["victim"]) >= 1
            else ""
        )
        end = _what_ended(boot, int(z["line_no"]), ev, sysrq)
        if end:
            lines.append(end[1])
        return _row(
            "no_oom_progress",
            sev,
            boot,
            f"{what} {when} while {stalling} tasks were stalling: no allocation reached "
            f"out_of_memory(), so reclaim never gave up{vic}{end[0] if end else ''}.",
            lines,
            ts=ts_a,
        )
    if kind == "livelock":
        return _row(
            "oom_livelock",
            "critical",
            boot,
            f"oom_count rose from {ca} to {cz} (+{cz - ca} calls) {when} with "
            f"victim={_int(z['victim'])} and no kill line: out_of_memory() keeps returning "
            f"without a kill while the existing victim does not exit (OOM livelock); {stalling} "
            f"tasks stalling.",
            lines,
            ts=ts_a,
        )
    if kind == "exiting":
        return _row(
            "oom_livelock",
            "critical",
            boot,
            f"oom_count rose from {ca} to {cz} (+{cz - ca} calls) {when} with victim=0, "
            f"exiting={_int(z['exiting'])} and no OOM message: out_of_memory() keeps waiting for "
            f"an exiting task instead of killing (task_will_free_mem / OOM_SCAN_ABORT); "
            f"{stalling} tasks stalling.",
            lines,
            ts=ts_a,
        )
    return _row(
        "nofs_cannot_oom",
        "warning",
        boot,
        f"oom_count rose from {ca} to {cz} {when} with victim=0 and no OOM header, and every "
        f"stalling MemAlloc line lacks __GFP_FS: out_of_memory() returns without killing for "
        f"!__GFP_FS requests (v4.7+, 3da88fb3bacf); {stalling} tasks stalling.",
        lines,
        ts=ts_a,
    )


def _holder_note(held: pd.DataFrame | None, boot: Any, lo: Any, hi: Any) -> str:
    """§2.4: a frozen oom_count can also mean every trylock loses to a holder that is itself
    stuck (§1.5); name the holder seen meanwhile."""
    if held is None:
        return "."
    h = held[(held["boot"] == boot) & (held["end_line"] >= lo) & (held["start_line"] <= hi)]
    if not len(h):
        return "."
    who = ", ".join(dict.fromkeys(f"{c}({p})" for c, p in zip(h["comm"], h["pid"], strict=True)))
    return f"; {who} is seen holding oom_lock meanwhile, so every trylock loses to it."


def _what_ended(
    boot: Any, line: int, ev: dict[str, np.ndarray], sysrq: pd.DataFrame | None
) -> tuple[str, int] | None:
    """The OOM header or SysRq-f that came after a quiet stretch, if any."""
    cands: list[tuple[int, str]] = []
    h = ev["headers"][ev["headers"] > line]
    if len(h):
        cands.append((int(h[0]), f"; the next OOM header is at line {int(h[0])}"))
    if sysrq is not None and "key" in sysrq:
        f = sysrq[(sysrq["boot"] == boot) & (sysrq["key"] == "f") & (sysrq["line_no"] > line)]
        if len(f):
            r = f.iloc[0]
            cands.append((int(r["line_no"]), f"; it ended with SysRq-f at {_ts(r['ts'])}"))
    if not cands:
        return None
    first = min(cands)
    return first[1], first[0]


def _scan_victims(
    boot: Any, b: pd.DataFrame, ev: dict[str, np.ndarray], oom: pd.DataFrame | None
) -> list[Row]:
    """victim ≥ 1 in scans ≥10 s apart with no kill line between them: the victim does not exit
    (F3). The last kill before them names it when the capture has it."""
    v = b[b["victim"].fillna(0) >= 1].dropna(subset=["ts"])
    if len(v) == 0:
        return []
    rows: list[Row] = []
    # split at kill lines: a new kill means a new victim
    seg = np.searchsorted(ev["kills"], v["line_no"].astype("int64").to_numpy(), "left")
    for k in np.unique(seg):
        g = v[seg == k]
        kill_line = int(ev["kills"][k - 1]) if k >= 1 else None
        kill = None
        if kill_line is not None and oom is not None:
            kr = oom[(oom["boot"] == boot) & (oom["kill_line_no"] == kill_line)]
            kill = kr.iloc[0] if len(kr) else None
        t0 = kill["ts_kill"] if kill is not None else g["ts"].iloc[0]
        span = float(g["ts"].iloc[-1]) - float(t0)
        if not span >= VICTIM_STUCK_S:
            continue
        if kill is not None:
            victim = f"{kill['victim_comm']}({_int(kill['victim_pid'])})"
            who = f"the OOM victim {victim} killed at {_ts(t0)}"
            pid, comm = kill["victim_pid"], kill["victim_comm"]
        else:
            who = f"an OOM victim (counted since the scan at {_ts(t0)})"
            pid, comm = pd.NA, pd.NA
        last = g.iloc[-1]
        rows.append(
            _row(
                "victim_not_exiting",
                "critical" if span >= 60 else "warning",
                boot,
                f"{who} has not exited {span:.0f} s later: kmallocwd still counts victim="
                f"{_int(last['victim'])} dying={_int(last['dying'])} at {_ts(last['ts'])} with "
                f"{_int(last['stalling'])} tasks stalling and no new kill.",
                [*([kill_line] if kill_line else []), *g["line_no"]],
                ts=t0,
                pid=pid,
                comm=comm,
            )
        )
    return rows


def _victims(ctx: _Ctx) -> list[Row]:
    rows: list[Row] = []
    oom = ctx.get("oom_events")
    if oom is not None and "unable_to_reap" in oom:
        bad = oom[oom["unable_to_reap"].astype("boolean").fillna(False).astype(bool)]
        for (boot, pid), g in bad.groupby(["boot", "victim_pid"], sort=True):
            later = oom[(oom["boot"] == boot) & (oom["line_start"] > g["reap_line_no"].max())]
            new_kill = later["victim_pid"].notna() & (later["victim_pid"] != pid)
            repeated = len(g) > 1
            sev = "critical" if repeated or not new_kill.any() else "warning"
            tail = (
                "and no other victim was killed afterwards"
                if not new_kill.any()
                else "; a new victim was chosen afterwards (MMF_OOM_SKIP)"
            )
            rows.append(
                _row(
                    "victim_not_exiting",
                    sev,
                    boot,
                    f"oom_reaper could not reap {g['victim_comm'].iloc[0]}({_int(pid)}) "
                    f"{len(g)} time(s) (first at {_ts(g['reap_ts'].iloc[0])}): its mmap lock "
                    f"is held by a blocked thread, so the victim cannot exit {tail}.",
                    [*g["kill_line_no"], *g["reap_line_no"]],
                    ts=g["reap_ts"].iloc[0],
                    pid=pid,
                    comm=g["victim_comm"].iloc[0],
                )
            )
    mem = ctx.get("memalloc")
    if mem is not None and "victim" in mem:
        v = mem[mem["victim"].astype("boolean").fillna(False).astype(bool)].dropna(subset=["ts"])
        for (boot, pid), g in v.groupby(["boot", "pid"], sort=True):
            span = float(g["ts"].max() - g["ts"].min())
            if span < VICTIM_STUCK_S:
                continue
            rows.append(
                _row(
                    "victim_not_exiting",
                    "critical",
                    boot,
                    f"OOM victim {g['comm'].iloc[0]}({_int(pid)}) is still listed by kmallocwd "
                    f"{span:.0f} s after it was first seen ({len(g)} reports): it does not exit.",
                    g["line_no"],
                    ts=g["ts"].min(),
                    pid=pid,
                    comm=g["comm"].iloc[0],
                )
            )
    return rows


# --- what the stalled tasks do (§3) ----------------------------------------------------------


def _group_tasks(
    ctx: _Ctx, sel: pd.DataFrame, by_episode: bool = True
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


def _stack_rules(ctx: _Ctx) -> list[Row]:
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
    rows: list[Row] = []
    comm = si["comm"].astype("string").fillna("")
    stuck = si["stuck_in"].astype("string").fillna("")
    in_alloc = si["in_allocator"].astype("boolean").fillna(False).astype(bool)
    kswapd = comm.str.match(r"kswapd\d").fillna(False).astype(bool)
    mem = ctx.get("memalloc")

    # reclaim throttled
    thr = si[(stuck == "throttled").to_numpy()]
    for boot, ep, g in _group_tasks(ctx, thr):
        u = g.drop_duplicates("pid")
        rows.append(
            _row(
                "reclaim_throttled",
                "warning",
                boot,
                f"{len(u)} task(s) are throttled in reclaim ({_detail_counts(g)}): "
                f"{_tasks(u['comm'].tolist(), u['pid'].tolist())}; they sleep and retry "
                f"instead of finishing a reclaim round{_isolated_note(g)}.",
                u["line_start"],
                ts=g["ts"].min(),
                episode=ep,
                pid=u["pid"].iloc[0] if len(u) == 1 else pd.NA,
                comm=u["comm"].iloc[0] if len(u) == 1 else pd.NA,
            )
        )

    # kswapd blocked on a lock or IO
    kb = si[(kswapd & stuck.isin(["lock_wait", "io_wait"])).to_numpy()]
    for (boot, pid), g in kb.groupby(["boot", "pid"], sort=True):
        g = g.sort_values("line_start")
        first = g.iloc[0]
        detail = (
            first["stuck_detail"] if not pd.isna(first["stuck_detail"]) else first["key_symbol"]
        )
        how = "a lock" if first["stuck_in"] == "lock_wait" else "IO"
        sev = "warning"
        extra = ""
        if mem is not None:
            m = mem[(mem["boot"] == boot) & (mem["pid"] == pid)].dropna(subset=["switches"])
            if len(m):
                sw = m["switches"].astype("int64")
                unint = m["uninterruptible"].astype("boolean").fillna(False).all()
                extra = f", switches={sw.iloc[-1]}" + (" (D state)" if unint else "")
                if len(m) >= 2 and sw.nunique() == 1 and unint:
                    sev = "critical"
                    extra = f", switches={sw.iloc[0]} unchanged over {len(m)} reports (D state)"
        path = _frames_context(ctx, int(first["stack_id"]))
        rows.append(
            _row(
                "kswapd_blocked",
                sev,
                boot,
                f"{first['comm']}({_int(pid)}) is waiting for {how} in {detail}{path}{extra}: "
                f"kswapd makes no progress, and every reclaimer that needs it waits too.",
                g["line_start"],
                ts=g["ts"].min(),
                pid=pid,
                comm=first["comm"],
            )
        )

    # direct reclaimers blocked on (filesystem) locks
    fs = si[(in_alloc & ~kswapd & (stuck == "lock_wait")).to_numpy()]
    for boot, ep, g in _group_tasks(ctx, fs):
        u = g.drop_duplicates("pid")
        rows.append(
            _row(
                "reclaimer_blocked_on_fs",
                "warning",
                boot,
                f"{len(u)} allocating task(s) wait on a lock inside the allocator "
                f"({_detail_counts(g)}): {_tasks(u['comm'].tolist(), u['pid'].tolist())}; "
                f"reclaim is blocked behind filesystem locks held by others.",
                u["line_start"],
                ts=g["ts"].min(),
                episode=ep,
                pid=u["pid"].iloc[0] if len(u) == 1 else pd.NA,
                comm=u["comm"].iloc[0] if len(u) == 1 else pd.NA,
            )
        )

    # WQ_MEM_RECLAIM rescuer allocating (from its trace)
    resc = si[(si["rescuer"].astype("boolean").fillna(False).astype(bool) & in_alloc).to_numpy()]
    seen: set[tuple[int, int]] = set()
    for (boot, pid), g in resc.groupby(["boot", "pid"], sort=True):
        seen.add((_int(boot), _int(pid)))
        rows.append(
            _rescuer_row(boot, pid, g["comm"].iloc[0], g["line_start"], g["ts"].min(), "trace")
        )
    rows.extend(_rescuer_memalloc(ctx, seen))
    return rows


def _frames_context(ctx: _Ctx, stack_id: int) -> str:
    """`(via shrink_page_list)`: the reclaim function the wait sits under, when there is one."""
    under = ctx.reclaim_frames()
    return f" under {under[stack_id]}" if stack_id in under else ""


def _rescuer_row(boot: Any, pid: Any, comm: Any, lines: Iterable[Any], ts: Any, how: str) -> Row:
    return _row(
        "rescuer_stuck",
        "critical",
        boot,
        f"WQ_MEM_RECLAIM rescuer {comm}({_int(pid)}) is itself stuck allocating memory "
        f"({how}): the forward-progress guarantee of its workqueue is gone.",
        lines,
        ts=ts,
        pid=pid,
        comm=comm,
    )


def _stall_seconds(ctx: _Ctx) -> dict[tuple[int, int], tuple[float, int]]:
    """(boot, pid) → (longest stall in seconds, HZ used) from stalled_tasks, where HZ is known."""
    st = ctx.get("stalled_tasks")
    if st is None or not {"max_delay_s", "hz_used"} <= set(st.columns):
        return {}
    st = st.dropna(subset=["boot", "pid", "max_delay_s", "hz_used"])
    st = st.sort_values("max_delay_s").drop_duplicates(["boot", "pid"], keep="last")
    return {
        (_int(b), _int(p)): (float(d), _int(h))
        for b, p, d, h in zip(st["boot"], st["pid"], st["max_delay_s"], st["hz_used"], strict=True)
    }


def _rescuer_memalloc(ctx: _Ctx, seen: set[tuple[int, int]]) -> list[Row]:
    """A rescuer thread is named after its workqueue (v4.9–v6.1; `kworker/R-<wq>` @v6.12) and
    has PF_WQ_WORKER (0x20) set; ordinary workers are `kworker/…`."""
    mem = ctx.get("memalloc")
    if mem is None or "flags" not in mem:
        return []
    comm = mem["comm"].astype("string").fillna("")
    wq = (mem["flags"].astype("Int64") & 0x20).fillna(0).astype(bool)
    stalling = mem["stalling"].astype("boolean").fillna(False).astype(bool)
    named = ~comm.str.startswith("kworker/") | comm.str.startswith("kworker/R-")
    sel = mem[(wq & stalling & named).to_numpy()]
    rows: list[Row] = []
    secs = _stall_seconds(ctx)
    for (boot, pid), g in sel.groupby(["boot", "pid"], sort=True):
        if (_int(boot), _int(pid)) in seen:
            continue
        last = g.iloc[-1]
        delay = (
            f"delay={last['delay_jiffies']} jiffies" if not pd.isna(last["delay_jiffies"]) else ""
        )
        s_hz = secs.get((_int(boot), _int(pid)))
        if s_hz is not None:
            delay += f", {s_hz[0]:.0f} s at HZ={s_hz[1]}"
        how = f"kmallocwd: {last['gfp_flags']} order={last['order']} {delay}".strip()
        rows.append(_rescuer_row(boot, pid, last["comm"], g["line_no"], g["ts"].min(), how))
    return rows


# --- NOFS (F5) ------------------------------------------------------------------------------


def _nofs(ctx: _Ctx) -> list[Row]:
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
            _row(
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


# --- episodes: no OOM at all, printk, resolution ------------------------------------------


def _episode_rules(ctx: _Ctx) -> list[Row]:
    ep = ctx.get("episodes")
    rows: list[Row] = []
    if ep is None:
        return rows
    held = ctx.get("oom_lock")
    st = ctx.get("stalled_tasks")
    for e in _records(ep):
        longest = (
            f", the longest for {float(e['longest_stall_s']):.0f} s"
            if not pd.isna(e["longest_stall_s"])
            else ""
        )
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
        if (
            e["outcome"] in ("stalled_at_end", "panic", "reboot")
            and not counted
            and not holder
            and (pd.isna(e["oom_invocations"]) or e["oom_invocations"] == 0)
            and _long(e["duration_s"], e["longest_stall_s"], limit=30)
        ):
            why = _costly_orders(st, e["episode"])
            rows.append(
                _row(
                    "no_oom_progress",
                    "critical" if _long(e["duration_s"], e["longest_stall_s"]) else "warning",
                    e["boot"],
                    f"{e['n_tasks']} task(s) were reported stalled from {_ts(e['start_ts'])} to "
                    f"{_ts(e['end_ts'])}{longest}, and the OOM killer was never invoked up to the "
                    f"{_end_word(e['outcome'])}: "
                    + (why or "reclaim keeps the allocations looping."),
                    [
                        e["first_line"],
                        e["outcome_line"] if not pd.isna(e["outcome_line"]) else e["last_line"],
                    ],
                    ts=e["start_ts"],
                    episode=e["episode"],
                    src="episode",
                )
            )
        if e["outcome"] == "relieved_by_kill":
            rows.append(
                _row(
                    "oom_resolved",
                    "info",
                    e["boot"],
                    f"The stall from {_ts(e['start_ts'])} ({e['n_tasks']} task(s){longest}) "
                    f"ended after {_num(e['kills'])} OOM kill(s), at line {e['outcome_line']}.",
                    [e["first_line"], e["outcome_line"]],
                    ts=e["start_ts"],
                    episode=e["episode"],
                )
            )
    return rows


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


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in df.to_dict("records")]


def _num(x: Any) -> str:
    if x is None or pd.isna(x):
        return "?"
    return f"{x:.0f}" if isinstance(x, float) else str(x)


def _end_word(outcome: str) -> str:
    return {"panic": "panic", "reboot": "reboot"}.get(outcome, "end of the capture")


def _printk_flood(ctx: _Ctx) -> list[Row]:
    loss = ctx.get("printk_loss")
    if loss is None:
        return []
    loss = loss[
        loss["kind"].isin(["console_dropped", "callbacks_suppressed", "messages_suppressed"])
    ]
    loss = loss.dropna(subset=["boot", "line_no"])
    if not len(loss):
        return []
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
    loss = loss[keep.to_numpy()]
    rows: list[Row] = []
    for (boot, ep), g in loss.groupby(["boot", "episode"], sort=True, dropna=False):
        drop = g[g["kind"] == "console_dropped"]
        supp = g[g["kind"] != "console_dropped"]
        parts = []
        if len(drop):
            parts.append(
                f"{int(drop['count'].fillna(0).sum())} printk messages dropped in {len(drop)} "
                f"marker(s)"
            )
        if len(supp):
            who = ", ".join(supp["who"].dropna().astype(str).value_counts().index[:3])
            n = int(supp["count"].fillna(0).sum())
            parts.append(f"{n} messages suppressed by rate limits ({who})")
        holders = g["holder"].dropna().unique()
        under = (
            f"; {int((g['holder'].notna()).sum())} of the markers fall while "
            f"pid {', '.join(str(_int(p)) for p in holders)} held oom_lock"
            if len(holders)
            else ""
        )
        stalls = _alloc_stall_count(ctx, boot, g["line_no"].min(), g["line_no"].max())
        rows.append(
            _row(
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
        )
    return rows


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
        return f"between {_ts(ts.min())} and {_ts(ts.max())}"
    lo, hi = int(g["line_no"].min()), int(g["line_no"].max())
    return f"at line {lo}" if lo == hi else f"between lines {lo} and {hi}"


def _alloc_stall_count(ctx: _Ctx, boot: Any, lo: Any, hi: Any) -> str:
    st = ctx.get("alloc_stalls")
    if st is None:
        return ""
    n = int(((st["boot"] == boot) & st["line_no"].between(lo, hi)).sum())
    return f", among {n} warn_alloc stall reports" if n else ""


# --- oom_lock and OOM outcomes --------------------------------------------------------------


def _oom_lock_rules(ctx: _Ctx) -> list[Row]:
    held = ctx.get("oom_lock")
    if held is None:
        return []
    rows: list[Row] = []
    long = held[held["held_s"].astype("Float64").fillna(0) > HELD_LONG_S]
    for h in _records(long):
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
            _row(
                "oom_lock_held_long",
                sev,
                h["boot"],
                f"{h['comm']}({h['pid']}) held oom_lock for at least {h['held_s']:.1f} s "
                f"({_ts(h['start_ts'])} to {end} at {_ts(h['end_ts'])}, evidence: "
                f"{h['source']}) while "
                f"{h['waiters']} task(s) were seen waiting for it{extra}.",
                [h["start_line"], h["evidence_line"], h["end_line"]],
                ts=h["start_ts"],
                pid=h["pid"],
                comm=h["comm"],
            )
        )
    return rows


def _holder_in_lockup(ctx: _Ctx) -> list[Row]:
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
        direction="backward", tolerance=_LOCKUP_REACH,
    )  # fmt: skip
    m = m.dropna(subset=["line_no"])
    if not len(m):
        return []
    holders = si
    detail = dict(
        zip(holders["line_start"].dropna().astype(int), holders["stuck_detail"], strict=False)
    )
    rows: list[Row] = []
    for r in _records(m):
        what = {"rcu": "an RCU stall", "soft": "a soft lockup", "hard": "a hard lockup"}.get(
            str(r["kind"]), "a lockup"
        )
        how = ""
        if _known(r["rcu_t_jiffies"]):
            how = f" (t={int(r['rcu_t_jiffies'])} jiffies without a grace period)"
        elif _known(r["stuck_s"]):
            how = f" (stuck for {int(r['stuck_s'])} s)"
        where = detail.get(int(r["evidence_line"]))
        doing = f" in {where}" if isinstance(where, str) else ""
        rows.append(
            _row(
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


def _count_between(ctx: _Ctx, name: str, boot: Any, lo: Any, hi: Any) -> int:
    df = ctx.get(name)
    if df is None or pd.isna(lo) or pd.isna(hi):
        return 0
    return int(((df["boot"] == boot) & df["line_no"].between(lo, hi)).sum())


def _memcg_no_killable(ctx: _Ctx) -> list[Row]:
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
            _row(
                "memcg_no_killable",
                "critical" if len(g) > 1 else "warning",
                boot,
                f"memcg {cg}: {len(g)} OOM invocation(s) from {_ts(g['ts'].min())} to "
                f"{_ts(g['ts_kill'].max())} found no killable process{adj}, so charges keep "
                f"failing and every attempt prints another dump.",
                [*g["line_start"], *g["kill_line_no"]],
                ts=g["ts"].min(),
                pid=g["trigger_pid"].iloc[0] if g["trigger_pid"].nunique() == 1 else pd.NA,
                comm=g["trigger_comm"].iloc[0] if g["trigger_pid"].nunique() == 1 else pd.NA,
            )
        )
    return rows


def _oom_resolved_outside(ctx: _Ctx) -> list[Row]:
    """OOM kills outside every stall episode (or without an episode table), with no stall
    reported after the boot's last kill: normal OOMs (F12). One finding per boot."""
    oom = ctx.get("oom_events")
    if oom is None:
        return []
    no_kill = oom["no_killable"].astype("boolean").fillna(False).astype(bool)
    panic = oom["panic"].astype("boolean").fillna(False).astype(bool)
    k = oom[(oom["victim_pid"].notna() & ~no_kill & ~panic).to_numpy()]
    if not len(k):
        return []
    k = k.assign(episode=ctx.episode_of(k["boot"], k["line_start"]))
    k = k[k["episode"].isna()]
    k = k.assign(
        gap=(k["ts_kill"] - k["ts"]).astype("Float64"),
        reaped_n=k["reaped"].astype("boolean").fillna(False).astype("int64"),
        kind_s=k["kind"].astype("string").fillna("OOM"),
    )
    g = k.groupby("boot", sort=True)
    agg = pd.DataFrame(
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
    )
    # the stall ended: nothing reported as stalling after the last kill of the boot
    last_stall = _last_stall_line(ctx)
    stall_line = agg.index.map(lambda b: last_stall.get(int(b), -1)).to_numpy("float64")
    agg = agg[~(stall_line > agg["last_line"].astype("float64").to_numpy())]
    held = ctx.get("oom_lock")
    held_by_boot = held.groupby("boot")["held_s"].max() if held is not None else pd.Series()
    held_max = [held_by_boot.get(b, pd.NA) for b in agg.index]
    rows: list[Row] = []
    for boot, r in zip(agg.index, _records(agg.assign(held=held_max)), strict=True):
        within = f", each within {r['gap']:.2f} s of its header" if not pd.isna(r["gap"]) else ""
        held_txt = f"; oom_lock held at most {r['held']:.2f} s" if not pd.isna(r["held"]) else ""
        one = r["n"] == 1
        rows.append(
            _row(
                "oom_resolved",
                "info",
                boot,
                f"{r['n']} {r['kinds']} OOM kill(s) "
                f"{_when(r['ts_min'], r['kill_ts_max'], r['first_line'], r['last_line'])}"
                f"{within}{held_txt}; {r['reaped']} victim(s) reaped, "
                f"and no allocation stall was reported afterwards.",
                [r["first_line"], r["last_line"]],
                ts=r["ts_min"],
                pid=r["victim_pid"] if one else pd.NA,
                comm=r["victim_comm"] if one else pd.NA,
            )
        )
    return rows


def _last_stall_line(ctx: _Ctx) -> pd.Series:
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


def _drop_repeats(df: pd.DataFrame) -> pd.DataFrame:
    """An episode-level "OOM killer never invoked" says less than a kmallocwd counter or victim
    finding of the same episode (a victim means it was invoked before): keep the latter."""
    if "src" not in df:
        return df
    counter = df["kind"].isin(
        ["no_oom_progress", "oom_livelock", "nofs_cannot_oom", "victim_not_exiting"]
    )
    counter &= df["src"].isna()
    covered = set(zip(df.loc[counter, "boot"], df.loc[counter, "episode"], strict=True))
    generic = (df["src"] == "episode").fillna(False).astype(bool)
    dup = generic & pd.Series(
        [(b, e) in covered for b, e in zip(df["boot"], df["episode"], strict=True)],
        index=df.index,
    )
    return df[~dup]


_DELAY = re.compile(r"vmstat_update\(delay=(\d+)\)")


def _vmstat_note(ctx: _Ctx, boot: Any, line: Any) -> str:
    """`vmstat_update` pending on its workqueue after `line` (until the next kill): reclaim then
    decides on stale counters and keeps looping instead of declaring OOM (the 2016 4.4 stall
    behind 373ccbe59270, fixed by making kworkers sleep in wait_iff_congested)."""
    wq = ctx.vmstat_pending()
    if wq is None or line is None or pd.isna(line):
        return ""
    kills = ctx.kills_by_boot().get(_int(boot), _NONE)
    after = kills[kills > line]
    stop = float(after[0]) if len(after) else np.inf
    sel = wq[(wq["boot"] == boot) & (wq["line_no"] >= line) & (wq["line_no"] < stop)]
    if not len(sel):
        return ""
    delays = [int(d) for p in sel["pending"] for d in _DELAY.findall(str(p))]
    biggest = f" (delay up to {max(delays)})" if delays else ""
    return (
        f"; vmstat_update stayed pending on its workqueue in {len(sel)} dump(s){biggest}"
        f"{_busy_pool(ctx, sel.iloc[-1])}, so the vmstat counters reclaim decides on were stale "
        f"(line {int(sel['line_no'].iloc[0])})"
    )


def _busy_pool(ctx: _Ctx, row: pd.Series) -> str:
    """The in-flight works of the pool the pending vmstat_update waits on (same dump, same
    pwq), and whether their workers are themselves stalling in an allocation: a worker that
    loops without sleeping keeps the pool from running anything else."""
    wq = ctx.get("workqueues")
    if wq is None:
        return ""
    same = wq[(wq["event_id"] == row["event_id"]) & (wq["pwq"] == row["pwq"])]
    same = same[same["n_in_flight"].fillna(0).astype("int64").to_numpy() > 0]
    if not len(same):
        return ""
    works = ", ".join(dict.fromkeys(str(x) for x in same["in_flight"].dropna()))
    text = f" behind in-flight {works} on the same pool"
    pids = {int(p) for x in same["in_flight_pids"].dropna() for p in str(x).split(",") if p}
    mem = ctx.get("memalloc")
    if mem is not None and pids:
        m = mem[(mem["boot"] == row["boot"]) & mem["pid"].isin(pids)]
        m = m[m["stalling"].astype("boolean").fillna(False).to_numpy(bool)].drop_duplicates("pid")
        for r in _records(m):
            gfp = r["gfp_flags"] if not pd.isna(r["gfp_flags"]) else f"gfp=0x{int(r['gfp_mask']):x}"
            text += f", whose worker {r['comm']}({r['pid']}) is stalling in an allocation ({gfp})"
    return text


_LOCKUP_REACH = 500  # lines from a lockup report to the NMI backtraces it triggers


def _kswapd_hung(ctx: _Ctx) -> list[Row]:
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
            _row(
                "kswapd_blocked",
                "critical" if len(g) > 1 else "warning",
                boot,
                f"{first['comm']}({_int(pid)}) was reported hung {len(g)} time(s) (first at "
                f"{_ts(first['ts'])}): blocked in D state{how} without a context switch, so "
                f"background reclaim has stopped.",
                g["line_no"],
                ts=first["ts"],
                pid=pid,
                comm=first["comm"],
            )
        )
    return rows


RULES = (
    _scan_runs,
    _victims,
    _stack_rules,
    _kswapd_hung,
    _nofs,
    _episode_rules,
    _printk_flood,
    _oom_lock_rules,
    _holder_in_lockup,
    _memcg_no_killable,
    _oom_resolved_outside,
)


def findings(tables: dict[str, pd.DataFrame], results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The `findings` table from parsed tables and the other analysis tables (`results`)."""
    ctx = _Ctx(tables, results)
    rows = [r for rule in RULES for r in rule(ctx)]
    for r in rows:
        if r["kind"] == "no_oom_progress":
            r["summary"] = r["summary"][:-1] + _vmstat_note(ctx, r["boot"], r["first_line"]) + "."
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in _DTYPES.items()})
    df = pd.DataFrame(rows)
    for c in _COLUMNS:
        if c not in df:
            df[c] = pd.NA
    df["boot"] = df["boot"].astype("Int64")
    df["first_line"] = df["first_line"].astype("Int64")
    ep = ctx.episode_of(df["boot"], df["first_line"])
    df["episode"] = df["episode"].astype("Int64").fillna(ep)
    df = _drop_repeats(df)
    df = df.sort_values(["boot", "first_line"], kind="stable", na_position="last")
    df["finding"] = range(len(df))
    return df[_COLUMNS].astype(_DTYPES).reset_index(drop=True)
