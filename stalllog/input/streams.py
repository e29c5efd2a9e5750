"""Byte streams the reader builds on: bounded decompression, text objects and UTF-16 files
recoded to UTF-8, and a buffer around objects that only have `read()`.

Every step makes a bounded amount of output (`STEP_OUT`), so a decompression bomb cannot
blow up one call: `zlib`/`lzma`/`bz2` get `max_length`; `zstandard`'s decompressobj has no
such argument, so it is fed `ZSTD_PIECE` bytes at a time (a zstd block needs at least 4
input bytes and makes at most 128 KiB, so 128 input bytes make at most 4 MiB).
"""

from __future__ import annotations

import bz2
import codecs
import io
import lzma
import zlib
from typing import IO, Any

RAW_READ = 256 << 10  # compressed bytes read from the file per step
STEP_OUT = 4 << 20  # most decompressed bytes one step gives back
ZSTD_PIECE = 128  # zstd input bytes per decompress call (see above)
TEXT_READ = 1 << 20  # characters read from a text object per step


class CaptureError(Exception):
    """An input could not be read at all (missing, unreadable, not a capture, too big)."""


def new_decompressor(kind: str) -> Any:
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if kind == "xz":
        return lzma.LZMADecompressor()
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj()


class _Produced(io.RawIOBase):
    """A read-only stream whose bytes come from `_step()` (b"" only at the end); `read1`
    and `peek` never make more than one step's worth."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self._out = b""
        self._at = 0

    def _step(self) -> bytes:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.raw.close()
        super().close()

    def _fill(self) -> bool:
        if self._at >= len(self._out):
            self._out, self._at = self._step(), 0
        return bool(self._out)

    def peek(self, size: int = 1) -> bytes:
        return self._out[self._at :] if self._fill() else b""

    def read1(self, size: int = -1) -> bytes:
        if not self._fill():
            return b""
        end = len(self._out) if size < 0 else self._at + size
        block = self._out[self._at : end]
        self._at += len(block)
        return block

    def read(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        parts: list[bytes] = []
        total = 0
        while size < 0 or total < size:
            block = self.read1(-1 if size < 0 else size - total)
            if not block:
                break
            parts.append(block)
            total += len(block)
        return b"".join(parts)


class DecompressedStream(_Produced):
    """The decompressed bytes of `raw` (concatenated members/frames too). On damage it ends
    early and leaves the reason in `error`. `raw_bytes` counts the compressed bytes read."""

    def __init__(self, kind: str, raw: IO[bytes]) -> None:
        super().__init__(raw)
        self.kind = kind
        self.error: str | None = None
        self.raw_bytes = 0
        self._dec: Any = new_decompressor(kind)
        self._done = False
        self._pending = b""  # compressed bytes read but not yet given to the decompressor
        self._pos = 0
        self._more = False  # lzma/bz2 hold output that needs no more input

    def _read_raw(self) -> bytes:
        data = self.raw.read(RAW_READ)
        self.raw_bytes += len(data)
        return data

    def _step(self) -> bytes:
        """At most about STEP_OUT decompressed bytes; b"" only at the end of the stream."""
        while not self._done:
            if not self._more and self._pos >= len(self._pending):
                self._pending, self._pos = self._read_raw(), 0
                if not self._pending:
                    if not getattr(self._dec, "eof", True):
                        self.error = "compressed data ends before the end-of-stream marker"
                    self._done = True
                    return b""
            try:
                out = self._feed()
            except Exception as e:  # zlib/lzma/OSError/EOFError; zstandard.ZstdError too
                self.error = f"corrupt data: {e}"
                self._done = True
                return b""
            if getattr(self._dec, "eof", False):
                self._next_member()
            if out:
                return out
        return b""

    def _feed(self) -> bytes:
        """One decompress call with bounded output."""
        dec = self._dec
        if self._more:
            out: bytes = dec.decompress(b"", STEP_OUT)
        elif self.kind == "zstd":
            end = self._pos + ZSTD_PIECE
            out = dec.decompress(self._pending[self._pos : end])
            self._pos = end
            return out
        else:
            data = self._pending[self._pos :] if self._pos else self._pending
            self._pending, self._pos = b"", 0
            out = dec.decompress(data, STEP_OUT)
            if self.kind == "gzip":
                self._pending = dec.unconsumed_tail
                return out
        self._more = not dec.eof and not dec.needs_input
        return out

    def _next_member(self) -> None:
        """Another gzip member / xz stream / zstd frame may follow; NUL padding may not."""
        rest = self._dec.unused_data + self._pending[self._pos :]
        self._pending, self._pos, self._more = b"", 0, False
        if rest.strip(b"\x00"):
            self._dec = new_decompressor(self.kind)
            self._pending = rest.lstrip(b"\x00") if self.kind == "xz" else rest
            return
        # drain whatever is left of the raw input (padding) and stop
        if self._read_raw().strip(b"\x00"):
            self.error = "trailing garbage after the compressed data"
        self._done = True


class TextStream(_Produced):
    """A text file object read in pieces and encoded as UTF-8 (not read whole)."""

    def __init__(self, raw: Any, name: str) -> None:
        super().__init__(raw)
        self.name = name

    def _step(self) -> bytes:
        try:
            text = self.raw.read(TEXT_READ)
        except UnicodeDecodeError as e:
            enc = getattr(self.raw, "encoding", None) or e.encoding
            raise CaptureError(
                f"{self.name}: not {enc} text ({e.reason} at byte {e.start} of a read); open "
                "it in binary mode ('rb') or with its encoding"
            ) from None
        if isinstance(text, bytes):
            return text
        try:
            return text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
            return text.encode("utf-8", "backslashreplace")


class Utf16Stream(_Produced):
    """A UTF-16 stream with a byte order mark, decoded incrementally into UTF-8; bytes that
    are no UTF-16 (a lone surrogate, an odd last byte) become `\\xNN` text."""

    def __init__(self, raw: Any) -> None:
        super().__init__(raw)
        self._dec = codecs.getincrementaldecoder("utf-16")("backslashreplace")
        self._read = getattr(raw, "read1", None) or raw.read
        self._done = False

    def _step(self) -> bytes:
        while not self._done:
            data = self._read(RAW_READ)
            self._done = not data
            text = self._dec.decode(data, self._done)
            if text:
                return text.encode("utf-8")
        return b""


class ReadOnly(io.RawIOBase):
    """`readinto` for an object that has only `read()`, so io.BufferedReader can wrap it."""

    def __init__(self, raw: Any, name: str) -> None:
        self.raw = raw
        self.name = name

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.raw.read(len(b))
        if not isinstance(data, bytes | bytearray | memoryview):
            raise CaptureError(f"{self.name}: read() gave {type(data).__name__}, not bytes")
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        close = getattr(self.raw, "close", None)
        if close is not None:
            close()
        super().close()
