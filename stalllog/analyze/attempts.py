"""Which reports of a task belong to the same allocation attempt, and the runs that split it.

See the stalls.py docstring: kmallocwd seq, warn_alloc and seqless kmallocwd start times,
hung tasks and task dumps joining the nearest attempt of the same task; runs split at
stalling=0 scans, and (without an attempt id) at gaps longer than the episode gap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .timeline import sort_rows

# attempt ids: s<seq> kmallocwd seq; w/W warn_alloc; m/M kmallocwd lines without seq
ATTEMPT_IDS = r"^[swWmM]"
_SAME_START_S = 5.0


def _start_attempts(w: pd.DataFrame, began: pd.Series, stall: pd.Series, prefix: str) -> pd.Series:
    """Attempt ids (prefix + 1, 2, ...) of reports that carry a stall age, per (boot, task).

    Where the start (report time - age) is known, reports of one allocation share it: a new
    attempt starts when it moves by more than _SAME_START_S (this also separates tasks of the
    same comm when the pid was not printed). Elsewhere, a drop in the age starts a new attempt.
    Unknown-start ids get the prefix upper-cased."""
    b = pd.to_numeric(began, errors="coerce").astype(float)
    timed = b.notna()
    aid = pd.Series(pd.NA, index=w.index, dtype="string")
    if timed.any():
        t = w[timed].assign(b=b[timed]).sort_values(["boot", "key", "b"], kind="stable")
        prev = t.groupby(["boot", "key"], sort=False)["b"].shift()
        new = (prev.isna() | ((t["b"] - prev) > _SAME_START_S)).astype(int)
        n = new.groupby([t["boot"], t["key"]]).cumsum()
        aid[t.index] = prefix + n.astype(str)
    if (~timed).any():
        u = w[~timed].assign(_st=stall[~timed]).sort_values(["boot", "key", "line"], kind="stable")
        prev = u.groupby(["boot", "key"], sort=False)["_st"].shift()
        new = (prev.isna() | (u["_st"] <= prev)).fillna(True).astype(int)
        n = new.groupby([u["boot"], u["key"]]).cumsum()
        aid[u.index] = prefix.upper() + n.astype(str)
    return aid


def _join_unattributed(ev: pd.DataFrame) -> pd.DataFrame:
    """Hung-task and task-dump reports take the attempt of the same task reported nearest."""
    na = ev["aid"].isna()
    if not na.any():
        return ev
    todo = ev[["boot", "key", "seg", "x", "gap"]][na.to_numpy()].reset_index()
    k = _known_of(ev, (~na & (ev["aid"] != "kswapd")).to_numpy(bool), todo)
    if len(k):
        t = todo.dropna(subset=["x"]).sort_values("x")
        k = k.astype({"boot": "int64", "seg": "int64", "key": "object"})
        t = t.astype({"boot": "int64", "seg": "int64", "key": "object"})
        k["kx"] = k["x"]
        j = pd.merge_asof(t, k, on="x", by=["boot", "key", "seg"], direction="nearest")
        ok = ((j["x"] - j["kx"]).abs() <= j["gap"]).fillna(False).astype(bool) & j["aid"].notna()
        ev.loc[j.loc[ok, "index"].to_numpy(), "aid"] = j.loc[ok, "aid"].to_numpy()
    ev["aid"] = ev["aid"].fillna("-")
    return ev


def _known_of(ev: pd.DataFrame, known: np.ndarray, todo: pd.DataFrame) -> pd.DataFrame:
    """The reports with an attempt id of the tasks in `todo` (boot, key, seg, x, aid), sorted
    by x. In a storm they are a few hundred of a million: taking only them, not every
    report's columns, saved ~200 MB of temporaries at 256 MiB. The order is that of a sort of all
    the reports with an attempt id: among reports at the same x, merge_asof takes the one
    this order puts last."""
    # the same permutation as known.dropna(subset=["x"]).sort_values("x") (both nargsort)
    order = ev["x"][known].dropna().sort_values().index.to_numpy()  # ev's index is 0..n-1
    order = order[ev["key"].take(order).isin(todo["key"].unique()).to_numpy(bool)]
    return pd.DataFrame({c: ev[c].take(order) for c in ("boot", "key", "seg", "x", "aid")})


def attempt_ids(ev: pd.DataFrame) -> pd.DataFrame:
    """Evidence sorted in place by (boot, key, x, line), with `aid`: the attempt id of each
    report (ATTEMPT_IDS prefixes, "kswapd", or "-" for a report joining no attempt)."""
    # in place, as is the index reset: a copy would keep the caller's evidence beside it
    sort_rows(ev, ["boot", "key", "x", "line"])
    ev.index = pd.RangeIndex(len(ev))
    ev["aid"] = pd.Series(pd.NA, index=ev.index, dtype="string")
    is_m = (ev["source"] == "memalloc") & ev["attempt"].notna()
    ev.loc[is_m, "aid"] = "s" + ev.loc[is_m, "attempt"].astype("string")
    ev.loc[(ev["source"] == "memalloc") & ev["kswapd"].astype(bool), "aid"] = "kswapd"
    is_w = ev["source"] == "alloc_stall"
    if is_w.any():
        w = ev[is_w]
        ev.loc[is_w, "aid"] = _start_attempts(
            w, w["ts"] - w["stall_ms"] / 1000.0, w["stall_ms"], "w"
        )
    # kmallocwd generations without seq: the same start (report - delay / HZ) is the same
    # allocation; without HZ, a drop in delay starts a new one
    is_q = (ev["source"] == "memalloc") & ev["attempt"].isna() & ~ev["kswapd"].astype(bool)
    if is_q.any():
        q = ev[is_q]
        began = (q["ts"] - q["age_s"]).astype("Float64")
        ev.loc[is_q, "aid"] = _start_attempts(q, began, q["delay_jiffies"], "m")
    return _join_unattributed(ev)


def split_runs(ev: pd.DataFrame) -> pd.DataFrame:
    """Runs of each (boot, key, aid): `split` (0-based part), `rid` (run id) and `run`; sorts
    `ev` in place by (boot, key, aid, x, line)."""
    sort_rows(ev, ["boot", "key", "aid", "x", "line"])
    ev.index = pd.RangeIndex(len(ev))
    # the attempts numbered once: grouping by three columns (two of them strings) each time
    # held ~110 MB of groupers at the peak of a 256 MiB storm's analysis
    attempt = ev.groupby(["boot", "key", "aid"], sort=False).ngroup()
    g = ev.groupby(attempt, sort=False)
    dx = g["x"].diff()
    seg_change = g["seg"].diff().fillna(0) != 0
    # the same seq, or a warn_alloc run of growing stall_ms, proves the allocation was in
    # flight all along: only reports without an attempt id are split at gaps
    proven = ev["aid"].str.match(ATTEMPT_IDS).fillna(False).astype(bool)
    brk = ((dx > ev["gap"]).fillna(False) & ~proven) | seg_change
    ev["split"] = brk.astype(int).groupby(attempt).cumsum()
    ev["rid"] = ev.groupby([attempt, ev["split"]], sort=False).ngroup()
    # warn_alloc attempts count as runs too: run = 1-based index over (aid, split) per attempt
    ev["run"] = ev["split"] + 1
    wa = ev["aid"].str.match(r"^[wWmM]").fillna(False).astype(bool)
    ev.loc[wa, "run"] = ev.loc[wa, "aid"].str.slice(1).astype(int) + ev.loc[wa, "split"]
    return ev
