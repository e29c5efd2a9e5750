"""Prometheus metrics of `stalllog watch`, in the node-exporter textfile-collector format
(`--metrics-file`, written by atomic rename) and over HTTP (`--metrics-port`, loopback unless
`--metrics-host` says otherwise).

Label values come from the log (process names, cgroup paths: untrusted) and are escaped as the
exposition format requires; the number of label sets is capped (`MAX_SERIES`), further kills
counting under `comm="other"`.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_SERIES = 500
_OTHER = ("other", "other")


def _label(v: object) -> str:
    s = str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return s[:200]


class Metrics:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kills: Counter[tuple[str, str]] = Counter()
        self.events: Counter[str] = Counter()
        self.lost = 0
        self.in_progress = 0
        self.longest_s = 0.0
        self.episodes = 0

    def observe(self, event: dict[str, Any]) -> None:
        kind = str(event.get("event"))
        with self.lock:
            self.events[kind] += 1
            if kind == "oom_kill":
                key = (
                    str(event.get("victim_comm") or "?"),
                    str(event.get("oom_memcg") or event.get("task_memcg") or "/"),
                )
                if key not in self.kills and len(self.kills) >= MAX_SERIES:
                    key = _OTHER
                self.kills[key] += 1
            elif kind == "printk_loss" and event.get("kernel_messages") is not False:
                self.lost += int(event.get("count") or 0)
            elif kind in ("stall_started", "stall_update"):
                self.in_progress = 1
                self.episodes += kind == "stall_started"
                self.longest_s = float(event.get("longest_delay_s") or 0.0)
            elif kind == "stall_ended":
                self.in_progress, self.longest_s = 0, 0.0

    def text(self) -> str:
        with self.lock:
            out = [
                "# HELP stalllog_oom_kills_total OOM kills seen, by victim command and cgroup.",
                "# TYPE stalllog_oom_kills_total counter",
                *(
                    f'stalllog_oom_kills_total{{comm="{_label(c)}",cgroup="{_label(g)}"}} {n}'
                    for (c, g), n in sorted(self.kills.items())
                ),
                "# HELP stalllog_stall_in_progress 1 while a memory-stall episode lasts.",
                "# TYPE stalllog_stall_in_progress gauge",
                f"stalllog_stall_in_progress {self.in_progress}",
                "# HELP stalllog_stall_longest_seconds Longest delay reported in the current "
                "episode (0 when none).",
                "# TYPE stalllog_stall_longest_seconds gauge",
                f"stalllog_stall_longest_seconds {self.longest_s:g}",
                "# HELP stalllog_stall_episodes_total Memory-stall episodes started.",
                "# TYPE stalllog_stall_episodes_total counter",
                f"stalllog_stall_episodes_total {self.episodes}",
                "# HELP stalllog_printk_lines_lost_total Kernel messages the log says were lost.",
                "# TYPE stalllog_printk_lines_lost_total counter",
                f"stalllog_printk_lines_lost_total {self.lost}",
                "# HELP stalllog_events_total Events emitted, by kind.",
                "# TYPE stalllog_events_total counter",
                *(
                    f'stalllog_events_total{{event="{_label(k)}"}} {n}'
                    for k, n in sorted(self.events.items())
                ),
            ]
        return "\n".join(out) + "\n"

    def write(self, path: Path) -> None:
        """Atomically: the collector never reads half a file."""
        fd, tmp = tempfile.mkstemp(prefix=".stalllog-", suffix=".prom.tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(self.text())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def serve(self, host: str, port: int) -> ThreadingHTTPServer:
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = metrics.text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # stdout carries the events

        server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server
