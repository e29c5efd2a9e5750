"""`stalllog vmcore -o DIR`: the capture's tables and the `vmcore_*` tables written as
`stalllog parse -o DIR` writes a capture's (one file per table and manifest.json, DIR
replaced as a whole)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from stalllog.output.capture_files import write_tables
from stalllog.output.redact import Redactor
from stalllog.vmcore.document import as_dict, as_str
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
    inputs: list[dict[str, Any]] | None = None, redactor: Redactor | None = None,
) -> Path:  # fmt: skip
    """inputs: the manifest's entries for what was read (the dump, or the saved document);
    redactor: every table is redacted (`--redact`), the document's host name known first."""
    tables = arrow_tables(res)
    if redactor is not None:
        host = as_str(as_dict(res.document.get("kernel")).get("hostname"))
        redactor.learn_hosts([host] if host else [])
        tables = redactor.tables(tables)
    options = {"format": fmt, "tables": None, "csv_safe": True, "hz": res.capture.hz,
               "analysis": True, "force": force, "vmcore": True,
               "redact": redactor is not None,
               "redact_comm": redactor is not None and redactor.comm}  # fmt: skip
    return write_tables(tables, out_dir, fmt=fmt, force=force, options=options, inputs=inputs or [])
