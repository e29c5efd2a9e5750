"""CONFIG_HZ per boot, to turn kmallocwd delays (jiffies) into seconds (see stalls.py).

HZ is inferred per boot from the same (pid, seq) seen in two scans: Δdelay_jiffies / Δts,
snapped to 100, 250, 300 or 1000 when within 10 %; else the `hz` argument; else NA.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .timeline import col, get, sort_rows

_HZ_CHOICES = np.array([100, 250, 300, 1000])
MIN_PAIR_S = 1.0  # two sightings closer than this are too short to measure a rate


def infer_hz(memalloc: pd.DataFrame) -> pd.Series:
    """HZ per boot from kmallocwd delays of the same (pid, seq) in two scans (index: boot).

    Lines without seq (P0 drafts) pair consecutive lines of a pid whose delay grew."""
    need = {"boot", "pid", "seq", "ts", "delay_jiffies"}
    if memalloc.empty or not need <= set(memalloc.columns):
        return pd.Series(dtype="Int64")
    m = pd.DataFrame(
        {
            "boot": col(memalloc, "boot", "Int64"),
            "pid": col(memalloc, "pid", "Int64"),
            # generations without seq (P0 drafts): consecutive lines of a pid whose delay grew
            "seq": col(memalloc, "seq", "Int64").fillna(-1),
            "ts": col(memalloc, "ts", "Float64"),
            "delay": col(memalloc, "delay_jiffies", "Float64"),
        }
    ).dropna()
    if m.empty:
        return pd.Series(dtype="Int64")
    sort_rows(m, ["boot", "pid", "seq", "ts"])
    g = m.groupby(["boot", "pid", "seq"], sort=False)
    dt = g["ts"].diff()
    dd = g["delay"].diff()
    # sub-second pairs are too short to measure a rate; a shrinking delay is a new request
    ok = (dt > MIN_PAIR_S) & (dd > 0)
    rate = (dd[ok] / dt[ok]).astype(float)
    if rate.empty:
        return pd.Series(dtype="Int64")
    med = rate.groupby(m.loc[rate.index, "boot"]).median()
    return med.map(snap_hz).dropna().astype("Int64")


def snap_hz(rate: float) -> int | None:
    """A measured jiffies-per-second rate snapped to a CONFIG_HZ within 10 %, else None."""
    snap = int(_HZ_CHOICES[np.abs(_HZ_CHOICES - rate).argmin()])
    return snap if abs(snap - rate) <= 0.1 * snap else None


def hz_by_boot(tables: dict[str, pd.DataFrame], hz: int | None) -> tuple[pd.Series, pd.Series]:
    """HZ used per boot and where it came from ("inferred", "argument" or NA); index: boot.

    An inferred HZ wins over the argument: it is what this boot's kernel actually counted."""
    inferred = infer_hz(get(tables, "memalloc"))
    boots = get(tables, "boots")
    boot_ids = col(boots, "boot", "Int64") if not boots.empty else pd.Series(dtype="Int64")
    hz_used = pd.Series(pd.NA, index=boot_ids, dtype="Int64")
    hz_src = pd.Series(pd.NA, index=boot_ids, dtype="string")
    if hz is not None:
        hz_used[:] = hz
        hz_src[:] = "argument"
    hz_used.update(inferred)
    hz_src[hz_src.index.isin(inferred.index)] = "inferred"
    return hz_used.astype("Int64"), hz_src
