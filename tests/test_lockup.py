"""Soft lockups, RCU stalls, workqueue lockups and workqueue state dumps from real captures.

Counts were checked by hand with `grep -cE "BUG: soft lockup|detected stall|workqueue
lockup" <file>` (syzkaller REPORT: sections repeat a report line without a timestamp; those
count too) and `grep -c "^\\[[ 0-9.]*\\]   pwq "` for pwq lines; values were read off the lines.
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


@pytest.mark.parametrize(
    ("name", "lines", "prefix", "cpu", "secs", "comm", "pid"),
    [
        # [ 1098.601132][    C2] watchdog: BUG: soft lockup - CPU#2 stuck for 136s!
        #   [syz-executor4:4888]   (one line in the file)
        ("syzkaller/350", [8, 271], "watchdog", 2, 136, "syz-executor4", 4888),
        # [  848.443720] NMI watchdog: BUG: soft lockup - CPU#1 stuck for 123s!
        #   [syz-executor694:3996]
        ("syzkaller/296", [7], "NMI watchdog", 1, 123, "syz-executor694", 3996),
        ("syzkaller/264", [8], "watchdog", 1, 134, "syz-executor4", 4588),
        ("syzkaller/538", [6], "watchdog", 1, 134, "syz-executor.3", 16401),
        ("syzkaller/7", [10, 18], "NMI watchdog", 1, 11, "syz-executor7", 16813),
    ],
)
def test_soft_lockups(
    name: str, lines: list[int], prefix: str, cpu: int, secs: int, comm: str, pid: int
) -> None:
    df = cap(name).lockups
    assert df.line_no.tolist() == lines
    assert set(df.kind) == {"soft"}
    assert set(df.prefix) == {prefix}
    assert set(df.cpu) == {cpu} and set(df.stuck_s) == {secs}
    assert set(df.comm) == {comm} and set(df.pid) == {pid}


def test_soft_lockup_with_caller_ids_keeps_its_stack() -> None:
    c = cap("syzkaller/350")
    first = c.lockups.iloc[0]
    assert first.stack_id is not None and not first.corrupted
    ev = c.events.set_index("event_id").loc[first.event_id]
    assert ev.caller == "C2"
    # only C2 lines are in the block: other CPUs' NMI backtraces are their own events
    assert set(c.lines[c.lines.event_id == first.event_id].caller) == {"C2"}


def test_soft_lockup_foreign_line_without_caller_ids() -> None:
    # syzkaller/7 line 11 is a syzkaller program line between the lockup and its dump header
    r = cap("syzkaller/7").lockups.iloc[0]
    assert r.corrupted and "1 foreign line(s) inside (first at line 11)" in r.reason


def test_rcu_stall_detected_by_other_cpu() -> None:
    # rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:
    # rcu: \tTasks blocked on level-0 rcu_node (CPUs 0-1): P9/1:b..l
    # \t(detected by 1, t=10502 jiffies, g=49045, q=284)   (pr_cont: no `rcu: ` prefix)
    df = cap("syzkaller/612").lockups
    assert len(df) == 1
    r = df.iloc[0]
    assert (r.kind, r.prefix, r.rcu_flavor, r.rcu_self_detected) == (
        "rcu",
        "rcu",
        "rcu_preempt",
        False,
    )
    assert (r.rcu_t_jiffies, r.rcu_g, r.rcu_q, r.rcu_detected_by) == (10502, 49045, 284, 1)
    assert pd.isna(r.rcu_c)
    assert r.rcu_blocked_tasks == "Tasks blocked on level-0 rcu_node (CPUs 0-1): P9/1:b..l"
    assert r.n_task_dumps == 3  # grep -c "task:" = 3 in the C1 stream of the stall


def test_rcu_self_detected_starved() -> None:
    # rcu: INFO: rcu_preempt self-detected stall on CPU
    # rcu: \t0-...!: (10499 ticks this GP) idle=bde/1/0x4000000000000000 softirq=233837/233838 fqs=1
    # \t(t=10500 jiffies g=481481 q=89)
    # rcu: rcu_preempt kthread starved for 10498 jiffies! g481481 f0x0 RCU_GP_WAIT_FQS(5) …
    r = cap("syzkaller/521").lockups.iloc[0]
    assert r.rcu_self_detected
    assert (r.cpu, r.rcu_cpus, r.rcu_cpu_flags) == (0, "0", "0-...!")
    assert (r.rcu_t_jiffies, r.rcu_g, r.rcu_q) == (10500, 481481, 89)
    assert r.rcu_kthread_starved_jiffies == 10498
    assert r.n_task_dumps == 1  # the grace-period kthread's `task:rcu_preempt` dump


def test_rcu_old_one_line_form() -> None:
    # INFO: rcu_preempt detected stalls on CPUs/tasks: { 2} (detected by 0, t=65008 jiffies,
    # g=48068, c=48067, q=7339)
    r = cap("syzkaller/58").lockups.iloc[0]
    assert r.rcu_cpus == "2" and r.rcu_detected_by == 0
    assert (r.rcu_t_jiffies, r.rcu_g, r.rcu_c, r.rcu_q) == (65008, 48068, 48067, 7339)


def test_rcu_stall_interleaved_with_nmi_backtrace_by_caller() -> None:
    # syzkaller/492: the C1 stall lines alternate with C0's dump; `NMI backtrace for cpu 0`
    # (printed by C1) ends the stall and belongs to the sysrq family
    c = cap("syzkaller/492")
    r = c.lockups.iloc[0]
    assert (r.rcu_cpu_flags, r.rcu_t_jiffies, r.rcu_g, r.rcu_detected_by) == (
        "0-...!",
        10586,
        559657,
        1,
    )
    assert not r.corrupted
    block = c.lines[c.lines.event_id == r.event_id]
    assert block.line_no.tolist() == [5, 7, 9, 11]  # header, CPU line, (detected by), Sending NMI


def test_rcu_tasks_holdout() -> None:
    # [ T28] INFO: rcu_tasks detected stalls on tasks: / `ffff88802f594a80: .. nvcsw: 2/2
    # holdout: 1 idle_cpu: -1/1` / its sched_show_task dump; T76's line 10 is another stream
    r = cap("syzkaller/1002").lockups.iloc[0]
    assert r.rcu_flavor == "rcu_tasks" and r.n_task_dumps == 1 and not r.corrupted


def test_workqueue_lockup_line() -> None:
    # BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 32s!
    r = cap("syzkaller/94").lockups.iloc[0]
    assert (r.kind, r.stuck_s, r.wq_pool_cpus, r.wq_pool_node) == ("workqueue", 32, "0", 0)
    assert (r.wq_pool_flags, r.wq_pool_nice) == (0, 0)


def test_workqueue_dump_4_6_2() -> None:
    name = "lkml/interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt"
    wq = cap(name).workqueues
    assert len(wq) == 7  # 7 `  pwq N:` lines, 493-516
    assert wq.workqueue.tolist() == [
        "events",
        "events_freezable_power_",
        "cgroup_destroy",
        "writeback",
        "usb_hub_wq",
        "vmstat",
        "kcryptd",
    ]
    events = wq.iloc[0]
    # pwq 0: cpus=0 node=0 flags=0x0 nice=0 active=6/256; in-flight: 31967:linkwatch_event;
    # pending: em28xx_ir_work [em28xx_rc], ieee80211_delayed_tailroom_dec [mac80211],
    #          console_callback, push_to_pool, do_cache_clean
    assert (events.pwq, events.active, events.max_active) == (0, 6, 256)
    assert (events.in_flight_pids, events.n_in_flight, events.n_pending) == ("31967", 1, 5)
    writeback = wq.iloc[3]
    # pwq 8: cpus=0-3 flags=0x4 nice=0 active=2/256; in-flight: 1598:wb_workfn wb_workfn
    assert pd.isna(writeback.pool_node) and writeback.pool_cpus == "0-3"
    assert writeback.n_in_flight == 2  # one worker running one work, one more scheduled
    assert wq.iloc[5].mayday  # vmstat: `active=1/256 MAYDAY`
    kcryptd = wq.iloc[6]
    assert kcryptd.in_flight_pids == "1592,1594,2342,15543" and kcryptd.n_in_flight == 4
    assert kcryptd.inactive.startswith("kcryptd_crypt, kcryptd_crypt")  # `delayed:` list


def test_workqueue_dump_4_4_with_pools() -> None:
    c = cap("lkml/kmallocwd-4.4-vmstat-wq-pending-oldformat.txt")
    wq = c.workqueues
    assert len(wq) == 10  # 5 pwq lines in each of the two dumps
    assert wq.event_id.nunique() == 2
    # in-flight: 86:disk_events_workfn(delay=11024) (this debug build prints the delay)
    assert wq.in_flight_pids.dropna().tolist() == ["86", "86"]
    pools = c.worker_pools
    # pool 6: cpus=3 node=0 flags=0x0 nice=0 workers=3 idle: 88 26
    assert len(pools) == 2
    p = pools.iloc[0]
    assert (p.pool, p.cpus, p.node, p.workers, p.idle_pids, p.n_idle) == (6, "3", 0, 3, "88,26", 2)
    assert pd.isna(p.hung_s)
