"""How each stall episode ended: panic, relieved_by_kill, relieved_without_kill, reboot or
stalled_at_end (first that applies; see the stalls.py docstring)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .place import items, place
from .timeline import Ctx, col, get, xcol


def _panics(tables: dict[str, pd.DataFrame], clock: pd.Series) -> pd.DataFrame:
    """OOM panics, and `Kernel panic - not syncing` lines when `unparsed` is given."""
    parts = []
    oe = get(tables, "oom_events")
    if not oe.empty and "panic" in oe.columns:
        p = oe[oe["panic"].astype("boolean").fillna(False).astype(bool)]
        it = items(p, clock, "ts_kill", "line_end")
        it["ts"] = it["ts"].fillna(col(p, "ts", "Float64"))
        parts.append(it)
    un = tables.get("unparsed")
    if un is not None and not un.empty:
        hit = un["text"].astype("string").str.startswith("Kernel panic - not syncing")
        p = un[hit.fillna(False).astype(bool)]
        parts.append(items(p, clock, "ts", "line_no"))
    if not parts:
        return pd.DataFrame(columns=["boot", "ts", "line", "x", "xl"])
    out = pd.concat(parts, ignore_index=True)
    out["x"] = xcol(out, clock, "ts", "line")
    return out


def _boot_ends(tables: dict[str, pd.DataFrame], eps: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per episode: the end of its boot on the boot's clock, and the first line of the next
    boot of the same source (NA when the capture ends with this boot)."""
    boots = get(tables, "boots")
    b = pd.DataFrame(
        {
            "boot": col(boots, "boot", "Int64"),
            "ts_last": col(boots, "ts_last", "Float64"),
            "line_end": col(boots, "line_end", "Int64"),
            "line_start": col(boots, "line_start", "Int64"),
            "source": col(boots, "source", "string"),
        }
    ).set_index("boot")
    bx_end = pd.Series(
        np.where(
            eps["clock"] == "ts",
            eps["boot"].map(b["ts_last"]).astype(float),
            eps["boot"].map(b["line_end"]).astype(float),
        ),
        index=eps.index,
    )
    nb = b.reset_index()
    nb["next_start"] = nb.groupby("source")["line_start"].shift(-1)
    return bx_end, eps["boot"].map(nb.set_index("boot")["next_start"])


def _stop_line(eps: pd.DataFrame, ctx: Ctx) -> pd.Series:
    """Line of the first stalling=0 scan after each episode's last report (same boot)."""
    stop_line = pd.Series(pd.NA, index=eps.index, dtype="Int64")
    term = ctx.term
    if not term.empty:
        t = term.assign(x=xcol(term, ctx.clock, "ts", "line"))
        t = t.dropna(subset=["x"]).astype({"boot": "int64"}).sort_values("x")
        e = eps[["episode", "boot", "x1"]].reset_index().astype({"boot": "int64"})
        j = pd.merge_asof(
            e.sort_values("x1"), t, left_on="x1", right_on="x", by="boot", direction="forward"
        ).set_index("index")
        stop_line[j.index] = j["line"].astype("Int64")
    return stop_line


def _panic_line(
    tables: dict[str, pd.DataFrame],
    eps: pd.DataFrame,
    clock: pd.Series,
    bx_end: pd.Series,
    last_in_boot: pd.Series,
) -> pd.Series | None:
    """First panic after each episode started, up to the gap after its last report (the boot's
    end for the last episode of a boot); None without any panic in the capture."""
    pan = _panics(tables, clock)
    if not len(pan):
        return None
    after_end = pd.concat([eps["after"], bx_end.where(last_in_boot)], axis=1).max(axis=1)
    win = eps.assign(_pe=after_end)
    p = place(pan, win, "x0", "_pe")
    first_p = pan.assign(ep=p).dropna(subset=["ep"]).sort_values("line").groupby("ep")["line"]
    return eps["episode"].map(first_p.first())


def outcome(tables: dict[str, pd.DataFrame], eps: pd.DataFrame, ctx: Ctx) -> None:
    """Set eps `outcome` and `outcome_line` (eps needs x0, x1, l1, gap, after, kill_line)."""
    bx_end, next_start = _boot_ends(tables, eps)
    stop_line = _stop_line(eps, ctx)
    # stalls stopped: a stalling=0 scan after the episode, or the log goes on past the gap
    last_in_boot = eps.groupby("boot")["x0"].transform("max") == eps["x0"]
    went_on = (bx_end - eps["x1"]) > eps["gap"]
    kill_line = eps["kill_line"].astype("Int64")
    stopped = stop_line.notna() | ~last_in_boot | went_on
    # without timestamps: a kill after the last report, and nothing stalls after it
    stopped |= (eps["clock"] == "line") & (kill_line > eps["l1"]).fillna(False)

    # later assignments win: the order below is the reverse of precedence
    out = pd.Series("stalled_at_end", index=eps.index, dtype="string")
    line = eps["l1"].astype("Int64").copy()
    reboot = ~stopped & next_start.notna()
    out[reboot] = "reboot"
    line[reboot] = next_start[reboot].astype("Int64")
    rel = stopped & kill_line.isna()
    out[rel] = "relieved_without_kill"
    line[rel] = stop_line[rel].fillna(eps.loc[rel, "l1"].astype("Int64"))
    byk = stopped & kill_line.notna()
    out[byk] = "relieved_by_kill"
    line[byk] = kill_line[byk]
    pl = _panic_line(tables, eps, ctx.clock, bx_end, last_in_boot)
    if pl is not None:
        has = pl.notna()
        out[has] = "panic"
        line[has] = pl[has].astype("Int64")
    eps["outcome"] = out
    eps["outcome_line"] = line
