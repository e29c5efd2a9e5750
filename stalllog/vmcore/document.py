"""Loading and saving the collector's document, and reading its values defensively.

A document may come from a stranger (a customer's `--json`): every value is checked for its
type where it is read; a value of the wrong type counts as unknown (None), like the `null`
the collector writes for what it could not read. Only a wrong top-level shape is an error.
"""

from __future__ import annotations

import json
import lzma
import math
from pathlib import Path
from typing import Any

from stalllog.output.atomic import write_file
from stalllog.vmcore.collected import check_document

__all__ = ["as_bool", "as_dict", "as_float", "as_int", "as_list", "as_str", "check", "load",
           "save"]  # fmt: skip

_XZ_MAGIC = b"\xfd7zXZ\x00"
_LISTS = ("tasks", "printk", "zones", "memcg", "errors")
_DICTS = ("kernel", "dump", "oom_lock", "vmstat")


def as_int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def as_float(v: Any) -> float | None:
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def as_str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def as_bool(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def as_dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def check(doc: Any) -> dict[str, Any]:
    """check_document() and the types of the top-level values (ValueError with the reason)."""
    doc = check_document(doc)
    for key in _LISTS:
        if not isinstance(doc[key], list):
            raise ValueError(f"{key} is not a list")
    for key in _DICTS:
        if doc[key] is not None and not isinstance(doc[key], dict):
            raise ValueError(f"{key} is not an object")
    return doc


def load(path: Path) -> dict[str, Any]:
    """A saved document (`.json`, or xz-compressed whatever its name); OSError when it cannot
    be read, ValueError when it is not a document this version reads."""
    data = path.read_bytes()
    if data.startswith(_XZ_MAGIC):
        try:
            data = lzma.decompress(data)
        except lzma.LZMAError as e:
            raise ValueError(f"broken xz data ({e})") from None
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise ValueError(f"not JSON ({str(e)[:80]})") from None
    return check(doc)


def save(doc: dict[str, Any], path: Path) -> None:
    """Write the document atomically, xz-compressed when the name ends in `.xz`."""
    data = json.dumps(doc, separators=(",", ":")).encode()  # ASCII: \u escapes
    if path.name.endswith(".xz"):
        data = lzma.compress(data, preset=6)
    write_file(path, data)
