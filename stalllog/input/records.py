"""Rows and records of the structured inputs (structured.py, export.py)."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

from stalllog.input.lines import FLAG_BIT


def decode(value: bytes) -> tuple[str, bool]:
    """Text of bytes; False when they were not UTF-8 (\\xNN escapes then)."""
    try:
        return value.decode("utf-8"), True
    except UnicodeDecodeError:
        return value.decode("utf-8", "backslashreplace"), False


def _usec(value: Any) -> int | None:
    """A journal timestamp field (decimal µs as a string); None when not one."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


@dataclass
class Record:
    """Values of one record for its message row."""

    text: str = ""
    ts: float = math.nan
    wall: int | None = None
    host: str | None = None
    caller: str | None = None
    level: int = -1
    nonkernel: bool = False
    boot_id: str | None = None
    utf8: bool = True
    bad: bool = False


def _message(value: Any) -> tuple[str, bool] | None:
    """MESSAGE as journalctl -o json writes it: a string, or an array of byte values when it
    is not UTF-8 (journalctl's json_escape); None for anything else."""
    if isinstance(value, str):
        return value, True
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return decode(bytes(value))
    return None


def journal_record(obj: dict[str, Any]) -> Record:
    """A journal entry (JSON object, or export fields as text) as a record. A field set more
    than once is an array of its values (each kept, one per line); MESSAGE null: journalctl
    left out a value over its size limit (a bad record)."""
    get = obj.get
    rec = Record()
    msg = get("MESSAGE")
    one = _message(msg)
    many = [_message(m) for m in msg] if isinstance(msg, list) and one is None else [None]
    if one is not None:
        rec.text, rec.utf8 = one
    elif all(many):
        rec.text = "\n".join(m[0] for m in many if m)
        rec.utf8 = all(m[1] for m in many if m)
    else:
        rec.bad = True
    mono = _usec(get("_SOURCE_MONOTONIC_TIMESTAMP"))  # the kernel's own record time
    mono = mono if mono is not None else _usec(get("__MONOTONIC_TIMESTAMP"))
    rec.ts = mono / 1e6 if mono is not None else math.nan
    rec.wall = _usec(get("_SOURCE_REALTIME_TIMESTAMP"))
    rec.wall = rec.wall if rec.wall is not None else _usec(get("__REALTIME_TIMESTAMP"))
    host, prio = get("_HOSTNAME"), get("PRIORITY")
    rec.host = host if isinstance(host, str) else None
    rec.level = int(prio) if isinstance(prio, str) and len(prio) == 1 and prio in "01234567" else -1
    ident, transport = get("SYSLOG_IDENTIFIER"), get("_TRANSPORT")
    # as the syslog path: a record of another program than the kernel (journalctl -k shows
    # userspace writes to /dev/kmsg, _TRANSPORT=kernel, under their own identifier)
    rec.nonkernel = (ident is not None and ident != "kernel") or (
        transport is not None and transport != "kernel")  # fmt: skip
    boot = get("_BOOT_ID")
    rec.boot_id = boot if isinstance(boot, str) else None
    return rec


@dataclass
class Rows:
    """The rows of one batch, a Python list per column."""

    kind: int
    lines: list[bytes] = field(default_factory=list)
    eol: list[int] = field(default_factory=list)
    prefix: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    raw: list[bytes | None] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    wall: list[int | None] = field(default_factory=list)
    host: list[str | None] = field(default_factory=list)
    caller: list[str | None] = field(default_factory=list)
    level: list[int] = field(default_factory=list)
    jboot: list[bool] = field(default_factory=list)

    def add(self, line: bytes, eol: int) -> int:
        """A row for one line, first as a syntax row (prefix = the line); its index."""
        self.lines.append(line)
        self.eol.append(eol)
        text, ok = decode(line)
        self.prefix.append(text if ok else "")
        self.text.append("")
        self.raw.append(None if ok else line)
        self.flags.append(FLAG_BIT["structured"] | (0 if ok else FLAG_BIT["invalid-utf8"]))
        self.ts.append(math.nan)
        self.wall.append(None)
        for col in (self.host, self.caller):
            col.append(None)
        self.level.append(-1)
        self.jboot.append(False)
        return len(self.lines) - 1

    def bad(self, i: int) -> None:
        """A line that should have been a record but could not be read: kept as text."""
        text, ok = decode(self.lines[i])
        self.prefix[i], self.text[i] = "", text
        self.raw[i] = None if ok else self.lines[i]
        self.flags[i] = FLAG_BIT["bad-record"] | (0 if ok else FLAG_BIT["invalid-utf8"])

    def message(self, i: int, rec: Record, prefix: str = "", new_boot: bool = False) -> None:
        """Row i carries the message of `rec` (`prefix`: the line's bytes before it)."""
        self.prefix[i], self.text[i] = prefix, rec.text
        self.raw[i] = None if (prefix + rec.text).encode() == self.lines[i] else self.lines[i]
        flags = 0 if rec.utf8 else FLAG_BIT["invalid-utf8"]
        self.flags[i] = flags | (FLAG_BIT["non-kernel"] if rec.nonkernel else 0)
        self.ts[i], self.wall[i], self.level[i] = rec.ts, rec.wall, rec.level
        self.host[i], self.caller[i], self.jboot[i] = rec.host, rec.caller, new_boot

    def mark_bad(self, lo: int, hi: int) -> None:
        for i in range(lo, hi):
            self.flags[i] |= FLAG_BIT["bad-record"]


def split_lines(data: bytes) -> tuple[list[bytes], list[int], list[int]]:
    """Lines of `data` without their end, the eol code of each (0 `\\n`, 1 `\\r\\n`, 2 none:
    the tail of a source) and the offset where each starts."""
    lines = data.split(b"\n")
    tail = bool(lines[-1])
    if not tail:
        lines.pop()
    starts = [0] * len(lines)
    eols = [0] * len(lines)
    pos = 0
    for i, line in enumerate(lines):
        starts[i] = pos
        pos += len(line) + 1
        if line.endswith(b"\r"):
            lines[i], eols[i] = line[:-1], 1
    if tail:  # no line end: a "\r" there is part of the line
        lines[-1] = data[starts[-1] :]
        eols[-1] = 2
    return lines, eols, starts


def line_of(starts: list[int], offset: int) -> int:
    """Index of the line holding byte `offset`."""
    return bisect.bisect_right(starts, offset) - 1
