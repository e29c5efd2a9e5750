"""The report's figures: every `stalllog.plot` kind the capture has data for, as SVG (HTML,
embedded) or PNG (Markdown, written beside it). A kind without data is left out, not shown
as an empty frame."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stalllog.report.model import Figure, figure_from_matplotlib

TITLES = {
    "timeline": "Timeline: stalled tasks, OOM kills, oom_lock held, printk loss",
    "memory": "Free memory against the watermarks, per zone",
    "task_stalls": "Longest-stalled tasks",
    "reclaim_classes": "What the stalled tasks were doing, per episode",
    "victims_rss": "OOM victims' RSS",
}


def report_figures(tables: Mapping[str, Any] | Any, fmt: str = "svg") -> list[Figure]:
    """`tables`: a `Capture` (tables converted as the plots ask for them) or its tables."""
    import matplotlib

    matplotlib.use("Agg", force=False)  # never a window: reports are made headless
    from stalllog.plot import KINDS, NoData

    out = []
    for kind, plot in KINDS.items():
        try:
            fig = plot(tables, strict=True)
        except NoData:
            continue
        out.append(figure_from_matplotlib(fig, TITLES.get(kind, kind), fmt))
    return out
