"""One `oom_events` row being built and what keeps its derived columns right as later lines
(kill, reaper, group members, a continued dump) update it: the row is a plain dict already
handed to the sink, and its task rows are derived incrementally."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from .base import EVENT_ID, Problems, TableSchema, col

OOM_EVENTS = TableSchema(
    "oom_events",
    "One row per OOM-killer invocation and/or kill, in order of first line. A dump with no "
    "kill line, or a kill line with no dump (rate-limited header), is a row with `complete` "
    "False. Trace, Mem-Info, memcg and task rows of the dump carry the same `event_id`.",
    (
        col("oom_id", pa.int64(), "", "row number in the capture, from 0"),
        EVENT_ID,
        col("boot", pa.int32(), "", "boot number in the capture"),
        col("ts", pa.float64(), "s", "time of the `invoked oom-killer` header (null if none)"),
        col("ts_kill", pa.float64(), "s", "time of the kill (or no-kill outcome) line"),
        col("line_start", pa.int64(), "", "first line of the dump (or of the kill when no dump)"),
        col(
            "line_end",
            pa.int64(),
            "",
            "last line of the dump: kill lines included, and an oom_reaper line right after",
        ),
        col("kill_line_no", pa.int64(), "", "line of `Killed process` (or its substitute)"),
        col("kill_event_id", pa.int64(), "", "event whose block holds the kill line"),
        col("trigger_comm", pa.string(), "", "task that invoked the OOM killer (header)"),
        col("trigger_pid", pa.int64(), "", "its pid (dump_stack header)"),
        col(
            "release",
            pa.string(),
            "",
            "kernel release of the dump_stack header (`uname -r`); lets stalllog decode "
            "hex-only gfp masks of excerpts without a boot banner",
        ),
        col("gfp_mask", pa.int64(), "", "allocation gfp mask as printed (bit layout varies)"),
        col(
            "gfp_flags",
            pa.string(),
            "",
            "flag names of the mask: as printed (4.5+), or decoded by stalllog; null if neither",
        ),
        col("gfp_flags_decoded", pa.bool_(), "", "True when stalllog decoded gfp_flags"),
        col("order", pa.int32(), "", "allocation order; -1 = sysrq-f manual OOM"),
        col("oom_score_adj", pa.int32(), "", "oom_score_adj of the invoking task"),
        col("oom_adj", pa.int32(), "", "legacy oom_adj/oomkilladj of the invoking task (<= 3.6)"),
        col("nodemask", pa.string(), "", "allocation nodemask as printed (`(null)` = none)"),
        col("cpuset", pa.string(), "", "cpuset (cgroup name) of the invoking task"),
        col("mems_allowed", pa.string(), "", "its mems_allowed node list"),
        col("constraint", pa.string(), "", "`CONSTRAINT_*` of the `oom-kill:` line (5.0+)"),
        col("kind", pa.string(), "", "global, memcg, cpuset, mempolicy or sysrq"),
        col(
            "message",
            pa.string(),
            "",
            "prefix of the kill line: `Out of memory`, `Memory cgroup out of memory`, …",
        ),
        col("oom_memcg", pa.string(), "", "memcg whose limit was hit (memcg OOM)"),
        col("task_memcg", pa.string(), "", "memcg of the victim (`Task in`, `task_memcg=`)"),
        col("memcg_version", pa.string(), "", "v1 / v2 from the memcg counter lines"),
        col("oom_group_memcg", pa.string(), "", "memcg killed as a whole (memory.oom.group)"),
        col("selected_pid", pa.int64(), "", "`Kill process P … or sacrifice child` (<= 5.0)"),
        col("selected_comm", pa.string(), "", "its name"),
        col("score", pa.int64(), "", "its badness score as printed"),
        col("victim_pid", pa.int64(), "", "killed process (`Killed process`, else `oom-kill:`)"),
        col("victim_comm", pa.string(), "", "its name"),
        col("victim_uid", pa.int64(), "", "its uid (`uid=` is %d: 4294967294 prints -2)"),
        col("total_vm_kb", pa.int64(), "kB", "victim virtual size (`total-vm`, 2.6 `vsz`)"),
        col("anon_rss_kb", pa.int64(), "kB", "victim anonymous RSS at the kill"),
        col("file_rss_kb", pa.int64(), "kB", "victim file RSS at the kill"),
        col("shmem_rss_kb", pa.int64(), "kB", "victim shmem RSS at the kill (4.5+)"),
        col("pgtables_kb", pa.int64(), "kB", "victim page tables (5.6+)"),
        col(
            "victim_oom_score_adj",
            pa.int32(),
            "",
            "victim oom_score_adj (kill line 5.6+, else its task-table row)",
        ),
        col("n_sharing_killed", pa.int32(), "", "`Kill process … sharing same memory` lines"),
        col("pinned_by_pid", pa.int64(), "", "init-like task pinning the victim mm (no reaping)"),
        col("already_exiting", pa.bool_(), "", "`OOM victim … is already exiting`: no kill"),
        col("no_killable", pa.bool_(), "", "`Out of memory and no killable processes`"),
        col(
            "reaped",
            pa.bool_(),
            "",
            "True: `oom_reaper: reaped`; False: `unable to reap`; null: no reaper line",
        ),
        col("reap_ts", pa.float64(), "s", "time of the oom_reaper line"),
        col("reap_line_no", pa.int64(), "", "line of the oom_reaper line"),
        col("reap_anon_rss_kb", pa.int64(), "kB", "victim anon RSS left after reaping"),
        col("reap_file_rss_kb", pa.int64(), "kB", "victim file RSS left after reaping"),
        col("reap_shmem_rss_kb", pa.int64(), "kB", "victim shmem RSS left after reaping"),
        col("unable_to_reap", pa.bool_(), "", "`oom_reaper: unable to reap pid:`"),
        col("panic", pa.bool_(), "", "the OOM ended in a kernel panic"),
        col("panic_msg", pa.string(), "", "the panic message (`System is deadlocked on memory`)"),
        col("page_kb", pa.int32(), "kB", "page size used for oom_tasks kB (buddy line or victim)"),
        col("n_tasks", pa.int32(), "tasks", "task-table rows of the dump"),
        col("stack_id", pa.int64(), "", "the dump's call trace (`stacks`/`frames`)"),
        col("meminfo_id", pa.int64(), "", "the dump's Mem-Info snapshot"),
        col(
            "complete",
            pa.bool_(),
            "",
            "header and outcome (kill, no killable, already exiting or panic) both seen",
        ),
        col("corrupted", pa.bool_(), "", "a field was unreadable or the dump was cut/interleaved"),
        col("reason", pa.string(), "", "why `corrupted`, `; `-joined"),
    ),
)

EVENT_COLUMNS = tuple(c.name for c in OOM_EVENTS.columns)

PAGES_TO_KB = {
    "total_vm_pages": "total_vm_kb",
    "rss_pages": "rss_kb",
    "rss_anon_pages": "rss_anon_kb",
    "rss_file_pages": "rss_file_kb",
    "rss_shmem_pages": "rss_shmem_kb",
    "swapents_pages": "swapents_kb",
}


class OomRecord:
    """One `oom_events` row (a plain dict already handed to the sink) and what is needed to
    keep its derived columns right as later lines (kill, reaper) update it."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        # task rows, handed to the sink when their block ends (victim and page size known
        # by then: the sink keeps only recent rows mutable)
        self.tasks: list[dict[str, Any]] = []
        self.n_tasks_emitted = 0
        self.problems = Problems()
        self.has_header = False
        self.memcg_seen = False
        self.buddy_page_kb: int | None = None
        self.group_victims: set[int] = set()  # memory.oom.group members killed with it
        # Task rows are derived incrementally: a dump interrupted and continued many times, or
        # a group kill per member, must not walk the whole table again each time.
        self._by_pid: dict[Any, list[dict[str, Any]]] = {}
        self._indexed = 0
        self._derived = 0  # task rows derived under `_basis` (victim pid, page size)
        self._basis: tuple[Any, Any] | None = None
        self._group_order: list[int] = []  # group_victims in the order they were killed
        self._n_marked = 0  # group victims already marked in derived rows

    @property
    def outcome(self) -> bool:
        r = self.row
        return bool(
            (r["victim_pid"] is not None and r["kill_line_no"] is not None)
            or r["already_exiting"]
            or r["no_killable"]
            or r["panic"]
        )

    def refresh(self, tasks: bool = True) -> None:
        """Recompute the derived columns; `tasks=False` leaves the task rows to the block's end
        (a group kill or reaper line per member must not walk the whole task table again)."""
        r = self.row
        r["complete"] = self.has_header and self.outcome
        r["kind"] = self._kind()
        page_kb = self.buddy_page_kb or self._victim_page_kb()
        r["page_kb"] = page_kb
        r["n_tasks"] = len(self.tasks) if self.tasks else r["n_tasks"]
        if tasks:
            self._derive_tasks(r["victim_pid"], page_kb)
        r["corrupted"] = bool(self.problems)
        r["reason"] = "; ".join(self.problems) or None

    def add_group_victim(self, pid: int) -> None:
        if pid not in self.group_victims:
            self.group_victims.add(pid)
            self._group_order.append(pid)

    def _derive_tasks(self, victim: int | None, page_kb: int | None) -> None:
        r = self.row
        self._index_tasks()
        if (victim, page_kb) != self._basis:
            self._basis, self._derived, self._n_marked = (victim, page_kb), 0, 0
        for pid in self._group_order[self._n_marked :]:  # rows derived before it was killed
            for t in self._by_pid.get(pid, ())[: self._derived]:
                t["is_victim"] = True
        self._n_marked = len(self._group_order)
        for t in self.tasks[self._derived :]:
            t["is_victim"] = t["pid"] == victim or t["pid"] in self.group_victims
            if page_kb is not None:
                for pages, kb in PAGES_TO_KB.items():
                    if t[pages] is not None:
                        t[kb] = t[pages] * page_kb
                if t["pgtables_bytes"] is None and t["nr_ptes_pages"] is not None:
                    t["pgtables_kb"] = (t["nr_ptes_pages"] + (t["nr_pmds_pages"] or 0)) * page_kb
            if t["pgtables_bytes"] is not None:
                t["pgtables_kb"] = t["pgtables_bytes"] // 1024
        self._derived = len(self.tasks)
        if r["victim_oom_score_adj"] is None:
            killed = [victim] if victim is not None else []
            for t in (t for p in killed + self._group_order for t in self._by_pid.get(p, ())):
                r["victim_oom_score_adj"] = t["oom_score_adj"]
                return

    def _index_tasks(self) -> None:
        for t in self.tasks[self._indexed :]:
            self._by_pid.setdefault(t["pid"], []).append(t)
        self._indexed = len(self.tasks)

    def _kind(self) -> str | None:
        r = self.row
        msg = r["message"] or ""
        constraint = r["constraint"] or ""
        if r["order"] == -1:
            return "sysrq"
        if (
            constraint == "CONSTRAINT_MEMCG"
            or msg.startswith("Memory cgroup")
            or r["oom_memcg"] is not None
            or self.memcg_seen
        ):
            return "memcg"
        if constraint == "CONSTRAINT_CPUSET" or "cpuset" in msg:
            return "cpuset"
        if constraint == "CONSTRAINT_MEMORY_POLICY" or "MPOL_BIND" in msg:
            return "mempolicy"
        if "system-wide panic_on_oom" in (r["panic_msg"] or ""):
            return "global"  # check_panic_on_oom(): only an unconstrained OOM says system-wide
        if not (msg or constraint):
            # a bare `Killed process` line, or a header cut before its kill, says nothing of
            # the constraint (the 4.19 memcg header excerpt in corpus/posted has neither)
            return None
        return "global"

    def _victim_page_kb(self) -> int | None:
        """Page size from the victim's task row and its `total-vm:` kB (exact when both)."""
        r = self.row
        kb = r["total_vm_kb"]
        if r["victim_pid"] is None or not kb:
            return None
        self._index_tasks()
        for t in self._by_pid.get(r["victim_pid"], ()):
            pages = t["total_vm_pages"]
            if pages and kb % pages == 0:
                ratio = kb // pages
                if ratio & (ratio - 1) == 0:
                    return ratio
        return None
