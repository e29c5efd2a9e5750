"""Give the C heap's free pages back to the system: before the post-steps (steps.run_steps)
and between sources every capture.TRIM_BYTES parsed.

The line stage and the trigger scan run in threads (engine/prefetch.py), and glibc gives each
thread its own malloc arena: what was freed there stays there, where the post-steps and the
analysis (in the main thread) cannot reuse it. A 256 MiB storm peaked at 1356-1464 MB RSS with
the threads, 1199 MB without them, 1185-1199 MB with the threads and this trim. One trim costs
~30 ms in a fragmented 400 MB heap."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from stalllog.engine.spill import Spill


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    import ctypes

    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None


def release_free_memory() -> None:
    """malloc_trim(0): every arena's free pages back to the system, where there is glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _big_spills() -> list[Spill]:
    from stalllog.engine.spill import DROP_MIN_BYTES, OPEN

    return [spill for spill in OPEN if spill.mapped_bytes() >= DROP_MIN_BYTES]


def release_mapped() -> bool:
    """The pages of the family tables a big open spill mapped (engine/spill.py) go back; they
    are read again from the page cache when needed. False when there is no big spill."""
    big = _big_spills()
    for spill in big:
        spill.drop_pages()
    return bool(big)


def settle(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """Between the steps of a big parse: the big columns the last step built in the heap go
    to the spill (Spill.remap), whose pages can be dropped where the heap's would stay to the
    end; then release_memory()."""
    big = _big_spills()
    if big:
        tables = big[-1].remap(tables)
    release_memory()
    return tables


def release_memory() -> None:
    """Between the steps of a big parse: the mapped pages and the heap's free pages go back.
    A 256 MiB storm's analysis touched nearly all ~430 MB of its mapped tables and kept ~240 MB
    of freed heap between its steps."""
    if release_mapped():
        release_free_memory()
