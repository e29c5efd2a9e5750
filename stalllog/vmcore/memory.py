"""Tables `vmcore_zones`, `vmcore_vmstat` and `vmcore_memcg` from the collector's document.

`below_min`/`below_low` are the order-0 part of `__zone_watermark_ok()` as
stalllog/analyze/watermark.py applies it to a Mem-Info dump, here on the zone's own counters:
`free - free CMA <= mark + boost + lowmem_reserve[classzone]` (`min_wmark_pages()` includes
the boost since 5.0), for an allocation without `__GFP_HIGH` that may not use CMA and whose
highest zone is the node's highest populated zone (GFP_KERNEL, GFP_HIGHUSER_MOVABLE without a
movable zone). The high-atomic reserve is not in the document and is not subtracted.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from stalllog.analyze.explain import ZONE_ORDER, reserve_pages
from stalllog.analyze.watermark import order0_fails
from stalllog.vmcore.document import as_int, as_list, as_str
from stalllog.vmcore.tasks import typed

__all__ = ["memcg_table", "vmstat_table", "zones_table"]

_PAGE_KB = 1  # the marks are compared in pages: one "kB" per page


def _zone(z: dict[str, Any]) -> dict[str, Any]:
    reserve = [as_int(v) for v in as_list(z.get("lowmem_reserve"))]
    return {
        "node": as_int(z.get("node")),
        "zone": as_str(z.get("zone")),
        "free_pages": as_int(z.get("free_pages")),
        "min": as_int(z.get("min")),
        "low": as_int(z.get("low")),
        "high": as_int(z.get("high")),
        "boost": as_int(z.get("boost")),
        "lowmem_reserve": None if None in reserve else f"[{', '.join(map(str, reserve))}]",
        "_reserve": None if None in reserve else reserve,
        "present_pages": as_int(z.get("present_pages")),
        "managed_pages": as_int(z.get("managed_pages")),
        "spanned_pages": as_int(z.get("spanned_pages")),
        "nr_free_cma": as_int(z.get("nr_free_cma")),
    }


def _below(z: dict[str, Any], mark: str) -> bool | None:
    """order0_fails() on the zone in pages; None when a value it needs is unknown."""
    if z[mark] is None or z["reserve_pages"] is None:
        return None
    kb = {
        "free_kb": z["free_pages"],
        "mark_kb": z[mark] + (z["boost"] or 0),
        "free_cma_kb": z["nr_free_cma"],
    }
    return order0_fails(kb, "mark_kb", 0, z["reserve_pages"], _PAGE_KB, frozenset())


def zones_table(doc: dict[str, Any]) -> pd.DataFrame:
    rows = [_zone(z) for z in as_list(doc.get("zones")) if isinstance(z, dict)]
    for z in rows:
        node = [r["zone"] for r in rows if r["node"] == z["node"] and r["zone"] in ZONE_ORDER]
        top = max(node, key=ZONE_ORDER.index) if node else None
        z["reserve_pages"] = (
            reserve_pages(z["_reserve"], node, top) if top and z["_reserve"] else None
        )
        z["below_min"], z["below_low"] = _below(z, "min"), _below(z, "low")
    return typed(rows, "vmcore_zones")


def vmstat_table(doc: dict[str, Any]) -> pd.DataFrame:
    stats = doc.get("vmstat")
    items = stats.items() if isinstance(stats, dict) else []
    rows = [{"name": str(k), "value": as_int(v)} for k, v in items]
    return typed(rows, "vmcore_vmstat")


def memcg_table(doc: dict[str, Any], tasks: pd.DataFrame) -> pd.DataFrame:
    counts = tasks["memcg"].value_counts() if len(tasks) else pd.Series(dtype="Int64")
    rows = []
    for m in as_list(doc.get("memcg")):
        if not isinstance(m, dict):
            continue
        path = as_str(m.get("path"))
        rows.append({
            "path": path,
            "usage_pages": as_int(m.get("usage_pages")),
            "limit_pages": as_int(m.get("limit_pages")),
            "oom_kill": as_int(m.get("oom_kill")),
            "n_tasks": int(counts.get(path, 0)) if path is not None else None,
        })  # fmt: skip
    return typed(rows, "vmcore_memcg")
