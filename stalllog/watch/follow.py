"""A regular file followed as it grows, across rotation (`tail -F`), for `stalllog watch`.

At the end of the file it polls: new bytes are read as they come; a file replaced under the same
name (logrotate's rename + create) or cut shorter than what was read (copytruncate) is
reopened and read from its start. Read as a live input: a chunk of each burst (reader.iter_chunks
looks at `live.follow`).
"""

from __future__ import annotations

import io
import os
import threading
from typing import Any

POLL_S = 0.2


class FileFollower(io.RawIOBase):
    def __init__(self, path: str, stop: threading.Event, from_end: bool = False) -> None:
        self.path = path
        self.name = path
        self.stop = stop
        self.follow = True
        self.live = self  # what open_source looks for: a live input, followed
        self.rotations = 0
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._ino = os.fstat(self._f.fileno()).st_ino
        if from_end:
            self._f.seek(0, os.SEEK_END)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while True:
            n = self._f.readinto(b)
            if n:
                return n
            if self.stop.is_set():
                return 0
            if self._replaced():
                self._f.close()
                self._f = open(self.path, "rb")  # noqa: SIM115
                self._ino = os.fstat(self._f.fileno()).st_ino
                self.rotations += 1
                continue
            self.stop.wait(POLL_S)

    def _replaced(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False  # rotated away, the new file not created yet: wait for it
        return st.st_ino != self._ino or st.st_size < self._f.tell()

    def notes(self, overwritten: int = 0) -> list[str]:
        return [f"followed across {self.rotations} rotation(s)"] if self.rotations else []

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()
