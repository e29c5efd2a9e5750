"""The kernel's zone watermark check, `__zone_watermark_ok()` (mm/page_alloc.c), applied to
the zone lines of a Mem-Info dump.

A zone fails an order-N request against watermark `mark` when

    free - unusable <= mark' + lowmem_reserve[highest_zoneidx of the request]

(`<=`: the zone must keep *more* than the mark), where unusable is 2^N - 1 pages, the
high-atomic reserve (4.4, 0aaa29a56e4f: subtracted unless ALLOC_HARDER/ALLOC_OOM, which an
allocation that may reclaim and reach the OOM killer does not have) and the free CMA pages
unless the allocation may use CMA (ALLOC_CMA: movable allocations; 3.10, d95ea5d18e69;
5.10 f27ce0e14088 moved these into `__zone_watermark_unusable_free()`), and mark' is the mark
halved by `__GFP_HIGH` (ALLOC_HIGH, ALLOC_MIN_RESERVE since 6.3 ab3508854353).

For order > 0 the kernel then checks the free areas, in two eras:
- up to 4.3: for each order o below N, free -= nr_free[o] << o, mark' >>= 1, fail when
  free <= mark' (the cumulative check);
- since 4.4 (97a16fc82a7c, "only enforce watermarks for order-0 allocations"): the zone
  passes when some order >= N holds a free block on a list the request may use (the
  Unmovable, Movable, Reclaimable lists; CMA with ALLOC_CMA).
The dump's `free` and marks are the zone's at print time (show_free_areas), and `min:`
includes the watermark boost since 5.0 (min_wmark_pages()).
"""

from __future__ import annotations

from typing import Any

from stalllog.kernel.gfp import Version

_PCP_TYPES = frozenset("UME")  # MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE
FREE_AREA_SINCE = (4, 4, 0)  # 97a16fc82a7c


def order0_fails(
    z: dict[str, Any], mark: str, order: int, reserve: int, page_kb: int, gfp: frozenset[str]
) -> bool | None:
    """The order-0 part of __zone_watermark_ok for zone row `z` (the `zones` table) against
    its `mark` column (`min_kb`, `low_kb`); None when a needed value is not printed."""
    free, mark_pages = _pages(z["free_kb"], page_kb), _pages(z[mark], page_kb)
    if free is None or mark_pages is None:
        return None
    return _free_left(z, free, order, page_kb, gfp) <= _mark(mark_pages, gfp) + reserve


def free_area_fails(
    z: dict[str, Any],
    buddy: list[dict[str, Any]],
    order: int,
    page_kb: int,
    gfp: frozenset[str],
    version: Version | None,
) -> bool | None:
    """The order > 0 part: None when the buddy line or the era is not known well enough."""
    counts = {b["order"]: b for b in buddy if b["count"] is not None}
    if order == 0:
        return False
    if not counts:
        return None
    new = not _any_usable_block(counts, order, gfp)
    free, mark_pages = _pages(z["free_kb"], page_kb), _pages(z["min_kb"], page_kb)
    old = None
    if free is not None and mark_pages is not None and all(o in counts for o in range(order)):
        # up to 4.3 no high-atomic reserve, and CMA only in the order-0 comparison
        left, mark = free - ((1 << order) - 1), _mark(mark_pages, gfp)
        old = False
        for o in range(order):
            left -= counts[o]["count"] << o
            mark >>= 1
            old = old or left <= mark
    if version is not None:
        return old if version < FREE_AREA_SINCE else new
    return new if new == old else None


def _any_usable_block(counts: dict[int, dict[str, Any]], order: int, gfp: frozenset[str]) -> bool:
    usable = _PCP_TYPES | ({"C"} if "__GFP_MOVABLE" in gfp else set())
    for o, b in counts.items():
        if o < order or not b["count"]:
            continue
        types = b.get("types")
        if types is None or set(types) & usable:  # no type letters printed: any block
            return True
    return False


def _pages(kb: int | None, page_kb: int) -> int | None:
    return None if kb is None else kb // page_kb


def _free_left(z: dict[str, Any], free: int, order: int, page_kb: int, gfp: frozenset[str]) -> int:
    """free - __zone_watermark_unusable_free(): the request's own 2^order - 1 pages, the
    high-atomic reserve and, for an allocation that may not use CMA, the free CMA pages
    (each only where the dump prints it)."""
    left = free - ((1 << order) - 1)
    left -= _pages(z.get("reserved_highatomic_kb"), page_kb) or 0
    if "__GFP_MOVABLE" not in gfp:
        left -= _pages(z.get("free_cma_kb"), page_kb) or 0
    return left


def _mark(mark: int, gfp: frozenset[str]) -> int:
    return mark - mark // 2 if "__GFP_HIGH" in gfp else mark
