"""The analysis in words (`stalllog analyze`, the summary's verdict) and as JSON for scripts.

Every name and sentence that comes from the log is untrusted: terminal text goes through
`for_terminal`, JSON escapes everything outside ASCII printable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from stalllog.analyze import ANALYSIS_TABLES
from stalllog.output.safe import for_terminal

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "green"}
VERDICT_FINDINGS = 6  # findings shown in the summary's verdict (the rest: stalllog analyze)


def _t(s: object) -> str:
    return for_terminal(str(s), markup=False)


def _rows(t: pa.Table | None) -> list[dict[str, Any]]:
    return [] if t is None else t.to_pylist()


def _num(x: Any, fmt: str = "{:.1f}") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "?"
    return fmt.format(x)


def ranked_findings(findings: pa.Table | None) -> list[dict[str, Any]]:
    """Findings most severe first, then in capture order."""
    rows = _rows(findings)
    return sorted(rows, key=lambda r: (SEVERITY_ORDER.get(r["severity"], 3), r["finding"]))


def _finding_lines(rows: list[dict[str, Any]]) -> Table:
    grid = Table.grid(padding=(0, 1))
    for r in rows:
        where = f"boot {r['boot']}" + (
            f", episode {r['episode']}" if r["episode"] is not None else ""
        )
        ev = r["evidence"]
        several = ev is not None and ("," in ev or "-" in ev)
        lines = f" ({'lines' if several else 'line'} {_t(ev)})" if ev else ""
        grid.add_row(
            Text(r["severity"].upper(), style=SEVERITY_STYLE.get(r["severity"], "")),
            Text(f"{_t(r['text'])} [{r['kind']}; {where}]{lines}"),
        )
    return grid


def verdict(tables: Mapping[str, pa.Table]) -> RenderableType | None:
    """The first lines of the summary: what the analysis concluded, or None without analysis."""
    if "findings" not in tables:
        return None
    ranked = ranked_findings(tables["findings"])
    if not ranked:
        return Text("verdict: no memory stall, OOM or lockup problem found", style="bold")
    worst = ranked[0]["severity"]
    head = Text(f"verdict ({worst}): ", style=SEVERITY_STYLE.get(worst, "bold"))
    head.append(f"{len(ranked)} finding(s)", style="bold")
    if len(ranked) > VERDICT_FINDINGS:
        head.append(f"; the first {VERDICT_FINDINGS} below, all: stalllog analyze")
    return Group(head, _finding_lines(ranked[:VERDICT_FINDINGS]))


def _episodes(t: pa.Table | None) -> RenderableType | None:
    rows = _rows(t)
    if not rows:
        return None
    grid = Table.grid(padding=(0, 1))
    for e in rows:
        span = (
            f"lines {e['first_line']}–{e['last_line']} (no timestamps)"
            if e["clock"] == "line"
            else f"{_num(e['start_ts'])}–{_num(e['end_ts'])} s "
            f"({_num(e['duration_s'], '{:.0f}')} s)"
        )
        facts = [f"{e['n_tasks']} task(s), peak {e['peak_stalled']} stalled"]
        longest = e["longest_stall_s"]
        facts.append(
            f"longest stall {_num(longest, '{:.0f}')} s"
            if longest is not None
            else "longest stall unknown (no report gives a delay; kmallocwd's jiffies need --hz)"
        )
        facts.append(f"{e['oom_invocations']} OOM invocation(s), {e['kills']} kill(s)")
        if e["oom_count_first"] is not None:
            facts.append(f"oom_count {e['oom_count_first']}→{e['oom_count_last']}")
        if e["printk_dropped"]:
            facts.append(f"{e['printk_dropped']} printk message(s) dropped")
        end_line = f" (line {e['outcome_line']})" if e["outcome_line"] is not None else ""
        grid.add_row(
            Text(f"#{e['episode']}", style="bold"),
            Text(f"boot {e['boot']}, {span}: {'; '.join(facts)} → {e['outcome']}{end_line}"),
        )
    return Group(Text("episodes", style="bold underline"), grid)


def _oom_lock(t: pa.Table | None) -> RenderableType | None:
    rows = _rows(t)
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: -(r["held_s"] if r["held_s"] is not None else -1))
    grid = Table.grid(padding=(0, 1))
    for r in rows[:10]:
        grid.add_row(
            Text(f"{_t(r['comm'])}({r['pid']})", style="bold"),
            Text(
                f"boot {r['boot']}: held {_num(r['held_s'], '{:.2f}')} s, lines "
                f"{r['start_line']}–{r['end_line']} ({r['source']}), {r['waiters']} waiter(s), "
                f"ended by {r['ended_by']}"
            ),
        )
    more = f" (10 longest of {len(rows)})" if len(rows) > 10 else ""
    return Group(Text(f"oom_lock holders{more}", style="bold underline"), grid)


def _reclaim(t: pa.Table | None) -> RenderableType | None:
    rows = _rows(t)
    if not rows:
        return None
    grid = Table.grid(padding=(0, 1))
    for r in rows:
        detail = f" ({_t(r['stuck_detail'])})" if r["stuck_detail"] else ""
        cls = r["stuck_in"] or "no call trace printed"
        grid.add_row(
            Text(f"episode {r['episode']}", style="bold"),
            Text(
                f"{cls}{detail}: {r['n_tasks']} task(s), {r['n_reports']} report(s), "
                f"pids {_t(r['pids'])}, e.g. line {r['example_line']}"
            ),
        )
    return Group(Text("what the stalled tasks were doing", style="bold underline"), grid)


def analysis_report(tables: Mapping[str, pa.Table]) -> RenderableType:
    """`stalllog analyze`: findings first, then episodes, oom_lock holders, stall classes."""
    ranked = ranked_findings(tables.get("findings"))
    parts: list[RenderableType] = [Text("findings", style="bold underline")]
    if ranked:
        parts.append(_finding_lines(ranked))
    else:
        parts.append(Text("no memory stall, OOM or lockup problem found"))
    for render, name in ((_episodes, "episodes"), (_oom_lock, "oom_lock"), (_reclaim, "reclaim")):
        part = render(tables.get(name))
        if part is not None:
            parts.append(part)
    return Group(*parts)


def _jsonable(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def analysis_json(tables: Mapping[str, pa.Table]) -> str:
    """The analysis tables as one JSON object {table: [row, ...]} (NaN as null, ASCII only)."""
    out = {
        name: [{k: _jsonable(v) for k, v in row.items()} for row in tables[name].to_pylist()]
        for name in ANALYSIS_TABLES
        if name in tables
    }
    return json.dumps(out, ensure_ascii=True, allow_nan=False)
