"""Time of the reader on one long line grows linearly (it used to copy the unfinished line
on every 64 kB read: 12.5 MB took 1.4 s, 100 MB 92 s). Timing-sensitive: `-m slow`."""

from __future__ import annotations

import time

import pytest

import stalllog
from stalllog.input.reader import iter_chunks, open_source

MB = 1_000_000


def _best_of(n: int, run: object) -> float:
    times = []
    for _ in range(n):
        t = time.process_time()
        run()  # type: ignore[operator]
        times.append(time.process_time() - t)
    return min(times)


def _gather(size: int) -> None:
    # no cap: the whole line is gathered, which is the path that was quadratic
    data = b"a" * size + b"\n"
    chunks = list(iter_chunks(open_source(data), max_line=1 << 40))
    assert sum(len(c.data) for c in chunks) == len(data)


def _parse(size: int) -> None:
    cap = stalllog.parse(b"a" * size + b"\n", analysis=False)
    assert cap.parsed["lines"].column("flags").to_pylist() == ["long+cut"]


@pytest.mark.slow
@pytest.mark.parametrize("run", [_gather, _parse], ids=["gather", "parse-cut"])
def test_one_long_line_is_linear(run: object) -> None:
    small = _best_of(3, lambda: run(5 * MB))  # type: ignore[operator]
    big = _best_of(2, lambda: run(40 * MB))  # type: ignore[operator]
    assert big < 12 * max(small, 0.05), (small, big)
