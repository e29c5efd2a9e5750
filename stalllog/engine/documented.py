"""Tables documented in docs/tables.md that `parse()` does not make (the `vmcore_*` tables of
`stalllog vmcore`): their modules are named by `stalllog/__init__.py`, as post-steps are
(steps.py), and imported only by the docs generator, so the engine never imports them."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stalllog.parsers.base import TableSchema

_MODULES: list[str] = []  # each defines TABLES: tuple[TableSchema, ...]


def provided_by(*modules: str) -> None:
    _MODULES.extend(m for m in modules if m not in _MODULES)


def other_tables() -> list[TableSchema]:
    return [t for m in _MODULES for t in importlib.import_module(m).TABLES]
