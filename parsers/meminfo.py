"""show_mem() output ("Mem-Info:") and the unreclaimable slab dump.

show_mem() is printed inside OOM reports, warn_alloc failure/stall reports, kmallocwd and
SysRq-m. The families owning those reports create a `MemInfo` (a SubParser) on the
`Mem-Info:` line and route their following lines to it; `MemInfoFamily` below owns the
Mem-Info dumps nobody else claims (SysRq-m, a bare `Mem-Info:`).

Sections, in print order (show_free_areas() in mm/page_alloc.c, mm/show_mem.c from v6.4;
lib/show_mem.c for the summary). The commits that changed what the parser reads:

* `Mem-Info:` (`Mem-info:` in old arch show_mem);
* per-cpu lists `[Node N ]ZONE per-cpu:` + `CPU    0: hi:  186, btch:  31 usd:  46`, hidden
  by default since v4.1 (d1bfcdb8ce0e "mm: hide per-cpu lists in output of show_mem()",
  which also added `free_pcp`/`local_pcp` and moved `free:` to the last global line;
  RHEL 7's 3.10 has it backported);
* the global block: ONE printk with embedded `\\n ` (continuation lines start with one
  space; collectors strip or re-indent it, rsyslog escapes it as `#012`), values in PAGES.
  `Active_anon:`/`slab:` in 2.6.28-2.6.31; `isolated_*` and `slab_reclaimable`/
  `slab_unreclaimable` from v2.6.32 (a731286de622); `free_cma` v3.7 (d1ce749a0db1);
  `unstable` dropped in v5.8 (8d92890bd6b8); `kernel_misc_reclaimable` v5.15
  (eb2169cee36f); `sec_pagetables` v6.0 (ebc97a52b5d6). Every `key:N` token is read by
  name, so a new counter lands in `other` instead of breaking the line;
* per-node lines `Node N active_anon:...kB ... all_unreclaimable? no`, values in kB, since
  v4.8 (599d0c954f91 "mm, vmscan: move LRU lists to node"); `kernel_stack`/
  `shadow_call_stack` moved there in v5.9 (991e7673859e), `pagetables` in v5.11
  (f0c0c115fb81); THP fields printed `shmem_thp: 0kB` with a space until 2023;
* per-zone lines `[Node N ]ZONE free:...kB ...` (kB): `managed:` v3.8 (9feedc9d831e); zone
  LRU fields and `writepending` v4.8 (71c799f4982d, 5a1c84b404a7);
  `reserved_highatomic:...KB` (capital K) v5.5 (e47b346aba08); `boost:` v5.16
  (a6ea8b5b9f1c). Each is followed by `lowmem_reserve[]: a b c` (pages). The `Node N `
  prefix (CONFIG_NUMA only) and the list values are separate printk calls, marked
  KERN_CONT since v4.9 (1f84a18fc010);
* buddy lines `[Node N ]ZONE: 1*4kB (U) ... = 17476kB`: count * block size per order, the
  migrate types present in brackets since v3.8 (377e4f167664); the order-0 block size is
  the page size; the printed total is summed from the same counts, so a line whose
  blocks do not add up to it lost a token;
* `Node N hugepages_total=.. hugepages_free=.. hugepages_surp=.. hugepages_size=..kB`;
* `N total pagecache pages`, `N pages in swap cache`, `Swap cache stats: add .., delete ..,
  find a/b` (removed in v6.0 by "mm/swap: remove swap_cache_info statistics"),
  `Free swap  = NkB` (two spaces), `Total swap = NkB`;
* `N pages RAM`, `N pages HighMem` (page-walk show_mem, <= 3.14) or
  `N pages HighMem/MovableOnly` (3.15+), `N pages reserved`, `N pages cma reserved` (v4.1),
  `N pages hwpoisoned`; the page-walk version adds `N pages shared`, `N pages non-shared`,
  `N pages in pagetable cache`; old arch show_mem prints `N pages of RAM`, `N free pages`,
  `N reserved pages`, `N slab pages`, `N pages swap cached`;
* v6.10+ with CONFIG_MEM_ALLOC_PROFILING: `Memory allocations:` + up to 10 rows.

Everything but the global block is built from pr_cont pieces, so under concurrency a line
can arrive in fragments (`Node 0 `, `DMA: `, `1*4kB `, `(U) `, ` 2868`) with other CPUs'
lines in between (sample_logs/corpus/syzkaller/198). Mail and syslog transports wrap long
lines (format=flowed, hard wraps) or truncate them (journal pager `>`). The parser therefore
keeps a list of records and appends each fragment or wrapped piece to the record it
continues, judged by its shape; it parses the records at `finish`. A token it cannot read
becomes NA for that field with a problem, the rest of the record stays.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import regex

from .base import EVENT_ID, Block, Family, Feed, Line, Sink, SubParser, TableSchema, col, to_int

# Zone names of include/linux/mmzone.h (zone_names[] in mm/page_alloc.c).
_ZONE = r"(?:DMA32|DMA|Normal|HighMem|Movable|Device)"
MAX_FOREIGN_RUN = 24  # this many foreign lines in a row inside a dump: the dump was cut

# ---------------------------------------------------------------------------------------
# Line shapes (matched on the stripped text)

_RE_START = re.compile(r"^Mem-[Ii]nfo:$")
# First line of the global block: recognized even when the `Mem-Info:` line was lost.
_RE_GLOBAL_FIRST = re.compile(r"^[Aa]ctive(?:_anon)?:\d+ [a-z_]+:\d+")
_RE_NODE_ONLY = re.compile(r"^Node (\d+)$")
_RE_ZONEISH = re.compile(
    rf"^(?:Node (?P<node>\d+) )?(?P<zone>{_ZONE})"
    r"(?:(?P<free> free:)|(?P<pcp> per-cpu:(?: empty)?$)|(?P<buddy>:)(?:\s|$))"
)
_RE_NODE_LINE = re.compile(r"^Node (?P<node>\d+) (?P<rest>[A-Za-z_][\w()]*:\s?\d.*)$")
_RE_HUGE = re.compile(r"^Node (?P<node>\d+) (?P<rest>hugepages_total=.*)$")
# `protections[]:` is the 2.6.0-2.6.5 name of lowmem_reserve[]
_RE_LOWMEM = re.compile(r"^(?:lowmem_reserve|protections)\[\]:(?P<rest>.*)$")
_RE_PCP_ROW = re.compile(r"^CPU\s+(\d+): hi:\s*(\d+), btch:\s*(\d+) usd:\s*(\d+)$")
# 2.6.0-2.6.2x: `cpu 0 hot: low 2, high 6, batch 1` (`low` dropped, ` used:N` added later)
_RE_PCP_OLD = re.compile(
    r"^cpu (\d+) (hot|cold): (?:low (\d+), )?high (\d+), batch (\d+)(?: used:(\d+))?$"
)
# `Free pages: %11ukB (%ukB HighMem)` before the global line (2.6.0-2.6.2x)
_RE_FREE_PAGES = re.compile(r"^Free pages:\s*(\d+)kB(?: \((\d+)kB HighMem\))?$")
_RE_GLOBAL = re.compile(r"^[A-Za-z_][\w-]*:-?\d+(?:\s+[A-Za-z_][\w-]*:-?\d+)*$")
# other `N pages <what>` / `N <what> pages` lines of arch show_mem, after `pages RAM`
_RE_ARCH_TAIL = re.compile(r"^\d+ (?:pages [a-z][a-z -]*|[a-z][a-z -]* pages)$")
# a wrapped piece of a zone/node line: starts with a `key:NkB` token (register dumps of
# another CPU, `RSP: 002b:...`, must not pass)
_RE_KV_START = re.compile(
    r"^(?:[A-Za-z_][\w()]*:\s?-?\d+(?:kB|KB)(?:\s|$)|(?:node_)?pages_scanned:\d|all_unreclaimable\?)"
)
_RE_DANGLING = re.compile(r"^(?:-?\d+(?:kB|KB)?|yes|no)(?:\s|$)")
_RE_BUDDY_CONT = re.compile(r"^(?:\d+\*\d+kB|\([A-Z]*\)|=|\d+kB$)(?:\s|$)")
_RE_INTS = re.compile(r"^-?\d+(?:\s+-?\d+)*$")
_RE_HUGE_CONT = re.compile(r"^hugepages_\w+=")
_RE_SWAPSTATS_CONT = re.compile(r"^(?:(?:add|delete|find|race)\b.*|\d+/\d+(?:,.*)?)$")
_RE_ALLOC_TAG = re.compile(
    r"^(?P<size>\d+(?:\.\d+)? ?[KMGTPE]?i?B)\s+(?P<calls>\d+) (?P<file>\S+):(?P<lineno>\d+)"
    r"(?: \[(?P<module>[^\]]+)\])? func:(?P<func>\S+)$"
)

# Summary lines: regex -> tail key(s). Group names are the meminfo columns.
_RE_TAIL = re.compile(
    r"^(?:"
    r"(?P<total_pagecache_pages>-?\d+) total pagecache pages"
    r"|(?P<swap_cache_pages>\d+) pages in swap cache"
    r"|Swap cache(?: stats)?: add (?P<swap_cache_add>\d+), delete (?P<swap_cache_delete>\d+),"
    r" find (?P<swap_cache_find_hits>\d+)/(?P<swap_cache_find_total>\d+)(?:, .*)?"
    r"|Free swap\s*[=:]\s*(?P<free_swap_kb>-?\d+)kB"
    r"|Total swap\s*[=:]\s*(?P<total_swap_kb>\d+)kB"
    r"|(?P<ram_pages>\d+) pages (?:of )?RAM"
    r"|(?P<highmem_movableonly_pages>\d+) pages HighMem/MovableOnly"
    r"|(?P<highmem_pages>\d+) pages (?:of )?(?i:HighMem)"
    r"|(?P<reserved_pages>\d+) (?:pages reserved|reserved pages)"
    r"|(?P<cma_reserved_pages>\d+) pages cma reserved"
    r"|(?P<hwpoisoned_pages>\d+) pages hwpoisoned"
    r"|(?P<shared_pages>\d+) pages shared"
    r"|(?P<nonshared_pages>\d+) pages non-shared"
    r"|(?P<pagetable_cache_pages>\d+) pages in pagetable cache"
    r"|(?P<arch_free_pages>\d+) free pages"
    r"|(?P<arch_slab_pages>\d+) slab pages"
    r"|(?P<arch_swap_cached_pages>\d+) pages swap cached"
    r"|(?P<alloc_tags>Memory allocations(?: \(profiling is currently turned \w+\))?:)"
    r"|(?P<swapstats_start>Swap cache(?: stats)?:.*)"
    r")$"
)
_PAGECACHE_KEYS = {"total_pagecache_pages"}
_SWAP_KEYS = {
    "swap_cache_pages", "swap_cache_add", "free_swap_kb", "total_swap_kb", "swapstats_start",
}  # fmt: skip
_SWAPSTAT_FIELDS = (
    "swap_cache_add", "swap_cache_delete", "swap_cache_find_hits", "swap_cache_find_total",
)  # fmt: skip

# Lines that start the owner's next part (or a new report): end the dump at once.
_RE_OWNER_NEXT = re.compile(
    r"^(?:Mem-[Ii]nfo:|Tasks state|\[\s*pid\s*\]|Out of memory|oom-kill:|Killed process"
    r"|Unreclaimable slab info:|excessive unreclaimable slab|Memory cgroup|MemAlloc"
    r"|Showing busy workqueues|sysrq: |SysRq : |Kernel panic)"
    r"|invoked oom-killer:|: page allocation (?:failure|stalls)"
)

# Section ranks: a line of an earlier section after the summary started means a new dump.
_RANK_SUMMARY = 6

# `shmem_thp: 0kB` (4.8-6.6) and `all_unreclaimable? no`: the one key/value pair with a space
_KV_SPACE = re.compile(r"([:?]) (?=-?\d|yes\b|no\b)")
_HUGE_TOKEN = re.compile(r"(?P<key>hugepages_\w+)=(?P<val>\d+)(?P<unit>kB)?(?=\s|$)|(?P<bad>\S+)")
_LEVEL_MARK = re.compile(r"(?:^|(?<=\s))<[0-7]>")
_BUDDY_ENTRY = re.compile(r"^(\d+)\*(\d+)kB$")
_BUDDY_TYPES = re.compile(r"^\(([A-Z]*)\)$")
_BUDDY_TOTAL = re.compile(r"^(\d+)kB$")


def is_meminfo_start(text: str) -> bool:
    """True for the first line of a show_mem dump: `Mem-Info:` (`Mem-info:` on old arch
    show_mem), or the global block's first line when the header line was lost."""
    s = text.strip()
    if s.startswith("Mem-"):
        return _RE_START.match(s) is not None
    return s[:1] in "aA" and _RE_GLOBAL_FIRST.match(s) is not None


def is_slabinfo_start(text: str) -> bool:
    """True for `Unreclaimable slab info:` (mm/slab_common.c dump_unreclaimable_slab, v4.15+,
    printed by the OOM report after show_mem)."""
    return text.strip() == "Unreclaimable slab info:"


# ---------------------------------------------------------------------------------------
# Schemas


def _spec(*items: tuple[str, str, str]) -> tuple[tuple[str, str, str], ...]:
    return items


# printed key -> meaning; columns are `<key>_pages`
_GLOBAL_SPEC = _spec(
    ("active_anon", "", "anon pages on the active LRU (`Active_anon` in 2.6.28-2.6.31)"),
    ("inactive_anon", "", "anon pages on the inactive LRU"),
    ("isolated_anon", "", "anon pages isolated from the LRU by reclaim/compaction (2.6.32+)"),
    ("active_file", "", "page-cache pages on the active LRU"),
    ("inactive_file", "", "page-cache pages on the inactive LRU"),
    ("isolated_file", "", "page-cache pages isolated from the LRU (2.6.32+)"),
    ("active", "", "active LRU pages (before the anon/file split, <= 2.6.27)"),
    ("inactive", "", "inactive LRU pages (<= 2.6.27)"),
    ("unevictable", "", "unevictable pages (mlocked, ramfs, ...)"),
    ("dirty", "", "dirty page-cache pages"),
    ("writeback", "", "pages under writeback"),
    ("unstable", "", "NFS unstable pages (gone in v5.8)"),
    ("slab", "", "slab pages (2.6.28-2.6.31, before the reclaimable split)"),
    ("slab_reclaimable", "", "reclaimable slab pages"),
    ("slab_unreclaimable", "", "unreclaimable slab pages"),
    ("mapped", "", "page-cache pages mapped into page tables"),
    ("shmem", "", "shmem/tmpfs pages"),
    ("pagetables", "", "page-table pages"),
    ("sec_pagetables", "", "secondary page-table pages (KVM, IOMMU; v6.0+)"),
    ("bounce", "", "bounce-buffer pages"),
    ("kernel_misc_reclaimable", "", "misc reclaimable kernel pages (v5.0+)"),
    ("free", "", "free pages"),
    ("free_pcp", "", "free pages on per-cpu lists (v4.1+)"),
    ("free_cma", "", "free CMA pages (3.7+)"),
)
_TAIL_SPEC = _spec(
    ("free_pages_kb", "kB", "`Free pages: NkB` (2.6.0-2.6.2x, before the global line)"),
    ("free_highmem_kb", "kB", "`Free pages: ...kB (NkB HighMem)` (2.6.0-2.6.2x)"),
    ("total_pagecache_pages", "pages", "`N total pagecache pages`"),
    ("swap_cache_pages", "pages", "`N pages in swap cache`"),
    ("swap_cache_add", "pages", "`Swap cache stats: add N` (cumulative; removed in v5.18)"),
    ("swap_cache_delete", "pages", "`Swap cache stats: delete N` (cumulative)"),
    ("swap_cache_find_hits", "lookups", "`Swap cache stats: find HITS/total`"),
    ("swap_cache_find_total", "lookups", "`Swap cache stats: find hits/TOTAL`"),
    ("free_swap_kb", "kB", "`Free swap  = NkB` (can be negative on old kernels)"),
    ("total_swap_kb", "kB", "`Total swap = NkB`"),
    ("ram_pages", "pages", "`N pages RAM` (present pages; `N pages of RAM` in arch show_mem)"),
    ("highmem_pages", "pages", "`N pages HighMem` (<= 3.14, CONFIG_HIGHMEM)"),
    ("highmem_movableonly_pages", "pages", "`N pages HighMem/MovableOnly` (3.15+)"),
    ("reserved_pages", "pages", "`N pages reserved` / `N reserved pages`"),
    ("cma_reserved_pages", "pages", "`N pages cma reserved` (CONFIG_CMA, v4.1+)"),
    ("hwpoisoned_pages", "pages", "`N pages hwpoisoned` (CONFIG_MEMORY_FAILURE)"),
    ("shared_pages", "pages", "`N pages shared` (<= 3.14 page walk)"),
    ("nonshared_pages", "pages", "`N pages non-shared` (<= 3.14 page walk)"),
    ("pagetable_cache_pages", "pages", "`N pages in pagetable cache` (CONFIG_QUICKLIST)"),
    ("arch_free_pages", "pages", "`N free pages` (old arch show_mem)"),
    ("arch_slab_pages", "pages", "`N slab pages` (old arch show_mem)"),
    ("arch_swap_cached_pages", "pages", "`N pages swap cached` (old arch show_mem)"),
)
# (printed key, unit, meaning) of the per-node line; columns `<key>_kb` (parens dropped)
_NODE_SPEC = _spec(
    ("active_anon", "kB", "anon pages on the active LRU"),
    ("inactive_anon", "kB", "anon pages on the inactive LRU"),
    ("active_file", "kB", "page cache on the active LRU"),
    ("inactive_file", "kB", "page cache on the inactive LRU"),
    ("unevictable", "kB", "unevictable pages"),
    ("isolated(anon)", "kB", "anon pages isolated from the LRU"),
    ("isolated(file)", "kB", "page cache isolated from the LRU"),
    ("mapped", "kB", "mapped page cache"),
    ("dirty", "kB", "dirty page cache"),
    ("writeback", "kB", "pages under writeback"),
    ("shmem", "kB", "shmem/tmpfs"),
    ("shmem_thp", "kB", "shmem THP (CONFIG_TRANSPARENT_HUGEPAGE)"),
    ("shmem_pmdmapped", "kB", "PMD-mapped shmem THP"),
    ("anon_thp", "kB", "anonymous THP"),
    ("writeback_tmp", "kB", "FUSE temporary writeback pages"),
    ("unstable", "kB", "NFS unstable (gone in v5.8)"),
    ("kernel_stack", "kB", "kernel stacks (node line since v5.9)"),
    ("shadow_call_stack", "kB", "shadow call stacks (CONFIG_SHADOW_CALL_STACK)"),
    ("pagetables", "kB", "page tables (node line since v5.11)"),
    ("sec_pagetables", "kB", "secondary page tables (v6.0+)"),
    ("balloon", "kB", "`Balloon:` ballooned pages (2025+)"),
    ("gpu_active", "kB", "GPU active pages (2025+)"),
    ("gpu_reclaim", "kB", "GPU reclaimable pages (2025+)"),
    ("pages_scanned", "pages", "`pages_scanned:` pages scanned since the last reclaim (4.8-4.x)"),
)
_ZONE_SPEC = _spec(
    ("free", "kB", "free memory"),
    ("boost", "kB", "watermark boost (v5.0+)"),
    ("min", "kB", "min watermark"),
    ("low", "kB", "low watermark"),
    ("high", "kB", "high watermark"),
    ("reserved_highatomic", "kB", "`reserved_highatomic:NKB` (printed `KB`)"),
    ("free_highatomic", "kB", "`free_highatomic:NKB` (printed `KB`; 6.15+)"),
    ("active", "kB", "active LRU (<= 2.6.27)"),
    ("inactive", "kB", "inactive LRU (<= 2.6.27)"),
    ("active_anon", "kB", "anon pages on the active LRU"),
    ("inactive_anon", "kB", "anon pages on the inactive LRU"),
    ("active_file", "kB", "page cache on the active LRU"),
    ("inactive_file", "kB", "page cache on the inactive LRU"),
    ("unevictable", "kB", "unevictable pages"),
    ("isolated(anon)", "kB", "anon pages isolated from the LRU (<= 4.7)"),
    ("isolated(file)", "kB", "page cache isolated from the LRU (<= 4.7)"),
    ("writepending", "kB", "dirty + writeback (4.8+)"),
    ("zspages", "kB", "zsmalloc pages (2025+)"),
    ("present", "kB", "physical pages in the zone"),
    ("managed", "kB", "pages managed by the buddy allocator (3.8+)"),
    ("mlocked", "kB", "mlocked pages"),
    ("dirty", "kB", "dirty page cache (<= 4.7)"),
    ("writeback", "kB", "pages under writeback (<= 4.7)"),
    ("mapped", "kB", "mapped page cache (<= 4.7)"),
    ("shmem", "kB", "shmem/tmpfs (<= 4.7)"),
    ("slab_reclaimable", "kB", "reclaimable slab (zone line until v5.9)"),
    ("slab_unreclaimable", "kB", "unreclaimable slab (zone line until v5.9)"),
    ("kernel_stack", "kB", "kernel stacks (zone line until v5.9)"),
    ("pagetables", "kB", "page tables (zone line until v5.11)"),
    ("unstable", "kB", "NFS unstable (<= 4.7)"),
    ("bounce", "kB", "bounce buffers"),
    ("free_pcp", "kB", "free pages on per-cpu lists (v4.1+)"),
    ("local_pcp", "kB", "free pages on the printing CPU's list (v4.1+)"),
    ("free_cma", "kB", "free CMA pages (3.7+)"),
    ("writeback_tmp", "kB", "FUSE temporary writeback (<= 4.7)"),
    ("pages_scanned", "pages", "`pages_scanned:` since the last reclaim (<= 4.7)"),
    ("node_pages_scanned", "pages", "`node_pages_scanned:` (4.8-4.10)"),
)


def _column(key: str, unit: str) -> str:
    base = key.replace("(", "_").replace(")", "").lower()
    if unit == "kB":
        return base + "_kb"
    return base


_GLOBAL_COLS = {k: f"{k}_pages" for k, _, _ in _GLOBAL_SPEC}
_NODE_COLS = {k.lower(): (_column(k, u), u) for k, u, _ in _NODE_SPEC}
_ZONE_COLS = {k.lower(): (_column(k, u), u) for k, u, _ in _ZONE_SPEC}

_SNAP = col("snapshot_id", pa.int64(), "", "the Mem-Info dump (joins `meminfo`)")
_NODE = col("node", pa.int32(), "", "NUMA node (`Node N`); NA on kernels without CONFIG_NUMA")
_ZONE_COL = col("zone", pa.string(), "", "zone name: DMA, DMA32, Normal, HighMem, Movable, Device")
_OTHER = col(
    "other", pa.string(), "", "tokens of unknown keys, as printed (space-joined); NA when none"
)

MEMINFO = TableSchema(
    "meminfo",
    "One row per show_mem dump (`Mem-Info:` snapshot): the global counters (pages) and the "
    "summary lines. A counter the kernel of that era does not print is NA.",
    (
        EVENT_ID,
        _SNAP,
        col("boot", pa.int32(), "", "boot number in the capture"),
        col("ts", pa.float64(), "s", "seconds since boot of the first line (null if none)"),
        col("line_start", pa.int64(), "", "line of `Mem-Info:` (or of the first global line)"),
        col("line_end", pa.int64(), "", "last line taken by the dump"),
        col("header", pa.bool_(), "", "the `Mem-Info:` line was seen"),
        col(
            "complete",
            pa.bool_(),
            "",
            "the dump reached its `pages RAM` summary (else it was cut or lost lines)",
        ),
        col(
            "page_size_kb",
            pa.int64(),
            "kB",
            "page size: the order-0 block size of the buddy lines (`1*64kB` = 64 KiB pages)",
        ),
        *(col(f"{k}_pages", pa.int64(), "pages", m) for k, _, m in _GLOBAL_SPEC),
        *(col(k, pa.int64(), u, m) for k, u, m in _TAIL_SPEC),
        col(
            "other",
            pa.string(),
            "",
            "global tokens of unknown keys and unknown `N pages ...` summary lines, as "
            "printed, `; `-joined; NA when none",
        ),
        col("problems", pa.string(), "", "what could not be read, `; `-joined; NA when clean"),
    ),
)
MEMINFO_NODES = TableSchema(
    "meminfo_nodes",
    "One row per per-node line (`Node N active_anon:...kB`, v4.8+) of a show_mem dump. "
    "Values in kB as printed.",
    (
        EVENT_ID,
        _SNAP,
        _NODE,
        *(col(_column(k, u), pa.int64(), u, m) for k, u, m in _NODE_SPEC),
        col("all_unreclaimable", pa.bool_(), "", "`all_unreclaimable? yes` (kswapd gave up)"),
        _OTHER,
    ),
)
ZONES = TableSchema(
    "zones",
    "One row per zone per show_mem dump: the zone line (`[Node N ]ZONE free:...kB`, kB), its "
    "`lowmem_reserve[]` and the total of its buddy line. A zone seen only in a buddy line "
    "has NA counters.",
    (
        EVENT_ID,
        _SNAP,
        _NODE,
        _ZONE_COL,
        *(col(_column(k, u), pa.int64(), u, m) for k, u, m in _ZONE_SPEC),
        col("all_unreclaimable", pa.bool_(), "", "`all_unreclaimable? yes` (<= 4.7)"),
        col(
            "lowmem_reserve",
            pa.list_(pa.int64()),
            "pages",
            "`lowmem_reserve[]:` values, one per zone type (pages kept free against "
            "allocations that could use higher zones)",
        ),
        col("buddy_total_kb", pa.int64(), "kB", "`= NkB` total of the zone's buddy line"),
        _OTHER,
    ),
)
BUDDY = TableSchema(
    "buddy",
    "One row per zone and order of the buddy (free area) lines: `count*sizekB (types)`.",
    (
        EVENT_ID,
        _SNAP,
        _NODE,
        _ZONE_COL,
        col("order", pa.int32(), "", "allocation order (block = 2**order pages)"),
        col("size_kb", pa.int64(), "kB", "block size as printed (`4kB` ... `4096kB`)"),
        col("count", pa.int64(), "blocks", "free blocks of that order"),
        col(
            "types",
            pa.string(),
            "",
            "migrate types with free blocks as printed: U unmovable, M movable, "
            "E reclaimable, H highatomic, R reserve (<= 4.3), C CMA, I isolate; NA when not "
            "printed (count 0, or kernels before 3.3)",
        ),
        col("zone_total_kb", pa.int64(), "kB", "the line's `= NkB` total"),
    ),
)
ZONE_PCP = TableSchema(
    "zone_pcp",
    "Per-cpu page lists of the old show_mem (hidden since v4.1): `ZONE per-cpu:` then "
    "`CPU N: hi:H, btch:B usd:U` per CPU (`cpu N hot: low L, high H, batch B` on 2.6.0-2.6.2x).",
    (
        EVENT_ID,
        _SNAP,
        _NODE,
        _ZONE_COL,
        col("cpu", pa.int32(), "", "CPU number"),
        col(
            "list",
            pa.string(),
            "",
            "`hot`/`cold` for the two lists of 2.6.0-2.6.2x (`cpu N hot: ...`); NA for the "
            "single list (`CPU N: hi:...`)",
        ),
        col("low_pages", pa.int64(), "pages", "`low` mark (2.6.0-2.6.1x only)"),
        col("high_pages", pa.int64(), "pages", "`hi:`/`high` list high mark"),
        col("batch_pages", pa.int64(), "pages", "`btch:`/`batch` batch size"),
        col("used_pages", pa.int64(), "pages", "`usd:`/`used:` pages on the list"),
    ),
)
HUGEPAGES = TableSchema(
    "hugepages",
    "One row per `Node N hugepages_total=...` line (per node and huge page size).",
    (
        EVENT_ID,
        _SNAP,
        _NODE,
        col("size_kb", pa.int64(), "kB", "`hugepages_size=` huge page size"),
        col("total", pa.int64(), "hugepages", "`hugepages_total=`"),
        col("free", pa.int64(), "hugepages", "`hugepages_free=`"),
        col("surp", pa.int64(), "hugepages", "`hugepages_surp=` surplus pages"),
    ),
)
ALLOC_TAGS = TableSchema(
    "meminfo_alloc_tags",
    "Top allocation sites printed after show_mem with CONFIG_MEM_ALLOC_PROFILING "
    "(v6.10+): `Memory allocations:` then `SIZE CALLS file:line [module] func:name`.",
    (
        EVENT_ID,
        _SNAP,
        col("size", pa.string(), "", "bytes allocated, as printed (`1.23 MiB`, base 2)"),
        col("calls", pa.int64(), "allocations", "live allocations from the site"),
        col("file", pa.string(), "", "source file"),
        col("lineno", pa.int32(), "", "source line"),
        col("module", pa.string(), "", "module name; NA for built-in code"),
        col("func", pa.string(), "", "allocating function"),
    ),
)
SLAB_UNRECLAIMABLE = TableSchema(
    "slab_unreclaimable",
    "Rows of `Unreclaimable slab info:` (v4.15+, printed by OOM reports when unreclaimable "
    "slab exceeds all LRU pages): `name used_KB total_KB`.",
    (
        EVENT_ID,
        col(
            "snapshot_id",
            pa.int64(),
            "",
            "the Mem-Info dump of the same report (joins `meminfo`); NA if the owner had none",
        ),
        col("name", pa.string(), "", "slab cache name"),
        col("used_kb", pa.int64(), "kB", "active objects * object size (printed `KB`)"),
        col("total_kb", pa.int64(), "kB", "all objects * object size (printed `KB`)"),
        col(
            "memory_kb",
            pa.int64(),
            "kB",
            "slab pages of the cache (third `KB` column of the 2025 format); NA in the "
            "two-column format",
        ),
    ),
)
TABLES = (MEMINFO, MEMINFO_NODES, ZONES, BUDDY, ZONE_PCP, HUGEPAGES, ALLOC_TAGS, SLAB_UNRECLAIMABLE)


# ---------------------------------------------------------------------------------------
# The show_mem sub-parser


@dataclass(slots=True)
class _Rec:
    kind: str  # global, node, zone, lowmem, buddy, huge, swapstats, pcp, summary
    line_no: int
    node: int | None = None
    zone: str | None = None
    parts: list[str] = field(default_factory=list)


def _int(text: str) -> int | None:
    # `min:--156kB` passes the lstrip("-") checks below: None. Too big is not nulled here,
    # silently, but where rows become Arrow, with the value named in the reason.
    return to_int(text)


def _opt_int(text: str | None) -> int | None:
    return None if text is None else _int(text)


class MemInfo(SubParser):
    """One show_mem dump, parsed on behalf of `owner`; rows carry the owner's event_id.

    Create it on a line for which `is_meminfo_start` is true and feed it every following
    line: TAKE = part of the dump, SKIP = a foreign line inside it (interleaving, elision
    marks), END = the dump is over (this line is the owner's). `snapshot_id` links the
    owner's rows to the `meminfo` row."""

    tables = (MEMINFO, MEMINFO_NODES, ZONES, BUDDY, ZONE_PCP, HUGEPAGES, ALLOC_TAGS)

    def __init__(self, owner: Block, first: Line) -> None:
        super().__init__(owner, first)
        self.snapshot_id = owner.next_id("meminfo")
        self.complete = False
        self.last_line_no = first.line_no
        self._recs: list[_Rec] = []
        self._global: _Rec | None = None
        self._cur: _Rec | None = None
        self._pending_node: int | None = None
        self._tail: dict[str, int | None] = {}
        self._rank = 0
        self._foreign_run = 0
        self._pcp: list[dict[str, Any]] = []
        self._tags: list[dict[str, Any]] = []
        self._finished = False
        self._other: list[str] = []
        s = first.text.strip()
        self.header = _RE_START.match(s) is not None
        if not self.header:
            self.problems.append(f"Mem-Info: header line missing before line {first.line_no}")
            self._take(s, first.line_no)

    # -- feeding ------------------------------------------------------------------------
    def feed(self, line: Line) -> Feed:
        s = line.text.strip()
        verdict = self._take(s, line.line_no) if s else None
        if verdict is None:
            return self._foreign(s)
        if verdict is Feed.TAKE:
            self._foreign_run = 0
            self.last_line_no = line.line_no
        return verdict

    def _foreign(self, s: str) -> Feed:
        if "reserved_pages" in self._tail or self._rank >= 9:
            return Feed.END  # the dump can end here
        if _RE_OWNER_NEXT.search(s) is not None:
            return Feed.END
        self._foreign_run += 1
        if self._foreign_run > MAX_FOREIGN_RUN:
            return Feed.END
        return Feed.SKIP

    def _new(self, kind: str, line_no: int, rank: int, **kw: Any) -> _Rec | Feed:
        if rank < _RANK_SUMMARY <= self._rank:
            return Feed.END  # a zone/buddy line after the summary: another dump
        self._rank = max(self._rank, rank)
        rec = _Rec(kind, line_no, **kw)
        self._recs.append(rec)
        self._cur = rec
        return rec

    def _take(self, s: str, line_no: int) -> Feed | None:
        """TAKE/END for a line of the dump, None for a foreign line."""
        c = s[0]
        if c == "N" and s.startswith("Node "):
            return self._take_node(s, line_no)
        if c in "DNHM" and (m := _RE_ZONEISH.match(s)) is not None:
            node, self._pending_node = self._pending_node, None
            return self._zoneish(m, node, s, line_no)
        if c == "l" and (m := _RE_LOWMEM.match(s)) is not None:
            r = self._new("lowmem", line_no, 3)
            if isinstance(r, Feed):
                return r
            r.parts.append(m["rest"])
            return Feed.TAKE
        if c in "Cc" and (m := _RE_PCP_ROW.match(s) or _RE_PCP_OLD.match(s)) is not None:
            cur = self._cur
            if cur is None or cur.kind != "pcp" or self._rank > 0:
                return None
            row: dict[str, Any]
            if c == "C":
                row = {"cpu": int(m[1]), "high_pages": int(m[2]), "batch_pages": int(m[3]),
                       "used_pages": int(m[4])}  # fmt: skip
            else:
                row = {"cpu": int(m[1]), "list": m[2], "low_pages": _opt_int(m[3]),
                       "high_pages": int(m[4]), "batch_pages": int(m[5]),
                       "used_pages": _opt_int(m[6])}  # fmt: skip
            self._pcp.append({"node": cur.node, "zone": cur.zone, **row})
            return Feed.TAKE
        if c == "F" and (m := _RE_FREE_PAGES.match(s)) is not None:
            if self._rank > 1 or "free_pages_kb" in self._tail:
                return Feed.END if self._rank >= _RANK_SUMMARY else None
            self._rank = 1
            self._tail["free_pages_kb"] = _int(m[1])
            self._tail["free_highmem_kb"] = _opt_int(m[2])
            self._cur = None
            return Feed.TAKE
        if c.isdigit() or c in "-FTSM":
            taken = self._take_tail(s, line_no)
            if taken is not None:
                return taken
        if self.complete and self._rank < 9 and _RE_ARCH_TAIL.match(s) is not None:
            self._other.append(s)
            return Feed.TAKE
        if self._rank >= 9 and (m := _RE_ALLOC_TAG.match(s)) is not None:
            self._tags.append(
                {"size": m["size"], "calls": int(m["calls"]), "file": m["file"],
                 "lineno": int(m["lineno"]), "module": m["module"], "func": m["func"]}
            )  # fmt: skip
            return Feed.TAKE
        return self._continuation(s)

    def _take_node(self, s: str, line_no: int) -> Feed | None:
        if (m := _RE_NODE_ONLY.match(s)) is not None:
            if self._rank >= _RANK_SUMMARY:
                return Feed.END
            self._pending_node = int(m[1])  # `Node N ` printed alone: a zone/buddy line follows
            self._cur = None
            return Feed.TAKE
        if (m := _RE_ZONEISH.match(s)) is not None:
            self._pending_node = None
            return self._zoneish(m, int(m["node"]), s, line_no)
        if (m := _RE_HUGE.match(s)) is not None:
            r = self._new("huge", line_no, 5, node=int(m["node"]))
            if isinstance(r, Feed):
                return r
            r.parts.append(m["rest"])
            return Feed.TAKE
        if (m := _RE_NODE_LINE.match(s)) is not None:
            r = self._new("node", line_no, 2, node=int(m["node"]))
            if isinstance(r, Feed):
                return r
            r.parts.append(m["rest"])
            return Feed.TAKE
        return None

    def _zoneish(self, m: re.Match[str], node: int | None, s: str, line_no: int) -> Feed:
        zone = m["zone"]
        if m["pcp"] is not None:
            r = self._new("pcp", line_no, 0, node=node, zone=zone)
            return r if isinstance(r, Feed) else Feed.TAKE
        kind, rank = ("zone", 3) if m["free"] is not None else ("buddy", 4)
        r = self._new(kind, line_no, rank, node=node, zone=zone)
        if isinstance(r, Feed):
            return r
        r.parts.append(s[m.end("free") - 5 if kind == "zone" else m.end() :])
        return Feed.TAKE

    def _take_tail(self, s: str, line_no: int) -> Feed | None:
        m = _RE_TAIL.match(s)
        if m is None:
            return None
        keys = [k for k, v in m.groupdict().items() if v is not None]
        rank = 9 if "alloc_tags" in keys else 8
        if keys[0] in _PAGECACHE_KEYS:
            rank = 6
        elif keys[0] in _SWAP_KEYS:
            rank = 7
        if self._rank > rank or any(k in self._tail for k in keys):
            return Feed.END  # an earlier summary line again: another dump
        self._rank = max(self._rank, rank)
        for k in keys:
            if k == "alloc_tags":
                self._tail[k] = None
            elif k == "swapstats_start":
                rec = _Rec("swapstats", line_no, parts=[s])
                self._recs.append(rec)
                self._cur = rec
                self._tail[k] = None
                return Feed.TAKE
            else:
                self._tail[k] = _int(m[k])
        if "ram_pages" in keys:
            self.complete = True
        self._cur = None
        return Feed.TAKE

    def _continuation(self, s: str) -> Feed | None:
        """A wrapped piece or pr_cont fragment of the current record, or a global line."""
        cur = self._cur
        kind = cur.kind if cur is not None else None
        if _RE_GLOBAL.match(s) is not None:
            if kind in ("zone", "node") and all(
                t.split(":", 1)[0] in ("pages_scanned", "node_pages_scanned") for t in s.split()
            ):
                assert cur is not None
                cur.parts.append(s)
                return Feed.TAKE
            if self._global is None:
                r = self._new("global", self.first.line_no, 1)
                if isinstance(r, Feed):
                    return r
                self._global = r
            elif self._rank >= _RANK_SUMMARY:
                return Feed.END
            self._global.parts.append(s)
            self._cur = self._global
            return Feed.TAKE
        if cur is None:
            return None
        if (
            kind in ("zone", "node")
            and (
                _RE_KV_START.match(s) is not None
                # a wrap between `shmem_thp:` / `all_unreclaimable?` and its value
                or (cur.parts[-1].rstrip()[-1:] in (":", "?") and _RE_DANGLING.match(s) is not None)
            )
        ):
            cur.parts.append(s)
            return Feed.TAKE
        if kind == "buddy" and _RE_BUDDY_CONT.match(s) is not None:
            cur.parts.append(s)
            return Feed.TAKE
        if kind == "lowmem" and _RE_INTS.match(s) is not None:
            cur.parts.append(s)
            return Feed.TAKE
        if kind == "huge" and _RE_HUGE_CONT.match(s) is not None:
            cur.parts.append(s)
            return Feed.TAKE
        if kind == "swapstats" and _RE_SWAPSTATS_CONT.match(s) is not None:
            cur.parts.append(s)
            return Feed.TAKE
        return None

    # -- output -------------------------------------------------------------------------
    def finish(self, cut: str | None) -> None:
        if self._finished:
            return
        self._finished = True
        if not self.complete:
            why = f" ({cut})" if cut else ""
            self.problems.append(
                f"Mem-Info at line {self.first.line_no} cut before its summary{why}"
            )
        owner = self.owner
        sid = self.snapshot_id
        page_kb = self._page_size_kb()
        zones: dict[tuple[int | None, str], dict[str, Any]] = {}
        last_zone: dict[str, Any] | None = None
        buddy_rows: list[dict[str, Any]] = []
        row: dict[str, Any] = {}
        for rec in self._recs:
            if rec.kind == "global":
                self._parse_global(rec, row)
            elif rec.kind == "node":
                values = self._parse_kv(rec, _NODE_COLS, f"Node {rec.node}")
                owner.row("meminfo_nodes", snapshot_id=sid, node=rec.node, **values)
            elif rec.kind == "zone":
                z = zones.setdefault(
                    (rec.node, rec.zone or ""), {"node": rec.node, "zone": rec.zone}
                )
                z.update(self._parse_kv(rec, _ZONE_COLS, _where(rec)))
                last_zone = z
            elif rec.kind == "lowmem":
                self._parse_lowmem(rec, last_zone)
                last_zone = None
            elif rec.kind == "buddy":
                z = zones.setdefault(
                    (rec.node, rec.zone or ""), {"node": rec.node, "zone": rec.zone}
                )
                buddy_rows.extend(self._parse_buddy(rec, page_kb, z))
            elif rec.kind == "huge":
                self._parse_huge(rec)
            elif rec.kind == "swapstats":
                self._parse_swapstats(rec)
        for z in zones.values():
            owner.row("zones", snapshot_id=sid, **z)
        for b in buddy_rows:
            owner.row("buddy", snapshot_id=sid, **b)
        for p in self._pcp:
            owner.row("zone_pcp", snapshot_id=sid, **p)
        for t in self._tags:
            owner.row("meminfo_alloc_tags", snapshot_id=sid, **t)
        row.update(
            {k: v for k, v in self._tail.items() if k not in ("alloc_tags", "swapstats_start")}
        )
        first = self.first
        owner.row(
            "meminfo", snapshot_id=sid, boot=first.boot, ts=first.ts, line_start=first.line_no,
            line_end=self.last_line_no, header=self.header, complete=self.complete,
            page_size_kb=page_kb, other="; ".join(self._other) or None,
            problems="; ".join(self.problems) or None, **row,
        )  # fmt: skip

    def _page_size_kb(self) -> int | None:
        sizes = [
            int(m[2])
            for rec in self._recs
            if rec.kind == "buddy"
            for tok in _joined(rec).split()
            if (m := _BUDDY_ENTRY.match(tok)) is not None
        ]
        return min(sizes) if sizes else None

    def _parse_global(self, rec: _Rec, row: dict[str, Any]) -> None:
        for tok in _joined(rec).split():
            key, _, val = tok.partition(":")
            column = _GLOBAL_COLS.get(key.lower().replace("-", "_"))
            v = _int(val) if val.lstrip("-").isdigit() else None
            if v is None:
                self.problems.append(f"Mem-Info global: unreadable {tok!r}")
            elif column is None:
                self._other.append(tok)
            else:
                row[column] = v

    def _parse_kv(
        self, rec: _Rec, columns: dict[str, tuple[str, str]], where: str
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        other: list[str] = []
        for tok in _KV_SPACE.sub(r"\1", _joined(rec)).split():
            key, sep, val = tok.partition(":")
            if not sep:
                ar = tok.removeprefix("all_unreclaimable?")
                if ar in ("yes", "no") and ar != tok:
                    values["all_unreclaimable"] = ar == "yes"
                else:
                    self.problems.append(f"{where}: unreadable {tok!r}")
                continue
            unit = ""
            if val[-2:] in ("kB", "KB"):
                val, unit = val[:-2], "kB"
            v = _int(val) if val.lstrip("-").isdigit() and key else None
            spec = columns.get(key.lower())
            if v is not None and spec is None:
                other.append(tok)
            elif v is None or spec is None or (spec[1] == "kB") != (unit == "kB"):
                self.problems.append(f"{where}: unreadable {tok!r}")
            else:
                values[spec[0]] = v
        values["other"] = " ".join(other) or None
        return values

    def _parse_lowmem(self, rec: _Rec, zone: dict[str, Any] | None) -> None:
        toks = _joined(rec).split()
        if zone is None:
            self.problems.append(f"lowmem_reserve[] at line {rec.line_no} follows no zone line")
            return
        if not all(_RE_INTS.match(t) for t in toks):
            self.problems.append(f"{_where_z(zone)}: unreadable lowmem_reserve[] {toks!r}")
            return
        zone["lowmem_reserve"] = [int(t) for t in toks]

    def _parse_buddy(
        self, rec: _Rec, page_kb: int | None, zone: dict[str, Any]
    ) -> list[dict[str, Any]]:
        where = _where(rec)
        rows: list[dict[str, Any]] = []
        total: int | None = None
        after_eq = False
        broken = False
        toks = _joined(rec).split()
        if toks == ["empty"]:  # `DMA: empty`, an unpopulated zone (2.6.0-2.6.2x)
            return rows
        for tok in toks:
            if (m := _BUDDY_ENTRY.match(tok)) is not None and not after_eq:
                size = int(m[2])
                order = _order(size, page_kb)
                if order is None:
                    broken = True
                    self.problems.append(f"{where}: block size {tok!r} is not a page multiple")
                rows.append(
                    {"node": rec.node, "zone": rec.zone, "order": order, "size_kb": size,
                     "count": int(m[1]), "types": None}
                )  # fmt: skip
            elif (m := _BUDDY_TYPES.match(tok)) is not None and rows and rows[-1]["types"] is None:
                rows[-1]["types"] = m[1]
            elif tok == "=" and not after_eq:
                after_eq = True
            elif after_eq and total is None and (m := _BUDDY_TOTAL.match(tok)) is not None:
                total = int(m[1])
            else:
                broken = True
                self.problems.append(f"{where}: unreadable buddy token {tok!r}")
        if total is None:
            self.problems.append(f"{where}: buddy line without its `= NkB` total")
        elif not broken:
            summed = sum(r["count"] * r["size_kb"] for r in rows)
            if summed != total:
                self.problems.append(
                    f"{where}: buddy blocks add up to {summed}kB, printed total {total}kB"
                )
        for r in rows:
            r["zone_total_kb"] = total
        zone["buddy_total_kb"] = total
        return rows

    def _parse_huge(self, rec: _Rec) -> None:
        values: dict[str, Any] = {}
        for m in _HUGE_TOKEN.finditer(_joined(rec)):
            if m["bad"] is not None:
                self.problems.append(f"Node {rec.node} hugepages: unreadable {m['bad']!r}")
                continue
            name = m["key"].removeprefix("hugepages_")
            values["size_kb" if name == "size" else name] = _int(m["val"])
        extra = values.keys() - {"size_kb", "total", "free", "surp"}
        for k in extra:
            self.problems.append(f"Node {rec.node} hugepages: unknown field hugepages_{k}")
            del values[k]
        self.owner.row("hugepages", snapshot_id=self.snapshot_id, node=rec.node, **values)

    def _parse_swapstats(self, rec: _Rec) -> None:
        m = _RE_TAIL.match(_joined(rec))
        if m is None or m["swap_cache_add"] is None:
            self.problems.append(f"unreadable swap cache stats at line {rec.line_no}")
            return
        for k in _SWAPSTAT_FIELDS:
            self._tail[k] = _int(m[k])


def _joined(rec: _Rec) -> str:
    """The record's pieces as one line, without the `<4>` level marks that raw pre-3.5 log
    buffers (vmcore-dmesg, crash `log`) leave in front of continuation pieces."""
    text = " ".join(rec.parts)
    return _LEVEL_MARK.sub("", text) if "<" in text else text


def _order(size_kb: int, page_kb: int | None) -> int | None:
    if not page_kb or size_kb % page_kb:
        return None
    ratio = size_kb // page_kb
    order = int(math.log2(ratio))
    return order if 1 << order == ratio else None


def _where(rec: _Rec) -> str:
    return f"{'' if rec.node is None else f'Node {rec.node} '}{rec.zone}"


def _where_z(zone: dict[str, Any]) -> str:
    node = zone.get("node")
    return f"{'' if node is None else f'Node {node} '}{zone.get('zone')}"


# ---------------------------------------------------------------------------------------
# Unreclaimable slab dump

# v4.15 (Yang Shi, "mm: oom: show unreclaimable slab info when unreclaimable slabs > user
# memory"): `Name  Used  Total` and rows `%-17s %10luKB %10luKB`. A 2025 patch (David
# Rientjes, "mm, slab: show total unreclaimable slab footprint on oom"; merge not checked)
# prints `Name  Active_objs  Total_objs  Memory` and rows `%-30s` + a third `%10luKB`.
# The name is padded and may hold spaces: anchor on the right.
_RE_SLAB_HEADER = re.compile(r"^Name\s+(?:Used\s+Total|Active_objs\s+Total_objs\s+Memory)$")
_RE_SLAB_ROW = re.compile(
    r"^(?P<name>\S.*?)(?<=\S)\s++(?P<used>\d+)KB\s++(?P<total>\d+)KB(?:\s++(?P<memory>\d+)KB)?$"
)


class SlabInfo(SubParser):
    """`Unreclaimable slab info:` + `Name Used Total` + one row per cache (KB). The list has no
    end marker: the first line of another shape ends it."""

    tables = (SLAB_UNRECLAIMABLE,)

    def __init__(self, owner: Block, first: Line, snapshot_id: int | None = None) -> None:
        super().__init__(owner, first)
        self.snapshot_id = snapshot_id
        self._rows: list[dict[str, Any]] = []
        self._header = False
        self._finished = False

    def feed(self, line: Line) -> Feed:
        s = line.text.strip()
        if not self._header and not self._rows and _RE_SLAB_HEADER.match(s):
            self._header = True
            return Feed.TAKE
        if (m := _RE_SLAB_ROW.match(s)) is not None:
            self._rows.append(
                {"name": m["name"], "used_kb": _int(m["used"]), "total_kb": _int(m["total"]),
                 "memory_kb": _opt_int(m["memory"])}
            )  # fmt: skip
            return Feed.TAKE
        return Feed.END

    def finish(self, cut: str | None) -> None:
        if self._finished:
            return
        self._finished = True
        if not self._header:
            self.problems.append(
                f"Unreclaimable slab info at line {self.first.line_no}: no `Name Used Total` line"
            )
        for r in self._rows:
            self.owner.row("slab_unreclaimable", snapshot_id=self.snapshot_id, **r)


# ---------------------------------------------------------------------------------------
# The family for dumps nobody else owns


class ShowMemBlock(Block):
    """A show_mem dump that no open report owns: a bare `Mem-Info:` (or a global block whose
    header was lost)."""

    kind = "show_mem"

    def __init__(self, first: Line, event_id: int, sink: Sink) -> None:
        super().__init__(first, event_id, sink)
        self.meminfo = MemInfo(self, first)

    def feed(self, line: Line) -> Feed:
        return self.meminfo.feed(line)

    def finish(self, cut: str | None) -> None:
        self.meminfo.finish(cut)
        self.problems.extend(self.meminfo.problems)
        self.complete = self.meminfo.complete
        if self.complete:
            super().finish(cut)  # else MemInfo already said why


class SysRqShowMemBlock(ShowMemBlock):
    """The dump printed by SysRq-m, right after `sysrq: Show Memory`."""

    kind = "sysrq_show_mem"


SYSRQ_GAP = 3  # `Mem-Info:` at most this many lines after `Show Memory` belongs to it


class MemInfoFamily(Family):
    """Dumps outside any other report. The SysRq action line itself (`sysrq: Show Memory`,
    `SysRq : Show Memory`, `sysrq: SysRq : Show Memory` by era) belongs to the sysrq family:
    this family only notes it and declines it, so that the dump that follows in the same
    stream is told apart as SysRq-m."""

    name = "meminfo"
    triggers = ("Mem-Info:", "Mem-info:", "Show Memory", "ctive_anon:")
    pattern = regex.compile(
        r"^\s*(?:(?P<sysrq>(?:sysrq: )?(?:SysRq : )?Show Memory)\s*$|Mem-[Ii]nfo:\s*$"
        r"|[Aa]ctive_anon:\d+ [a-z_]+:\d+)"
    )
    tables = TABLES

    def __init__(self) -> None:
        # (source, boot, caller) -> line of the last `Show Memory` not yet followed by a dump
        self._sysrq: dict[tuple[str, int, str | None], int] = {}

    def start(self, line: Line, match: regex.Match[str], event_id: int, sink: Sink) -> Block | None:
        key = (line.source, line.boot, line.caller)
        if match["sysrq"] is not None:
            self._sysrq[key] = line.line_no
            return None
        after = self._sysrq.pop(key, None)
        if after is not None and 0 < line.line_no - after <= SYSRQ_GAP:
            return SysRqShowMemBlock(line, event_id, sink)
        return ShowMemBlock(line, event_id, sink)
