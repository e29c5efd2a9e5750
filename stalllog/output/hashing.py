"""Inputs read through sha256, so the manifest can name the exact bytes parsed without reading
an input twice (stdin cannot be read twice at all).

The hash is taken at the lowest layer, on the bytes as they come off the file or pipe (the
compressed bytes for an archive), so it equals `sha256sum FILE` when the parser read the whole
file (`bytes_read == size`).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

from stalllog.input.live import LiveReader, is_live


def _has_fd(f: Any) -> bool:
    try:
        f.fileno()
    except (OSError, ValueError, AttributeError):  # a test's stdin has no descriptor
        return False
    return True


class _Sha:
    """sha256 of the pieces given, in order. A big piece is hashed on a thread (hashlib lets
    go of the GIL), overlapping the parse of the chunk it came in: ~3 % of a parse's wall
    time on a production-like capture (0.6 s of 18.8 s at 1 GiB). One piece in flight."""

    THREAD_MIN = 1 << 20  # smaller pieces (compressed reads, pipes) cost more on a thread

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def update(self, data: Any) -> None:
        self._wait()
        if len(data) < self.THREAD_MIN:
            self._sha.update(data)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="stalllog-sha256")
        # a copy: the reader may refill its buffer before the thread is done with it
        self._pending = self._pool.submit(self._sha.update, bytes(data))

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def finish(self) -> None:
        """Wait for the piece in flight and let the thread go."""
        self._wait()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def hexdigest(self) -> str:
        self.finish()
        return self._sha.hexdigest()


class _HashingFile(io.FileIO):
    def __init__(self, path: str) -> None:
        super().__init__(path, "rb")
        self.sha = _Sha()
        self.n = 0
        self.eof = False

    def _seen(self, data: Any) -> None:
        self.sha.update(data)
        self.n += len(data)

    # BufferedReader reads through readinto (and readall for read(-1)); the C
    # implementations do not call each other, so no byte is hashed twice
    def readinto(self, b: Any) -> int | None:
        n = super().readinto(b)
        if n:
            self._seen(memoryview(b)[:n])
        self.eof = self.eof or n == 0
        return n

    def readall(self) -> bytes:
        data = super().readall()
        self._seen(data)
        self.eof = True
        return data

    def read(self, size: int = -1) -> bytes | None:  # type: ignore[override]
        data = super().read(size)
        if data:
            self._seen(data)
        self.eof = self.eof or data == b""
        return data

    def close(self) -> None:
        self.sha.finish()
        super().close()


class _HashingStream(io.RawIOBase):
    """A pipe (stdin) read through sha256."""

    def __init__(self, inner: IO[bytes] | LiveReader) -> None:
        self.inner = inner
        self.sha = hashlib.sha256()
        self.n = 0
        self.eof = False

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if isinstance(self.inner, LiveReader):
            self.inner.close()  # gives back the descriptor's blocking mode
        super().close()

    def readinto(self, b: Any) -> int:
        read1 = getattr(self.inner, "read1", self.inner.read)
        data = read1(len(b))
        n = len(data)
        self.eof = self.eof or n == 0
        b[:n] = data
        self.sha.update(data)
        self.n += n
        return n


class HashedInput(io.BufferedReader):
    """An input file (or stdin for path '-') whose bytes are hashed as the parser reads them;
    `name` is what the parser puts in `source`."""

    def __init__(self, path: str, shown: str, follow: bool = False) -> None:
        self._hasher: _HashingFile | _HashingStream
        # a pipe, FIFO, terminal or /dev/kmsg: read as a snapshot, or followed (input/live.py)
        self.live: LiveReader | None = None
        if path == "-":
            stdin = sys.stdin.buffer
            if _has_fd(stdin) and is_live(stdin.fileno()):
                self.live = LiveReader(stdin, "<stdin>", follow, close_raw=False)
            self._hasher = _HashingStream(self.live or stdin)
            self.size: int | None = None
            self._shown = "<stdin>"
        else:
            file = _HashingFile(path)
            st = os.fstat(file.fileno())
            # a named pipe (`<(zcat log.gz)`) has no size
            self.size = st.st_size if stat.S_ISREG(st.st_mode) else None
            self._shown = shown
            self._hasher = file
            if is_live(file.fileno()):
                self.live = LiveReader(file, shown, follow)
                self._hasher = _HashingStream(self.live)
        raw: io.RawIOBase = self._hasher
        super().__init__(raw)

    @property
    def name(self) -> str:
        return self._shown

    def record(self) -> dict[str, Any]:
        """The manifest's entry for this input."""
        h = self._hasher
        return {
            "name": self._shown,
            "size": self.size,
            "bytes_read": h.n,
            "sha256": h.sha.hexdigest(),
            "hashed": "while reading",
            # a pipe was read whole if the parser reached its end
            "complete": h.eof if self.size is None else h.n == self.size,
        }
