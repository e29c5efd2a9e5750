"""Open captures (paths, stdin, bytes, file objects), decompress, cut into whole-line chunks.

Compression is detected from magic bytes, never from the file name: captures get renamed,
and `journalctl | xz > log.txt` is common.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

CHUNK_BYTES = 16 << 20

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


def _decompressor(kind: str, raw: IO[bytes]) -> Any:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "xz":
        return lzma.LZMAFile(raw, "rb")
    if kind == "bzip2":
        return bz2.BZ2File(raw, "rb")
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)


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
    stream = _decompressor(kind, buffered) if kind else buffered
    return OpenedSource(name=name or "<input>", compression=kind, stream=stream, size=size)


def _reads_text(obj: object) -> bool:
    mode = getattr(obj, "mode", "")
    text_mode = isinstance(mode, str) and "b" not in mode and mode != ""
    return text_mode or isinstance(obj, io.StringIO)


def iter_chunks(src: OpenedSource, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Chunk]:
    """Yield line-aligned chunks; a decompression error ends the source with src.error set."""
    carry = b""
    while True:
        try:
            block = src.stream.read(chunk_bytes)
        except (EOFError, OSError, lzma.LZMAError, ValueError) as e:
            # Truncated .gz/.xz captures are common (copied while still being written): keep
            # everything that decompressed and say where it stopped.
            src.error = f"{src.compression or 'input'} stream ended early: {e}"
            block = b""
        except Exception as e:  # zstandard raises its own ZstdError
            src.error = f"{src.compression or 'input'} stream unreadable: {e}"
            block = b""
        if not block:
            if carry:
                yield Chunk(carry, last=True)
            else:
                yield Chunk(b"", last=True)
            return
        data = carry + block if carry else block
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        carry = data[cut + 1 :]
        yield Chunk(data[: cut + 1], last=False)
