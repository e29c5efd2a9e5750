"""`timeline`: one boot over time: tasks stalled and their delays, OOM kills, oom_lock held,
printk messages lost."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .common import Clock, Tables, busiest_boot, figure_for, floats, no_data, of_boot, table, where

STALL_COLOR, DELAY_COLOR, KILL_COLOR, LOCK_COLOR, LOSS_COLOR = "C0", "C1", "C3", "C2", "C4"


@dataclass
class _Timeline:
    boot: int | None
    clock: Clock
    stalled: pd.DataFrame  # stalled_tasks
    scans: pd.DataFrame  # memalloc_scans headers
    kills: pd.DataFrame  # oom_events with a kill line
    lock: pd.DataFrame  # oom_lock
    loss: pd.DataFrame  # printk_loss of kernel messages

    @classmethod
    def of(cls, data: Tables, boot: int | None) -> _Timeline:
        st = table(data, "stalled_tasks")
        sc = table(data, "memalloc_scans")
        if not sc.empty:
            sc = sc[sc["position"].astype("string").fillna("header").eq("header").to_numpy(bool)]
        oe = table(data, "oom_events")
        if not oe.empty:
            oe = oe[oe["kill_line_no"].notna().to_numpy(bool)]
        lock = table(data, "oom_lock")
        loss = table(data, "printk_loss")
        if not loss.empty:  # rsyslog/journald losses of programs' messages are not the kernel's
            loss = loss[loss["kernel_messages"].fillna(True).to_numpy(bool)]
        frames = [st, sc, oe, lock, loss]
        if boot is None:
            boot = busiest_boot(frames)
        st, sc, oe, lock, loss = (of_boot(f, boot) for f in frames)
        times = [floats(st, "first_ts"), floats(oe, "ts_kill"), floats(lock, "start_ts")]
        clock = Clock(of_boot(table(data, "events"), boot), [*times, floats(sc, "ts")])
        return cls(boot, clock, st, sc, oe, lock, loss)

    @property
    def empty(self) -> bool:
        return all(f.empty for f in (self.stalled, self.scans, self.kills, self.lock, self.loss))


def timeline(
    data: Tables, *, boot: int | None = None, ax: Axes | None = None, strict: bool = False
) -> Figure:
    """Tasks stalled at once (from `stalled_tasks`: each task from the estimated start of its
    stall to its last report; kmallocwd's own `stalling` counts as squares), each task's
    longest stall (right axis), OOM kills (triangles along the top), oom_lock held (shaded)
    and printk loss markers (crosses along the bottom) of one boot: `boot`, or the boot with
    the most of these. x is seconds since boot (line numbers in a boot without timestamps).
    """
    fig, ax = figure_for(ax)
    t = _Timeline.of(data, boot)
    if t.empty:
        no_data(ax, f"no stalls, OOM kills, oom_lock holders or printk loss {where(boot)}", strict)
        return fig
    handles = [*_stalls(ax, t), *_delays(ax, t)]
    if not handles:  # an OOM-only boot: the left axis counts the kills instead
        handles = _kills_so_far(ax, t)
    handles += [*_lock(ax, t), *_kills(ax, t), *_loss(ax, t)]
    ax.set_xlabel(t.clock.xlabel)
    ax.set_ylim(bottom=0)
    ax.set_title(f"Timeline of boot {t.boot}" if t.boot is not None else "Timeline", pad=14)
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncols=2,
        fontsize="small",
        frameon=False,
    )
    return fig


def _stalls(ax: Axes, t: _Timeline) -> list:
    out = []
    st = t.stalled
    if not st.empty:
        first = t.clock.x(floats(st, "first_ts"), floats(st, "first_line"))
        began = t.clock.x(floats(st, "began_ts"), np.full(len(st), np.nan))
        start = np.where(np.isnan(began), first, np.fmin(began, first))
        end = np.fmax(t.clock.x(floats(st, "last_ts"), floats(st, "last_line")), start)
        x, y = _concurrent(start, end)
        (line,) = ax.step(
            x,
            y,
            where="post",
            color=STALL_COLOR,
            marker=".",
            markersize=3,
            label=f"tasks known stalled (report spans of {len(st)} tasks)",
        )
        out.append(line)
    if not t.scans.empty:
        x = t.clock.x(floats(t.scans, "ts"), floats(t.scans, "line_no"))
        (sq,) = ax.plot(
            x,
            floats(t.scans, "stalling"),
            "s",
            color=STALL_COLOR,
            markersize=5,
            fillstyle="none",
            label="kmallocwd: tasks stalling",
        )
        out.append(sq)
    if out:
        ax.set_ylabel("tasks stalled")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        ax.set_yticks([])
    return out


def _concurrent(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step function of how many [start, end] intervals hold at each change; an interval
    that starts and ends at once still counts at that point."""
    ok = ~np.isnan(start)
    start, end = start[ok], end[ok]
    x = np.concatenate([start, end])
    step = np.concatenate([np.ones(len(start)), -np.ones(len(end))])
    order = np.lexsort((-step, x))  # at one x, starts before ends
    return x[order], np.cumsum(step[order])


def _delays(ax: Axes, t: _Timeline) -> list:
    st = t.stalled
    delay = floats(st, "max_delay_s")
    if st.empty:
        return []
    if np.isnan(delay).all():
        ax.text(
            0.01,
            0.97,
            "stall delays unknown (kmallocwd jiffies: give --hz / hz=)",
            transform=ax.transAxes,
            fontsize="small",
            va="top",
        )
        return []
    right = ax.twinx()
    x = t.clock.x(floats(st, "last_ts"), floats(st, "last_line"))
    dots = right.scatter(
        x,
        delay,
        s=12,
        color=DELAY_COLOR,
        zorder=3,
        label="longest stall of a task (s), at its last report",
    )
    right.set_ylabel("stall (s)", color=DELAY_COLOR)
    right.set_ylim(bottom=0)
    return [dots]


def _lock(ax: Axes, t: _Timeline) -> list:
    if t.lock.empty:
        return []
    start = t.clock.x(floats(t.lock, "start_ts"), floats(t.lock, "start_line"))
    end = t.clock.x(floats(t.lock, "end_ts"), floats(t.lock, "end_line"))
    ok = ~np.isnan(start) & ~np.isnan(end)
    # the edge keeps a hold of a few ms visible as a line on a long axis
    spans = ax.broken_barh(
        list(zip(start[ok], (end - start)[ok], strict=True)),
        (0, 1),
        transform=ax.get_xaxis_transform(),
        facecolor=LOCK_COLOR,
        edgecolor=LOCK_COLOR,
        alpha=0.3,
        linewidth=0.8,
        label=f"oom_lock held ({int(ok.sum())} intervals)",
    )
    return [spans]


def _kills(ax: Axes, t: _Timeline) -> list:
    if t.kills.empty:
        return []
    x = _kill_x(t)
    (marks,) = ax.plot(
        x,
        np.ones(len(x)),
        "v",
        color=KILL_COLOR,
        markersize=8 if len(x) <= 100 else 5,  # hundreds of kills: a band, not a blot
        clip_on=False,
        transform=ax.get_xaxis_transform(),
        label=f"OOM kill ({len(x)})",
    )
    return [marks]


def _kill_x(t: _Timeline) -> np.ndarray:
    ts = floats(t.kills, "ts_kill")
    ts = np.where(np.isnan(ts), floats(t.kills, "ts"), ts)
    return t.clock.x(ts, floats(t.kills, "kill_line_no"))


def _kills_so_far(ax: Axes, t: _Timeline) -> list:
    x = np.sort(_kill_x(t))
    x = x[~np.isnan(x)]
    if not len(x):
        return []
    (line,) = ax.step(
        x,
        np.arange(1, len(x) + 1),
        where="post",
        color=KILL_COLOR,
        alpha=0.6,
        label="kills so far (left axis)",
    )
    ax.set_ylabel("OOM kills so far")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return [line]


def _loss(ax: Axes, t: _Timeline) -> list:
    if t.loss.empty:
        return []
    x = t.clock.x(floats(t.loss, "ts"), floats(t.loss, "line_no"))
    count = floats(t.loss, "count")
    lost = f", {int(np.nansum(count)):,} messages" if not np.isnan(count).all() else ""
    (marks,) = ax.plot(
        x,
        np.zeros(len(x)),
        "x",
        color=LOSS_COLOR,
        markersize=8,
        clip_on=False,
        transform=ax.get_xaxis_transform(),
        label=f"printk loss ({len(x)} markers{lost})",
    )
    return [marks]
