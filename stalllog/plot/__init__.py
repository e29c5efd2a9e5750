"""Figures of a parsed capture (matplotlib, imported only here).

>>> import stalllog, stalllog.plot
>>> cap = stalllog.parse("console.log.xz")
>>> fig = stalllog.plot.timeline(cap)  # or cap.tables, or any dict of the tables
>>> fig.savefig("timeline.png")

Every function takes a `Capture` (or its tables by name), draws into `ax=` when given (else a
new `matplotlib.figure.Figure`, not pyplot's: nothing is shown and no display is needed), and
returns the Figure. `boot=` chooses one boot. A capture without the data a plot needs gives a
figure saying so ("no OOM kills in this capture"), or `NoData` with `strict=True`. Process
names and cgroup paths are shown literally (`$...$` is not typeset, control characters are
escaped).

This package is imported only by those who plot: `stalllog --help` does not load matplotlib.
"""

from __future__ import annotations

from collections.abc import Callable

from matplotlib.figure import Figure

from .bars import reclaim_classes, task_stalls, victims_rss
from .common import NoData, Tables
from .memory import memory
from .timeline import timeline

# `stalllog plot --kind NAME`
KINDS: dict[str, Callable[..., Figure]] = {
    "timeline": timeline,
    "memory": memory,
    "task_stalls": task_stalls,
    "reclaim_classes": reclaim_classes,
    "victims_rss": victims_rss,
}

__all__ = [
    "KINDS",
    "NoData",
    "Tables",
    "memory",
    "reclaim_classes",
    "task_stalls",
    "timeline",
    "victims_rss",
]
