"""A short human summary of parsed tables: what was read, which kernels, what was found.

Generic over tables: every non-empty table that is not a core table gets one `rows` line, so
families added to parsers/ show up without edits here. A family that deserves more than a row
count registers a section with `@section("table")` (see `_printk_loss` below).

>>> cap = stalllog.parse("console.log")
>>> print(summary_text(cap))
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any

import pyarrow as pa
from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from stalllog.engine.capture import Capture
from stalllog.engine.linestats import LineStats
from stalllog.output.safe import for_terminal
from stalllog.report.analysis import verdict
from stalllog.report.walls import boot_wall_spans
from stalllog.report.worst import WORST_KILLS, kills, ranked_kills, victim_memcg, victim_rss_kb

CORE = ("lines", "unparsed", "events", "boots", "sources")
CMDLINE_SHOWN = 90  # characters of a kernel command line before it is shortened
TOP_NAMES = 3  # most frequent task names shown per event kind
MAX_LISTED = 10  # inputs listed one by one
BOOTS_LISTED = 3  # more boots than this are aggregated: counts, rates and the worst few
WORST_BOOTS = 5
MAX_OOMS = 5  # OOMs explained one by one

Section = Callable[[pa.Table], RenderableType | None]
SECTIONS: dict[str, Section] = {}


def section(table: str) -> Callable[[Section], Section]:
    """Register a renderer for one family table, shown under that table's `rows` line."""

    def register(fn: Section) -> Section:
        SECTIONS[table] = fn
        return fn

    return register


def _t(s: object) -> str:
    return for_terminal(str(s), markup=False)


def _n(x: int) -> str:
    return f"{x:,}"


def _bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return ""


def _shorten(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _block(label: str, head: str | Text, body: RenderableType | None = None) -> Table:
    """`label` in a left column, `head` and `body` beside it (wrapped lines stay indented)."""
    g = Table.grid(padding=(0, 1))
    g.add_column(width=8, no_wrap=True, style="bold")
    g.add_column()
    head = Text(head) if isinstance(head, str) else head
    g.add_row(label, head if body is None else Group(head, body))
    return g


def _grid(*justify: JustifyMethod) -> Table:
    g = Table.grid(padding=(0, 2))
    for j in justify:
        g.add_column(justify=j)
    return g


def source_warnings(sources: pa.Table, stats: LineStats) -> list[tuple[str, str]]:
    """(source, problem) for inputs that were cut short, empty, or mostly binary."""
    out = []
    for r in sources.to_pylist():
        if r["error"]:
            out.append((r["source"], r["error"]))
        if r["n_lines"] == 0:
            out.append((r["source"], "empty input"))
        binary = stats.binary.get(r["source"], 0)
        if r["n_lines"] and binary * 2 > r["n_lines"]:
            out.append(
                (r["source"], f"{_n(binary)} of {_n(r['n_lines'])} lines have invalid UTF-8 or "
                 "NUL bytes: not a text capture?")
            )  # fmt: skip
    return out


def _sources(t: pa.Table, stats: LineStats) -> RenderableType:
    rows = t.to_pylist()
    total = sum(r["n_bytes"] or 0 for r in rows)
    head = f"{len(rows)} input(s), {_n(stats.n_lines)} lines, {_bytes(total)}"
    problems: dict[str, list[str]] = {}
    for src, problem in source_warnings(t, stats):
        problems.setdefault(src, []).append(problem)
    g = _grid("right", "left")
    # every input with a problem, and the others while the list stays short
    shown = [r for i, r in enumerate(rows) if r["source"] in problems or i < MAX_LISTED]
    for r in shown:
        line = Text(_t(r["source"]), overflow="fold")
        if r["compression"]:
            line.append(f" ({r['compression']})")
        for problem in problems.get(r["source"], []):
            line.append(f"\n{_t(problem)}", "yellow")
        g.add_row(f"{_n(r['n_lines'])} lines", line)
    if len(shown) < len(rows):
        g.add_row("", Text(f"... {len(rows) - len(shown)} more (sources table)", style="dim"))
    return _block("sources", head, g)


def _boots(t: pa.Table, tables: Mapping[str, pa.Table]) -> RenderableType:
    rows = t.to_pylist()
    if len(rows) > BOOTS_LISTED:
        return _block("boots", _n(len(rows)), _boots_aggregated(rows, tables))
    # line numbers count per input: name the input when there are several
    several = len({r["source"] for r in rows}) > 1
    logged = boot_wall_spans(tables)
    g = _grid("right", "left")
    for r in rows:
        desc = Text(_t(r["release"]) if r["release"] else "(release unknown)")
        where = f" of {_t(PurePath(r['source']).name)}" if several else ""
        desc.append(f"  lines {_n(r['line_start'])}-{_n(r['line_end'])}{where}")
        if r["ts_first"] is not None and not math.isnan(r["ts_first"]):
            span = {f"{r['ts_first']:.1f}", f"{r['ts_last']:.1f}"}
            desc.append(f"  {'-'.join(sorted(span, key=float))} s")
        desc.append(f"  prefix {_t(r['prefix_kinds'] or 'none')}")
        if r["has_caller"] and "caller" not in (r["prefix_kinds"] or ""):
            desc.append("  caller ids")
        if r["boot"] in logged:
            desc.append(f"\nlogged {logged[r['boot']]}")
        if r["cmdline"]:
            desc.append("\ncmdline: " + _shorten(_t(r["cmdline"]), CMDLINE_SHOWN), "dim")
        g.add_row(f"#{r['boot']}", desc)
    return _block("boots", str(len(rows)), g)


def _per_boot(t: pa.Table | None, keep: Callable[[dict[str, Any]], bool]) -> Counter[int]:
    rows = [] if t is None else t.to_pylist()
    return Counter(r["boot"] for r in rows if keep(r))


def _boots_aggregated(rows: list[dict[str, Any]], tables: Mapping[str, pa.Table]) -> Text:
    """Many boots (a fuzzer's or a fleet's logs): kernels, time logged, OOM kill rate, and the
    boots with the most severe findings, kills and events."""
    releases = Counter(r["release"] for r in rows if r["release"])
    kernels = ", ".join(f"{_t(k)} ×{n}" if n > 1 else _t(k) for k, n in releases.most_common(3))
    if len(releases) > 3:
        kernels += f" and {len(releases) - 3} more"
    unknown = len(rows) - releases.total()
    text = Text(f"kernels: {kernels}; {unknown} unknown" if unknown else f"kernels: {kernels}")
    spans = [r["ts_last"] - r["ts_first"] for r in rows if r["ts_first"] is not None]
    hours = sum(spans) / 3600
    text.append(f"\ntime logged: {hours:,.2f} h in {len(spans)} timed boot(s)")
    hosts = {r["host"] for r in rows if r["host"]}
    if hosts:
        text.append(f"; {len(hosts)} host(s)")
    kills = _per_boot(tables.get("oom_events"), lambda r: r["victim_pid"] is not None)
    if kills:
        rate = f", {kills.total() / hours:,.1f} per hour logged" if hours else ""
        text.append(f"\nOOM kills: {kills.total()} in {len(kills)} boot(s){rate}")
    findings = tables.get("findings")
    ranks = {
        "critical finding(s)": _per_boot(findings, lambda r: r["severity"] == "critical"),
        "warning finding(s)": _per_boot(findings, lambda r: r["severity"] == "warning"),
        "OOM kill(s)": kills,
        "event(s)": _per_boot(tables.get("events"), lambda r: True),
    }
    worst = sorted(rows, key=lambda r: (*(-n[r["boot"]] for n in ranks.values()), r["boot"]))
    text.append(f"\nworst {min(WORST_BOOTS, len(worst))} (findings, kills, events):", "bold")
    for r in worst[:WORST_BOOTS]:
        counts = ", ".join(f"{n[r['boot']]} {what}" for what, n in ranks.items() if n[r["boot"]])
        text.append(
            f"\n#{r['boot']} {_t(r['release'] or '(release unknown)')}, lines "
            f"{_n(r['line_start'])}-{_n(r['line_end'])} of {_t(PurePath(r['source']).name)}: "
            + (counts or "nothing found")
        )
    return text


def _events(t: pa.Table) -> RenderableType:
    corrupted = t.column("corrupted").to_pylist()
    head = f"{_n(t.num_rows)}"
    if any(corrupted):
        head += f" ({_n(sum(bool(c) for c in corrupted))} corrupted)"
    by_kind: dict[str, list[int]] = {}
    names: dict[str, Counter[str]] = {}
    for kind, bad, comm in zip(
        t.column("kind").to_pylist(), corrupted, t.column("comm").to_pylist(), strict=True
    ):
        counts = by_kind.setdefault(kind, [0, 0])
        counts[0] += 1
        counts[1] += bool(bad)
        if comm is not None:
            names.setdefault(kind, Counter())[comm] += 1
    g = _grid("left", "right", "left")
    for kind, (n_events, n_bad) in sorted(by_kind.items()):
        detail = Text(f"{_n(n_bad)} corrupted" if n_bad else "")
        if kind in names:
            top = ", ".join(_t(c) for c, _ in names[kind].most_common(TOP_NAMES))
            detail.append(("  " if n_bad else "") + f"tasks: {top}")
        g.add_row(Text(_t(kind)), _n(n_events), detail)
    return _block("events", head, g)


def _lines(stats: LineStats) -> RenderableType:
    text = Text(f"{_n(stats.n_lines)} ({_n(stats.n_unparsed)} unparsed)")
    if stats.flags:
        flagged = ", ".join(f"{name} {_n(n)}" for name, n in stats.flags.most_common())
        text.append(f"; flagged: {flagged}")
    return _block("lines", text)


def _families(tables: Mapping[str, pa.Table]) -> RenderableType | None:
    rows = [(name, t) for name, t in tables.items() if name not in CORE and t.num_rows]
    if not rows:
        return None
    g = _grid("left", "right", "left")
    for name, t in rows:
        extra = SECTIONS.get(name)
        g.add_row(name, _n(t.num_rows), extra(t) if extra else None)
    return _block("tables", "rows per family table", g)


@section("printk_loss")
def _printk_loss(t: pa.Table) -> RenderableType | None:
    """Messages known lost, per kind of marker: the capture is incomplete by this much."""
    totals: dict[str, list[int]] = {}
    for kind, count in zip(
        t.column("kind").to_pylist(), t.column("count").to_pylist(), strict=True
    ):
        n = totals.setdefault(kind, [0, 0])
        n[0] += 1
        n[1] += count or 0
    parts = [
        f"{_t(kind)}: {_n(markers)} marker(s), {_n(lost)} messages" if lost
        else f"{_t(kind)}: {_n(markers)} marker(s)"
        for kind, (markers, lost) in sorted(totals.items())
    ]  # fmt: skip
    return Text("\n".join(parts), style="dim")


def _top(values: list[object], k: int = 3) -> str:
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return "unknown"
    return ", ".join(f"{_t(v)} ×{n}" if n > 1 else _t(v) for v, n in counts.most_common(k))


def _max(values: list[object]) -> float | None:
    known = [float(v) for v in values if v is not None and not math.isnan(float(v))]  # type: ignore[arg-type]
    return max(known) if known else None


@section("oom_events")
def _oom_events(t: pa.Table) -> RenderableType | None:
    """Who was killed, how the OOMs were constrained, and whether the reaper got there."""
    d = t.select(["kind", "victim_comm", "reaped", "complete"]).to_pydict()
    reaped = sum(1 for r in d["reaped"] if r is True)
    lines = [
        f"kinds: {_top(d['kind'])}",
        f"victims: {_top(d['victim_comm'])}",
        f"reaped {_n(reaped)}, incomplete {_n(sum(1 for c in d['complete'] if c is False))}",
    ]
    return Text("\n".join(lines), style="dim")


@section("oom_explain")
def _oom_explain(t: pa.Table) -> RenderableType | None:
    """One plain-words line per OOM (the first few): request, zones, swap, victim, memory.
    An OOM without a Mem-Info dump (a kill line alone) has no explanation: counted, not shown."""
    ids, summaries = t.column("oom_id").to_pylist(), t.column("summary").to_pylist()
    explained = [(i, s) for i, s in zip(ids, summaries, strict=True) if s]
    lines = [f"#{i}: {_t(s)}" for i, s in explained[:MAX_OOMS]]
    if len(explained) > MAX_OOMS:
        lines.append(f"... {len(explained) - MAX_OOMS} more (oom_explain table)")
    if len(explained) < t.num_rows:
        lines.append(f"{t.num_rows - len(explained)} without a Mem-Info dump to explain them")
    return Text("\n".join(lines), style="dim")


@section("alloc_stalls")
def _alloc_stalls(t: pa.Table) -> RenderableType | None:
    """The longest allocation stall and who stalled."""
    d = t.select(["comm", "stall_ms", "order"]).to_pydict()
    longest = _max(d["stall_ms"])
    head = f"longest {longest / 1000:,.1f} s; " if longest is not None else ""
    return Text(f"{head}tasks: {_top(d['comm'])}; orders: {_top(d['order'])}", style="dim")


@section("alloc_failures")
def _alloc_failures(t: pa.Table) -> RenderableType | None:
    d = t.select(["comm", "order"]).to_pydict()
    return Text(f"orders: {_top(d['order'])}; tasks: {_top(d['comm'])}", style="dim")


@section("memalloc")
def _memalloc(t: pa.Table) -> RenderableType | None:
    """kmallocwd: how many distinct tasks stalled and the longest delay (in jiffies, and in
    seconds when HZ is known: `--hz` or inferred)."""
    d = t.select(["pid", "comm", "delay_jiffies", "delay_s"]).to_pydict()
    longest, seconds = _max(d["delay_jiffies"]), _max(d["delay_s"])
    delay = f"; longest delay {longest:,.0f} jiffies" if longest is not None else ""
    if seconds is not None:
        delay += f" ({seconds:,.1f} s)"
    return Text(f"{_n(len(set(d['pid'])))} distinct tasks{delay}; {_top(d['comm'])}", style="dim")


@section("hung_tasks")
def _hung_tasks(t: pa.Table) -> RenderableType | None:
    d = t.select(["comm", "blocked_s"]).to_pydict()
    longest = _max(d["blocked_s"])
    head = f"longest {longest:,.0f} s; " if longest is not None else ""
    return Text(f"{head}tasks: {_top(d['comm'])}", style="dim")


@section("lockups")
def _lockups(t: pa.Table) -> RenderableType | None:
    return Text(f"kinds: {_top(t.column('kind').to_pylist())}", style="dim")


def _kb(x: int | None) -> str:
    if x is None:
        return "RSS ?"
    if x >= 1 << 20:
        return f"{x / (1 << 20):,.1f} GiB"
    return f"{x / (1 << 10):,.1f} MiB" if x >= 1 << 10 else f"{x:,} kB"


def _worst_kills(tables: Mapping[str, pa.Table]) -> RenderableType | None:
    """The worst incident first: OOM victims by the RSS they held, then kills per boot and
    per memcg (the service), as peers rank them."""
    ranked = ranked_kills(tables)
    if not ranked:
        return None
    several = len({r["source"] for r in ranked}) > 1
    g = _grid("right", "left")
    for r in ranked[:WORST_KILLS]:
        where = f"boot {r['boot']}, line {_n(r['kill_line_no'])}"
        if several:  # line numbers count per input
            where += f" of {_t(PurePath(r['source']).name)}"
        detail = ", ".join(
            _t(x) for x in (r["constraint"] or r["kind"], victim_memcg(r)) if x is not None
        )
        desc = Text(f"{_t(r['victim_comm'] or '?')}({r['victim_pid']})", style="bold")
        desc.append(f"  {where}" + (f"  {detail}" if detail else ""))
        g.add_row(_kb(victim_rss_kb(r)), desc)
    all_kills = kills(tables)
    by_boot = Counter(r["boot"] for r in all_kills)
    by_memcg = Counter(m for m in map(victim_memcg, all_kills) if m is not None)
    counts = []
    if len(by_boot) > 1:
        counts.append("per boot: " + ", ".join(f"#{b} {n}" for b, n in by_boot.most_common(5)))
    if by_memcg:
        counts.append("per memcg: " + ", ".join(f"{_t(m)} {n}" for m, n in by_memcg.most_common(5)))
    head = f"{len(all_kills)} OOM kill(s), worst first by victim RSS (anon+file+shmem)"
    body = Group(g, Text("\n".join(counts), style="dim")) if counts else g
    return _block("kills", head, body)


def summarize(
    tables: Mapping[str, pa.Table] | Capture, stats: LineStats | None = None
) -> RenderableType:
    """The summary as a rich renderable. `tables` is a Capture or its Arrow tables; `stats`
    is needed only when `lines` is not among them (the CLI streams it)."""
    if isinstance(tables, Capture):
        tables = tables.arrow
    if stats is None:
        if "lines" not in tables:
            raise ValueError("summarize() needs the `lines` table or a LineStats")
        stats = LineStats.of(tables["lines"], tables.get("unparsed"))
    parts: list[RenderableType] = []
    conclusion = verdict(tables)
    if conclusion is not None:
        parts.append(conclusion)
    worst = _worst_kills(tables)
    if worst is not None:
        parts.append(worst)
    if "sources" in tables:
        parts.append(_sources(tables["sources"], stats))
    if "boots" in tables and tables["boots"].num_rows:
        parts.append(_boots(tables["boots"], tables))
    parts.append(_lines(stats))
    if "events" in tables and tables["events"].num_rows:
        parts.append(_events(tables["events"]))
    families = _families(tables)
    if families is not None:
        parts.append(families)
    return Group(*parts)


def summary_text(
    tables: Mapping[str, pa.Table] | Capture, stats: LineStats | None = None, width: int = 100
) -> str:
    """The summary as plain text (no colors)."""
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, highlight=False).print(
        summarize(tables, stats)
    )
    return buf.getvalue()
