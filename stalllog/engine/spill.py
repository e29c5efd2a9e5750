"""Family rows that are final, kept on disk while the parse goes on instead of in memory.

A report storm's family tables grow with the input (memalloc and frames: ~1.7 GB of Arrow per
GiB of a storm). The CLI writes them, as their batches flush, to Arrow IPC files in its
output directory and reads them back memory-mapped once the input is done: the post-steps and
the analysis page in what they read, and those pages are the file's, not the heap's.
`drop_pages()` lets them go from the process again (trim.release_memory: between the post-steps
and the analysis steps, and after writing each table): a later read faults them back in from
the page cache. Columns a step builds in the heap go the same way (`remap`, trim.settle). The
files are unlinked once mapped (the mapping keeps them) and the directory removed by
`close()`.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

_MADV_DONTNEED = 4  # Linux, macOS and the BSDs
# Mapped bytes from which dropping pages pays: production captures map a few MB (nothing to
# gain, and each drop and trim costs ~10-30 ms); a 256 MiB storm maps ~430 MB.
DROP_MIN_BYTES = 64 << 20
REMAP_MIN_BYTES = 16 << 20  # a table's heap columns worth a file (Spill.remap)
OPEN: list[Spill] = []  # the spills not closed yet, whose pages release_memory() drops


@functools.cache
def _madvise() -> Callable[[int, int, int], int] | None:
    try:
        fn = ctypes.CDLL(None).madvise
    except (OSError, AttributeError):  # no libc madvise (Windows): the pages stay
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return fn


class Spill:
    def __init__(self, directory: Path) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=".stalllog-spill-", dir=directory))
        self._files: dict[str, tuple[Path, pa.NativeFile, pa.ipc.RecordBatchStreamWriter]] = {}
        self._mapped: list[pa.Buffer] = []  # held: a region is never advised once unmapped
        OPEN.append(self)

    def add(self, name: str, batch: pa.RecordBatch) -> None:
        try:
            if name not in self._files:
                file = self.path / f"{name}.arrows"
                sink = pa.OSFile(str(file), "wb")
                self._files[name] = (file, sink, pa.ipc.new_stream(sink, batch.schema))
            self._files[name][2].write_batch(batch)
        except OSError as e:  # the disk is full: say where (the CLI shows filename: strerror)
            words = os.strerror(e.errno) if e.errno is not None else str(e)  # as atomic.reason
            reason = f"cannot keep the parsed rows there: {words}"
            raise OSError(e.errno, reason, str(self.path)) from None

    def take(self, name: str) -> list[pa.RecordBatch]:
        """The batches added under `name`, in order, memory-mapped."""
        if name not in self._files:
            return []
        file, sink, writer = self._files.pop(name)
        writer.close()
        sink.close()
        return list(pa.ipc.open_stream(self._map(file)))

    def adopt(self, file: Path) -> pa.Table:
        """The table another process wrote to `file` (an Arrow stream, uncompressed: a
        `--jobs` worker's part, output/parallel.py), memory-mapped."""
        return pa.ipc.open_stream(self._map(file)).read_all()

    def _map(self, file: Path) -> pa.Buffer:
        with pa.memory_map(str(file)) as mapped:
            whole = mapped.read_buffer()  # zero-copy: the batches are slices of it
        self._mapped.append(whole)
        with contextlib.suppress(OSError):  # a mapped file lives on until unmapped (POSIX)
            file.unlink()
        return whole

    def remap(self, tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
        """`tables` with the columns a step built in the heap (a storm's decoded gfp_flags, the
        keys, the analysis's tables) moved here, for a table where they come to REMAP_MIN_BYTES:
        mapped, their pages go with drop_pages() too. Chunks, types and values are kept."""
        regions = [(whole.address, whole.address + whole.size) for whole in self._mapped]
        out = dict(tables)
        for name, t in tables.items():
            sizes = {i: _heap_bytes(c, regions) for i, c in enumerate(t.columns)}
            heap = [i for i, n in sizes.items() if n and n >= REMAP_MIN_BYTES // 16]
            if not heap or sum(sizes[i] for i in heap) < REMAP_MIN_BYTES:
                continue
            part = pa.table([t.column(i) for i in heap], names=[t.field(i).name for i in heap])
            key = f"{name}.remapped.{len(self._mapped)}"
            for batch in part.to_batches():
                self.add(key, batch)
            back = pa.Table.from_batches(self.take(key), schema=part.schema)
            for j, i in enumerate(heap):
                t = t.set_column(i, t.field(i), back.column(j))
            out[name] = t
        return out

    def mapped_bytes(self) -> int:
        return sum(whole.size for whole in self._mapped)

    def drop_pages(self) -> None:
        """The mapped pages out of this process's memory; still there for the next read."""
        madvise = _madvise()
        if madvise is not None:
            for whole in self._mapped:
                madvise(whole.address, whole.size, _MADV_DONTNEED)

    def close(self) -> None:
        """Removes the directory, with what was not taken (a parse that failed)."""
        for _, sink, writer in self._files.values():
            with contextlib.suppress(Exception):
                writer.close()
                sink.close()
        self._files.clear()
        self._mapped.clear()
        if self in OPEN:
            OPEN.remove(self)
        shutil.rmtree(self.path, ignore_errors=True)


def _heap_bytes(column: pa.ChunkedArray, regions: list[tuple[int, int]]) -> int:
    """Bytes of `column` outside the mapped `regions`."""
    n = 0
    for chunk in column.chunks:
        arrays = [chunk, chunk.dictionary] if pa.types.is_dictionary(chunk.type) else [chunk]
        for buf in (b for a in arrays for b in a.buffers() if b is not None):
            if not any(lo <= buf.address < hi for lo, hi in regions):
                n += buf.size
    return n
