"""`Capture.to_parquet(DIR)`: the files `stalllog parse -o DIR` writes, from a parsed Capture,
replacing DIR as a whole (atomic.py)."""

from __future__ import annotations

from pathlib import Path

from stalllog.engine.capture import Capture
from stalllog.output import manifest
from stalllog.output.atomic import OutputError, StagedDir, check_target, reason
from stalllog.output.writers import OPT_IN, hash_again, open_writer

STREAMED = ("lines", "unparsed")  # written as the CLI streams them (see ParquetTableWriter)


def write_capture(cap: Capture, out_dir: Path, *, force: bool = False) -> Path:
    """Every table but OPT_IN ones as `out_dir/<table>.parquet`, then manifest.json."""
    target = check_target(out_dir, force)
    started = manifest.now()
    tables = cap.arrow
    entries = []
    with StagedDir(target, out_dir) as stage:
        for name, table in tables.items():
            if name in OPT_IN:
                continue
            file = f"{name}.parquet"
            writer = open_writer(stage.path / file, table.schema, "parquet",
                                 shown=out_dir / file, streamed=name in STREAMED)  # fmt: skip
            try:
                writer.write(table)
                writer.close()
            except BaseException:
                writer.abort()
                raise
            entries.append(manifest.table_entry(name, file, "parquet", writer.rows, writer.schema))
        analysis = "findings" in tables
        info = manifest.build(
            options={"format": "parquet", "tables": None, "csv_safe": True, "hz": cap.hz,
                     "analysis": analysis, "force": force, "max_bytes": None},
            inputs=hash_again(tables.get("sources")),
            tables=entries,
            started=started,
            analysis=analysis,
        )  # fmt: skip
        try:
            manifest.write(stage.path, info)
        except OSError as e:
            raise OutputError(out_dir / manifest.MANIFEST, reason(e)) from None
        stage.commit()
    return out_dir
