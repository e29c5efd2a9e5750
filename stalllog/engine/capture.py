"""`parse()` and `Capture`: the whole pipeline, streaming, with tables as pandas DataFrames."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from stalllog.engine.bootstats import BootStats
from stalllog.engine.dispatch import Dispatcher
from stalllog.engine.gcwindow import gen_with_fewer_collections
from stalllog.engine.keys import add_keys, missing_as_null
from stalllog.engine.prefetch import prefetched
from stalllog.engine.registry import families_or_all
from stalllog.engine.schema import LINES, SOURCES, UNPARSED
from stalllog.engine.spill import Spill
from stalllog.engine.steps import Step, deferred_steps, run_steps
from stalllog.engine.timecols import check_ts, ts_as_timedelta
from stalllog.engine.trim import release_free_memory
from stalllog.engine.views import view
from stalllog.engine.window import matching_rows, np_bool
from stalllog.input.clock import Clock, check_tz, check_year
from stalllog.input.lines import LineStage
from stalllog.input.live import epipe_note
from stalllog.input.paths import expand
from stalllog.input.reader import (
    CaptureError,
    Chunk,
    OpenedSource,
    SourceLike,
    iter_chunks,
    open_source,
)
from stalllog.input.repair import Repaired, repair, restore_quotes, scan, unquote
from stalllog.input.structured import StructuredStage, sniff, whole_head
from stalllog.parsers import Family
from stalllog.parsers.base import Context

Progress = Callable[[str, int, int | None], None]  # (source, bytes read so far, total or None)


def plain(t: pa.Table | pa.RecordBatch) -> pa.Table:
    """Dictionary columns become plain strings: friendlier in pandas, same in Parquet. Fields
    nullable, no metadata. Column by column: Table.from_arrays validates every string offset,
    which pages in the whole of a memory-mapped table (engine/spill.py)."""
    table = t if isinstance(t, pa.Table) else pa.Table.from_batches([t])
    table = table.replace_schema_metadata(None)
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(f.type.value_type))
    if any(not f.nullable or f.metadata for f in table.schema):
        return pa.Table.from_arrays(table.columns, names=table.column_names)
    return table


def to_pandas(t: pa.Table) -> pd.DataFrame:
    return plain(t).to_pandas(types_mapper=pd.ArrowDtype)


# First bytes of the UTF-8 of every character utf8_trim_whitespace trims (Unicode White_Space)
_SPACE_LEADS = np.zeros(256, bool)
_SPACE_LEADS[
    [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0xC2, 0xE1, 0xE2, 0xE3]
] = True


def unparsed_flag(batch: pa.RecordBatch, event_ids: pa.Array) -> pa.Array:
    """Lines no family claimed, blank and /dev/kmsg dictionary lines left out (the syntax
    lines of structured inputs have an empty text)."""
    dict_line = matching_rows(batch.column("prefix_kind"), "^kmsg_dict$")
    return pc.and_(pc.is_null(event_ids), pa.array(~(_blank(batch.column("text")) | dict_line)))


def _blank(text: pa.StringArray) -> np.ndarray:
    """Rows of `text` that are empty or white space only: utf8_trim_whitespace, run only on
    the rows whose first byte may start a white-space character."""
    offsets = np.frombuffer(text.buffers()[1], np.int32, len(text) + 1, text.offset * 4)
    data = np.frombuffer(text.buffers()[2] or b"", np.uint8)
    empty = offsets[1:] == offsets[:-1]
    lead = np.zeros(len(text), bool)
    some = np.flatnonzero(~empty)
    lead[some] = _SPACE_LEADS[data[offsets[:-1][some]]]
    out = empty.copy()
    rows = np.flatnonzero(lead)
    if len(rows):
        trimmed = pc.utf8_trim_whitespace(text.take(pa.array(rows)))
        out[rows] = np_bool(pc.equal(trimmed, ""))
    return out


def unparsed_of(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The `unparsed` rows of a finished `lines` batch."""
    sel = batch.filter(batch.column("unparsed"))
    return pa.RecordBatch.from_arrays(
        [sel.column(n) for n in UNPARSED.arrow().names], names=UNPARSED.arrow().names
    )


class Capture:
    """The tables parsed from one or more inputs. `cap.tables[name]` or `cap.<name>`.

    Tables of deferred post-steps (the analysis) are computed the first time one of them, or
    `arrow`/`tables` as a whole, is asked for: a parse that only needs family tables does not
    pay for the analysis."""

    def __init__(
        self,
        arrow_tables: dict[str, pa.Table],
        pending: Sequence[Step] = (),
        context: Context | None = None,
        ts: str = "seconds",
    ) -> None:
        check_ts(ts)
        self._arrow = arrow_tables
        self._pending = list(pending)
        self._context = context or Context()
        self._frames: dict[str, pd.DataFrame] = {}
        self._ts = ts  # the DataFrames' unit of `ts` columns; `arrow` and files keep seconds

    @property
    def parsed(self) -> dict[str, pa.Table]:
        """The tables computed so far (the deferred ones only once asked for)."""
        return self._arrow

    @property
    def arrow(self) -> dict[str, pa.Table]:
        self._run_pending()
        return self._arrow

    def _names(self) -> list[str]:
        return [*self._arrow, *(t.name for s in self._pending for t in s.tables)]

    def _run_pending(self) -> None:
        while self._pending:
            self._arrow = add_keys(self._pending.pop(0).run(self._arrow, self._context))

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: self[name] for name in self.arrow}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            if name not in self._arrow:
                self._run_pending()
            t = self._arrow[name]
            self._frames[name] = to_pandas(ts_as_timedelta(t) if self._ts == "timedelta" else t)
        return self._frames[name]

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name.startswith("_") or name not in self._names():
            raise AttributeError(name)
        return self[name]

    def __dir__(self) -> Iterable[str]:
        return [*super().__dir__(), *self._names()]

    @property
    def hz(self) -> int | None:
        """CONFIG_HZ as given to `parse(hz=)`."""
        return self._context.hz

    @property
    def ts(self) -> str:
        """`"seconds"` or `"timedelta"`, as given to `parse(ts=)`."""
        return self._ts

    def summary(self) -> Any:
        """The facts of `stalllog summary --json` (docs/outputs.md) as a `Summary`: `["oom"]`,
        `.facts` (a dict), `.to_json()`; printed, a few lines of text."""
        return view("summary")(self)

    def to_parquet(self, directory: str | os.PathLike[str], *, force: bool = False) -> Path:
        """Write the files `stalllog parse -o DIR` writes (every table but `unparsed`, and
        manifest.json), replacing DIR as a whole (docs/outputs.md; a non-empty DIR that is
        not a stalllog output only with `force`). Returns DIR."""
        return view("to_parquet")(self, Path(directory), force=force)

    def _repr_html_(self) -> str:
        """Jupyter's view: inputs, boots, kernels, tables with row counts, top findings."""
        return view("repr_html")(self)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={t.num_rows}" for n, t in self._arrow.items() if t.num_rows)
        later = " (analysis on first use)" if self._pending else ""
        return f"<Capture {sizes}{later}>"


def iter_parse(
    sources: Iterable[SourceLike],
    families: list[Family] | None = None,
    progress: Progress | None = None,
    hz: int | None = None,
    analysis: bool = True,
    defer: bool = False,
    max_bytes: int | None = None,
    follow: bool = False,
    tz: str | None = None,
    year: int | None = None,
    spill: Spill | None = None,
) -> Iterator[pa.RecordBatch | dict[str, pa.Table]]:
    """Yield finished `lines` batches (with event_id), then one dict of all other tables.

    hz: the kernel's CONFIG_HZ, when known (the kernel never prints it); fills
    `memalloc.delay_s` from kmallocwd's jiffies. analysis: False skips the analysis tables.
    defer: leave the deferred post-steps (the analysis) to the caller (`parse()` runs them
    lazily). max_bytes, follow, tz, year: see `parse()`. spill: where family rows wait for the
    end of the input instead of memory (engine/spill.py); the tables then map its files."""
    check_arguments(hz, max_bytes, tz, year)
    clock = Clock(tz, year)
    return gen_with_fewer_collections(
        _iter_parse(
            sources, families, progress, hz, analysis, defer, max_bytes, follow, clock, spill
        )
    )


def check_arguments(
    hz: object, max_bytes: object, tz: object = None, year: object = None, ts: object = "seconds"
) -> None:
    """Bad `hz`/`max_bytes`/`tz`/`year`/`ts` fail before any input is read, not after the
    whole parse."""
    check_tz(tz)
    check_year(year)
    check_ts(ts)
    for arg, value, what in (("hz", hz, "CONFIG_HZ: 100, 250, 300, 1000"),
                             ("max_bytes", max_bytes, "bytes")):  # fmt: skip
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if value is not None and not (number and 0 < value < math.inf):  # type: ignore[operator]
            raise ValueError(f"{arg} must be a positive number ({what}), not {value!r}")


def _iter_parse(
    sources: Iterable[SourceLike],
    families: list[Family] | None,
    progress: Progress | None,
    hz: int | None,
    analysis: bool,
    defer: bool,
    max_bytes: int | None,
    follow: bool = False,
    clock: Clock | None = None,
    spill: Spill | None = None,
) -> Generator[pa.RecordBatch | dict[str, pa.Table], None, None]:
    families = families_or_all(families)
    dispatcher = Dispatcher(families, spill=spill)
    stage = LineStage(clock=clock or Clock())
    stats = BootStats()
    source_rows = []
    untrimmed = 0  # bytes parsed since the C heap's free pages were last given back
    for src in sources:
        opened = open_source(src, follow=follow)
        opened.max_bytes = max_bytes
        source_rows.append((yield from source_batches(opened, stage, dispatcher, stats, progress)))
        untrimmed += source_rows[-1]["n_bytes"]
        if untrimmed >= TRIM_BYTES:  # what its threads freed, back before the next source
            release_free_memory()
            untrimmed = 0
    tables = dispatcher.family_tables()
    tables["events"] = dispatcher.events_table()
    tables["boots"] = stats.table(tables)
    tables = run_steps(tables, Context(hz=hz, analysis=analysis), families, skip_deferred=defer)
    tables["sources"] = pa.Table.from_pylist(source_rows, schema=SOURCES.arrow())
    yield tables


# Chunks read ahead of the dispatcher (engine/prefetch.py); 0 reads them in turn.
PREFETCH = 2
# Free pages given back (engine/trim.py, ~30 ms at 400 MB) after a source when this many bytes
# were parsed since the last time: what one source's threads freed stayed in their arenas, and
# the production benchmark's two halves peaked at 527-537 MB instead of 407-422 in 2 of 3 runs.
TRIM_BYTES = 256 << 20


def source_batches(
    opened: OpenedSource,
    stage: LineStage,
    dispatcher: Dispatcher,
    stats: BootStats,
    progress: Progress | None = None,
) -> Generator[pa.RecordBatch, None, dict[str, Any]]:
    """Yield one source's finished `lines` batches; return its `sources` row. The one loop of
    a parse (capture.iter_parse, and each part of engine.merge)."""
    stage.start_source(opened.name, opened.mtime)
    dispatcher.start_source(opened.name, stage.boots.stream_of)
    n_bytes = 0
    read = _ReadChunks(opened, stage)
    # a live input is read as it comes, in this thread (a prefetching thread would sit in a
    # blocking read that Ctrl-C cannot stop)
    if opened.live is not None or not PREFETCH:
        chunks = _dispatched(_with_candidates(iter(read), dispatcher), dispatcher)
    else:  # four threads: the lines, the trigger scan, the dispatcher, the rest (this one)
        ahead = prefetched(iter(read), PREFETCH)
        cands = prefetched(_with_candidates(ahead, dispatcher), PREFETCH)
        chunks = prefetched(_dispatched(cands, dispatcher), 1)
    try:
        for size, batch, event_ids in chunks:
            n_bytes += size
            unparsed = unparsed_flag(batch, event_ids)
            batch = pa.RecordBatch.from_arrays(
                [*batch.columns, event_ids, unparsed], schema=LINES_ARROW
            )
            batch = missing_as_null(batch)  # after the families read it: their Line.ts is NaN
            stats.add(batch, opened.name)
            if progress is not None:
                progress(opened.name, n_bytes, opened.size)
            yield batch
    finally:
        chunks.close()  # the reading threads are done before their stream is closed
        opened.stream.close()
    live = opened.live
    opened.notes += live.notes(opened.overwritten) if live else epipe_note(opened.overwritten)
    lines = read.lines
    if isinstance(lines, StructuredStage) and lines.problem():
        opened.notes.append(lines.problem() or "")
    dispatcher.end_source(truncated=opened.error is not None)
    return {"source": opened.name, "compression": opened.compression,
            "n_lines": stage.next_line_no - 1, "n_bytes": n_bytes + opened.cut.skipped,
            "error": opened.problems()}  # fmt: skip


class _ReadChunks:
    """One source's chunks as (bytes, repaired `lines` batch): the work that needs no
    dispatcher state, so it may run ahead in a thread."""

    def __init__(self, opened: OpenedSource, stage: LineStage) -> None:
        self.opened = opened
        self.stage = stage
        self.lines: LineStage | StructuredStage | None = None

    def __iter__(self) -> Generator[tuple[int, Repaired], None, None]:
        opened = self.opened
        # a followed input comes a burst per chunk: too few lines to judge wrapping by
        rewrap = opened.live is None or not opened.live.follow
        for chunk in whole_head(iter_chunks(opened)):
            self.lines = self.lines or _line_stage(opened, self.stage, chunk.data)
            yield len(chunk.data), _read_chunk(self.lines, chunk, opened.error is not None, rewrap)


def _dispatched(
    chunks: Generator[tuple[int, Repaired, np.ndarray], None, None], dispatcher: Dispatcher
) -> Generator[tuple[int, pa.RecordBatch, pa.Array], None, None]:
    """Each chunk's `lines` batch with its event_id column. Run in a thread of its own, the
    dispatcher's Python overlaps what the batch goes through next (unparsed flags, boot
    statistics, the writers), where it ran in turn with it."""
    try:
        for size, fixed, cand in chunks:
            yield size, fixed.lines, fixed.claim(dispatcher.process(fixed.view, cand))
    finally:
        chunks.close()


def _with_candidates(
    chunks: Iterator[tuple[int, Repaired]], dispatcher: Dispatcher
) -> Generator[tuple[int, Repaired, np.ndarray], None, None]:
    """Each chunk with the rows the dispatcher must look at for their triggers."""
    for size, fixed in chunks:
        yield size, fixed, dispatcher.candidates(fixed.view)


def _read_chunk(
    lines: LineStage | StructuredStage, chunk: Chunk, truncated: bool, rewrap: bool = True
) -> Repaired:
    """One chunk's `lines` batch, with the view families see: mail/tracker/syslog mangling
    repaired (input/repair.py); structured inputs carry their messages unmangled."""
    if isinstance(lines, StructuredStage):
        batch = lines.batch(chunk.data, chunk.last, truncated=truncated)
        return Repaired(_flag_last(batch, "cut") if chunk.cut else batch)
    found = scan(chunk.data)
    data, quotes = unquote(chunk.data, found)
    batch = lines.batch(data, chunk.last, truncated=truncated)
    if quotes is not None:
        batch = restore_quotes(batch, chunk.data, quotes)
    return repair(_flag_last(batch, "cut") if chunk.cut else batch, found, quotes, rewrap)


def _line_stage(opened: OpenedSource, stage: LineStage, head: bytes) -> LineStage | StructuredStage:
    """The stage that reads this source: journal JSON/export and dmesg -J have their own
    (recognized from the first bytes); JSON of an unknown kind is read as text, with a note."""
    fmt, warning = sniff(head)
    if warning:
        opened.notes.append(warning)
    return StructuredStage(fmt, stage) if fmt else stage


def _flag_last(batch: pa.RecordBatch, flag: str) -> pa.RecordBatch:
    """`batch` with `flag` added to the flags of its last line (flags are `+`-joined)."""
    if not batch.num_rows:  # a structured stage may hold a whole chunk back (export.py)
        return batch
    i = batch.schema.get_field_index("flags")
    flags = batch.column(i).cast(pa.string())
    old = flags[-1].as_py()
    mask = pa.array([False] * (len(flags) - 1) + [True])
    flags = pc.replace_with_mask(flags, mask, pa.array([f"{old}+{flag}" if old else flag]))
    cols = list(batch.columns)
    cols[i] = flags.dictionary_encode().cast(batch.schema.field(i).type)
    return pa.RecordBatch.from_arrays(cols, schema=batch.schema)


LINES_ARROW = LINES.arrow()
UNPARSED_ARROW = pa.schema([LINES_ARROW.field(n) for n in UNPARSED.arrow().names])


def parse(
    *sources: SourceLike,
    families: list[Family] | None = None,
    progress: Progress | None = None,
    hz: int | None = None,
    analysis: bool = True,
    max_bytes: int | None = None,
    follow: bool = False,
    ts: str = "seconds",
    tz: str | None = None,
    year: int | None = None,
) -> Capture:
    """Parse captures into tables.

    sources: paths (str/Path; "-" is stdin), bytes, or binary/text file objects; compressed
    inputs (gzip, xz, bzip2, zstd) are recognized by their magic bytes. Also lists of them,
    directories (every file in it, sorted; hidden files and subdirectories skipped) and glob
    patterns (`"logs/*.log.gz"`, sorted): see stalllog/input/paths.py.

    >>> cap = stalllog.parse("sample_logs/qemu/6.1.0-56-amd64-global-oom-serial.log.xz")
    >>> cap.lines, cap.events, cap.unparsed, cap.boots

    hz: CONFIG_HZ of the kernel, if known: fills `memalloc.delay_s` (kmallocwd's delay is in
    jiffies and the kernel never prints HZ).

    analysis: the analysis tables (`findings`, `episodes`, `stalled_tasks`, `oom_lock`, ...;
    see stalllog.analyze) are built unless this is False.

    max_bytes: stop with CaptureError when an input gives more bytes than this (after
    decompression). Without it, an input decompressing at more than 200:1 past 8 MiB is
    refused as a likely decompression bomb. Lines longer than 4 MiB are cut (flag "cut";
    the skipped bytes are counted and hashed in `sources.error`).

    follow: read pipes, FIFOs, terminals and /dev/kmsg until EOF or Ctrl-C; without it they
    are a snapshot (/dev/kmsg until drained, the others until 5 s without input).

    ts="timedelta": times since boot (`ts`, `ts_*`, `*_ts`) as pandas timedeltas, not float
    seconds. tz (IANA zone), year (of RFC 3164 stamps): `lines.wall_utc` (docs/tables.md).

    Raises CaptureError (one line naming the input) when an input cannot be opened.
    """
    check_arguments(hz, max_bytes, tz, year, ts)
    sources = tuple(expand(sources))
    if not sources:
        raise CaptureError("no input given")
    batches: list[pa.RecordBatch] = []
    unparsed: list[pa.RecordBatch] = []
    other: dict[str, pa.Table] = {}
    items = iter_parse(sources, families, progress, hz, analysis, True, max_bytes, follow, tz, year)
    for item in items:
        if isinstance(item, dict):
            other = item
        else:
            batches.append(item)
            unparsed.append(unparsed_of(item))
    context = Context(hz=hz, analysis=analysis)
    tables = _assembled(batches, unparsed, other)
    return Capture(tables, deferred_steps() if analysis else (), context, ts=ts)


def _assembled(
    batches: list[pa.RecordBatch], unparsed: list[pa.RecordBatch], other: dict[str, pa.Table]
) -> dict[str, pa.Table]:
    """The core tables first, then the family and step tables."""
    tables = {
        "lines": pa.Table.from_batches(batches, schema=LINES_ARROW),
        "events": other["events"],
        "unparsed": pa.Table.from_batches(unparsed, schema=UNPARSED_ARROW),
        "boots": other["boots"],
        "sources": other["sources"],
    }
    tables.update({k: v for k, v in other.items() if k not in tables})
    return tables
