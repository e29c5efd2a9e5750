"""Live inputs: /dev/kmsg, pipes, FIFOs, terminals and other character devices.

Read as a snapshot by default, so that `stalllog summary /dev/kmsg` returns:
- /dev/kmsg is read non-blocking, one record per read(); EAGAIN means the ring buffer is
  drained and ends the snapshot. EPIPE means records were overwritten before this reader got
  them (printk.c devkmsg_read: the reader is moved on to the oldest record left): counted, and
  reading goes on; the next record's sequence number shows how many were lost (printk_loss
  kind `kmsg_overwritten`).
- anything else that is not a regular file ends when its writer closes it (EOF; a pty gives
  EIO), or when it gave nothing for IDLE_S seconds (FIRST_S before its first byte): a writer
  that stopped, like `dmesg -w`. That end is named in `sources.error`.

`follow=True` (CLI `--follow`) waits for more instead, until EOF or Ctrl-C, which ends the
input cleanly; every read() returns what is there at once, so the line stage sees each burst
as it comes (the reader makes a chunk of each, see reader.iter_chunks).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import select
import stat
from typing import Any

# `journalctl -k | stalllog parse -` pauses seconds while journalctl seeks a big journal
IDLE_S = 5.0  # a snapshot ends after this long without input ...
FIRST_S = 10.0  # ... or this long before the first byte (a writer still starting up)
KMSG_RDEV = os.makedev(1, 11)  # /dev/kmsg: character device 1:11 (drivers/char/mem.c)
KMSG_RECORD_MAX = 8192  # bytes one /dev/kmsg read may need (CONSOLE_EXT_LOG_MAX)


def is_live(fd: int) -> bool:
    """Not a regular file (nor a directory): a pipe, FIFO, socket, terminal or device. Not on
    Windows, whose pipes select() cannot wait on: they are read as before, until EOF."""
    if os.name == "nt":
        return False
    mode = os.fstat(fd).st_mode
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISBLK(mode))


def epipe_note(count: int) -> list[str]:
    if not count:
        return []
    return [f"{count} read(s) failed with EPIPE (/dev/kmsg: records were overwritten before "
            "they were read); reading went on"]  # fmt: skip


class LiveReader(io.RawIOBase):
    """Non-blocking reads of a live file descriptor (see the module doc)."""

    def __init__(self, raw: Any, name: str, follow: bool = False, close_raw: bool = True) -> None:
        self.raw = raw  # the file object owning the descriptor
        self.close_raw = close_raw  # not stdin
        self.fd: int = raw.fileno()
        self.name = name
        self.follow = follow
        st = os.fstat(self.fd)
        self.kmsg = stat.S_ISCHR(st.st_mode) and st.st_rdev == KMSG_RDEV
        self._was_blocking = os.get_blocking(self.fd)
        os.set_blocking(self.fd, False)
        self.got_data = False
        self.idle_end: float | None = None  # seconds waited when the snapshot ended idle
        self.overwritten = 0  # EPIPE reads (/dev/kmsg records lost to the reader)
        self.interrupted = False  # Ctrl-C ended a --follow read

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        out = 0
        room = KMSG_RECORD_MAX if self.kmsg else 1
        while len(b) - out >= room:
            try:
                data = os.read(self.fd, len(b) - out)
            except BlockingIOError:
                if out or not self._wait():
                    return out  # what is there now; or the end of the snapshot
                continue
            except OSError as e:
                if e.errno == errno.EPIPE:
                    self.overwritten += 1
                    continue
                if e.errno == errno.EIO:  # the other side of a pty is gone
                    return out
                raise
            if not data:
                return out
            b[out : out + len(data)] = data
            out += len(data)
            self.got_data = True
        return out

    def _wait(self) -> bool:
        """Wait for input; False when the snapshot (or a followed input) is over."""
        if self.kmsg and not self.follow:
            return False  # EAGAIN: the ring buffer is drained
        timeout = None if self.follow else (IDLE_S if self.got_data else FIRST_S)
        try:
            ready, _, _ = select.select([self.fd], [], [], timeout)
        except KeyboardInterrupt:
            if not self.follow:
                raise
            self.interrupted = True
            return False
        if not ready:
            self.idle_end = timeout
        return bool(ready)

    def notes(self, overwritten: int = 0) -> list[str]:
        """What the sources table should say about how this input ended (`overwritten`:
        EPIPE reads seen above this reader)."""
        out = []
        if self.idle_end is not None:
            out.append(f"no input for {self.idle_end:g} s, the writer still open: read as a "
                       "snapshot up to there (--follow reads until EOF)")  # fmt: skip
        out += epipe_note(self.overwritten + overwritten)
        if self.interrupted:
            out.append("interrupted (Ctrl-C): the tables hold what was read until then")
        return out

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(OSError):
                os.set_blocking(self.fd, self._was_blocking)
            if self.close_raw:
                self.raw.close()
        super().close()
