"""Commands run on `stalllog watch` events (`--on-stall`, `--on-clear`, `--on-oom`,
`--on-event KIND=CMD`).

Each hook gets the event as one JSON line on stdin and key facts in the environment
(`STALLLOG_EVENT`, `STALLLOG_EPISODE`, `STALLLOG_PIDS`, `STALLLOG_BOOT`, `STALLLOG_LINE`). It runs
without a shell unless `shell` is set (the command is split like a shell would, `shlex`), with a
timeout, in a worker thread: the console is read while hooks run, and events wait in a queue.
The hooks of an episode (stall_started, stall_update, stall_ended) share one worker, so they run
in the episode's order (an `--on-clear` never runs before the `--on-stall` of its episode); each
other event kind has a worker of its own. At most one command runs per worker. A full queue
drops the event for that hook and says so (a `hook_dropped` event); a command that fails or
times out gives a `hook_failed` event. At the end of the input every queued command runs; on
Ctrl-C or stop only the running ones finish, and `watch_ended` counts the rest (`not_run`).
Nothing is dropped silently.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

QUEUE_MAX = 1000  # commands waiting for one worker
DEFAULT_TIMEOUT_S = 60.0


@dataclass
class Hook:
    kind: str  # the event it runs on
    command: str
    shell: bool = False
    timeout: float = DEFAULT_TIMEOUT_S
    runs: int = 0
    failures: int = 0
    dropped: int = 0
    not_run: int = 0  # still queued when the watch was interrupted or stopped

    def worker(self) -> str:
        """The worker that runs it: one for an episode's events, one per other kind."""
        return "stall" if self.kind.startswith("stall_") else self.kind

    def argv(self) -> list[str]:
        return ["/bin/sh", "-c", self.command] if self.shell else shlex.split(self.command)


def environment(event: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    pids = event.get("pids")
    if pids is None and event.get("pid") is not None:
        pids = [event["pid"]]
    if pids is None and event.get("victim_pid") is not None:
        pids = [event["victim_pid"]]
    env.update(
        STALLLOG_EVENT=str(event.get("event", "")),
        STALLLOG_EPISODE="" if event.get("episode") is None else str(event["episode"]),
        STALLLOG_PIDS=",".join(str(p) for p in pids or []),
        STALLLOG_BOOT="" if event.get("boot") is None else str(event["boot"]),
        STALLLOG_LINE="" if event.get("line_start") is None else str(event["line_start"]),
    )
    return env


class Hooks:
    """The hooks of one watch; `report` receives their own events (hook_failed, hook_dropped)."""

    def __init__(self, hooks: list[Hook], report: Callable[[dict[str, Any]], None]) -> None:
        self.hooks = hooks
        self.report = report
        Item = tuple[Hook, dict[str, Any]] | None
        self.queues: dict[str, queue.Queue[Item]] = {
            h.worker(): queue.Queue(QUEUE_MAX) for h in hooks
        }
        self.threads = [
            threading.Thread(target=self._work, args=(q,), daemon=True)
            for q in self.queues.values()
        ]
        for t in self.threads:
            t.start()

    def submit(self, event: dict[str, Any]) -> None:
        for h in self.hooks:
            if h.kind != event.get("event"):
                continue
            try:
                self.queues[h.worker()].put_nowait((h, event))
            except queue.Full:
                h.dropped += 1
                self.report(
                    {
                        "event": "hook_dropped",
                        "hook": h.kind,
                        "command": h.command,
                        "dropped_event": event.get("event"),
                        "queued": QUEUE_MAX,
                        "dropped_total": h.dropped,
                    }
                )

    def close(self, wait: float | None = None, discard: bool = False) -> None:
        """Let every queued command run (each worker at most `wait` seconds more), then stop.
        discard: the user stopped the watch: only the running commands finish, the queued ones
        are counted in `not_run` (a full queue of slow hooks would otherwise hold Ctrl-C for
        minutes)."""
        for q in self.queues.values():
            while discard:
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].not_run += 1
            q.put(None)
        for t in self.threads:
            t.join(wait)

    def _work(self, q: queue.Queue[tuple[Hook, dict[str, Any]] | None]) -> None:
        while (item := q.get()) is not None:
            self._run(*item)

    def _run(self, h: Hook, event: dict[str, Any]) -> None:
        h.runs += 1
        why = None
        try:
            done = subprocess.run(
                h.argv(),
                input=json.dumps(event) + "\n",
                text=True,
                env=environment(event),
                timeout=h.timeout,
                stdout=subprocess.DEVNULL,
                check=False,
            )
            if done.returncode:
                why = f"exit status {done.returncode}"
        except subprocess.TimeoutExpired:
            why = f"timed out after {h.timeout:g} s (killed)"
        except (OSError, ValueError) as e:
            why = str(e)
        if why is not None:
            h.failures += 1
            self.report(
                {
                    "event": "hook_failed",
                    "hook": h.kind,
                    "command": h.command,
                    "on_event": event.get("event"),
                    "episode": event.get("episode"),
                    "why": why,
                }
            )
