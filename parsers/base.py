"""The plug-in interface every message family implements.

A family is one module in `parsers/` defining a subclass of `Family`:

* `triggers`: literal substrings; only lines containing one of them are offered to `start`
  (the dispatcher checks all families' triggers in one vectorized pass per chunk);
* `pattern`: a compiled pattern (`re` or `regex`) searched in those lines' text; named groups
  become fields;
* `start(line, match, sink)`: returns a `Block` (or None to decline);
* `tables`: the schemas of the tables the family owns (documented in docs/tables.md);
* `parts`: the shared report parts (`SubParser` classes: call trace, Mem-Info, task lines,
  memcg) its blocks compose; each part declares the tables it writes, so a family works alone
  (`parse(..., families=[OomFamily()])`);
* `priority`: families are offered a line in (priority, name) order; lower first;
* `glued(line, event_id, sink)`: only for a family whose marker can be glued in front of
  another record (the console drop marker); the default declines;
* `post(tables, context)`: a post-step over the finished tables (e.g. jiffies → seconds once HZ
  is known); the default returns them unchanged.

Third-party families register a `Family` subclass in the `stalllog.families` entry-point group.

A `Block` gets every following line of its stream (its caller id when the boot has caller ids,
else the whole console) through `feed` until it answers `Feed.END`. `Feed.SKIP` means "not mine,
but my block goes on" (an interleaved foreign line; the block is then marked corrupted). When
the block ends (naturally, at end of input, or because another block started in its stream),
`finish(cut)` is called; it writes the family's rows with `self.row(...)`. The dispatcher writes
the `events` row from the block's attributes. Families share report parts (`SubParser`s) through
`parts`, never each other's blocks.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, NamedTuple, Protocol, TypeVar, cast

import pyarrow as pa
import regex


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: pa.DataType
    unit: str  # "" when the value has no unit
    meaning: str


@dataclass(frozen=True, slots=True)
class TableSchema:
    name: str
    doc: str
    columns: tuple[Column, ...]

    def arrow(self) -> pa.Schema:
        return pa.schema([(c.name, c.type) for c in self.columns])


class Line(NamedTuple):
    """One logical line as families see it (a physical line with embedded newlines, from
    /dev/kmsg `\\x0a` or rsyslog `#012`, is offered as several Lines with the same line_no).

    Immutable; a NamedTuple, not a frozen dataclass: one is made per visited line, and a
    frozen dataclass's `__init__` (one `object.__setattr__` per field) cost 3x as much."""

    source: str
    line_no: int
    boot: int
    ts: float  # seconds since boot; NaN when the line has no timestamp
    caller: str | None  # "T123" / "C2" (CONFIG_PRINTK_CALLER), else None
    level: int | None  # 0..7 when the transport kept it
    text: str  # message without prefix
    dropped: int  # console lost this many messages right before this line (0: none)


class Feed(enum.Enum):
    TAKE = "take"  # the line belongs to the block
    SKIP = "skip"  # not the block's line, but the block goes on (interleaving)
    END = "end"  # not the block's line; the block is over


class Sink(Protocol):
    """Where blocks put their output; implemented by the dispatcher."""

    def row(self, table: str, values: dict[str, Any]) -> None:
        """Append one row to a family table (unknown column names raise KeyError).

        The dict may still be updated by its family (e.g. an oom_reaper line completing an
        oom_events row) until 2,000 more rows were added to the same table; older rows are
        moved to Arrow to keep memory flat on big captures."""

    def next_id(self, kind: str) -> int:
        """Capture-wide counter per kind ("stack", "dump", "meminfo", ...), from 0."""
        ...


class Problems(list[str]):
    """What went wrong in one record, joined into its `reason`. Past MAX entries the rest are
    only counted, in one last entry: a hostile capture can make a problem per line, and the
    reason is rebuilt as lines arrive."""

    MAX = 100

    def __init__(self, items: Iterable[str] = ()) -> None:
        super().__init__()
        self.more = 0
        self.extend(items)

    def append(self, problem: str) -> None:
        if self.more == 0 and len(self) < self.MAX:
            super().append(problem)
            return
        self.more += 1
        note = f"{self.more} more problem(s)"
        if self.more == 1:
            super().append(note)
        else:
            self[-1] = note

    def extend(self, problems: Iterable[str]) -> None:
        for problem in problems:
            self.append(problem)


class Block:
    """An open block of one family. Subclasses set `kind` and override `feed`/`finish`."""

    kind: ClassVar[str] = "block"
    multiline: ClassVar[bool] = True  # False: the block is the start line alone

    def __init__(self, first: Line, event_id: int, sink: Sink) -> None:
        self.first = first
        self.event_id = event_id
        self._sink = sink
        self.last_line_no = first.line_no
        self.n_lines = 1
        self.problems = Problems()  # each makes the event `corrupted`, joined into `reason`
        self.complete = not self.multiline  # set True once every required part was seen
        self.pid: int | None = None
        self.comm: str | None = None
        self.ts: float = first.ts

    def feed(self, line: Line) -> Feed:
        return Feed.END

    def finish(self, cut: str | None) -> None:
        """Write the family's rows. `cut` says why the block ended early, or None when `feed`
        ended it. The default marks an incomplete block cut early; override and call super."""
        if cut is not None and not self.complete:
            self.problems.append(f"incomplete: {cut}")

    def row(self, table: str, **values: Any) -> None:
        """Add one row to a family table; event_id is filled in."""
        self.add_row(table, values)

    def add_row(self, table: str, values: dict[str, Any]) -> None:
        """`row` with the values as a dict, handed over as it is (no copy: hot writers build
        their own). A block whose rows carry another event_id overrides this, not `row`."""
        values.setdefault("event_id", self.event_id)
        self._sink.row(table, values)

    def next_id(self, kind: str) -> int:
        return self._sink.next_id(kind)


class SubParser:
    """A nested part of a block (call trace, Mem-Info, task table, memcg stats) parsed on
    behalf of the block that owns it; its rows carry the owner's event_id.

    The owner creates it on the part's first line (after checking the part's `starts`
    predicate), then routes each following line to `feed` first: TAKE = consumed, END = the
    part is over and the owner must handle this line itself, SKIP = foreign line inside the
    part. The owner calls `finish(cut)` when the part ends or the block is cut."""

    tables: ClassVar[tuple[TableSchema, ...]] = ()  # the tables this part writes
    parts: ClassVar[tuple[type[SubParser], ...]] = ()  # the parts it composes in turn

    def __init__(self, owner: Block, first: Line) -> None:
        self.owner = owner
        self.first = first
        self.problems: list[str] = []  # the owner adds these to its own problems

    def feed(self, line: Line) -> Feed:
        return Feed.END

    def finish(self, cut: str | None) -> None:
        """Write rows (via self.owner.row) and leave any problem in self.problems."""


class Family:
    name: ClassVar[str]
    triggers: ClassVar[tuple[str, ...]]
    pattern: ClassVar[re.Pattern[str] | regex.Pattern[str]]
    tables: ClassVar[tuple[TableSchema, ...]] = ()
    parts: ClassVar[tuple[type[SubParser], ...]] = ()
    priority: ClassVar[int] = 100

    def start(self, line: Line, match: Any, event_id: int, sink: Sink) -> Block | None:
        raise NotImplementedError

    def glued(self, line: Line, event_id: int, sink: Sink) -> Block | None:
        """A record of this family glued in front of `line`'s text; None: not this family's."""
        return None

    def seq_gap(self, line: Line, count: int, event_id: int, sink: Sink) -> Block | None:
        """`count` /dev/kmsg records are missing right before `line` (its sequence number
        jumped); None: not this family's business. The line is not claimed by this."""
        return None

    def post(self, tables: dict[str, pa.Table], context: Context) -> dict[str, pa.Table]:
        """Adjust the finished tables (all families' tables, read-only for other families)."""
        return tables


@dataclass(frozen=True, slots=True)
class Context:
    """What the user told the parse that the log does not say."""

    hz: int | None = None  # CONFIG_HZ
    analysis: bool = True  # run the analyzers (stalllog.analyze) as a post-step


def written_tables(family: Family) -> tuple[TableSchema, ...]:
    """The tables a family writes: its own, then its parts' (each once, in declaration order)."""
    seen: dict[str, TableSchema] = {t.name: t for t in family.tables}
    todo = list(family.parts)
    while todo:
        part = todo.pop(0)
        for schema in part.tables:
            seen.setdefault(schema.name, schema)
        todo.extend(part.parts)
    return tuple(seen.values())


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class TextMemo(Protocol[T_co]):
    cached: Any  # the lru_cache (cache_info, cache_clear)
    longest: int

    def __call__(self, text: str) -> T_co: ...


def text_memo(maxsize: int, longest: int = 512) -> Callable[[Callable[[str], T]], TextMemo[T]]:
    """Decorator: `fn(text)` of one line's text memoized (lru_cache) for texts of up to
    `longest` characters: frames and task lines repeat by the thousand in a storm, while a
    hostile input's cut 4 MiB lines must not stay in memory by the thousand."""

    def wrap(fn: Callable[[str], T]) -> TextMemo[T]:
        cached = lru_cache(maxsize)(fn)

        def call(text: str) -> T:  # a closure: a third of the cost of an object's __call__
            return cached(text) if len(text) <= longest else fn(text)

        memo = cast(TextMemo[T], call)
        memo.cached, memo.longest = cached, longest
        return memo

    return wrap


_DECIMAL = re.compile(r"[+-]?[0-9]+")


def to_int(text: str | None) -> int | None:
    """A decimal number as printed, or None when the text is not one (`--156`, `12x`, ``,
    `1_000`): a mangled field never raises. Too big for its column is caught where rows
    become Arrow (stalllog.engine.checked), which nulls the value and names it."""
    if text is None or len(text) > 4000:
        return None  # past 4300 digits int() refuses (sys.get_int_max_str_digits)
    if text.isdigit() and text.isascii():  # the common case, without the pattern
        return int(text)
    return int(text) if _DECIMAL.fullmatch(text) else None


def col(name: str, type_: pa.DataType, unit: str, meaning: str) -> Column:
    return Column(name, type_, unit, meaning)


# `comm cpuset=/ mems_allowed=0` (oom and warn_alloc headers). comm ends at the first
# " cpuset=" (atomic: a lazy `.*?` retried every later one, quadratic on a hostile line).
CPUSET_LINE = re.compile(
    r"^(?P<comm>(?>(?:(?! cpuset=).)*)) cpuset=(?P<cpuset>.*) mems_allowed=(?P<mems>[\d,-]*)\s*$"
)
EVENT_ID = col("event_id", pa.int64(), "", "the event (block) this row belongs to; joins `events`")
