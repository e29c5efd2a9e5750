"""The `stalllog watch` loop: a reader thread runs the parse, the calling thread keeps the stall
state, writes the events and hands them to hooks and metrics.

The reader thread blocks on the input; facts reach the caller through a bounded queue (a slow
consumer slows the reading, nothing is dropped). While no fact comes the caller ticks the stall
tracker every TICK_S, so a machine that went silent still ends its episode.
"""

from __future__ import annotations

import json
import math
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import pyarrow.compute as pc

from stalllog.engine.bootstats import BootStats
from stalllog.engine.capture import source_batches
from stalllog.engine.dispatch import Dispatcher
from stalllog.engine.registry import families_or_all
from stalllog.input.lines import LineStage
from stalllog.input.reader import CaptureError, SourceLike, open_source

from .collect import Collector, Fact, Holder, Lockup, OpenDump, RowEvent
from .follow import FileFollower
from .hooks import Hook, Hooks
from .metrics import Metrics
from .oom_lock import OomLockWatch
from .stall import StallTracker

TICK_S = 0.25
METRICS_EVERY_S = 1.0
_QUEUE_MAX = 10_000


@dataclass
class ReadStats:
    """What the reader thread read; `done` once the input ended."""

    lines: int = 0
    unparsed: int = 0
    error: str | None = None
    done: bool = False


_END = object()  # the reader's last item


@dataclass
class WatchOptions:
    hz: int | None = None
    quiet_after: float | None = None
    hooks: list[Hook] = field(default_factory=list)
    metrics_file: Path | None = None
    metrics: Metrics | None = None
    from_end: bool = False
    stop: threading.Event | None = None  # set it to end the watch (API, tests)


def open_watched(source: SourceLike, stop: threading.Event, from_end: bool) -> SourceLike:
    """A regular file is followed across rotation; anything else is read live (`follow`)."""
    if isinstance(source, str | os.PathLike) and os.fspath(source) != "-":
        path = os.fspath(source)
        if os.path.isfile(path):
            return cast(IO[bytes], FileFollower(path, stop, from_end))
    return source


def _read(
    source: SourceLike,
    put: Callable[[Any], None],
    stats: ReadStats,
    hz: int | None,
    stop: threading.Event,
    from_end: bool,
) -> None:
    """The reader thread: parse the source, hand the facts over, end with _END."""
    try:
        collector = Collector(put, hz)
        dispatcher = Dispatcher(families_or_all(None), observer=collector, retain=False)
        opened = open_source(open_watched(source, stop, from_end), follow=True)
        for batch in source_batches(opened, LineStage(), dispatcher, BootStats()):
            stats.lines += batch.num_rows
            stats.unparsed += int(pc.sum(batch.column("unparsed")).as_py() or 0)
            collector.after_batch(batch, _open_firsts(dispatcher))
        collector.flush()  # the blocks cut at the end of the input
        stats.error = opened.problems()
    except CaptureError as e:  # the input cannot be read: its message names it
        stats.error = str(e)
    except Exception as e:
        stats.error = f"{type(e).__name__}: {e}"
    stats.done = True
    put(_END)


def _open_firsts(dispatcher: Dispatcher) -> frozenset[int]:
    """The first lines of the blocks still open."""
    return frozenset(
        block.first.line_no for stack in dispatcher.open.values() for block, _ in stack
    )


class Watch:
    """One watch: events out through `write` (a JSON line each), hooks, metrics."""

    def __init__(self, out: IO[str], options: WatchOptions) -> None:
        self.out = out
        self.options = options
        self.metrics = options.metrics or Metrics()
        self.hooks = Hooks(options.hooks, self.emit)
        self.tracker = StallTracker(self.emit, options.quiet_after)
        self.oom_lock = OomLockWatch(self.emit)
        self._metrics_at = -math.inf
        self.counts: dict[str, int] = {}

    def emit(self, event: dict[str, Any]) -> None:
        event = {"event": event["event"], "time": datetime.now(UTC).isoformat(), **event}
        self.counts[event["event"]] = self.counts.get(event["event"], 0) + 1
        self.out.write(json.dumps(event, default=str) + "\n")
        self.out.flush()
        self.metrics.observe(event)
        self.hooks.submit(event)
        self._write_metrics()

    def _write_metrics(self, force: bool = False) -> None:
        path = self.options.metrics_file
        if path is not None and (force or time.monotonic() - self._metrics_at >= METRICS_EVERY_S):
            self._metrics_at = time.monotonic()
            self.metrics.write(path)

    def fact(self, fact: Fact) -> None:
        if isinstance(fact, Holder | Lockup | OpenDump):
            self.oom_lock.feed(fact)
            return
        if isinstance(fact, RowEvent):
            self.oom_lock.feed(fact)
            self.emit(
                {
                    "event": fact.kind,
                    "table": fact.table,
                    **fact.row,
                    "line_start": fact.line_start,
                    "line_end": fact.line_end,
                }
            )
        self.tracker.feed(fact)

    def run(self, source: SourceLike) -> ReadStats:
        q: queue.Queue[Any] = queue.Queue(_QUEUE_MAX)
        stop = self.options.stop or threading.Event()
        stats = ReadStats()
        reader = threading.Thread(
            target=_read,
            args=(source, q.put, stats, self.options.hz, stop, self.options.from_end),
            daemon=True,
        )
        reader.start()
        reason = "end_of_input"
        try:
            while (item := self._next(q)) is not _END:
                if item is not None:
                    self.fact(item)
                elif stop.is_set():  # a followed file never ends by itself
                    reason = "stopped"
                    break
        except KeyboardInterrupt:
            stop.set()
            reason = "interrupted"
        if reason == "end_of_input" and stop.is_set():
            reason = "stopped"  # the followed file ended because it was told to
        self.tracker.close(reason)
        self.hooks.close(discard=reason != "end_of_input")
        self.emit(
            {
                "event": "watch_ended",
                "reason": reason,
                "lines": stats.lines,
                "unparsed_lines": stats.unparsed,
                "error": stats.error,
                "events": dict(self.counts),
                "hooks": [
                    {
                        "hook": h.kind,
                        "command": h.command,
                        "runs": h.runs,
                        "failures": h.failures,
                        "dropped": h.dropped,
                        "not_run": h.not_run,
                    }
                    for h in self.options.hooks
                ],
            }
        )
        self._write_metrics(force=True)
        return stats

    def _next(self, q: queue.Queue[Any]) -> Any:
        """The next fact, or None after a tick without one."""
        try:
            return q.get(timeout=TICK_S)
        except queue.Empty:
            self.tracker.tick()
            self._write_metrics()
            return None
