#!/usr/bin/env python3
"""Benchmark inputs built from real lines of sample_logs/ only: deterministic, cached.

  production  consecutive serial, journal and `dmesg -T` boots of the QEMU samples: the real
              banner, then quiet lines around the sample's report blocks (2.5 % of the lines)
  storm       the corpus' kmallocwd, warn_alloc stall and printk-dropped reports back to back
  worst       every sample file repeated (75 % of the lines in reports)

Built once to benchmarks/data/<workload>-<N>mb.log with a .json fingerprint beside it (the
recipes: benchmarks/README.md). Quiet lines and report blocks are found by parsing each sample
with the working tree's stalllog.

Usage: python benchmarks/workloads.py production|storm|worst [--size-mb N] [-o FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import lzma
import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
SAMPLES = ROOT / "sample_logs"
MIB = 1 << 20
SEED = 9  # issue 9
DEFAULT_MB = {"production": 1024, "storm": 256, "worst": 256}

REPORT_SHARE = 0.025  # production: share of lines inside report blocks
QUIET_GAP_S = 0.1  # production: mean seconds between quiet lines (exponential)
STORM_GAP_S = 0.5  # storm: mean seconds between two reports
REBOOT_GAP_S = 90.0  # wall clock between the last line of a boot and the next banner
MAX_QUIET_RUN = 64  # quiet lines are drawn as runs of consecutive pool lines (1..64)
FORMS = {"serial": "*-serial.log*", "journal": "*-journal.log*", "dmesg-T": "*-dmesg-T.log*"}
STORM_GLOBS = ("kmallocwd-*", "warnalloc-stall-*", "printk-dropped-*")

NOT_LOGS = {".md", ".json", ".csv", ".tsv", ".sha256", ".py", ".sh", ".yaml", ".yml", ".toml"}
INDEX_NAMES = {"index.txt"}
# syzkaller pkg/report test files: `KEY: value` header, blank line, console log, REPORT: section
_SYZ_HEADER = re.compile(
    rb"^(?:(?:TITLE|ALT|TYPE|FRAME|CORRUPTED|SUPPRESSED|PANICKED|EXECUTOR):[^\n]*\n)*\n"
)
_SYZ_REPORT = re.compile(rb"\nREPORT:\n")

# The stamps a line can carry: a wall clock (ISO syslog, syslog/journal, `dmesg -T`), then
# maybe the kernel's `[%5lu.%06lu]` seconds since boot.
_STAMP = re.compile(
    rb"^(?:(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})[+-]\d\d:\d\d \S+ "
    rb"|(?P<syslog>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d) \S+ [^\s:]+: ?"
    rb"|\[(?P<dmt>[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \d{4})\] ?)?"
    rb"(?:\[(?P<mono> *\d+\.\d{6})\])?"
)
_WALL_IN = {
    "iso": "%Y-%m-%dT%H:%M:%S.%f",
    "syslog": "%Y %b %d %H:%M:%S",
    "dmt": "%a %b %d %H:%M:%S %Y",
}
SYSLOG_YEAR = 2026  # syslog/journal stamps have no year; the QEMU samples are from 2026


# -- reading samples --------------------------------------------------------------------------


def decompressed(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw.startswith(b"\xfd7zXZ\x00"):
        return lzma.decompress(raw)
    if raw.startswith(b"\x1f\x8b"):
        return gzip.decompress(raw)
    return raw


def console_part(data: bytes) -> bytes:
    """The console log of a syzkaller test file; other files are returned unchanged."""
    head = _SYZ_HEADER.match(data)
    if head is None:
        return data
    body = data[head.end() :]
    cut = _SYZ_REPORT.search(body)
    return body[: cut.start() + 1] if cut else body


def sample_files() -> list[Path]:
    """Every sample log (the `worst` capture's sources)."""
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


def production_files() -> dict[str, list[Path]]:
    # `-notime-` captures have no stamps in the serial and `dmesg -T` forms: left out everywhere
    return {
        form: [p for p in sorted((SAMPLES / "qemu").glob(pat)) if "-notime-" not in p.name]
        for form, pat in FORMS.items()
    }


def storm_files() -> list[Path]:
    corpus = SAMPLES / "corpus"
    return sorted(p for g in STORM_GLOBS for p in corpus.glob(f"*/{g}") if p.suffix == ".txt")


# -- stamps -----------------------------------------------------------------------------------


@dataclass
class Template:
    """One real line, split around its stamps so that only their values change."""

    raw: bytes
    wall_kind: str | None = None  # iso, syslog or dmt
    cuts: tuple[int, int, int, int] = (0, 0, 0, 0)  # wall start/end, mono start/end
    t: float | None = None  # the line's time on its sample's clock
    zero_day: bool = True  # syslog: day of month "05" (journalctl), not " 5" (syslog)

    def render(self, t: float, wall_base: float, fmt: Callable[[str, float, bool], bytes]) -> bytes:
        if self.wall_kind is None and self.cuts[3] == 0:
            return self.raw
        ws, we, ms, me = self.cuts
        out = [self.raw[:ws]]
        if self.wall_kind is not None:
            out.append(fmt(self.wall_kind, wall_base + t, self.zero_day))
        if me:
            sec = int(t)
            out += [self.raw[we:ms], b"%5d.%06d" % (sec, round((t - sec) * 1e6) % 1000000)]
        out.append(self.raw[me or we :])
        return b"".join(out)


def _epoch(kind: str, text: bytes) -> float:
    s = text.decode()
    if kind == "syslog":
        s = f"{SYSLOG_YEAR} {s}"
    return (
        dt.datetime.strptime(s.replace("  ", " "), _WALL_IN[kind])
        .replace(tzinfo=dt.UTC)
        .timestamp()
    )


def templates(data: bytes) -> list[Template]:
    """The lines of one sample; `t` from the kernel stamp, or from the wall clock when the
    sample has no kernel stamps at all (journal, `dmesg -T`)."""
    out = []
    for raw in data.splitlines(keepends=True):
        m = _STAMP.match(raw)
        tpl = Template(raw)
        if m and m.end():
            kind = next((k for k in ("iso", "syslog", "dmt") if m[k]), None)
            ws, we = m.span(kind) if kind else (0, 0)
            ms, me = m.span("mono") if m["mono"] else (we, 0)
            tpl.wall_kind, tpl.cuts = kind, (ws, we, ms, me)
            if m["mono"]:
                tpl.t = float(m["mono"])
            elif kind:
                tpl.t = _epoch(kind, m[kind])
                tpl.zero_day = kind != "syslog" or m[kind][4:5] != b" "
        out.append(tpl)
    if any(t.cuts[3] for t in out):  # a kernel clock: wall-only lines take their neighbour's
        for t in out:
            if not t.cuts[3]:
                t.t = None
    return out


class WallFormat:
    """Wall stamps of a float epoch, cached per second (they change once a second)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, bool], bytes] = {}

    def __call__(self, kind: str, epoch: float, zero_day: bool) -> bytes:
        sec = int(epoch)
        if kind == "iso":
            d = dt.datetime.fromtimestamp(epoch, dt.UTC)
            return d.strftime("%Y-%m-%dT%H:%M:%S.%f").encode()
        key = (kind, sec, zero_day)
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            d = dt.datetime.fromtimestamp(sec, dt.UTC)
            day = f"{d.day:02d}" if zero_day else f"{d.day:2d}"
            if kind == "syslog":
                hit = f"{d:%b} {day} {d:%H:%M:%S}".encode()
            else:  # dmesg -T: util-linux prints the day space-padded (%e)
                hit = f"{d:%a %b} {d.day:2d} {d:%H:%M:%S %Y}".encode()
            self._cache[key] = hit
        return hit


# -- report blocks ----------------------------------------------------------------------------


@dataclass
class Sample:
    name: str
    lines: list[Template]
    blocks: list[tuple[int, int]]  # [start, end) line indexes of report blocks, in order
    quiet: list[int]  # indexes of lines no report claims (not boot markers)


def _classify(path: Path, data: bytes) -> Sample:
    """Report blocks = merged line ranges of the events of every family but `boot`."""
    import pyarrow.compute as pc

    import stalllog

    cap = stalllog.parse(data, analysis=False)
    lines = templates(data)
    n = cap.arrow["lines"].num_rows
    if n != len(lines):
        sys.exit(f"{path}: stalllog counts {n} lines, splitlines {len(lines)}")
    ev = cap.arrow["events"]
    keep = pc.not_equal(ev.column("family"), "boot")
    starts = ev.column("line_start").filter(keep).to_pylist()
    ends = ev.column("line_end").filter(keep).to_pylist()
    blocks: list[tuple[int, int]] = []
    for s, e in sorted(zip(starts, ends, strict=True)):
        if blocks and s - 1 <= blocks[-1][1]:
            blocks[-1] = (blocks[-1][0], max(blocks[-1][1], e))
        else:
            blocks.append((s - 1, e))
    in_block = bytearray(n)
    for s, e in blocks:
        in_block[s:e] = b"\x01" * (e - s)
    unclaimed = cap.arrow["lines"].column("event_id").is_null().to_pylist()
    quiet = [
        i
        for i in range(n)
        if unclaimed[i]
        and not in_block[i]
        and b"Linux version " not in lines[i].raw
        and not lines[i].raw.startswith(b"-- ")
    ]
    return Sample(str(path.relative_to(SAMPLES)), lines, blocks, quiet)


# -- writing ----------------------------------------------------------------------------------


class Writer:
    """Collects output bytes for one file; stops at `limit` bytes, cut at a line end."""

    def __init__(self, out: BinaryIO, limit: int) -> None:
        self.out, self.limit, self.written = out, limit, 0
        self.buf: list[bytes] = []
        self.pending = 0
        self.report_lines = self.lines = 0

    @property
    def full(self) -> bool:
        return self.written + self.pending >= self.limit

    def add(self, line: bytes, report: bool) -> None:
        if self.full:
            return
        if not line.endswith(b"\n"):
            line += b"\n"  # a sample's last line without newline: keep the next one apart
        self.buf.append(line)
        self.pending += len(line)
        self.lines += 1
        self.report_lines += report
        if len(self.buf) >= 65536:
            self.flush()

    def flush(self) -> None:
        self.out.write(b"".join(self.buf))
        self.written += self.pending
        self.buf, self.pending = [], 0


class Clock:
    """Time of the next line of one boot: never goes back."""

    def __init__(self, wall_base: float) -> None:
        self.t = 0.0
        self.wall_base = wall_base
        self.fmt = WallFormat()

    def block(self, w: Writer, lines: list[Template], start_gap: float, report: bool) -> None:
        """Copy lines keeping their real spacing, starting start_gap after the last line."""
        first = next((t.t for t in lines if t.t is not None), None)
        offset = self.t + start_gap - (first if first is not None else 0.0)
        for tpl in lines:
            if tpl.t is not None:
                self.t = max(self.t, tpl.t + offset)
            w.add(tpl.render(self.t, self.wall_base, self.fmt), report)


def _boot(w: Writer, s: Sample, clock: Clock, rng: random.Random) -> None:
    """One boot: the sample's banner as it is, then quiet runs around its report blocks."""
    first_block = s.blocks[0][0] if s.blocks else len(s.lines)
    banner = s.lines[:first_block]
    stamps = [t.t for t in banner if t.t is not None]
    # the banner keeps its real stamps: kernel clock as is, wall clock moved to this boot
    kernel_clock = any(t.cuts[3] for t in banner)
    zero = stamps[0] if stamps and not kernel_clock else 0.0
    clock.t = 0.0
    for tpl in banner:
        t = tpl.t - zero if tpl.t is not None else clock.t
        clock.t = max(clock.t, t)
        w.add(tpl.render(t, clock.wall_base, clock.fmt), False)
    report = sum(e - b for b, e in s.blocks)
    quiet_total = max(int(report / REPORT_SHARE) - report - len(banner), 0)
    cuts = sorted(rng.randrange(quiet_total + 1) for _ in s.blocks)
    done = 0
    for (b, e), cut in zip([*s.blocks, (0, 0)], [*cuts, quiet_total], strict=True):
        _quiet(w, s, clock, rng, cut - done)
        done = cut
        if e > b:
            clock.block(w, s.lines[b:e], rng.expovariate(1 / QUIET_GAP_S), True)
        if w.full:
            return


def _quiet(w: Writer, s: Sample, clock: Clock, rng: random.Random, count: int) -> None:
    pool, lines = s.quiet, s.lines
    while count > 0 and pool and not w.full:
        run = min(rng.randint(1, MAX_QUIET_RUN), count)
        at = rng.randrange(len(pool))
        for i in pool[at : at + run]:
            tpl = lines[i]
            if tpl.t is not None:
                clock.t += rng.expovariate(1 / QUIET_GAP_S)
            w.add(tpl.render(clock.t, clock.wall_base, clock.fmt), False)
        count -= len(pool[at : at + run])


def build_production(out: BinaryIO, size: int) -> dict[str, object]:
    forms = production_files()
    stats: dict[str, object] = {}
    total = Writer(out, size)
    for k, (form, files) in enumerate(forms.items()):
        samples = [_classify(p, decompressed(p)) for p in files]
        rng = random.Random(f"{SEED}-{form}")
        share = size * (k + 1) // len(forms)  # whole boots up to this form's third
        before = (total.written + total.pending, total.lines, total.report_lines)
        wall = next((t.t for t in samples[0].lines if t.t is not None and not t.cuts[3]), 0.0)
        boots = 0
        while total.written + total.pending < share and not total.full:
            s = samples[boots % len(samples)]
            clock = Clock(wall)
            _boot(total, s, clock, rng)
            wall += clock.t + REBOOT_GAP_S
            boots += 1
        stats[form] = {
            "bytes": total.written + total.pending - before[0],
            "lines": total.lines - before[1],
            "report_lines": total.report_lines - before[2],
            "boots": boots,
            "samples": len(samples),
        }
    total.flush()
    return stats


def build_storm(out: BinaryIO, size: int) -> dict[str, object]:
    samples = [_classify(p, p.read_bytes()) for p in storm_files()]
    blocks = [s.lines[b:e] for s in samples for b, e in s.blocks]
    first_iso = min(
        (
            _epoch("iso", t.raw[t.cuts[0] : t.cuts[1]])
            for s in samples
            for t in s.lines
            if t.wall_kind == "iso"
        ),
        default=0.0,
    )
    w = Writer(out, size)
    # the storm starts at the first report's own uptime; ISO wall stamps count from the first
    start = next(t.t for t in blocks[0] if t.t is not None)
    clock = Clock(first_iso - start)
    clock.t = start
    rng = random.Random(f"{SEED}-storm")
    cycles = 0
    while not w.full:
        for block in blocks:
            clock.block(w, block, rng.expovariate(1 / STORM_GAP_S), True)
        cycles += 1
    w.flush()
    return {
        "files": len(samples),
        "blocks_per_cycle": len(blocks),
        "cycles": cycles,
        "lines": w.lines,
        "last_stamp_s": round(clock.t, 6),
    }


def build_worst(out: BinaryIO, size: int) -> dict[str, object]:
    """Every sample in sorted order, repeated until the size is reached, cut at a line end."""
    parts = []
    for p in sample_files():
        data = console_part(decompressed(p))
        if data and not data.endswith(b"\n"):
            data += b"\n"  # keep the next file's first line a line of its own
        parts.append(data)
    blob = b"".join(parts)
    written = 0
    while written + len(blob) <= size:
        out.write(blob)
        written += len(blob)
    if written < size:
        cut = blob.index(b"\n", size - written - 1) + 1
        out.write(blob[:cut])
    return {"files": len(parts), "cycle_bytes": len(blob)}


BUILDERS = {"production": build_production, "storm": build_storm, "worst": build_worst}
SOURCES: dict[str, Callable[[], list[Path]]] = {
    "production": lambda: [p for fs in production_files().values() for p in fs],
    "storm": storm_files,
    "worst": sample_files,
}


def fingerprint(workload: str, size: int) -> dict[str, object]:
    files = SOURCES[workload]()
    return {
        "workload": workload,
        "target_bytes": size,
        "seed": SEED,
        "recipe_sha256": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16],
        "samples": [[str(p.relative_to(SAMPLES)), p.stat().st_size] for p in files],
    }


def build(workload: str, size_mb: int, path: Path | None = None) -> Path:
    """The workload's file (built unless its fingerprint matches); its stats are in the .json."""
    path = path or DATA / f"{workload}-{size_mb}mb.log"
    meta_path = path.with_suffix(".json")
    want = fingerprint(workload, size_mb * MIB)
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("fingerprint") == want and meta.get("bytes") == path.stat().st_size:
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.process_time()
    with open(path, "wb") as out:
        stats = BUILDERS[workload](out, size_mb * MIB)
    meta = {"fingerprint": want, "bytes": path.stat().st_size, "stats": stats}
    meta_path.write_text(json.dumps(meta, indent=1))
    print(
        f"built {path}: {path.stat().st_size / MIB:.0f} MiB ({workload}) in "
        f"{time.process_time() - t0:.1f} s CPU",
        file=sys.stderr,
    )
    return path


def describe(path: Path) -> Iterator[str]:
    """Lines of text on a built file's mix, from its .json."""
    meta = json.loads(path.with_suffix(".json").read_text())
    stats = meta.get("stats", {})
    yield f"{path.name}: {meta['bytes'] / MIB:.1f} MiB"
    for form, s in stats.items():
        if isinstance(s, dict):
            share = 100 * s["report_lines"] / max(s["lines"], 1)
            yield (
                f"  {form}: {s['bytes'] / MIB:.1f} MiB, {s['boots']} boots from {s['samples']} "
                f"samples, {s['lines']:,} lines, {share:.2f} % in report blocks"
            )
        else:
            yield f"  {form}: {s}"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("workload", choices=sorted(BUILDERS))
    ap.add_argument("--size-mb", type=int, help="MiB (production 1024, storm 256, worst 256)")
    ap.add_argument("-o", "--output", type=Path, help="file to write (default benchmarks/data/)")
    args = ap.parse_args()
    path = build(args.workload, args.size_mb or DEFAULT_MB[args.workload], args.output)
    print("\n".join(describe(path)))


if __name__ == "__main__":
    main()
