"""`manifest.json`: what an output directory holds and how it was made (schema in
docs/outputs.md). Written last, inside the temporary directory, before it is swapped in: a
directory with a manifest is a complete set of tables from one run."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from stalllog import __version__
from stalllog.output.atomic import MANIFEST

MANIFEST_VERSION = 1


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def table_entry(name: str, file: str, fmt: str, rows: int, schema: pa.Schema) -> dict[str, Any]:
    columns = [{"name": f.name, "type": str(f.type)} for f in schema]
    return {"name": name, "file": file, "format": fmt, "rows": rows, "columns": columns}


def hash_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """An input named by path that was not read through HashedInput: hashed by reading it
    again after the parse (so it may differ from what was parsed if the file changed)."""
    sha = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            sha.update(block)
            n += len(block)
    name = os.fspath(path)
    return {"name": name, "size": n, "bytes_read": n, "sha256": sha.hexdigest(), "complete": True,
            "hashed": "separately"}  # fmt: skip


def build(
    *,
    options: Mapping[str, Any],
    inputs: list[dict[str, Any]],
    tables: list[dict[str, Any]],
    started: str,
    analysis: bool,
    redaction: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "manifest_version": MANIFEST_VERSION,
        "stalllog_version": __version__,
        "options": dict(options),
        "inputs": inputs,
        "tables": tables,
        "analysis": analysis,
        "redaction": redaction,
        "started": started,
        "finished": now(),
    }


def write(directory: Path, manifest: Mapping[str, Any]) -> Path:
    """Create `directory/manifest.json`; never through an existing name or a symlink."""
    path = directory / MANIFEST
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)  # ASCII: file names may hold lone surrogates
        f.write("\n")
    return path


def read(directory: Path) -> dict[str, Any]:
    with open(directory / MANIFEST, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data
