"""Analysis over parsed tables: who is stuck where, episodes, the oom_lock, findings.

>>> import stalllog
>>> from stalllog.analyze import analyze
>>> cap = stalllog.parse("sample_logs/qemu/6.1.0-56-amd64-global-oom-serial.log.xz")
>>> res = analyze(cap)
>>> res["findings"][["severity", "kind", "summary"]]

`analyze()` returns the tables named in `ANALYSIS_TABLES`:

- `stack_classes` (classify.py): one row per stack, where the task is stuck.
- `stalled_tasks` (stalls.py): one row per task and allocation attempt.
- `episodes` (stalls.py): stretches of time with stalled tasks, and how each ended.
- `oom_lock` (oom_lock.py): who held the OOM killer's lock, when, with how many waiters.
- `reclaim` (reclaim.py): per episode and class, how many tasks were stuck there.
- `episode_pressure` (pressure.py): per episode, reclaimers, kswapd, zones, oom_lock cost.
- `findings` (findings.py): plain sentences with severity and evidence line numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

# modules, not their functions: `stalllog.analyze.oom_lock` etc. stay the modules
from stalllog.analyze import (
    classify,
    explain,  # noqa: F401  (registers the oom_explain post-step)
    findings,
    oom_lock,
    pressure,
    reclaim,
    stalls,
)
from stalllog.engine.capture import Capture
from stalllog.engine.trim import release_memory

__all__ = ["ANALYSIS_TABLES", "analyze"]

ANALYSIS_TABLES = (
    "stack_classes",
    "stalled_tasks",
    "episodes",
    "oom_lock",
    "reclaim",
    "episode_pressure",
    "findings",
)

# Parsed tables the analyzers never read: converting `lines` to pandas would cost more than the
# analysis itself.
_SKIP = frozenset({"lines", "unparsed"})


class _LazyTables(dict[str, pd.DataFrame]):
    """A capture's tables, converted to pandas on first access (most analyses read a few)."""

    def __init__(self, cap: Capture) -> None:
        super().__init__()
        self._cap = cap
        self._names = [n for n in cap.parsed if n not in _SKIP]

    def __missing__(self, key: str) -> pd.DataFrame:
        if key not in self._names:
            raise KeyError(key)
        df = self._cap[key]
        self[key] = df
        return df

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._names else default

    def __contains__(self, key: object) -> bool:
        return key in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def keys(self) -> Any:
        return list(self._names)

    def items(self) -> Any:
        return [(n, self[n]) for n in self._names]

    def values(self) -> Any:
        return [self[n] for n in self._names]


def _tables_of(tables_or_capture: Capture | Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    if isinstance(tables_or_capture, Capture):
        return _LazyTables(tables_or_capture)
    return dict(tables_or_capture)


def analyze(
    tables_or_capture: Capture | Mapping[str, pd.DataFrame], hz: int | None = None
) -> dict[str, pd.DataFrame]:
    """All analysis tables for a parsed capture (a `stalllog.Capture` or its `.tables`).

    hz: CONFIG_HZ when known; kmallocwd delays are in jiffies (inferred per boot otherwise)."""
    tables = _tables_of(tables_or_capture)
    out: dict[str, pd.DataFrame] = {}
    analyzers: list[tuple[str, Callable[[], pd.DataFrame]]] = [
        ("stack_classes", lambda: classify.classify_stacks(tables)),
        ("stalled_tasks", lambda: stalls.stalled_tasks(tables, out["stack_classes"], hz)),
        ("episodes", lambda: stalls.episodes(tables, out["stalled_tasks"])),
        ("oom_lock", lambda: oom_lock.oom_lock(tables, out["stack_classes"])),
        ("reclaim", lambda: reclaim.reclaim(tables, out["stalled_tasks"], out["episodes"])),
        ("episode_pressure", lambda: pressure.episode_pressure(tables, out)),
        ("findings", lambda: findings.findings(tables, out)),
    ]
    for name, analyzer in analyzers:
        out[name] = analyzer()
        release_memory()  # a storm's tables mapped from disk: each step pages in its own
    return {name: _finite(out[name]) for name in ANALYSIS_TABLES}


def _finite(df: pd.DataFrame) -> pd.DataFrame:
    """±inf (an open-ended interval inside an analyzer) is unknown to a reader: NA."""
    for col in df.columns:
        if pd.api.types.is_float_dtype(df[col].dtype):
            df[col] = df[col].mask(df[col].isin([np.inf, -np.inf]))
    return df


# registers the post-steps (after analyze() exists: the step calls it)
from stalllog.analyze import step  # noqa: E402, F401
