"""Schemas of the tables read from a vmcore's kernel memory (`stalllog vmcore`).

One SCHEMA entry per table, `(column, pandas dtype, unit, meaning)` as in the analyzers'
modules; `TABLES` are the same as TableSchemas, for docs/tables.md and the written files.
"""

from __future__ import annotations

import pyarrow as pa

from stalllog.parsers.base import Column, TableSchema

_CLASS = [
    ("stuck_in", "string", "", "where the task is stuck: `stack_classes.stuck_in`'s classes"),
    ("detail", "string", "", "`stack_classes.stuck_detail` of its stack"),
    ("oom_lock_role", "string", "", "'holder' (inside out_of_memory), 'waiter', or NA"),
    ("idle", "boolean", "", "an idle kernel thread (kswapd, kcompactd, worker) waiting for work"),
]

SCHEMA: dict[str, list[tuple[str, str, str, str]]] = {
    "vmcore_tasks": [
        ("pid", "Int64", "", "thread id"),
        ("tgid", "Int64", "", "process id (thread group)"),
        ("ppid", "Int64", "", "parent's process id"),
        ("comm", "string", "", "task name (untrusted text)"),
        ("state", "string", "", "task_state_to_char(): R S D T t X Z P I"),
        ("flags", "Int64", "", "task->flags (PF_*)"),
        ("cpu", "Int64", "", "task_cpu()"),
        ("on_cpu", "boolean", "", "running on a CPU when memory was dumped"),
        ("since_ran_s", "Float64", "s", "time since it last got a CPU (sched_info.last_arrival)"),
        ("memcg", "string", "", "cgroup v2 path of its memory cgroup"),
        ("rss_pages", "Int64", "pages", "file + anon + shmem RSS; NA for kernel threads"),
        ("n_frames", "Int64", "frames", "frames of its kernel stack"),
        (
            "top_frames",
            "string",
            "",
            "innermost frames the console would print (normalized), `←`-joined",
        ),
        *_CLASS,
        ("stack_error", "string", "", "why the stack could not be read, else NA"),
    ],
    "vmcore_frames": [
        ("pid", "Int64", "", "the task; joins `vmcore_tasks`"),
        ("depth", "Int64", "", "0 = innermost"),
        ("function", "string", "", "function as drgn names it (`__alloc_pages_noprof`)"),
        ("symbol", "string", "", "normalized as `frames.symbol` (`_noprof`, `.isra.N` dropped)"),
        ("offset", "Int64", "bytes", "pc - start of the function"),
        ("module", "string", "", "kernel module, NA for vmlinux"),
        ("pc", "string", "", "program counter, hex (`0xffffffff81234567`)"),
        (
            "inline",
            "boolean",
            "",
            "a function inlined at that pc (same pc as the next frame): the console does not "
            "print it, the class and `top_frames` leave it out",
        ),
    ],
    "vmcore_oom_lock": [
        ("owner_pid", "Int64", "", "the task owning the oom_lock mutex; NA when unlocked"),
        ("owner_comm", "string", "", "its name (untrusted text)"),
        ("owner_state", "string", "", "its state letter"),
        ("owner_stuck_in", "string", "", "its class (`oom_killer` when inside out_of_memory)"),
        ("owner_detail", "string", "", "its class detail"),
        ("owner_since_ran_s", "Float64", "s", "time since the owner last got a CPU"),
        ("waiters", "Int64", "tasks", "tasks on the mutex's wait list"),
        ("waiter_pids", "string", "", "their pids in queue order, space-separated"),
        ("oom_lock_wait", "Int64", "tasks", "tasks classed `oom_lock_wait` (trylock backoff)"),
        ("oom_lock_wait_pids", "string", "", "their pids, space-separated"),
        ("oom_killers", "Int64", "tasks", "tasks classed `oom_killer` (inside out_of_memory)"),
        ("uptime_s", "Float64", "s", "uptime when memory was dumped"),
    ],
    "vmcore_zones": [
        ("node", "Int64", "", "NUMA node"),
        ("zone", "string", "", "zone name (DMA, DMA32, Normal, Movable, ...)"),
        ("free_pages", "Int64", "pages", "NR_FREE_PAGES of the zone"),
        ("min", "Int64", "pages", "WMARK_MIN without the boost"),
        ("low", "Int64", "pages", "WMARK_LOW without the boost"),
        ("high", "Int64", "pages", "WMARK_HIGH without the boost"),
        ("boost", "Int64", "pages", "watermark_boost, added to every mark"),
        ("lowmem_reserve", "string", "pages", "lowmem_reserve[] as `[a, b, ...]`"),
        (
            "reserve_pages",
            "Int64",
            "pages",
            "lowmem_reserve[] entry for an allocation whose highest zone is the node's highest",
        ),
        ("present_pages", "Int64", "pages", "present pages"),
        ("managed_pages", "Int64", "pages", "pages managed by the buddy allocator"),
        ("spanned_pages", "Int64", "pages", "pages spanned"),
        ("nr_free_cma", "Int64", "pages", "free CMA pages"),
        (
            "below_min",
            "boolean",
            "",
            "`__zone_watermark_ok` fails an order-0 allocation at min: free - free CMA <= "
            "min + boost + reserve_pages",
        ),
        ("below_low", "boolean", "", "the same at low (kswapd is woken below it)"),
    ],
    "vmcore_vmstat": [
        ("name", "string", "", "counter, by the kernel's enum name in lower case"),
        ("value", "Int64", "", "its value (events summed over CPUs)"),
    ],
    "vmcore_memcg": [
        ("path", "string", "", "cgroup v2 path (untrusted text)"),
        ("usage_pages", "Int64", "pages", "memory usage"),
        ("limit_pages", "Int64", "pages", "memory.max; NA = max"),
        ("oom_kill", "Int64", "", "OOM kills in it (memory.events oom_kill)"),
        ("n_tasks", "Int64", "tasks", "tasks of the dump in it"),
    ],
}

DOCS = {
    "vmcore_tasks": "One row per task of the vmcore (idle tasks left out): state, when it last "
    "ran, its memcg and RSS, and where it is stuck by the analyzers' stack classifier "
    "(`stalllog.analyze.classify.classify_symbols` over its normalized frames).",
    "vmcore_frames": "One row per frame of every task's kernel stack, innermost first.",
    "vmcore_oom_lock": "One row: who owned the OOM killer's mutex `oom_lock` when memory was "
    "dumped, what it was doing, and who waited for it (the mutex's wait list, and tasks in the "
    "allocator's trylock backoff).",
    "vmcore_zones": "One row per populated zone: free pages against the watermarks, with the "
    "kernel's own order-0 check (`__zone_watermark_ok`, stalllog/analyze/watermark.py).",
    "vmcore_vmstat": "One row per vm counter (zone, node, NUMA and event counters).",
    "vmcore_memcg": "One row per memory cgroup: usage against its limit and its OOM kills.",
}

# the tables of a vmcore are not parsed from text: no boot, source nor line columns
_NOT_PARSED = " Made by `stalllog vmcore` from the collector's document (docs/vmcore.md)."
DOCS = {name: doc + _NOT_PARSED for name, doc in DOCS.items()}

ARROW_TYPES = {
    "Int64": pa.int64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
    "Float64": pa.float64(),
}
TABLES = tuple(
    TableSchema(
        name, DOCS[name], tuple(Column(c, ARROW_TYPES[d], unit, m) for c, d, unit, m in cols)
    )
    for name, cols in SCHEMA.items()
)
