"""Analyzer cases: one TOML file per expert conclusion, in tests/analyze_cases/<area>/.

A case names a sample, where the conclusion comes from (a list mail, a commit), quotes it, and
lists the facts the analysis must reach::

    sample = "sample_logs/corpus/lkml/kmallocwd-2017-too_many_isolated-congestion_wait.txt"
    source = "https://lore.kernel.org/r/201703102019.JHJ58283.MQHtVFOOFOLFJS@I-love.SAKURA.ne.jp"
    conclusion = "kswapd cannot make progress because it is waiting for a lock"
    hz = 250                      # optional, passed to analyze()

    [[expect]]
    table = "stalled_tasks"       # an analysis table (or a parsed one)
    where = { pid = 67 }          # rows whose columns equal these values
    rows = 1                      # optional: exact number of matching rows ("min_rows" = at least)
    values = { stuck_in = "lock_wait" }   # optional: every matching row has these values
    contains = { stuck_detail = "xfs_buf_lock" }  # optional: substring of every matching row

Without `rows`/`min_rows`, at least one row must match.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import ROOT

import stalllog
from stalllog.analyze import analyze

CASES = sorted((Path(__file__).parent / "analyze_cases").rglob("*.toml"))


def _case_id(path: Path) -> str:
    return str(path.relative_to(Path(__file__).parent / "analyze_cases").with_suffix(""))


_cache: dict[tuple[str, Any], dict[str, pd.DataFrame]] = {}


def _tables(sample: str, hz: Any) -> dict[str, pd.DataFrame]:
    key = (sample, hz)
    if key not in _cache:
        cap = stalllog.parse(ROOT / sample)
        tables = dict(cap.tables)
        tables.update(analyze(cap, hz=hz))
        _cache[key] = tables
    return _cache[key]


def _select(df: pd.DataFrame, where: dict[str, Any]) -> pd.DataFrame:
    mask = pd.Series(True, index=df.index)
    for col, value in where.items():
        assert col in df.columns, f"no column {col!r}; have {list(df.columns)}"
        mask &= (df[col] == value).fillna(False).astype(bool)
    return df[mask]


def _show(df: pd.DataFrame, cols: list[str]) -> str:
    keep = [c for c in cols if c in df.columns]
    return df[keep].head(20).to_string() if keep else df.head(20).to_string()


@pytest.mark.parametrize("path", CASES, ids=_case_id)
def test_case(path: Path) -> None:
    case = tomllib.loads(path.read_text(encoding="utf-8"))
    for key in ("sample", "source", "conclusion", "expect"):
        assert key in case, f"{path.name}: missing {key!r}"
    tables = _tables(case["sample"], case.get("hz"))
    for i, exp in enumerate(case["expect"]):
        table = tables[exp["table"]]
        where = exp.get("where", {})
        rows = _select(table, where)
        cols = [*where, *exp.get("values", {}), *exp.get("contains", {})]
        context = f"expect[{i}] {exp['table']} where {where}:\n{_show(table, cols)}"
        if "rows" in exp:
            assert len(rows) == exp["rows"], context
        elif "min_rows" in exp:
            assert len(rows) >= exp["min_rows"], context
        else:
            assert len(rows) >= 1, context
        for col, value in exp.get("values", {}).items():
            got = rows[col].tolist()
            assert all(v == value for v in got), f"{context}\n{col}: {got} != {value!r}"
        for col, part in exp.get("contains", {}).items():
            got = rows[col].astype("string").fillna("").tolist()
            assert all(part in v for v in got), f"{context}\n{col}: {got} lacks {part!r}"
