"""Is commit B faster than commit A? Paired, interleaved runs of `stalllog parse -o DIR`.

    python benchmarks/ab.py HEAD~1 HEAD --workload storm --size-mb 16 --pairs 10
    python benchmarks/ab.py main worktree --workload production --size-mb 64

On a shared machine the speed drifts by 20 % and more over minutes, so runs of one commit and
then the other (bench.py --rev) can show a change that is not there. Here the two run
alternately, A B B A A B ..., and each pair is compared on its own: the verdict is the median
of the per-pair ratios B/A of CPU time (user + sys) and of wall time, with their quartiles,
which drift moves far less than it moves either commit's times. A change inside the quartiles
is not shown.

Each side's output tables are read back and compared (`manifest.json` aside); a difference is
reported, since a faster parse that writes other tables is no result. `worktree` is the working
tree; any other name is a commit, exported as bench.py --rev does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench
import workloads


def code_of(rev: str) -> Path:
    return workloads.ROOT if rev == "worktree" else bench.export_rev(rev)


def run(code: Path, path: Path, out: Path) -> bench.Run:
    """One parse with `code` first on sys.path (bench.measure runs it with cwd = code)."""
    shutil.rmtree(out, ignore_errors=True)
    bench.CODE = code
    bench.ENV["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(code), os.environ.get("PYTHONPATH")])
    )
    return bench.measure([*bench.stalllog_cmd(), "parse", "-q", str(path), "-o", str(out)])


def differing_tables(a: Path, b: Path) -> list[str]:
    names = sorted({p.name for p in a.glob("*.parquet")} | {p.name for p in b.glob("*.parquet")})
    out = []
    for name in names:
        pa_, pb = a / name, b / name
        if not (pa_.exists() and pb.exists()):
            out.append(f"{name} (only in {'A' if pa_.exists() else 'B'})")
        elif not pq.read_table(pa_).equals(pq.read_table(pb)):
            out.append(name)
    return out


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("a", help="the base: a commit, or `worktree`")
    ap.add_argument("b", help="the change: a commit, or `worktree`")
    ap.add_argument("--workload", choices=sorted(workloads.BUILDERS), default="storm")
    ap.add_argument("--size-mb", type=int, default=16, help="MiB of workload (default 16)")
    ap.add_argument("--pairs", type=int, default=10, help="runs of each side (default 10)")
    args = ap.parse_args()

    bench.DATA.mkdir(parents=True, exist_ok=True)
    codes = {"A": code_of(args.a), "B": code_of(args.b)}
    path = workloads.build(args.workload, args.size_mb)
    outs = {side: bench.DATA / f"ab-out-{side}" for side in codes}
    print(f"A = {args.a}, B = {args.b}; {path.name}; {args.pairs} pairs", flush=True)
    run(codes["A"], path, outs["A"])  # warm the page cache and the .pyc files
    runs: dict[str, list[bench.Run]] = {"A": [], "B": []}
    for i in range(args.pairs):
        for side in ("A", "B") if i % 2 == 0 else ("B", "A"):
            runs[side].append(run(codes[side], path, outs[side]))
        a, b = runs["A"][-1], runs["B"][-1]
        print(f"  pair {i + 1}: CPU A {a.cpu:.2f} s, B {b.cpu:.2f} s, B/A {b.cpu / a.cpu:.3f};"
              f" wall B/A {b.wall / a.wall:.3f}", flush=True)  # fmt: skip

    for side, label in (("A", args.a), ("B", args.b)):
        cpu = [r.cpu for r in runs[side]]
        wall = [r.wall for r in runs[side]]
        rss = max(r.rss_mb or 0 for r in runs[side])
        print(f"{side} {label}: CPU min {min(cpu):.2f} median {statistics.median(cpu):.2f} s;"
              f" wall min {min(wall):.2f} median {statistics.median(wall):.2f} s;"
              f" peak RSS {rss:.0f} MB")  # fmt: skip
    for what in ("cpu", "wall"):
        ratios = [
            getattr(b, what) / getattr(a, what) for a, b in zip(runs["A"], runs["B"], strict=True)
        ]
        q1, q2, q3 = quartiles(ratios)
        print(f"{what.upper()} B/A per pair: median {q2:.3f} (quartiles {q1:.3f}-{q3:.3f})")
    differ = differing_tables(outs["A"], outs["B"])
    print("tables: " + ("identical" if not differ else "DIFFER: " + ", ".join(differ)))
    (bench.DATA / f"time-v-{os.getpid()}.txt").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
