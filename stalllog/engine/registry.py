"""Which families take part in a parse: the built-in ones (`stalllog.parsers`) and those other
packages register in the `stalllog.families` entry-point group (a `Family` subclass each)."""

from __future__ import annotations

from importlib.metadata import entry_points

from stalllog.parsers import all_families
from stalllog.parsers.base import Family

ENTRY_POINT_GROUP = "stalllog.families"


def plugin_families() -> list[Family]:
    found: list[Family] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Family)):
            raise TypeError(f"entry point {ep.name!r} ({ep.value}) is not a Family subclass")
        found.append(cls())
    return found


def families_or_all(families: list[Family] | None) -> list[Family]:
    """`families` as given, or every built-in and plug-in family in (priority, name) order."""
    if families is not None:
        return list(families)
    every = all_families() + plugin_families()
    return sorted(every, key=lambda f: (f.priority, f.name))
