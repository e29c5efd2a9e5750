"""Hand lines to message families, track open blocks per caller stream, collect records.

Per chunk, one vectorized RE2 pass finds lines containing any family trigger. Python looks at a
line only if it is such a candidate or some block is open, so quiet stretches of a capture cost
nothing here.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stalllog.engine.checked import add_event_reasons, to_batch
from stalllog.engine.drops import DropLog
from stalllog.engine.spill import Spill
from stalllog.engine.window import (
    DIGIT_RUN_RE,
    WINDOW_MAX,
    WINDOW_MIN,
    Window,
    logical_lines,
    np_bool,
    shorten_digit_runs,
    skip_feed_rows,
)
from stalllog.parsers.base import Block, Family, Feed, Line, written_tables

MAX_BLOCK_LINES = 200_000  # a block that never ends (a runaway family) is cut here
MAX_NESTED = 4  # blocks open at once in one stream; the outermost is cut beyond that
_Key = tuple[int | None, str | None]  # (host stream, caller id)
MAX_SKIPPED = 500  # a block that took none of this many lines in a row is closed
ROW_FLUSH = 8_192  # family rows move from dicts to Arrow in batches of this size...
ROW_WINDOW = 2_048  # ...keeping this many recent rows as dicts that families may still update


class Observer(Protocol):
    """Sees rows as families write them and events as their blocks end (`stalllog watch`)."""

    def row(self, table: str, values: dict[str, Any]) -> None: ...

    def finished(self, event: dict[str, Any]) -> None: ...


class Dispatcher:
    def __init__(
        self, families: list[Family], observer: Observer | None = None, retain: bool = True,
        spill: Spill | None = None,
    ) -> None:  # fmt: skip
        """observer: told of every row and finished event. retain=False keeps no rows or
        events once handed to the observer (a watch that runs for days stays flat). spill:
        where flushed rows wait for the end of the input (engine/spill.py), not in memory."""
        self.families = families
        self.observer = observer
        self.retain = retain
        self.spill = spill
        # Own tables first (their order is the output order), then those written through parts.
        owned = [t for f in families for t in f.tables]
        through_parts = [t for f in families for t in written_tables(f)]
        self._schemas: dict[str, pa.Schema] = {}
        for t in [*owned, *through_parts]:
            self._schemas.setdefault(t.name, t.arrow())
        self._allowed = {name: set(schema.names) for name, schema in self._schemas.items()}
        triggers = sorted({t for f in families for t in f.triggers})
        self._trigger_re = "|".join(re.escape(t) for t in triggers) if triggers else None
        self._glue_families = [f for f in families if type(f).glued is not Family.glued]
        self._gap_families = [f for f in families if type(f).seq_gap is not Family.seq_gap]
        self._gaps: dict[int, int] = {}  # line_no -> /dev/kmsg records missing before it
        self._last_seq = (-1, -1)  # (boot, kmsg sequence number) of the last record seen
        # Open blocks per stream (host stream of the boot, caller id or None), innermost last.
        # Without caller ids a report from another CPU can start inside an open one; it is
        # nested, and the outer block gets the lines back when the inner one ends.
        self.open: dict[_Key, list[tuple[Block, Family]]] = {}
        # boot -> host stream (input.boots): two hosts' lines never meet in one block
        self._stream_of: dict[int, int] = {}
        self._foreign: dict[int, list[int]] = defaultdict(list)
        # lines a block skipped since it last took one: foreign only if it takes a later line
        self._skipped: dict[int, list[int]] = defaultdict(list)
        self.next_event_id = 0
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._done: dict[str, list[pa.RecordBatch]] = defaultdict(list)
        self.events: list[dict[str, Any]] = []
        self.source = ""
        self._counters: dict[str, int] = defaultdict(int)
        self._drops: dict[int | None, DropLog] = defaultdict(DropLog)  # per host stream
        # event_id -> why values of its rows were nulled (too big for their column)
        self._nulled: dict[int, list[str]] = defaultdict(list)

    # -- record sink (parsers.base.Sink) -----------------------------------------------
    def row(self, table: str, values: dict[str, Any]) -> None:
        allowed = self._allowed.get(table, set())
        if not allowed.issuperset(values):  # (30 % faster than `values.keys() <= allowed`)
            extra = sorted(values.keys() - allowed)
            raise KeyError(f"table {table!r} has no column(s) {extra}")
        if self.observer is not None:
            self.observer.row(table, values)
            if not self.retain:
                return
        rows = self.rows[table]
        rows.append(values)
        if len(rows) >= ROW_FLUSH + ROW_WINDOW:
            # Python dicts cost ~1 kB a row; keep only the recent window mutable (see Sink.row)
            self._keep(table, self._batch(table, rows[:ROW_FLUSH]))
            del rows[:ROW_FLUSH]

    def _keep(self, table: str, batch: pa.RecordBatch) -> None:
        if self.spill is not None:
            self.spill.add(table, batch)
        else:
            self._done[table].append(batch)

    def _kept(self, table: str) -> list[pa.RecordBatch]:
        spilled = self.spill.take(table) if self.spill is not None else []
        return [*spilled, *self._done.pop(table, [])]

    def _batch(self, table: str, rows: list[dict[str, Any]]) -> pa.RecordBatch:
        batch, nulled = to_batch(rows, self._schemas[table], table)
        for i, reason in nulled:
            self._nulled[rows[i].get("event_id", -1)].append(reason)
        return batch

    def next_id(self, kind: str) -> int:
        self._counters[kind] += 1
        return self._counters[kind] - 1

    def _new_id(self) -> int:
        self.next_event_id += 1
        return self.next_event_id - 1

    def _close(self, key: _Key, index: int, cut: str | None) -> None:
        stack = self.open[key]
        block, family = stack.pop(index)
        if not stack:
            del self.open[key]
        self._finish(block, family, cut)

    def _drop_log(self, block: Block) -> DropLog:
        return self._drops[self._stream_of.get(block.first.boot)]

    def _finish(self, block: Block, family: Family, cut: str | None) -> None:
        self._drop_log(block).closed(block)
        block.finish(cut)
        self._skipped.pop(block.event_id, None)
        foreign = self._foreign.pop(block.event_id, None)
        if foreign:
            block.problems.append(
                f"{len(foreign)} foreign line(s) inside (first at line {foreign[0]})"
            )
        first = block.first
        event = {
            "event_id": block.event_id,
            "kind": block.kind,
            "family": family.name,
            "boot": first.boot,
            "source": first.source,
            "ts": block.ts,
            "line_start": first.line_no,
            "line_end": block.last_line_no,
            "n_lines": block.n_lines,
            "caller": first.caller,
            "pid": block.pid,
            "comm": block.comm,
            "corrupted": bool(block.problems),
            "reason": "; ".join(block.problems) or None,
        }
        if self.observer is not None:
            self.observer.finished(event)
            if not self.retain:
                return
        self.events.append(event)
        if len(self.events) >= ROW_FLUSH:
            self._keep("events", to_batch(self.events, EVENTS_SCHEMA, "events")[0])
            self.events = []

    # -- driving ------------------------------------------------------------------------
    def start_source(self, source: str, stream_of: dict[int, int] | None = None) -> None:
        """stream_of: boot -> host stream, filled as boots are found (BootTracker.stream_of)."""
        self.source = source
        self._stream_of = {} if stream_of is None else stream_of
        self._last_seq = (-1, -1)

    def _seq_gaps(self, batch: pa.RecordBatch, line0: int) -> np.ndarray:
        """Rows whose /dev/kmsg sequence number jumped ahead of the last one in the same boot
        (records overwritten before they were read: EPIPE; or left out of the capture); the
        counts go to self._gaps. Most batches have no sequence numbers at all."""
        column = batch.column("kmsg_seq")
        if column.null_count == len(column):
            return np.zeros(0, np.int64)
        idx = np.flatnonzero(np_bool(pc.is_valid(column)))
        seq = pc.fill_null(column, 0).to_numpy()[idx]
        boot = batch.column("boot").to_numpy()[idx]
        prev_seq = np.concatenate([[self._last_seq[1]], seq[:-1]])
        prev_boot = np.concatenate([[self._last_seq[0]], boot[:-1]])
        self._last_seq = (int(boot[-1]), int(seq[-1]))
        hit = (prev_seq >= 0) & (prev_boot == boot) & (seq > prev_seq + 1)
        for i, gap in zip(idx[hit].tolist(), (seq - prev_seq - 1)[hit].tolist(), strict=True):
            self._gaps[line0 + i] = gap
        return idx[hit]

    def end_source(self, truncated: bool) -> None:
        cut = "end of input (truncated capture)" if truncated else "end of input"
        for key in list(self.open):
            while key in self.open:
                self._close(key, -1, cut)

    def candidates(self, batch: pa.RecordBatch) -> np.ndarray:
        """The rows of a `lines` batch with a family trigger in their text. It reads no state
        that process() changes: a parse computes it ahead, in its reading thread."""
        if not self._trigger_re or not batch.num_rows:
            return np.zeros(batch.num_rows, bool)
        return np_bool(pc.match_substring_regex(batch.column("text"), self._trigger_re))

    def process(self, batch: pa.RecordBatch, cand: np.ndarray) -> pa.Array:
        """Feed one `lines` batch, `cand` its candidates(); return its event_id column (null
        where unclaimed)."""
        n = batch.num_rows
        event_ids = np.full(n, -1, np.int64)
        if n == 0:
            return pa.array(event_ids, pa.int64())
        line0 = batch.column("line_no")[0].as_py()
        visit_idx = np.flatnonzero(cand | np_bool(pc.is_valid(batch.column("dropped"))))
        gap_rows = self._seq_gaps(batch, line0)
        if len(gap_rows):
            visit_idx = np.union1d(visit_idx, gap_rows)
        if not self.open and not len(visit_idx):
            return pa.array(event_ids, pa.int64(), mask=event_ids < 0)

        # Python sees only candidates, drop markers and the rows while a block is open: those
        # are converted window by window (growing while blocks stay open), not the whole chunk.
        skip_feed = skip_feed_rows(batch.column("flags"))
        view = Window(batch, line0, cand, skip_feed, self.source, 0, 0)
        size = WINDOW_MIN
        rows: list[int] = []  # claimed rows and their events, into event_ids at the end
        ids: list[int] = []  # (not one NumPy item assignment per claimed line)
        i = 0
        while i < n:
            if not self.open:
                j = int(np.searchsorted(visit_idx, i))
                if j == len(visit_idx):
                    break
                i = int(visit_idx[j])
            if i >= view.end:
                size = min(2 * size, WINDOW_MAX) if i == view.end else WINDOW_MIN
                end = min(n, i + size)
                view = Window(batch, line0, cand, skip_feed, self.source, i, end)
            claimed = self._row(view, i - view.start)
            if claimed is not None:
                rows.append(i)
                ids.append(claimed)
            i += 1
        event_ids[rows] = ids
        return pa.array(event_ids, pa.int64(), mask=event_ids < 0)

    def _row(self, view: Window, k: int) -> int | None:
        """Feed row k of the window (each logical line in it); the first event that claims it."""
        ts, t = view.ts[k], view.texts[k]
        multi = view.multi[k]
        if view.digits[k] and DIGIT_RUN_RE.search(t):  # only lines families will see
            t = shorten_digit_runs(t)
        base = _new_line(Line, (view.source, view.line0 + k, view.boots[k],
                                math.nan if ts is None else ts, view.callers[k], view.levels[k],
                                t, view.drops[k] or 0))  # fmt: skip
        if self._gaps and base.line_no in self._gaps:
            self._seq_gap(base, self._gaps.pop(base.line_no))
        if not multi:
            if base.dropped or view.skip_feed[k]:
                return self._line(base, view.cand[k], view.skip_feed[k])
            return self._plain(base, view.cand[k])
        first = None
        for line in logical_lines(base):
            claimed = self._line(line, view.cand[k], view.skip_feed[k])
            if claimed is not None and first is None:
                first = claimed
        return first

    def _seq_gap(self, line: Line, count: int) -> None:
        for family in self._gap_families:
            block = family.seq_gap(line, count, self.next_event_id, self)
            if block is not None:
                self._new_id()
                self._finish(block, family, None)

    def _line(self, line: Line, candidate: bool, skip_feed: bool) -> int | None:
        stream = self._stream_of.get(line.boot)
        key = (stream, line.caller)
        if line.dropped:
            self._drops[stream].marker(line.line_no, line.dropped)
            if line.text and not line.text.startswith("** "):
                for family in self._glue_families:
                    glued = family.glued(line, self.next_event_id, self)
                    if glued is not None:
                        self._new_id()
                        self._finish(glued, family, None)
        skipped_by: list[Block] = []
        if not skip_feed and key in self.open:
            taken = self._feed_stack(key, line, skipped_by)
            if taken is not None:
                return taken
        return self._not_taken(key, line, candidate, skipped_by)

    def _plain(self, line: Line, candidate: bool) -> int | None:
        """`_line` for a line with no drop marker that open blocks may see: when its stream
        has one block open (most lines of a report storm), the same steps in fewer calls."""
        key = (self._stream_of.get(line.boot), line.caller)
        stack = self.open.get(key)
        if stack is None or len(stack) != 1:
            return self._line(line, candidate, False)
        block = stack[0][0]
        if line.boot != block.first.boot or block.n_lines >= MAX_BLOCK_LINES:
            return self._line(line, candidate, False)
        drops = self._drops[key[0]]
        if drops.lines:
            drops.catch_up(block)
        verdict = block.feed(line)
        if verdict is Feed.TAKE:
            block.n_lines += 1
            block.last_line_no = line.line_no
            if self._skipped:
                pending = self._skipped.pop(block.event_id, None)
                if pending:
                    self._foreign[block.event_id].extend(pending)
            return block.event_id
        if verdict is Feed.END:
            self._close(key, 0, None)
            return self._not_taken(key, line, candidate, [])
        return self._not_taken(key, line, candidate, [block])

    def _not_taken(
        self, key: _Key, line: Line, candidate: bool, skipped_by: list[Block]
    ) -> int | None:
        """No open block took the line: it may start one; the blocks that skipped it note it."""
        new = self._start(line) if candidate else None
        for block in skipped_by:
            self._skip(key, block, line.line_no)
        if new is None:
            return None
        block, family = new
        self._drop_log(block).opened(block)
        if not block.multiline:
            self._finish(block, family, None)
            return block.event_id
        stack = self.open.setdefault(key, [])
        if len(stack) >= MAX_NESTED:
            self._close(key, 0, f"interrupted by {block.kind} at line {line.line_no}")
            stack = self.open.setdefault(key, [])
        stack.append(new)
        return block.event_id

    def _feed_stack(self, key: _Key, line: Line, skipped_by: list[Block]) -> int | None:
        """Offer the line to the stream's open blocks, innermost first."""
        stack = self.open[key]
        drops = self._drops[key[0]]  # the stream's: one look-up, not one per block
        marked = bool(drops.lines)  # no marker yet in the stream: nothing to catch up
        i = len(stack) - 1
        while i >= 0 and key in self.open:
            block, _ = stack[i]
            if line.boot != block.first.boot:
                self._close(key, i, "a new boot started")
            elif block.n_lines >= MAX_BLOCK_LINES:
                self._close(key, i, f"block longer than {MAX_BLOCK_LINES} lines")
            else:
                if marked:
                    drops.catch_up(block)
                verdict = block.feed(line)
                if verdict is Feed.TAKE:
                    block.n_lines += 1
                    block.last_line_no = line.line_no
                    if self._skipped:  # most lines: no block skipped any line
                        pending = self._skipped.pop(block.event_id, None)
                        if pending:
                            self._foreign[block.event_id].extend(pending)
                    for inner in skipped_by:  # interleaved: the line sits inside them
                        self._skip(key, inner, line.line_no)
                    return block.event_id
                if verdict is Feed.END:
                    self._close(key, i, None)
                else:
                    skipped_by.append(block)
            i -= 1
        return None

    def _skip(self, key: _Key, block: Block, line_no: int) -> None:
        pending = self._skipped[block.event_id]
        pending.append(line_no)
        if len(pending) >= MAX_SKIPPED:
            stack = self.open.get(key, [])
            for i, (b, _) in enumerate(stack):
                if b is block:
                    self._close(key, i, f"{MAX_SKIPPED} foreign lines in a row")
                    break

    def _start(self, line: Line) -> tuple[Block, Family] | None:
        text = line.text
        for family in self.families:
            # a plain loop, not any(<genexpr>): a generator per family per candidate line
            for t in family.triggers:
                if t in text:
                    break
            else:
                continue
            m = family.pattern.search(text)
            if m is None:
                continue
            block = family.start(line, m, self.next_event_id, self)
            if block is not None:
                self._new_id()
                return block, family
        return None

    def family_tables(self) -> dict[str, pa.Table]:
        """The family tables, once the input is done. The rows are let go: the last window of
        dicts of every table (~1 kB a row; 45 MB of a 64 MiB storm's 363 MB peak) would
        otherwise live on through the post-steps and the analysis."""
        out = {}
        for name, schema in self._schemas.items():
            tail = self._batch(name, self.rows.pop(name, []))
            out[name] = pa.Table.from_batches([*self._kept(name), tail], schema=schema)
        return out

    def events_table(self) -> pa.Table:
        """After family_tables(): its nulled values are named in their events' reasons. The
        event rows are let go (see family_tables)."""
        tail = to_batch(self.events, EVENTS_SCHEMA, "events")[0]
        events = pa.Table.from_batches([*self._kept("events"), tail], schema=EVENTS_SCHEMA)
        self.events = []
        events = add_event_reasons(events, self._nulled)
        return events.sort_by("event_id")  # rows are written when blocks end


_new_line = tuple.__new__  # Line(...) without the generated __new__'s Python frame


EVENTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.int64()),
        ("kind", pa.string()),
        ("family", pa.string()),
        ("boot", pa.int32()),
        ("source", pa.string()),
        ("ts", pa.float64()),
        ("line_start", pa.int64()),
        ("line_end", pa.int64()),
        ("n_lines", pa.int64()),
        ("caller", pa.string()),
        ("pid", pa.int64()),
        ("comm", pa.string()),
        ("corrupted", pa.bool_()),
        ("reason", pa.string()),
    ]
)
