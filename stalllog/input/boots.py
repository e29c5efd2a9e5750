"""Boot numbers of lines: a new boot at a journal boot marker, at a kernel banner after
kernel lines, or where the printk clock starts again from 0.

Each host of a source (the `host` of syslog/journal prefixes) has its own boots: two hosts'
lines interleaved in one file never share a boot, and one host's clock reset or banner is no
reboot of another. Lines without a host belong to the host of the line before them; those
before any host to the first host that follows (so a file with one host, or none, is one
stream, as before hosts were told apart)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class _Stream:
    """One host's boot state within a source."""

    key: int  # stream id, unique over the capture (see BootTracker.stream_of)
    boot: int = -1
    seen_kernel: bool = False  # current boot already has a banner or a timestamped line
    last_ts: float = float("nan")

    def split(self, ts: np.ndarray, banner: np.ndarray, journal_boot: np.ndarray) -> list[int]:
        """Rows (of these, the stream's lines in order) where a new boot starts."""
        n = len(ts)
        has_ts = ~np.isnan(ts)
        prev = np.empty(n)
        # last timestamp seen before each line (forward fill)
        idx = np.where(has_ts, np.arange(n), -1)
        np.maximum.accumulate(idx, out=idx)
        prev[1:] = np.where(idx[:-1] >= 0, ts[np.maximum(idx[:-1], 0)], self.last_ts)
        if n:
            prev[0] = self.last_ts
        # A reboot shows as the clock going back to 0.000000 (the first lines of every boot
        # are stamped before the clock runs). Other steps back are not reboots: secondary CPUs
        # print with their own clock while they come up (6.12: 1.528080 then 0.075867), NMI and
        # printk_safe lines are stamped late, and pasted excerpts join pieces of one boot.
        reset = has_ts & (ts < prev - 1.0) & (ts < 1e-3)
        candidates = np.flatnonzero(reset | banner | journal_boot)
        ts_count = np.cumsum(has_ts)
        starts: list[int] = []
        start = 0
        seen = self.seen_kernel
        for i in candidates.tolist():
            if i > start:
                seen = seen or bool(ts_count[i - 1] - (ts_count[start - 1] if start else 0))
            if journal_boot[i] or reset[i] or (banner[i] and seen):
                starts.append(i)
                start = i
                seen = False
            seen = seen or bool(banner[i])
        self.seen_kernel = seen or bool(has_ts[start:].any())
        valid = ts[has_ts]
        if len(valid):
            self.last_ts = float(valid[-1])
        elif starts:
            self.last_ts = float("nan")
        return starts


@dataclass
class BootTracker:
    """Assigns boot numbers; state carries across chunks and sources of one capture."""

    boot: int = -1  # the last boot number given
    boots: list[dict[str, object]] = field(default_factory=list)
    stream_of: dict[int, int] = field(default_factory=dict)  # boot -> stream id (one host)
    _hosts: dict[str, _Stream] = field(default_factory=dict)  # this source's hosts
    _anon: _Stream | None = None  # lines before the source's first host
    _last_host: str | None = None
    _streams: int = 0

    def _new_stream(self) -> _Stream:
        self._streams += 1
        return _Stream(self._streams - 1)

    def new_boot(self, stream: _Stream, source: str, line_no: int) -> None:
        self.boot += 1
        stream.boot = self.boot
        stream.seen_kernel = False
        stream.last_ts = float("nan")
        self.stream_of[self.boot] = stream.key
        self.boots.append({"boot": self.boot, "source": source, "line_start": line_no})

    def _stream(self, host: str | None) -> _Stream:
        """The stream of lines of `host` (None: no host seen yet in this source)."""
        if host is None:
            if self._anon is None:
                self._anon = self._new_stream()
            return self._anon
        stream = self._hosts.get(host)
        if stream is None:
            if self._anon is not None and not self._hosts:
                stream = self._anon  # the first host takes the lines before it
            else:
                stream = self._new_stream()
            self._hosts[host] = stream
        return stream

    def assign(
        self, source: str, line_no: np.ndarray, ts: np.ndarray, banner: np.ndarray,
        journal_boot: np.ndarray, host: pa.Array | None = None,
    ) -> np.ndarray:  # fmt: skip
        n = len(ts)
        if self.boot < 0:
            self.new_boot(self._stream(None), source, int(line_no[0]) if n else 1)
        groups = self._groups(host, n)
        out = np.empty(n, np.int32)
        one = len(groups) == 1  # one host or none: the whole chunk, without copies
        pieces = []
        for stream, rows in groups:
            prior = stream.boot
            sel = slice(None) if one else rows
            starts = stream.split(ts[sel], banner[sel], journal_boot[sel])
            if prior < 0 and starts[:1] != [0]:  # a host's first line opens its first boot
                starts.insert(0, 0)
            pieces.append((stream, rows, starts, prior))
        # new boots are numbered in line order, whichever host they belong to
        order = sorted((int(rows[s]), k) for k, (_, rows, starts, _) in enumerate(pieces)
                       for s in starts)  # fmt: skip
        numbers: dict[int, int] = {}
        for row, k in order:
            stream = pieces[k][0]
            seen, last_ts = stream.seen_kernel, stream.last_ts
            self.new_boot(stream, source, int(line_no[row]))
            stream.seen_kernel, stream.last_ts = seen, last_ts  # split() left the chunk's end
            numbers[row] = self.boot
        for _, rows, starts, prior in pieces:
            bounds = [0, *starts, len(rows)]
            values = [prior, *(numbers[int(rows[s])] for s in starts)]
            for b, lo, hi in zip(values, bounds[:-1], bounds[1:], strict=True):
                out[slice(lo, hi) if one else rows[lo:hi]] = b
        return out

    def _groups(self, host: pa.Array | None, n: int) -> list[tuple[_Stream, np.ndarray]]:
        """The chunk's rows by host stream, a host's rows in line order."""
        everything = np.arange(n)
        if host is None or host.null_count == n:
            return [(self._stream(self._last_host), everything)]
        encoded = pc.dictionary_encode(host)
        names: list[str] = encoded.dictionary.to_pylist()
        if len(names) == 1 and (host[0].is_valid or self._last_host in (None, names[0])):
            self._last_host = names[0]
            return [(self._stream(names[0]), everything)]
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        # a line without host continues the host of the line before it
        at = np.where(codes >= 0, everything, -1)
        np.maximum.accumulate(at, out=at)
        codes = np.where(at >= 0, codes[np.maximum(at, 0)], -1)
        if self._last_host is None:  # the first lines of the source go with its first host
            codes[codes < 0] = codes[at >= 0][0]
        elif self._last_host in names:
            codes[codes < 0] = names.index(self._last_host)
        keys: list[str | None] = [*names, self._last_host]  # code -1: the host before
        by_code = np.argsort(codes, kind="stable")  # each host's rows, in line order
        bounds = np.flatnonzero(np.r_[True, codes[by_code][1:] != codes[by_code][:-1], True])
        runs = [by_code[lo:hi] for lo, hi in itertools.pairwise(bounds)]
        groups = []
        for rows in sorted(runs, key=lambda r: int(r[0])):  # streams met in line order
            groups.append((self._stream(keys[int(codes[rows[0]])]), rows))
        self._last_host = names[int(codes[-1])]
        return groups

    def new_source(self, source: str, line_no: int) -> None:
        """Each source starts a new boot: separate files are separate captures."""
        self._hosts, self._anon, self._last_host = {}, None, None
        if self.boot >= 0:
            self.new_boot(self._stream(None), source, line_no)
