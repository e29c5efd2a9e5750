"""Symbol tables of the stack classifier (stack_rules.py, classify.py).

Kernel function names grouped by what a frame of them says about a stuck task. Names changed
over kernel versions, so a group lists every spelling, with the renaming commit or version where
it matters. Data only: the rules that read these sets are in stack_rules.py.
"""

from __future__ import annotations

import re


def _set(names: str) -> frozenset[str]:
    return frozenset(names.split())


# Scheduler, wait-helper and stack-dump frames: never meaningful by themselves.
NOISE = _set(
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
PREEMPTED = _set(
    "_cond_resched __cond_resched preempt_schedule preempt_schedule_common ___preempt_schedule "
    "preempt_schedule_irq"
)
IO_SLEEP = frozenset({"io_schedule", "io_schedule_timeout"})

# Page allocator entry points (renamed over time: ANALYSIS.md §1.2) and slowpath helpers. The
# normalized `frames.symbol` already drops `_noprof` (v6.10+), so `__alloc_pages_noprof` is
# `__alloc_pages` here.
ALLOC_ENTRY = _set(
    """
    __alloc_pages_internal __alloc_pages_nodemask __alloc_pages __alloc_pages_node
    __alloc_pages_noprof alloc_pages_noprof
    """
)
ALLOC_SLOWPATH = _set(
    """
    __alloc_pages_slowpath __alloc_pages_may_oom __alloc_pages_direct_reclaim
    __alloc_pages_direct_compact __perform_reclaim should_reclaim_retry should_compact_retry
    __alloc_pages_cpuset_fallback
    """
)
ALLOC = ALLOC_ENTRY | ALLOC_SLOWPATH

# Callers of out_of_memory, and the origin they stand for.
OOM_ORIGIN = {
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
OOM_STEPS = _set(
    """
    dump_header dump_tasks show_mem __show_mem show_free_areas __show_free_areas
    dump_unreclaimable_slab mem_cgroup_print_oom_info mem_cgroup_print_oom_meminfo
    select_bad_process oom_evaluate_task oom_badness oom_kill_process __oom_kill_process
    oom_kill_memcg_member schedule_timeout_killable panic mark_oom_victim wake_oom_reaper
    queue_oom_reaper out_of_memory
    """
)
# Takers of oom_lock with mutex_lock (§1.1); a mutex sleep right under them waits for oom_lock.
OOM_MUTEX_CALLERS = frozenset({"mem_cgroup_out_of_memory", "moom_callback", "__oom_reap_task_mm"})

CONSOLE = _set(
    """
    console_unlock vprintk_emit console_trylock_spinning console_flush_all console_emit_next_record
    call_console_drivers __call_console_drivers console_lock serial8250_console_write
    univ8250_console_write serial8250_console_putchar wait_for_xmitr uart_console_write
    pl011_console_write vt_console_print write_msg write_ext_msg nbcon_emit_next_record
    nbcon_atomic_flush_pending console_flush_on_panic
    """
)
# printk plumbing between a console frame and the code that printed.
PRINTK = NOISE | _set(
    """
    printk _printk vprintk vprintk_default vprintk_func vprintk_emit printk_emit vprintk_deferred
    console_unlock console_trylock_spinning console_flush_all console_emit_next_record
    call_console_drivers msg_print_text record_print_text vsnprintf snprintf vscnprintf scnprintf
    log_store vprintk_store printk_deferred _printk_deferred __warn_printk
    """
)

# Lock primitives: symbol -> lock kind shown in the detail.
LOCK_KIND: dict[str, str] = {}
for _s in _set(
    "__mutex_lock __mutex_lock_slowpath __mutex_lock_common __mutex_lock_killable_slowpath "
    "__mutex_lock_interruptible_slowpath mutex_lock mutex_lock_nested mutex_lock_killable "
    "mutex_lock_interruptible mutex_lock_io mutex_lock_killable_nested "
    "mutex_lock_interruptible_nested "
    "mutex_lock_io_nested"
):
    LOCK_KIND[_s] = "mutex_lock"
# rwsem slowpaths were renamed from rwsem_down_*_failed (≤v4.19, with call_rwsem_* asm thunks) to
# rwsem_down_*_slowpath (v5.x: 6cef7ff6e43c "locking/rwsem: Merge rwsem.h and rwsem-xadd.c").
for _s in _set(
    "rwsem_down_read_failed rwsem_down_read_failed_killable call_rwsem_down_read_failed "
    "call_rwsem_down_read_failed_killable rwsem_down_read_slowpath __down_read __down_read_common "
    "__down_read_killable down_read down_read_killable down_read_nested down_read_interruptible"
):
    LOCK_KIND[_s] = "down_read"
for _s in _set(
    "rwsem_down_write_failed rwsem_down_write_failed_killable call_rwsem_down_write_failed "
    "call_rwsem_down_write_failed_killable rwsem_down_write_slowpath __down_write "
    "__down_write_common "
    "__down_write_killable down_write down_write_killable down_write_nested"
):
    LOCK_KIND[_s] = "down_write"
for _s in _set("percpu_rwsem_wait __percpu_down_read percpu_down_read"):
    LOCK_KIND[_s] = "percpu_down_read"
for _s in _set("percpu_down_write"):
    LOCK_KIND[_s] = "percpu_down_write"
for _s in _set(
    "__down __down_common __down_timeout __down_killable __down_interruptible down down_timeout "
    "down_killable down_interruptible"
):
    LOCK_KIND[_s] = "down"
for _s in _set("rt_mutex_slowlock __rt_mutex_slowlock rt_mutex_lock rtlock_slowlock"):
    LOCK_KIND[_s] = "rt_mutex_lock"

# Functions that lock something named by themselves (detail shows them instead of the kind).
LOCK_WRAPPER_RE = re.compile(r"(?:^|_)i?lock(?:_nested|_shared|_killable)?$|^lock_")
# Buffer-cache plumbing skipped when naming who wanted the lock ("xfs_buf_lock←xfs_alloc_read_agf").
PLUMBING_RE = re.compile(
    r"^_*(?:xfs_buf_|xfs_trans_read_buf|xfs_trans_get_buf|xfs_read_ag[fi]$|getblk|bread|"
    r"find_get_block|sb_bread|mutex_lock|down_|up_)"
)

# IO and page waits (§3): the frame names the wait; detail adds its caller.
IO_WAIT = _set(
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
IO_WAIT_IF_SLEEPING = frozenset({"mempool_alloc", "blk_mq_get_tag", "submit_bio_wait"})
# Generic IO wait plumbing skipped when naming the caller of an IO wait.
IO_PLUMBING = _set(
    """
    wait_on_page_bit_common folio_wait_bit_common __lock_page_killable lock_page __folio_lock
    __filemap_fdatawait_range filemap_fdatawait_range __wait_on_buffer wait_on_buffer
    rq_qos_wait wbt_wait __rq_qos_throttle rq_qos_throttle
    """
)

THROTTLE = _set(
    """
    congestion_wait wait_iff_congested reclaim_throttle throttle_direct_reclaim throttle_vm_writeout
    balance_dirty_pages balance_dirty_pages_ratelimited mem_cgroup_handle_over_high
    consider_reclaim_throttle
    """
)
ISOLATE_COMPACTION = frozenset(
    {"isolate_migratepages_block", "isolate_migratepages_range", "isolate_migratepages"}
)

COMPACTION = _set(
    """
    compact_zone compact_zone_order try_to_compact_pages __alloc_pages_direct_compact
    isolate_migratepages isolate_migratepages_block isolate_migratepages_range isolate_freepages
    isolate_freepages_block fast_isolate_freepages compaction_alloc migrate_pages
    migrate_pages_batch migrate_pages_sync unmap_and_move migrate_folio_unmap kcompactd
    kcompactd_do_work compact_node compact_pgdat proactive_compact_node sysctl_compaction_handler
    """
)

SLAB = _set(
    """
    shrink_slab shrink_slab_memcg do_shrink_slab super_cache_scan prune_icache_sb prune_dcache_sb
    shrink_slab_node
    """
)
RECLAIM = _set(
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
KSWAPD = _set("kswapd balance_pgdat kswapd_shrink_node kswapd_shrink_zone kswapd_try_to_sleep")
WQ = frozenset({"worker_thread", "rescuer_thread", "process_one_work"})

# Interrupt and NMI entry frames: outside them is the interrupted task's own code.
IRQ_ENTRY = _set(
    """
    apic_timer_interrupt common_interrupt ret_from_intr reschedule_interrupt call_function_interrupt
    call_function_single_interrupt irq_work_interrupt el1h_64_irq el1_irq __irq_svc asm_exc_nmi
    end_repeat_nmi repeat_nmi
    """
)
IRQ_ENTRY_RE = re.compile(r"^asm_(?:sysvec_|common_interrupt$)")
