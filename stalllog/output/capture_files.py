"""`Capture.to_parquet(DIR)`: the files `stalllog parse -o DIR` writes, from a parsed Capture,
replacing DIR as a whole (atomic.py); `write_tables` does the same for any set of tables
(`stalllog vmcore -o DIR`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from stalllog.engine.capture import Capture
from stalllog.output import manifest
from stalllog.output.atomic import OutputError, StagedDir, check_target, reason
from stalllog.output.writers import EXTENSIONS, OPT_IN, hash_again, open_writer

STREAMED = ("lines", "unparsed")  # written as the CLI streams them (see ParquetTableWriter)


def write_capture(cap: Capture, out_dir: Path, *, force: bool = False) -> Path:
    """Every table but OPT_IN ones as `out_dir/<table>.parquet`, then manifest.json."""
    tables = cap.arrow
    analysis = "findings" in tables
    options = {"format": "parquet", "tables": None, "csv_safe": True, "hz": cap.hz,
               "analysis": analysis, "force": force, "max_bytes": None}  # fmt: skip
    return write_tables(
        tables, out_dir, force=force, options=options, inputs=hash_again(tables.get("sources"))
    )


def write_tables(
    tables: Mapping[str, pa.Table],
    out_dir: Path,
    *,
    fmt: str = "parquet",
    force: bool = False,
    options: Mapping[str, Any],
    inputs: list[dict[str, Any]],
) -> Path:
    """Every table but OPT_IN ones as `out_dir/<table>.<ext>`, then manifest.json (with
    `options` and `inputs`); OutputError naming the output when writing fails."""
    target = check_target(out_dir, force)
    started = manifest.now()
    entries = []
    with StagedDir(target, out_dir) as stage:
        for name, table in tables.items():
            if name in OPT_IN:
                continue
            file = f"{name}.{EXTENSIONS[fmt]}"
            writer = open_writer(stage.path / file, table.schema, fmt,
                                 shown=out_dir / file, streamed=name in STREAMED)  # fmt: skip
            try:
                writer.write(table)
                writer.close()
            except BaseException:
                writer.abort()
                raise
            entries.append(manifest.table_entry(name, file, fmt, writer.rows, writer.schema))
        analysis = "findings" in tables
        info = manifest.build(
            options=options, inputs=inputs, tables=entries, started=started, analysis=analysis
        )
        try:
            manifest.write(stage.path, info)
        except OSError as e:
            raise OutputError(out_dir / manifest.MANIFEST, reason(e)) from None
        stage.commit()
    return out_dir
