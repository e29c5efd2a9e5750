"""Open captures (paths, stdin, bytes, file objects), decompress, cut into whole-line chunks.

Compression is detected from magic bytes, never from the file name: captures get renamed,
and `journalctl | xz > log.txt` is common. Decompression is done with the incremental
decompressor objects, so a truncated or corrupt archive gives back every byte that decoded
before the damage (a plain `GzipFile.read(n)` drops the whole last read) and says why it
stopped; a cut zstd frame, which `zstandard`'s stream reader ends silently, is reported too.

Memory stays bounded whatever the input: every decompression step and every chunk is
bounded, and a line longer than `MAX_LINE` is cut (the rest is skipped, counted and hashed,
see `CutLog`). UTF-16 files with a byte order mark are decoded to UTF-8 as they stream.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from stalllog.input.live import LiveReader, is_live
from stalllog.input.streams import (
    CaptureError,
    DecompressedStream,
    ReadOnly,
    TextStream,
    Utf16Stream,
)

__all__ = ["CaptureError", "Chunk", "OpenedSource", "iter_chunks", "open_source"]

CHUNK_BYTES = 8 << 20
MAX_LINE = 4 << 20  # bytes; the rest of a longer line is skipped (counted and hashed)
READ_MAX = 4 << 20  # most bytes asked of the stream per read
# Decompression-bomb guard, used only when no max_bytes is given: real captures compress
# 5-50:1; zeros or newlines compress > 10000:1 and the lines table costs ~150 bytes a line.
BOMB_MIN_BYTES = 8 << 20
BOMB_RATIO = 200
CUTS_LISTED = 10  # cut lines described one by one; the others are summed up
EPIPE_MAX = 1000  # EPIPE reads in a row before an input counts as unreadable
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

MAGIC = {
    b"\x1f\x8b": "gzip",
    b"\xfd7zXZ\x00": "xz",
    b"BZh": "bzip2",
    b"\x28\xb5\x2f\xfd": "zstd",
}

SourceLike = str | os.PathLike[str] | bytes | bytearray | IO[bytes] | IO[str]


@dataclass(slots=True)
class Chunk:
    """Whole lines of one source; `data` ends with b"\\n" unless it is the source's tail."""

    data: bytes
    last: bool
    cut: bool = False  # the last line of `data` was cut at MAX_LINE (its rest skipped)


@dataclass(slots=True)
class CutLog:
    """What was skipped of overlong lines: nothing is dropped without a count and a hash."""

    cuts: list[str] = field(default_factory=list)  # the first CUTS_LISTED, one by one
    more: int = 0  # cut lines after those
    more_bytes: int = 0
    more_sha: Any = field(default_factory=hashlib.sha256)
    skipped: int = 0  # all bytes skipped

    def add(self, offset: int, kept: int, skipped: int, sha: Any) -> None:
        self.skipped += skipped
        if len(self.cuts) < CUTS_LISTED:
            self.cuts.append(
                f"line at byte {offset} cut after {kept} bytes: {skipped} bytes skipped "
                f"(sha256 {sha.hexdigest()})"
            )
        else:
            self.more += 1
            self.more_bytes += skipped

    def hasher(self) -> Any:
        """Where the next cut line's skipped bytes are hashed."""
        return hashlib.sha256() if len(self.cuts) < CUTS_LISTED else self.more_sha

    def text(self) -> str | None:
        out = list(self.cuts)
        if self.more:
            out.append(
                f"{self.more} more lines cut: {self.more_bytes} bytes skipped "
                f"(sha256 of them all {self.more_sha.hexdigest()})"
            )
        return "; ".join(out) or None


@dataclass(slots=True)
class OpenedSource:
    name: str
    compression: str | None
    stream: IO[bytes]
    size: int | None  # bytes on disk, for progress; None for pipes
    # set when decompression stopped early (truncated or corrupt archive)
    error: str | None = None
    decompressed: DecompressedStream | None = None
    cut: CutLog = field(default_factory=CutLog)
    encoding: str = "utf-8"  # "utf-16" when decoded from UTF-16 with a byte order mark
    max_bytes: int | None = None  # iter_chunks' limit unless it is given one
    live: LiveReader | None = None  # a pipe, FIFO, terminal or device (live.py)
    overwritten: int = 0  # reads that failed with EPIPE (/dev/kmsg records overwritten)
    notes: list[str] = field(default_factory=list)  # what else the sources table should say
    mtime: float | None = None  # a regular file's mtime: the year of RFC 3164 stamps (clock.py)

    def problems(self) -> str | None:
        """`error`, the cut lines and the notes, for the sources table (None when all is well)."""
        return "; ".join(p for p in (self.error, self.cut.text(), *self.notes) if p) or None


def sniff_compression(head: bytes) -> str | None:
    for magic, kind in MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def open_source(src: SourceLike, name: str | None = None, follow: bool = False) -> OpenedSource:
    """Open one input. Raises CaptureError with a one-line message when it cannot be read.
    A pipe, FIFO, terminal or device is read as a snapshot, or with `follow` until EOF or
    Ctrl-C (live.py)."""
    raw, name, size = _open_raw(src, name, follow)
    live = raw if isinstance(raw, LiveReader) else getattr(raw, "live", None)
    try:
        buffered: Any = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
        head = buffered.peek(8)[:8]
    except (OSError, ValueError) as e:
        raise CaptureError(f"{name}: {getattr(e, 'strerror', None) or e}") from None
    kind = sniff_compression(head)
    dec = DecompressedStream(kind, buffered) if kind else None
    stream: Any = dec or buffered
    opened = OpenedSource(name, kind, stream, size, decompressed=dec, live=live)
    opened.mtime = _mtime(raw)
    # Windows tools save logs as UTF-16 with a byte order mark: decode them as they stream
    if _utf16_text(stream.peek(18)[:18]):
        opened.stream, opened.encoding = Utf16Stream(stream), "utf-16"  # type: ignore[assignment]
    return opened


def _mtime(raw: Any) -> float | None:
    try:
        st = os.fstat(raw.fileno())
    except (OSError, ValueError, AttributeError):  # no descriptor: bytes, text streams
        return None
    return st.st_mtime if stat.S_ISREG(st.st_mode) else None


def _utf16_text(head: bytes) -> bool:
    """A byte order mark followed by plain text (a log starts with ASCII: `[`, digits, a
    month); a lone BOM or binary junk after it is read as bytes, so lines rebuild the input."""
    if head[:2] not in UTF16_BOMS or len(head) < 4:
        return False
    codec = "utf-16-le" if head[:2] == b"\xff\xfe" else "utf-16-be"
    first = head[2 : len(head) - len(head) % 2].decode(codec, "replace").split("\n")[0]
    return all(c.isascii() and (c.isprintable() or c in "\t\r") for c in first)


def _open_raw(src: SourceLike, name: str | None, follow: bool) -> tuple[Any, str, int | None]:
    """The binary stream of one input, its name, and its size on disk when known."""
    if isinstance(src, bytes | bytearray):
        return io.BytesIO(bytes(src)), name or "<bytes>", len(src)
    if isinstance(src, str | os.PathLike):
        path = os.fspath(src)
        if path == "-":
            stdin = sys.stdin.buffer
            if _live_fd(stdin):
                return LiveReader(stdin, "<stdin>", follow, close_raw=False), "<stdin>", None
            return stdin, name or "<stdin>", None
        shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        name = name or path
        if "\x00" in path:
            raise CaptureError(f"{shown!r}: a file name cannot contain a NUL byte")
        try:
            # open first, then fstat: a FIFO is opened once and its writer is not lost
            raw = open(path, "rb")  # noqa: SIM115 - closed by the caller via .stream
            st = os.fstat(raw.fileno())
        except IsADirectoryError:
            raise CaptureError(f"{path}: is a directory, not a capture file") from None
        except OSError as e:
            raise CaptureError(f"{path}: {e.strerror or e}") from None
        if Path(path).is_dir():  # Windows opens directories without an error
            raw.close()
            raise CaptureError(f"{path}: is a directory, not a capture file")
        if is_live(raw.fileno()):
            return LiveReader(raw, name, follow), name, None
        return raw, name, st.st_size if st.st_size or os.path.isfile(path) else None
    name = name or str(getattr(src, "name", "<stream>"))
    if not hasattr(src, "read"):
        raise CaptureError(f"cannot read a capture from {type(src).__name__}")
    if getattr(src, "closed", False):
        raise CaptureError(f"{name}: the file object is closed")
    if isinstance(src, io.TextIOBase) or _reads_text(src):
        return TextStream(src, name), name, None
    if isinstance(src, io.IOBase) and not src.readable():
        raise CaptureError(f"{name}: the file object is not open for reading")
    if not hasattr(src, "peek") and not isinstance(src, io.IOBase):
        return ReadOnly(src, name), name, None  # only read(): BufferedReader needs more
    return src, name, None


def _live_fd(obj: Any) -> bool:
    try:
        return is_live(obj.fileno())
    except (OSError, ValueError, AttributeError):  # no descriptor (a test's stdin)
        return False


def _reads_text(obj: object) -> bool:
    mode = getattr(obj, "mode", "")
    text_mode = isinstance(mode, str) and "b" not in mode and mode != ""
    return text_mode or isinstance(obj, io.StringIO)


class _Chunker:
    """Cuts one source into chunks of whole lines. Each byte is joined at most twice (the
    unfinished line is kept as a list of blocks), so a long line costs linear time; a line
    longer than `max_line` is cut and the rest of it is only hashed, never held."""

    def __init__(self, src: OpenedSource, chunk_bytes: int, max_line: int,
                 max_bytes: int | None) -> None:  # fmt: skip
        self.src = src
        self.chunk_bytes = chunk_bytes
        self.max_line = max_line
        self.max_bytes = max_bytes
        self.total = 0  # bytes read from the (decompressed) stream
        self.read: Callable[[int], bytes] = getattr(src.stream, "read1", None) or src.stream.read
        self.pushed = b""  # read but given back (what follows a cut line)

    def block(self, size: int) -> bytes:
        if self.pushed:
            block, self.pushed = self.pushed, b""
            return block
        block = b""
        for _ in range(EPIPE_MAX):
            try:
                block = self.read(size)
                break
            except OSError as e:
                # /dev/kmsg: records overwritten before they were read; the next read goes on
                if e.errno == errno.EPIPE:
                    self.src.overwritten += 1
                    continue
                self.src.error = f"read error: {e.strerror or e}"
                break
        if block:
            self.total += len(block)
            self._check_size()
        else:
            err = self.src.decompressed.error if self.src.decompressed else None
            if err and not self.src.error:
                self.src.error = f"{self.src.compression} stream ended early: {err}"
        return block

    def _check_size(self) -> None:
        name, total = self.src.name, self.total
        if self.max_bytes is not None:
            if total > self.max_bytes:
                raise CaptureError(
                    f"{name}: more than {self.max_bytes} bytes (after decompression); stopped "
                    "there. Raise the limit with max_bytes= (CLI: --max-bytes)"
                )
            return
        dec = self.src.decompressed
        if dec and total > BOMB_MIN_BYTES and total > BOMB_RATIO * max(dec.raw_bytes, 1):
            raise CaptureError(
                f"{name}: {total} bytes decompressed from {dec.raw_bytes} "
                f"(more than {BOMB_RATIO}:1): a decompression bomb? Stopped. Give max_bytes= "
                "(CLI: --max-bytes) to read it anyway, up to that many bytes"
            )

    def __iter__(self) -> Iterator[Chunk]:
        parts: list[bytes] = []  # the chunk being gathered
        size = 0
        line_at = 0  # where the unfinished line starts (bytes from the start of `parts`)
        while True:
            block = self.block(min(max(self.chunk_bytes - size, 64 << 10), READ_MAX))
            if not block:
                yield Chunk(b"".join(parts), last=True)
                return
            over = self._over(block, size - line_at)
            if over >= 0:  # a line passes max_line at `over`: give the cut() the rest
                block, self.pushed = block[: over + 1], block[over + 1 :]
            parts.append(block)
            size += len(block)
            nl = block.rfind(b"\n")
            if nl >= 0:
                line_at = size - len(block) + nl + 1
            if size - line_at > self.max_line:
                chunk = self.cut(b"".join(parts), line_at)
                yield chunk
                if chunk.last:
                    return
                parts, size, line_at = [], 0, 0
            elif size >= self.chunk_bytes and line_at:
                data = b"".join(parts)
                yield Chunk(data[:line_at], last=False)
                parts = [data[line_at:]] if line_at < size else []
                size -= line_at
                line_at = 0

    def _over(self, block: bytes, partial: int) -> int:
        """Where in `block` the first line longer than max_line passes it, else -1
        (`partial`: bytes of the unfinished line before `block`)."""
        if partial + len(block) <= self.max_line:
            return -1
        first = block.find(b"\n")
        if partial + (len(block) if first < 0 else first) > self.max_line:
            return self.max_line - partial
        if len(block) <= self.max_line:  # the lines after the first fit (the usual case)
            return -1
        nl = np.flatnonzero(np.frombuffer(block, np.uint8) == 10)
        starts = np.append(-partial, nl + 1)
        ends = np.append(nl, len(block))
        over = np.flatnonzero(ends - starts > self.max_line)
        return int(starts[over[0]]) + self.max_line if len(over) else -1

    def cut(self, data: bytes, line_at: int) -> Chunk:
        """The chunk up to the first `max_line` bytes of the unfinished line; the rest of
        that line is read, counted and hashed up to its newline, which the chunk keeps."""
        keep = line_at + self.max_line
        # do not split a UTF-8 character: back off over continuation bytes (0b10xxxxxx)
        while keep > line_at + self.max_line - 3 and data[keep] & 0xC0 == 0x80:
            keep -= 1
        offset = self.total - len(self.pushed) - len(data) + line_at
        sha = self.src.cut.hasher()
        rest = data[keep:]
        sha.update(rest)
        skipped = len(rest)
        eol = b""
        while not eol:
            block = self.block(READ_MAX)
            if not block:
                break
            nl = block.find(b"\n")
            if nl >= 0:
                block, self.pushed, eol = block[:nl], block[nl + 1 :], b"\n"
            sha.update(block)
            skipped += len(block)
        self.src.cut.add(offset, keep - line_at, skipped, sha)
        return Chunk(data[:keep] + eol, last=not eol, cut=True)


def iter_chunks(
    src: OpenedSource,
    chunk_bytes: int = CHUNK_BYTES,
    max_line: int = MAX_LINE,
    max_bytes: int | None = None,
) -> Iterator[Chunk]:
    """Yield line-aligned chunks of about `chunk_bytes`; the last one has `last=True`.

    A decompression error ends the source with `src.error` set (everything decoded before
    it is yielded). A read error of the underlying file does the same. A line longer than
    `max_line` bytes is cut (`Chunk.cut`, recorded in `src.cut`). More than `max_bytes`
    bytes, or without `max_bytes` a decompression bomb, raise CaptureError."""
    limit = src.max_bytes if max_bytes is None else max_bytes
    if src.live is not None and src.live.follow:
        chunk_bytes = 1  # a chunk of each burst of a followed input, as it comes
    return iter(_Chunker(src, chunk_bytes, max_line, limit))
