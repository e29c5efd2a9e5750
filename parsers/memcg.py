"""Memory-cgroup part of an OOM report (mm/memcontrol.c), parsed for the OOM block.

The OOM block (parsers/oom.py) creates a `MemcgInfo` on the first line for which
`is_memcg_start` is true and feeds it lines until it answers END. Formats (FORMATS-memory.md §4):

* context, <= 4.19: `Task in <path> killed as a result of limit of <path>` (2.6.29-3.14 the tail
  is a KERN_CONT piece, so syslog may split it after `killed`); ~4.x with no task:
  `Memory limit reached of cgroup <path>`. 5.0+ moved both paths into the `oom-kill:` line.
* counters: `<name>: usage %llukB, limit %llukB, failcnt %lu` for `memory`, then v1
  `memory+swap` and (3.8+) `kmem`, or v2 `swap`. Unlimited limits are PAGE_COUNTER_MAX in kB
  (`9007199254740988kB` with 4K pages) or, with res_counter (<= 3.18), RES_COUNTER_MAX.
* stats, <= 5.2: one line per memcg of the subtree,
  `Memory cgroup stats for <path>: cache:0KB rss:524288KB ...` (KB);
  5.3+ (c8713d0b2312 "mm: memcontrol: dump memory.stat during cgroup OOM"):
  `Memory cgroup stats for <path>:` then memory.stat as `key value` lines, in bytes except the
  event counters (`pgfault`, `workingset_*`, `thp_fault_alloc`, ...); 6.5+ prints each line as
  its own record and cgroup v1 prints v1 keys (`cache`, `total_rss`, `hierarchical_*`).
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from .base import EVENT_ID, Block, Feed, Line, SubParser, TableSchema, col

__all__ = ["MEMCG", "MEMCG_STAT", "TABLES", "MemcgInfo", "is_memcg_start"]

_TASK_IN = re.compile(r"^Task in (?P<task>.*) killed as a result of limit of (?P<limit>.*?)\s*$")
_TASK_IN_HEAD = re.compile(r"^Task in (?P<task>.*) killed\s*$")
_AS_RESULT = re.compile(r"^\s*as a result of limit of (?P<limit>.*?)\s*$")
_LIMIT_REACHED = re.compile(r"^Memory limit reached of cgroup (?P<limit>.*?)\s*$")
_COUNTER = re.compile(r"^(?P<name>memory\+swap|memory|kmem|swap): usage ")
_USAGE = re.compile(r"usage (?P<v>\S*?)kB,")
_LIMIT = re.compile(r"limit (?P<v>\S*?)kB,")
_FAILCNT = re.compile(r"failcnt (?P<v>\S+?)\s*$")
# <= 5.2: path, then ` key:NKB` items (some kernels leave a trailing space)
_STATS_OLD = re.compile(
    r"^Memory cgroup stats for (?P<path>.*?):(?P<items>(?: [A-Za-z_]\w*:\d+KB)+)\s*$"
)
_STATS_NEW = re.compile(r"^Memory cgroup stats for (?P<path>.*):\s*$")
# a name starts a word or follows the previous item's `KB` (never mid-word: that re-scans the
# word at every position, quadratic on a hostile line)
_ITEM = re.compile(r"(?:(?<![\w])|(?<=\dKB))([A-Za-z_]\w*):(\d+)KB")
_ITEMS_ONLY = re.compile(r"^\s*(?:[A-Za-z_]\w*:\d+KB\s*)+$")  # a wrapped tail of an old line
_KV = re.compile(r"^\s*(?P<key>[a-z][a-z0-9_]*) (?P<value>\d+)\s*$")
# memory.stat event counters (everything else in memory.stat is bytes)
_COUNT_KEY = re.compile(
    r"^(?:total_)?(?:pg|pswp|workingset_|thp_|zswpin|zswpout|zswpwb|swpin_|swpout_|numa_|ksm_)"
)
# limits at or above 1 EiB are the "no limit" sentinels (PAGE_COUNTER_MAX, RES_COUNTER_MAX)
_UNLIMITED_KB = 1 << 50

MEMCG = TableSchema(
    "memcg",
    "One row per memcg counter line of a memcg OOM report (`memory:`, `memory+swap:`, "
    "`kmem:`, `swap:`).",
    (
        EVENT_ID,
        col("line_no", pa.int64(), "", "line of the counter"),
        col(
            "memcg",
            pa.string(),
            "",
            "the OOM memcg: `limit of` path (<= 4.19) or the first `Memory cgroup stats for` "
            "path; null when the report names neither",
        ),
        col("counter", pa.string(), "", "`memory`, `memory+swap`, `kmem` (v1), `swap` (v2)"),
        col("usage_kb", pa.int64(), "kB", "usage as printed"),
        col("limit_kb", pa.int64(), "kB", "limit as printed (see `unlimited`)"),
        col("failcnt", pa.int64(), "", "times the limit was hit (v2 6.1x+: memory.events max)"),
        col("unlimited", pa.bool_(), "", "the limit is the kernel's no-limit sentinel (>= 1 EiB)"),
        col("reason", pa.string(), "", "why a value is missing (unreadable field), else null"),
    ),
)

MEMCG_STAT = TableSchema(
    "memcg_stat",
    "Long form of `Memory cgroup stats for <path>`: one row per key of each memcg.",
    (
        EVENT_ID,
        col("line_no", pa.int64(), "", "line of the value"),
        col("memcg", pa.string(), "", "cgroup path the stats are for"),
        col(
            "key", pa.string(), "", "stat name as printed (`rss`, `anon`, `pgfault`, `total_cache`)"
        ),
        col("value", pa.int64(), "", "value as printed, in `unit`"),
        col("unit", pa.string(), "", "`KB` (<= 5.2 one-line form), `bytes`, or `count` (events)"),
        col("bytes", pa.int64(), "bytes", "the value in bytes; null for event counters"),
    ),
)

TABLES = (MEMCG, MEMCG_STAT)


def is_memcg_start(text: str) -> bool:
    """The first line of the memcg part: context line, a counter line or a stats header."""
    if text.startswith("Task in "):
        return " killed" in text
    if text.startswith("Memory cgroup stats for ") or text.startswith(
        "Memory limit reached of cgroup "
    ):
        return True
    return " usage " in text and _COUNTER.match(text) is not None


def _int(s: str) -> int | None:
    try:
        return int(s)
    except ValueError:
        return None


class MemcgInfo(SubParser):
    """The memcg lines of one OOM report. After `finish`, `task_memcg`, `oom_memcg` and
    `version` ("v1", "v2" or None) describe what was seen."""

    tables = TABLES

    def __init__(self, owner: Block, first: Line) -> None:
        super().__init__(owner, first)
        self.task_memcg: str | None = None
        self.oom_memcg: str | None = None
        self.version: str | None = None
        self._counters: list[dict[str, Any]] = []
        self._stats: list[dict[str, Any]] = []
        self._stats_path: str | None = None  # path of the stats being read
        self._first_stats_path: str | None = None
        self._mode = ""  # "old": last line was a one-line stats line; "new": key value lines
        self._task_head = False  # `Task in X killed` seen, tail expected on the next line
        if not self._take(first):
            self.problems.append(f"memcg: unreadable line {first.line_no}")

    def feed(self, line: Line) -> Feed:
        return Feed.TAKE if self._take(line) else Feed.END

    def _take(self, line: Line) -> bool:
        text = line.text
        if self._task_head:
            self._task_head = False
            m = _AS_RESULT.match(text)
            if m is not None:
                self.oom_memcg = m["limit"]
                return True
        if self._mode == "new":
            m = _KV.match(text)
            if m is not None:
                self._stat(line, m["key"], int(m["value"]), "new")
                return True
        elif self._mode == "old" and _ITEMS_ONLY.match(text) is not None:
            for key, value in _ITEM.findall(text):
                self._stat(line, key, int(value), "old")
            return True
        self._mode = ""
        if text.startswith("Task in "):
            m = _TASK_IN.match(text)
            if m is not None:
                self.task_memcg, self.oom_memcg = m["task"], m["limit"]
                return True
            m = _TASK_IN_HEAD.match(text)
            if m is not None:
                self.task_memcg = m["task"]
                self._task_head = True
                return True
            return False
        if text.startswith("Memory cgroup stats for "):
            m = _STATS_OLD.match(text)
            if m is not None:
                self._set_stats_path(m["path"])
                for key, value in _ITEM.findall(m["items"]):
                    self._stat(line, key, int(value), "old")
                self._mode = "old"
                return True
            m = _STATS_NEW.match(text)
            if m is None:
                return False
            self._set_stats_path(m["path"])
            self._mode = "new"
            return True
        if text.startswith("Memory limit reached of cgroup "):
            m = _LIMIT_REACHED.match(text)
            if m is not None:
                self.oom_memcg = m["limit"]
            return m is not None
        m = _COUNTER.match(text)
        if m is None:
            return False
        self._counter(line, m["name"], text)
        return True

    def _set_stats_path(self, path: str) -> None:
        self._stats_path = path
        if self._first_stats_path is None:
            self._first_stats_path = path

    def _counter(self, line: Line, name: str, text: str) -> None:
        values: dict[str, int | None] = {}
        bad = []
        for field, rx in (("usage_kb", _USAGE), ("limit_kb", _LIMIT), ("failcnt", _FAILCNT)):
            m = rx.search(text)
            v = _int(m["v"]) if m is not None else None
            if v is None:
                bad.append(field)
            values[field] = v
        if name in ("memory+swap", "kmem"):
            self.version = "v1"
        elif name == "swap":
            self.version = "v2"
        limit = values["limit_kb"]
        self._counters.append(
            {
                "line_no": line.line_no,
                "counter": name,
                **values,
                "unlimited": None if limit is None else limit >= _UNLIMITED_KB,
                "reason": f"unreadable {', '.join(bad)}" if bad else None,
            }
        )
        if bad:
            self.problems.append(f"memcg {name} line {line.line_no}: unreadable {', '.join(bad)}")

    def _stat(self, line: Line, key: str, value: int, form: str) -> None:
        if form == "old":
            unit, nbytes = "KB", value * 1024
        elif _COUNT_KEY.match(key) is not None:
            unit, nbytes = "count", None
        else:
            unit, nbytes = "bytes", value
        self._stats.append(
            {"line_no": line.line_no, "memcg": self._stats_path, "key": key, "value": value,
             "unit": unit, "bytes": nbytes}
        )  # fmt: skip

    def finish(self, cut: str | None) -> None:
        if self._task_head:
            self.problems.append("memcg: `Task in … killed` without its `limit of` part")
        memcg = self.oom_memcg if self.oom_memcg is not None else self._first_stats_path
        for row in self._counters:
            self.owner.row("memcg", memcg=memcg, **row)
        for row in self._stats:
            self.owner.row("memcg_stat", **row)
