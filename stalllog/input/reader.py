"""Open captures (paths, stdin, bytes, file objects), decompress, cut into whole-line chunks.

Compression is detected from magic bytes, never from the file name: captures get renamed,
and `journalctl | xz > log.txt` is common. Decompression is done with the incremental
decompressor objects, so a truncated or corrupt archive gives back every byte that decoded
before the damage (a plain `GzipFile.read(n)` drops the whole last read) and says why it
stopped; a cut zstd frame, which `zstandard`'s stream reader ends silently, is reported too.
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

CHUNK_BYTES = 16 << 20
RAW_READ = 256 << 10  # compressed bytes fed to the decompressor per step

MAGIC = {
    b"\x1f\x8b": "gzip",
    b"\xfd7zXZ\x00": "xz",
    b"BZh": "bzip2",
    b"\x28\xb5\x2f\xfd": "zstd",
}

SourceLike = str | os.PathLike[str] | bytes | bytearray | IO[bytes] | IO[str]


class CaptureError(Exception):
    """An input could not be read at all (missing, unreadable, not a capture)."""


@dataclass(slots=True)
class Chunk:
    """Whole lines of one source; `data` ends with b"\\n" unless it is the source's tail."""

    data: bytes
    last: bool


@dataclass(slots=True)
class OpenedSource:
    name: str
    compression: str | None
    stream: IO[bytes]
    size: int | None  # bytes on disk, for progress; None for pipes
    # set when decompression stopped early (truncated or corrupt archive)
    error: str | None = None


def sniff_compression(head: bytes) -> str | None:
    for magic, kind in MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def _new_decompressor(kind: str) -> Any:
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if kind == "xz":
        return lzma.LZMADecompressor()
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj()


class _DecompressedStream(io.RawIOBase):
    """A readable stream of the decompressed bytes of `raw` (concatenated members/frames
    too). On damage it ends early and leaves the reason in `error`."""

    def __init__(self, kind: str, raw: IO[bytes]) -> None:
        self.kind = kind
        self.raw = raw
        self.error: str | None = None
        self._dec: Any = _new_decompressor(kind)
        self._done = False
        self._pending = b""

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.raw.close()
        super().close()

    def _step(self) -> bytes:
        """Decompress one raw read; b"" only at the end of the stream."""
        while not self._done:
            data = self._pending or self.raw.read(RAW_READ)
            self._pending = b""
            if not data:
                if not getattr(self._dec, "eof", True):
                    self.error = "compressed data ends before the end-of-stream marker"
                self._done = True
                return b""
            try:
                out = self._dec.decompress(data)
            except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as e:
                self.error = f"corrupt data: {e}"
                self._done = True
                return b""
            except Exception as e:  # zstandard.ZstdError is not an OSError
                self.error = f"corrupt data: {e}"
                self._done = True
                return b""
            if getattr(self._dec, "eof", False):
                rest = self._dec.unused_data
                # another gzip member / xz stream / zstd frame may follow; NUL padding may not
                if rest.strip(b"\x00"):
                    self._dec = _new_decompressor(self.kind)
                    self._pending = rest.lstrip(b"\x00") if self.kind == "xz" else rest
                elif not self._pending:
                    # drain whatever is left of the raw input (padding) and stop
                    self._done = not self.raw.read(RAW_READ).strip(b"\x00")
                    if not self._done:
                        self.error = "trailing garbage after the compressed data"
                        self._done = True
            if out:
                return out
        return b""

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        total = 0
        while size < 0 or total < size:
            out = self._step()
            if not out:
                break
            parts.append(out)
            total += len(out)
        return b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        return self._step()


def open_source(src: SourceLike, name: str | None = None) -> OpenedSource:
    """Open one input. Raises CaptureError with a one-line message when it cannot be read."""
    size: int | None = None
    raw: IO[bytes]
    if isinstance(src, bytes | bytearray):
        raw = io.BytesIO(bytes(src))
        name = name or "<bytes>"
        size = len(src)
    elif isinstance(src, str | os.PathLike):
        path = os.fspath(src)
        if path == "-":
            raw = sys.stdin.buffer
            name = name or "<stdin>"
        else:
            p = Path(path)
            name = name or path
            if p.is_dir():
                raise CaptureError(f"{path}: is a directory, not a capture file")
            try:
                raw = open(p, "rb")  # noqa: SIM115 - closed by the caller via .stream
                size = p.stat().st_size
            except OSError as e:
                raise CaptureError(f"{path}: {e.strerror or e}") from None
    elif isinstance(src, io.TextIOBase) or (hasattr(src, "read") and _reads_text(src)):
        text = src.read()
        data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
        raw = io.BytesIO(data)
        name = name or getattr(src, "name", "<text>")
    elif hasattr(src, "read"):
        raw = src  # type: ignore[assignment]
        name = name or str(getattr(src, "name", "<stream>"))
    else:
        raise CaptureError(f"cannot read a capture from {type(src).__name__}")

    buffered: Any = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[type-var,unused-ignore]
    try:
        head = buffered.peek(8)[:8]
    except OSError as e:
        raise CaptureError(f"{name}: {e.strerror or e}") from None
    kind = sniff_compression(head)
    stream: Any = _DecompressedStream(kind, buffered) if kind else buffered
    return OpenedSource(name=name or "<input>", compression=kind, stream=stream, size=size)


def _reads_text(obj: object) -> bool:
    mode = getattr(obj, "mode", "")
    text_mode = isinstance(mode, str) and "b" not in mode and mode != ""
    return text_mode or isinstance(obj, io.StringIO)


def iter_chunks(src: OpenedSource, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Chunk]:
    """Yield line-aligned chunks of about `chunk_bytes`; the last one has `last=True`.

    A decompression error ends the source with `src.error` set (everything decoded before
    it is yielded). A read error of the underlying file does the same."""
    carry = b""
    reader = getattr(src.stream, "read1", None) or src.stream.read
    while True:
        parts = [carry] if carry else []
        size = len(carry)
        eof = False
        fresh = False  # read at least once: `carry` may be one line longer than a chunk
        while size < chunk_bytes or not fresh:
            try:
                block = reader(min(max(chunk_bytes - size, 64 << 10), 4 << 20))
            except OSError as e:
                src.error = f"read error: {e.strerror or e}"
                block = b""
            if not block:
                eof = True
                break
            parts.append(block)
            size += len(block)
            fresh = True
        err = getattr(src.stream, "error", None)
        if err and not src.error:
            src.error = f"{src.compression} stream ended early: {err}"
        data = b"".join(parts)
        if eof:
            yield Chunk(data, last=True)
            return
        cut = data.rfind(b"\n")
        if cut < 0:  # one line longer than a chunk: keep growing it
            carry = data
            continue
        carry = data[cut + 1 :]
        yield Chunk(data[: cut + 1], last=False)
