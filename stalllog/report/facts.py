"""The summary's facts as plain data: `stalllog summary --json`, `parse --json` and
`Capture.summary()`. Keys are stable (docs/outputs.md, "Summary JSON"); a key that changes
meaning raises SUMMARY_VERSION.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from stalllog.engine.capture import Capture
from stalllog.engine.linestats import LineStats
from stalllog.output.safe import for_terminal
from stalllog.report.analysis import ranked_findings
from stalllog.report.summary import CORE, source_warnings
from stalllog.report.worst import worst_kill_facts

SUMMARY_VERSION = 1
WORST = 5  # findings, boots and victims listed by name; the rest are counted


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _counts(values: list[Any]) -> dict[str, int]:
    """Value -> count, most frequent first (nulls left out)."""
    return dict(Counter(str(v) for v in values if v is not None).most_common())


def _rows(tables: Mapping[str, pa.Table], name: str) -> list[dict[str, Any]]:
    return tables[name].to_pylist() if name in tables else []


def _boots(rows: list[dict[str, Any]]) -> dict[str, Any]:
    spans = [
        (r["ts_last"] - r["ts_first"])
        for r in rows
        if _finite(r["ts_first"]) is not None and _finite(r["ts_last"]) is not None
    ]
    return {
        "count": len(rows),
        "by_release": _counts([r["release"] for r in rows]),
        "release_unknown": sum(r["release"] is None for r in rows),
        "hosts": sorted({r["host"] for r in rows if r["host"] is not None}),
        "timed": len(spans),
        "seconds": round(sum(spans), 3),
        "longest_s": round(max(spans), 3) if spans else None,
    }


def _oom(rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    kills = [r for r in rows if r["victim_pid"] is not None]
    victims = Counter(r["victim_comm"] for r in kills if r["victim_comm"] is not None)
    return {
        "invocations": len(rows),
        "kills": len(kills),
        "kills_per_hour": round(len(kills) * 3600 / seconds, 3) if kills and seconds else None,
        "by_kind": _counts([r["kind"] for r in rows]),
        "reaped": sum(r["reaped"] is True for r in rows),
        "top_victims": [{"comm": c, "kills": n} for c, n in victims.most_common(WORST)],
    }


def _findings(tables: Mapping[str, pa.Table]) -> dict[str, Any] | None:
    if "findings" not in tables:
        return None  # the analysis did not run
    ranked = ranked_findings(tables["findings"])
    return {
        "total": len(ranked),
        "by_severity": {s: sum(r["severity"] == s for r in ranked)
                        for s in ("critical", "warning", "info")},
        "by_kind": _counts([r["kind"] for r in ranked]),
        "worst": [{k: r[k] for k in ("severity", "kind", "boot", "text", "evidence")}
                  for r in ranked[:WORST]],
    }  # fmt: skip


def _events(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "total": len(rows),
        "corrupted": sum(bool(r["corrupted"]) for r in rows),
        "by_kind": _counts([r["kind"] for r in rows]),
    }


def summary_facts(
    tables: Mapping[str, pa.Table] | Capture,
    stats: LineStats | None = None,
    hz: int | None = None,
    written: Mapping[str, Path] | None = None,
) -> dict[str, Any]:
    """The facts of the summary as JSON-ready data. `written`: the files written, table (or
    `manifest`) -> path."""
    if isinstance(tables, Capture):
        hz = hz if hz is not None else tables.hz
        tables = tables.arrow
    if stats is None:
        stats = LineStats.of(tables["lines"], tables.get("unparsed"))
    boots = _boots(_rows(tables, "boots"))
    findings = _findings(tables)
    worst = next((s for s, n in (findings or {}).get("by_severity", {}).items() if n), None)
    return {
        "summary_version": SUMMARY_VERSION,
        "hz": hz,
        "inputs": _rows(tables, "sources"),
        "lines": {"total": stats.n_lines, "unparsed": stats.n_unparsed,
                  "flags": dict(stats.flags.most_common())},
        "boots": boots,
        "kernels": sorted(boots["by_release"]),
        "events": _events(_rows(tables, "events")),
        "tables": {n: t.num_rows for n, t in tables.items() if n not in CORE and t.num_rows},
        # the worst kills lead: ranked by victim RSS, counted per boot and memcg
        "oom": {**_oom(_rows(tables, "oom_events"), boots["seconds"]),
                **worst_kill_facts(tables, WORST)},
        "findings": findings,
        "verdict": None if findings is None else worst or "none",
        "warnings": [{"source": s, "message": m}
                     for s, m in source_warnings(tables["sources"], stats)]
        if "sources" in tables else [],
        "written": None if written is None else {n: str(p) for n, p in written.items()},
    }  # fmt: skip


def facts_json(facts: Mapping[str, Any]) -> str:
    """One line of ASCII JSON (untrusted names escaped as \\uXXXX)."""
    return json.dumps(facts, ensure_ascii=True, allow_nan=False)


@dataclass(frozen=True)
class Summary:
    """`Capture.summary()`: `facts` as in `stalllog summary --json`; printed, a few lines."""

    facts: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.facts[key]

    def to_json(self) -> str:
        return facts_json(self.facts)

    def __str__(self) -> str:
        f = self.facts
        boots, oom, findings = f["boots"], f["oom"], f["findings"]
        kernels = ", ".join(f"{k} ×{n}" for k, n in list(boots["by_release"].items())[:WORST])
        out = [
            f"{len(f['inputs'])} input(s), {f['lines']['total']:,} lines "
            f"({f['lines']['unparsed']:,} unparsed)",
            f"{boots['count']} boot(s), {boots['seconds']:,.0f} s logged; "
            f"kernels: {kernels or 'unknown'}",
            f"{f['events']['total']:,} event(s); {oom['invocations']} OOM invocation(s), "
            f"{oom['kills']} kill(s)",
        ]
        if oom["worst_kills"]:
            w = oom["worst_kills"][0]
            rss = f"{w['rss_kb']:,} kB" if w["rss_kb"] is not None else "RSS ?"
            out.append(f"worst kill: {w['comm']}({w['pid']}), {rss} (boot {w['boot']}, "
                       f"line {w['line_no']})")  # fmt: skip
        if findings is not None:
            sev = ", ".join(f"{n} {s}" for s, n in findings["by_severity"].items() if n)
            out.append(f"verdict: {f['verdict']} ({sev or 'no findings'})")
        out += [f"warning: {w['source']}: {w['message']}" for w in f["warnings"]]
        return "\n".join(for_terminal(line, markup=False) for line in out)

    def __repr__(self) -> str:
        return f"<Summary\n{self}>"


def capture_summary(cap: Capture) -> Summary:
    """`Capture.summary()`."""
    return Summary(summary_facts(cap))
