"""The report's sections, built from the tables: findings with evidence, episodes, OOM kills,
stalled tasks with oom_lock and reclaim classes, and the capture summary."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import pyarrow as pa

from stalllog.report.analysis import ranked_findings
from stalllog.report.excerpts import LineBook, line_numbers, trace_context
from stalllog.report.model import (
    MAX_ROWS,
    Finding,
    Paragraph,
    Section,
    Table,
    cut_table,
    kb,
    kernel_lost,
    kill_count,
    known,
    num,
    rows,
    span_text,
    task,
)
from stalllog.report.worst import WORST_KILLS, ranked_kills, victim_memcg, victim_rss_kb

TOP_COMMANDS = 10  # commands listed by RSS


def _boot_sources(tables: Mapping[str, pa.Table]) -> dict[int, str]:
    return {b["boot"]: b["source"] for b in rows(tables, "boots")}


def findings_section(tables: Mapping[str, pa.Table]) -> Section:
    section = Section("findings", "Findings")
    ranked = ranked_findings(tables.get("findings"))[:MAX_ROWS]
    sources = _boot_sources(tables)
    wanted: dict[str, set[int]] = defaultdict(set)
    context: dict[int, list[int]] = {}
    for r in ranked:
        source, cited = sources.get(r["boot"], ""), line_numbers(r["evidence"])
        context[r["finding"]] = trace_context(tables.get("stacks"), source, cited)
        wanted[source].update(cited, context[r["finding"]])
    book = LineBook(tables.get("lines"), wanted)
    several = len(set(sources.values())) > 1
    for r in ranked:
        where = f"{r['kind']}; boot {r['boot']}"
        if several:  # line numbers count per input
            where += f" of {PurePath(sources.get(r['boot'], '?')).name}"
        if r["episode"] is not None:
            where += f", episode {r['episode']}"
        excerpt = book.excerpt(sources.get(r["boot"], ""), r["evidence"], context[r["finding"]])
        section.blocks.append(
            Finding(r["severity"], r["text"], where, r["evidence"] or "", excerpt)
        )
    n = 0 if "findings" not in tables else tables["findings"].num_rows
    if n > MAX_ROWS:
        section.blocks.append(Paragraph(f"{MAX_ROWS} of {n} findings; all: stalllog analyze"))
    return section


def _episode_span(e: dict[str, Any]) -> tuple[str, str, str]:
    if e["clock"] == "line":
        return f"line {e['first_line']}", f"line {e['last_line']}", "?"
    return (
        num(e["start_ts"], unit=" s"),
        num(e["end_ts"], unit=" s"),
        num(e["duration_s"], "{:,.0f}", " s"),
    )


def episodes_section(tables: Mapping[str, pa.Table]) -> Section:
    section = Section("episodes", "Stall episodes")
    body = []
    for e in rows(tables, "episodes"):
        start, end, duration = _episode_span(e)
        longest = num(e["longest_stall_s"], "{:,.0f}", " s")
        outcome = e["outcome"] + (
            f" (line {e['outcome_line']})" if e["outcome_line"] is not None else ""
        )
        body.append(
            [str(e["episode"]), str(e["boot"]), start, end, duration, str(e["peak_stalled"]),
             longest, str(e["kills"]), outcome]
        )  # fmt: skip
    if body:
        cols = ["#", "boot", "start", "end", "duration", "peak stalled", "longest", "kills"]
        section.blocks.append(
            cut_table([*cols, "outcome"], body, "the episodes table", numeric=frozenset(range(8)))
        )
        if any(not known(e["longest_stall_s"]) for e in rows(tables, "episodes")):
            section.blocks.append(
                Paragraph("longest ?: kmallocwd counts jiffies and HZ was not known (--hz N)")
            )
    return section


def _where(r: dict[str, Any]) -> str:
    where = r["constraint"] or r["kind"] or "?"
    memcg = r["oom_memcg"] or r["task_memcg"]
    return f"{where} {memcg}" if memcg and memcg != "/" else where


def _kill_row(r: dict[str, Any]) -> list[str]:
    where = _where(r)
    gfp = f"{r['gfp_flags'] or num(r['gfp_mask'], '{:#x}')} order {num(r['order'], '{}')}"
    return [
        num(r["ts_kill"], "{:,.3f}"), str(r["kill_line_no"]),
        task(r["victim_comm"], r["victim_pid"]), kb(victim_rss_kb(r)), where,
        task(r["trigger_comm"], r["trigger_pid"]), gfp,
    ]  # fmt: skip


def _worst_kills(tables: Mapping[str, pa.Table]) -> Table:
    """The kills by victim RSS, largest first: the worst incident leads the section."""
    ranked = ranked_kills(tables)
    body = [
        [str(i), task(r["victim_comm"], r["victim_pid"]), kb(victim_rss_kb(r)), str(r["boot"]),
         str(r["kill_line_no"]), _where(r)]
        for i, r in enumerate(ranked[:WORST_KILLS], 1)
    ]  # fmt: skip
    shown = min(WORST_KILLS, len(ranked))
    note = f"{shown} of {len(ranked):,} kills" if len(ranked) > shown else None
    cols = ["#", "victim", "RSS", "boot", "line", "constraint / memcg"]
    title = "Worst kills (victim RSS: anon + file + shmem)"
    return Table(cols, body, title=title, note=note, numeric=frozenset({0, 2, 3, 4}))


def _top_commands(tables: Mapping[str, pa.Table]) -> Table | None:
    """Per command: its largest total RSS within one OOM dump's task table."""
    per_dump: dict[tuple[Any, str], list[int]] = defaultdict(lambda: [0, 0])
    for t in rows(tables, "oom_tasks"):
        if t["rss_kb"] is not None and t["name"] is not None:
            cell = per_dump[(t["oom_id"], t["name"])]
            cell[0] += t["rss_kb"]
            cell[1] += 1
    best: dict[str, list[int]] = {}
    for (_, name), (rss, n) in per_dump.items():
        if name not in best or rss > best[name][0]:
            best[name] = [rss, n]
    if not best:
        return None
    top = sorted(best.items(), key=lambda kv: -kv[1][0])[:TOP_COMMANDS]
    body = [[name, kb(rss), str(n)] for name, (rss, n) in top]
    cols = ["command", "RSS (largest in one dump)", "processes"]
    title = "Top commands by RSS (OOM task tables)"
    return Table(cols, body, title=title, numeric=frozenset({1, 2}))


def _counts(title: str, what: str, values: list[Any]) -> Table:
    c = Counter(v if v is not None else "?" for v in values)
    body = [[str(k), str(n)] for k, n in c.most_common(TOP_COMMANDS)]
    note = f"{TOP_COMMANDS} of {len(c)}" if len(c) > TOP_COMMANDS else None
    return Table([what, "kills"], body, title=title, note=note, numeric=frozenset({1}))


def kills_section(tables: Mapping[str, pa.Table]) -> Section:
    section = Section("kills", "OOM kills")
    ooms = rows(tables, "oom_events")
    kills = [r for r in ooms if r["victim_pid"] is not None]
    if not ooms:
        return section
    n_no = len(ooms) - len(kills)
    head = f"{kill_count(tables):,} kill(s) in {len(ooms):,} OOM report(s)"
    section.blocks.append(Paragraph(head + (f"; {n_no} without a kill line." if n_no else ".")))
    if kills:
        section.blocks.append(_worst_kills(tables))
        cols = ["time (s)", "line", "victim", "RSS", "constraint / memcg", "invoked by", "gfp"]
        body = [_kill_row(r) for r in kills]
        t = cut_table(cols, body, "the oom_events table", numeric=frozenset({0, 1, 3}))
        section.blocks.append(Table(t.columns, t.rows, "All kills, in order", t.note, t.numeric))
        section.blocks.append(
            _counts("Kills per command", "command", [r["victim_comm"] for r in kills])
        )
        memcgs = [victim_memcg(r) for r in kills]
        if any(m is not None for m in memcgs):
            section.blocks.append(_counts("Kills per cgroup", "cgroup", memcgs))
        if len({r["boot"] for r in kills}) > 1:
            section.blocks.append(_counts("Kills per boot", "boot", [r["boot"] for r in kills]))
    top = _top_commands(tables)
    if top is not None:
        section.blocks.append(top)
    return section


def _stalled(tables: Mapping[str, pa.Table]) -> Table | None:
    st = rows(tables, "stalled_tasks")
    if not st:
        return None
    st.sort(key=lambda r: (-(r["max_delay_s"] if known(r["max_delay_s"]) else -1),
                           -(r["n_reports"] or 0)))  # fmt: skip
    body = [
        [task(r["comm"], r["pid"]), num(r["episode"], "{}"), str(r["n_reports"]),
         num(r["max_delay_s"], "{:,.1f}", " s"), r["stuck_in"] or "?",
         r["stuck_detail"] or "", f"{r['first_line']}-{r['last_line']}"]
        for r in st
    ]  # fmt: skip
    cols = ["task", "episode", "reports", "longest", "stuck in", "detail", "lines"]
    t = cut_table(cols, body, "the stalled_tasks table", numeric=frozenset({1, 2, 3}))
    return Table(t.columns, t.rows, "Top stalled tasks", t.note, t.numeric)


def _oom_lock(tables: Mapping[str, pa.Table]) -> Table | None:
    held = rows(tables, "oom_lock")
    if not held:
        return None
    held.sort(key=lambda r: -(r["held_s"] if known(r["held_s"]) else -1))
    body = [
        [task(r["comm"], r["pid"]), str(r["boot"]), num(r["start_ts"], "{:,.3f}"),
         num(r["held_s"], "{:,.2f}", " s"), str(r["waiters"]), r["ended_by"],
         f"{r['start_line']}-{r['end_line']}"]
        for r in held
    ]  # fmt: skip
    cols = ["holder", "boot", "from (s)", "held", "waiters", "ended by", "lines"]
    t = cut_table(cols, body, "the oom_lock table", numeric=frozenset({1, 2, 3, 4}))
    return Table(t.columns, t.rows, "oom_lock holders (longest first)", t.note, t.numeric)


def _reclaim(tables: Mapping[str, pa.Table]) -> Table | None:
    rc = rows(tables, "reclaim")
    if not rc:
        return None
    body = [
        [str(r["episode"]), r["stuck_in"] or "no trace printed", r["stuck_detail"] or "",
         str(r["n_tasks"]), str(r["n_reports"]), r["pids"] or "", str(r["example_line"])]
        for r in rc
    ]  # fmt: skip
    cols = ["episode", "class", "detail", "tasks", "reports", "pids", "e.g. line"]
    t = cut_table(cols, body, "the reclaim table", numeric=frozenset({0, 3, 4, 6}))
    return Table(t.columns, t.rows, "What the stalled tasks were doing, per episode", t.note,
                 t.numeric)  # fmt: skip


def stalls_section(tables: Mapping[str, pa.Table]) -> Section:
    parts = [_stalled(tables), _oom_lock(tables), _reclaim(tables)]
    return Section("stalls", "Stalled tasks, oom_lock, reclaim", [p for p in parts if p])


def capture_summary(tables: Mapping[str, pa.Table]) -> Section:
    boots = rows(tables, "boots")
    kernels = sorted({b["release"] for b in boots if b["release"]})
    prefixes = sorted({k for b in boots for k in (b["prefix_kinds"] or "").split(", ") if k})
    lines = tables.get("lines")
    unparsed = tables.get("unparsed")
    facts = [
        ("kernels", ", ".join(kernels) or "unknown"),
        ("boots", f"{len(boots):,}"),
        ("span", span_text(tables)),
        ("prefix kinds", ", ".join(prefixes) or "none"),
        ("lines", f"{lines.num_rows:,}" if lines is not None else "?"),
        ("lines no family claimed", f"{unparsed.num_rows:,}" if unparsed is not None else "?"),
        ("messages lost (printk)", f"{kernel_lost(tables):,}"),
    ]
    section = Section("capture", "Capture", [Table(["", ""], [list(f) for f in facts])])
    body = [
        [PurePath(s["source"]).name, s["compression"] or "", f"{s['n_lines']:,}",
         f"{s['n_bytes']:,}", s["error"] or ""]
        for s in rows(tables, "sources")
    ]  # fmt: skip
    if body:
        cols = ["source", "compression", "lines", "bytes", "problem"]
        section.blocks.append(cut_table(cols, body, "the sources table", numeric=frozenset({2, 3})))
    return section
