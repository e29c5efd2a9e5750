"""Line prefixes of fixed layout read from the bytes (fixed.py) instead of by RE2: the
`dmesg -T` stamp, the syslog header of the few host/tag pairs that make up most lines. The
rows a reader does not take go to their RE2 pattern (prefixes.py) as before."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stalllog.input import fixed
from stalllog.input.prefixes import KIND_BIT, SYSLOG_FAST
from stalllog.input.stamps import WallFields
from stalllog.input.walls import wall_from_ctime

_SYSLOG_PAIRS = 4  # host/tag pairs read from the bytes per chunk
_SYSLOG_MIN_ROWS = 256  # fewer lines left: the pattern is as cheap


class FixedReads(WallFields):
    """The readers of lines.py's `_Fields` that work on the chunk's bytes."""

    plen: np.ndarray
    kinds: np.ndarray
    ts: np.ndarray
    good: np.ndarray
    nonkernel: np.ndarray
    strings: dict[str, list[tuple[np.ndarray, pa.Array]]]

    def read_ctime(self, pad: np.ndarray, starts: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """`dmesg -T` prefixes that fit fixed.CTIME, read from the bytes as CTIME_FAST reads
        them. Returns the rows read."""
        rows = rows[self.good[rows]]
        win = fixed.window(pad, starts[rows])
        ok = fixed.CTIME.match(win)
        rows, win = rows[ok], win[ok]
        self.plen[rows] = fixed.CTIME.size
        self.kinds[rows] = KIND_BIT["dmesg_ctime"]
        self.set_walls(rows, fixed.ctime_walls(win), pad, starts[rows] + 1, 24, wall_from_ctime)
        return rows

    def read_syslog(
        self, full: pa.StringArray, pad: np.ndarray, starts: np.ndarray, rows: np.ndarray
    ) -> np.ndarray:
        """Syslog headers `Oct 20 08:08:41 host tag: ` of the few host/tag pairs that make up
        most lines, read from the bytes: SYSLOG_FAST reads the pair of one line, whose bytes
        are then compared with the same bytes of every line with a fixed.SYSLOG stamp (the
        pattern reads those lines alike: host and tag hold no space). Returns the rows read."""
        rows = rows[self.good[rows]]
        head = fixed.SYSLOG.size - 1  # the stamp; the space is the pair's first byte
        left = rows[fixed.SYSLOG.match(fixed.window(pad, starts[rows]))]
        done = [left[:0]]
        for _ in range(_SYSLOG_PAIRS):
            if len(left) < _SYSLOG_MIN_ROWS:
                break
            m = pc.extract_regex(full.take(pa.array(left[:1])), SYSLOG_FAST)
            prefix, host, ident = (m.field(k)[0].as_py() for k in ("prefix", "host", "ident"))
            pair = (prefix or "")[head:].encode()
            if not prefix or len(pair) > fixed.PAIR_MAX or not all(0x20 <= b < 0x7F for b in pair):
                left = left[1:]
                continue
            hit = fixed.equal(pad, starts[left] + head, pair)
            got = left[hit]
            self.plen[got] = len(prefix)
            self.kinds[got] = KIND_BIT["syslog"]
            self.strings["host"].append((got, pa.array([host]).take(np.zeros(len(got), int))))
            self.nonkernel[got] = not ident.startswith("kernel")
            done.append(got)
            left = left[~hit]
        return np.sort(np.concatenate(done))

    def read_bracket(self, pad: np.ndarray, starts: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """printk times `[    1.234567] ` that fit fixed.printk_times, read as BRACKET_TIME
        reads them. Returns the rows left to the pattern."""
        at = np.flatnonzero(self.good[rows])
        fits, plen, secs = fixed.printk_times(pad, starts[rows[at]])
        read = rows[at[fits]]
        self.plen[read] = plen[fits]
        self.kinds[read] = KIND_BIT["time"]
        self.ts[read] = secs[fits]
        left = np.ones(len(rows), bool)
        left[at[fits]] = False
        return rows[left]
