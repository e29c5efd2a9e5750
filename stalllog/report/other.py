"""What the capture holds besides stalls and OOMs: allocation failures, hung tasks, and a count
of every report kind, so that a capture without findings still says what is in it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import pyarrow as pa

from stalllog.report.model import Paragraph, Section, Table, cut_table, num, rows, task

# kinds a report section already covers in its own words
_COVERED = {"boot_banner", "cmdline"}


def alloc_failure_text(tables: Mapping[str, pa.Table]) -> str | None:
    """`1 allocation failure(s) (order 3; GFP_ATOMIC) by swapper(0)`: the most frequent tasks."""
    fails = rows(tables, "alloc_failures")
    if not fails:
        return None
    orders = sorted({f["order"] for f in fails if f["order"] is not None})
    flags = Counter(f["gfp_flags"] for f in fails if f["gfp_flags"])
    who = Counter(task(f["comm"], f["pid"]) for f in fails)
    parts = []
    if orders:
        parts.append("order " + ", ".join(str(o) for o in orders))
    if flags:
        parts.append(flags.most_common(1)[0][0])
    detail = f" ({'; '.join(parts)})" if parts else ""
    by = ", ".join(w for w, _ in who.most_common(3))
    return f"{len(fails):,} allocation failure(s){detail} by {by}"


def other_section(tables: Mapping[str, pa.Table]) -> Section:
    section = Section("other", "Allocation failures, hung tasks, other reports")
    fails = rows(tables, "alloc_failures")
    if fails:
        cols = ["time (s)", "line", "task", "kind", "order", "gfp"]
        body = [
            [num(f["ts"], "{:,.1f}"), str(f["line_no"]), task(f["comm"], f["pid"]),
             f["kind"] or "", "" if f["order"] is None else str(f["order"]), f["gfp_flags"] or ""]
            for f in fails
        ]  # fmt: skip
        section.blocks.append(
            cut_table(
                cols,
                body,
                "the alloc_failures table",
                title="Allocation failures",
                numeric=frozenset({0, 1, 4}),
            )
        )
    hung = rows(tables, "hung_tasks")
    if hung:
        cols = ["time (s)", "line", "task", "blocked (s)", "state", "blocked on"]
        body = [
            [num(h["ts"], "{:,.1f}"), str(h["line_no"]), task(h["comm"], h["pid"]),
             num(h["blocked_s"], "{:,.0f}"), h["task_state"] or "",
             task(h["blocker_comm"], h["blocker_pid"]) if h["blocker_pid"] is not None else ""]
            for h in hung
        ]  # fmt: skip
        section.blocks.append(
            cut_table(
                cols, body, "the hung_tasks table", title="Hung tasks", numeric=frozenset({0, 1, 3})
            )
        )
    kinds = Counter(e["kind"] for e in rows(tables, "events") if e["kind"] not in _COVERED)
    if kinds:
        body = [[k, f"{n:,}"] for k, n in kinds.most_common()]
        section.blocks.append(
            Table(
                ["report kind", "reports"],
                body,
                title="Reports in this capture (events)",
                numeric=frozenset({1}),
            )
        )
    else:
        section.blocks.append(Paragraph("No kernel report of any kind was recognized."))
    return section
