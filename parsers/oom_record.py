"""One `oom_events` row being built and what keeps its derived columns right as later lines
(kill, reaper, group members, a continued dump) update it: the row is a plain dict already
handed to the sink, and its task rows are derived incrementally."""

from __future__ import annotations

from typing import Any

from .base import Problems

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
