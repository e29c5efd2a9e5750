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

Modules: this one holds the public API and the vectorized pass over the tables; the per-trace
rules are in stack_rules.py and the symbol sets they test in stack_symbols.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from .stack_rules import Classification, classify_frames, first_meaningful, irq_entry
from .stack_symbols import PREEMPTED, WQ

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
    wq_worker = wq_worker or not present.isdisjoint(WQ)
    e = irq_entry(syms)
    if e is not None and first_meaningful(syms[e + 1 :], len(syms)) is not None:
        inner = syms[: e + 1]
        task = classify_frames(syms[e + 1 :], wq_worker, preempted=not PREEMPTED.isdisjoint(inner))
        if task.key_depth is not None:
            task = task._replace(key_depth=task.key_depth + e + 1)
        irq = classify_frames(inner, wq_worker)
        if task.stuck_in == "other" and (irq.stuck_in != "other" or irq.in_allocator):
            return irq  # e.g. an atomic allocation failing in a softirq over the idle loop
        if irq.stuck_in == "console":
            return task._replace(stuck_detail=f"{task.stuck_detail} (irq printing)")
        return task
    return classify_frames(syms, wq_worker)


# --- over tables ----------------------------------------------------------------------------


class _Runs(NamedTuple):
    """The frames classified, as one run per stack sorted by (stack_id, depth).

    Reliable frames with a symbol, at most MAX_FRAMES per stack. `codes` index `uniq_syms`; run k
    covers frames starts[k] : starts[k] + lengths[k] of stack stack_ids[k], with two 64-bit
    polynomial hashes h1, h2 of its codes.
    """

    depth: np.ndarray
    codes: np.ndarray
    uniq_syms: np.ndarray
    stack_ids: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    h1: np.ndarray
    h2: np.ndarray


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

    sid, depth, codes, uniq_syms = _reliable_frames(frames)
    # Per-stack flags over all reliable frames (not only the first MAX_FRAMES).
    wq_ids = _stacks_with(sid, codes, uniq_syms, WQ)
    resc_ids = _stacks_with(sid, codes, uniq_syms, frozenset({"rescuer_thread"}))
    runs = _runs(sid, depth, codes, uniq_syms)

    # Map every stacks row to its frame run (or none).
    pos = pd.Index(runs.stack_ids).get_indexer(stack_ids)
    has = pos >= 0
    st_start = np.where(has, runs.starts[np.maximum(pos, 0)] if len(runs.starts) else 0, -1)
    st_len = np.where(has, runs.lengths[np.maximum(pos, 0)] if len(runs.lengths) else 0, 0)
    st_h1 = np.where(has, runs.h1[np.maximum(pos, 0)] if len(runs.h1) else 0, 0).astype(np.uint64)
    st_h2 = np.where(has, runs.h2[np.maximum(pos, 0)] if len(runs.h2) else 0, 0).astype(np.uint64)

    comm = stacks["comm"].astype("string").fillna("")
    kworker = comm.str.startswith("kworker/").to_numpy(dtype=bool)
    resc_comm = comm.str.startswith("kworker/R-").to_numpy(dtype=bool)
    in_wq = np.isin(stack_ids, wq_ids) | kworker

    # Classify one stack per distinct (symbols, wq worker) key.
    keys = pd.DataFrame({"h1": st_h1, "h2": st_h2, "n": st_len, "wq": in_wq})
    group, first_row = _factorize_rows(keys)
    results: list[Classification] = []
    for r in first_row.tolist():
        a, n = int(st_start[r]), int(st_len[r])
        syms = tuple(uniq_syms[runs.codes[a : a + n]]) if n else ()
        results.append(classify_symbols(syms, wq_worker=bool(in_wq[r])))
    res = pd.DataFrame(results, columns=list(Classification._fields))

    rescuer = np.isin(stack_ids, resc_ids) | resc_comm
    return _table(stacks, res, group, runs.depth, st_start, has, rescuer)


def _reliable_frames(
    frames: pd.DataFrame,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """stack_id, depth and symbol code of the reliable frames with a symbol, and the symbols."""
    sym_col = frames["symbol"]
    ok = sym_col.notna().to_numpy(dtype=bool) & frames["reliable"].fillna(True).to_numpy(dtype=bool)
    sid = frames["stack_id"].to_numpy(dtype=np.int64)[ok]
    depth = frames["depth"].to_numpy(dtype=np.int64)[ok]
    all_codes, uniq = pd.factorize(sym_col)  # arrow dictionary encoding: no Python strings
    codes = np.asarray(all_codes)[ok]
    uniq_syms = np.asarray(uniq, dtype=object)
    return sid, depth, codes, uniq_syms


def _stacks_with(
    sid: np.ndarray, codes: np.ndarray, uniq_syms: np.ndarray, names: frozenset[str]
) -> np.ndarray:
    """stack_id of every frame whose symbol is in names (repeats included)."""
    wanted = [i for i, u in enumerate(uniq_syms) if u in names]
    return sid[np.isin(codes, wanted)]


def _runs(sid: np.ndarray, depth: np.ndarray, codes: np.ndarray, uniq_syms: np.ndarray) -> _Runs:
    """Sort the frames by (stack_id, depth), keep MAX_FRAMES per stack and hash every run."""
    # Parsed tables are normally sorted already: skip the lexsort then.
    if len(sid) > 1 and not (
        np.all(sid[1:] >= sid[:-1]) and np.all((sid[1:] > sid[:-1]) | (depth[1:] > depth[:-1]))
    ):
        order = np.lexsort((depth, sid))
        sid, depth, codes = sid[order], depth[order], codes[order]
    if not len(sid):
        none = np.array([], dtype=np.int64)
        no_hash = np.array([], dtype=np.uint64)
        return _Runs(depth, codes, uniq_syms, none, none, none, no_hash, no_hash)
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
    return _Runs(depth, codes, uniq_syms, sid[starts], starts, lengths, h1, h2)


def _table(
    stacks: pd.DataFrame,
    res: pd.DataFrame,
    group: np.ndarray,
    depth: np.ndarray,
    st_start: np.ndarray,
    has: np.ndarray,
    rescuer: np.ndarray,
) -> pd.DataFrame:
    """Build `stack_classes`: the classification of each stack's group, mapped back to it."""
    stack_ids = stacks["stack_id"].to_numpy(dtype=np.int64)
    n_st = len(stack_ids)
    # key_depth of a group is an index into its symbols: translate it to `frames.depth`.
    key_idx = res["key_depth"].to_numpy(dtype=float)
    per_key = np.nan_to_num(key_idx[group], nan=-1).astype(np.int64)
    valid = (per_key >= 0) & has
    key_depth = np.full(n_st, -1, dtype=np.int64)
    if len(depth):
        key_depth[valid] = depth[st_start[valid] + per_key[valid]]
    idle = res["stuck_detail"].fillna("").str.startswith("idle").to_numpy(dtype=bool)

    def take(col: str, dtype: str) -> pd.api.extensions.ExtensionArray:
        return pd.array(res[col].to_numpy(dtype=object)[group], dtype=dtype)

    return pd.DataFrame(
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
            "rescuer": pd.array(rescuer, dtype="boolean"),
            "gfp_fs": pd.array([None] * n_st, dtype="boolean"),
            "idle": pd.array(idle[group], dtype="boolean"),
        }
    )


def _factorize_rows(keys: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Group number of every row of `keys` and the first row of every group."""
    group = keys.groupby(list(keys.columns), sort=False).ngroup().to_numpy(dtype=np.int64)
    _, first_row = np.unique(group, return_index=True)
    return group, first_row
