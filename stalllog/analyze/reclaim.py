"""Where the stalled tasks of each episode were stuck.

`reclaim(tables, stalled, episodes)` counts the `stalled_tasks` rows of each episode per
`stuck_in` class (`classify.STUCK_CLASSES`). Tasks reported without any trace (kmallocwd
excerpts filtered to `MemAlloc:` lines, warn_alloc reports whose trace was lost) are counted
under `stuck_in` NA. Rows are ordered by episode, then by the number of tasks (largest first),
then by class order.
"""

from __future__ import annotations

from typing import Any, cast

import pandas as pd

from .classify import STUCK_CLASSES

SCHEMA: dict[str, list[tuple[str, str, str, str]]] = {
    "reclaim": [
        ("episode", "Int64", "", "the `episodes` row"),
        ("boot", "Int64", "", "boot number"),
        ("stuck_in", "string", "", "class (STUCK_CLASSES); NA: no trace printed for the task"),
        ("stuck_detail", "string", "", "most frequent detail of the class in the episode"),
        ("n_tasks", "Int64", "tasks", "distinct tasks of the episode in this class"),
        ("n_reports", "Int64", "reports", "reports of those tasks"),
        ("n_kswapd", "Int64", "tasks", "kswapd threads among them"),
        ("pids", "string", "", "first few pids (comm when no pid), comma-joined, in order seen"),
        ("example_line", "Int64", "", "first line of the first such task's report"),
    ]
}

_MAX_PIDS = 8


def reclaim(
    tables: dict[str, pd.DataFrame], stalled: pd.DataFrame, episodes: pd.DataFrame
) -> pd.DataFrame:
    """Per episode and stuck_in class: task and report counts, a few pids, an example line."""
    cols = SCHEMA["reclaim"]
    st = stalled[stalled["episode"].notna()] if len(stalled) else stalled
    if st.empty:
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d, _, _ in cols})
    st = st.sort_values(["episode", "first_line"], kind="stable").copy()
    st["who"] = st["pid"].astype("string").fillna(st["comm"].astype("string")).fillna("?")
    st["cls"] = st["stuck_in"].astype("string").fillna("")
    g = st.groupby(["episode", "cls"], sort=False)
    out = pd.DataFrame(
        {
            "boot": g["boot"].first(),
            "n_tasks": g["who"].nunique(),
            "n_reports": g["n_reports"].sum(),
            "n_kswapd": g["kswapd"].sum(),
            "example_line": g["first_line"].first(),
        }
    )
    who = st.drop_duplicates(["episode", "cls", "who"])
    out["pids"] = who.groupby(["episode", "cls"], sort=False)["who"].agg(
        lambda v: ",".join(v.head(_MAX_PIDS))
    )
    det = st.dropna(subset=["stuck_detail"])
    if len(det):
        d = det.groupby(["episode", "cls", "stuck_detail"]).size().rename("n").reset_index()
        d = d.sort_values(["episode", "cls", "n"], ascending=[True, True, False])
        out["stuck_detail"] = d.drop_duplicates(["episode", "cls"]).set_index(["episode", "cls"])[
            "stuck_detail"
        ]
    out = out.reset_index()
    out["stuck_in"] = out["cls"].replace("", pd.NA)
    rank = {c: i for i, c in enumerate(STUCK_CLASSES)}
    out["_rank"] = out["cls"].map(rank).fillna(len(rank))
    out = out.sort_values(["episode", "n_tasks", "_rank"], ascending=[True, False, True])
    res = pd.DataFrame(index=out.index)
    for name, dtype, _, _ in cols:
        v = out[name] if name in out.columns else pd.Series(pd.NA, index=out.index)
        res[name] = v.astype(cast(Any, dtype))
    return res.reset_index(drop=True)
