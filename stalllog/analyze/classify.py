"""Stack classifier: where each traced task is stuck (table `stack_classes`).

One row per `stacks` row. The class (`stuck_in`) is decided by the most specific frame of the
trace, read innermost first over its *reliable* frames only (`frames.reliable`; the x86 `? `
guesses and ppc `(unreliable)` frames never decide anything). Rules follow ANALYSIS.md §1.2 (who
holds or waits for `oom_lock`) and §3 (what stalled tasks are doing):

- `oom_killer`: the task is inside `out_of_memory` and therefore holds `oom_lock`
  (`oom_lock_role` = "holder"), whatever it does there: printing the header (`dump_header`,
  `console_unlock`), choosing a victim, sleeping in `schedule_timeout_killable` (≤v4.18), or
  panicking. The holder is the fact that matters, so a holder flushing the console is
  `oom_killer` with detail "console_unlock←dump_header (global)", not `console`. The origin is
  the caller of `out_of_memory`: global (page allocator), memcg (`mem_cgroup_out_of_memory`),
  sysrq (`moom_callback`), pagefault (`pagefault_out_of_memory`).
- `oom_lock_wait`: the 1-jiffy trylock backoff, `schedule_timeout_uninterruptible` ←
  `__alloc_pages_may_oom`/`__alloc_pages_slowpath`; or a mutex sleep whose caller takes
  `oom_lock` (`mem_cgroup_out_of_memory`, `moom_callback`, `__oom_reap_task_mm`). Role "waiter".
  Trap (§1.2): `should_reclaim_retry` sleeps the same way for workqueue workers; a wq worker
  (kworker, rescuer) showing only `schedule_timeout_uninterruptible` ← `__alloc_pages_slowpath`
  is `throttled` with an "(wq worker, ambiguous)" detail and no role.
- `console`: printing (`console_unlock`, `vprintk_emit`, `console_trylock_spinning`, driver
  write routines) outside the OOM killer; detail names who printed ("console_unlock←warn_alloc").
- `throttled`: reclaim throttles: `too_many_isolated` loops (`congestion_wait`, `msleep`,
  `reclaim_throttle` ← `shrink_inactive_list`, or the compaction isolation loop),
  `wait_iff_congested`, `throttle_vm_writeout`, `reclaim_throttle`, `should_reclaim_retry`,
  `throttle_direct_reclaim` (pfmemalloc), `balance_dirty_pages`, memcg `memory.high`.
- `compaction`: `compact_zone`, `isolate_migratepages*`, `migrate_pages`, kcompactd.
- `slab_shrink`: `shrink_slab`/`do_shrink_slab`/`super_cache_scan`/… (detail: the callback).
- `direct_reclaim`: LRU reclaim (`shrink_page_list`/`shrink_folio_list`,
  `shrink_zone`/`shrink_node`, MGLRU `evict_folios`…) by an allocating task.
- `io_wait`: page/folio lock and writeback waits (`__lock_page`/`__folio_lock`,
  `wait_on_page_bit*`/`folio_wait_bit*`), buffer waits, `mempool_alloc`, `blk_mq_get_tag`,
  block throttling; any `io_schedule` sleep under reclaim or compaction.
- `lock_wait`: mutex, rwsem (`rwsem_down_*_failed` ≤v4.19, `rwsem_down_*_slowpath` since), percpu
  rwsem, semaphore (`down` under `xfs_buf_lock`). Detail: lock and the function taking it,
  "mutex_lock←xfs_reclaim_inodes_ag in super_cache_scan", "xfs_buf_lock←xfs_alloc_read_agf in
  shrink_page_list".
- `kswapd`: kswapd reclaiming with nothing more specific inside; idle in `kswapd_try_to_sleep`
  (or `schedule` directly under `kswapd`) has detail "idle" and `idle` True.
- `rescuer`: a WQ_MEM_RECLAIM `rescuer_thread` with nothing more specific (idle: "idle").
- `other`: none of the above; detail = the two innermost meaningful frames.

Precedence: holder (`out_of_memory` anywhere) first; otherwise the innermost key frame decides,
so a lock or IO wait beats the reclaim, shrinker, compaction or kswapd frames around it, and a
throttle sleep beats the reclaim frame that called it. A bare `io_schedule` sleep (no page/
buffer wait frame) under reclaim, compaction or a shrinker is `io_wait`.

Frames used: the first `MAX_FRAMES` reliable frames with a symbol. Distinct symbol tuples are
classified once (`classify_symbols`) and mapped back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

STUCK_CLASSES = (
    "oom_lock_wait",
    "oom_killer",
    "console",
    "throttled",
    "compaction",
    "slab_shrink",
    "direct_reclaim",
    "io_wait",
    "lock_wait",
    "kswapd",
    "rescuer",
    "other",
)

MAX_FRAMES = 40

SCHEMA: dict[str, list[tuple[str, str, str, str]]] = {
    "stack_classes": [
        ("stack_id", "Int64", "", "the trace; joins `stacks` and `frames`"),
        ("event_id", "Int64", "", "event of the trace; joins `events`"),
        ("pid", "Int64", "", "task whose stack it is, when known"),
        ("comm", "string", "", "that task's name"),
        ("stuck_in", "string", "", "class, one of STUCK_CLASSES"),
        (
            "stuck_detail",
            "string",
            "",
            "short reason: 'too_many_isolated→congestion_wait', 'xfs_buf_lock←xfs_alloc_read_agf'; "
            "'A←B' = A called from B; 'idle…' for an idle kernel thread",
        ),
        ("key_symbol", "string", "", "the frame that decided the class"),
        ("key_depth", "Int64", "", "`frames.depth` of that frame (0 = innermost)"),
        ("oom_lock_role", "string", "", "'holder' (inside out_of_memory), 'waiter', or NA"),
        (
            "in_allocator",
            "boolean",
            "",
            "a page-allocator frame (entry or slowpath) is on the stack",
        ),
        ("rescuer", "boolean", "", "a reliable rescuer_thread frame, or comm 'kworker/R-*'"),
        (
            "gfp_fs",
            "boolean",
            "",
            "NA here: the gfp mask is not on the stack (stalled_tasks has it)",
        ),
        (
            "idle",
            "boolean",
            "",
            "an idle kernel thread (kswapd, kcompactd, rescuer, worker) waiting for work",
        ),
    ]
}


class Classification(NamedTuple):
    stuck_in: str
    stuck_detail: str | None
    key_symbol: str | None
    key_depth: int | None  # index into the symbol list given to classify_symbols
    oom_lock_role: str | None
    in_allocator: bool


# --- frame sets -----------------------------------------------------------------------------


def _set(names: str) -> frozenset[str]:
    return frozenset(names.split())


# Scheduler, wait-helper and stack-dump frames: never meaningful by themselves.
_NOISE = _set(
    """
    __schedule schedule schedule_timeout schedule_preempt_disabled schedule_idle schedule_hrtimeout
    schedule_hrtimeout_range schedule_hrtimeout_range_clock __switch_to __switch_to_asm
    context_switch
    _cond_resched __cond_resched preempt_schedule preempt_schedule_common ___preempt_schedule
    preempt_schedule_irq preempt_schedule_notrace io_schedule io_schedule_timeout
    bit_wait bit_wait_io bit_wait_io_timeout __wait_on_bit __wait_on_bit_lock
    out_of_line_wait_on_bit
    out_of_line_wait_on_bit_lock wait_for_completion wait_for_common __wait_for_common
    do_wait_for_common wait_for_completion_killable wait_for_completion_timeout
    dump_stack dump_stack_lvl __dump_stack show_stack dump_backtrace unwind_backtrace dump_trace
    show_trace_log_lvl walk_stackframe sched_show_task _sched_show_task show_regs
    arch_stack_walk __unwind_start
    """
)
_PREEMPTED = _set(
    "_cond_resched __cond_resched preempt_schedule preempt_schedule_common ___preempt_schedule "
    "preempt_schedule_irq"
)
_IO_SLEEP = frozenset({"io_schedule", "io_schedule_timeout"})

# Page allocator entry points (renamed over time: ANALYSIS.md §1.2) and slowpath helpers. The
# normalized `frames.symbol` already drops `_noprof` (v6.10+), so `__alloc_pages_noprof` is
# `__alloc_pages` here.
_ALLOC_ENTRY = _set(
    """
    __alloc_pages_internal __alloc_pages_nodemask __alloc_pages __alloc_pages_node
    __alloc_pages_noprof alloc_pages_noprof
    """
)
_ALLOC_SLOWPATH = _set(
    """
    __alloc_pages_slowpath __alloc_pages_may_oom __alloc_pages_direct_reclaim
    __alloc_pages_direct_compact __perform_reclaim should_reclaim_retry should_compact_retry
    __alloc_pages_cpuset_fallback
    """
)
_ALLOC = _ALLOC_ENTRY | _ALLOC_SLOWPATH

# Callers of out_of_memory, and the origin they stand for.
_OOM_ORIGIN = {
    "__alloc_pages_may_oom": "global",
    "__alloc_pages_slowpath": "global",
    "__alloc_pages_nodemask": "global",
    "__alloc_pages": "global",
    "__alloc_pages_internal": "global",
    "mem_cgroup_out_of_memory": "memcg",
    "mem_cgroup_oom": "memcg",
    "mem_cgroup_oom_synchronize": "memcg",
    "moom_callback": "sysrq",
    "pagefault_out_of_memory": "pagefault",
}
# Steps of out_of_memory worth naming (innermost wins).
_OOM_STEPS = _set(
    """
    dump_header dump_tasks show_mem __show_mem show_free_areas __show_free_areas
    dump_unreclaimable_slab mem_cgroup_print_oom_info mem_cgroup_print_oom_meminfo
    select_bad_process oom_evaluate_task oom_badness oom_kill_process __oom_kill_process
    oom_kill_memcg_member schedule_timeout_killable panic mark_oom_victim wake_oom_reaper
    queue_oom_reaper out_of_memory
    """
)
# Takers of oom_lock with mutex_lock (§1.1); a mutex sleep right under them waits for oom_lock.
_OOM_MUTEX_CALLERS = frozenset({"mem_cgroup_out_of_memory", "moom_callback", "__oom_reap_task_mm"})

_CONSOLE = _set(
    """
    console_unlock vprintk_emit console_trylock_spinning console_flush_all console_emit_next_record
    call_console_drivers __call_console_drivers console_lock serial8250_console_write
    univ8250_console_write serial8250_console_putchar wait_for_xmitr uart_console_write
    pl011_console_write vt_console_print write_msg write_ext_msg nbcon_emit_next_record
    nbcon_atomic_flush_pending console_flush_on_panic
    """
)
# printk plumbing between a console frame and the code that printed.
_PRINTK = _NOISE | _set(
    """
    printk _printk vprintk vprintk_default vprintk_func vprintk_emit printk_emit vprintk_deferred
    console_unlock console_trylock_spinning console_flush_all console_emit_next_record
    call_console_drivers msg_print_text record_print_text vsnprintf snprintf vscnprintf scnprintf
    log_store vprintk_store printk_deferred _printk_deferred __warn_printk
    """
)

# Lock primitives: symbol -> lock kind shown in the detail.
_LOCK_KIND: dict[str, str] = {}
for _s in _set(
    "__mutex_lock __mutex_lock_slowpath __mutex_lock_common __mutex_lock_killable_slowpath "
    "__mutex_lock_interruptible_slowpath mutex_lock mutex_lock_nested mutex_lock_killable "
    "mutex_lock_interruptible mutex_lock_io mutex_lock_killable_nested "
    "mutex_lock_interruptible_nested "
    "mutex_lock_io_nested"
):
    _LOCK_KIND[_s] = "mutex_lock"
# rwsem slowpaths were renamed from rwsem_down_*_failed (≤v4.19, with call_rwsem_* asm thunks) to
# rwsem_down_*_slowpath (v5.x: 6cef7ff6e43c "locking/rwsem: Merge rwsem.h and rwsem-xadd.c").
for _s in _set(
    "rwsem_down_read_failed rwsem_down_read_failed_killable call_rwsem_down_read_failed "
    "call_rwsem_down_read_failed_killable rwsem_down_read_slowpath __down_read __down_read_common "
    "__down_read_killable down_read down_read_killable down_read_nested down_read_interruptible"
):
    _LOCK_KIND[_s] = "down_read"
for _s in _set(
    "rwsem_down_write_failed rwsem_down_write_failed_killable call_rwsem_down_write_failed "
    "call_rwsem_down_write_failed_killable rwsem_down_write_slowpath __down_write "
    "__down_write_common "
    "__down_write_killable down_write down_write_killable down_write_nested"
):
    _LOCK_KIND[_s] = "down_write"
for _s in _set("percpu_rwsem_wait __percpu_down_read percpu_down_read"):
    _LOCK_KIND[_s] = "percpu_down_read"
for _s in _set("percpu_down_write"):
    _LOCK_KIND[_s] = "percpu_down_write"
for _s in _set(
    "__down __down_common __down_timeout __down_killable __down_interruptible down down_timeout "
    "down_killable down_interruptible"
):
    _LOCK_KIND[_s] = "down"
for _s in _set("rt_mutex_slowlock __rt_mutex_slowlock rt_mutex_lock rtlock_slowlock"):
    _LOCK_KIND[_s] = "rt_mutex_lock"

# Functions that lock something named by themselves (detail shows them instead of the kind).
_LOCK_WRAPPER_RE = re.compile(r"(?:^|_)i?lock(?:_nested|_shared|_killable)?$|^lock_")
# Buffer-cache plumbing skipped when naming who wanted the lock ("xfs_buf_lock←xfs_alloc_read_agf").
_PLUMBING_RE = re.compile(
    r"^_*(?:xfs_buf_|xfs_trans_read_buf|xfs_trans_get_buf|xfs_read_ag[fi]$|getblk|bread|"
    r"find_get_block|sb_bread|mutex_lock|down_|up_)"
)

# IO and page waits (§3): the frame names the wait; detail adds its caller.
_IO_WAIT = _set(
    """
    __lock_page __lock_page_killable __lock_page_or_retry __lock_page_async lock_page
    wait_on_page_bit wait_on_page_bit_common wait_on_page_bit_killable wait_on_page_locked
    wait_on_page_writeback __wait_on_page_locked_async wait_on_page_locked_killable
    __folio_lock __folio_lock_killable __folio_lock_or_retry __folio_lock_async folio_lock
    folio_wait_bit folio_wait_bit_common folio_wait_bit_killable folio_wait_locked
    folio_wait_writeback folio_wait_stable folio_wait_locked_killable
    __wait_on_buffer wait_on_buffer __lock_buffer lock_buffer
    mempool_alloc blk_mq_get_tag rq_qos_wait wbt_wait submit_bio_wait wait_for_completion_io
    wait_for_completion_io_timeout blk_execute_rq __xfs_iflock xfs_iflock xfs_buf_iowait
    xfs_buf_submit_wait
    """
)
# These also do other work (allocate, submit): an IO wait only when sleeping right in them.
_IO_WAIT_IF_SLEEPING = frozenset({"mempool_alloc", "blk_mq_get_tag", "submit_bio_wait"})
# Generic IO wait plumbing skipped when naming the caller of an IO wait.
_IO_PLUMBING = _set(
    """
    wait_on_page_bit_common folio_wait_bit_common __lock_page_killable lock_page __folio_lock
    __filemap_fdatawait_range filemap_fdatawait_range __wait_on_buffer wait_on_buffer
    rq_qos_wait wbt_wait __rq_qos_throttle rq_qos_throttle
    """
)

_THROTTLE = _set(
    """
    congestion_wait wait_iff_congested reclaim_throttle throttle_direct_reclaim throttle_vm_writeout
    balance_dirty_pages balance_dirty_pages_ratelimited mem_cgroup_handle_over_high
    consider_reclaim_throttle
    """
)
_ISOLATE_COMPACTION = frozenset(
    {"isolate_migratepages_block", "isolate_migratepages_range", "isolate_migratepages"}
)

_COMPACTION = _set(
    """
    compact_zone compact_zone_order try_to_compact_pages __alloc_pages_direct_compact
    isolate_migratepages isolate_migratepages_block isolate_migratepages_range isolate_freepages
    isolate_freepages_block fast_isolate_freepages compaction_alloc migrate_pages
    migrate_pages_batch migrate_pages_sync unmap_and_move migrate_folio_unmap kcompactd
    kcompactd_do_work compact_node compact_pgdat proactive_compact_node sysctl_compaction_handler
    """
)

_SLAB = _set(
    """
    shrink_slab shrink_slab_memcg do_shrink_slab super_cache_scan prune_icache_sb prune_dcache_sb
    shrink_slab_node
    """
)
_RECLAIM = _set(
    """
    try_to_free_pages do_try_to_free_pages __perform_reclaim __alloc_pages_direct_reclaim
    shrink_zones shrink_zone shrink_zone_memcg shrink_lruvec shrink_node shrink_node_memcg
    shrink_node_memcgs shrink_inactive_list shrink_active_list shrink_page_list shrink_folio_list
    shrink_list shrink_lru_list pageout shrink_many shrink_one try_to_shrink_lruvec
    lru_gen_shrink_lruvec lru_gen_shrink_node evict_folios isolate_folios scan_folios
    isolate_lru_pages isolate_lru_folios try_to_free_mem_cgroup_pages reclaim_high
    mem_cgroup_shrink_node __node_reclaim node_reclaim zone_reclaim __zone_reclaim
    shrink_all_memory vmpressure vmpressure_prio
    """
)
_KSWAPD = _set("kswapd balance_pgdat kswapd_shrink_node kswapd_shrink_zone kswapd_try_to_sleep")
_WQ = frozenset({"worker_thread", "rescuer_thread", "process_one_work"})


# --- the rule engine --------------------------------------------------------------------------


def _next(syms: Sequence[str], i: int, skip: frozenset[str] = _NOISE) -> int | None:
    """Index of the first frame after i not in skip."""
    for j in range(i + 1, len(syms)):
        if syms[j] not in skip:
            return j
    return None


def _first_meaningful(syms: Sequence[str], stop: int) -> int | None:
    for j in range(min(stop, len(syms))):
        if syms[j] not in _NOISE:
            return j
    return None


def _reclaim_context(syms: Sequence[str], i: int) -> str | None:
    """Innermost shrinker, reclaim, compaction or kswapd frame outside frame i (for a detail)."""
    for j in range(i + 1, len(syms)):
        s = syms[j]
        if s in _SLAB or s in _RECLAIM or s in _COMPACTION or s in _KSWAPD:
            return s
    return None


def _with_context(detail: str, syms: Sequence[str], i: int) -> str:
    ctx = _reclaim_context(syms, i)
    return f"{detail} in {ctx}" if ctx else detail


def _oom_holder(syms: Sequence[str], oom: int, in_alloc: bool) -> Classification:
    j = _next(syms, oom)
    while j is not None and syms[j] not in _OOM_ORIGIN and syms[j] in _OOM_STEPS:
        j = _next(syms, j)
    # The caller of out_of_memory names the OOM kind; an unknown caller is named as it is.
    origin = "global" if j is None or syms[j] in _ALLOC else _OOM_ORIGIN.get(syms[j], syms[j])
    inner = _first_meaningful(syms, oom + 1)
    assert inner is not None  # out_of_memory itself is meaningful
    step = next((k for k in range(inner, oom + 1) if syms[k] in _OOM_STEPS), oom)
    console = next((k for k in range(inner, step) if syms[k] in _CONSOLE), None)
    if console is not None:
        detail, key = f"{syms[console]}←{syms[step]}", console
    elif syms[inner] in _PRINTK:
        detail, key = syms[step], step
    elif inner < step:
        detail, key = f"{syms[inner]}←{syms[step]}", inner
    else:
        detail, key = syms[step], step
    return Classification("oom_killer", f"{detail} ({origin})", syms[key], key, "holder", in_alloc)


def _lock(syms: Sequence[str], i: int, in_alloc: bool) -> Classification:
    kind = _LOCK_KIND[syms[i]]
    j = i
    while j + 1 < len(syms) and (syms[j + 1] in _LOCK_KIND or syms[j + 1] in _NOISE):
        j += 1
    caller = j + 1 if j + 1 < len(syms) else None
    if caller is None:
        return Classification("lock_wait", kind, syms[i], i, None, in_alloc)
    c = syms[caller]
    if kind == "mutex_lock" and c in _OOM_MUTEX_CALLERS:
        return Classification("oom_lock_wait", f"mutex_lock←{c}", syms[i], i, "waiter", in_alloc)
    name, user = kind, caller
    if _LOCK_WRAPPER_RE.search(c):
        name = c
        user = _next(syms, caller) or caller
        while user + 1 < len(syms) and _PLUMBING_RE.search(syms[user]):
            user += 1
    detail = name if user == caller and name == c else f"{name}←{syms[user]}"
    return Classification(
        "lock_wait", _with_context(detail, syms, user), syms[i], i, None, in_alloc
    )


def _io(syms: Sequence[str], i: int, in_alloc: bool) -> Classification:
    j = _next(syms, i, _NOISE | _IO_PLUMBING)
    detail = f"{syms[i]}←{syms[j]}" if j is not None else syms[i]
    return Classification(
        "io_wait",
        _with_context(detail, syms, j if j is not None else i),
        syms[i],
        i,
        None,
        in_alloc,
    )


def _throttle(syms: Sequence[str], i: int, in_alloc: bool, kswapd: bool) -> Classification:
    s = syms[i]
    j = _next(syms, i)
    c = syms[j] if j is not None else None
    if s == "throttle_direct_reclaim":
        detail = "throttle_direct_reclaim (pfmemalloc)"
    elif s in ("congestion_wait", "msleep", "reclaim_throttle") and c == "shrink_inactive_list":
        # too_many_isolated() is inline in shrink_inactive_list; kswapd is exempt from it, so a
        # kswapd sleeping there waits for immediate-reclaim pages instead.
        # ≤v4.13 congestion_wait loop; v4.14 msleep(100) (db73ee0d4637); v5.16 reclaim_throttle
        # (d818fca1cac3).
        detail = f"congestion_wait←{c} (kswapd)" if kswapd else f"too_many_isolated→{s}"
    elif s in ("congestion_wait", "reclaim_throttle") and c in _ISOLATE_COMPACTION:
        detail = f"too_many_isolated→{s} (compaction)"
    elif c in ("throttle_vm_writeout", "should_reclaim_retry", "wait_iff_congested"):
        detail = f"{c}→{s}"
    elif s == "reclaim_throttle" and c in ("do_try_to_free_pages", "consider_reclaim_throttle"):
        detail = "reclaim_throttle (noprogress)"
    elif c is not None:
        detail = f"{s}←{c}"
    else:
        detail = s
    return Classification("throttled", detail, s, i, None, in_alloc)


def _detail_in(syms: Sequence[str], i: int, first: int | None, preempted: bool) -> str:
    d = syms[i] if first is None or first >= i else f"{syms[first]}←{syms[i]}"
    return f"{d} (preempted)" if preempted else d


# Interrupt and NMI entry frames: outside them is the interrupted task's own code.
_IRQ_ENTRY = _set(
    """
    apic_timer_interrupt common_interrupt ret_from_intr reschedule_interrupt call_function_interrupt
    call_function_single_interrupt irq_work_interrupt el1h_64_irq el1_irq __irq_svc asm_exc_nmi
    end_repeat_nmi repeat_nmi
    """
)
_IRQ_ENTRY_RE = re.compile(r"^asm_(?:sysvec_|common_interrupt$)")


def _irq_entry(syms: Sequence[str]) -> int | None:
    """Index of the outermost interrupt-entry frame, if any."""
    for i in range(len(syms) - 1, -1, -1):
        if syms[i] in _IRQ_ENTRY or _IRQ_ENTRY_RE.match(syms[i]):
            return i
    return None


def classify_symbols(symbols: Sequence[str], wq_worker: bool = False) -> Classification:
    """Classify one trace given its reliable symbols, innermost first.

    wq_worker: the task is a workqueue worker (PF_WQ_WORKER); then a bare 1-jiffy sleep in the
    allocator may be `should_reclaim_retry`'s backoff rather than the `oom_lock` trylock backoff
    (ANALYSIS.md §1.2). Stacks containing `process_one_work`/`worker_thread`/`rescuer_thread`
    count as wq workers anyway.

    Returns (stuck_in, stuck_detail, key_symbol, key_depth, oom_lock_role, in_allocator) with
    key_depth an index into `symbols`.

    A trace that went through an interrupt (`apic_timer_interrupt`, `asm_sysvec_*`, `el1h_64_irq`
    …) is classified by the interrupted code outside the interrupt frames (the interrupt is
    usually the reporter: a watchdog, an RCU-stall dump). Only when that says nothing (`other`)
    the interrupt decides, if it is classified or allocating (an atomic allocation failing in a
    softirq over the idle loop). An interrupt flushing the console adds "(irq printing)".
    """
    syms = list(symbols)
    present = set(syms)
    wq_worker = wq_worker or not present.isdisjoint(_WQ)
    e = _irq_entry(syms)
    if e is not None and _first_meaningful(syms[e + 1 :], len(syms)) is not None:
        inner = syms[: e + 1]
        task = _classify(syms[e + 1 :], wq_worker, preempted=not _PREEMPTED.isdisjoint(inner))
        if task.key_depth is not None:
            task = task._replace(key_depth=task.key_depth + e + 1)
        irq = _classify(inner, wq_worker)
        if task.stuck_in == "other" and (irq.stuck_in != "other" or irq.in_allocator):
            return irq  # e.g. an atomic allocation failing in a softirq over the idle loop
        if irq.stuck_in == "console":
            return task._replace(stuck_detail=f"{task.stuck_detail} (irq printing)")
        return task
    return _classify(syms, wq_worker)


def _classify(syms: Sequence[str], wq_worker: bool, preempted: bool = False) -> Classification:
    present = set(syms)
    in_alloc = not present.isdisjoint(_ALLOC)
    kswapd = not present.isdisjoint(_KSWAPD)

    # 1. Inside out_of_memory: the oom_lock holder (§1.2), whatever it does there.
    if "out_of_memory" in present:
        return _oom_holder(syms, syms.index("out_of_memory"), in_alloc)

    first = _first_meaningful(syms, len(syms))
    io_sleep = None
    for i, s in enumerate(syms):
        if s in _NOISE:
            if s in _IO_SLEEP and io_sleep is None:
                io_sleep = i
            if s in _PREEMPTED:
                preempted = True
            continue
        if s == "schedule_timeout_uninterruptible":
            j = _next(syms, i)
            c = syms[j] if j is not None else None
            if c == "__alloc_pages_may_oom" or (c in _ALLOC and not wq_worker):
                return Classification("oom_lock_wait", f"{s}←{c}", s, i, "waiter", in_alloc)
            if c == "should_reclaim_retry":
                return Classification("throttled", f"{c}→{s}", s, i, None, in_alloc)
            if c in _ALLOC:
                return Classification(
                    "throttled", f"{s}←{c} (wq worker, ambiguous)", s, i, None, in_alloc
                )
            if c in ("wait_iff_congested", "congestion_wait"):
                return Classification("throttled", f"{c}→{s}", s, i, None, in_alloc)
            continue  # msleep & co.: decided by the caller
        if s == "mem_cgroup_oom_synchronize":
            return Classification(
                "oom_lock_wait", "mem_cgroup_oom_synchronize (memcg OOM wait)", s, i, None, in_alloc
            )
        if s in _CONSOLE:
            j = _next(syms, i, _PRINTK)
            detail = f"{s}←{syms[j]}" if j is not None else s
            return Classification("console", detail, s, i, None, in_alloc)
        if s in _LOCK_KIND:
            return _lock(syms, i, in_alloc)
        if s in _IO_WAIT and (s not in _IO_WAIT_IF_SLEEPING or first == i):
            return _io(syms, i, in_alloc)
        if s in _THROTTLE or (s == "msleep" and _next(syms, i) is not None):
            if s == "msleep":
                j = _next(syms, i)
                assert j is not None
                if syms[j] != "shrink_inactive_list" and syms[j] not in _ISOLATE_COMPACTION:
                    continue
            return _throttle(syms, i, in_alloc, kswapd)
        context = None
        if s in _SLAB:
            context = "slab_shrink"
        elif s in _COMPACTION:
            context = "compaction"
        elif s in _RECLAIM:
            context = "kswapd" if kswapd else "direct_reclaim"
        elif s in _KSWAPD:
            context = "kswapd"
        if context is None:
            if s == "rescuer_thread":
                idle = first == i and not preempted
                detail = "idle (rescuer_thread)" if idle else _detail_in(syms, i, first, preempted)
                return Classification("rescuer", detail, s, i, None, in_alloc)
            continue
        if io_sleep is not None:
            j = _next(syms, io_sleep)
            assert j is not None
            detail = f"{syms[io_sleep]}←{syms[j]}" if j != i else syms[io_sleep]
            return Classification(
                "io_wait", _with_context(detail, syms, j), syms[io_sleep], io_sleep, None, in_alloc
            )
        if context == "slab_shrink":
            return Classification(
                "slab_shrink", _slab_detail(syms, i, first, preempted), s, i, None, in_alloc
            )
        if context == "compaction":
            if s == "kcompactd" and first == i and not preempted:
                return Classification("compaction", "idle (kcompactd)", s, i, None, in_alloc)
            return Classification(
                "compaction", _detail_in(syms, i, first, preempted), s, i, None, in_alloc
            )
        if s == "kswapd_try_to_sleep" or (s == "kswapd" and first == i and not preempted):
            return Classification("kswapd", "idle (kswapd_try_to_sleep)", s, i, None, in_alloc)
        return Classification(context, _detail_in(syms, i, first, preempted), s, i, None, in_alloc)

    if io_sleep is not None:
        j = _next(syms, io_sleep)
        detail = f"{syms[io_sleep]}←{syms[j]}" if j is not None else syms[io_sleep]
        return Classification("io_wait", detail, syms[io_sleep], io_sleep, None, in_alloc)
    if first is None:
        return Classification("other", None, None, None, None, in_alloc)
    j = _next(syms, first)
    detail = f"{syms[first]}←{syms[j]}" if j is not None else syms[first]
    return Classification("other", detail, syms[first], first, None, in_alloc)


def _slab_detail(syms: Sequence[str], i: int, first: int | None, preempted: bool) -> str:
    """The shrinker callback (the frame inside do_shrink_slab) and the innermost frame."""
    d = next((k for k, s in enumerate(syms) if s == "do_shrink_slab"), -1)
    callback = syms[d - 1] if d > 0 else syms[i]
    if first is not None and syms[first] != callback and first < max(d, i):
        detail = f"{syms[first]}←{callback}"
    else:
        detail = callback
    return f"{detail} (preempted)" if preempted else detail


def is_idle(c: Classification) -> bool:
    """An idle kernel thread (its detail starts with "idle")."""
    return bool(c.stuck_detail and c.stuck_detail.startswith("idle"))


# --- over tables ----------------------------------------------------------------------------


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {name: pd.Series(dtype=dtype) for name, dtype, _, _ in SCHEMA["stack_classes"]}
    )


def classify_stacks(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Table `stack_classes`: one row per `stacks` row (see the module docstring).

    Vectorized: the first MAX_FRAMES reliable symbols of every stack are hashed (two 64-bit
    polynomial hashes over factorized symbol codes, plus the length); only one stack per distinct
    (hash, wq worker) key is turned into a tuple and classified; results are mapped back by index.
    """
    stacks = tables.get("stacks")
    frames = tables.get("frames")
    if stacks is None or len(stacks) == 0:
        return _empty()
    if frames is None:
        frames = pd.DataFrame({"stack_id": [], "depth": [], "symbol": [], "reliable": []})
    stack_ids = stacks["stack_id"].to_numpy(dtype=np.int64)
    n_st = len(stack_ids)

    sym_col = frames["symbol"]
    ok = sym_col.notna().to_numpy(dtype=bool) & frames["reliable"].fillna(True).to_numpy(dtype=bool)
    sid = frames["stack_id"].to_numpy(dtype=np.int64)[ok]
    depth = frames["depth"].to_numpy(dtype=np.int64)[ok]
    all_codes, uniq = pd.factorize(sym_col)  # arrow dictionary encoding: no Python strings
    codes = np.asarray(all_codes)[ok]
    uniq_syms = np.asarray(uniq, dtype=object)

    # Per-stack flags over all reliable frames (not only the first MAX_FRAMES).
    wq_codes = [i for i, u in enumerate(uniq_syms) if u in _WQ]
    resc_codes = [i for i, u in enumerate(uniq_syms) if u == "rescuer_thread"]
    wq_ids = sid[np.isin(codes, wq_codes)]
    resc_ids = sid[np.isin(codes, resc_codes)]

    if len(sid) > 1 and not (
        np.all(sid[1:] >= sid[:-1]) and np.all((sid[1:] > sid[:-1]) | (depth[1:] > depth[:-1]))
    ):
        order = np.lexsort((depth, sid))
        sid, depth, codes = sid[order], depth[order], codes[order]
    if len(sid):
        new_stack = np.r_[True, sid[1:] != sid[:-1]]
        starts = np.flatnonzero(new_stack)
        rank = np.arange(len(sid)) - np.repeat(starts, np.diff(np.r_[starts, len(sid)]))
        keep = rank < MAX_FRAMES
        sid, depth, codes, rank = sid[keep], depth[keep], codes[keep], rank[keep]
        starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
        lengths = np.diff(np.r_[starts, len(sid)])
        # Polynomial hashes of the code sequence (uint64 arithmetic wraps: fine for hashing).
        c = codes.astype(np.uint64) + np.uint64(1)
        with np.errstate(over="ignore"):
            p1 = np.power(np.uint64(1_000_003), rank.astype(np.uint64))
            p2 = np.power(np.uint64(0x9E3779B97F4A7C15), rank.astype(np.uint64))
            h1 = np.add.reduceat(c * p1, starts)
            h2 = np.add.reduceat((c ^ np.uint64(0x5BD1E995)) * p2, starts)
        frame_sids = sid[starts]
    else:
        starts = lengths = np.array([], dtype=np.int64)
        h1 = h2 = np.array([], dtype=np.uint64)
        frame_sids = np.array([], dtype=np.int64)

    # Map every stacks row to its frame run (or none).
    pos = pd.Index(frame_sids).get_indexer(stack_ids)
    has = pos >= 0
    st_start = np.where(has, starts[np.maximum(pos, 0)] if len(starts) else 0, -1)
    st_len = np.where(has, lengths[np.maximum(pos, 0)] if len(lengths) else 0, 0)
    st_h1 = np.where(has, h1[np.maximum(pos, 0)] if len(h1) else 0, 0).astype(np.uint64)
    st_h2 = np.where(has, h2[np.maximum(pos, 0)] if len(h2) else 0, 0).astype(np.uint64)

    comm = stacks["comm"].astype("string").fillna("")
    kworker = comm.str.startswith("kworker/").to_numpy(dtype=bool)
    resc_comm = comm.str.startswith("kworker/R-").to_numpy(dtype=bool)
    in_wq = np.isin(stack_ids, wq_ids) | kworker

    keys = pd.DataFrame({"h1": st_h1, "h2": st_h2, "n": st_len, "wq": in_wq})
    group, first_row = _factorize_rows(keys)

    results: list[Classification] = []
    for r in first_row.tolist():
        a, n = int(st_start[r]), int(st_len[r])
        syms = tuple(uniq_syms[codes[a : a + n]]) if n else ()
        results.append(classify_symbols(syms, wq_worker=bool(in_wq[r])))

    res = pd.DataFrame(results, columns=list(Classification._fields))
    key_idx = res["key_depth"].to_numpy(dtype=float)
    per_key = np.nan_to_num(key_idx[group], nan=-1).astype(np.int64)
    valid = (per_key >= 0) & has
    key_depth = np.full(n_st, -1, dtype=np.int64)
    if len(depth):
        key_depth[valid] = depth[st_start[valid] + per_key[valid]]
    idle = res["stuck_detail"].fillna("").str.startswith("idle").to_numpy(dtype=bool)

    def take(col: str, dtype: str) -> pd.api.extensions.ExtensionArray:
        return pd.array(res[col].to_numpy(dtype=object)[group], dtype=dtype)

    out = pd.DataFrame(
        {
            "stack_id": pd.array(stack_ids, dtype="Int64"),
            "event_id": stacks["event_id"].astype("Int64").array,
            "pid": stacks["pid"].astype("Int64").array,
            "comm": stacks["comm"].astype("string").array,
            "stuck_in": take("stuck_in", "string"),
            "stuck_detail": take("stuck_detail", "string"),
            "key_symbol": take("key_symbol", "string"),
            "key_depth": pd.array(
                [int(d) if v else None for d, v in zip(key_depth, valid, strict=True)]
                if not valid.all()
                else key_depth,
                dtype="Int64",
            ),
            "oom_lock_role": take("oom_lock_role", "string"),
            "in_allocator": take("in_allocator", "boolean"),
            "rescuer": pd.array(np.isin(stack_ids, resc_ids) | resc_comm, dtype="boolean"),
            "gfp_fs": pd.array([None] * n_st, dtype="boolean"),
            "idle": pd.array(idle[group], dtype="boolean"),
        }
    )
    return out


def _factorize_rows(keys: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Group number of every row of `keys` and the first row of every group."""
    group = keys.groupby(list(keys.columns), sort=False).ngroup().to_numpy(dtype=np.int64)
    _, first_row = np.unique(group, return_index=True)
    return group, first_row
