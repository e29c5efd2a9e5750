"""Frame helpers and the time axis shared by `stalled_tasks` and `episodes` (see stalls.py).

Each boot is ordered by its timestamps when it has them, else by line numbers (its `clock`).
The episode gap of a boot is max(60 s, 3 x the median reporting interval); kmallocwd scans
reporting `stalling=0` (terminators) cut the boot into segments that no episode crosses.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import numpy as np
import pandas as pd

MIN_GAP_S = 60.0
# reporting intervals counted for the gap: longer ones are gaps between hangs, shorter ones
# two reports of one burst (also used live by stalllog.watch.stall)
MIN_INTERVAL_S = 0.5
MAX_INTERVAL_S = 300.0
GAP_FACTOR = 3.0


def get(tables: dict[str, pd.DataFrame], name: str) -> pd.DataFrame:
    """A parsed table, empty when the capture has none."""
    df = tables.get(name)
    return df if df is not None else pd.DataFrame()


def kernel_loss(pl: pd.DataFrame) -> pd.DataFrame:
    """The printk_loss rows that lost kernel messages: a program's messages that rsyslog or
    journald dropped (`kernel_messages` false or NA) say nothing about the kernel's output."""
    if pl.empty:
        return pl
    return pl[pl["kernel_messages"].fillna(False).astype(bool).to_numpy()]


def col(df: pd.DataFrame, c: str, dtype: str) -> pd.Series:
    """Column c as dtype, all NA when the table lacks it."""
    if c not in df.columns:
        return pd.Series(pd.NA, index=df.index, dtype=dtype)
    s = df[c]
    if dtype == "Float64":
        return pd.to_numeric(s, errors="coerce").astype("Float64")
    return s.astype(cast(Any, dtype))


def f64(s: pd.Series) -> np.ndarray:
    """Float numpy values, NaN for NA."""
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def boot_clock(tables: dict[str, pd.DataFrame]) -> pd.Series:
    """'ts' for boots with timestamps, 'line' otherwise (index: boot)."""
    b = get(tables, "boots")
    if b.empty:
        return pd.Series(dtype="string")
    has = col(b, "ts_first", "Float64").notna() & col(b, "ts_last", "Float64").notna()
    return pd.Series(
        np.where(has.to_numpy(dtype=bool), "ts", "line"), index=col(b, "boot", "Int64")
    ).astype("string")


def _report_times(tables: dict[str, pd.DataFrame]) -> list[pd.DataFrame]:
    """Repeated reports (boot, key, ts): kmallocwd scan headers, and warn_alloc and hung-task
    reports keyed by task."""
    frames: list[pd.DataFrame] = []
    sc = get(tables, "memalloc_scans")
    if not sc.empty:
        hdr = sc[sc["position"].astype("string") != "trailer"]
        frames.append(
            pd.DataFrame(
                {"boot": col(hdr, "boot", "Int64"), "key": "scan", "ts": col(hdr, "ts", "Float64")}
            )
        )
    for name in ("alloc_stalls", "hung_tasks"):
        df = get(tables, name)
        if df.empty:
            continue
        key = col(df, "pid", "Int64").astype("string").fillna(col(df, "comm", "string"))
        frames.append(
            pd.DataFrame(
                {
                    "boot": col(df, "boot", "Int64"),
                    "key": name + ":" + key.fillna("?"),
                    "ts": col(df, "ts", "Float64"),
                }
            )
        )
    return frames


def gap_by_boot(tables: dict[str, pd.DataFrame]) -> pd.Series:
    """Episode gap per boot: max(60 s, 3 x the median interval between repeated reports).

    Reports: kmallocwd scan headers, warn_alloc and hung-task reports of the same task;
    intervals over 300 s are not counted."""
    frames = _report_times(tables)
    if not frames:
        return pd.Series(dtype="Float64")
    r = pd.concat(frames, ignore_index=True).dropna(subset=["ts"])
    sort_rows(r, ["boot", "key", "ts"])
    r["d"] = r.groupby(["boot", "key"], sort=False)["ts"].diff()
    r = r[(r["d"] > MIN_INTERVAL_S) & (r["d"] <= MAX_INTERVAL_S)]
    med = r.groupby("boot")["d"].median()
    return (GAP_FACTOR * med).clip(lower=MIN_GAP_S).astype("Float64")


def terminators(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """kmallocwd scans reporting stalling=0: boot, ts, line."""
    sc = get(tables, "memalloc_scans")
    if sc.empty:
        return pd.DataFrame({"boot": pd.Series(dtype="Int64")})
    zero = (col(sc, "stalling", "Int64") == 0).fillna(False).astype(bool)
    z = sc[zero]
    return pd.DataFrame(
        {
            "boot": col(z, "boot", "Int64"),
            "ts": col(z, "ts", "Float64"),
            "line": col(z, "line_no", "Int64"),
        }
    ).reset_index(drop=True)


class Ctx(NamedTuple):
    clock: pd.Series  # boot -> "ts" / "line"
    gap: pd.Series  # boot -> episode gap (s)
    term: pd.DataFrame  # kmallocwd scans with stalling=0


_CTX_TABLES = ("boots", "memalloc_scans", "alloc_stalls", "hung_tasks")
_ctx_cache: list[tuple[tuple[object, ...], Ctx]] = []


def ctx_of(tables: dict[str, pd.DataFrame]) -> Ctx:
    """The time axis of a capture; cached for the last frames seen (stalled_tasks and episodes
    both need it)."""
    key = tuple(tables.get(n) for n in _CTX_TABLES)
    for k, ctx in _ctx_cache:
        if all(a is b for a, b in zip(k, key, strict=True)):
            return ctx
    ctx = Ctx(boot_clock(tables), gap_by_boot(tables), terminators(tables))
    _ctx_cache[:] = [(key, ctx)]
    return ctx


def xcol(df: pd.DataFrame, clock: pd.Series, ts: str, line: str) -> pd.Series:
    """Ordering position: ts in boots with timestamps, line number otherwise."""
    ts_boots = f64(pd.Series(clock.index[(clock == "ts").fillna(False).to_numpy(dtype=bool)]))
    use_ts = np.isin(f64(df["boot"]), ts_boots)
    return pd.Series(np.where(use_ts, f64(df[ts]), f64(df[line])), index=df.index)


def segment(df: pd.DataFrame, x: pd.Series, term: pd.DataFrame, clock: pd.Series) -> pd.Series:
    """Number of stalling=0 scans of the same boot before each row."""
    seg = pd.Series(0, index=df.index, dtype="int64")
    if term.empty or df.empty:
        return seg
    tx = xcol(term, clock, "ts", "line")
    for boot, tb in tx.groupby(term["boot"]):
        pos = np.sort(tb.dropna().to_numpy())
        rows = (df["boot"] == boot).fillna(False).to_numpy(dtype=bool)
        if rows.any() and len(pos):
            seg[rows] = np.searchsorted(pos, x[rows].to_numpy(), side="right")
    return seg


def sort_rows(df: pd.DataFrame, keys: list[str]) -> None:
    """`df.sort_values(keys, kind="stable")` in place, one column at a time: a sorted copy of
    a storm's evidence beside the caller's doubled the analysis's peak memory."""
    pos = np.lexsort([a for k in reversed(keys) for a in _lexsort_keys(df[k])])
    index = df.index.take(pos)
    for c in df.columns:
        s = df[c]
        df[c] = s.to_numpy().take(pos) if isinstance(s.dtype, np.dtype) else s.array.take(pos)
    df.index = index


def _lexsort_keys(s: pd.Series) -> list[np.ndarray]:
    """np.lexsort keys (least significant first) ordering `s` as sort_values does, NA last.
    Numbers sort by value: sort_values' Categorical of a column of distinct times or lines
    cost more than the rest of the sort."""
    if pd.api.types.is_float_dtype(s.dtype):
        return [s.to_numpy(dtype="float64", na_value=np.nan)]  # NaN sorts last
    if pd.api.types.is_integer_dtype(s.dtype):
        return [s.to_numpy(dtype="int64", na_value=0), s.isna().to_numpy()]
    codes, uniques = pd.factorize(s, sort=True)
    return [np.where(codes < 0, len(uniques), codes)]


def fill_ts(ev: pd.DataFrame, clock: pd.Series) -> pd.DataFrame:
    """In boots with timestamps, a report without one takes the previous report's (by line).
    Sorts `ev` in place (`sort_rows`)."""
    sort_rows(ev, ["boot", "line"])
    g = ev.groupby("boot", sort=False)["ts"]
    filled = g.ffill().fillna(g.bfill())
    use = (ev["boot"].map(clock).astype("string") == "ts").fillna(False).astype(bool)
    ev["ts"] = ev["ts"].where(~use | ev["ts"].notna(), filled)
    return ev


def boot_gap(boot: pd.Series, clock: pd.Series, gap: pd.Series) -> pd.Series:
    """The episode gap of each row's boot; infinite in boots ordered by line (no time)."""
    g = boot.map(gap).astype("Float64").fillna(MIN_GAP_S)
    line = (boot.map(clock).astype("string") == "line").fillna(True).astype(bool)
    return g.astype(float).where(~line, np.inf)
