"""Allocation stall and failure reports: warn_alloc() and its predecessors (mm/page_alloc.c),
vmalloc failures (mm/vmalloc.c) and SLUB's slab_out_of_memory() (mm/slub.c).

Header lines, told apart by their text (FORMATS-memory.md §1):

* `<comm>: page allocation failure. order:%d, mode:0x%x` (2.6.x - 3.0, period after failure);
* `<comm>: page allocation failure: order:%u, mode:%#x` (3.1+, warn_alloc_failed()), with
  `(%pGg)` flag names from 4.5, `, nodemask=` from 4.11 and, 5.0+, `,cpuset=%s,mems_allowed=`
  folded onto the same line (<= 4.19 the cpuset line is a line of its own after it);
* `<comm>: page allocation stalls for %ums, order:%u, mode:%#x(%pGg)[, nodemask=…]`, only
  4.9 - 4.14: added by commit 63f53dea0c98 ("mm: warn about allocations which stall for too
  long", v4.9), removed by commit 400e22499dd9 ("mm: don't warn about allocations which stall
  for too long", v4.15). 63f53dea0c98 had a `\n` after `order:%u`, so early 4.9 kernels print
  `, mode:…` as a line of its own (fix posted as msgid
  1476026219-7974-1-git-send-email-penguin-kernel@I-love.SAKURA.ne.jp);
* vmalloc: `vmalloc: allocation failure, allocated %ld of %ld bytes` (<= 4.8, a %pV line of
  its own before the `page allocation failure` line), `<comm>: vmalloc: allocation failure:
  %lu bytes, mode:…` (4.9+), `<comm>: vmalloc error: size %lu, <reason>, mode:…` (5.x/6.x);
* SLUB's `SLUB: Unable to allocate memory …` report: parsers/slub.py.

After the header: dump_stack (header, call trace: parsers/stacktrace.py) and show_mem
(parsers/meminfo.py). Mail and syslog wraps that cut the header (`rsync: ` / `page allocation
stalls for 2102516ms, order:0` / `,` / `mode:…`) are joined back.

The dump_stack/trace/Mem-Info tail is parsers/dump_parts.py.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import regex

from . import slub
from .base import CPUSET_LINE as cpuset_line
from .base import EVENT_ID, Block, Family, Feed, Line, Sink, TableSchema, col
from .dump_parts import MAX_FOREIGN, DumpParts, SkipCount, may_be_foreign, opens_nothing, start_kind
from .slub import MASK

_TAIL = (
    rf"(?:,? ?mode:\s*{MASK})?"
    r"(?:,? ?nodemask=(?P<nodemask>\(null\)|[\d,-]*))?"
    r"(?:,cpuset=(?P<cpuset>.*),mems_allowed=(?P<mems>[\d,-]*))?\s*$"
)
# comm is greedy: the fixed text that follows is the last occurrence
_FAIL = re.compile(
    r"(?:^(?P<comm>.*): )?page allocation failure(?P<sep>[.:]) ?(?:order:\s*(?P<order>\d+))?"
    + _TAIL
)
_STALL = re.compile(
    r"(?:^(?P<comm>.*): )?page allocation stalls for\s*(?P<ms>\d+)\s*ms,?"
    r"(?: ?order:\s*(?P<order>\d+))?" + _TAIL
)
_VMALLOC = re.compile(
    r"^(?:(?P<comm>.*?): )?vmalloc(?:: allocation failure(?::\s*(?P<size>\d+) bytes"
    r"|, allocated (?P<got>\d+) of (?P<want>\d+) bytes)"
    r"| error: size (?P<esize>\d+), (?P<detail>.*?))" + _TAIL
)
_COMM_PID = re.compile(r"^(?P<comm>.*)\((?P<pid>\d{1,7})\)$")
# <= 4.19: `%s cpuset=%s mems_allowed=%*pbl` on its own line (kernel/cgroup/cpuset.c)
# pieces of a header that a mail or syslog wrap moved onto the next line
_CONT = re.compile(r"^\s*(?:,|order:|mode:|nodemask=|page allocation (?:stalls|failure))")
_MAX_JOIN = 3


def _mask(s: str | None) -> int | None:
    if s is None:
        return None
    return int(s, 16) if s.lower().startswith("0x") else int(s)


def _int(s: str | None) -> int | None:
    return None if s is None else int(s)


_COMMON = (
    EVENT_ID,
    col("boot", pa.int32(), "", "boot number in the capture"),
    col("ts", pa.float64(), "s", "time of the header line (null if none)"),
    col("line_no", pa.int64(), "", "line of the header"),
    col("comm", pa.string(), "", "allocating task (header; dump_stack `Comm:` if cut off)"),
    col("pid", pa.int64(), "", "its pid (dump_stack header, or a `comm(pid): ` header)"),
)
_GFP = (
    col("order", pa.int32(), "", "allocation order (pages = 2**order)"),
    col("gfp_mask", pa.int64(), "", "gfp mask as printed (bit layout varies by release)"),
    col(
        "gfp_flags",
        pa.string(),
        "",
        "flag names of the mask: as printed (4.5+), or decoded by stalllog; null if neither",
    ),
    col("gfp_flags_decoded", pa.bool_(), "", "True when stalllog decoded gfp_flags"),
    col("nodemask", pa.string(), "", "allocation nodemask as printed (`(null)` = none; 4.11+)"),
    col("cpuset", pa.string(), "", "cpuset (cgroup name) of the task"),
    col("mems_allowed", pa.string(), "", "its mems_allowed node list"),
)
_TAILCOLS = (
    col("release", pa.string(), "", "kernel release of the dump_stack header"),
    col("stack_id", pa.int64(), "", "the report's call trace (`stacks`/`frames`)"),
    col("meminfo_id", pa.int64(), "", "the report's Mem-Info snapshot (`meminfo`)"),
    col("corrupted", pa.bool_(), "", "the report was cut, interleaved, or a field unreadable"),
    col("reason", pa.string(), "", "why `corrupted`, `; `-joined"),
)

ALLOC_STALLS = TableSchema(
    "alloc_stalls",
    "One row per `page allocation stalls for Nms` report (4.9 - 4.14 kernels; every further "
    "10 s of the same allocation prints another).",
    (
        *_COMMON,
        col("stall_ms", pa.int64(), "ms", "time the allocation has been stalling"),
        *_GFP,
        *_TAILCOLS,
    ),
)
ALLOC_FAILURES = TableSchema(
    "alloc_failures",
    "One row per allocation failure report: `page allocation failure` (2.6 `. order:` and "
    "later `: order:` forms), `vmalloc: allocation failure` / `vmalloc error:`, and "
    "`SLUB: Unable to allocate memory` (with its cache and per-node lines).",
    (
        *_COMMON,
        col("kind", pa.string(), "", "page, vmalloc or slub"),
        *_GFP,
        col("size_bytes", pa.int64(), "bytes", "vmalloc: requested size"),
        col("allocated_bytes", pa.int64(), "bytes", "vmalloc <= 4.8: bytes it got before failing"),
        col(
            "detail",
            pa.string(),
            "",
            "vmalloc error: the reason text (`vm_struct allocation failed`)",
        ),
        col("node", pa.int32(), "", "SLUB: node asked for (-1 = any)"),
        col("cpu", pa.int32(), "", "SLUB 6.12+: the CPU that failed (`on CPU N`)"),
        col("cpu_node", pa.int32(), "", "SLUB 6.12+: that CPU's node (`(of node M)`)"),
        col("slab_cache", pa.string(), "", "SLUB: the cache name"),
        col("object_size_bytes", pa.int64(), "bytes", "SLUB: object size"),
        col("buffer_size_bytes", pa.int64(), "bytes", "SLUB: object size with metadata"),
        col("default_order", pa.int32(), "", "SLUB: the cache's slab order"),
        col("min_order", pa.int32(), "", "SLUB: its minimum slab order"),
        col("slabs", pa.int64(), "", "SLUB: slabs, summed over the `node N:` lines"),
        col("objs", pa.int64(), "", "SLUB: objects, summed over the `node N:` lines"),
        col("free_objs", pa.int64(), "", "SLUB: free objects, summed over the `node N:` lines"),
        *_TAILCOLS,
    ),
)


# the column names of alloc_failures and alloc_stalls, for a block's row
_NAMES = tuple(tuple(c.name for c in t.columns) for t in (ALLOC_FAILURES, ALLOC_STALLS))


class WarnAllocBlock(Block):
    kind = "alloc_failure"

    def __init__(self, first: Line, event_id: int, sink: Sink, kind: str) -> None:
        super().__init__(first, event_id, sink)
        self.fail_kind = kind
        self.table = "alloc_stalls" if kind == "stall" else "alloc_failures"
        self.values: dict[str, Any] = dict.fromkeys(_NAMES[kind == "stall"])
        self.values.update(event_id=event_id, boot=first.boot, ts=first.ts,
                           line_no=first.line_no, gfp_flags_decoded=False)  # fmt: skip
        self.skips = SkipCount()
        if kind != "stall":
            self.values["kind"] = kind
        self.text = first.text
        self.n_join = 0
        self.wrapped = False
        self.header_done = False
        self.parts = DumpParts(self)
        self._parse(final=False)

    # -- header -------------------------------------------------------------------------
    def _parse(self, final: bool) -> None:
        v = self.values
        text = self.text
        m: re.Match[str] | None
        if self.fail_kind == "stall":
            m = _STALL.search(text)
        elif self.fail_kind == "slub":
            m = slub.HEADER.match(text)
        elif self.fail_kind == "vmalloc":
            m = _VMALLOC.match(text)
        else:
            m = _FAIL.search(text)
        if m is None:
            if final:
                self.problems.append(f"header line {self.first.line_no} unreadable")
            return
        g = m.groupdict()
        if not final and g.get("mask") is None and self.fail_kind != "slub":
            return  # cut short: wait for the rest
        self.header_done = True
        if g.get("comm") is not None:
            c = _COMM_PID.match(g["comm"].strip())  # `comm(pid): `, a 4.10-era debug patch
            v["comm"] = self.comm = (c["comm"] if c else g["comm"].strip()) or None
            v["pid"] = int(c["pid"]) if c else None
        v["gfp_mask"] = _mask(g.get("mask"))
        v["gfp_flags"] = g.get("flags")
        for k in ("nodemask", "cpuset"):
            if g.get(k) is not None:
                v[k] = g[k]
        if g.get("mems") is not None:
            v["mems_allowed"] = g["mems"]
        if "order" in g:
            v["order"] = _int(g["order"])
        if self.fail_kind == "stall":
            v["stall_ms"] = int(g["ms"])
        elif self.fail_kind == "vmalloc":
            v["size_bytes"] = _int(g["size"] or g["want"] or g["esize"])
            v["allocated_bytes"] = _int(g["got"])
            v["detail"] = g["detail"]
        elif self.fail_kind == "slub":
            v["node"], v["cpu"], v["cpu_node"] = int(g["node"]), _int(g["cpu"]), _int(g["cpu_node"])
        missing = []
        if v["gfp_mask"] is None and not (self.fail_kind == "vmalloc" and g.get("got")):
            missing.append("mode")
        if self.fail_kind in ("page", "stall") and v["order"] is None:
            missing.append("order")
        if missing:
            self.problems.append(f"header line {self.first.line_no}: no {', '.join(missing)}")

    # -- feeding --------------------------------------------------------------------------
    def feed(self, line: Line) -> Feed:
        verdict = self._feed(line)
        return verdict if verdict is not Feed.SKIP else self.skips(verdict, line)

    def _feed(self, line: Line) -> Feed:
        text = line.text
        if not self.header_done:
            if self.n_join < _MAX_JOIN and _CONT.match(text):
                self.n_join += 1
                # `, mode:` alone is the 4.9 stall line's own newline, not a wrap
                self.wrapped = self.wrapped or not text.startswith(", mode:")
                joined = self.text.rstrip() + " " + text.strip()
                self.text = joined.replace(" ,", ",").replace(", ,", ",")
                self._parse(final=False)
                return Feed.TAKE
            if self.fail_kind == "vmalloc" and _FAIL.search(text) is not None:
                # <= 4.8: the vmalloc text is a line of its own before the failure line
                self._absorb_failure(text)
                return Feed.TAKE
            self._parse(final=True)
            self.header_done = True
            if self.wrapped:
                self.problems.append(f"header line {self.first.line_no} wrapped")
        v = self.values
        if self.fail_kind == "slub":
            return slub.feed(v, line, opens_nothing, self.skips.n)
        verdict = self.parts.feed(line)
        if verdict is not None:
            return verdict
        # the literal first: the pattern costs µs on every other line that ends up here
        m = cpuset_line.match(text) if " cpuset=" in text else None
        if m is not None and v["cpuset"] is None and self.parts.header is None:
            if v["comm"] is not None and m["comm"] != v["comm"]:
                self.problems.append(f"cpuset line {line.line_no} names {m['comm']!r}")
            v["cpuset"], v["mems_allowed"] = m["cpuset"], m["mems"]
            return Feed.TAKE
        if self.parts.trace is None and line.caller is None and self._maybe_foreign(text):
            return self.parts.skip(line)
        return Feed.END

    def _maybe_foreign(self, text: str) -> bool:
        return self.parts.n_foreign < MAX_FOREIGN and may_be_foreign(text)

    def _absorb_failure(self, text: str) -> None:
        m = _FAIL.search(text)
        assert m is not None
        v = self.values
        self.header_done = True
        v["comm"] = self.comm = (m["comm"] or "").strip() or None
        v["order"] = _int(m["order"])
        v["gfp_mask"], v["gfp_flags"] = _mask(m["mask"]), m["flags"]
        if m["nodemask"] is not None:
            v["nodemask"] = m["nodemask"]
        g = _VMALLOC.match(self.text)
        if g is not None:
            v["size_bytes"] = _int(g["size"] or g["want"] or g["esize"])
            v["allocated_bytes"] = _int(g["got"])

    def finish(self, cut: str | None) -> None:
        if not self.header_done:
            self._parse(final=True)
        self.parts.finish(cut)
        header = self.parts.header or {}
        v = self.values
        if header.get("pid") is not None:
            v["pid"] = header["pid"]
        self.pid = v["pid"]
        v["release"] = header.get("release")
        if v["comm"] is None and header.get("comm"):
            v["comm"] = self.comm = header["comm"]
        v["stack_id"], v["meminfo_id"] = self.parts.stack_id, self.parts.meminfo_id
        self.complete = self.fail_kind == "slub" or self.parts.trace is not None
        super().finish(cut)
        v["reason"] = self.skips.reasons(self.problems)
        v["corrupted"] = v["reason"] is not None
        self.row(self.table, **v)


class AllocStallBlock(WarnAllocBlock):
    kind = "alloc_stall"


class WarnAllocFamily(Family):
    name = "warn_alloc"
    priority = 60
    triggers = (
        "page allocation stalls for",
        "page allocation failure",
        "vmalloc: allocation failure",
        "vmalloc error: size",
        "SLUB: Unable to allocate memory",
    )
    pattern = regex.compile(
        r"page allocation (?:stalls for|failure[.:])|vmalloc(?:: allocation failure| error: size)"
        r"|^SLUB: Unable to allocate memory on (?:node|CPU)"
    )
    tables = (ALLOC_STALLS, ALLOC_FAILURES)
    parts = DumpParts.parts

    def start(self, line: Line, match: regex.Match[str], event_id: int, sink: Sink) -> Block | None:
        kind = start_kind(line.text)
        if kind is None:
            return None
        cls = AllocStallBlock if kind == "stall" else WarnAllocBlock
        return cls(line, event_id, sink, kind)
