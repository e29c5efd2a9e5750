"""SysRq dumps and NMI backtraces from real captures (sample_logs/corpus).

`NMI backtrace for cpu` counts were checked with `grep -c "NMI backtrace for cpu" <file>`;
the SysRq-w task lines with `grep -n " D ffff" <file>` between the header and line 346.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import pytest

import stalllog
from stalllog.engine.capture import Capture

CORPUS = Path(__file__).resolve().parent.parent / "sample_logs" / "corpus"


@cache
def cap(name: str) -> Capture:
    return stalllog.parse(CORPUS / name)


def test_sysrq_w_dump_4_6() -> None:
    # lines 116-346: `sysrq: SysRq : Show Blocked State`, the column header
    # `  task                        PC stack   pid father`, then six `D` tasks with raw stack
    # words and old-style traces: systemd (118), kthreadd (138), kswapd0 (169),
    # kworker/u8:3 (203, `Workqueue: phy1 …`), kworker/u8:4 (251), kworker/u8:6 (300)
    c = cap("lkml/interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt")
    (row,) = c.sysrq.itertuples()
    assert (row.action, row.key, row.n_tasks, row.line_no) == ("Show Blocked State", "w", 6, 116)
    tasks = c.tasks[c.tasks.dump_id == row.dump_id]
    assert tasks.comm.tolist() == [
        "systemd", "kthreadd", "kswapd0", "kworker/u8:3", "kworker/u8:4", "kworker/u8:6"
    ]  # fmt: skip
    assert tasks.line_no.tolist() == [118, 138, 169, 203, 251, 300]
    assert tasks.pid.tolist() == [1, 2, 766, 1470, 1592, 1594]
    assert set(tasks.state) == {"D"}
    ev = c.events.set_index("event_id").loc[row.event_id]
    assert (ev.kind, ev.line_end, ev.corrupted) == ("sysrq_dump", 346, False)
    # kswapd0's trace (lines 170-202) has stack words, then frames
    kswapd = tasks[tasks.comm == "kswapd0"].iloc[0]
    st = c.stacks.set_index("stack_id").loc[kswapd.stack_id]
    assert (st.line_start, st.line_end, st.n_frames) == (170, 202, 29)


@pytest.mark.parametrize(
    ("name", "count"),
    [("syzkaller/349", 8), ("syzkaller/350", 6), ("syzkaller/385", 4), ("syzkaller/235", 2)],
)
def test_nmi_backtrace_counts(name: str, count: int) -> None:
    assert len(cap(name).nmi_backtraces) == count


def test_nmi_backtraces_with_caller_ids() -> None:
    # syzkaller/349 lines 152-214: `NMI backtrace for cpu 3` in khungtaskd's stream [T1054];
    # `[    C0] NMI backtrace for cpu 0 skipped: idling at native_safe_halt+0x2/0x10`;
    # `[    C1] NMI backtrace for cpu 1` + `CPU: 1 PID: 5857 Comm: rs:main Q:Reg …`,
    # registers (`RIP: 0010:unwind_next_frame+0x36/0x50`) and an 18-frame trace
    nmi = cap("syzkaller/349").nmi_backtraces.sort_values("line_no").iloc[:4]
    assert nmi.cpu.tolist() == [3, 0, 2, 1]
    assert nmi.idle_symbol.tolist()[1:3] == ["native_safe_halt", "native_safe_halt"]
    assert pd.isna(nmi.pid.iloc[1])
    cpu1 = nmi.iloc[3]
    assert (cpu1.pid, cpu1.comm) == (5857, "rs:main Q:Reg")
    st = cap("syzkaller/349").stacks.set_index("stack_id").loc[cpu1.stack_id]
    assert (st.ip_function, st.n_frames) == ("unwind_next_frame", 18)
    cpu3 = nmi.iloc[0]
    assert (cpu3.pid, cpu3.comm) == (1054, "khungtaskd")


QEMU = CORPUS.parent / "qemu"
KERNELS = ("5.10.0-46-amd64", "6.1.0-56-amd64", "6.12.118+deb13-amd64")


@cache
def qcap(name: str) -> Capture:
    return stalllog.parse(QEMU / name)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("form", ["dmesg", "serial", "kmsg", "journal"])
def test_qemu_sysrq_t_w_l(kernel: str, form: str) -> None:
    # sample_logs/qemu/<kernel>-sysrq-*.log: `echo m/t/w/l > /proc/sysrq-trigger`. Task lines
    # counted with `grep -c "task:" <kernel>-sysrq-dmesg.log` (62 / 69 / 76); SysRq-w shows one
    # task (the `sh` blocked on the frozen fs), the rest belong to SysRq-t, which ends with
    # the sched debug dump (`Sched Debug Version: v0.11, …`) before `Showing busy workqueues`.
    c = qcap(f"{kernel}-sysrq-{form}.log")
    total = {"5.10.0-46-amd64": 62, "6.1.0-56-amd64": 69, "6.12.118+deb13-amd64": 76}[kernel]
    rows = c.sysrq.set_index("key")
    assert rows.loc["t", "n_tasks"] == total - 1 and bool(rows.loc["t", "sched_debug"])
    assert rows.loc["w", "n_tasks"] == 1
    assert {"m", "l"} <= set(rows.index)
    assert len(c.tasks) == total
    blocked = c.tasks[c.tasks.dump_id == rows.loc["w", "dump_id"]].iloc[0]
    assert (blocked.comm, blocked.state) == ("sh", "D")
    # every task of SysRq-t has its trace
    t_tasks = c.tasks[c.tasks.dump_id == rows.loc["t", "dump_id"]]
    assert t_tasks.stack_id.notna().all()
    # SysRq-l from `init` (pid 1) on CPU 1; CPU 0 was idle on 6.1 (`NMI backtrace for cpu 0
    # skipped: idling at native_safe_halt+0xb/0x10`), busy on 5.10 (line 1354 `CPU: 0 PID: 0
    # Comm: swapper/0 …`) and 6.12 (line 1978 `CPU: 0 UID: 0 PID: 18 Comm: rcu_preempt …`), both
    # with `RIP: 0010:native_queued_spin_lock_slowpath+…` before the trace
    nmi = c.nmi_backtraces.sort_values("line_no")
    assert nmi.cpu.tolist() == [1, 0]
    assert (nmi.pid.iloc[0], nmi.comm.iloc[0]) == (1, "init")
    if kernel.startswith("6.1."):
        assert nmi.idle_symbol.iloc[1] == "native_safe_halt" and pd.isna(nmi.stack_id.iloc[1])
    else:
        comm = "swapper/0" if kernel.startswith("5.10") else "rcu_preempt"
        assert nmi.comm.iloc[1] == comm
        stack = c.stacks.set_index("stack_id").loc[nmi.stack_id.iloc[1]]
        assert stack.ip_function == "native_queued_spin_lock_slowpath"


def test_qemu_6_1_idle_worker_and_stopper_lines() -> None:
    # 6.1.0-56-amd64-sysrq-dmesg.log line 505 `task:kworker/0:0     state:I stack:0     pid:7 …`
    # then line 506 `Workqueue:  0x0 (rcu_gp)` (idle worker: empty name, 0x0); line 614
    # `Stopper: 0x0 <- 0x0` after `task:migration/0 …` (613)
    c = qcap("6.1.0-56-amd64-sysrq-dmesg.log")
    kw = c.tasks[c.tasks.line_no == 505].iloc[0]
    assert (kw.comm, kw.pid, kw.generation) == ("kworker/0:0", 7, "6.0-6.5")
    assert pd.isna(kw.workqueue) and (kw.work_func, kw.work_desc) == ("0x0", "rcu_gp")
    mig = c.tasks[c.tasks.line_no == 613].iloc[0]
    assert mig.comm == "migration/0" and mig.stack_id >= 0
    assert len(c.frames[c.frames.stack_id == mig.stack_id]) > 0
