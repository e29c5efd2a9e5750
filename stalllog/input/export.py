"""`journalctl -o export`: the journal export format (systemd's docs/JOURNAL_EXPORT_FORMATS.md).

An entry is `KEY=value` lines ended by an empty line; a value that is not printable text
(newlines, control bytes, not UTF-8) is written as `KEY`, a newline, its length as a 64-bit
little-endian number, the bytes, and a newline. So a message with newlines spans several input
lines, and the length's bytes may hold a newline too: entries are read from the bytes, then
their rows are laid on the input lines (records.Rows).
"""

from __future__ import annotations

import re
from typing import Protocol

from stalllog.input.records import Record, Rows, decode, journal_record, line_of, split_lines

CARRY_MAX = 64 << 20  # bytes of an unfinished entry held over to the next chunk
# journal field names: upper-case letters, digits and `_` (journal-file.c field_is_valid)
FIELD_NAME = re.compile(rb"[A-Z0-9_]{1,64}")


class _Stage(Protocol):
    def new_boot(self, rec: Record) -> bool: ...
    def count_bad(self, line: int) -> None: ...


class _Entry:
    """Fields of the entry being read and where its message is."""

    def __init__(self, start: int) -> None:
        self.start = start  # byte offset of its first line
        self.fields: dict[str, bytes] = {}
        self.msg_at = -1  # byte offset of the line carrying MESSAGE
        self.msg_prefix = ""

    def add(self, key: bytes, value: bytes, at: int, prefix: str) -> None:
        name = key.decode()
        if name in self.fields:
            return  # a field set twice: the first value carries the row
        self.fields[name] = value
        if name == "MESSAGE":
            self.msg_at, self.msg_prefix = at, prefix

    def record(self) -> Record:
        texts = {k: v.decode("utf-8", "replace") for k, v in self.fields.items()}
        texts["MESSAGE"] = ""
        rec = journal_record(texts)
        rec.text, rec.utf8 = decode(self.fields.get("MESSAGE", b""))
        return rec


_Field = tuple[int, bytes, bytes, int, str]


def _field(data: bytes, pos: int, end: int, last: bool) -> _Field | None:
    """The field on the line data[pos:end]: (next position, key, value, offset of the row that
    carries the value, that row's prefix). Next position -1: the field runs past the data.
    None: no field (broken framing)."""
    line = data[pos:end]
    eq = line.find(b"=")
    if eq > 0 and FIELD_NAME.fullmatch(line, 0, eq):
        return end + 1, line[:eq], line[eq + 1 :], pos, line[: eq + 1].decode()
    if not FIELD_NAME.fullmatch(line):
        return None
    vstart = end + 1
    size = int.from_bytes(data[vstart : vstart + 8], "little") if vstart + 8 <= len(data) else 0
    vend = vstart + 8 + size
    if vstart + 8 > len(data) or vend >= len(data):
        return (-1, line, b"", 0, "") if not last and size <= CARRY_MAX else None
    if data[vend] != 0x0A:
        return None
    return vend + 1, line, data[vstart + 8 : vend], vstart, ""


def read_export(stage: _Stage, data: bytes, last: bool, rows: Rows) -> int:
    """Rows for the entries of `data` that end in it (all of it when `last`); returns how
    many bytes were used (the rest waits for the next chunk)."""
    done = 0
    entries: list[_Entry] = []
    bad: list[tuple[int, int]] = []  # byte ranges of entries with broken framing
    entry = _Entry(0)
    pos, n = 0, len(data)
    while pos < n:
        nl = data.find(b"\n", pos)
        end = n if nl < 0 else nl
        if end == pos:  # the empty line after an entry
            entries.append(entry)
            pos = done = end + 1
            entry = _Entry(pos)
            continue
        got = _field(data, pos, end, last)
        if got is not None and got[0] < 0:
            if n - entry.start <= CARRY_MAX:
                break  # the rest of this entry comes with the next chunk
            got = None
        if got is None:  # broken framing: drop to the end of this entry
            blank = data.find(b"\n\n", pos)
            if blank < 0 and not last and n - entry.start <= CARRY_MAX:
                break
            pos = done = n if blank < 0 else blank + 2
            bad.append((entry.start, pos))
            entry = _Entry(pos)
            continue
        pos, key, value, at, prefix = got
        entry.add(key, value, at, prefix)
    if last:
        if entry.fields:
            entries.append(entry)
        done = n
    _lay(stage, data[:done], entries, bad, rows)
    return done


def _lay(stage: _Stage, data: bytes, entries: list[_Entry], bad: list[tuple[int, int]],
         rows: Rows) -> None:  # fmt: skip
    """Rows for the lines of `data`, then each entry's message on the row of its line."""
    first = len(rows.lines)
    lines, eols, starts = split_lines(data)
    for line, eol in zip(lines, eols, strict=True):
        rows.add(line, eol)
    for e in entries:
        if e.msg_at >= 0:
            rec = e.record()
            rows.message(first + line_of(starts, e.msg_at), rec, e.msg_prefix, stage.new_boot(rec))
    for lo, hi in bad:
        a, b = line_of(starts, lo), line_of(starts, hi - 1) + 1
        rows.mark_bad(first + a, first + b)
        stage.count_bad(first + a)
