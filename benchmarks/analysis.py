#!/usr/bin/env python3
"""What the analysis (stalllog.analyze) costs next to parsing.

Two measurements, each min of --repeat runs in this process:

  capture   the `worst` workload of --size-mb MiB (benchmarks/workloads.py, real lines only):
            parse(analysis=False) vs analyze() on its tables; the issue's bar is <= 10 %
  samples   every sample file on its own: the fixed cost of the analysis on small inputs
            (median and worst per file), which the large-capture share hides

Usage: python benchmarks/analysis.py [--size-mb 100] [--repeat 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workloads

import stalllog
from stalllog.analyze import analyze


def _timed(fn, repeat: int):  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def capture(size_mb: int, repeat: int) -> None:
    path = workloads.build("worst", size_mb, workloads.DATA / f"analysis-{size_mb}.log")
    t_parse, cap = _timed(lambda: stalllog.parse(path, analysis=False), repeat)
    t_analyze, result = _timed(lambda: analyze(cap), repeat)
    rows = ", ".join(f"{k} {len(v)}" for k, v in result.items())
    print(f"capture {size_mb} MiB: parse {t_parse:.1f} s, analysis {t_analyze:.2f} s "
          f"= {100 * t_analyze / t_parse:.1f} % of parse ({rows})")  # fmt: skip


def samples(repeat: int) -> None:
    costs = []
    for p in workloads.sample_files():
        cap = stalllog.parse(p, analysis=False)
        t, _ = _timed(lambda cap=cap: analyze(cap), repeat)  # type: ignore[misc]
        costs.append((t, p.name))
    times = [t for t, _ in costs]
    worst = max(costs)
    print(f"samples: {len(costs)} files, analysis median {1000 * statistics.median(times):.0f} ms,"
          f" worst {1000 * worst[0]:.0f} ms ({worst[1]})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    samples(args.repeat)
    capture(args.size_mb, args.repeat)


if __name__ == "__main__":
    main()
