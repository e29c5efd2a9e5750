"""Hash every table (`lines` included) of every sample: proves a restructuring changed nothing.

    python tools/table_hashes.py before.json            # on the old commit
    python tools/table_hashes.py after.json             # on the new one
    python tools/table_hashes.py after.json --diff before.json
    python tools/table_hashes.py after.json --drop meminfo_id   # all but an added column

Each table is hashed as an Arrow IPC stream (schema and values), so a changed type, column
order or value shows up; the analysis tables are included.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import pyarrow as pa

import stalllog

ROOT = Path(__file__).resolve().parent.parent
SKIP = {"README.md", "INDEX.md"}


def table_hash(t: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:16]


def hashes(root: Path, drop: frozenset[str] = frozenset()) -> dict[str, dict[str, str]]:
    """Samples are parsed by their path relative to `root` (tables hold the source name), so
    two worktrees give the same hashes. Columns named in `drop` are left out of every table,
    so that a commit adding a column can show it changed nothing else."""
    os.chdir(root)
    out = {}
    for p in sorted(q for q in Path("sample_logs").rglob("*") if q.is_file()):
        if p.name in SKIP:
            continue
        tables = sorted(stalllog.parse(p).arrow.items())
        out[str(p)] = {
            n: table_hash(t.drop_columns(sorted(drop & set(t.column_names)))) for n, t in tables
        }
    return out


def diff(new: dict[str, dict[str, str]], old: dict[str, dict[str, str]]) -> list[str]:
    out = []
    for sample in sorted(old.keys() | new.keys()):
        a, b = old.get(sample, {}), new.get(sample, {})
        for table in sorted(a.keys() | b.keys()):
            if a.get(table) != b.get(table):
                out.append(f"{sample}: {table}: {a.get(table)} -> {b.get(table)}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="write the hashes here (JSON)")
    ap.add_argument("--diff", type=Path, help="compare with hashes written before")
    ap.add_argument("--drop", action="append", default=[], help="leave this column out")
    args = ap.parse_args()
    out, old = args.out.resolve(), args.diff and args.diff.resolve()
    new = hashes(ROOT, frozenset(args.drop))
    out.write_text(json.dumps(new, indent=0, sort_keys=True))
    print(f"{len(new)} samples, {sum(len(v) for v in new.values())} tables")
    if old:
        changed = diff(new, json.loads(old.read_text()))
        print("\n".join(changed) or "identical")
        return 1 if changed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
