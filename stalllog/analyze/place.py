"""Placing timed markers (OOM events, kmallocwd scans, printk loss, panics) into episodes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .timeline import col, f64, xcol


def _assign(it: pd.DataFrame, eps: pd.DataFrame, lo: str, hi: str) -> pd.Series:
    """Episode of each item whose x lies in [eps[lo], eps[hi]] of its boot (NA otherwise).

    Episodes of a boot do not overlap: the candidate is the last one starting at or before x."""
    out = pd.Series(pd.NA, index=it.index, dtype="Int64")
    if it.empty or eps.empty:
        return out
    eb, elo, ehi = f64(eps["boot"]), f64(eps[lo]), f64(eps[hi])
    ok_e = ~np.isnan(elo)
    eb, elo, ehi = eb[ok_e], elo[ok_e], ehi[ok_e]
    eid = eps["episode"].to_numpy(dtype="int64")[ok_e]
    order = np.lexsort((elo, eb))
    eb, elo, ehi, eid = eb[order], elo[order], ehi[order], eid[order]
    ib, ix = f64(it["boot"]), f64(it["x"])
    # position among episodes sorted by (boot, lo): boots first, then x within the boot
    start = np.searchsorted(eb, ib, side="left")
    end = np.searchsorted(eb, ib, side="right")
    res = np.full(len(it), -1, dtype="int64")
    for b in np.unique(ib[~np.isnan(ib)]):
        rows = np.flatnonzero((ib == b) & ~np.isnan(ix))
        if not len(rows):
            continue
        s0, s1 = int(start[rows[0]]), int(end[rows[0]])
        if s0 == s1:
            continue
        k = np.searchsorted(elo[s0:s1], ix[rows], side="right") - 1
        hit = (k >= 0) & (ix[rows] <= ehi[s0:s1][np.clip(k, 0, None)])
        res[rows[hit]] = eid[s0:s1][k[hit]]
    found = res >= 0
    out[found] = res[found]
    return out


def items(df: pd.DataFrame, clock: pd.Series, ts: str, line: str) -> pd.DataFrame:
    """Markers as boot, ts, line, x (position on the boot's clock) and xl (line)."""
    it = pd.DataFrame(
        {
            "boot": col(df, "boot", "Int64"),
            "ts": col(df, ts, "Float64"),
            "line": col(df, line, "Int64"),
        },
    )
    it["x"] = xcol(it, clock, "ts", "line")
    # a marker without its own time (console drop) is placed by line
    it["xl"] = it["line"].astype(float)
    return it


def place(
    it: pd.DataFrame, eps: pd.DataFrame, lo_x: str, hi_x: str, hi_line: str = "l1"
) -> pd.Series:
    """Episode by x (time or line), falling back to the line window when x is missing."""
    a = _assign(it, eps, lo_x, hi_x)
    miss = it[a.isna() & it["x"].isna()]
    if len(miss):
        b = _assign(miss.assign(x=miss["xl"]), eps, "l0", hi_line)
        a[b.dropna().index] = b.dropna()
    return a
