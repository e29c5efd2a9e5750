"""`stalllog vmcore -o DIR`: the capture's tables and the `vmcore_*` tables written as
`stalllog parse -o DIR` writes a capture's (one file per table and manifest.json, DIR
replaced as a whole)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from stalllog.output.capture_files import write_tables
from stalllog.vmcore.read import VmcoreResult
from stalllog.vmcore.schema import TABLES


def arrow_tables(res: VmcoreResult) -> dict[str, pa.Table]:
    out = dict(res.capture.arrow)
    for schema in TABLES:
        df = res.tables[schema.name][[c.name for c in schema.columns]]
        out[schema.name] = pa.Table.from_pandas(df, schema=schema.arrow(), preserve_index=False)
    return out


def write_result(
    res: VmcoreResult, out_dir: Path, *, fmt: str = "parquet", force: bool = False,
    inputs: list[dict[str, Any]] | None = None,
) -> Path:  # fmt: skip
    """inputs: the manifest's entries for what was read (the dump, or the saved document)."""
    options = {"format": fmt, "tables": None, "csv_safe": True, "hz": res.capture.hz,
               "analysis": True, "force": force, "vmcore": True}  # fmt: skip
    return write_tables(
        arrow_tables(res), out_dir, fmt=fmt, force=force, options=options, inputs=inputs or []
    )
