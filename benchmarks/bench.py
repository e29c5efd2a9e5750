#!/usr/bin/env python3
"""Throughput, CPU time and peak memory of stalllog on a workload built from sample_logs/.

Workloads (benchmarks/workloads.py; real lines only, built once and cached in benchmarks/data/):
production (1 GiB: serial/journal/`dmesg -T` boots, 2.5 % of lines in reports), storm (256 MiB:
kmallocwd and warn_alloc stall reports back to back), worst (256 MiB: every sample repeated).

Each step runs --repeat times in a fresh process under `/usr/bin/time -v` (CPU = user + sys of
the process and the children it waited for; peak RSS = its "Maximum resident set size"); the
table shows the medians, MB/s on wall and on CPU time, and the CPU time as a multiple of
`grep -c` and of a naive Python loop (benchmarks/naive.py) on the same file in the same run:

  grep       grep -c oom-killer FILE
  naive      python benchmarks/naive.py FILE   (one compiled re of trigger words per line)
  parse      stalllog parse FILE -o DIR                 (default tables, Parquet)
  jobs 1/N   the same with --jobs 1 and --jobs N (N = all cores), when the CLI has --jobs
  dask       stalllog.dask.parse_to_parquet([FILE], DIR), when stalllog.dask is importable

--only lines:  grep + the line stage (reader.iter_chunks + LineStage.batch, batches dropped)
--only full:   grep + capture.iter_parse on the workload and on a quarter-size one (RSS growth)
--profile lines|full:  cProfile one step in-process, with the time of each pyarrow.compute call

Usage: python benchmarks/bench.py [--workload production|storm|worst] [--size-mb N]
                                  [--repeat 3] [--only lines|full] [--rev REV] [--keep]
"""

from __future__ import annotations

import argparse
import cProfile
import ctypes
import datetime as dt
import json
import os
import platform
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workloads

ROOT = workloads.ROOT
DATA = workloads.DATA
MIB = workloads.MIB
NAIVE = Path(__file__).resolve().parent / "naive.py"
GROWTH_TOLERANCE = 0.15  # peak RSS on 4x the input may exceed the quarter run by this much

# Code under test: the working tree, or a commit exported by --rev (set in main).
CODE = ROOT
ENV = dict(os.environ)


# -- workers (run in a fresh process) ---------------------------------------------------------


def work_lines(path: Path, out: Path | None = None) -> dict[str, float]:
    from stalllog.input.lines import LineStage
    from stalllog.input.reader import iter_chunks, open_source

    t0, c0 = time.perf_counter(), time.process_time()
    src = open_source(path)
    stage = LineStage()
    stage.start_source(src.name)
    rows = 0
    for chunk in iter_chunks(src):
        rows += stage.batch(chunk.data, chunk.last, truncated=src.error is not None).num_rows
    src.stream.close()
    return {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rows": rows}


def work_full(path: Path, out: Path | None = None) -> dict[str, float]:
    from stalllog.engine.capture import iter_parse

    t0, c0 = time.perf_counter(), time.process_time()
    rows = claimed = 0
    tables: dict[str, object] = {}
    for item in iter_parse([path]):
        if isinstance(item, dict):
            tables = item
        else:
            rows += item.num_rows
            claimed += item.num_rows - item.column("event_id").null_count
    events = getattr(tables.get("events"), "num_rows", 0)
    return {
        "seconds": time.perf_counter() - t0,
        "cpu": time.process_time() - c0,
        "rows": rows,
        "claimed": claimed,
        "events": events,
    }


def work_dask(path: Path, out: Path | None = None) -> dict[str, float]:
    from stalllog.dask import parse_to_parquet  # type: ignore[import-not-found,unused-ignore]

    parse_to_parquet([str(path)], str(out))
    return {}


WORKERS: dict[str, Callable[..., dict[str, float]]] = {
    "lines": work_lines,
    "full": work_full,
    "dask": work_dask,
}


def run_worker(step: str, path: Path, out: Path | None) -> None:
    import stalllog

    result: dict[str, object] = {**WORKERS[step](path, out), "code": stalllog.__file__}
    print(json.dumps(result))


def _time_compute_calls() -> dict[str, list[float]]:
    """Wrap every pyarrow.compute function to total its time by name: cProfile lumps them all
    into one `compute.py:(wrapper)` entry."""
    import pyarrow.compute as pc

    spent: dict[str, list[float]] = {}

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                entry = spent.setdefault(name, [0.0, 0])
                entry[0] += time.perf_counter() - t0
                entry[1] += 1

        return timed

    for name in dir(pc):
        fn = getattr(pc, name)
        if not name.startswith("_") and callable(fn) and not isinstance(fn, type):
            setattr(pc, name, wrap(name, fn))
    return spent


def profile(step: str, path: Path, top: int) -> None:
    out = DATA / f"profile-{step}.prof"
    spent = _time_compute_calls()
    import stalllog.engine.capture  # noqa: F401 - imports are not what we profile

    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    WORKERS[step](path)
    prof.disable()
    total = time.perf_counter() - t0
    prof.dump_stats(out)
    stats = pstats.Stats(str(out))
    stats.strip_dirs()
    for key in ("tottime", "cumulative"):
        print(f"\n== {step}: top {top} by {key} ({out.relative_to(ROOT)}) ==")
        stats.sort_stats(key).print_stats(top)
    print(f"== {step}: pyarrow.compute functions, {total:.1f} s in all (profiler included) ==")
    for name, (secs, calls) in sorted(spent.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"{name:<32} {secs:8.2f} s {100 * secs / total:5.1f} %  {int(calls):>7} calls")


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float | None
    stdout: str = field(default="", repr=False)


@dataclass
class Step:
    name: str
    mb: float
    runs: list[Run]
    load: tuple[float, float]  # 1-minute load average before and after the step
    note: str = ""

    def median(self, attr: str) -> float:
        values = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
        return statistics.median(values) if values else float("nan")

    def mb_s(self, attr: str) -> float:
        secs = self.median(attr)
        return self.mb / secs if secs > 0 else float("inf")

    def as_json(self) -> dict[str, object]:
        runs = [{k: v for k, v in asdict(r).items() if k != "stdout"} for r in self.runs]
        return {
            "step": self.name,
            "mb": self.mb,
            "runs": runs,
            "median_wall_s": self.median("wall"),
            "median_cpu_s": self.median("cpu"),
            "median_rss_mb": self.median("rss_mb"),
            "mb_s_wall": self.mb_s("wall"),
            "mb_s_cpu": self.mb_s("cpu"),
            "load_before_after": self.load,
            "note": self.note,
        }


_TIME_V = {
    "user": re.compile(r"User time \(seconds\): ([\d.]+)"),
    "sys": re.compile(r"System time \(seconds\): ([\d.]+)"),
    "rss": re.compile(r"Maximum resident set size \(kbytes\): (\d+)"),
}
_RUSAGE_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:]).returncode\n"
    "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "sys.stderr.write(f'User time (seconds): {r.ru_utime}\\nSystem time (seconds): "
    "{r.ru_stime}\\nMaximum resident set size (kbytes): {r.ru_maxrss}\\n')\n"
    "sys.exit(rc)\n"
)


def export_rev(rev: str) -> Path:
    """Export stalllog/ and parsers/ of a commit, so edits in the working tree do not leak in."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", rev], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()
    dest = DATA / f"src-{sha}"
    if not (dest / "stalllog").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", sha, "stalllog", "parsers"],
            capture_output=True,
            cwd=ROOT,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def _become_subreaper() -> bool:
    """Orphaned descendants come to this process (Linux): `--jobs` workers are children of
    multiprocessing's forkserver, which the parse leaves running when it exits, so neither
    /usr/bin/time nor RUSAGE_CHILDREN sees their CPU; waiting for them here does."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


SUBREAPER = _become_subreaper()


def _reap_orphans(grace_s: float = 10.0) -> tuple[float, int]:
    """CPU seconds (user + sys) and peak RSS (KB) of the orphans that came to this process,
    once they exited (a forkserver exits when its parent is gone)."""
    cpu, rss = 0.0, 0
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.02)
            continue
        cpu += usage.ru_utime + usage.ru_stime
        rss = max(rss, usage.ru_maxrss)
    return cpu, rss


def measure(cmd: list[str], ok: tuple[int, ...] = (0,)) -> Run:
    """Run cmd in a fresh process (cwd = the code under test, so `-m stalllog` imports it)."""
    time_bin = shutil.which("time", path="/usr/bin:/bin")
    report = DATA / f"time-v-{os.getpid()}.txt"  # runs of other workloads may be going on
    if time_bin:
        full = [time_bin, "-v", "-o", str(report), *cmd]
    else:  # RUSAGE_CHILDREN of a wrapper that has exactly one child: that child's usage
        full = [sys.executable, "-c", _RUSAGE_WRAPPER, *cmd]
    t0 = time.perf_counter()
    proc = subprocess.run(full, capture_output=True, text=True, cwd=CODE, env=ENV)
    wall = time.perf_counter() - t0
    if proc.returncode not in ok:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    orphan_cpu, orphan_kb = _reap_orphans() if SUBREAPER else (0.0, 0)
    timing = report.read_text() if time_bin else proc.stderr
    got = {k: rx.search(timing) for k, rx in _TIME_V.items()}
    cpu = sum(float(m[1]) for k, m in got.items() if k != "rss" and m) + orphan_cpu
    rss = max(int(got["rss"][1]), orphan_kb) / 1024 if got["rss"] else None
    return Run(wall, cpu, rss, proc.stdout)


def step(name: str, cmd: list[str], mb: float, repeat: int, ok: tuple[int, ...] = (0,)) -> Step:
    """`repeat` runs of cmd; prints the load average before and after."""
    before = os.getloadavg()[0]
    print(f"{name}: load {before:.1f} before", flush=True)
    runs = []
    for i in range(repeat):
        run = measure(cmd, ok)
        rss = f"{run.rss_mb:.0f}" if run.rss_mb is not None else "?"
        print(f"  #{i + 1}: wall {run.wall:.1f} s, CPU {run.cpu:.1f} s, peak RSS {rss} MB")
        runs.append(run)
    after = os.getloadavg()[0]
    print(f"  load {after:.1f} after", flush=True)
    return Step(name, mb, runs, (before, after))


def worker_step(name: str, path: Path, repeat: int, out: Path | None = None) -> Step:
    """A WORKERS step; for lines/full wall and CPU are the worker's own (imports excluded)."""
    worker = name.split()[0]
    cmd = [sys.executable, __file__, "--worker", worker, str(path)]
    res = step(name, [*cmd, *([str(out)] if out else [])], path.stat().st_size / MIB, repeat)
    notes = []
    for run in res.runs:
        got = json.loads(run.stdout.strip().splitlines()[-1])
        if not got["code"].startswith(str(CODE)):
            sys.exit(f"{name} imported stalllog from {got['code']}, not from {CODE}")
        if "seconds" in got:
            run.wall, run.cpu = got["seconds"], got["cpu"]
            notes = [f"{int(got['rows']):,} lines; imports not counted"]
            if "events" in got:
                notes.append(f"{int(got['events']):,} events, {int(got['claimed']):,} claimed")
    res.note = "; ".join(notes)
    return res


def stalllog_cmd() -> list[str]:
    # -m with cwd = CODE: the code under test comes first on sys.path (--rev included)
    return [sys.executable, "-m", "stalllog"]


def has_jobs() -> bool:
    out = subprocess.run(
        [*stalllog_cmd(), "parse", "--help"], capture_output=True, text=True, cwd=CODE, env=ENV
    ).stdout
    return "--jobs" in out


def has_dask() -> bool:
    probe = "from stalllog.dask import parse_to_parquet"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, cwd=CODE, env=ENV)
    return found.returncode == 0


def parse_steps(path: Path, repeat: int, keep: bool) -> tuple[list[Step], list[str]]:
    mb = path.stat().st_size / MIB
    out_dir = DATA / f"cli-out-{path.stem}"
    cmd = [*stalllog_cmd(), "parse", str(path), "-o", str(out_dir)]
    steps, missing = [], []
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    variants = [("parse", cmd)]
    if has_jobs():
        variants += [("parse --jobs 1", [*cmd, "--jobs", "1"])]
        variants += [(f"parse --jobs {cores}", [*cmd, "--jobs", str(cores)])]
    else:
        missing.append("parse --jobs 1/N: n/a (the CLI has no --jobs)")
    for name, c in variants:
        shutil.rmtree(out_dir, ignore_errors=True)
        s = step(name, c, mb, repeat)
        written = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file())
        s.note = f"wall incl. startup; wrote {written / MIB:.0f} MiB"
        steps.append(s)
    if has_jobs():
        two, note = two_file_steps(path, repeat, cores or 1)
        steps += two
        missing.append(note)
    if has_dask():
        shutil.rmtree(out_dir, ignore_errors=True)
        steps.append(worker_step("dask", path, repeat, out_dir))
    else:
        missing.append("dask: n/a (stalllog.dask.parse_to_parquet not importable)")
    if not keep:
        shutil.rmtree(out_dir, ignore_errors=True)
    return steps, missing


def halves(path: Path) -> list[Path]:
    """The workload cut in two files at the line end nearest its middle (cached): the
    issue's "two-file input" for `--jobs`."""
    out = [path.with_name(f"{path.stem}-half{k}{path.suffix}") for k in (1, 2)]
    if all(p.exists() and p.stat().st_mtime >= path.stat().st_mtime for p in out):
        return out
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    out[0].write_bytes(data[:cut])
    out[1].write_bytes(data[cut:])
    return out


def two_file_steps(path: Path, repeat: int, cores: int) -> tuple[list[Step], str]:
    """`parse A B` with --jobs 1 and --jobs N; the note gives the speed-up and whether the
    two runs wrote the same bytes (manifest.json aside: it holds times)."""
    files = halves(path)
    mb = sum(f.stat().st_size for f in files) / MIB
    for f in files:
        warm(f)
    steps, outs = [], []
    for jobs in (1, cores):
        out = DATA / f"cli-out-{path.stem}-2files-j{jobs}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [*stalllog_cmd(), "parse", *map(str, files), "-o", str(out), "--jobs", str(jobs)]
        steps.append(step(f"parse 2 files --jobs {jobs}", cmd, mb, repeat))
        outs.append(out)
    same = all(
        f.read_bytes() == (outs[1] / f.name).read_bytes()
        for f in outs[0].iterdir()
        if f.name != "manifest.json"
    )
    for out in outs:
        shutil.rmtree(out, ignore_errors=True)
    one, many = steps
    note = (
        f"2 files: --jobs {cores} is {one.median('wall') / many.median('wall'):.2f}x faster "
        f"than --jobs 1 on wall time ({one.median('cpu'):.1f} vs {many.median('cpu'):.1f} s "
        f"CPU, workers included); output {'byte-identical' if same else 'DIFFERENT'}"
    )
    return steps, note


def warm(path: Path) -> None:
    """Read the file once so every step sees it in the page cache, grep included."""
    with open(path, "rb") as f:
        while f.read(64 * MIB):
            pass


def table(steps: list[Step]) -> str:
    """A Markdown table; x grep / x naive are CPU-time ratios (how many times slower)."""
    base = {s.name: s.median("cpu") for s in steps if s.name in ("grep -c", "naive")}
    rows = [
        "| step | MB | wall s | CPU s | MB/s wall | MB/s CPU | peak RSS MB | x grep | x naive "
        "| load before/after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in steps:
        cpu = s.median("cpu")
        ratios = [f"{cpu / b:.1f}" if b and b > 0 else "n/a" for b in base.values()]
        ratios += ["n/a"] * (2 - len(ratios))
        rows.append(
            f"| {s.name} | {s.mb:.0f} | {s.median('wall'):.1f} | {cpu:.1f} | "
            f"{s.mb_s('wall'):.1f} | {s.mb_s('cpu'):.1f} | {s.median('rss_mb'):.0f} | "
            f"{' | '.join(ratios)} | {s.load[0]:.1f} / {s.load[1]:.1f} |"
        )
    return "\n".join(rows)


def growth_verdict(quarter: Step, whole: Step) -> str:
    q, w = quarter.median("rss_mb"), whole.median("rss_mb")
    delta = w - q
    grows = delta > GROWTH_TOLERANCE * q
    per_gb = delta / ((whole.mb - quarter.mb) / 1024)
    from stalllog.input.reader import CHUNK_BYTES

    # below a few chunks the quarter run never reaches the steady state of a long capture
    caveat = "" if quarter.mb * MIB >= 4 * CHUNK_BYTES else " (quarter too small to tell)"
    return (
        f"RSS growth: {q:.0f} MB on {quarter.mb:.0f} MB -> {w:.0f} MB on {whole.mb:.0f} MB "
        f"({whole.mb / quarter.mb:.1f}x input, {delta:+.0f} MB, {per_gb:+.0f} MB per GB): "
        + ("GROWS with the input" if grows else "flat (does not grow with the input)")
        + caveat
    )


def header() -> str:
    import numpy
    import pyarrow

    load = os.getloadavg()
    return (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), load {load[0]:.1f}; Python "
        f"{platform.python_version()}, pyarrow {pyarrow.__version__} "
        f"({pyarrow.default_memory_pool().backend_name}), numpy {numpy.__version__}"
    )


def run_steps(args: argparse.Namespace, path: Path) -> tuple[list[Step], list[str]]:
    mb = path.stat().st_size / MIB
    steps = [step("grep -c", ["grep", "-c", "oom-killer", str(path)], mb, args.repeat, (0, 1))]
    summary: list[str] = []
    if args.only == "lines":
        runs = [worker_step("lines", path, args.repeat)]
        cpu = [mb / r.cpu for r in runs[0].runs]
        wall = [mb / r.wall for r in runs[0].runs]
        summary.append(
            f"line stage, {len(cpu)} runs (imports excluded): best {max(cpu):.1f} MB/s CPU, "
            f"median {statistics.median(cpu):.1f} MB/s CPU; wall best {max(wall):.1f}, "
            f"median {statistics.median(wall):.1f} MB/s"
        )
        return steps + runs, summary
    if args.only == "full":
        whole = worker_step("full", path, args.repeat)
        quarter_path = workloads.build(args.workload, max(args.size_mb // 4, 1))
        warm(quarter_path)
        quarter = worker_step("full 1/4", quarter_path, args.repeat)
        summary.append(growth_verdict(quarter, whole))
        return [*steps, whole, quarter], summary
    naive = [sys.executable, str(NAIVE), str(path)]
    steps.append(step("naive", naive, mb, args.repeat))
    parsed, missing = parse_steps(path, args.repeat, args.keep)
    return steps + parsed, summary + missing


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workload", choices=sorted(workloads.BUILDERS), default="production")
    ap.add_argument("--size-mb", type=int, help="MiB (production 1024, storm 256, worst 256)")
    ap.add_argument("--only", choices=["lines", "full"], help="line stage, or iter_parse + RSS")
    ap.add_argument("--keep", action="store_true", help="keep the CLI output directory")
    ap.add_argument("--repeat", type=int, default=3, help="runs per step (medians shown)")
    ap.add_argument("--profile", choices=["lines", "full"], help="cProfile one step in-process")
    ap.add_argument("--rev", help="measure this commit (exported to benchmarks/data/)")
    ap.add_argument("--top", type=int, default=25, help="functions to show with --profile")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("file", nargs="?", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("out", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        run_worker(args.worker, args.file, args.out)
        return
    DATA.mkdir(parents=True, exist_ok=True)
    args.size_mb = args.size_mb or workloads.DEFAULT_MB[args.workload]
    if args.rev:
        global CODE
        CODE = export_rev(args.rev)
        ENV["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CODE), ENV.get("PYTHONPATH")]))
        if args.profile:
            sys.path.insert(0, str(CODE))
    path = workloads.build(args.workload, args.size_mb)
    if args.profile:
        profile(args.profile, path, args.top)
        return
    started = dt.datetime.now(dt.UTC)
    print(header(), flush=True)
    print(f"code under test: {CODE.relative_to(ROOT) if CODE != ROOT else 'working tree'}")
    print("\n".join(workloads.describe(path)), flush=True)
    warm(path)
    steps, summary = run_steps(args, path)
    print()
    print(table(steps))
    print("\n".join(summary))
    results = path.with_name(f"{path.stem}-results-{started:%Y%m%dT%H%M%S}.json")
    results.write_text(
        json.dumps(
            {
                "header": header(),
                "code": str(CODE),
                "workload": list(workloads.describe(path)),
                "steps": [s.as_json() for s in steps],
                "summary": summary,
            },
            indent=1,
        )
    )
    print(f"results: {results.relative_to(ROOT)}")
    (DATA / f"time-v-{os.getpid()}.txt").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
