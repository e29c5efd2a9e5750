"""Wall clocks to UTC (`lines.wall_utc`, `lines.utc_offset`).

A prefix that carries an offset (`dmesg --time-format iso`, RFC 3339/5424 syslog, a journalctl
-o short-full zone of `UTC`/`GMT` or `+0330`) gives it; journal records are UTC. Stamps
without one (`dmesg -T`, RFC 3164 syslog, journalctl -o short) are local time of a zone only
the user knows: `tz` (`--tz`) names it. RFC 3164 stamps have no year (`wall` keeps 1900): the
first one of an input gets `year` (`--year`), else the year that puts it nearest to the last
full date before it in the input (a `dmesg -T` or ISO stamp; the first one after it in the
same chunk when none came before), else the year of the file's mtime (the year before when
the stamp would be later than the mtime); later stamps count a new year at each Dec -> Jan
turn.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

US = 1_000_000
DAY_US = 86_400 * US
_EPOCH_DAY = np.datetime64("1970-01-01", "D")
_DAY_1900 = int((np.datetime64("1900-01-01", "D") - _EPOCH_DAY).astype(np.int64))
Y1901_US = int((np.datetime64("1901-01-01", "D") - _EPOCH_DAY).astype(np.int64)) * DAY_US
WALL_UTC = pa.timestamp("us", tz="UTC")


def check_tz(tz: object) -> None:
    """An unknown zone fails before any input is read."""
    if tz is None:
        return
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r} (an IANA name: Europe/Berlin, UTC)") from None


def check_year(year: object) -> None:
    if year is not None and not (isinstance(year, int) and 1901 <= year <= 9998):
        raise ValueError(f"year must be a year from 1901 to 9998, not {year!r}")


def _year_of(us: int) -> int:
    return int(np.datetime64(us, "us").astype("datetime64[Y]").astype(np.int64)) + 1970


def _with_year(wall: np.ndarray, months: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Stamps of 1900 (not a leap year) moved to `years`, day and time kept."""
    out = wall.copy()
    for y in np.unique(years).tolist():
        sel = years == y
        jan1 = int((np.datetime64(f"{y:04d}-01-01", "D") - _EPOCH_DAY).astype(np.int64))
        shift = (jan1 - _DAY_1900) * DAY_US
        leap = calendar.isleap(y) & (months[sel] >= 3)  # Feb 29 comes before them
        out[sel] = wall[sel] + shift + leap * DAY_US
    return out


@dataclass
class Clock:
    """Per capture: the zone and year given; per input: the state of the year count."""

    tz: str | None = None
    year: int | None = None
    mtime_us: int | None = None  # the input file's mtime (UTC µs)
    cur_year: int | None = None  # year of the last RFC 3164 stamp, once known
    last_month: int = 0
    anchor_us: int | None = None  # last full date (naive µs) of the input

    def start_source(self, mtime: float | None) -> None:
        self.mtime_us = None if mtime is None else int(mtime * US)
        self.cur_year, self.last_month, self.anchor_us = None, 0, None

    def utc(
        self, wall: np.ndarray, ok: np.ndarray, off: np.ndarray, off_ok: np.ndarray
    ) -> tuple[pa.Array, pa.Array, np.ndarray]:
        """`wall_utc`, `utc_offset` (s) of one chunk's lines, and the rows whose local time
        is in a DST change (flag tz-ambiguous): the fall-back hour (the earlier instant is
        taken) or the spring-forward gap (no instant)."""
        n = len(wall)
        utc = np.zeros(n, np.int64)
        offset = np.zeros(n, np.int32)
        given = ok & off_ok
        utc[given] = wall[given] - off[given].astype(np.int64) * US
        offset[given] = off[given]
        known = given.copy()
        unsure = np.zeros(n, bool)
        yearless = ok & (wall < Y1901_US)
        full = ok & ~yearless
        if self.tz is not None:
            local = ok & ~off_ok
            dated = wall
            if yearless.any():
                dated, resolved = self._years(wall, yearless, full)
                local &= ~yearless | resolved
            rows = np.flatnonzero(local)
            if len(rows):
                stamps = pa.array(dated[rows], pa.timestamp("us"))
                early = self._assume(stamps, "earliest")
                late = self._assume(stamps, "latest")
                unsure[rows] = early != late
                gap = unsure[rows] & (late - early <= 1)  # `earliest`: just before the shift
                rows, early = rows[~gap], early[~gap]
                utc[rows] = early
                offset[rows] = (dated[rows] - early) // US
                known[rows] = True
        if full.any():
            self.anchor_us = int(wall[np.flatnonzero(full)[-1]])
        return (
            pa.array(utc, WALL_UTC, mask=~known),
            pa.array(offset, pa.int32(), mask=~known),
            unsure,
        )

    def _assume(self, stamps: pa.Array, which: str) -> np.ndarray:
        out = pc.assume_timezone(stamps, timezone=self.tz, ambiguous=which, nonexistent=which)
        return np.asarray(out.cast(pa.int64()).to_numpy(zero_copy_only=False), np.int64)

    def _years(
        self, wall: np.ndarray, yearless: np.ndarray, full: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """`wall` with the RFC 3164 stamps in their year, and which of them have one."""
        rows = np.flatnonzero(yearless)
        stamps = wall[rows]
        months = stamps.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64) % 12 + 1
        if self.cur_year is None:
            base = self._first_year(wall, int(rows[0]), full)
            if base is None:  # no year known (yet): no instant
                return wall, np.zeros(len(wall), bool)
            self.cur_year, self.last_month = base, int(months[0])
        prev = np.concatenate([[self.last_month], months[:-1]])
        years = self.cur_year + np.cumsum(months < prev - 6)  # Dec -> Jan: a new year
        self.cur_year, self.last_month = int(years[-1]), int(months[-1])
        out = wall.copy()
        out[rows] = _with_year(stamps, months, years)
        return out, yearless

    def _first_year(self, wall: np.ndarray, first: int, full: np.ndarray) -> int | None:
        if self.year is not None:
            return self.year
        stamp, month = wall[first : first + 1], np.array([_month(int(wall[first]))])
        before = np.flatnonzero(full[:first])
        after = np.flatnonzero(full[first:])
        anchor = (
            int(wall[before[-1]]) if len(before)
            else self.anchor_us if self.anchor_us is not None
            else int(wall[first + after[0]]) if len(after)
            else None
        )  # fmt: skip
        if anchor is not None:
            y = _year_of(anchor)
            near = [abs(int(_with_year(stamp, month, np.array([c]))[0]) - anchor)
                    for c in (y - 1, y, y + 1)]  # fmt: skip
            return y - 1 + int(np.argmin(near))
        if self.mtime_us is not None:
            y = _year_of(self.mtime_us)
            later = int(_with_year(stamp, month, np.array([y]))[0]) > self.mtime_us + DAY_US
            return y - 1 if later else y
        return None


def _month(us: int) -> int:
    return int(np.datetime64(us, "us").astype("datetime64[M]").astype(np.int64)) % 12 + 1
