#!/usr/bin/env python3
"""Check that drgn reads a vmcore with its vmlinux; print what it found as JSON.

    .venv/bin/python tools/vmcore/verify_dump.py VMCORE VMLINUX

Needs drgn (`pip install drgn`). Prints one JSON object: the kernel release from the dump,
the number of tasks, the owner of `oom_lock` (pid, comm, state, stack trace; null when the
mutex is free), the number of printk records, and the time drgn took. Exit 1 if drgn cannot
open the dump or read the basics.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    import drgn
    from drgn.helpers.linux.pid import for_each_task
    from drgn.helpers.linux.printk import get_printk_records

    core, vmlinux = sys.argv[1], sys.argv[2]
    t0 = time.monotonic()
    res: dict = {"vmcore": core, "vmlinux": vmlinux, "drgn": drgn.__version__}
    prog = drgn.Program(drgn.host_platform)
    prog.set_core_dump(core)
    prog.load_debug_info([vmlinux], default=False, main=False)
    res["release"] = prog["UTS_RELEASE"].string_().decode()
    res["tasks"] = sum(1 for _ in for_each_task(prog))
    lock = prog["oom_lock"]
    raw = lock.owner.counter.value_()
    res["oom_lock_owner_raw"] = hex(raw)
    owner = raw & ~0x7
    if owner:
        task = drgn.Object(prog, "struct task_struct *", owner)
        st = {
            "pid": task.pid.value_(),
            "comm": task.comm.string_().decode(errors="replace"),
            "flags": raw & 0x7,
            "on_cpu": task.on_cpu.value_(),
        }
        try:
            from drgn.helpers.linux.sched import task_state_to_char

            st["state"] = task_state_to_char(task)
        except Exception as e:
            st["state"] = f"? ({e})"
        try:
            trace = prog.stack_trace(task)
            st["stack"] = [f.name or hex(f.pc) for f in trace]
            st["stack_text"] = str(trace)
        except Exception as e:
            st["stack_error"] = str(e)
        res["oom_lock_owner"] = st
    else:
        res["oom_lock_owner"] = None
    res["oom_lock_waiters"] = sum(
        1 for _ in drgn.helpers.linux.list.list_for_each(lock.wait_list.address_of_())
    )
    res["printk_records"] = len(get_printk_records(prog))
    res["drgn_s"] = round(time.monotonic() - t0, 2)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
