"""Rules of the stack classifier: one trace's reliable symbols -> a `Classification`.

classify.py documents the classes and their precedence (ANALYSIS.md §1.2, §3) and applies these
rules to the `stacks`/`frames` tables; the symbol sets they test are in stack_symbols.py.
`classify_frames` reads one trace innermost first and the first key frame decides; each rule
group below turns that key frame into a class and a detail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from .stack_symbols import (
    ALLOC,
    COMPACTION,
    CONSOLE,
    IO_PLUMBING,
    IO_SLEEP,
    IO_WAIT,
    IO_WAIT_IF_SLEEPING,
    IRQ_ENTRY,
    IRQ_ENTRY_RE,
    ISOLATE_COMPACTION,
    KSWAPD,
    LOCK_KIND,
    LOCK_WRAPPER_RE,
    NOISE,
    OOM_MUTEX_CALLERS,
    OOM_ORIGIN,
    OOM_STEPS,
    PLUMBING_RE,
    PREEMPTED,
    PRINTK,
    RECLAIM,
    SLAB,
    THROTTLE,
)


class Classification(NamedTuple):
    stuck_in: str
    stuck_detail: str | None
    key_symbol: str | None
    key_depth: int | None  # index into the symbol list given to classify_symbols
    oom_lock_role: str | None
    in_allocator: bool


class _Trace(NamedTuple):
    """Facts about the whole trace that the per-frame rules need."""

    syms: Sequence[str]
    first: int | None  # innermost meaningful (non-NOISE) frame
    wq_worker: bool
    in_alloc: bool
    kswapd: bool


# --- the rule engine --------------------------------------------------------------------------


def classify_frames(
    syms: Sequence[str], wq_worker: bool, preempted: bool = False
) -> Classification:
    """Classify one trace (no interrupt split: classify_symbols does that)."""
    present = set(syms)
    in_alloc = not present.isdisjoint(ALLOC)

    # 1. Inside out_of_memory: the oom_lock holder (§1.2), whatever it does there.
    if "out_of_memory" in present:
        return _oom_holder(syms, syms.index("out_of_memory"), in_alloc)

    first = first_meaningful(syms, len(syms))
    t = _Trace(syms, first, wq_worker, in_alloc, not present.isdisjoint(KSWAPD))
    io_sleep = None
    # 2. Otherwise the innermost key frame decides; the NOISE frames inside it only tell whether
    # the task sleeps in io_schedule (an IO wait under reclaim) or was preempted (not idle).
    for i, s in enumerate(syms):
        if s in NOISE:
            if s in IO_SLEEP and io_sleep is None:
                io_sleep = i
            if s in PREEMPTED:
                preempted = True
            continue
        c = _frame_rule(t, i, preempted, io_sleep)
        if c is not None:
            return c
    return _no_key_frame(t, io_sleep)


def _frame_rule(t: _Trace, i: int, preempted: bool, io_sleep: int | None) -> Classification | None:
    """The class if frame i is a key frame, else None (look further out)."""
    syms, s = t.syms, t.syms[i]
    # Waits first: a sleep beats the reclaim, shrinker or compaction frames around it.
    if s == "schedule_timeout_uninterruptible":
        return _uninterruptible_sleep(t, i)
    if s == "__alloc_pages_may_oom" and i > 0 and syms[i - 1] == "schedule_timeout":
        # schedule_timeout_uninterruptible() tail-calls schedule_timeout(), so an unwinder
        # following return addresses (ORC) never sees its frame; its only caller here is the
        # 1-jiffy backoff after a failed mutex_trylock(&oom_lock) (seen in a 6.12 vmcore).
        detail = f"schedule_timeout←{s}"
        return Classification("oom_lock_wait", detail, "schedule_timeout", i - 1, "waiter",
                              t.in_alloc)  # fmt: skip
    if s == "mem_cgroup_oom_synchronize":
        detail = "mem_cgroup_oom_synchronize (memcg OOM wait)"
        return Classification("oom_lock_wait", detail, s, i, None, t.in_alloc)
    if s in CONSOLE:
        j = _next(syms, i, PRINTK)
        detail = f"{s}←{syms[j]}" if j is not None else s
        return Classification("console", detail, s, i, None, t.in_alloc)
    if s in LOCK_KIND:
        return _lock(syms, i, t.in_alloc)
    if s in IO_WAIT and (s not in IO_WAIT_IF_SLEEPING or t.first == i):
        return _io(syms, i, t.in_alloc)
    if s == "msleep":
        # msleep throttles only in a too_many_isolated loop (v4.14 db73ee0d4637); else go on.
        j = _next(syms, i)
        if j is None or (syms[j] != "shrink_inactive_list" and syms[j] not in ISOLATE_COMPACTION):
            return None
        return _throttle(syms, i, t.in_alloc, t.kswapd)
    if s in THROTTLE:
        return _throttle(syms, i, t.in_alloc, t.kswapd)
    return _work_rule(t, i, preempted, io_sleep)


def _uninterruptible_sleep(t: _Trace, i: int) -> Classification | None:
    """schedule_timeout_uninterruptible: the oom_lock trylock backoff or a throttle (§1.2)."""
    syms, s = t.syms, t.syms[i]
    j = _next(syms, i)
    c = syms[j] if j is not None else None
    # The 1-jiffy backoff after a failed mutex_trylock(&oom_lock) in __alloc_pages_may_oom.
    if c == "__alloc_pages_may_oom" or (c in ALLOC and not t.wq_worker):
        return Classification("oom_lock_wait", f"{s}←{c}", s, i, "waiter", t.in_alloc)
    if c == "should_reclaim_retry":
        return Classification("throttled", f"{c}→{s}", s, i, None, t.in_alloc)
    # Trap (§1.2): should_reclaim_retry (often inlined here) sleeps the same way for wq workers.
    if c in ALLOC:
        detail = f"{s}←{c} (wq worker, ambiguous)"
        return Classification("throttled", detail, s, i, None, t.in_alloc)
    if c in ("wait_iff_congested", "congestion_wait"):
        return Classification("throttled", f"{c}→{s}", s, i, None, t.in_alloc)
    return None  # msleep & co.: decided by the caller


def _work_context(s: str, kswapd: bool) -> str | None:
    """The class a shrinker, compaction, reclaim or kswapd frame stands for."""
    if s in SLAB:
        return "slab_shrink"
    if s in COMPACTION:
        return "compaction"
    if s in RECLAIM:
        return "kswapd" if kswapd else "direct_reclaim"
    if s in KSWAPD:
        return "kswapd"
    return None


def _work_rule(t: _Trace, i: int, preempted: bool, io_sleep: int | None) -> Classification | None:
    """Frame i does memory work (shrinker, compaction, reclaim, kswapd) or is a rescuer."""
    syms, s, in_alloc = t.syms, t.syms[i], t.in_alloc
    context = _work_context(s, t.kswapd)
    if context is None:
        if s == "rescuer_thread":
            idle = t.first == i and not preempted
            detail = "idle (rescuer_thread)" if idle else _detail_in(syms, i, t.first, preempted)
            return Classification("rescuer", detail, s, i, None, in_alloc)
        return None
    # A bare io_schedule sleep under that work is an IO wait.
    if io_sleep is not None:
        j = _next(syms, io_sleep)
        assert j is not None
        detail = f"{syms[io_sleep]}←{syms[j]}" if j != i else syms[io_sleep]
        return Classification(
            "io_wait", _with_context(detail, syms, j), syms[io_sleep], io_sleep, None, in_alloc
        )
    if context == "slab_shrink":
        detail = _slab_detail(syms, i, t.first, preempted)
        return Classification("slab_shrink", detail, s, i, None, in_alloc)
    # Idle: the kernel thread's main loop is the innermost frame, and it was not preempted.
    idle = t.first == i and not preempted
    if context == "compaction":
        if s == "kcompactd" and idle:
            return Classification("compaction", "idle (kcompactd)", s, i, None, in_alloc)
        detail = _detail_in(syms, i, t.first, preempted)
        return Classification("compaction", detail, s, i, None, in_alloc)
    if s == "kswapd_try_to_sleep" or (s == "kswapd" and idle):
        return Classification("kswapd", "idle (kswapd_try_to_sleep)", s, i, None, in_alloc)
    return Classification(context, _detail_in(syms, i, t.first, preempted), s, i, None, in_alloc)


def _no_key_frame(t: _Trace, io_sleep: int | None) -> Classification:
    """No key frame: an io_schedule sleep is still an IO wait, else `other`."""
    syms, in_alloc = t.syms, t.in_alloc
    if io_sleep is not None:
        j = _next(syms, io_sleep)
        detail = f"{syms[io_sleep]}←{syms[j]}" if j is not None else syms[io_sleep]
        return Classification("io_wait", detail, syms[io_sleep], io_sleep, None, in_alloc)
    if t.first is None:
        return Classification("other", None, None, None, None, in_alloc)
    j = _next(syms, t.first)
    detail = f"{syms[t.first]}←{syms[j]}" if j is not None else syms[t.first]
    return Classification("other", detail, syms[t.first], t.first, None, in_alloc)


# --- rule groups and helpers ------------------------------------------------------------------


def _next(syms: Sequence[str], i: int, skip: frozenset[str] = NOISE) -> int | None:
    """Index of the first frame after i not in skip."""
    for j in range(i + 1, len(syms)):
        if syms[j] not in skip:
            return j
    return None


def first_meaningful(syms: Sequence[str], stop: int) -> int | None:
    for j in range(min(stop, len(syms))):
        if syms[j] not in NOISE:
            return j
    return None


def _reclaim_context(syms: Sequence[str], i: int) -> str | None:
    """Innermost shrinker, reclaim, compaction or kswapd frame outside frame i (for a detail)."""
    for j in range(i + 1, len(syms)):
        s = syms[j]
        if s in SLAB or s in RECLAIM or s in COMPACTION or s in KSWAPD:
            return s
    return None


def _with_context(detail: str, syms: Sequence[str], i: int) -> str:
    ctx = _reclaim_context(syms, i)
    return f"{detail} in {ctx}" if ctx else detail


def _oom_holder(syms: Sequence[str], oom: int, in_alloc: bool) -> Classification:
    j = _next(syms, oom)
    while j is not None and syms[j] not in OOM_ORIGIN and syms[j] in OOM_STEPS:
        j = _next(syms, j)
    # The caller of out_of_memory names the OOM kind; an unknown caller is named as it is.
    origin = "global" if j is None or syms[j] in ALLOC else OOM_ORIGIN.get(syms[j], syms[j])
    inner = first_meaningful(syms, oom + 1)
    assert inner is not None  # out_of_memory itself is meaningful
    step = next((k for k in range(inner, oom + 1) if syms[k] in OOM_STEPS), oom)
    console = next((k for k in range(inner, step) if syms[k] in CONSOLE), None)
    if console is not None:
        detail, key = f"{syms[console]}←{syms[step]}", console
    elif syms[inner] in PRINTK:
        detail, key = syms[step], step
    elif inner < step:
        detail, key = f"{syms[inner]}←{syms[step]}", inner
    else:
        detail, key = syms[step], step
    return Classification("oom_killer", f"{detail} ({origin})", syms[key], key, "holder", in_alloc)


def _lock(syms: Sequence[str], i: int, in_alloc: bool) -> Classification:
    kind = LOCK_KIND[syms[i]]
    j = i
    while j + 1 < len(syms) and (syms[j + 1] in LOCK_KIND or syms[j + 1] in NOISE):
        j += 1
    caller = j + 1 if j + 1 < len(syms) else None
    if caller is None:
        return Classification("lock_wait", kind, syms[i], i, None, in_alloc)
    c = syms[caller]
    if kind == "mutex_lock" and c in OOM_MUTEX_CALLERS:
        return Classification("oom_lock_wait", f"mutex_lock←{c}", syms[i], i, "waiter", in_alloc)
    name, user = kind, caller
    if LOCK_WRAPPER_RE.search(c):
        name = c
        user = _next(syms, caller) or caller
        while user + 1 < len(syms) and PLUMBING_RE.search(syms[user]):
            user += 1
    detail = name if user == caller and name == c else f"{name}←{syms[user]}"
    return Classification(
        "lock_wait", _with_context(detail, syms, user), syms[i], i, None, in_alloc
    )


def _io(syms: Sequence[str], i: int, in_alloc: bool) -> Classification:
    j = _next(syms, i, NOISE | IO_PLUMBING)
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
    elif s in ("congestion_wait", "reclaim_throttle") and c in ISOLATE_COMPACTION:
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


def irq_entry(syms: Sequence[str]) -> int | None:
    """Index of the outermost interrupt-entry frame, if any."""
    for i in range(len(syms) - 1, -1, -1):
        if syms[i] in IRQ_ENTRY or IRQ_ENTRY_RE.match(syms[i]):
            return i
    return None


def _slab_detail(syms: Sequence[str], i: int, first: int | None, preempted: bool) -> str:
    """The shrinker callback (the frame inside do_shrink_slab) and the innermost frame."""
    d = next((k for k, s in enumerate(syms) if s == "do_shrink_slab"), -1)
    callback = syms[d - 1] if d > 0 else syms[i]
    if first is not None and syms[first] != callback and first < max(d, i):
        detail = f"{syms[first]}←{callback}"
    else:
        detail = callback
    return f"{detail} (preempted)" if preempted else detail
