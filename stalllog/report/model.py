"""What `stalllog report` says, gathered once from the tables; html.py, markdown.py and text.py
only render it.

Every string here is as the log has it (untrusted: process names, cgroup paths, log lines);
the renderers escape for their format. Long tables are cut to their first rows with a note.

>>> model = build_report(stalllog.parse("console.log").arrow, title="console.log")
>>> html = render_html(model)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stalllog.report.analysis import ranked_findings

FIGURE_EXTENSIONS = {"image/svg+xml": "svg", "image/png": "png"}
MAX_ROWS = 30  # rows of a report table before it is cut (the full table: stalllog parse)


@dataclass(frozen=True)
class Paragraph:
    text: str
    severity: str | None = None  # critical/warning/info: a verdict or finding sentence
    bullet: bool = False  # an item of a list


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]
    title: str | None = None
    note: str | None = None  # e.g. "30 of 120 rows; all: the oom_events table"
    numeric: frozenset[int] = frozenset()  # column indexes to align right


@dataclass(frozen=True)
class ExcerptLine:
    line_no: int | None  # None: a marker standing for left-out lines
    text: str


@dataclass(frozen=True)
class Excerpt:
    """Original lines of one source, in order, runs that were too long cut with a marker."""

    source: str
    lines: list[ExcerptLine]


@dataclass(frozen=True)
class Finding:
    severity: str
    text: str
    where: str  # "no_oom_progress; boot 0, episode 0"
    evidence: str  # line numbers as the findings table has them ("12,40-45")
    excerpt: Excerpt | None


@dataclass
class Section:
    key: str  # stable anchor: verdict, findings, episodes, ...
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass(frozen=True)
class Figure:
    """A rendered plot: `data` is SVG (mime image/svg+xml) or PNG (image/png) bytes."""

    title: str
    data: bytes
    mime: str = "image/svg+xml"


Block = Paragraph | Table | Finding | Excerpt | Figure


@dataclass
class Report:
    title: str
    verdict: Paragraph
    key_numbers: list[tuple[str, str]]
    sections: list[Section]


# --- value formatting shared by the section builders (plain text; renderers escape) ---


def known(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def num(x: Any, fmt: str = "{:,.1f}", unit: str = "") -> str:
    return fmt.format(x) + unit if known(x) else "?"


def kb(x: Any) -> str:
    """kB as the most readable unit."""
    if not known(x):
        return "?"
    if x >= 1 << 20:
        return f"{x / (1 << 20):,.1f} GiB"
    if x >= 1 << 10:
        return f"{x / (1 << 10):,.1f} MiB"
    return f"{x:,} kB"


def task(comm: Any, pid: Any) -> str:
    name = comm if comm is not None else "?"
    return f"{name}({pid})" if pid is not None else str(name)


def rows(tables: Mapping[str, pa.Table], name: str) -> list[dict[str, Any]]:
    t = tables.get(name)
    return [] if t is None else t.to_pylist()


def cut_table(columns: list[str], body: list[list[str]], whole: str, **kw: Any) -> Table:
    """A Table of the first MAX_ROWS rows, with a note naming the full table when cut."""
    note = f"first {MAX_ROWS} of {len(body):,} rows; all: {whole}" if len(body) > MAX_ROWS else None
    return Table(columns, body[:MAX_ROWS], note=note, **kw)


# --- the report ---


def _ts_ranges(tables: Mapping[str, pa.Table]) -> list[tuple[float, float]]:
    """(earliest, latest) timestamp per boot: from `lines` when there (an excerpt's clock can
    go back), else the boots' first and last."""
    lines = tables.get("lines")
    if lines is None:
        ends = [(b["ts_first"], b["ts_last"]) for b in rows(tables, "boots")]
        return [(min(e), max(e)) for e in ends if known(e[0]) and known(e[1])]
    ts = lines.column("ts")
    timed = lines.select(["boot", "ts"]).filter(pc.invert(pc.fill_null(pc.is_nan(ts), True)))
    g = timed.group_by("boot").aggregate([("ts", "min"), ("ts", "max")])
    return list(zip(g.column("ts_min").to_pylist(), g.column("ts_max").to_pylist(), strict=True))


def span_text(tables: Mapping[str, pa.Table]) -> str:
    ranges = _ts_ranges(tables)
    n_boots = len(rows(tables, "boots"))
    if not ranges:
        return "no kernel timestamps"
    if n_boots == 1:
        return f"{ranges[0][0]:,.1f} to {ranges[0][1]:,.1f} s after boot"
    return f"{sum(hi - lo for lo, hi in ranges):,.1f} s over {n_boots:,} boots"


def kernel_lost(tables: Mapping[str, pa.Table]) -> int:
    """Kernel messages known lost (printk drops, suppressions; programs' losses left out)."""
    return sum(
        r["count"] or 0 for r in rows(tables, "printk_loss") if r["kernel_messages"] is not False
    )


def kill_count(tables: Mapping[str, pa.Table]) -> int:
    return sum(1 for r in rows(tables, "oom_events") if r["victim_pid"] is not None)


def _verdict(tables: Mapping[str, pa.Table]) -> Paragraph:
    if "findings" not in tables:
        return Paragraph("No analysis: parsed with analysis turned off.")
    ranked = ranked_findings(tables["findings"])
    if not ranked:
        from stalllog.report.other import alloc_failure_text

        fails = alloc_failure_text(tables)
        tail = f"; {fails} (below)." if fails else "."
        return Paragraph(f"No memory stall, OOM or lockup problem found{tail}", "info")
    worst = ranked[0]
    more = len(ranked) - 1
    tail = f" ({more} more finding(s) below.)" if more else ""
    return Paragraph(f"{worst['text']}{tail}", worst["severity"])


def _key_numbers(tables: Mapping[str, pa.Table]) -> list[tuple[str, str]]:
    boots = rows(tables, "boots")
    episodes = rows(tables, "episodes")
    longest = [e["longest_stall_s"] for e in episodes if known(e["longest_stall_s"])]
    spans = [e["duration_s"] for e in episodes if known(e["duration_s"])]
    # task dumps and unconverted kmallocwd jiffies give no delay; the episode still has a span
    unknown = f"unknown (episode spans {max(spans):,.0f} s)" if spans else "unknown"
    longest_s = f"{max(longest):,.0f} s" if longest else (unknown if episodes else "none")
    from stalllog.report.walls import wall_at, wall_span_text
    from stalllog.report.worst import ranked_kills, victim_rss_kb

    ranked = ranked_kills(tables)
    # the worst incident leads (by victim RSS, as the kills section ranks them)
    worst = []
    for w in ranked[:1]:
        when = wall_at(tables, w.get("source"), w["kill_line_no"])
        worst.append((
            "worst OOM kill", f"{task(w['victim_comm'], w['victim_pid'])}, "
            f"{kb(victim_rss_kb(w))} RSS (boot {w['boot']}, line {w['kill_line_no']}"
            + (f", {when})" if when else ")"),
        ))  # fmt: skip
    logged = wall_span_text(tables)
    return [
        ("boots", f"{len(boots):,}"),
        ("span", span_text(tables)),
        *([("logged", logged)] if logged else []),
        ("OOM kills", f"{kill_count(tables):,}"),
        *worst,
        ("stall episodes", f"{len(episodes):,}"),
        ("longest stall", longest_s),
        ("messages lost (printk)", f"{kernel_lost(tables):,}"),
    ]


def build_report(tables: Mapping[str, pa.Table], title: str = "stalllog report") -> Report:
    """The report of a parse (`Capture.arrow`, with its `lines` for evidence excerpts)."""
    from stalllog.report.advice import oom_explanations
    from stalllog.report.other import other_section
    from stalllog.report.sections import (
        capture_summary,
        episodes_section,
        findings_section,
        kills_section,
        stalls_section,
    )

    sections = [
        findings_section(tables),
        episodes_section(tables),
        kills_section(tables),
        stalls_section(tables),
        oom_explanations(tables),
        other_section(tables),
        capture_summary(tables),
    ]
    return Report(title, _verdict(tables), _key_numbers(tables), [s for s in sections if s.blocks])


def figure_from_matplotlib(fig: Any, title: str, fmt: str = "svg") -> Figure:
    """A Figure from a matplotlib Figure, as SVG or PNG (matplotlib is the caller's import)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, bbox_inches="tight")
    return Figure(title, buf.getvalue(), "image/svg+xml" if fmt == "svg" else "image/png")


def with_figures(sections: list[Section], figures: Sequence[Figure]) -> list[Section]:
    """The sections with a Figures section after the findings and episodes (the timeline)."""
    if not figures:
        return sections
    for f in figures:
        if f.mime not in FIGURE_EXTENSIONS:
            raise ValueError(f"figure {f.title!r}: {f.mime!r} is not SVG or PNG")
    keys = [s.key for s in sections]
    at = max((keys.index(k) + 1 for k in ("findings", "episodes") if k in keys), default=0)
    return [*sections[:at], Section("figures", "Figures", list(figures)), *sections[at:]]
