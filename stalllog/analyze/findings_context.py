"""What every findings rule shares: the context over the tables, row building, text helpers.

`Ctx` gives the rules the parsed tables and the other analysis tables (`stack_classes`,
`stalled_tasks`, `episodes`, `oom_lock`) with cached lookups; `finding_row` builds one row of the
`findings` table (findings.py); the `fmt_*` helpers write the numbers into the summaries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from stalllog.engine.trim import release_mapped

from .oom_lock import stack_times

# gfp names (as %pGg prints them) that include __GFP_FS; GFP_NOFS, GFP_NOIO, GFP_ATOMIC and
# GFP_NOWAIT do not. GFP_IOFS: ≤4.x, GFP_TEMPORARY: ≤4.14.
_FS_NAMES = frozenset(
    {
        "__GFP_FS",
        "GFP_KERNEL",
        "GFP_KERNEL_ACCOUNT",
        "GFP_USER",
        "GFP_HIGHUSER",
        "GFP_HIGHUSER_MOVABLE",
        "GFP_TEMPORARY",
        "GFP_TRANSHUGE",
        "GFP_TRANSHUGE_LIGHT",
        "GFP_IOFS",
    }
)


_NOFS_NAMES = frozenset({"GFP_NOFS", "GFP_NOIO", "GFP_ATOMIC", "GFP_NOWAIT"})


Row = dict[str, Any]


LINE_MAX = 2**40  # line numbers stay far below; boot * 2**41 + line orders (boot, line)


NO_LINES = np.array([], dtype="int64")


def interval_of(
    boot: pd.Series,
    line: pd.Series,
    iv_boot: pd.Series,
    iv_first: pd.Series,
    iv_last: pd.Series,
    iv_value: pd.Series,
) -> pd.Series:
    """For each (boot, line), `iv_value` of the interval [iv_first, iv_last] of that boot that
    holds it (intervals of one boot do not overlap; the latest starting one is taken), else NA.
    numpy searchsorted over a combined (boot, line) key: this runs for every capture."""
    out = np.full(len(boot), -1, dtype="int64")
    found = np.zeros(len(boot), dtype=bool)
    ivb, ivf, ivl = (x.to_numpy("float64", na_value=np.nan) for x in (iv_boot, iv_first, iv_last))
    val = iv_value.to_numpy("float64", na_value=np.nan)
    ok = ~(np.isnan(ivb) | np.isnan(ivf) | np.isnan(ivl) | np.isnan(val))
    b, ln = boot.to_numpy("float64", na_value=np.nan), line.to_numpy("float64", na_value=np.nan)
    have = ~(np.isnan(b) | np.isnan(ln))
    if ok.any() and have.any():
        start = ivb[ok].astype("int64") * 2 * LINE_MAX + ivf[ok].astype("int64")
        end = ivb[ok].astype("int64") * 2 * LINE_MAX + ivl[ok].astype("int64")
        order = np.argsort(start, kind="stable")
        start, end, v = start[order], end[order], val[ok][order].astype("int64")
        key = b[have].astype("int64") * 2 * LINE_MAX + ln[have].astype("int64")
        i = np.searchsorted(start, key, "right") - 1
        hit = (i >= 0) & (key <= end[np.maximum(i, 0)])
        idx = np.flatnonzero(have)
        out[idx[hit]] = v[i[hit]]
        found[idx[hit]] = True
    return pd.Series(pd.arrays.IntegerArray(out, ~found), index=boot.index)


_RECLAIM_FUNCS = ["shrink_page_list", "shrink_folio_list", "shrink_slab", "super_cache_scan"]


def has_gfp_fs(flags: pd.Series) -> pd.Series:
    """True/False when the `|`-joined gfp names say whether `__GFP_FS` is set; NA otherwise."""
    # a storm repeats a handful of masks over many rows: judge each distinct mask once
    codes, masks = pd.factorize(flags.astype("string"))
    verdicts = [_gfp_fs_verdict(str(m).split("|")) for m in masks]
    values = pd.array([*verdicts, pd.NA], dtype="boolean")  # code -1 (missing) → NA
    return pd.Series(values.take(codes), index=flags.index, dtype="boolean")


def _gfp_fs_verdict(names: list[str]) -> bool | None:
    if _FS_NAMES.intersection(names):
        return True
    return False if _NOFS_NAMES.intersection(names) else None


def line_ranges(lines: Iterable[Any]) -> str:
    """`[12, 40, 41, 42]` → `"12,40-42"`."""
    vals = sorted({int(x) for x in lines if x is not None and not pd.isna(x)})
    parts: list[str] = []
    start = prev = None
    for v in vals:
        if prev is not None and v == prev + 1:
            prev = v
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = v
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(parts)


def known(x: Any) -> bool:
    return x is not None and not pd.isna(x) and bool(np.isfinite(float(x)))


def fmt_ts(x: Any) -> str:
    return f"{float(x):.1f} s" if known(x) else "?"


def fmt_when(t0: Any, t1: Any, l0: Any, l1: Any) -> str:
    """`from 7.1 s to 48.6 s`, or `between lines 12 and 40` for captures without stamps."""
    if known(t0) and known(t1):
        return f"from {fmt_ts(t0)} to {fmt_ts(t1)}"
    lines = sorted({int(x) for x in (l0, l1) if known(x)})
    if not lines:
        return "at an unknown point"  # a lone line whose position a cut dump lost
    if len(lines) == 1:
        return f"at line {lines[0]}"
    return f"between lines {lines[0]} and {lines[1]}"


def fmt_dur(a: Any, b: Any) -> str:
    if a is None or b is None or pd.isna(a) or pd.isna(b):
        return ""
    return f" ({float(b) - float(a):.1f} s)"


def fmt_tasks(comms: Sequence[Any], pids: Sequence[Any], limit: int = 4) -> str:
    names = [f"{c}({as_int(p)})" for c, p in zip(comms, pids, strict=True) if not pd.isna(p)]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def fmt_num(x: Any) -> str:
    if x is None or pd.isna(x):
        return "?"
    return f"{x:.0f}" if isinstance(x, float) else str(x)


def as_int(x: Any) -> int:
    return 0 if x is None or pd.isna(x) else int(x)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """`df.to_dict("records")` with str keys. Arrow columns are read with one `to_pylist`
    each: ArrowExtensionArray.__iter__ converts value by value, which dominated storms."""
    names = [str(c) for c in df.columns]
    if not len(df) or len(set(names)) < len(names):
        return [{str(k): v for k, v in r.items()} for r in df.to_dict("records")]
    values = [_arrow_values(df.iloc[:, i]) for i in range(len(names))]
    slow = [i for i, v in enumerate(values) if v is None]
    rest = df.iloc[:, slow].to_dict("records") if slow else []
    columns = [
        v if v is not None else [r[df.columns[i]] for r in rest] for i, v in enumerate(values)
    ]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _arrow_values(s: pd.Series) -> list[Any] | None:
    """The values `to_dict` gives for an Arrow column (None for nulls, as there); None for
    other dtypes and for temporal types, which pandas boxes."""
    dt = s.dtype
    if not isinstance(dt, pd.ArrowDtype) or pa.types.is_temporal(dt.pyarrow_dtype):
        return None
    values: list[Any] = s.array.__arrow_array__().to_pylist()
    return values


def finding_row(
    kind: str, severity: str, boot: Any, summary: str, lines: Iterable[Any], **kw: Any
) -> Row:
    lines = list(lines)
    return {
        "kind": kind,
        "severity": severity,
        "boot": boot,
        "summary": summary,
        "evidence_lines": line_ranges(lines),
        "first_line": min((int(x) for x in lines if not pd.isna(x)), default=None),
        **kw,
    }


def n_between(arr: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """How many of the sorted `arr` lie in [lo[i], hi[i]], for each i."""
    return np.searchsorted(arr, hi, "right") - np.searchsorted(arr, lo, "left")


def floats(s: pd.Series) -> np.ndarray:
    """A column as float64, NaN for missing values."""
    return s.to_numpy(dtype="float64", na_value=np.nan)


def lines_by_boot(df: pd.DataFrame | None, col: str, mask: Any = None) -> dict[int, np.ndarray]:
    """boot → the sorted non-null values of `col` (line numbers) in that boot."""
    if df is None:
        return {}
    sel = df if mask is None else df[np.asarray(mask, dtype=bool)]
    sel = sel[["boot", col]].dropna().astype("int64").sort_values(["boot", col])
    if sel.empty:
        return {}
    boots = sel["boot"].to_numpy()
    vals = sel[col].to_numpy()
    keys, starts = np.unique(boots, return_index=True)
    return {int(k): v for k, v in zip(keys, np.split(vals, starts[1:]), strict=True)}


class Ctx:
    def __init__(self, tables: dict[str, pd.DataFrame], results: dict[str, pd.DataFrame]):
        self.t = tables
        self.r = results
        self._reclaim_frames: dict[int, str] | None = None
        self._cache: dict[str, Any] = {}

    def get(self, name: str) -> pd.DataFrame | None:
        df = self.r.get(name)
        if df is None:
            df = self.t.get(name)
        return df if df is not None and len(df) else None

    def stack_info(self, rows: Any = None) -> pd.DataFrame | None:
        """stack_classes (the `rows` selected, when given) with boot, ts and the trace's first
        line."""
        sc = self.get("stack_classes")
        if sc is None:
            return None
        if rows is not None:
            sc = sc[rows]
            if not len(sc):
                return None
        times = stack_times(self.t)
        # a parsed capture's stack_classes already carry the line key (engine/keys.py)
        sc = sc.drop(columns=[c for c in times.columns if c != "stack_id" and c in sc])
        return sc.merge(times, on="stack_id", how="left")

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        """`make()`, computed once per findings run under `key`."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def vmstat_pending(self) -> pd.DataFrame | None:
        """Workqueue rows with `vmstat_update` pending."""
        if "vmstat" not in self._cache:
            wq = self.get("workqueues")
            if wq is not None:
                pend = wq["pending"].astype("string").fillna("")
                wq = wq[pend.str.contains("vmstat_update", regex=False).to_numpy(bool)]
            self._cache["vmstat"] = wq if wq is not None and len(wq) else None
        return self._cache["vmstat"]

    def kills_by_boot(self) -> dict[int, np.ndarray]:
        if "kills" not in self._cache:
            self._cache["kills"] = lines_by_boot(self.get("oom_events"), "kill_line_no")
        return self._cache["kills"]

    def reclaim_frames(self) -> dict[int, str]:
        """stack_id → the outermost-listed reclaim function of the trace (for "under …")."""
        if self._reclaim_frames is None:
            self._reclaim_frames = {}
            frames = self.get("frames")
            if frames is not None:
                frames = frames[["stack_id", "symbol"]]  # not every column of every frame
                f = frames[frames["symbol"].isin(_RECLAIM_FUNCS).fillna(False).to_numpy(bool)]
                f = f.assign(rank=f["symbol"].map(_RECLAIM_FUNCS.index))
                f = f.sort_values(["stack_id", "rank"]).drop_duplicates("stack_id")
                self._reclaim_frames = dict(
                    zip(f["stack_id"].astype(int), f["symbol"].astype(str), strict=True)
                )
                release_mapped()  # a storm's frames symbols
        return self._reclaim_frames

    def episode_of(self, boot: pd.Series, line: pd.Series, to_end: bool = False) -> pd.Series:
        """Episode number of each (boot, line), NA outside every episode. to_end: an episode
        that stalled to the end of the capture also owns the lines after its last report."""
        ep = self.get("episodes")
        if ep is None:
            return pd.Series(pd.NA, index=boot.index, dtype="Int64")
        last = ep["last_line"]
        if to_end and "outcome" in ep:
            open_end = (ep["outcome"] == "stalled_at_end").fillna(False).to_numpy(bool)
            last = last.where(~open_end, LINE_MAX)
        return interval_of(boot, line, ep["boot"], ep["first_line"], last, ep["episode"])
