"""`stalllog watch`: the memory-stall hook. The same parse as `stalllog parse`, run as the log
comes in, emits one JSON line per change (stall_started, stall_update, stall_ended, oom_kill,
oom_lock_held_long, hung_task, lockup, printk_loss; hook_failed, hook_dropped; watch_ended) and
runs commands on them.

    from stalllog.watch import watch
    watch("/dev/kmsg", sys.stdout, WatchOptions(hooks=[Hook("stall_started", "perf ...")]))

collect.py: facts from the parse (reader thread); stall.py: the episode state machine;
hooks.py, metrics.py: what is done with the events; run.py: the loop; follow.py: `tail -F`;
replay.py: a capture fed at its recorded pace (tests, demos).
"""

from __future__ import annotations

from typing import IO

from stalllog.input.reader import SourceLike

from .hooks import Hook
from .run import ReadStats, Watch, WatchOptions


def watch(source: SourceLike, out: IO[str], options: WatchOptions | None = None) -> ReadStats:
    """Watch `source` (a path, `-`, /dev/kmsg, a file object) until it ends or Ctrl-C."""
    return Watch(out, options or WatchOptions()).run(source)


__all__ = ["Hook", "ReadStats", "Watch", "WatchOptions", "watch"]
