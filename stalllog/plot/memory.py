"""`memory`: free memory of each zone against its watermarks across Mem-Info snapshots."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .common import (
    Clock,
    Tables,
    busiest_boot,
    figure_for,
    floats,
    label,
    no_data,
    of_boot,
    table,
    where,
)

BELOW_MIN_COLOR = "red"


def zone_rows(data: Tables, boot: int | None) -> tuple[pd.DataFrame, int | None]:
    """`zones` rows with counters (not buddy-only) of one boot (or the boot with the most),
    with their snapshot's `boot`, `ts`, `line_start` and a `zone_key` (`Node 0 DMA32`)."""
    zones, meminfo = table(data, "zones"), table(data, "meminfo")
    if zones.empty or meminfo.empty:
        return pd.DataFrame(), None
    snap = meminfo[["snapshot_id", "boot", "ts", "line_start"]]
    # the snapshot's boot is the zone row's (a parsed capture's zones carry it too)
    z = zones.drop(columns=["boot", "source"], errors="ignore").merge(snap, on="snapshot_id")
    z = z[z["free_kb"].notna().to_numpy(bool)]
    if boot is None:
        boot = busiest_boot([z])
    z = of_boot(z, boot)
    node = z["node"].astype("Int64")
    z["zone_key"] = [
        label(zone) if pd.isna(n) else f"Node {n} {label(zone)}"
        for n, zone in zip(node, z["zone"], strict=True)
    ]
    return z, boot


def memory(
    data: Tables, *, boot: int | None = None, ax: Axes | None = None, strict: bool = False
) -> Figure:
    """Free kB of every zone (one line per node and zone) across the Mem-Info snapshots of
    one boot (`boot`, or the boot with the most snapshots), its min watermark dashed and the
    low..high band shaded in the zone's color; a red cross marks each snapshot where free
    was below min. Log scale: DMA and Normal differ by orders of magnitude. A boot with one
    snapshot gets one bar per zone instead, red where free < min."""
    fig, ax = figure_for(ax)
    z, shown_boot = zone_rows(data, boot)
    if z.empty:
        no_data(ax, f"no zone lines (Mem-Info dumps) {where(boot)}", strict)
        return fig
    n = z["snapshot_id"].nunique()
    if n == 1:
        handles = _one_snapshot(ax, z)
    else:
        events = of_boot(table(data, "events"), shown_boot)
        handles = _snapshots(ax, z, Clock(events, [floats(z, "ts")]))
    n_below = int((floats(z, "free_kb") < floats(z, "min_kb")).sum())
    handles += [
        Patch(color="gray", alpha=0.2, label="low..high watermarks"),
        Line2D(
            [],
            [],
            color=BELOW_MIN_COLOR,
            marker="x",
            linestyle="none",
            markeredgewidth=2,
            label=f"free < min ({n_below} of {len(z)})",
        ),
    ]
    ax.set_yscale("log")
    ax.set_ylabel("kB (log scale)")
    ax.set_title(
        f"Free memory per zone, {n} Mem-Info snapshot{'s' if n != 1 else ''} of boot {shown_boot}"
    )
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return fig


def _snapshots(ax: Axes, z: pd.DataFrame, clock: Clock) -> list:
    z = z.assign(x=clock.x(floats(z, "ts"), floats(z, "line_start"))).sort_values("x")
    handles = []
    for i, (key, rows) in enumerate(z.groupby("zone_key", sort=False)):
        color = f"C{i % 10}"
        x = rows["x"].to_numpy(dtype="float64")
        ax.fill_between(
            x, floats(rows, "low_kb"), floats(rows, "high_kb"), color=color, alpha=0.15, linewidth=0
        )
        ax.plot(x, floats(rows, "min_kb"), "--", color=color, alpha=0.8)
        (free,) = ax.plot(
            x, floats(rows, "free_kb"), "-o", markersize=4, color=color, label=f"{key} free"
        )
        handles.append(free)
    handles.append(Line2D([], [], color="gray", linestyle="--", label="min watermark"))
    below = z[floats(z, "free_kb") < floats(z, "min_kb")]
    ax.plot(
        below["x"],
        floats(below, "free_kb"),
        "x",
        color=BELOW_MIN_COLOR,
        markersize=9,
        markeredgewidth=2,
        zorder=4,
    )
    ax.set_xlabel(clock.xlabel)
    return handles


def _one_snapshot(ax: Axes, z: pd.DataFrame) -> list:
    """One bar of free kB per zone with its watermarks as ticks across it."""
    x = np.arange(len(z))
    free, low, high = floats(z, "free_kb"), floats(z, "low_kb"), floats(z, "high_kb")
    below = free < floats(z, "min_kb")
    colors = [BELOW_MIN_COLOR if b else "C0" for b in below]
    ax.bar(x, free, width=0.6, color=colors, alpha=0.8, label="free")
    ax.bar(x, high - low, bottom=low, width=0.9, color="gray", alpha=0.2)
    ax.plot(x, floats(z, "min_kb"), "_", color="black", markersize=30, markeredgewidth=2)
    ax.plot(x[below], free[below], "x", color=BELOW_MIN_COLOR, markersize=9, markeredgewidth=2)
    ax.set_xticks(
        x,
        list(z["zone_key"]),
        rotation=30 if len(x) > 4 else 0,
        ha="right" if len(x) > 4 else "center",
        fontsize="small",
    )
    ax.set_xlabel(f"zone (the Mem-Info dump at line {int(z['line_start'].iloc[0])})")
    return [
        Patch(color="C0", alpha=0.8, label="free (bar per zone)"),
        Line2D(
            [],
            [],
            color="black",
            marker="_",
            linestyle="none",
            markersize=14,
            markeredgewidth=2,
            label="min watermark",
        ),
    ]
