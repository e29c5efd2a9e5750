"""Run a generator in a thread, a few items ahead of its consumer.

A parse's line stage (reading, splitting, prefix decoding) and the families' trigger scan
depend on nothing the dispatcher does, and spend their time in Arrow and NumPy kernels that
release the GIL; the dispatcher spends its time in Python, and what a batch goes through after
it (unparsed flags, boot statistics, the writers) in kernels again. capture.source_batches
chains three of these, so the four overlap on two cores where they ran in turn. The items come
in the same order, so the output is the same.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()
_POLL_S = 0.1  # how often a blocked producer looks whether the consumer has gone


def prefetched(items: Iterator[T], depth: int = 2) -> Generator[T, None, None]:
    """`items`, computed in a thread at most `depth` items ahead. Its exception is raised here,
    at the place in the sequence where it happened; closing this generator stops the thread
    and closes `items` (in the thread that ran it) before returning."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(value, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item,)):
                    return
            put(_END)
        except BaseException as e:
            put(e)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="stalllog-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            got = ready.get()
            if got is _END:
                return
            if isinstance(got, BaseException):
                raise got
            yield got[0]  # type: ignore[index]
    finally:
        stop.set()
        worker.join()
