"""`read(doc_or_path)`: a collector document as a capture of its printk ring, the vmcore
tables, and the analysis of the capture.

>>> from stalllog.vmcore import read
>>> res = read("tests/vmcore/6.1.0-56-amd64.json.xz")
>>> res.tables["vmcore_oom_lock"], res.analysis["findings"]
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from stalllog.analyze import ANALYSIS_TABLES
from stalllog.engine.capture import Capture, parse
from stalllog.vmcore import kmsg
from stalllog.vmcore.document import as_dict, as_int, as_str, check, load
from stalllog.vmcore.memory import memcg_table, vmstat_table, zones_table
from stalllog.vmcore.schema import SCHEMA
from stalllog.vmcore.tasks import frames_table, oom_lock_table, tasks_table

__all__ = ["VMCORE_TABLES", "VmcoreResult", "read"]

VMCORE_TABLES = tuple(SCHEMA)


@dataclass
class VmcoreResult:
    """document: the collector's document as read; capture: its printk ring parsed (source
    `vmcore:<file>`); tables: the `vmcore_*` tables; analysis: analyze() of the capture."""

    document: dict[str, Any]
    capture: Capture
    tables: dict[str, pd.DataFrame]
    analysis: dict[str, pd.DataFrame]

    @property
    def source(self) -> str:
        return source_name(self.document)


def source_name(doc: dict[str, Any]) -> str:
    """`vmcore:<file>`, the dump's base name only (a path could name a user)."""
    name = as_str(as_dict(doc.get("dump")).get("file")) or "vmcore"
    return "vmcore:" + os.path.basename(name)


def capture_of(doc: dict[str, Any]) -> Capture:
    """The printk ring rendered as /dev/kmsg text and parsed like any capture."""
    stream = io.BytesIO(kmsg.render(doc.get("printk")))
    stream.name = source_name(doc)  # the reader names the input so
    hz = as_int(as_dict(doc.get("kernel")).get("hz"))
    return parse(stream, hz=hz if hz and 0 < hz <= 10_000 else None)


def vmcore_tables(doc: dict[str, Any]) -> dict[str, pd.DataFrame]:
    tasks = tasks_table(doc)
    return {
        "vmcore_tasks": tasks,
        "vmcore_frames": frames_table(doc),
        "vmcore_oom_lock": oom_lock_table(doc, tasks),
        "vmcore_zones": zones_table(doc),
        "vmcore_vmstat": vmstat_table(doc),
        "vmcore_memcg": memcg_table(doc, tasks),
    }


def read(doc_or_path: dict[str, Any] | str | os.PathLike[str]) -> VmcoreResult:
    """ValueError when the document is not one this version reads; OSError when the file
    cannot be read."""
    doc = check(doc_or_path) if isinstance(doc_or_path, dict) else load(Path(doc_or_path))
    cap = capture_of(doc)
    analysis = {name: cap[name] for name in ANALYSIS_TABLES}
    return VmcoreResult(doc, cap, vmcore_tables(doc), analysis)
