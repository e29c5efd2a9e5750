"""The collector's task list, stacks and `oom_lock` (see `collect.py`; needs drgn)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import drgn

    from .collect import Reader

__all__ = ["oom_lock", "tasks"]

MUTEX_FLAGS = 0x07  # kernel/locking/mutex.c: the low 3 bits of mutex::owner are flags


class _Kernel:
    """What this kernel's task_struct has (read once, not once per task)."""

    def __init__(self, r: Reader) -> None:
        self.last_arrival = r.has_member("struct sched_info", "last_arrival")
        if not self.last_arrival:
            r.note("sched_info.last_arrival: absent (no CONFIG_SCHED_INFO)")
        # kmallocwd (Tetsuo Handa's out-of-tree watchdog) adds task_struct::memalloc
        self.memalloc = r.has_member("struct task_struct", "memalloc")
        self.memcg_id = r.constant("memory_cgrp_id")
        if self.memcg_id is None:
            r.note("memory_cgrp_id: absent (no CONFIG_MEMCG)")
        self.memcg_paths: dict[int, str | None] = {}


def tasks(r: Reader, uptime_ns: int | None) -> list[dict[str, Any]] | None:
    """Every thread but the idle tasks, in the kernel's pid order."""
    from drgn.helpers.linux.pid import for_each_task

    k = _Kernel(r)
    found = r.read("the task list", lambda: list(for_each_task(r.prog)))
    if found is None:
        return None
    out = []
    for task in found:
        row = r.read("a task", _task, r, k, task, uptime_ns)
        if row is not None and row["pid"] != 0:
            out.append(row)
    out.sort(key=lambda row: row["pid"])
    return out


def _task(r: Reader, k: _Kernel, task: drgn.Object, uptime_ns: int | None) -> dict[str, Any]:
    from drgn.helpers.linux.sched import task_cpu, task_state_to_char

    pid = int(task.pid.value_())  # no pid, no row: the caller notes why
    what = f"task {pid}"
    arrival = None
    if k.last_arrival:
        arrival = r.read(f"{what} last_arrival", lambda: int(task.sched_info.last_arrival))
    since = None
    if arrival is not None and uptime_ns is not None:
        since = max(0, uptime_ns - arrival) / 1e9
    stack, stack_error = _stack(r.prog, task)
    return {
        "pid": pid,
        "tgid": r.read(f"{what} tgid", lambda: int(task.tgid)),
        "ppid": r.read(f"{what} ppid", lambda: int(task.real_parent.tgid)),
        "comm": r.read(f"{what} comm", lambda: _comm(task)),
        "state": r.read(f"{what} state", lambda: str(task_state_to_char(task))),
        "flags": r.read(f"{what} flags", lambda: int(task.flags)),
        "cpu": r.read(f"{what} cpu", lambda: int(task_cpu(task))),
        "on_cpu": r.read(f"{what} on_cpu", lambda: bool(task.on_cpu)),
        "last_arrival_ns": arrival,
        "since_ran_s": since,
        "memcg": r.read(f"{what} memcg", lambda: _memcg_path(k, task)),
        "rss_pages": r.read(f"{what} rss", lambda: _rss(task)),
        "memalloc": r.read(f"{what} memalloc", lambda: _memalloc(task)) if k.memalloc else None,
        "stack": stack,
        "stack_error": stack_error,
    }


def _comm(task: drgn.Object) -> str:
    return bytes(task.comm.string_()).decode("utf-8", errors="replace")


def _rss(task: drgn.Object) -> int | None:
    from drgn.helpers.linux.mm import task_rss

    if not task.mm:
        return None  # a kernel thread (or a task past exit_mm)
    rss = task_rss(task)
    return int(rss.file + rss.anon + rss.shmem)


def _memcg_path(k: _Kernel, task: drgn.Object) -> str | None:
    from drgn.helpers.linux.cgroup import cgroup_path

    if k.memcg_id is None:
        return None
    css = task.cgroups.subsys[k.memcg_id].read_()
    if not css:
        return None
    key = int(css.value_())
    if key not in k.memcg_paths:
        path = bytes(cgroup_path(css.cgroup)).decode("utf-8", errors="replace")
        k.memcg_paths[key] = path or "/"
    return k.memcg_paths[key]


def _memalloc(task: drgn.Object) -> dict[str, int] | None:
    """kmallocwd's record of the allocation in flight; None when none is in flight."""
    m = task.memalloc
    if m.type_.has_member("in_flight") and not int(m.in_flight):
        return None
    return {
        "gfp": int(m.gfp),
        "order": int(m.order),
        "seq": int(m.sequence),
        "start_jiffies": int(m.start),
    }


def _stack(prog: drgn.Program, task: drgn.Object) -> tuple[list[dict[str, Any]] | None, str | None]:
    """The kernel stack, innermost first. It ends at the first pc outside vmlinux and the
    loaded modules: user space (drgn unwinds on through user frames and zeros; the console
    trace stops there too), or the stale words of an exited task's stack."""
    from .collect import reason

    try:
        frames = []
        for frame in prog.stack_trace(task):
            row = _frame(prog, frame)
            if row is None:
                break
            frames.append(row)
        return frames, None
    except Exception as exc:  # a running task of a live kernel, a torn stack: the reason
        return None, reason(exc)


def _frame(prog: drgn.Program, frame: drgn.StackFrame) -> dict[str, Any] | None:
    """One frame as drgn names it: the source function (inlined ones are frames of their
    own, sharing the pc of the frame they were inlined into), else the symbol; None for a
    pc in no kernel module."""
    import drgn

    pc = int(frame.pc)
    try:
        module = prog.module(pc)
    except LookupError:
        return None
    try:
        symbol: drgn.Symbol | None = frame.symbol()
    except LookupError:
        symbol = None
    return {
        "function": frame.function_name or (symbol.name if symbol is not None else None),
        "offset": pc - symbol.address if symbol is not None else None,
        "module": None if isinstance(module, drgn.MainModule) else module.name,
        "pc": pc,
        "inline": bool(frame.is_inline),
    }


def oom_lock(r: Reader) -> dict[str, Any]:
    """The owner and the queue of mm/oom_kill.c's `oom_lock` mutex."""
    from drgn.helpers.linux.list import list_for_each_entry

    lock = r.read("oom_lock", lambda: r.prog["oom_lock"])
    if lock is not None and not r.has_member("struct mutex", "owner"):
        # PREEMPT_RT: struct mutex wraps an rt_mutex (v5.15, bb630f9f7a7d), not read here
        r.note("oom_lock: a PREEMPT_RT mutex (rt_mutex based), owner and waiters not read")
        lock = None
    if lock is None:
        return {"owner_pid": None, "waiters": None}

    def owner() -> int | None:
        address = int(lock.owner.counter) & ~MUTEX_FLAGS
        if not address:
            return None
        import drgn

        return int(drgn.Object(r.prog, "struct task_struct *", address).pid)

    def waiters() -> list[int]:
        head = lock.wait_list.address_of_()
        entries = list_for_each_entry("struct mutex_waiter", head, "list")
        return [int(w.task.pid) for w in entries]

    return {
        "owner_pid": r.read("oom_lock owner", owner),
        "waiters": r.read("oom_lock wait_list", waiters),
    }
