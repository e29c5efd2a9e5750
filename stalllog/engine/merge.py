"""Parse inputs independently (each part numbered from 0) and merge the parts into the tables of
one parse over all of them, in input order.

One `parse(a, b)` numbers `boot`, `event_id` and every per-family id (`oom_id`, `stack_id`, ...)
globally in input order; `line_no` is per source. A part is one source parsed by `iter_part()`
on a fresh line stage and dispatcher: since every source starts a new boot and the dispatcher
closes all blocks at the end of a source, nothing of one source depends on another except
those counters. `merge()` shifts each part's ids by the counts of the parts before it, then
builds what needs all parts: the post-steps (gfp decoding, oom_explain, the analysis) run once
on the merged tables.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stalllog.engine.bootstats import BootStats
from stalllog.engine.capture import LINES_ARROW, source_batches
from stalllog.engine.dispatch import Dispatcher
from stalllog.engine.gcwindow import gen_with_fewer_collections
from stalllog.engine.registry import families_or_all
from stalllog.engine.schema import SOURCES
from stalllog.engine.spill import Spill
from stalllog.engine.steps import run_steps
from stalllog.engine.trim import release_memory
from stalllog.input.clock import Clock
from stalllog.input.lines import LineStage
from stalllog.input.reader import SourceLike, open_source
from stalllog.parsers import Family
from stalllog.parsers.base import Context, written_tables

# What each id column numbers: the dispatcher's event ids, its `next_id(kind)` counters, or
# the line stage's boots. A column ending in `_id` that is not here cannot be merged.
ID_KINDS: dict[str, str] = {
    "event_id": "event",
    "kill_event_id": "event",
    "workqueue_dump_id": "event",  # the event_id of the workqueue dump
    "oom_id": "oom",
    "stack_id": "stack",
    "blocker_stack_id": "stack",
    "meminfo_id": "meminfo",
    "snapshot_id": "meminfo",
    "scan_id": "memalloc_scan",
    "header_scan_id": "memalloc_scan",
    "dump_id": "dump",
    "boot": "boot",
}


@dataclass
class Part:
    """One source parsed alone: its tables before the post-steps, numbered from 0."""

    tables: dict[str, pa.Table]  # family tables, `events`, `boots`
    source: dict[str, Any]  # its `sources` row
    counters: dict[str, int]  # ids used per kind (event ids under "event")
    last_boot: int  # the line stage's last boot number, -1 when it saw no chunk at all


@dataclass
class Offsets:
    """What to add to each kind of id of one part."""

    by_kind: dict[str, int] = field(default_factory=dict)

    def table(self, t: pa.Table | pa.RecordBatch) -> Any:
        """`t` with its id columns shifted (nulls stay null)."""
        for name in t.column_names:
            shift = self.by_kind.get(ID_KINDS.get(name, ""), 0)
            if shift:
                i = t.schema.get_field_index(name)
                col = pc.add(t.column(i), pa.scalar(shift, t.schema.field(i).type))
                t = t.set_column(i, t.schema.field(i), col)
        return t


def unknown_id_columns(families: list[Family] | None = None) -> list[str]:
    """`table.column` of id columns merge() cannot renumber (a plug-in family's own ids)."""
    out = []
    for family in families_or_all(families):
        for t in [*family.tables, *written_tables(family)]:
            out += [f"{t.name}.{c.name}" for c in t.columns
                    if c.name.endswith("_id") and c.name not in ID_KINDS]  # fmt: skip
    return sorted(set(out))


def iter_part(
    src: SourceLike,
    families: list[Family] | None = None,
    max_bytes: int | None = None,
    name: str | None = None,
    clock: Clock | None = None,
    spill: Spill | None = None,
) -> Iterator[pa.RecordBatch | Part]:
    """Yield the source's `lines` batches (event_id added), then its Part: the one-source
    case of capture.iter_parse, stopping before the post-steps. name: the `source` to record
    (default: the path, or the file object's name). clock: the zone and year given. spill:
    where family rows wait (engine/spill.py); the part's tables then map its files."""
    return gen_with_fewer_collections(_iter_part(src, families, max_bytes, name, clock, spill))


def _iter_part(
    src: SourceLike,
    families: list[Family] | None,
    max_bytes: int | None,
    name: str | None,
    clock: Clock | None,
    spill: Spill | None,
) -> Generator[pa.RecordBatch | Part, None, None]:
    dispatcher = Dispatcher(families_or_all(families), spill=spill)
    stage = LineStage(clock=Clock(clock.tz, clock.year) if clock else Clock())
    stats = BootStats()
    opened = open_source(src, name)
    opened.max_bytes = max_bytes
    source = yield from source_batches(opened, stage, dispatcher, stats)
    tables = dispatcher.family_tables()
    tables["events"] = dispatcher.events_table()
    tables["boots"] = stats.table(tables)
    counters = {**dispatcher._counters, "event": dispatcher.next_event_id}
    yield Part(tables, source, counters, stage.boots.boot)


Opener = Callable[[str, str], AbstractContextManager[Any]]  # open(), fsspec.open()


def stow(part: Part, kept: str, opener: Opener = open) -> tuple[Part, dict[str, str]]:
    """`part` without its tables, and where they went: uncompressed Arrow streams
    `kept.<table>.arrows` the merging process maps (unstow), as a `--jobs` worker or a Dask
    task hands them over: a storm's are ~1.7 GB a GiB, too big to pass between processes."""
    files = {name: f"{kept}.{name}.arrows" for name in part.tables}
    for name, t in part.tables.items():
        with opener(files[name], "wb") as sink, pa.ipc.new_stream(sink, t.schema) as w:
            w.write_table(t)
        release_memory()  # the pages of a spilled table, read to write it
    return replace(part, tables={}), files


def unstow(part: Part, files: dict[str, str], spill: Spill | None, opener: Opener = open) -> Part:
    """The part with its stowed tables: mapped into `spill` (local files), else read."""
    tables = {}
    for name, file in files.items():
        if spill is not None:
            tables[name] = spill.adopt(Path(file))
            continue
        with opener(file, "rb") as f:
            tables[name] = pa.ipc.open_stream(f).read_all()
    return replace(part, tables=tables)


def parse_part(
    src: SourceLike, families: list[Family] | None = None, max_bytes: int | None = None
) -> tuple[Part, pa.Table]:
    """The source's Part and its `lines` table (local numbering)."""
    batches: list[pa.RecordBatch] = []
    for item in iter_part(src, families, max_bytes):
        if isinstance(item, Part):
            return item, pa.Table.from_batches(batches, schema=LINES_ARROW)
        batches.append(item)
    raise AssertionError("iter_part ended without its Part")


class Numbering:
    """Gives each part in turn its shifts: the ids the parts before it used. Boots follow the
    line stage: the first source's first chunk opens boot 0 and every later source opens the
    next boot."""

    def __init__(self) -> None:
        self.used: dict[str, int] = {}
        self.boot = -1  # last boot number so far

    def shifts(self) -> Offsets:
        """The next part's shifts: they depend on the parts before it only, so its `lines`
        can be renumbered while it is still being parsed."""
        return Offsets({**self.used, "boot": self._first()})

    def advance(self, part: Part) -> None:
        """Count the ids `part` used (after taking its shifts)."""
        first = self._first()
        for kind, n in part.counters.items():
            self.used[kind] = self.used.get(kind, 0) + n
        if part.last_boot >= 0:
            self.boot = first + part.last_boot
        elif self.boot >= 0:
            self.boot = first  # a source with no chunk still opens a boot after another one

    def next(self, part: Part) -> Offsets:
        shifts = self.shifts()
        self.advance(part)
        return shifts

    def _first(self) -> int:
        return self.boot + 1 if self.boot >= 0 else 0


def offsets(parts: Sequence[Part]) -> list[Offsets]:
    numbering = Numbering()
    return [numbering.next(p) for p in parts]


def merge(
    parts: Sequence[Part],
    hz: int | None = None,
    analysis: bool = True,
    families: list[Family] | None = None,
    defer: bool = False,
) -> dict[str, pa.Table]:
    """The tables (all but `lines`/`unparsed`) of one parse over the parts' sources, in the
    order capture.iter_parse gives them; the post-steps run here, once. defer: leave the
    deferred steps (the analysis) out, as iter_parse(defer=True) does."""
    if not parts:
        raise ValueError("merge() needs at least one part")
    shifts = offsets(parts)
    tables: dict[str, pa.Table] = {}
    for name in parts[0].tables:
        pieces = [o.table(p.tables[name]) for p, o in zip(parts, shifts, strict=True)]
        tables[name] = pa.concat_tables(pieces)
    families = families_or_all(families)
    tables = run_steps(tables, Context(hz=hz, analysis=analysis), families, skip_deferred=defer)
    tables["sources"] = pa.Table.from_pylist([p.source for p in parts], schema=SOURCES.arrow())
    return tables
