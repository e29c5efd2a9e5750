"""Message families: one module per family, discovered at import (see parsers/base.py).

Adding a family = adding `parsers/<family>.py` with a `Family` subclass, its tests and a
sample; nothing else needs to change.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import Block, Column, Family, Feed, Line, TableSchema

__all__ = ["Block", "Column", "Family", "Feed", "Line", "TableSchema", "all_families"]

_SKIP = {"base"}


def all_families() -> list[Family]:
    """One instance of every family in this package, in a stable order (priority, name)."""
    found: list[type[Family]] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in _SKIP or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, Family)
                and obj is not Family
                and obj.__module__ == module.__name__
            ):
                found.append(obj)
    found.sort(key=lambda cls: (cls.priority, cls.name))
    return [cls() for cls in found]
