"""The rows of a `lines` batch the dispatcher visits, as Python values, window by window, with
what RE2 can tell about each row before Python looks at it."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stalllog.parsers.base import Line

WINDOW_MIN = 64  # rows converted to Python at a visited row; doubled while blocks stay open
WINDOW_MAX = 16_384


class Window:
    """Rows [start, end) of a `lines` batch as Python values, for the dispatcher's loop."""

    def __init__(self, batch: pa.RecordBatch, line0: int, cand: np.ndarray,
                 skip_feed: np.ndarray, source: str, start: int, end: int) -> None:  # fmt: skip
        self.start, self.end, self.source = start, end, source
        rows = batch.slice(start, end - start)
        texts = rows.column("text")
        self.texts: list[str] = texts.to_pylist()
        # rows holding more than one record (embedded newline, a stamp glued after text), and
        # those that may hold a digit run longer than MAX_DIGITS: RE2 over the window, exact
        # (on ASCII text _DIGITS finds what DIGIT_RUN_RE does; other text goes to it)
        self.multi: list[bool] = np_bool(pc.match_substring_regex(texts, _MULTI)).tolist()
        long = pc.and_(
            pc.invert(pc.string_is_ascii(texts)), pc.greater(pc.utf8_length(texts), MAX_DIGITS)
        )
        self.digits: list[bool] = np_bool(
            pc.or_(pc.match_substring_regex(texts, _DIGITS), long)
        ).tolist()
        self.ts: list[float | None] = rows.column("ts").to_numpy(zero_copy_only=False).tolist()
        self.callers: list[str | None] = _pylist(rows.column("caller"))
        self.levels: list[int | None] = _pylist(rows.column("level"))
        self.boots: list[int] = rows.column("boot").to_numpy().tolist()
        self.drops: list[int | None] = _pylist(rows.column("dropped"))
        self.line0 = line0 + start
        self.cand: list[bool] = cand[start:end].tolist()
        self.skip_feed: list[bool] = skip_feed[start:end].tolist()


def skip_feed_rows(flags: pa.Array) -> np.ndarray:
    """Rows whose flags keep them from open blocks (non-kernel lines, /dev/kmsg dictionary
    lines)."""
    return matching_rows(flags, _SKIP_FLAGS)


def matching_rows(column: pa.Array, pattern: str) -> np.ndarray:
    """Rows whose value `pattern` matches (null: no), matched on the dictionary of a
    dictionary column rather than on every row."""
    if not pa.types.is_dictionary(column.type):
        return np_bool(pc.match_substring_regex(column.cast(pa.string()), pattern))
    hit = np.append(np_bool(pc.match_substring_regex(column.dictionary, pattern)), False)
    codes = pc.fill_null(column.indices, len(column.dictionary)).to_numpy(zero_copy_only=False)
    return hit[codes]


# structured: a JSON/export syntax line; wrap-cont: its text was joined to the line above
_SKIP_FLAGS = "non-kernel|kmsg-dict|structured|wrap-cont"


# A printk stamp inside a line (_GLUED_RE splits there): serial consoles glue a record
# behind unfinished text of another CPU (`BUG: workqueue lockup - pool[ 2417.500236] INFO: task
# ...`, syzkaller's `login: [  100.1][    C1] rcu: INFO: ...`).
GLUED_STAMP = r"\[ *(\d+\.\d{6})\](?:\[ *([TC]\d+)\])? "  # groups: the time, the caller
_GLUED_RE = re.compile(GLUED_STAMP)
# an embedded newline, or a stamp glued after the first character. ASCII digits: which lines
# are split must not depend on Unicode digits
_MULTI = r"\n|(?s:.)" + GLUED_STAMP.replace(r"\d", "[0-9]")
# Python refuses int() of more than 4300 digits (and it is quadratic below that): families see
# a longer run than MAX_DIGITS cut, still far out of any column's range, so the checked
# conversion nulls it and names it. The `lines` table keeps the text as it came.
MAX_DIGITS = 100
DIGIT_RUN_RE = re.compile(rf"\d{{{MAX_DIGITS + 1},}}")
_DIGITS = rf"[0-9]{{{MAX_DIGITS + 1}}}"  # on ASCII text what `re`'s (Unicode) \d finds


def _pylist(a: pa.Array) -> list[Any]:
    """to_pylist(), without a conversion per row of an all-null column (no caller ids, ...)."""
    return [None] * len(a) if a.null_count == len(a) else a.to_pylist()


def np_bool(a: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(a, False).to_numpy(zero_copy_only=False), dtype=bool)


def logical_lines(line: Line) -> list[Line]:
    """Split a physical line into the records it holds: embedded newlines (/dev/kmsg `\\x0a`,
    rsyslog `#012`) and records glued behind other text; each keeps the line number."""
    out: list[Line] = []
    for k, piece in enumerate(line.text.split("\n")):
        dropped = line.dropped if k == 0 else 0
        start, ts, caller = 0, line.ts, line.caller
        for m in _GLUED_RE.finditer(piece):
            if m.start() == 0:
                continue
            out.append(Line(line.source, line.line_no, line.boot, ts, caller, line.level,
                            piece[start : m.start()], dropped))  # fmt: skip
            dropped = 0
            start, ts, caller = m.end(), float(m[1]), m[2] or caller
        out.append(Line(line.source, line.line_no, line.boot, ts, caller, line.level,
                        piece[start:], dropped))  # fmt: skip
    return out


def shorten_digit_runs(text: str) -> str:
    return DIGIT_RUN_RE.sub(lambda m: m[0][:MAX_DIGITS], text)
