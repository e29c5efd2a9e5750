#!/usr/bin/env python3
"""Throughput and peak memory of stalllog on a >= 1 GB capture built from sample_logs/.

The capture is real lines only: every sample log under sample_logs/ (decompressed; syzkaller
test files without their expectation header and REPORT: section), concatenated in a fixed
order and repeated until the size is reached. Each measurement runs in a fresh process under
`/usr/bin/time -v`, so peak RSS is that step's alone, beside `grep -c` on the same file:

  grep   grep -c "oom-killer" FILE                      (baseline: reading the bytes)
  lines  reader.iter_chunks + lines.LineStage.batch     (the line stage alone, batches dropped)
  full   capture.iter_parse([FILE])                     (whole pipeline, lines not kept)
  cli    stalllog parse FILE -o DIR --format parquet   (when stalllog/cli.py exists)
  full/4 iter_parse on the first quarter of the capture (does peak RSS grow with the input?)

Usage: python benchmarks/bench.py [--size-mb 1024] [--only lines|full|cli] [--keep]
       python benchmarks/bench.py --size-mb 200 --profile lines   (cProfile, top functions)
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gzip
import json
import lzma
import os
import platform
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
SAMPLES = ROOT / "sample_logs"
MIB = 1 << 20

NOT_LOGS = {".md", ".json", ".csv", ".tsv", ".sha256", ".py", ".sh", ".yaml", ".yml", ".toml"}
INDEX_NAMES = {"index.txt"}
# syzkaller pkg/report test files: `KEY: value` header, blank line, console log, REPORT: section
_SYZ_HEADER = re.compile(
    rb"^(?:(?:TITLE|ALT|TYPE|FRAME|CORRUPTED|SUPPRESSED|PANICKED|EXECUTOR):[^\n]*\n)*\n"
)
_SYZ_REPORT = re.compile(rb"\nREPORT:\n")
GROWTH_TOLERANCE = 0.15  # peak RSS on 4x the input may exceed the quarter run by this much


# -- building the capture -------------------------------------------------------------------


def _decompressed(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw.startswith(b"\xfd7zXZ\x00"):
        return lzma.decompress(raw)
    if raw.startswith(b"\x1f\x8b"):
        return gzip.decompress(raw)
    return raw


def _console_part(data: bytes) -> bytes:
    """The console log of a syzkaller test file; other files are returned unchanged."""
    head = _SYZ_HEADER.match(data)
    if head is None:
        return data
    body = data[head.end() :]
    cut = _SYZ_REPORT.search(body)
    return body[: cut.start() + 1] if cut else body


def sample_files() -> list[Path]:
    files = [
        p
        for p in sorted(SAMPLES.rglob("*"))
        if p.is_file()
        and p.suffix.lower() not in NOT_LOGS
        and p.name not in INDEX_NAMES
        and not any(part.startswith(".") for part in p.relative_to(SAMPLES).parts)
    ]
    if not files:
        sys.exit(f"no sample logs found under {SAMPLES}")
    return files


def _cycle_blob(files: list[Path]) -> bytes:
    parts = []
    for p in files:
        data = _console_part(_decompressed(p))
        if data and not data.endswith(b"\n"):
            data += b"\n"  # keep the next file's first line a line of its own
        parts.append(data)
    return b"".join(parts)


def _fingerprint(files: list[Path], size: int) -> dict[str, object]:
    return {
        "target_bytes": size,
        "samples": [[str(p.relative_to(SAMPLES)), p.stat().st_size] for p in files],
    }


def build_capture(path: Path, size: int, files: list[Path]) -> Path:
    """Write `size` bytes (rounded up to a line end) of repeated samples, unless already there."""
    meta_path = path.with_suffix(".json")
    want = _fingerprint(files, size)
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("fingerprint") == want and meta.get("bytes") == path.stat().st_size:
            return path
    blob = _cycle_blob(files)
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    written = 0
    with open(path, "wb") as out:
        while written + len(blob) <= size:
            out.write(blob)
            written += len(blob)
        if written < size:
            cut = blob.index(b"\n", size - written - 1) + 1
            out.write(blob[:cut])
            written += cut
    meta_path.write_text(json.dumps({"fingerprint": want, "bytes": written}))
    print(
        f"built {path.name}: {written / MIB:.0f} MiB from {len(files)} sample files "
        f"({len(blob) / 1024:.0f} KiB per cycle) in {time.perf_counter() - t0:.1f} s"
    )
    return path


# -- workers (run in a fresh process) ---------------------------------------------------------


def work_lines(path: Path) -> dict[str, float]:
    from stalllog.input.lines import LineStage
    from stalllog.input.reader import iter_chunks, open_source

    t0 = time.perf_counter()
    src = open_source(path)
    stage = LineStage()
    stage.start_source(src.name)
    rows = 0
    for chunk in iter_chunks(src):
        rows += stage.batch(chunk.data, chunk.last, truncated=src.error is not None).num_rows
    src.stream.close()
    return {"seconds": time.perf_counter() - t0, "rows": rows}


def work_full(path: Path) -> dict[str, float]:
    from stalllog.engine.capture import iter_parse

    t0 = time.perf_counter()
    rows = claimed = 0
    tables: dict[str, object] = {}
    for item in iter_parse([path]):
        if isinstance(item, dict):
            tables = item
        else:
            rows += item.num_rows
            claimed += item.num_rows - item.column("event_id").null_count
    events = getattr(tables.get("events"), "num_rows", 0)
    return {"seconds": time.perf_counter() - t0, "rows": rows, "claimed": claimed, "events": events}


WORKERS = {"lines": work_lines, "full": work_full}


def run_worker(step: str, path: Path) -> None:
    import stalllog

    result: dict[str, object] = {**WORKERS[step](path), "code": stalllog.__file__}
    result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
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
class Result:
    step: str
    mb: float
    seconds: float
    rss_mb: float | None
    note: str = ""

    @property
    def mb_s(self) -> float:
        return self.mb / self.seconds if self.seconds > 0 else float("nan")


_MAXRSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")
_RUSAGE_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:]).returncode\n"
    "sys.stderr.write(f'Maximum resident set size (kbytes): "
    "{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n')\n"
    "sys.exit(rc)\n"
)


# Code under test: the working tree, or a commit exported by --rev (set in main).
CODE = ROOT
ENV = dict(os.environ)


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


def measure(cmd: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, float | None, str]:
    """Run cmd in a fresh process: (wall seconds, peak RSS MiB, stdout)."""
    time_bin = shutil.which("time", path="/usr/bin:/bin")
    report = DATA / "time-v.txt"
    if time_bin:
        full = [time_bin, "-v", "-o", str(report), *cmd]
    else:  # RUSAGE_CHILDREN of a wrapper that has exactly one child: that child's peak
        full = [sys.executable, "-c", _RUSAGE_WRAPPER, *cmd]
    t0 = time.perf_counter()
    proc = subprocess.run(full, capture_output=True, text=True, cwd=CODE, env=ENV)
    wall = time.perf_counter() - t0
    if proc.returncode not in ok:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    timing = report.read_text() if time_bin else proc.stderr
    m = _MAXRSS.search(timing)
    return wall, (int(m[1]) / 1024 if m else None), proc.stdout


def _done(r: Result) -> Result:
    rss = f"{r.rss_mb:.0f} MB" if r.rss_mb is not None else "? MB"
    # other work on the machine skews the numbers: show how busy it was during the step
    r.note += f"; load {os.getloadavg()[0]:.1f}"
    print(f"  {r.step}: {r.seconds:.1f} s, {r.mb_s:.1f} MB/s, peak RSS {rss}", flush=True)
    return r


def python_step(step: str, path: Path, label: str | None = None) -> Result:
    wall, rss, out = measure([sys.executable, __file__, "--worker", step, str(path)])
    res = json.loads(out.strip().splitlines()[-1])
    mb = path.stat().st_size / MIB
    if not res["code"].startswith(str(CODE)):
        sys.exit(f"{step} imported stalllog from {res['code']}, not from {CODE}")
    note = f"{int(res['rows']):,} lines; {wall - res['seconds']:.1f} s startup not counted"
    if "events" in res:
        note += f"; {int(res['events']):,} events, {int(res['claimed']):,} lines claimed"
    return _done(Result(label or step, mb, res["seconds"], rss, note))


def grep_step(path: Path) -> Result:
    wall, rss, out = measure(["grep", "-c", "oom-killer", str(path)], ok=(0, 1))
    return _done(Result("grep -c", path.stat().st_size / MIB, wall, rss, f"{int(out)} matches"))


def cli_step(path: Path, keep: bool) -> Result | None:
    if not (CODE / "stalllog" / "cli.py").exists():
        print(f"cli: skipped, {CODE.relative_to(ROOT) / 'stalllog/cli.py'} does not exist yet")
        return None
    exe = Path(sys.executable).with_name("stalllog")
    base = (
        [str(exe)]
        if exe.exists()
        else [sys.executable, "-c", "from stalllog.cli.app import main; main()"]
    )
    out_dir = DATA / "cli-out"
    shutil.rmtree(out_dir, ignore_errors=True)
    wall, rss, _ = measure([*base, "parse", str(path), "-o", str(out_dir), "--format", "parquet"])
    written = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file())
    note = f"wall incl. startup; wrote {written / MIB:.0f} MiB to {out_dir.relative_to(ROOT)}"
    if not keep:
        shutil.rmtree(out_dir, ignore_errors=True)
    return _done(Result("cli parse", path.stat().st_size / MIB, wall, rss, note))


def warm(path: Path) -> None:
    """Read the file once so every step sees it in the page cache, grep included."""
    with open(path, "rb") as f:
        while f.read(64 * MIB):
            pass


def print_table(results: list[Result]) -> None:
    print(f"\n{'step':<12} {'MB':>7} {'seconds':>8} {'MB/s':>8} {'peak RSS MB':>12}  note")
    for r in results:
        rss = f"{r.rss_mb:.0f}" if r.rss_mb is not None else "?"
        print(f"{r.step:<12} {r.mb:>7.0f} {r.seconds:>8.1f} {r.mb_s:>8.1f} {rss:>12}  {r.note}")


def growth_verdict(quarter: Result, whole: Result) -> str:
    assert quarter.rss_mb is not None and whole.rss_mb is not None
    delta = whole.rss_mb - quarter.rss_mb
    ratio = whole.mb / quarter.mb
    grows = delta > GROWTH_TOLERANCE * quarter.rss_mb
    per_gb = delta / ((whole.mb - quarter.mb) / 1024)
    from stalllog.input.reader import CHUNK_BYTES

    # below a few chunks the quarter run never reaches the steady state of a long capture
    caveat = "" if quarter.mb * MIB >= 4 * CHUNK_BYTES else " (quarter too small to tell)"
    return (
        f"RSS growth: {quarter.rss_mb:.0f} MB on {quarter.mb:.0f} MB -> {whole.rss_mb:.0f} MB on "
        f"{whole.mb:.0f} MB ({ratio:.1f}x input, {delta:+.0f} MB, {per_gb:+.0f} MB per GB): "
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


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size-mb", type=int, default=1024, help="capture size in MiB (default 1024)")
    ap.add_argument(
        "--only", choices=["lines", "full", "cli"], help="run one step (grep always runs)"
    )
    ap.add_argument(
        "--keep", action="store_true", help="keep the generated capture(s) and CLI output"
    )
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs of the line stage (best and median)"
    )
    ap.add_argument(
        "--profile",
        choices=sorted(WORKERS),
        help="cProfile one step in-process, print top functions",
    )
    ap.add_argument(
        "--rev", help="measure this commit (exported to benchmarks/data/) instead of the work tree"
    )
    ap.add_argument("--top", type=int, default=25, help="functions to show with --profile")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("file", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        run_worker(args.worker, args.file)
        return
    DATA.mkdir(parents=True, exist_ok=True)
    if args.rev:
        global CODE
        CODE = export_rev(args.rev)
        ENV["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CODE), ENV.get("PYTHONPATH")]))
        if args.profile:
            sys.path.insert(0, str(CODE))
    # one list for both captures: samples are still being added to sample_logs/ during a run
    files = sample_files()
    capture = build_capture(DATA / f"capture-{args.size_mb}mb.log", args.size_mb * MIB, files)
    generated = [capture, capture.with_suffix(".json")]
    try:
        if args.profile:
            profile(args.profile, capture, args.top)
            return
        print(header(), flush=True)
        print(f"code under test: {CODE.relative_to(ROOT) if CODE != ROOT else 'working tree'}")
        warm(capture)
        results = [grep_step(capture)]
        summary = []
        if args.only in (None, "lines"):
            runs = [python_step("lines", capture, f"lines #{i + 1}") for i in range(args.repeat)]
            results += runs
            speeds = [r.mb_s for r in runs]
            summary.append(
                f"line stage, {len(runs)} runs: best {max(speeds):.1f} MB/s, "
                f"median {statistics.median(speeds):.1f} MB/s"
            )
        if args.only in (None, "full"):
            whole = python_step("full", capture)
            quarter_path = build_capture(
                DATA / f"capture-{args.size_mb // 4}mb.log", args.size_mb // 4 * MIB, files
            )
            generated += [quarter_path, quarter_path.with_suffix(".json")]
            warm(quarter_path)
            quarter = python_step("full", quarter_path, "full 1/4")
            results += [whole, quarter]
            summary.append(growth_verdict(quarter, whole))
        if args.only in (None, "cli"):
            cli = cli_step(capture, args.keep)
            if cli is not None:
                results.append(cli)
        print_table(results)
        print("\n".join(summary))
    finally:
        if not args.keep:
            for p in generated:
                p.unlink(missing_ok=True)
            (DATA / "time-v.txt").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
