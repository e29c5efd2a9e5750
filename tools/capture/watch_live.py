#!/usr/bin/env python3
"""The console of a capture boot, live into `stalllog watch -` (capture.sh's LIVE= command).

    LIVE="python3 tools/capture/watch_live.py" tools/capture/capture.sh -k 6.1 -s oom-stall

Reads QEMU's console from stdin as it comes, writes it unchanged to SERIAL_LOG (the capture)
and into `stalllog watch -`, and notes when each line arrived. Beside the log it leaves:

- `<base>-watch.jsonl`: the watch's events (`--quiet-after 10`);
- `<base>-arrivals.txt`: the time (Unix seconds) each console line arrived, one per line;
- `<base>-hooks.log`: one line per hook run, `<STALLLOG_EVENT> <STALLLOG_EPISODE>`, written by
  the `--on-stall` and `--on-clear` hooks.

tests/test_watch_qemu.py checks them against `stalllog analyze` of the saved log.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

QUIET_AFTER_S = 10


def main() -> int:
    serial = Path(sys.argv[1])
    base = str(serial).removesuffix("-serial.log")
    hooks_log = Path(base + "-hooks.log")
    hooks_log.unlink(missing_ok=True)
    Path(base + "-watch.jsonl").unlink(missing_ok=True)
    hook = f'echo "$STALLLOG_EVENT $STALLLOG_EPISODE" >> {hooks_log}'
    python = os.environ.get("STALLLOG_PYTHON", sys.executable)
    watch = subprocess.Popen(
        [python, "-m", "stalllog", "watch", "-", "--quiet-after", str(QUIET_AFTER_S),
         "--shell", "--on-stall", hook, "--on-clear", hook, "-o", base + "-watch.jsonl"],
        stdin=subprocess.PIPE,
    )  # fmt: skip
    assert watch.stdin is not None
    arrivals: list[float] = []
    with serial.open("wb") as log:
        while chunk := os.read(0, 65536):
            now = time.time()
            arrivals += [now] * chunk.count(b"\n")
            log.write(chunk)
            log.flush()
            watch.stdin.write(chunk)
            watch.stdin.flush()
    watch.stdin.close()
    rc = watch.wait()
    Path(base + "-arrivals.txt").write_text("".join(f"{t:.6f}\n" for t in arrivals))
    return rc


if __name__ == "__main__":
    sys.exit(main())
