"""Hand lines to message families, track open blocks per caller stream, collect records.

Per chunk, one vectorized RE2 pass finds lines containing any family trigger. Python looks at a
line only if it is such a candidate or some block is open, so quiet stretches of a capture cost
nothing here.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parsers.base import Block, Family, Feed, Line

MAX_BLOCK_LINES = 200_000  # a block that never ends (a runaway family) is cut here

EVENTS_COLUMNS = (
    "event_id", "kind", "family", "boot", "source", "ts", "line_start", "line_end", "n_lines",
    "caller", "pid", "comm", "corrupted", "reason",
)  # fmt: skip


class Dispatcher:
    def __init__(self, families: list[Family]) -> None:
        self.families = families
        self._allowed = {t.name: {c.name for c in t.columns} for f in families for t in f.tables}
        triggers = sorted({t for f in families for t in f.triggers})
        self._trigger_re = "|".join(re.escape(t) for t in triggers) if triggers else None
        self._glued_family: Any = next((f for f in families if hasattr(f, "glued")), None)
        self.open: dict[str | None, tuple[Block, Family]] = {}
        self._foreign: dict[int, list[int]] = defaultdict(list)
        self.next_event_id = 0
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.events: list[dict[str, Any]] = []
        self.source = ""
        self._counters: dict[str, int] = defaultdict(int)

    # -- record sink (parsers.base.Sink) -----------------------------------------------
    def row(self, table: str, values: dict[str, Any]) -> None:
        extra = values.keys() - self._allowed.get(table, set())
        if extra:
            raise KeyError(f"table {table!r} has no column(s) {sorted(extra)}")
        self.rows[table].append(values)

    def next_id(self, kind: str) -> int:
        self._counters[kind] += 1
        return self._counters[kind] - 1

    def _new_id(self) -> int:
        self.next_event_id += 1
        return self.next_event_id - 1

    def _close(self, key: str | None, cut: str | None) -> None:
        block, family = self.open.pop(key)
        self._finish(block, family, cut)

    def _finish(self, block: Block, family: Family, cut: str | None) -> None:
        block.finish(cut)
        foreign = self._foreign.pop(block.event_id, None)
        if foreign:
            block.problems.append(
                f"{len(foreign)} foreign line(s) inside (first at line {foreign[0]})"
            )
        first = block.first
        self.events.append(
            {
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
        )

    # -- driving ------------------------------------------------------------------------
    def start_source(self, source: str) -> None:
        self.source = source

    def end_source(self, truncated: bool) -> None:
        cut = "end of input (truncated capture)" if truncated else "end of input"
        for key in list(self.open):
            self._close(key, cut)

    def process(self, batch: pa.RecordBatch) -> pa.Array:
        """Feed one `lines` batch; return its event_id column (null where unclaimed)."""
        n = batch.num_rows
        event_ids = np.full(n, -1, np.int64)
        if n == 0:
            return pa.array(event_ids, pa.int64())
        text = batch.column("text")
        visit = np.zeros(n, bool)
        cand = np.zeros(n, bool)
        if self._trigger_re:
            cand = _np_bool(pc.match_substring_regex(text, self._trigger_re))
            visit |= cand
        dropped_col = batch.column("dropped")
        has_drop = _np_bool(pc.is_valid(dropped_col))
        visit |= has_drop
        if not self.open and not visit.any():
            return pa.array(event_ids, pa.int64(), mask=event_ids < 0)

        flags = batch.column("flags")
        skip_feed = _np_bool(
            pc.match_substring_regex(pc.cast(flags, pa.string()), "non-kernel|kmsg-dict")
        )
        multi = _np_bool(pc.match_substring(text, "\n"))
        texts = text.to_pylist()
        ts_list = batch.column("ts").to_numpy(zero_copy_only=False).tolist()
        callers = batch.column("caller").to_pylist()
        levels = batch.column("level").to_pylist()
        boots = batch.column("boot").to_numpy().tolist()
        drops = dropped_col.to_pylist()
        line0 = batch.column("line_no")[0].as_py()
        visit_idx = np.flatnonzero(visit)
        source = self.source

        i = 0
        while i < n:
            if not self.open:
                j = int(np.searchsorted(visit_idx, i))
                if j == len(visit_idx):
                    break
                i = int(visit_idx[j])
            ts = ts_list[i]
            base = Line(source, line0 + i, boots[i], math.nan if ts is None else ts, callers[i],
                        levels[i], texts[i], drops[i] or 0)  # fmt: skip
            parts = texts[i].split("\n") if multi[i] else (texts[i],)
            for k, part in enumerate(parts):
                line = base if len(parts) == 1 else _replace_text(base, part, k)
                claimed = self._line(line, bool(cand[i]), bool(skip_feed[i]))
                if claimed is not None and event_ids[i] < 0:
                    event_ids[i] = claimed
            i += 1
        return pa.array(event_ids, pa.int64(), mask=event_ids < 0)

    def _line(self, line: Line, candidate: bool, skip_feed: bool) -> int | None:
        key = line.caller
        if line.dropped:
            for block, _ in self.open.values():
                block.problems.append(
                    f"{line.dropped} printk messages dropped at line {line.line_no}"
                )
            if line.text and self._glued_family is not None and not line.text.startswith("** "):
                gb = self._glued_family.glued(line, self._new_id(), self)
                self._finish(gb, self._glued_family, None)
        opened = None if skip_feed else self.open.get(key)
        skipped = False
        if opened is not None:
            block, _ = opened
            if line.boot != block.first.boot:
                self._close(key, "a new boot started")
            elif block.n_lines >= MAX_BLOCK_LINES:
                self._close(key, f"block longer than {MAX_BLOCK_LINES} lines")
            else:
                verdict = block.feed(line)
                if verdict is Feed.TAKE:
                    block.n_lines += 1
                    block.last_line_no = line.line_no
                    return block.event_id
                if verdict is Feed.END:
                    self._close(key, None)
                else:
                    skipped = True
        new = self._start(line) if candidate else None
        if new is None:
            if skipped:
                self._foreign[self.open[key][0].event_id].append(line.line_no)
            return None
        block, family = new
        if not block.multiline:
            if skipped:
                self._foreign[self.open[key][0].event_id].append(line.line_no)
            self._finish(block, family, None)
            return block.event_id
        if key in self.open:
            self._close(key, f"interrupted by {block.kind} at line {line.line_no}")
        self.open[key] = new
        return block.event_id

    def _start(self, line: Line) -> tuple[Block, Family] | None:
        text = line.text
        for family in self.families:
            if not any(t in text for t in family.triggers):
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
        out = {}
        for family in self.families:
            for schema in family.tables:
                out[schema.name] = pa.Table.from_pylist(
                    self.rows.get(schema.name, []), schema=schema.arrow()
                )
        return out

    def events_table(self) -> pa.Table:
        events = sorted(self.events, key=lambda e: e["event_id"])
        return pa.Table.from_pylist(events, schema=EVENTS_SCHEMA)


def _replace_text(line: Line, text: str, k: int) -> Line:
    return Line(line.source, line.line_no, line.boot, line.ts, line.caller, line.level, text,
                line.dropped if k == 0 else 0)  # fmt: skip


def _np_bool(a: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(a, False).to_numpy(zero_copy_only=False), dtype=bool)


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
