"""What every plot shares: reading tables from a Capture or a dict, choosing a boot, placing
markers on a boot's clock, text labels made inert, and the figure to draw into."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from stalllog.analyze.classify import STUCK_CLASSES

if TYPE_CHECKING:
    from stalllog.engine.capture import Capture

# A `stalllog.Capture`, or its tables by name (`cap.tables`, or any dict of DataFrames).
Tables = Union["Capture", Mapping[str, pd.DataFrame]]

FIGSIZE = (9.0, 4.8)  # inches; the gallery saves at 100 dpi
LABEL_MAX = 40  # characters of a name shown on an axis


NO_TRACE = "no trace printed"  # a stalled task whose stuck_in is NA
# one color per stuck_in class, the same in every plot
_CLASS_COLORS = [f"C{i}" for i in range(10)] + ["#393b79", "#637939"]


def class_color(stuck_in: str) -> str:
    if stuck_in in STUCK_CLASSES:
        return _CLASS_COLORS[STUCK_CLASSES.index(stuck_in) % len(_CLASS_COLORS)]
    return "#bbbbbb"


class NoData(ValueError):
    """The capture lacks what a plot needs (the message says what, e.g. "no OOM kills in this
    capture"). Raised with `strict=True`; otherwise the figure shows the message."""


def table(data: Tables, name: str) -> pd.DataFrame:
    """Table `name`, empty when the capture has none (a Capture parsed without analysis)."""
    try:
        df = data[name]
    except KeyError:
        return pd.DataFrame()
    # a Capture parsed with ts="timedelta": the figures place everything in seconds
    durations = [str(c) for c, t in df.dtypes.items() if str(t).startswith("duration")]
    if durations:
        df = df.assign(**{c: df[c].dt.total_seconds() for c in durations})
    return df.reset_index(drop=True)


def floats(df: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64 with NaN for NA (absent column: all NaN)."""
    if column not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[column], errors="coerce").astype("float64").to_numpy(na_value=np.nan)


def of_boot(df: pd.DataFrame, boot: int | None) -> pd.DataFrame:
    if boot is None or df.empty or "boot" not in df.columns:
        return df
    return df[floats(df, "boot") == boot].reset_index(drop=True)


def busiest_boot(frames: list[pd.DataFrame]) -> int | None:
    """The boot with the most rows over `frames` (the lowest on a tie); None when empty."""
    boots = [floats(f, "boot") for f in frames if not f.empty and "boot" in f.columns]
    values = np.concatenate(boots) if boots else np.array([])
    values = values[~np.isnan(values)].astype("int64")
    if not len(values):
        return None
    counts = np.bincount(values - values.min())
    return int(values.min() + counts.argmax())


def label(value: Any, limit: int = LABEL_MAX) -> str:
    """Untrusted text (a comm, a cgroup path) as a matplotlib label shown literally: control
    and format characters as `\\x1b`-style escapes (one line, no bidi tricks), cut to `limit`
    characters, and `$` escaped so that `$\\frac{a}{b}$` is not typeset as mathtext."""
    text = "?" if value is None or value is pd.NA else str(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() or c == " " else _escaped(c) for c in text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _escaped(c: str) -> str:
    n = ord(c)
    if n < 0x100:
        return f"\\x{n:02x}"
    return f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def task_name(comm: Any, pid: Any) -> str:
    """`comm(pid)`, or the comm alone when no pid was printed."""
    shown = label(comm, LABEL_MAX - 10)
    return shown if pid is None or pid is pd.NA or pd.isna(pid) else f"{shown}({int(pid)})"


def figure_for(ax: Axes | None, figsize: tuple[float, float] = FIGSIZE) -> tuple[Figure, Axes]:
    """Draw into `ax` when given, else into a new Figure (not pyplot's: nothing is shown, no
    backend or display is needed, and a notebook displays it once, as the value returned)."""
    if ax is not None:
        fig = ax.figure
        return (fig if isinstance(fig, Figure) else fig.figure), ax  # a SubFigure's root
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def where(boot: int | None) -> str:
    """`in this capture`, or `in boot N` when one boot was asked for."""
    return "in this capture" if boot is None else f"in boot {boot}"


def no_data(ax: Axes, message: str, strict: bool) -> None:
    """Raise NoData(message) when strict, else say it in the middle of the empty axes."""
    if strict:
        raise NoData(message)
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", fontsize=12)


class Clock:
    """Where markers go on the x axis of one boot: seconds since boot, or line numbers when
    the boot has no timestamps. A marker without its own time (a console drop marker) gets
    one interpolated from the timed blocks around its line (`events`)."""

    def __init__(self, events: pd.DataFrame, timed_items: list[np.ndarray]) -> None:
        known = np.concatenate([t[~np.isnan(t)] for t in timed_items] or [np.array([])])
        ev_ts = floats(events, "ts")
        self.by_line = not len(known) and not (~np.isnan(ev_ts)).any()
        ok = ~np.isnan(ev_ts) & ~np.isnan(floats(events, "line_start"))
        order = np.argsort(floats(events, "line_start")[ok], kind="stable")
        self._lines = floats(events, "line_start")[ok][order]
        self._ts = ev_ts[ok][order]

    @property
    def xlabel(self) -> str:
        if self.by_line:
            return "line number (this boot has no timestamps)"
        return "seconds since boot"

    def x(self, ts: np.ndarray, line: np.ndarray) -> np.ndarray:
        """x of markers with time `ts` (NaN: unknown) printed at line `line`."""
        if self.by_line:
            return line.astype("float64")
        out = ts.astype("float64").copy()
        miss = np.isnan(out) & ~np.isnan(line)
        if miss.any() and len(self._lines):
            out[miss] = np.interp(line[miss], self._lines, self._ts)
        return out
