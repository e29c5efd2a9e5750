"""Make the plot gallery of the README from real samples: docs/gallery/<kind>-<sample>.png.

    python tools/gallery.py            # (re)write every PNG of GALLERY
    python tools/gallery.py --check    # exit 1 when a PNG is missing, extra or over MAX_BYTES

The PNGs are committed; rerun this after changing stalllog/plot. 100 dpi keeps each one
small (MAX_BYTES) and readable on a README page.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import matplotlib

import stalllog
import stalllog.plot
from stalllog.output.atomic import write_file

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "gallery"
LKML = "sample_logs/corpus/lkml"
QEMU = "sample_logs/qemu"
DPI = 100
MAX_BYTES = 150_000

# short name in the file name -> the real capture
SAMPLES = {
    "kmallocwd-2017-186-tasks": f"{LKML}/kmallocwd-2017-wq-mem-reclaim-186-tasks-list.txt",
    "stalls-after-oom-4.9": f"{LKML}/printk-dropped-4.9-stalls-after-oom-short.txt",
    "interleaved-4.6.2": f"{LKML}/interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt",
    "kmallocwd-2017-rescuer": f"{LKML}/kmallocwd-2017-wq-mem-reclaim-rescuer-backoff-kthreadd-"
    "super_cache_scan.txt",
    "numa-oom-3.0.101": f"{LKML}/oom-3.0.101-sles11-numa-mempolicy-free-memory-no-timestamps.txt",
    "global-oom-6.1": f"{QEMU}/6.1.0-56-amd64-global-oom-serial.log.xz",
    "memcg-oom-6.1": f"{QEMU}/6.1.0-56-amd64-memcg-oom-serial.log",
}
GALLERY = [
    ("timeline", "kmallocwd-2017-186-tasks"),
    ("timeline", "stalls-after-oom-4.9"),
    ("timeline", "global-oom-6.1"),
    ("memory", "global-oom-6.1"),
    ("memory", "numa-oom-3.0.101"),
    ("task_stalls", "kmallocwd-2017-186-tasks"),
    ("task_stalls", "interleaved-4.6.2"),
    ("reclaim_classes", "interleaved-4.6.2"),
    ("reclaim_classes", "kmallocwd-2017-rescuer"),
    ("victims_rss", "global-oom-6.1"),
    ("victims_rss", "memcg-oom-6.1"),
]


def file_name(kind: str, sample: str) -> str:
    return f"{kind}-{sample}.png"


def render(kind: str, capture: stalllog.Capture) -> bytes:
    fig = stalllog.plot.KINDS[kind](capture, strict=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def check() -> list[str]:
    wanted = {file_name(kind, sample) for kind, sample in GALLERY}
    present = {p.name for p in OUT.glob("*.png")}
    problems = [f"missing {n}" for n in sorted(wanted - present)]
    problems += [f"not in GALLERY: {n}" for n in sorted(present - wanted)]
    problems += [
        f"{n}: {(OUT / n).stat().st_size} bytes > {MAX_BYTES}"
        for n in sorted(wanted & present)
        if (OUT / n).stat().st_size > MAX_BYTES
    ]
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check the committed PNGs")
    if ap.parse_args().check:
        problems = check()
        print("\n".join(problems) or "gallery ok")
        return 1 if problems else 0
    matplotlib.use("Agg")
    OUT.mkdir(parents=True, exist_ok=True)
    parsed: dict[str, stalllog.Capture] = {}
    for kind, sample in GALLERY:
        if sample not in parsed:
            parsed[sample] = stalllog.parse(ROOT / SAMPLES[sample])
        data = render(kind, parsed[sample])
        write_file(OUT / file_name(kind, sample), data)
        print(f"{file_name(kind, sample)}: {len(data):,} bytes")
    problems = check()
    print("\n".join(problems), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
