"""Per-boot bookkeeping while the lines stream: the `boots` table."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stalllog.engine.schema import BOOTS

__all__ = ["BootStats"]


@dataclass
class BootStats:
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add(self, batch: pa.RecordBatch, source: str) -> None:
        """Fold one batch into per-boot rows; linear in the batch, however many boots it holds
        (a capture of repeated banners or clock resets has a boot every few lines)."""
        boot = batch.column("boot").to_numpy()
        if len(boot) == 0:
            return
        order = np.argsort(boot, kind="stable")  # boots usually ascend: already sorted
        boot = boot[order]
        line_no = batch.column("line_no").to_numpy()[order]
        ts: np.ndarray = batch.column("ts").to_numpy(zero_copy_only=False)[order]
        has_caller = np.asarray(pc.is_valid(batch.column("caller")).to_numpy(zero_copy_only=False))
        kind_codes, kind_names = _codes(batch.column("prefix_kind"))
        starts = np.flatnonzero(np.r_[True, boot[1:] != boot[:-1]])
        ends = np.r_[starts[1:], len(boot)]
        any_caller = np.logical_or.reduceat(has_caller[order], starts)
        valid: np.ndarray = np.flatnonzero(~np.isnan(ts))
        first_valid: list[int] = np.asarray(np.searchsorted(valid, starts)).tolist()
        last_valid: list[int] = (np.asarray(np.searchsorted(valid, ends)) - 1).tolist()
        host_of = _first_valid(batch.column("host"), order, starts, ends)
        walls = {c: _min_max(batch.column(c), order, starts) for c in ("wall", "wall_utc")}
        pairs = np.unique(boot.astype(np.int64) * len(kind_names) + kind_codes[order])
        kinds_of: dict[int, list[str]] = defaultdict(list)
        for code in pairs.tolist():
            kinds_of[code // len(kind_names)].append(kind_names[code % len(kind_names)])
        for k, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            b = int(boot[s])
            r = self.rows.setdefault(
                b,
                {"boot": b, "source": source, "line_start": int(line_no[s]), "n_lines": 0,
                 "ts_first": math.nan, "ts_last": math.nan, "has_caller": False, "kinds": set(),
                 "host": None, "wall_first": None, "wall_last": None, "wall_utc_first": None,
                 "wall_utc_last": None},
            )  # fmt: skip
            r["line_end"] = int(line_no[e - 1])
            r["n_lines"] += e - s
            if first_valid[k] <= last_valid[k]:
                if math.isnan(r["ts_first"]):
                    r["ts_first"] = float(ts[valid[first_valid[k]]])
                r["ts_last"] = float(ts[valid[last_valid[k]]])
            r["has_caller"] = r["has_caller"] or bool(any_caller[k])
            r["kinds"].update(kinds_of[b])
            if r["host"] is None and host_of is not None:
                r["host"] = host_of[k]
            for c, (lo, hi) in walls.items():
                if lo[k] != _NO_WALL:
                    first, last = r[f"{c}_first"], r[f"{c}_last"]
                    r[f"{c}_first"] = int(lo[k]) if first is None else min(first, int(lo[k]))
                    r[f"{c}_last"] = int(hi[k]) if last is None else max(last, int(hi[k]))

    def table(self, family_tables: dict[str, pa.Table]) -> pa.Table:
        empty = pa.table({})
        release = _first_per_boot(family_tables.get("banners", empty), "release")
        # Excerpts rarely hold the banner; dump_stack / hung-task headers name the release too
        # (`CPU: 1 PID: 5953 Comm: x Not tainted 4.15.0+ #222`).
        for name, t in sorted(family_tables.items()):
            if name != "banners" and "boot" in t.column_names and "release" in t.column_names:
                for b, v in _first_per_boot(t.filter(pc.is_valid(t["release"])), "release").items():
                    release.setdefault(b, v)
        cmdline = _first_per_boot(family_tables.get("cmdlines", empty), "cmdline")
        rows = []
        for b, r in sorted(self.rows.items()):
            rows.append(
                {**{k: v for k, v in r.items() if k != "kinds"},
                 "release": release.get(b), "cmdline": cmdline.get(b),
                 "prefix_kinds": ", ".join(sorted(k for k in r["kinds"] if k))}
            )  # fmt: skip
        return pa.Table.from_pylist(rows, schema=BOOTS.arrow())


_NO_WALL = np.iinfo(np.int64).max  # a boot segment without a wall clock


def _min_max(col: pa.Array, order: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per segment (`starts` of the `order`ed rows): the earliest and latest timestamp in µs,
    `_NO_WALL` in both where the segment has none."""
    us = pc.cast(col, pa.int64())
    lo = pc.fill_null(us, _NO_WALL).to_numpy()[order]
    hi = pc.fill_null(us, np.iinfo(np.int64).min).to_numpy()[order]
    lo_seg, hi_seg = np.minimum.reduceat(lo, starts), np.maximum.reduceat(hi, starts)
    return lo_seg, np.where(lo_seg == _NO_WALL, _NO_WALL, hi_seg)


def _first_valid(
    values: pa.Array, order: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> list[str | None] | None:
    """The first non-null value of each run [start, end) of `values` taken in `order`; None
    when the batch has none (most captures have no host)."""
    if values.null_count == len(values):
        return None
    is_valid = np.asarray(values.is_valid().to_numpy(zero_copy_only=False))
    valid = np.flatnonzero(is_valid[order])  # positions in `order`, not rows
    at = np.searchsorted(valid, starts)
    ok = at < len(valid)
    ok[ok] = valid[at[ok]] < ends[ok]
    picked = values.take(pa.array(order[valid[np.minimum(at, len(valid) - 1)]])).to_pylist()
    return [v if good else None for v, good in zip(picked, ok.tolist(), strict=True)]


def _codes(values: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Codes and names of a string or dictionary column, null named ""."""
    if not pa.types.is_dictionary(values.type):
        values = pc.dictionary_encode(values)
    names = [*values.dictionary.to_pylist(), ""]
    codes = pc.fill_null(values.indices, len(names) - 1).to_numpy(zero_copy_only=False)
    return codes.astype(np.int64), names


def _first_per_boot(t: pa.Table, column: str) -> dict[int, str]:
    out: dict[int, str] = {}
    if column not in t.column_names:
        return out
    for b, v in zip(t.column("boot").to_pylist(), t.column(column).to_pylist(), strict=True):
        out.setdefault(b, v)
    return out
