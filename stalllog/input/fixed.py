"""Fixed-width line prefixes read from the bytes with numpy, before RE2 (prefixes.py).

Most lines of a production capture carry one of a few prefixes of fixed layout: `dmesg -T`
`[Thu Oct 20 08:08:41 2016] ` and the syslog/journal stamp `Oct 20 08:08:41 `. Checking a
byte window of every line against the layout costs a few numpy passes instead of one RE2
submatch search per line, and the wall clock comes out without strptime. A reader accepts
only lines its RE2 pattern matches the same way (the layouts below are those patterns), and
gives a wall clock only where the date is certainly valid; the line stage leaves every other
line to the pattern and every other stamp to walls.py, as before.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from stalllog.input.walls import MONTHS

PAD = 32  # NUL bytes after the chunk: a window of WIDTH bytes from any line start fits
WIDTH = 32
PAIR_MAX = (
    64  # longest syslog ` host tag: ` compared bytewise (printable ASCII: no NUL, no newline)
)

# byte ranges of the layout letters: (first byte, how many); any other character is itself
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_RANGES = {"A": (ord("A"), 26), "a": (ord("a"), 26), "9": (ord("0"), 10), "_": (ord("0"), 10)}


class Layout:
    """A fixed-width prefix form: A upper, a lower, 9 digit, _ space or digit (a day
    `[ \\d]\\d`), any other character itself."""

    def __init__(self, spec: str) -> None:
        self.size = len(spec)
        # per byte: 127 + stop and 127 - (first - 1) (the sums never carry into the next byte)
        upper = np.full(WIDTH, 127, np.uint8)
        lower = np.full(WIDTH, 127, np.uint8)
        care = np.zeros(WIDTH, np.uint8)
        for j, ch in enumerate(spec):
            first, count = _RANGES.get(ch, (ord(ch), 1))
            upper[j] = 127 + first + count
            lower[j] = 127 - (first - 1)
            care[j] = 0x80
        self.upper, self.lower, self.care = (a.view("<u8") for a in (upper, lower, care))
        self.mask = (self.care >> np.uint64(7)) * np.uint64(0xFF)  # every byte of the layout
        self.spaced = [j for j, ch in enumerate(spec) if ch == "_"]
        self.words = (self.size + 7) // 8  # 8-byte words holding the layout

    def match(self, win: np.ndarray) -> np.ndarray:
        """Rows of `win` (rows x WIDTH, from window()) that fit. A space in a `_` column
        becomes "0" in `win`: the number reads the same."""
        for j in self.spaced:
            col = win[:, j]
            col[col == 0x20] = 0x30
        # 8 bytes at a time: the high bit of each byte says first <= byte < stop (ASCII);
        # Bit Twiddling Hacks, "determine if a word has a byte between m and n". One word
        # column at a time: numpy loops fast over long rows, not over rows of 4.
        words = win.view("<u8")
        ok = np.ones(len(win), bool)
        for k in range(self.words):
            x = words[:, k]
            low7 = x & _LOW7
            fits = (self.upper[k] - low7) & (low7 + self.lower[k]) & ~x
            ok &= (fits & self.care[k]) == self.care[k]
        return ok

    def runs(self, win: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(first row of each run of equal prefixes, run of each row): consecutive lines
        repeat a stamp, whose date is then worked out once."""
        words = win.view("<u8")
        new = np.ones(len(win), bool)
        for k in range(self.words):
            x = words[:, k] & self.mask[k]
            new[1:] |= x[1:] != x[:-1]
        return np.flatnonzero(new), np.cumsum(new) - 1


# `[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}` in brackets, a space: CTIME_FAST
CTIME = Layout("[Aaa Aaa _9 99:99:99 9999] ")
# `[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d` and a space (no fraction): the head of SYSLOG_FAST
SYSLOG = Layout("Aaa _9 99:99:99 ")

_ENGLISH = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)


def _word(b: bytes) -> int:
    return b[0] << 16 | b[1] << 8 | b[2]


# 3-letter month words as 24-bit numbers, sorted, and their month (1-12) for ctime (walls.MONTHS,
# as wall_from_ctime reads them) and for syslog (strptime `%b` in the C locale)
_MONTH_KEYS = np.array(sorted(_word(m.encode()) for m in _ENGLISH), np.int64)
_CTIME_MONTH = np.array(
    [MONTHS[bytes.fromhex(f"{k:06x}").decode().lower()] for k in _MONTH_KEYS], np.int64
)
_SYSLOG_MONTH = np.array(
    [_ENGLISH.index(bytes.fromhex(f"{k:06x}").decode()) + 1 for k in _MONTH_KEYS], np.int64
)


_VIEW_WORDS = np.array([0, 4, 8])


def slices(pad: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> pa.StringArray:
    """pad[starts[i] : starts[i] + lengths[i]] for all i, as a string array: Arrow string views
    into the chunk (16 bytes a row; only strings of <= 12 bytes are stored inline, gathered as
    three 4-byte words), cast to a plain string array in one copy. `pad` is the chunk plus at
    least 12 bytes."""
    n = len(starts)
    words = np.ndarray(shape=(len(pad) - 3,), dtype="<u4", buffer=pad, strides=(1,))
    view = np.empty((n, 4), np.uint32)  # length, first 4 bytes, buffer 0, offset
    view[:, 0] = lengths
    view[:, 1] = words[starts]
    view[:, 2] = 0
    view[:, 3] = starts
    short = np.flatnonzero(lengths <= 12)
    if len(short):
        s = starts[short]
        inline = np.stack([view[short, 1], words[s + 4], words[s + 8]], axis=1)
        nbytes = np.clip(lengths[short][:, None] - _VIEW_WORDS, 0, 4).astype(np.uint64)
        inline &= ((np.uint64(1) << (nbytes * np.uint64(8))) - np.uint64(1)).astype(np.uint32)
        view[short, 1:] = inline  # zeros after the string
    views = pa.Array.from_buffers(
        pa.string_view(), n, [None, pa.py_buffer(view), pa.py_buffer(pad)]
    )
    return views.cast(pa.string())


def window(pad: np.ndarray, starts: np.ndarray, width: int = WIDTH) -> np.ndarray:
    """The `width` bytes from each start (rows x width; may run into the next lines), copied
    row by row out of a strided view of `pad`. A start too close to the end of `pad` moves
    back: its window then ends in the last byte of `pad`, a NUL."""
    view = np.lib.stride_tricks.as_strided(pad, (len(pad) - width + 1, width), (1, 1))
    return view[np.minimum(starts, len(pad) - width)]


def equal(pad: np.ndarray, starts: np.ndarray, literal: bytes) -> np.ndarray:
    """Rows whose bytes from `starts` are `literal` (compared 8 bytes at a time)."""
    size = -(-len(literal) // 8) * 8
    words = window(pad, starts, size).view("<u8")
    want = np.frombuffer(literal.ljust(size, b"\0"), "<u8")
    mask = np.frombuffer((b"\xff" * len(literal)).ljust(size, b"\0"), "<u8")
    ok = np.ones(len(starts), bool)
    for k in range(size // 8):
        ok &= (words[:, k] & mask[k]) == want[k]
    return ok


def _number(win: np.ndarray, first: int, stop: int) -> np.ndarray:
    """The decimal number in columns first..stop-1."""
    out = np.zeros(len(win), np.int64)
    for j in range(first, stop):  # in place, the "0"s taken off once: half the passes
        out *= 10
        out += win[:, j]
    return out - 48 * ((10 ** (stop - first) - 1) // 9)


def _month(win: np.ndarray, col: int, table: np.ndarray) -> np.ndarray:
    """Month 1-12 of the 3-letter word at `col`, 0 if it is none of the English ones."""
    key = (
        win[:, col].astype(np.int64) << 16
        | win[:, col + 1].astype(np.int64) << 8
        | win[:, col + 2].astype(np.int64)
    )
    at = np.minimum(np.searchsorted(_MONTH_KEYS, key), len(_MONTH_KEYS) - 1)
    return np.where(_MONTH_KEYS[at] == key, table[at], 0)


def _micros(
    year: np.ndarray, month: np.ndarray, day: np.ndarray, hms: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """µs since 1970 of each date and time, and whether it is certainly a valid datetime
    (month known, day of that month, hour < 24, minute and second < 60, year >= 1)."""
    h, mi, s = hms
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    m = np.clip(month, 1, 12)
    dim = _DAYS_IN_MONTH[m] + ((m == 2) & leap)
    ok = (month > 0) & (day >= 1) & (day <= dim) & (h < 24) & (mi < 60) & (s < 60) & (year >= 1)
    # days from the civil date (H. Hinnant's algorithm; March-based years)
    y = year - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return ((days * 24 + h) * 60 + mi) * 60_000_000 + s * 1_000_000, ok


Read = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _per_run(layout: Layout, win: np.ndarray, read: Read) -> tuple[np.ndarray, np.ndarray]:
    heads, run = layout.runs(win)
    micros, certain = read(win[heads])
    return micros[run], certain[run]


def _ctime(win: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _micros(
        _number(win, 21, 25),
        _month(win, 5, _CTIME_MONTH),
        _number(win, 9, 11),
        (_number(win, 12, 14), _number(win, 15, 17), _number(win, 18, 20)),
    )


def _syslog(win: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _micros(
        np.full(len(win), 1900, np.int64),
        _month(win, 0, _SYSLOG_MONTH),
        _number(win, 4, 6),
        (_number(win, 7, 9), _number(win, 10, 12), _number(win, 13, 15)),
    )


def ctime_walls(win: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wall clocks of `[Thu Oct 20 08:08:41 2016] ` windows (CTIME rows): µs, and whether
    certain. wall_from_ctime takes the month from the last month word: here the second."""
    return _per_run(CTIME, win, _ctime)


def syslog_walls(win: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wall clocks of `Oct 20 08:08:41 ` windows (SYSLOG rows) in the unknown year 1900, as
    wall_from_syslog gives them: µs, and whether certain."""
    return _per_run(SYSLOG, win, _syslog)


_US_MAX = 2**53  # µs counts up to here are exact as doubles: µs / 1e6 rounds as the text
# printk's `[%5lu.%06lu]` by the column of its `]`: 5 columns of seconds first, then wider
_CLOSE = (13, 14, 15, 16, 17, 18, 19, 20, 12, 11, 10, 9)
_PRINTK = {c: Layout("[" + "_" * (c - 9) + "9.999999]") for c in _CLOSE}


def printk_times(pad: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """printk times `[%5lu.%06lu]` at `starts`, an optional space after, as BRACKET_TIME reads
    them: leading spaces, then 1-12 digits of seconds and exactly 6 of µs (other forms are left
    to the pattern). Returns (rows that fit, prefix length, seconds). The seconds equal Arrow's
    cast of the digits: the µs count divided by 1e6 is correctly rounded, as that cast is."""
    n = len(starts)
    fits = np.zeros(n, bool)
    plen = np.zeros(n, np.int64)
    secs = np.zeros(n)
    left = np.arange(n)
    for c in _CLOSE:  # one `]` column at most fits: the columns before it hold no `]`
        s = starts[left]
        rows = left[(pad[s + c] == 0x5D) & (pad[s + c - 7] == 0x2E)]
        if not len(rows):
            continue
        win = window(pad, starts[rows])
        spaces = win[:, 1 : c - 8] == 0x20
        ok = ~(spaces[:, 1:] & ~spaces[:, :-1]).any(axis=1)  # spaces lead, digits follow
        ok &= _PRINTK[c].match(win)
        micros = _number(win, 1, c - 7) * 1_000_000 + _number(win, c - 6, c)
        ok &= micros < _US_MAX
        rows = rows[ok]
        fits[rows] = True
        plen[rows] = c + 1 + (win[ok, c + 1] == 0x20)
        secs[rows] = micros[ok] / 1e6
        if len(rows) == len(left):
            break
        left = np.setdiff1d(left, rows, assume_unique=True)
    return fits, plen, secs
