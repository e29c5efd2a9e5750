"""Feed a saved capture out at its recorded pace, compressed in time: the stand-in for a live
console in tests and demos.

    python -m stalllog.watch.replay CAPTURE --speed 50 | stalllog watch -

Each line is written when its time since boot comes (divided by `speed`; a line without a time
goes with the one before it; waits are capped at `max_wait` seconds, so hours of silence do not
stall a test). The bytes are the capture's own, decompressed.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from typing import IO

from stalllog.engine.capture import parse
from stalllog.input.reader import iter_chunks, open_source


def replay(path: str, out: IO[bytes], speed: float = 50.0, max_wait: float = 1.0) -> int:
    """Write the capture to `out` line by line at its pace; return the number of lines."""
    ts = parse(path, analysis=False).lines["ts"].astype("Float64").fillna(math.nan).to_numpy(float)
    opened = open_source(path)
    start = time.monotonic()
    prev, elapsed, n = math.nan, 0.0, 0
    try:
        for chunk in iter_chunks(opened):
            for raw in _lines(chunk.data):
                t = ts[n] if n < len(ts) else math.nan
                if not math.isnan(t):
                    if not math.isnan(prev):  # a clock that went back waits for nothing
                        elapsed += min(max((t - prev) / speed, 0.0), max_wait)
                    prev = t
                    delay = start + elapsed - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                out.write(raw)
                out.flush()
                n += 1
    finally:
        opened.stream.close()
    return n


def _lines(data: bytes) -> list[bytes]:
    """Lines as the line stage counts them: split at LF only."""
    parts = data.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]]
    return [*out, parts[-1]] if parts[-1] else out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture")
    ap.add_argument("--speed", type=float, default=50.0, help="time compression (default 50)")
    ap.add_argument("--max-wait", type=float, default=1.0, help="longest wait, seconds")
    args = ap.parse_args()
    with contextlib.suppress(BrokenPipeError):  # the reader quit: so do we
        replay(args.capture, sys.stdout.buffer, args.speed, args.max_wait)


if __name__ == "__main__":
    main()
