"""kmallocwd generations (see parsers/kmallocwd.py): which generations a `MemAlloc:` task line
fits, and which suffix flags those generations print. Sets are frozen and the per-line
questions memoized: a report storm asks them for every task line."""

from __future__ import annotations

import re
from functools import cache

GENERATIONS = ("P0", "P1", "v1", "v2", "v3-v4", "D1", "D2", "D3", "v5-v9", "S")
_ORDER = {g: i for i, g in enumerate(GENERATIONS)}

# suffixes a generation prints: u(ninterruptible), e(xiting), d(ying), v(ictim)
_PRINTS = {
    "P0": "",
    "v1": "udv",  # only on the lines of dying tasks (no gfp part)
    "v2": "udv",
    "v3-v4": "uedv",
    "D1": "uedv",
    "D2": "uedv",
    "D3": "uedv",
    "v5-v9": "uedv",
    "S": "u",
}

Gens = frozenset[str]  # frozen: hashable, so the per-line label and flags are memoized


@cache
def _label(gens: Gens) -> str:
    return "|".join(sorted(gens, key=_ORDER.__getitem__))


def task_generations(m: re.Match[str]) -> Gens:
    return task_generations_of(m.groups())


def task_generations_of(g: tuple[str | None, ...]) -> Gens:
    """The same from the `MemAlloc:` pattern's groups, positional (`m.groups()`: one call,
    not ten named look-ups per task line): tag, comm, pid, flags, switches, seq, mask,
    gfp_flags, order, delay, u, e, d, v."""
    tag, _, _, flags, switches, seq, mask, gfp_flags, _, _, u, e, d, v = g
    if tag:
        return _G_P0
    if switches is not None:
        # S prints ` uninterruptible` only
        return _G_D3_V5 if (e or d or v) else _G_D3_V5_S
    if flags is not None:
        return _G_D2
    if seq is not None:
        # v3/v4 print the mask in hex only; D1 adds the %pGg flag names
        return _G_D1 if gfp_flags is not None else _G_V3
    if mask is not None:
        return _G_V2 if (u or d or v) else _G_P0_V2
    if e:
        return _G_V3_D1
    return _G_V1_D1


_G_OLD = frozenset({"P0", "P1", "v1", "v2", "v3-v4"})
_G_D1, _G_D2, _G_D3 = frozenset({"D1"}), frozenset({"D2"}), frozenset({"D3"})
_G_S = frozenset({"S"})
_G_D3_V5, _G_D3_V5_S = frozenset({"D3", "v5-v9"}), frozenset({"D3", "v5-v9", "S"})
_G_P0, _G_V2, _G_V3 = frozenset({"P0"}), frozenset({"v2"}), frozenset({"v3-v4"})
_G_P0_V2, _G_V3_D1 = frozenset({"P0", "v1", "v2"}), frozenset({"v3-v4", "D1"})
_G_V1_D1 = frozenset({"v1", "v2", "v3-v4", "D1"})
_G_ALL = frozenset(GENERATIONS)


@cache
def suffix_flags(
    gens: Gens, stalling: bool, u: bool, e: bool, d: bool, v: bool, tag: str | None
) -> tuple[str, bool | None, bool | None, bool | None, bool | None]:
    """generation label and the uninterruptible, exiting, dying, victim values of a task
    line that fits `gens`, from which suffixes it printed (memoized: a handful of shapes)."""
    ku, ke, kd, kv = _known(gens, stalling)
    flags = [u if ku else None, e if ke else None, d if kd else None, v if kv else None]
    if tag:
        flags[3] = tag == "-victim"
        flags[2] = tag == "-dying"
    return (_label(gens), flags[0], flags[1], flags[2], flags[3])


@cache
def task_fit(
    gens: Gens, scan_gens: Gens, stalling: bool, u: bool, e: bool, d: bool, v: bool, tag: str | None
) -> tuple[bool, str, bool | None, bool | None, bool | None, bool | None]:
    """Whether a task line that fits `gens` fits its scan's `scan_gens`, then `suffix_flags`
    of the generations both allow (the line's own when none)."""
    narrowed = gens & scan_gens
    return (bool(narrowed), *suffix_flags(narrowed or gens, stalling, u, e, d, v, tag))


@cache
def _known(gens: Gens, stalling: bool) -> tuple[bool, bool, bool, bool]:
    """Whether every generation in `gens` prints the ` uninterruptible`, ` exiting`,
    ` dying`, ` victim` suffix (v1 prints them only on lines without the gfp part)."""
    u, e, d, v = (
        all(key in _PRINTS[g] and not (g == "v1" and stalling) for g in gens) for key in "uedv"
    )
    return u, e, d, v
