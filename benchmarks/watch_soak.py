#!/usr/bin/env python3
"""Soak `stalllog watch -` with a report storm at a steady line rate, with a slow hook.

Writes the storm workload (workloads.py, real corpus reports back to back) into the watch's
stdin at --rate lines/s for --seconds (looping over the file), with `--on-event
stall_update=<sleep 0.5>` and `--on-oom <sleep 0.5>`, and samples the watch's RSS every 5 s.
Prints RSS first/last/max, lines written vs lines the watch counted, events by kind, and
whether a hook of one kind ever ran twice at once (a lock file per kind, taken with O_EXCL).

Usage: python benchmarks/watch_soak.py [--seconds 600] [--rate 5000] [--size-mb 16]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from workloads import build

HOOK = """import os, sys, time
try:
    fd = os.open(sys.argv[1], os.O_CREAT | os.O_EXCL)
except FileExistsError:
    open(sys.argv[2], "a").write("x")
else:
    time.sleep(0.5)
    os.close(fd)
    os.unlink(sys.argv[1])
"""


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def feed(proc: subprocess.Popen[bytes], lines: list[bytes], rate: int, seconds: float) -> int:
    """Write lines at `rate` per second for `seconds`; the number written."""
    start, n, batch = time.monotonic(), 0, max(1, rate // 20)
    assert proc.stdin is not None
    while time.monotonic() - start < seconds:
        chunk = [lines[(n + i) % len(lines)] for i in range(batch)]
        proc.stdin.write(b"".join(chunk))
        proc.stdin.flush()
        n += batch
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    proc.stdin.close()
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--size-mb", type=int, default=16)
    args = ap.parse_args()
    lines = build("storm", args.size_mb).read_bytes().splitlines(keepends=True)
    tmp = Path(tempfile.mkdtemp(prefix="stalllog-soak-"))
    (tmp / "hook.py").write_text(HOOK)

    def hook(kind: str) -> str:
        # one lock per kind: hooks of different kinds may run together, one kind never twice
        return f"{sys.executable} {tmp / 'hook.py'} {tmp / kind}.lock {tmp / 'overlap'}"

    proc = subprocess.Popen(
        [sys.executable, "-m", "stalllog", "watch", "-", "--on-oom", hook("oom_kill"),
         "--on-event", f"stall_update={hook('stall_update')}", "-o", str(tmp / "events.jsonl")],
        stdin=subprocess.PIPE,
    )  # fmt: skip
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        t0 = time.monotonic()
        while not done.wait(5):
            samples.append((time.monotonic() - t0, rss_kb(proc.pid)))

    threading.Thread(target=sample, daemon=True).start()
    written = feed(proc, lines, args.rate, args.seconds)
    proc.wait()
    done.set()
    events = [json.loads(line) for line in (tmp / "events.jsonl").read_text().splitlines()]
    end = events[-1]
    rss = [kb for _, kb in samples]
    print(f"lines written {written}, counted by the watch {end['lines']}")
    print(
        f"RSS MiB: first {rss[0] / 1024:.0f}, last {rss[-1] / 1024:.0f}, max {max(rss) / 1024:.0f}"
    )
    print("RSS over time (s, MiB):", [(round(t), round(kb / 1024)) for t, kb in samples[::12]])
    print("events:", end["events"])
    print("hooks:", end["hooks"])
    print("a hook kind ran twice at once:", (tmp / "overlap").exists())


if __name__ == "__main__":
    main()
