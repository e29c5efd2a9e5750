"""Bar charts: the stalled tasks, what they were doing per episode, the OOM victims' RSS."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .common import (
    NO_TRACE,
    Tables,
    class_color,
    figure_for,
    floats,
    label,
    no_data,
    of_boot,
    table,
    task_name,
    where,
)


def _boots_note(df: pd.DataFrame, boot: int | None) -> str:
    if boot is not None:
        return f" of boot {boot}"
    n = df["boot"].nunique() if "boot" in df.columns else 0
    return f" of {n} boots" if n > 1 else ""


def task_stalls(
    data: Tables,
    *,
    boot: int | None = None,
    top: int = 20,
    ax: Axes | None = None,
    strict: bool = False,
) -> Figure:
    """One bar per stalled task (`stalled_tasks` rows of a task summed over its attempts):
    its longest stall in seconds, or its number of reports when no delay is known (kmallocwd
    delays need HZ); the `top` longest, colored by what the task was doing (`stuck_in`).
    All boots unless `boot` is given."""
    fig, ax = figure_for(ax)
    st = of_boot(table(data, "stalled_tasks"), boot)
    if st.empty:
        no_data(ax, f"no stalled tasks {where(boot)}", strict)
        return fig
    tasks = _per_task(st)
    by_delay = bool(tasks["delay"].notna().any())
    value = "delay" if by_delay else "reports"
    shown = tasks.sort_values(value, ascending=False, kind="stable").head(top).iloc[::-1]
    several_boots = boot is None and tasks["boot"].nunique() > 1
    names = [
        (f"boot {b}: " if several_boots else "") + task_name(c, p)
        for c, p, b in zip(shown["comm"], shown["pid"], shown["boot"], strict=True)
    ]
    classes = sorted(set(shown["cls"]), key=lambda c: (c == NO_TRACE, c))
    y = np.arange(len(shown))
    ax.barh(y, shown[value].fillna(0), color=[class_color(c) for c in shown["cls"]])
    for i in np.flatnonzero(shown[value].isna().to_numpy()):
        # no bar to color: the class shows as a square where the bar would start
        ax.plot(0, y[i], "s", color=class_color(shown["cls"].iloc[i]), clip_on=False)
        note = f"  delay not printed ({_reports(shown['reports'].iloc[i])})"
        ax.text(0, y[i], note, va="center", fontsize="small", color="dimgray")
    ax.set_yticks(y, names, fontsize="small")
    ax.margins(x=0.05)
    ax.set_xlabel(
        "longest stall (s)"
        if by_delay
        else "reports (stall delays unknown: kmallocwd jiffies need --hz / hz=)"
    )
    more = f"the {len(shown)} longest of {len(tasks)}" if len(tasks) > len(shown) else len(tasks)
    ax.set_title(f"Stalled tasks{_boots_note(st, boot)}: {more}")
    ax.legend(
        handles=[Patch(color=class_color(c), label=label(c)) for c in classes],
        title="stuck in",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize="small",
    )
    return fig


def _per_task(st: pd.DataFrame) -> pd.DataFrame:
    """`stalled_tasks` summed per task (boot and pid, or comm without pid): longest delay,
    reports, and the class seen most."""
    st = st.assign(
        key=[
            f"{b}:{p}" if not pd.isna(p) else f"{b}:comm:{c}"
            for b, p, c in zip(st["boot"], st["pid"], st["comm"], strict=True)
        ],
        delay=floats(st, "max_delay_s"),
        reports=floats(st, "n_reports"),
        cls=st["stuck_in"].astype("string").fillna(NO_TRACE),
    )
    return st.groupby("key", sort=False).agg(
        comm=("comm", "first"),
        pid=("pid", "first"),
        boot=("boot", "first"),
        delay=("delay", "max"),
        reports=("reports", "sum"),
        cls=("cls", _most_common),
    )


def _reports(n: float) -> str:
    return "1 report" if n == 1 else f"{int(n)} reports"


def _most_common(s: pd.Series) -> str:
    return str(s.value_counts(sort=True).index[0])


def reclaim_classes(
    data: Tables, *, boot: int | None = None, ax: Axes | None = None, strict: bool = False
) -> Figure:
    """Per stall episode, its stalled tasks by what they were doing (`reclaim` table: throttled,
    direct reclaim, lock wait, ... by their traces), stacked. All boots unless `boot`."""
    fig, ax = figure_for(ax)
    rc = of_boot(table(data, "reclaim"), boot)
    if rc.empty:
        no_data(ax, f"no stall episodes {where(boot)}", strict)
        return fig
    rc = rc.assign(cls=rc["stuck_in"].astype("string").fillna(NO_TRACE))
    counts = rc.pivot_table(
        index="episode", columns="cls", values="n_tasks", aggfunc="sum", fill_value=0, observed=True
    ).sort_index()
    classes = sorted(counts.columns, key=lambda c: (c == NO_TRACE, -counts[c].sum(), c))
    eps = table(data, "episodes")
    start = dict(zip(floats(eps, "episode"), floats(eps, "start_ts"), strict=True))
    x = np.arange(len(counts))
    bottom = np.zeros(len(counts))
    for cls in classes:
        height = counts[cls].to_numpy(dtype="float64")
        ax.bar(x, height, bottom=bottom, color=class_color(cls), label=label(cls))
        bottom += height
    ticks = [
        f"#{e}" + (f"\n{start[e]:.0f} s" if not np.isnan(start.get(e, np.nan)) else "")
        for e in counts.index.astype("int64")
    ]
    pad = max(0.0, (5 - len(x)) / 2)  # a lone bar must not fill the whole width
    ax.set_xlim(-0.5 - pad, len(x) - 0.5 + pad)
    ax.set_xticks(x, ticks, fontsize="small" if len(x) < 30 else "x-small")
    ax.set_xlabel("stall episode (start: seconds since boot)")
    ax.set_ylabel("stalled tasks")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"What the stalled tasks were doing, per episode{_boots_note(rc, boot)}")
    ax.legend(title="stuck in", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return fig


RSS_PARTS = (("anon_rss_kb", "anon"), ("file_rss_kb", "file"), ("shmem_rss_kb", "shmem"))


def victims_rss(
    data: Tables,
    *,
    boot: int | None = None,
    top: int = 40,
    ax: Axes | None = None,
    strict: bool = False,
) -> Figure:
    """RSS (anon, file, shmem; MiB) of each OOM victim at its kill, labelled comm(pid) and the
    kill time, in kill order; the `top` largest when there are more. All boots unless `boot`."""
    fig, ax = figure_for(ax)
    oe = of_boot(table(data, "oom_events"), boot)
    if not oe.empty:
        oe = oe[oe["kill_line_no"].notna().to_numpy(bool)].reset_index(drop=True)
    if oe.empty:
        no_data(ax, f"no OOM kills {where(boot)}", strict)
        return fig
    parts = np.column_stack([floats(oe, c) for c, _ in RSS_PARTS]) / 1024
    total = np.nansum(parts, axis=1)
    keep = np.sort(np.argsort(-total, kind="stable")[:top])[::-1]  # kill order, top down
    ts = floats(oe, "ts_kill")
    several_boots = boot is None and oe["boot"].nunique() > 1
    names = [
        (f"boot {oe['boot'][i]}: " if several_boots else "")
        + task_name(oe["victim_comm"][i], oe["victim_pid"][i])
        + (f" at {ts[i]:.1f} s" if not np.isnan(ts[i]) else "")
        for i in keep
    ]
    y = np.arange(len(keep))
    left = np.zeros(len(keep))
    for j, (_, name) in enumerate(RSS_PARTS):
        width = np.nan_to_num(parts[keep, j])
        ax.barh(y, width, left=left, color=f"C{j}", label=name)
        left += width
    ax.set_yticks(y, names, fontsize="small" if len(y) <= 25 else "x-small")
    ax.margins(x=0.05)
    ax.set_xlabel("RSS at the kill (MiB)")
    more = f"the {len(keep)} largest of {len(oe)}" if len(oe) > len(keep) else f"{len(oe)}"
    ax.set_title(f"OOM victims{_boots_note(oe, boot)}: {more} kills")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return fig
