#!/usr/bin/env python3
"""Write the collector's test fixture of a cached dump: tests/vmcore/<release>.json.xz.

    .venv/bin/python tools/vmcore/fixture.py /work/vmcore-cache/6.1.0-56-amd64 [...]

Each argument is a cache entry of tools/vmcore (`vmcore`, `vmlinux`, `READY`). The document is
`stalllog.vmcore.collect.collect()`'s, written with sorted keys and xz-compressed, so the same
dump and collector give the same bytes. Real data extracted once: tests/test_vmcore_collect.py
reads the fixtures in CI, and compares them with a fresh collection when the cache is there.
"""

from __future__ import annotations

import argparse
import json
import lzma
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from stalllog.vmcore.collect import collect  # noqa: E402
from stalllog.vmcore.collected import check_document  # noqa: E402


def encode(doc: dict) -> bytes:
    """The fixture's bytes: sorted keys, one line, xz (deterministic for one document)."""
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return lzma.compress(text.encode("utf-8") + b"\n", preset=9 | lzma.PRESET_EXTREME)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("entries", nargs="+", type=Path, help="vmcore cache directories")
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "tests" / "vmcore")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for entry in args.entries:
        if not (entry / "READY").exists():
            print(f"{entry}: no READY (the dump is not complete)", file=sys.stderr)
            return 1
        t0 = time.monotonic()
        doc = check_document(collect(entry / "vmcore", entry / "vmlinux"))
        took = time.monotonic() - t0
        path = args.out / f"{doc['kernel']['release']}.json.xz"
        path.write_bytes(encode(doc))
        print(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
            f"{path.stat().st_size} bytes, {len(doc['tasks'] or [])} tasks, "
            f"{len(doc['printk'] or [])} printk records, {len(doc['errors'])} errors, "
            f"collected in {took:.1f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
