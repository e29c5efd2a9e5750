"""`stalllog parse --jobs N`: every input file parsed in its own process, merged in input order.

Each file is a part (engine/merge.py) parsed by a worker that hashes it while reading (the
manifest's `inputs`, as the one-process path does) and writes its `lines` batches to a
temporary Arrow stream; the parent takes the parts in input order, reads each stream while it
grows, gives its batches back with global ids and finally the merged tables: the same items,
in the same order, as capture.iter_parse, so the files written are the same bytes. The parent
never holds more than one `lines` batch. A worker writes its part's tables to Arrow streams
in the CLI's spill (engine/spill.py, in the output directory), which the parent maps as the
one-process parse maps its family rows: neither process holds them in its heap.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from stalllog.engine.capture import LINES_ARROW, Progress
from stalllog.engine.merge import (
    Numbering,
    Part,
    iter_part,
    merge,
    stow,
    unknown_id_columns,
    unstow,
)
from stalllog.engine.spill import Spill
from stalllog.input.clock import Clock
from stalllog.input.reader import CaptureError
from stalllog.output.hashing import HashedInput

# Below this many bytes on disk in all, one process is faster: workers start in ~0.2 s of CPU
# each after a ~2 s forkserver start (it imports stalllog once for all of them).
PARALLEL_MIN_BYTES = 8 << 20
_LZ4 = pa.Codec.is_available("lz4")
_POLL_S = 0.01  # how long a read of a growing stream waits for its worker between looks


def default_jobs() -> int:
    """A worker per two cores this process may run on: a parse keeps about two busy (its line
    stage, trigger scan and dispatcher run in threads beside the writing, engine/prefetch.py),
    and on two cores one process was faster than two workers and the parent (12.5 vs 13.5 s on
    the production benchmark's two halves)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


class ParallelInputs:
    """Input files (path, name shown in the tables) to parse with `jobs` worker processes."""

    def __init__(self, files: Sequence[tuple[str, str]], jobs: int) -> None:
        self.files = list(files)
        self.jobs = max(1, min(jobs, len(self.files)))
        self.name = ""  # the input being merged, for error messages
        self._records: list[dict[str, Any]] = []
        self._done = 0

    @classmethod
    def of(
        cls, captures: Sequence[str], jobs: int, shown: Callable[[str], str]
    ) -> ParallelInputs | None:
        """None when one process it must be: one input, stdin or a pipe (read once, by the
        parent), a plug-in family whose ids merging cannot renumber; or when it is faster:
        less than PARALLEL_MIN_BYTES in all."""
        if jobs < 2 or len(captures) < 2 or unknown_id_columns():
            return None
        if not all(c != "-" and os.path.isfile(c) for c in captures):
            return None
        if sum(os.path.getsize(c) for c in captures) < PARALLEL_MIN_BYTES:
            return None
        return cls([(c, shown(c)) for c in captures], jobs)

    def __iter__(self) -> Iterator[HashedInput]:
        """The files opened one after another, for a parse in this process."""
        for path, shown in self.files:
            self.name = shown
            f = _open(path, shown)
            try:
                yield f
            finally:
                self._done += f.size or 0
                f.close()
                self._records.append(f.record())

    def records(self) -> list[dict[str, Any]]:
        """The manifest's `inputs`."""
        return list(self._records)

    def position(self) -> int:
        """Bytes on disk of the inputs merged so far, for the progress bar."""
        return self._done

    def iter_parse(
        self,
        progress: Progress | None = None,
        hz: int | None = None,
        analysis: bool = True,
        max_bytes: int | None = None,
        clock: Clock | None = None,
        spill: Spill | None = None,
    ) -> Iterator[pa.RecordBatch | dict[str, pa.Table]]:
        """What capture.iter_parse yields for these files: `lines` batches, then the tables
        (the parts' tables mapped from `spill`, or read into memory without one)."""
        # forkserver: workers start from a clean process with stalllog imported once, not
        # from a fork of this one and its threads
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["__main__", __name__])
        parts: list[Part] = []
        with (
            tempfile.TemporaryDirectory(prefix="stalllog-jobs-") as tmp,
            ProcessPoolExecutor(self.jobs, mp_context=ctx) as pool,
        ):
            streams = [os.path.join(tmp, f"{k}.arrows") for k in range(len(self.files))]
            kept = str(spill.path) if spill is not None else tmp
            futures = [
                pool.submit(_work, path, shown, max_bytes, stream, clock, f"{kept}/part{k}")
                for k, ((path, shown), stream) in enumerate(zip(self.files, streams, strict=True))
            ]
            try:
                yield from self._in_order(futures, streams, parts, progress, spill)
            except BaseException:
                # a failed (or interrupted) run does not wait for the other files
                running = list((getattr(pool, "_processes", None) or {}).values())
                pool.shutdown(wait=False, cancel_futures=True)
                for proc in running:
                    proc.terminate()
                raise
        yield merge(parts, hz, analysis)

    def _in_order(
        self, futures: list[Future[tuple[Part, dict[str, str], dict[str, Any], str]]],
        streams: list[str], parts: list[Part], progress: Progress | None, spill: Spill | None,
    ) -> Iterator[pa.RecordBatch]:  # fmt: skip
        """Each part's `lines` as its worker writes them: a part's shifts are known once the
        parts before it are done, so the parent renumbers and writes them while the workers
        still parse, instead of after."""
        numbering = Numbering()
        for (_, shown), future, stream in zip(self.files, futures, streams, strict=True):
            self.name = shown
            shifts = numbering.shifts()
            with _Growing(stream, future) as f:
                for batch in pa.ipc.open_stream(f):
                    yield shifts.table(batch)
            part, files, record, lines = future.result()
            part = unstow(part, files, spill)
            numbering.advance(part)
            self._records.append(record)
            os.unlink(lines)
            parts.append(part)
            self._done += record["size"] or 0
            if progress is not None:
                progress(shown, record["bytes_read"], record["size"])


class _Growing(io.RawIOBase):
    """The Arrow stream a worker is still writing, read as it grows: a read waits for the
    bytes it asks for until the worker is done (then the file is whole, or the worker's error
    is raised)."""

    def __init__(self, path: str, future: Future[Any]) -> None:
        super().__init__()
        self.path = path
        self.future = future
        self._f: IO[bytes] | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        pieces: list[bytes] = []
        left = size
        while left != 0:
            done = self.future.done()  # before reading: a done worker wrote all its bytes
            error = self.future.exception() if done else None
            if error is not None:
                raise error
            if self._f is None and os.path.exists(self.path):
                self._f = open(self.path, "rb")  # noqa: SIM115 - closed in close()
            got = self._f.read(left) if self._f else b""
            pieces.append(got)
            left = left - len(got) if left > 0 else left
            if not got:
                if done:
                    break
                wait([self.future], timeout=_POLL_S)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
        super().close()


def _work(
    path: str, shown: str, max_bytes: int | None, lines: str, clock: Clock | None, kept: str
) -> tuple[Part, dict[str, str], dict[str, Any], str]:
    """In a worker: parse one file; its `lines` go to the file `lines` (an Arrow stream), its
    part's tables to `kept.<table>.arrows` (returned by name, taken out of the part)."""
    f = _open(path, shown)
    spill = Spill(Path(kept).parent)  # the family rows wait there, as in one process
    try:
        # lz4: a seventh of the bytes through the page cache, half the CPU of writing and
        # reading them back (the `lines` of 1 GiB of input are ~2.5 GB of Arrow)
        options = pa.ipc.IpcWriteOptions(compression="lz4" if _LZ4 else None)
        with (
            pa.OSFile(lines, "wb") as sink,
            pa.ipc.new_stream(sink, LINES_ARROW, options=options) as writer,
        ):
            for item in iter_part(f, None, max_bytes, clock=clock, spill=spill):
                if isinstance(item, Part):
                    part = item
                else:
                    writer.write_batch(item)
        part, files = stow(part, kept)
    finally:
        f.close()
        spill.close()
    return part, files, f.record(), lines


def _open(path: str, shown: str) -> HashedInput:
    try:
        return HashedInput(path, shown)
    except OSError as e:
        raise CaptureError(f"{shown}: {e.strerror or e}") from None
