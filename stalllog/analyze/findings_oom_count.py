"""Findings from the kmallocwd counters (ANALYSIS.md §2.4) and from OOM victims that do not exit.

Consecutive kmallocwd scans of one boot say, by how `oom_count`, `victim`, `dying` and `exiting`
move while tasks stall: `no_oom_progress` (frozen counter; 2015 headers: quiet), `oom_livelock`
(rising with a victim, or with an exiting task) or `nofs_cannot_oom`. `victim_not_exiting` comes
from the counters, from `oom_reaper: unable to reap` and from victims kmallocwd keeps listing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from stalllog.engine.trim import release_mapped

from .findings_context import (
    NO_LINES,
    Ctx,
    Row,
    as_int,
    finding_row,
    fmt_dur,
    fmt_ts,
    has_gfp_fs,
    lines_by_boot,
    n_between,
    records,
)
from .timeline import sort_rows

VICTIM_STUCK_S = 10.0  # F1/F3: two snapshots ≥10 s apart
# the memalloc_scans columns _step_kind, _scan_finding and _rise_summary read
_STEP_COLUMNS = ["ts", "line_no", "stalling", "victim", "dying", "exiting", "oom_count"]


def _step_kind(b: list[dict[str, Any]], i: int, ev: dict[str, Any]) -> str:
    """What scans i → i+1 of one boot say (§2.4): frozen, livelock, exiting, nofs, quiet or ''."""
    r0, r1 = b[i], b[i + 1]
    if not (r0["stalling"] > 0 and r1["stalling"] > 0):
        return ""
    lo, hi = int(r0["line_no"]), int(r1["line_no"])
    if ev["n_kills"][i]:
        return ""
    v0, v1 = as_int(r0["victim"]), as_int(r1["victim"])
    c0, c1 = r0["oom_count"], r1["oom_count"]
    if pd.isna(c0) or pd.isna(c1):
        # headers without oom_count (2015 drafts): no OOM message, nobody dying or a victim
        quiet = v0 == v1 == 0 and as_int(r0["dying"]) == as_int(r1["dying"]) == 0
        return "quiet" if quiet and not ev["n_headers"][i] else ""
    if c1 == c0:
        return "frozen"
    if c1 < c0:
        return ""  # wrapped or another boot's counter
    if v0 >= 1 and v1 >= 1:
        return "livelock"
    if ev["n_headers"][i]:
        return ""
    fs = ev["gfp_fs"]  # (line, has_fs) of stalling MemAlloc lines, by line
    # a slice, not a mask over the boot's every MemAlloc line per step (quadratic in storms)
    here = fs[np.searchsorted(fs[:, 0], lo, "left") : np.searchsorted(fs[:, 0], hi, "right")]
    if len(here) and not here[:, 1].any():
        return "nofs"
    if as_int(r0["exiting"]) >= 1 and as_int(r1["exiting"]) >= 1:
        return "exiting"
    return ""


def _count_between(ev: dict[str, Any], lines: list[int]) -> None:
    """Kill lines and OOM headers between each two consecutive scans, for `_step_kind`: one
    searchsorted per boot, not two per step."""
    lo, hi = np.asarray(lines[:-1], dtype="int64"), np.asarray(lines[1:], dtype="int64")
    for name in ("kills", "headers"):
        ev[f"n_{name}"] = n_between(ev[name], lo, hi).tolist()


def _gfp_fs_by_boot(mem: pd.DataFrame | None) -> dict[int, np.ndarray]:
    """boot → `(line, has __GFP_FS)` rows of the stalling MemAlloc lines whose mask tells."""
    gfp_fs: dict[int, np.ndarray] = {}
    if mem is not None:
        stalling = mem["stalling"].astype("boolean").fillna(False).to_numpy(bool)
        # each distinct mask judged over the whole column: a filtered copy of a storm's
        # gfp_flags cost ~100 MB
        verdict = has_gfp_fs(mem["gfp_flags"])
        m = pd.DataFrame({"boot": mem["boot"], "line_no": mem["line_no"], "fs": verdict})
        m = m[stalling]
        m = m.dropna(subset=["fs", "boot", "line_no"])
        release_mapped()
        for bt, g in m.groupby("boot"):
            fs = np.column_stack(
                [g["line_no"].astype("int64").to_numpy(), g["fs"].astype(bool).to_numpy()]
            ).astype("int64")
            gfp_fs[as_int(bt)] = fs[np.argsort(fs[:, 0], kind="stable")]  # _step_kind slices
    return gfp_fs


def _runs(steps: list[str]) -> list[tuple[str, int, int]]:
    """`(kind, first, last)` step index of every run of equal non-empty step kinds."""
    out: list[tuple[str, int, int]] = []
    i = 0
    while i < len(steps):
        kind = steps[i]
        if not kind:
            i += 1
            continue
        j = i
        while j + 1 < len(steps) and steps[j + 1] == kind:
            j += 1
        out.append((kind, i, j))
        i = j + 1
    return out


def scan_runs(ctx: Ctx) -> list[Row]:
    """One finding per run of scans saying the same (`_step_kind`), plus stuck victims."""
    scans = ctx.get("memalloc_scans")
    if scans is None:
        return []
    s = scans[scans["position"].astype("string").fillna("header") != "trailer"]
    s = s.dropna(subset=["stalling", "boot", "line_no"])
    sort_rows(s, ["boot", "line_no"])
    if len(s) < 2:
        return []
    oom = ctx.get("oom_events")
    gfp_fs = _gfp_fs_by_boot(ctx.get("memalloc"))
    rows: list[Row] = []
    kills = lines_by_boot(oom, "kill_line_no")
    headers = lines_by_boot(oom, "line_start", oom["ts"].notna() if oom is not None else None)
    kill_rows = _kill_rows(oom)
    sysrq_f = _sysrq_f_by_boot(ctx.get("sysrq"))
    kill_cols = ["ts_kill", "victim_comm", "victim_pid"]
    kill_recs = records(oom[kill_cols]) if oom is not None and kill_rows else []
    for boot, b in s.groupby("boot", sort=True):
        b = b.reset_index(drop=True)
        ev = {
            "kills": kills.get(as_int(boot), NO_LINES),
            "headers": headers.get(as_int(boot), NO_LINES),
            "gfp_fs": gfp_fs.get(as_int(boot), np.zeros((0, 2), dtype="int64")),
            "kill_rows": kill_rows,
            "sysrq_f": sysrq_f.get(as_int(boot)),
            "kill_recs": kill_recs,
        }
        # row dicts of the columns the steps read: pandas row access per finding dominated
        # storms, and every column's to_dict nearly as much
        recs = records(b[_STEP_COLUMNS])
        _count_between(ev, [int(r["line_no"]) for r in recs])
        steps = [_step_kind(recs, i, ev) for i in range(len(b) - 1)]
        for kind, i, j in _runs(steps):
            row = _scan_finding(kind, boot, recs[i], recs[j + 1], j - i + 2, ev)
            if kind == "frozen":
                row["summary"] = row["summary"][:-1] + _holder_note(
                    ctx.get("oom_lock"), boot, recs[i]["line_no"], recs[j + 1]["line_no"]
                )
            rows.append(row)
        rows.extend(_scan_victims(boot, b, ev, oom))
    return rows


def _kill_rows(oom: pd.DataFrame | None) -> dict[tuple[int, int], int]:
    """(boot, kill line) → position of the first oom_events row with that kill line."""
    if oom is None:
        return {}
    k = oom[["boot", "kill_line_no"]].reset_index(drop=True).dropna().astype("int64")
    k = k.drop_duplicates(keep="first")
    return {(b, ln): int(i) for b, ln, i in zip(k["boot"], k["kill_line_no"], k.index, strict=True)}


def _sysrq_f_by_boot(sysrq: pd.DataFrame | None) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """boot → (line numbers, ts) of its SysRq-f lines, in line order."""
    if sysrq is None or "key" not in sysrq:
        return {}
    f = sysrq[(sysrq["key"] == "f").fillna(False).to_numpy(bool)]
    f = f.dropna(subset=["boot", "line_no"]).sort_values(["boot", "line_no"], kind="stable")
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for bt, g in f.groupby("boot", sort=True):
        ts = g["ts"].astype("float64").to_numpy(na_value=np.nan)
        out[as_int(bt)] = (g["line_no"].astype("int64").to_numpy(), ts)
    return out


def _scan_finding(
    kind: str, boot: Any, a: dict[str, Any], z: dict[str, Any], n: int, ev: dict[str, Any]
) -> Row:
    """The finding of a run of `n` scans from `a` to `z` whose steps all say `kind`."""
    ts_a, ts_z = a["ts"], z["ts"]
    sa, sz = as_int(a["stalling"]), as_int(z["stalling"])
    stalling = f"{sa}" if sa == sz else f"{sa}→{sz}"
    lines = [a["line_no"], z["line_no"]]
    when = f"from {fmt_ts(ts_a)} to {fmt_ts(ts_z)}{fmt_dur(ts_a, ts_z)}"
    if kind not in ("frozen", "quiet"):
        what, sev, summary = _rise_summary(kind, a, z, when, stalling)
        return finding_row(what, sev, boot, summary, lines, ts=ts_a)
    span = float(ts_z) - float(ts_a) if not (pd.isna(ts_a) or pd.isna(ts_z)) else np.nan
    sev = "warning" if span < 60 else "critical"
    what = (
        f"oom_count stayed at {z['oom_count']} over {n} kmallocwd scans"
        if kind == "frozen"
        else f"{n} kmallocwd scans reported stalling tasks with dying=0 victim=0 and no OOM "
        f"message in between"
    )
    vic = (
        f"; victim={as_int(z['victim'])} throughout: an earlier OOM victim has not exited"
        if as_int(a["victim"]) >= 1 and as_int(z["victim"]) >= 1
        else ""
    )
    end = _what_ended(int(z["line_no"]), ev)
    if end:
        lines.append(end[1])
    return finding_row(
        "no_oom_progress",
        sev,
        boot,
        f"{what} {when} while {stalling} tasks were stalling: no allocation reached "
        f"out_of_memory(), so reclaim never gave up{vic}{end[0] if end else ''}.",
        lines,
        ts=ts_a,
    )


def _rise_summary(
    kind: str, a: dict[str, Any], z: dict[str, Any], when: str, stalling: str
) -> tuple[str, str, str]:
    """(finding kind, severity, summary) of oom_count rising without a kill: `livelock`,
    `exiting` or `nofs` (see `_step_kind`)."""
    ca, cz = a["oom_count"], z["oom_count"]
    if kind == "livelock":
        return (
            "oom_livelock",
            "critical",
            f"oom_count rose from {ca} to {cz} (+{cz - ca} calls) {when} with "
            f"victim={as_int(z['victim'])} and no kill line: out_of_memory() keeps returning "
            f"without a kill while the existing victim does not exit (OOM livelock); {stalling} "
            f"tasks stalling.",
        )
    if kind == "exiting":
        return (
            "oom_livelock",
            "critical",
            f"oom_count rose from {ca} to {cz} (+{cz - ca} calls) {when} with victim=0, "
            f"exiting={as_int(z['exiting'])} and no OOM message: out_of_memory() keeps waiting "
            f"for an exiting task instead of killing (task_will_free_mem / OOM_SCAN_ABORT); "
            f"{stalling} tasks stalling.",
        )
    return (
        "nofs_cannot_oom",
        "warning",
        f"oom_count rose from {ca} to {cz} {when} with victim=0 and no OOM header, and every "
        f"stalling MemAlloc line lacks __GFP_FS: out_of_memory() returns without killing for "
        f"!__GFP_FS requests (v4.7+, 3da88fb3bacf); {stalling} tasks stalling.",
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


def _what_ended(line: int, ev: dict[str, Any]) -> tuple[str, int] | None:
    """The OOM header or SysRq-f that came after a quiet stretch, if any."""
    cands: list[tuple[int, str]] = []
    h = ev["headers"][ev["headers"] > line]
    if len(h):
        cands.append((int(h[0]), f"; the next OOM header is at line {int(h[0])}"))
    if ev["sysrq_f"] is not None:
        f_lines, f_ts = ev["sysrq_f"]
        k = int(np.searchsorted(f_lines, line, "right"))
        if k < len(f_lines):
            cands.append((int(f_lines[k]), f"; it ended with SysRq-f at {fmt_ts(f_ts[k])}"))
    if not cands:
        return None
    first = min(cands)
    return first[1], first[0]


def _scan_victims(
    boot: Any, b: pd.DataFrame, ev: dict[str, Any], oom: pd.DataFrame | None
) -> list[Row]:
    """victim ≥ 1 in scans ≥10 s apart with no kill line between them: the victim does not exit
    (F3). The last kill before them names it when the capture has it."""
    v = b[b["victim"].fillna(0) >= 1].dropna(subset=["ts"])
    if len(v) == 0:
        return []
    rows: list[Row] = []
    line_no = v["line_no"].astype("int64").to_numpy()
    ts = v["ts"].astype("float64").to_numpy()
    kill_ts = (
        oom["ts_kill"].astype("float64").to_numpy(na_value=np.nan) if oom is not None else None
    )
    last_of = records(v[["victim", "dying", "ts", "stalling"]])
    # split at kill lines: a new kill means a new victim
    seg = np.searchsorted(ev["kills"], line_no, "left")
    for k in np.unique(seg):
        at = np.flatnonzero(seg == k)
        kill_line = int(ev["kills"][k - 1]) if k >= 1 else None
        pos = None
        if kill_line is not None and kill_ts is not None:
            pos = ev["kill_rows"].get((as_int(boot), kill_line))
        t0 = kill_ts[pos] if pos is not None and kill_ts is not None else ts[at[0]]
        span = float(ts[at[-1]]) - float(t0)
        if not span >= VICTIM_STUCK_S:
            continue
        kill = ev["kill_recs"][pos] if pos is not None else None
        rows.append(_victim_row(boot, last_of[at[-1]], kill, kill_line, t0, span, line_no[at]))
    return rows


def _victim_row(
    boot: Any, last: dict[str, Any], kill: dict[str, Any] | None, kill_line: int | None,
    t0: Any, span: float, lines: np.ndarray,
) -> Row:  # fmt: skip
    """The `victim_not_exiting` finding of scans `lines`, the last one `last`."""
    if kill is not None:
        t0 = kill["ts_kill"]
        victim = f"{kill['victim_comm']}({as_int(kill['victim_pid'])})"
        who = f"the OOM victim {victim} killed at {fmt_ts(t0)}"
        pid, comm = kill["victim_pid"], kill["victim_comm"]
    else:
        who = f"an OOM victim (counted since the scan at {fmt_ts(t0)})"
        pid, comm = pd.NA, pd.NA
    return finding_row(
        "victim_not_exiting",
        "critical" if span >= 60 else "warning",
        boot,
        f"{who} has not exited {span:.0f} s later: kmallocwd still counts victim="
        f"{as_int(last['victim'])} dying={as_int(last['dying'])} at "
        f"{fmt_ts(last['ts'])} with {as_int(last['stalling'])} tasks stalling and no new "
        f"kill.",
        [*([kill_line] if kill_line else []), *lines.tolist()],
        ts=t0,
        pid=pid,
        comm=comm,
    )


def victims(ctx: Ctx) -> list[Row]:
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
                finding_row(
                    "victim_not_exiting",
                    sev,
                    boot,
                    f"oom_reaper could not reap {g['victim_comm'].iloc[0]}({as_int(pid)}) "
                    f"{len(g)} time(s) (first at {fmt_ts(g['reap_ts'].iloc[0])}): its mmap lock "
                    f"is held by a blocked thread, so the victim cannot exit {tail}.",
                    [*g["kill_line_no"], *g["reap_line_no"]],
                    ts=g["reap_ts"].iloc[0],
                    pid=pid,
                    comm=g["victim_comm"].iloc[0],
                )
            )
    mem = ctx.get("memalloc")
    if mem is not None and "victim" in mem:
        victim = mem["victim"].astype("boolean").fillna(False).to_numpy(bool)
        # the five columns read, then the rows: not a take of every memalloc column
        v = mem[["boot", "pid", "comm", "ts", "line_no"]][victim].dropna(subset=["ts"])
        for (boot, pid), g in v.groupby(["boot", "pid"], sort=True):
            span = float(g["ts"].max() - g["ts"].min())
            if span < VICTIM_STUCK_S:
                continue
            rows.append(
                finding_row(
                    "victim_not_exiting",
                    "critical",
                    boot,
                    f"OOM victim {g['comm'].iloc[0]}({as_int(pid)}) is still listed by kmallocwd "
                    f"{span:.0f} s after it was first seen ({len(g)} reports): it does not exit.",
                    g["line_no"],
                    ts=g["ts"].min(),
                    pid=pid,
                    comm=g["comm"].iloc[0],
                )
            )
    return rows
