"""Structured inputs: `journalctl -o json`, `-o json-seq`, `-o export` and util-linux
`dmesg -J`, recognized from the first bytes of a source (never its name).

Every input line stays one `lines` row, so the table still rebuilds the input:
- the line that carries a record's message (a JSON line; the export `MESSAGE=` line, or the
  line where a binary MESSAGE value starts; the `"msg":` line of `dmesg -J`) gets the message
  as `text` and the record's time, wall clock, host, level and caller. A message with newlines
  stays one row, as a /dev/kmsg record with `\\x0a` escapes does (the dispatcher splits it into
  its lines). `raw` keeps the line's bytes when `prefix + text` does not give them back;
- every other line (JSON syntax, other fields, the rest of a binary value) has the line as
  `prefix`, an empty `text` and the flag `structured`: open blocks skip it like a /dev/kmsg
  dictionary line, and it is never `unparsed`;
- a record that cannot be read (bad JSON, a MESSAGE that is null, broken export framing) is
  flagged `bad-record`, its line kept as `text`, and counted in `sources.error`.

Reading is per record in Python (json.loads): fine for these inputs, which are never the bulk
plain-text path. Memory stays bounded: lines are cut at MAX_LINE by the reader, and an export
record still open at the end of a chunk is carried over only up to CARRY_MAX bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from stalllog.input.clock import WALL_UTC
from stalllog.input.columns import bitmask_to_dictionary
from stalllog.input.export import read_export
from stalllog.input.lines import EOL_VALUES, FLAG_BIT, KIND_BIT, LINES_SCHEMA, LineStage
from stalllog.input.reader import Chunk
from stalllog.input.records import Record, Rows, journal_record, split_lines

__all__ = ["StructuredStage", "sniff"]

SNIFF_BYTES = 1 << 16
KINDS = {"json": "journal_json", "json-seq": "journal_json", "export": "journal_export",
         "dmesg-json": "dmesg_json"}  # fmt: skip
_JOURNAL_KEYS = (b'"MESSAGE"', b'"__CURSOR"', b'"__REALTIME_TIMESTAMP"', b'"_BOOT_ID"')
_EXPORT_FIELD = re.compile(rb"[A-Z0-9_]{1,64}=")  # see export.FIELD_NAME
_EXPORT_MESSAGE = re.compile(rb"(?m)^MESSAGE(?:=|\n)")
# util-linux dmesg -J (ul_jsonwrt, UL_JSON_PRETTY): `{`, `   "dmesg": [`, then one object per
# record with "pri" (or "fac"/"pri" names with -x), "time", "caller" (2.39+), "msg" in that
# order (sys-utils/dmesg.c print_record).
_DMESG_HEAD = re.compile(rb'\{\s*\n\s*"dmesg"\s*:\s*\[')
_DMESG_FIELD = re.compile(rb'\s*"([a-z_]+)"\s*:\s*(.*?),?\s*')
_DMESG_SYNTAX = frozenset((b"{", b"},{", b"}", b"},", b"]", b"],", b'"dmesg": [', b"[", b""))
LEVELS = ("emerg", "alert", "crit", "err", "warn", "notice", "info", "debug")


def sniff(head: bytes) -> tuple[str | None, str | None]:
    """(format, warning) of a source from its first bytes: a structured format stalllog
    reads, or None and a warning when it looks like JSON of another kind (read as text)."""
    head = head[:SNIFF_BYTES]
    if head.startswith(b"\x1e{"):
        return "json-seq", None
    if _DMESG_HEAD.match(head):
        return "dmesg-json", None
    first = head.split(b"\n", 1)[0]
    if first.startswith(b"{"):
        if any(k in first for k in _JOURNAL_KEYS):
            return "json", None
        return None, ("looks like JSON but is neither `journalctl -o json` nor `dmesg -J` "
                      "(no MESSAGE/msg field): read as text")  # fmt: skip
    if _EXPORT_FIELD.match(first) and _EXPORT_MESSAGE.search(head.split(b"\n\n", 1)[0]):
        return "export", None
    return None, None


def needs_more(head: bytes) -> bool:
    """Whether a live source's first bytes are too few for `sniff`: a pipe's first burst can
    end inside the first export record or before `dmesg -J`'s `"dmesg": [` line."""
    if len(head) >= SNIFF_BYTES:
        return False
    first, nl, rest = head.partition(b"\n")
    if not nl:
        return True
    if first.strip() == b"{":
        return b"[" not in rest
    return _EXPORT_FIELD.match(first) is not None and b"\n\n" not in head


def whole_head(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
    """The chunks, the first ones joined until the format can be told (`needs_more`): read as
    text, a journal export cut by a pipe's first burst lost its records' structure."""
    chunks = iter(chunks)
    data = b""
    for chunk in chunks:
        data += chunk.data
        if chunk.last or chunk.cut or not needs_more(data):
            yield Chunk(data, chunk.last, chunk.cut)
            break
    yield from chunks


@dataclass
class StructuredStage:
    """Converts the chunks of one structured source into `lines` batches; the line stage
    keeps the line numbers and boots."""

    fmt: str
    stage: LineStage
    carry: bytes = b""
    dmesg: Record = field(default_factory=Record)  # dmesg -J: the record being read
    boot_id: str | None = None
    n_bad: int = 0
    first_bad: int = 0

    def batch(self, buf: bytes, last: bool, truncated: bool = False) -> pa.RecordBatch:
        data = self.carry + buf if self.carry else buf
        rows = Rows(KIND_BIT[KINDS[self.fmt]])
        if self.fmt == "export":
            done = read_export(self, data, last, rows)
            self.carry = data[done:]
        else:
            lines, eols, _ = split_lines(data)
            for line, eol in zip(lines, eols, strict=True):
                self._line(rows, rows.add(line, eol), line)
        return self._to_batch(rows, last, truncated)

    def new_boot(self, rec: Record) -> bool:
        """A record whose _BOOT_ID differs from the previous record's starts a boot."""
        changed = self.boot_id is not None and rec.boot_id not in (None, self.boot_id)
        self.boot_id = rec.boot_id or self.boot_id
        return changed

    def _line(self, rows: Rows, i: int, line: bytes) -> None:
        if self.fmt == "dmesg-json":
            self._dmesg_line(rows, i, line)
            return
        body = line[1:] if line.startswith(b"\x1e") else line
        if not body.strip():
            return
        try:
            obj = json.loads(body)
        except (ValueError, RecursionError):
            obj = None
        rec = journal_record(obj) if isinstance(obj, dict) else Record(bad=True)
        if rec.bad:
            self.bad(rows, i)
            return
        rows.message(i, rec, "", self.new_boot(rec))

    def _dmesg_line(self, rows: Rows, i: int, line: bytes) -> None:
        stripped = line.strip()
        if stripped in _DMESG_SYNTAX:
            if stripped in (b"{", b"},{"):
                self.dmesg = Record()
            return
        m = _DMESG_FIELD.fullmatch(line)
        try:
            value = json.loads(m[2]) if m else None
        except (ValueError, RecursionError):
            m = None
        if m is None:
            self.bad(rows, i)
            return
        key, rec = m[1].decode(), self.dmesg
        if key == "msg" and isinstance(value, str):
            rec.text = value
            rows.message(i, rec)
        elif key == "pri" and isinstance(value, int):
            rec.level, rec.nonkernel = value & 7, value >> 3 != 0
        elif key == "pri" and value in LEVELS:
            rec.level = LEVELS.index(value)
        elif key == "fac":
            rec.nonkernel = value != "kern"
        elif key == "time" and isinstance(value, int | float):
            rec.ts = float(value)
        elif key == "caller" and isinstance(value, str):
            rec.caller = value
        elif key in ("msg", "pri", "time", "caller"):
            self.bad(rows, i)

    def bad(self, rows: Rows, i: int) -> None:
        rows.bad(i)
        self.count_bad(i)

    def count_bad(self, i: int) -> None:
        """One more record that could not be read; `i`: its first row in this batch."""
        if not self.n_bad:
            self.first_bad = self.stage.next_line_no + i
        self.n_bad += 1

    def problem(self) -> str | None:
        """The sources.error note of this source, None when every record was read."""
        if not self.n_bad:
            return None
        what = {"dmesg-json": "dmesg -J", "export": "journal export"}.get(self.fmt, "journal JSON")
        return (f"{self.n_bad} {what} record(s) could not be read (flag bad-record; first at "
                f"line {self.first_bad})")  # fmt: skip

    def _to_batch(self, rows: Rows, last: bool, truncated: bool) -> pa.RecordBatch:
        n = len(rows.lines)
        st = self.stage
        flags = np.asarray(rows.flags, np.int32)
        if n and last and truncated:
            flags[-1] |= FLAG_BIT["truncated"]
        if n and rows.eol[-1] == 2:
            flags[-1] |= FLAG_BIT["no-eol"]
        line_no = np.arange(st.next_line_no, st.next_line_no + n, dtype=np.int64)
        st.next_line_no += n
        ts = np.asarray(rows.ts, np.float64)
        banner = np.array([t.startswith("Linux version ") for t in rows.text], bool)
        boot = st.boots.assign(st.source, line_no, ts, banner, np.asarray(rows.jboot, bool))
        level = np.asarray(rows.level, np.int16)
        source = pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(n, np.int32)), pa.array([st.source], pa.string())
        )
        cols = [
            pa.array(line_no), source, pa.array(boot), pa.array(ts),
            pa.array(rows.wall, pa.timestamp("us")),
            pa.array(rows.wall, WALL_UTC),  # journal realtime stamps are UTC
            pa.array([None if w is None else 0 for w in rows.wall], pa.int32()),
            pa.array(rows.host, pa.string()),
            pa.array(rows.caller, pa.string()),
            pa.array(level.astype(np.int8), pa.int8(), mask=level < 0),
            bitmask_to_dictionary(np.full(n, rows.kind, np.int32), KIND_BIT, "none"),
            pa.array(rows.prefix, pa.string()), pa.array(rows.text, pa.string()),
            pa.DictionaryArray.from_arrays(pa.array(np.asarray(rows.eol, np.int8)), EOL_VALUES),
            bitmask_to_dictionary(flags, FLAG_BIT, None),
            pa.nulls(n, pa.int64()), pa.nulls(n, pa.int64()), pa.array(rows.raw, pa.binary()),
        ]  # fmt: skip
        return pa.RecordBatch.from_arrays(cols, schema=LINES_SCHEMA)
