"""The task table of an OOM dump (mm/oom_kill.c dump_tasks(): `Tasks state (memory values in
pages):`, a header `[  pid  ]   uid  tgid total_vm      rss … name` whose columns changed
over the years, one row per task) as `oom_tasks` rows, read by parsers/oom.py.

A header lost to printk drops or a syslog rate limit leaves rows nobody can read; the same
boot printed that layout with every earlier dump, so `Layouts` keeps the last one per source
and boot and a headless table reuses it (noted in the dump's reason).
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from .base import EVENT_ID, Line, Problems, TableSchema, col


def _int(s: str | None) -> int | None:
    if s is None:
        return None
    try:
        return int(s)
    except ValueError:
        return None


# a row, or a row behind a printk stamp the lines layer could not read (`[   12:728748] `,
# damaged in transit): the row is kept, its reason names the damaged prefix
TASK_ROW = re.compile(r"^(?P<damaged>\[[^\]\[]{1,24}\] ?)?\[\s*(?P<pid>-?\d+)\]")

# task-table header word -> oom_tasks column (page counts unless named _bytes)
_TASK_COLS = {
    "uid": "uid",
    "tgid": "tgid",
    "total_vm": "total_vm_pages",
    "rss": "rss_pages",
    "rss_anon": "rss_anon_pages",
    "rss_file": "rss_file_pages",
    "rss_shmem": "rss_shmem_pages",
    "nr_ptes": "nr_ptes_pages",
    "nr_pmds": "nr_pmds_pages",
    "pgtables_bytes": "pgtables_bytes",
    "swapents": "swapents_pages",
    "cpu": "cpu",
    "oom_adj": "oom_adj",
    "oom_score_adj": "oom_score_adj",
}

OOM_TASKS = TableSchema(
    "oom_tasks",
    "The task table of each dump (dump_tasks), one row per task, values as printed plus kB.",
    (
        EVENT_ID,
        col("oom_id", pa.int64(), "", "the `oom_events` row"),
        col("line_no", pa.int64(), "", "line of the row"),
        col("pid", pa.int64(), "", "pid"),
        col("uid", pa.int64(), "", "uid"),
        col("tgid", pa.int64(), "", "thread group id"),
        col("total_vm_pages", pa.int64(), "pages", "virtual size"),
        col("rss_pages", pa.int64(), "pages", "resident set"),
        col("rss_anon_pages", pa.int64(), "pages", "anonymous RSS (6.9+)"),
        col("rss_file_pages", pa.int64(), "pages", "file RSS (6.9+)"),
        col("rss_shmem_pages", pa.int64(), "pages", "shmem RSS (6.9+)"),
        col("nr_ptes_pages", pa.int64(), "pages", "page-table pages (3.7-4.14)"),
        col("nr_pmds_pages", pa.int64(), "pages", "PMD pages (4.1-4.14)"),
        col("pgtables_bytes", pa.int64(), "bytes", "page tables (4.15+)"),
        col("swapents_pages", pa.int64(), "pages", "swap entries (3.7+)"),
        col("cpu", pa.int32(), "", "last CPU (<= 3.6)"),
        col("oom_adj", pa.int32(), "", "legacy oom_adj (<= 3.6)"),
        col("oom_score_adj", pa.int32(), "", "oom_score_adj"),
        col("name", pa.string(), "", "comm (untrusted text, may hold spaces)"),
        col("layout", pa.string(), "", "the table's header columns, space-joined"),
        col("total_vm_kb", pa.int64(), "kB", "total_vm_pages × page_kb"),
        col("rss_kb", pa.int64(), "kB", "rss_pages × page_kb"),
        col("rss_anon_kb", pa.int64(), "kB", "rss_anon_pages × page_kb"),
        col("rss_file_kb", pa.int64(), "kB", "rss_file_pages × page_kb"),
        col("rss_shmem_kb", pa.int64(), "kB", "rss_shmem_pages × page_kb"),
        col("swapents_kb", pa.int64(), "kB", "swapents_pages × page_kb"),
        col(
            "pgtables_kb",
            pa.int64(),
            "kB",
            "pgtables_bytes / 1024, or (nr_ptes + nr_pmds) × page_kb",
        ),
        col("is_victim", pa.bool_(), "", "the task killed by this OOM"),
        col("reason", pa.string(), "", "why a value is missing (unreadable field), else null"),
    ),
)


_TASK_ROW_TEMPLATE: dict[str, Any] = dict.fromkeys(c.name for c in OOM_TASKS.columns)


class TaskTable:
    """Column layout of one dump_tasks table, from its header line."""

    def __init__(self, header: str | None) -> None:
        self.columns: list[str] = []
        self.layout: str | None = None
        if header is not None:
            words = header.split("]", 1)[1].split()
            if words and words[-1] == "name":
                words = words[:-1]
            self.columns = words
            self.layout = " ".join(["pid", *words, "name"])
        n = len(self.columns)
        # `%5hd %s`: exactly one space before the name, which may itself hold spaces
        self.rx = re.compile(r"^\[\s*(\S+)\]" + r"\s+(\S+)" * n + r" (.*)$") if n else None

    def parse(self, text: str) -> dict[str, Any]:
        damaged = TASK_ROW.match(text)
        prefix = damaged["damaged"] if damaged is not None else None
        if prefix:
            text = text[len(prefix) :]
        row = dict(_TASK_ROW_TEMPLATE)
        row["layout"] = self.layout
        bad: list[str] = []
        m = self.rx.match(text) if self.rx is not None else None
        if m is not None:
            row["pid"] = _int(m[1])
            for i, name in enumerate(self.columns):
                target = _TASK_COLS.get(name)
                if target is None:
                    continue
                v = _int(m[i + 2])
                if v is None:
                    bad.append(name)
                row[target] = v
            row["name"] = m[len(self.columns) + 2]
        else:
            # no header, or a row whose fields do not fit it: keep what is unambiguous
            tokens = text.split("]", 1)
            row["pid"] = _int(tokens[0].lstrip("[").strip())
            rest = tokens[1].split() if len(tokens) > 1 else []
            for name, token in zip(("uid", "tgid", "total_vm", "rss"), rest, strict=False):
                row[_TASK_COLS[name]] = _int(token)
            row["name"] = rest[-1] if len(rest) > 4 else None
            bad.append("row does not fit the header" if self.rx is not None else "no header")
        if row["pid"] is None:
            bad.append("pid")
        row["reason"] = f"unreadable {', '.join(bad)}" if bad else None
        if prefix:
            note = f"damaged line prefix {prefix.strip()!r}"
            row["reason"] = f"{row['reason']}; {note}" if bad else note
        return row


class Layouts:
    """The last task-table header of each (source, boot), for tables that lost theirs."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, int], tuple[str, int]] = {}

    def table(self, line: Line, is_header: bool) -> TaskTable:
        """The table a `Tasks state` line (is_header False) or a header line opens."""
        if not is_header:
            return TaskTable(None)
        self._last[(line.source, line.boot)] = (line.text, line.line_no)
        return TaskTable(line.text)

    def reuse(self, row: Line, table: TaskTable | None, problems: Problems) -> TaskTable:
        """A table for a row that came without a header: the boot's last layout if any."""
        last = self._last.get((row.source, row.boot))
        if last is None:
            if table is None:
                problems.append(f"task table without header (line {row.line_no})")
                return TaskTable(None)
            return table
        problems.append(
            f"task table header lost before line {row.line_no}: layout of line {last[1]} reused"
        )
        return TaskTable(last[0])
