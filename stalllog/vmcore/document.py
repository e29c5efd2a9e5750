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

__all__ = ["as_bool", "as_dict", "as_float", "as_int", "as_list", "as_str", "as_u64", "check",
           "load", "save"]  # fmt: skip

_XZ_MAGIC = b"\xfd7zXZ\x00"
# a machine with 100k threads gives some hundred MB of JSON: far above any real document
MAX_BYTES = 1 << 30
_LISTS = ("tasks", "printk", "zones", "memcg", "errors")
_DICTS = ("kernel", "dump", "oom_lock", "vmstat")


def as_int(v: Any) -> int | None:
    """An integer that fits the tables' int64 columns."""
    ok = isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63
    return v if ok else None


def as_u64(v: Any) -> int | None:
    """An address (pc: kernel addresses are above 2**63)."""
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**64 else None


def as_float(v: Any) -> float | None:
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def as_str(v: Any) -> str | None:
    """A string the tables can hold: a lone surrogate (JSON allows `\ud800`) as `\ud800`."""
    if not isinstance(v, str):
        return None
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return v.encode("utf-8", "backslashreplace").decode("utf-8")
    return v


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
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    if data.startswith(_XZ_MAGIC):
        try:  # bounded: a small archive must not expand to all of memory
            dec = lzma.LZMADecompressor()
            data = dec.decompress(data, max_length=MAX_BYTES + 1)
        except lzma.LZMAError as e:
            raise ValueError(f"broken xz data ({e})") from None
        if not dec.eof and len(data) <= MAX_BYTES:
            raise ValueError("xz data ends early")
    if len(data) > MAX_BYTES:
        raise ValueError(f"larger than {MAX_BYTES >> 20} MiB: not a collector document")
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
