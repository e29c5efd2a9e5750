"""What `stalllog.parse()` accepts as its inputs: paths, lists of them, glob patterns and
directories, made into the list of single inputs the reader opens one by one.

* a list or tuple: its items, in order (nested lists too);
* a directory: every regular file directly in it, sorted by name; hidden files (`.name`) and
  subdirectories are skipped. Files are not chosen by name: compressed ones (gzip, xz, bzip2,
  zstd) are recognized by their magic bytes, anything else is read as text, and a file that
  is mostly binary gets the warning "not a text capture?" (`stalllog summary`);
* a string with `*`, `?` or `[` that names no existing file: a glob pattern (`**` crosses
  directories), the matching paths sorted, each then taken as above; no match is an error;
* anything else (a path, "-" for stdin, bytes, a file object) as it is.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from stalllog.input.reader import CaptureError

_GLOB_CHARS = frozenset("*?[")


def expand(sources: Iterable[Any]) -> list[Any]:
    """The single inputs that `sources` name (see the module doc); CaptureError for a glob
    pattern or a directory that gives no file."""
    return list(_expand(sources))


def _expand(sources: Iterable[Any]) -> Iterator[Any]:
    for src in sources:
        if isinstance(src, list | tuple):
            yield from _expand(src)
        elif isinstance(src, str | os.PathLike) and os.path.isdir(src):
            yield from _directory(Path(src))
        elif isinstance(src, str) and _GLOB_CHARS & set(src) and not os.path.lexists(src):
            matches = sorted(glob.glob(src, recursive=True))
            if not matches:
                raise CaptureError(f"{src}: no file matches this pattern")
            yield from _expand(matches)
        else:
            yield src


def _directory(directory: Path) -> list[str]:
    files = sorted(
        e.path for e in os.scandir(directory) if not e.name.startswith(".") and e.is_file()
    )
    if not files:
        raise CaptureError(f"{directory}: a directory with no file to read")
    return files
