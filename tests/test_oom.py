"""OOM killer family (parsers/oom.py) on real dumps from sample_logs/.

Every expected value below was read off the raw sample line named next to it (line numbers are
1-based lines of the file). Tests that alter a sample (split a line the way format=flowed or
syslog does, add caller ids, interleave lines from another sample, damage a digit the way
serial noise does) say so; the kernel lines themselves are always copied from the samples.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stalllog

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs" / "corpus"
LKML = SAMPLES / "lkml"


def parse(name: str) -> stalllog.Capture:
    return stalllog.parse(str(LKML / name))


def parse_lines(lines: list[str]) -> stalllog.Capture:
    return stalllog.parse(("\n".join(lines) + "\n").encode())


def read(name: str) -> list[str]:
    return (LKML / name).read_text().splitlines()


def one(df: pd.DataFrame) -> Any:
    assert len(df) == 1, df
    return df.iloc[0]


def na(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


# -- one golden dump per era ---------------------------------------------------------------------


def test_rhel6_2632_syslog_dump() -> None:
    cap = parse("oom-2.6.32-279-rhel6-haproxy-slab-unreclaimable-syslog.txt")
    r = one(cap.oom_events)
    # line 1: `dsm_sa_datamgrd invoked oom-killer: gfp_mask=0x201da, order=0, oom_adj=0,
    # oom_score_adj=0` (2.6.36-3.6 / RHEL6 form, no flag names)
    assert r.trigger_comm == "dsm_sa_datamgrd"
    assert r.gfp_mask == 0x201DA
    # no names printed: decoded by stalllog for the dump's release (2.6.32 gfp.h:
    # GFP_HIGHUSER_MOVABLE = 0x200da, __GFP_COLD = 0x100)
    assert r.gfp_flags == "GFP_HIGHUSER_MOVABLE|__GFP_COLD" and r.gfp_flags_decoded
    assert (r.order, r.oom_adj, r.oom_score_adj) == (0, 0, 0)
    assert (r.cpuset, r.mems_allowed) == ("/", "0-1")  # line 2
    assert r.trigger_pid == 4917  # line 3 `Pid: 4917, comm: dsm_sa_datamgrd Not tainted …`
    assert r.release == "2.6.32-279.19.1.el6.x86_64"
    # lines 159-160: `Out of memory: Kill process 20557 (haproxy) score 133 or sacrifice child`,
    # `Killed process 20557, UID 188, (haproxy) total-vm:8560500kB, anon-rss:12468kB,
    # file-rss:264kB`
    assert (r.selected_pid, r.selected_comm, r.score) == (20557, "haproxy", 133)
    assert (r.victim_pid, r.victim_comm, r.victim_uid) == (20557, "haproxy", 188)
    assert (r.total_vm_kb, r.anon_rss_kb, r.file_rss_kb) == (8560500, 12468, 264)
    assert na(r.shmem_rss_kb) and na(r.pgtables_kb)  # not printed before 4.5 / 5.6
    assert r.message == "Out of memory" and r.kind == "global"
    assert (r.line_start, r.line_end, r.kill_line_no) == (1, 160, 160)
    assert r.complete and not r.corrupted and na(r.reaped)
    assert r.n_tasks == 33  # `grep -c 'kernel: \[ *[0-9]*\]'` on the file
    assert r.page_kb == 4  # buddy line `Node 0 Normal: 2528*4kB …`
    # the table's `cpu oom_adj oom_score_adj` layout, e.g. line 126
    # `[  624]     0   624     2763        0   1     -17         -1000 udevd`
    t = cap.oom_tasks
    assert (t.event_id == r.event_id).all() and (t.oom_id == r.oom_id).all()
    udevd = t[t.line_no == 126].iloc[0]
    assert (udevd.pid, udevd.uid, udevd.total_vm_pages, udevd.rss_pages) == (624, 0, 2763, 0)
    assert (udevd.cpu, udevd.oom_adj, udevd.oom_score_adj) == (1, -17, -1000)
    assert udevd["name"] == "udevd"
    assert udevd.total_vm_kb == 2763 * 4 and na(udevd.swapents_pages)
    # line 157 `[20557]   188 20557  2140125     3183   0       0             0 haproxy`
    victim = one(t[t.is_victim])
    assert (victim.pid, victim.total_vm_pages, victim.rss_pages) == (20557, 2140125, 3183)
    assert victim.total_vm_kb == r.total_vm_kb  # 2140125 pages × 4 kB = total-vm:8560500kB
    # links: the trace and Mem-Info of the dump carry its event_id; every dump line is claimed
    assert one(cap.stacks).event_id == r.event_id and r.stack_id == 0
    assert one(cap.meminfo).event_id == r.event_id and r.meminfo_id == 0
    claimed = cap.lines.set_index("line_no").event_id
    assert (claimed.loc[1:160] == r.event_id).all()
    assert claimed.loc[161] != r.event_id  # `__ratelimit: 8552 callbacks suppressed`


def test_rhel7_310_syslog_hash012_dump() -> None:
    cap = parse("oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt")
    r = one(cap.oom_events)
    # line 1 `EcNet-dns invoked oom-killer: gfp_mask=0x201da, order=0, oom_score_adj=0`
    assert (r.trigger_comm, r.gfp_mask, r.order, r.oom_score_adj) == ("EcNet-dns", 0x201DA, 0, 0)
    assert na(r.oom_adj)
    assert r.trigger_pid == 2390  # line 3 `CPU: 0 PID: 2390 Comm: EcNet-dns Kdump: loaded …`
    assert r.release == "3.10.0-1160.45.1.el7.x86_64"  # `… ------------   3.10.0-… #1`
    # line 51 (RHEL7 form): `Killed process 28792 (a.out), UID 0, total-vm:8392828kB,
    # anon-rss:6375476kB, file-rss:4kB, shmem-rss:0kB`
    assert (r.victim_pid, r.victim_comm, r.victim_uid) == (28792, "a.out", 0)
    assert (r.total_vm_kb, r.anon_rss_kb, r.file_rss_kb, r.shmem_rss_kb) == (
        8392828, 6375476, 4, 0,
    )  # fmt: skip
    assert (r.selected_pid, r.score) == (28792, 474)  # line 50
    assert r.complete
    # the author's literal `...` (line 47) inside the task table: foreign, the rest intact
    assert r.corrupted and "foreign line" in r.reason and "line 47" in r.reason
    # line 49 `[28792]     0 28792  2098207  1593870    3169    24579             0 a.out`
    t = one(cap.oom_tasks[cap.oom_tasks.is_victim])
    assert (t.nr_ptes_pages, t.swapents_pages, t.oom_score_adj) == (3169, 24579, 0)
    assert t.pgtables_kb == 3169 * 4 and t.layout.startswith("pid uid tgid total_vm rss nr_ptes")
    assert r.n_tasks == 2


def test_612_arm64_journal_dump_with_truncated_lines() -> None:
    cap = parse("oom-6.12.62-rpi-arm64-journal-notimestamps-truncated.txt")
    r = one(cap.oom_events)
    # line 1 `cron invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), …`
    assert r.gfp_mask == 0x140CCA and r.gfp_flags == "GFP_HIGHUSER_MOVABLE|__GFP_COMP"
    assert r.trigger_pid == 550  # line 2, 6.11+ `CPU: 0 UID: 0 PID: 550 Comm: cron …`
    # line 79 `oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,
    # global_oom,task_memcg=/,task=python,pid=996,uid=1000`
    assert (r.constraint, r.nodemask, r.cpuset, r.mems_allowed) == (
        "CONSTRAINT_NONE", "(null)", "/", "0",
    )  # fmt: skip
    assert r.task_memcg == "/" and na(r.oom_memcg) and r.kind == "global"
    # line 80 `Out of memory: Killed process 996 (python) total-vm:2991716kB, anon-rss:122228kB,
    # file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:1156kB oom_score_adj:0`
    assert (r.victim_pid, r.victim_comm, r.victim_uid) == (996, "python", 1000)
    assert (r.total_vm_kb, r.anon_rss_kb, r.pgtables_kb, r.victim_oom_score_adj) == (
        2991716, 122228, 1156, 0,
    )  # fmt: skip
    assert r.complete and r.n_tasks == 31  # rows at lines 48-78 `grep -c '^\[ *[0-9]*\]'`
    # two Mem-Info lines were cut by the journal pager (`sec_paget>`, `mlocked:0kB>`): the
    # broken fields are named, everything else of the dump is intact
    assert r.corrupted and "sec_paget>" in r.reason and "mlocked:0kB>" in r.reason
    # 6.9+ layout; line 48 `[    266]     0   266     7206       50       32       18         0
    # 69632      256          -250 systemd-journal`
    t = cap.oom_tasks
    j = one(t[t.line_no == 48])
    assert (j.rss_pages, j.rss_anon_pages, j.rss_file_pages, j.rss_shmem_pages) == (50, 32, 18, 0)
    assert (j.pgtables_bytes, j.swapents_pages, j.oom_score_adj) == (69632, 256, -250)
    assert (j.pgtables_kb, j.rss_anon_kb) == (68, 128) and j["name"] == "systemd-journal"
    assert one(t[t.line_no == 65])["name"] == "(sd-pam)"  # a name with parentheses
    v = one(t[t.is_victim])
    assert (v.pid, v.total_vm_kb) == (996, r.total_vm_kb)  # 747929 pages × 4 kB
    assert one(cap.stacks).comm == "cron" and one(cap.stacks).event_id == r.event_id


def test_462_dump_with_reaper_and_elision() -> None:
    cap = parse("printk-dropped-4.6.2-kmallocwd-stezenbach.txt")
    r = one(cap.oom_events)
    # line 3 `make invoked oom-killer: gfp_mask=0x27000c0(GFP_KERNEL_ACCOUNT|__GFP_NOTRACK),
    # order=2, oom_score_adj=0` (4.5-4.8 form)
    assert r.gfp_flags == "GFP_KERNEL_ACCOUNT|__GFP_NOTRACK" and r.order == 2 and na(r.nodemask)
    assert (r.selected_pid, r.selected_comm, r.score) == (10431, "java", 378)  # line 6
    assert (r.anon_rss_kb, r.shmem_rss_kb) == (2521764, 0)  # line 7
    # line 8 `oom_reaper: reaped process 10431 (java), now anon-rss:0kB, file-rss:8kB, …`
    assert r.reaped and (r.reap_anon_rss_kb, r.reap_file_rss_kb, r.reap_shmem_rss_kb) == (0, 8, 0)
    assert r.reap_ts == pytest.approx(2084.938058) and r.ts_kill == pytest.approx(2084.696593)
    assert r.complete and r.corrupted and "line 5" in r.reason  # the author's `...`


def test_49_kill_without_dump_then_dump_without_kill() -> None:
    cap = parse("printk-dropped-4.9-stalls-after-oom-short.txt")
    ev = cap.oom_events
    assert len(ev) == 2
    kill, dump = ev.iloc[0], ev.iloc[1]
    # lines 1-3: a rate-limited kill (no header) and its reaper line
    assert (kill.victim_pid, kill.score, kill.reaped) == (9485, 999, True)
    assert not kill.complete and not kill.corrupted and na(kill.ts)
    # line 4: 4.9 header with `nodemask=0`; the excerpt snips its end: no kill
    assert (dump.nodemask, dump.oom_score_adj, dump.order) == ("0", 1000, 0)
    assert dump.gfp_flags == "GFP_KERNEL|__GFP_NOWARN|__GFP_COMP|__GFP_NOTRACK"
    assert not dump.complete and na(dump.victim_pid)
    # the stall report's trace 350 s later (line 21) is not this dump's
    assert na(dump.stack_id) and dump.line_end == 5


def test_kill_lines_without_header() -> None:
    r = one(parse("kmallocwd-4.4-vmstat-wq-pending-oldformat.txt").oom_events)
    # lines 1-2: `Out of memory: Kill process 9609 (a.out) score 925 or sacrifice child`,
    # `Killed process 9609 (a.out) total-vm:6314312kB, anon-rss:4578056kB, file-rss:0kB`
    assert (r.selected_pid, r.victim_pid, r.anon_rss_kb) == (9609, 9609, 4578056)
    assert na(r.shmem_rss_kb) and not r.complete and na(r.trigger_comm)
    assert r.kind == "global"  # `Out of memory:`, not `Memory cgroup out of memory:`
    r = one(parse("kmallocwd-2017-wq-mem-reclaim-186-tasks-list.txt").oom_events)
    # line 1 `Killed process 9477 (a.out) …` (no `Out of memory:` prefix) + reaper line 2
    assert (r.victim_pid, r.total_vm_kb, r.reaped, r.reap_line_no) == (9477, 4168, True, 2)
    assert na(r.message) and na(r.kind)  # nothing says which kind of OOM it was


def test_no_killable_processes_then_deadlock_panic() -> None:
    cap = parse("allocfail-5.18.7-arm64-bridge-fdb-atomic-then-panic-deadlocked.txt")
    r = one(cap.oom_events)
    # line 33 `Out of memory and no killable processes...`, line 34 `Kernel panic - not
    # syncing: System is deadlocked on memory`; the header was elided by the author
    assert r.no_killable and r.panic and r.panic_msg == "System is deadlocked on memory"
    assert na(r.victim_pid) and not r.complete and r.kill_line_no == 33
    # the panic line itself is left for the panic report
    claimed = cap.lines.set_index("line_no").event_id
    assert claimed.loc[33] == r.event_id
    assert na(claimed.loc[34]) or claimed.loc[34] != r.event_id


def test_panic_on_oom() -> None:
    ev = parse("oom-panic-4.0-panic_on_oom_timeout-rfc-short.txt").oom_events
    assert len(ev) == 2  # two headers (lines 1 and 6)
    first, second = ev.iloc[0], ev.iloc[1]
    assert first.trigger_comm == "run_test.sh" and first.trigger_pid == 5244 and not first.complete
    # line 9 `Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled`
    assert second.trigger_comm == "kworker/0:1" and second.panic and second.complete
    assert second.panic_msg == "Out of memory: system-wide panic_on_oom is enabled"
    assert second.ts_kill == pytest.approx(905.503378)


def test_syzkaller_header_inside_panic_trace() -> None:
    r = one(stalllog.parse(str(SAMPLES / "syzkaller" / "334")).oom_events)
    # `syz-executor642 invoked oom-killer: gfp_mask=0x6202c2(GFP_HIGHUSER|__GFP_NOWARN),
    # nodemask=(null), order=0, oom_score_adj=1000` then `… cpuset=syz4 mems_allowed=0-1`
    assert (r.gfp_mask, r.gfp_flags) == (0x6202C2, "GFP_HIGHUSER|__GFP_NOWARN")
    assert (r.nodemask, r.oom_score_adj) == ("(null)", 1000)
    assert (r.cpuset, r.mems_allowed) == ("syz4", "0-1")
    # the frames that follow belong to the interrupted panic trace, not to this header
    assert na(r.stack_id) and not r.complete and r.corrupted


# -- every OOM is a row ---------------------------------------------------------------------


# rows per sample, counted by hand: headers (`invoked oom-killer`) plus kill lines whose dump
# is not in the excerpt, plus `no killable processes` outcomes
EXPECTED_ROWS = {
    "allocfail-5.18.7-arm64-bridge-fdb-atomic-then-panic-deadlocked.txt": 1,
    "kmallocwd-2017-wq-mem-reclaim-186-tasks-list.txt": 1,
    "kmallocwd-4.4-vmstat-wq-pending-oldformat.txt": 1,
    "memcg-oom-3.10-rhel7-apiscp-site133-abridged.txt": 1,
    "memcg-oom-5.2-rc7-leaker-cgroupv1.txt": 1,
    "oom-2.6.32-279-rhel6-haproxy-slab-unreclaimable-syslog.txt": 1,
    "oom-3.0.101-sles11-numa-mempolicy-free-memory-no-timestamps.txt": 1,
    "oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt": 1,
    "oom-4.15-rc8-i686-holder-schedule_timeout_killable-snipped.txt": 2,
    "oom-6.12.62-rpi-arm64-journal-notimestamps-truncated.txt": 1,
    "oom-panic-4.0-panic_on_oom_timeout-rfc-short.txt": 2,
    "printk-dropped-4.6.2-kmallocwd-stezenbach.txt": 1,
    "printk-dropped-4.9-stalls-after-oom-short.txt": 2,
}


@pytest.mark.parametrize("path", sorted(LKML.glob("*.txt")), ids=lambda p: p.name)
def test_rows_per_lkml_sample(path: Path) -> None:
    ev = stalllog.parse(str(path)).oom_events
    assert len(ev) == EXPECTED_ROWS.get(path.name, 0)
    assert list(ev.oom_id) == list(range(len(ev)))
    assert (ev.line_start <= ev.line_end).all()


# -- transport damage (real lines, altered the way transports alter them) ----------------------


_I915 = "printk-dropped-4.6.2-kmallocwd-stezenbach.txt"  # lines 1-2: i915 driver messages


def test_flowed_wrap_of_kill_line_is_joined() -> None:
    lines = read("oom-6.12.62-rpi-arm64-journal-notimestamps-truncated.txt")
    kill = lines[79]
    cut = kill.index("file-rss:")  # format=flowed breaks after a space and keeps it
    r = one(parse_lines([*lines[:79], kill[:cut], kill[cut:]]).oom_events)
    assert (r.victim_pid, r.file_rss_kb, r.shmem_rss_kb, r.pgtables_kb) == (996, 0, 0, 1156)
    assert "cut short" not in (r.reason or "")


def test_syslog_split_cpuset_pieces_are_joined() -> None:
    # 3.15-4.19 build the cpuset line from pr_cont pieces; syslog may log each piece as a
    # record: line 2 `dsm_sa_datamgrd cpuset=/ mems_allowed=0-1` split that way
    lines = read("oom-2.6.32-279-rhel6-haproxy-slab-unreclaimable-syslog.txt")
    prefix = "Nov 24 19:52:22 dr-2 kernel: "
    pieces = [prefix + "dsm_sa_datamgrd cpuset=", prefix + "/", prefix + " mems_allowed=0-1"]
    r = one(parse_lines([lines[0], *pieces, *lines[2:]]).oom_events)
    assert (r.cpuset, r.mems_allowed) == ("/", "0-1")
    assert r.complete and not r.corrupted and r.victim_pid == 20557


def test_foreign_lines_and_noise_inside_task_table() -> None:
    lines = read("oom-2.6.32-279-rhel6-haproxy-slab-unreclaimable-syslog.txt")
    # another CPU's driver messages land inside the table (lines 1-2 of the 4.6.2 sample, given
    # this capture's syslog prefix), and serial noise turns one digit of line 130
    # (`[ 2054]    81  2054     5377 …`) into a `?`
    prefix = "Nov 24 19:52:22 dr-2 kernel: "
    other = [prefix + x.split("] ", 1)[1] for x in read(_I915)[:2]]
    noisy = lines[129].replace("5377", "53?7")
    capture = [*lines[:127], *other, *lines[127:129], noisy, *lines[130:]]
    cap = parse_lines(capture)
    r = one(cap.oom_events)
    assert r.victim_pid == 20557 and r.total_vm_kb == 8560500 and r.complete
    assert "2 foreign line(s) inside (first at line 128)" in r.reason
    assert "unreadable total_vm" in r.reason
    t = cap.oom_tasks
    assert len(t) == 33
    bad = one(t[t.pid == 2054])
    assert na(bad.total_vm_pages) and bad.rss_pages == 1 and bad["name"] == "dbus-daemon"
    assert bad.reason == "unreadable total_vm"


def test_caller_ids_and_reaper_from_another_task() -> None:
    # a CONFIG_PRINTK_CALLER console: the dump from T23793, the reaper line from the
    # oom_reaper kthread; another task's lines (the 4.6.2 sample's first two, stamped like
    # their neighbours) in between, among them a `Call Trace`-free driver message pair
    lines = read("memcg-oom-5.2-rc7-leaker-cgroupv1.txt")

    def caller(line: str, who: str) -> str:
        stamp, rest = line.split("] ", 1)
        return f"{stamp}][{who:>6}] {rest}"

    stamp = lines[19].split("] ", 1)[0]
    other = [caller(f"{stamp}] " + x.split("] ", 1)[1], "T777") for x in read(_I915)[:2]]
    dump = [caller(x, "T23793") for x in lines[:46]]
    capture = [*dump[:20], *other, *dump[20:], caller(lines[46], "T35")]
    cap = parse_lines(capture)
    r = one(cap.oom_events)
    assert r.complete and not r.corrupted and r.reaped and r.reap_line_no == 49
    assert (r.victim_pid, r.oom_memcg, r.n_tasks) == (23793, "/leaker", 2)


# -- any mix of real dump lines parses without error -------------------------------------------

_MIXED = [
    line
    for name in (
        "oom-6.12.62-rpi-arm64-journal-notimestamps-truncated.txt",
        "memcg-oom-5.2-rc7-leaker-cgroupv1.txt",
        "memcg-oom-3.10-rhel7-apiscp-site133-abridged.txt",
        "printk-dropped-4.6.2-kmallocwd-stezenbach.txt",
    )
    for line in read(name)
]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(_MIXED), max_size=120))
def test_any_mix_of_dump_lines(lines: list[str]) -> None:
    cap = parse_lines(lines)
    ev = cap.oom_events
    assert (ev.line_start <= ev.line_end).all()
    assert list(ev.oom_id) == list(range(len(ev)))
    # a row is complete only with a header and an outcome
    done = ev[ev.complete]
    assert done.trigger_comm.notna().all()
    assert (done.victim_pid.notna() | done.no_killable | done.panic | done.already_exiting).all()
    assert set(cap.oom_tasks.oom_id) <= set(ev.oom_id)


# -- QEMU captures of Debian kernels (sample_logs/qemu, every form of the same boot) ----------

QEMU = SAMPLES.parent / "qemu"

# serial form of every OOM boot: (rows, rows with an oom_reaper line). Counted with
# `xzcat … | grep -c 'invoked oom-killer'` / `grep -c 'Killed process'` / `grep -c
# 'oom_reaper: reaped'`; memcg boots add one row per extra memory.oom.group kill (6.1: 17
# headers, 21 kill lines of which one repeats victim 182 -> 20 rows; 6.12: 17 + 2)
QEMU_ROWS = {
    "5.10.0-46-amd64-global-oom": (32, 16),
    "5.10.0-46-amd64-global-oom-notime": (25, 13),
    "5.10.0-46-amd64-memcg-oom": (21, 0),
    "5.10.0-46-amd64-memcg-v1-oom": (16, 0),
    "5.10.0-46-amd64-sysrq-oom": (2, 0),
    "6.1.0-56-amd64-global-oom": (32, 15),
    "6.1.0-56-amd64-global-oom-notime": (32, 16),
    "6.1.0-56-amd64-memcg-oom": (20, 0),
    "6.1.0-56-amd64-memcg-v1-oom": (16, 0),
    "6.1.0-56-amd64-sysrq-oom": (2, 0),
    "6.12.118+deb13-amd64-global-oom": (32, 15),
    "6.12.118+deb13-amd64-global-oom-notime": (26, 13),
    "6.12.118+deb13-amd64-memcg-oom": (19, 0),
    "6.12.118+deb13-amd64-sysrq-oom": (2, 0),
}


def qemu(boot: str, form: str) -> stalllog.Capture:
    path = QEMU / f"{boot}-{form}.log"
    return stalllog.parse(str(path if path.exists() else path.with_suffix(".log.xz")))


@pytest.mark.parametrize("boot", sorted(QEMU_ROWS))
def test_qemu_serial_rows(boot: str) -> None:
    ev = qemu(boot, "serial").oom_events
    rows, reaped = QEMU_ROWS[boot]
    assert len(ev) == rows and int(ev.reaped.fillna(False).sum()) == reaped
    assert ev.complete.all()


@pytest.mark.parametrize(
    "boot",
    [
        "5.10.0-46-amd64-global-oom-notime",
        "6.1.0-56-amd64-memcg-oom",
        "6.12.118+deb13-amd64-sysrq-oom",
    ],
)
def test_qemu_forms_agree(boot: str) -> None:
    # serial console, dmesg, /dev/kmsg, dmesg -T and journalctl of the same boot: same OOMs
    def key(form: str) -> list[tuple[Any, ...]]:
        ev = qemu(boot, form).oom_events
        cols = ["victim_pid", "trigger_pid", "gfp_mask", "order", "anon_rss_kb", "n_tasks"]
        return [tuple(None if na(v) else v for v in row) for row in ev[cols].itertuples(False)]

    serial = key("serial")
    for form in ("dmesg", "kmsg", "dmesg-T", "journal"):
        assert key(form) == serial, form


def test_510_global_oom_serial_dump() -> None:
    ev = qemu("5.10.0-46-amd64-global-oom", "serial").oom_events
    r = ev.iloc[0]
    # line 341 `hog invoked oom-killer: gfp_mask=0x100dca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO),
    # order=0, oom_score_adj=0`, line 342 `CPU: 2 PID: 135 Comm: hog Not tainted
    # 5.10.0-46-amd64 #1 Debian 5.10.262-1`
    assert (r.line_start, r.trigger_comm, r.trigger_pid) == (341, "hog", 135)
    assert (r.gfp_mask, r.gfp_flags, r.release) == (
        0x100DCA, "GFP_HIGHUSER_MOVABLE|__GFP_ZERO", "5.10.0-46-amd64",
    )  # fmt: skip
    # line 400 `oom-kill:…,global_oom,task_memcg=/,task=hog,pid=124,uid=0`, line 401
    # `Out of memory: Killed process 124 (hog) total-vm:212896kB, anon-rss:14512kB,
    # file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:84kB oom_score_adj:300`
    assert (r.victim_pid, r.total_vm_kb, r.anon_rss_kb, r.pgtables_kb) == (124, 212896, 14512, 84)
    assert (r.victim_oom_score_adj, r.kill_line_no, r.kind) == (300, 401, "global")
    # line 402, 2.1 s later: `oom_reaper: reaped process 124 (hog), now anon-rss:0kB, …`
    assert r.reaped and r.reap_line_no == 402 and r.reap_ts == pytest.approx(10.10513)
    # lines 392-399: 8 tasks; `[    124]     0   124    53224     3628    86016        0
    # 300 hog` is the victim: 53224 pages × 4 kB = total-vm:212896kB
    assert r.n_tasks == 8 and r.page_kb == 4 and r.complete and not r.corrupted
    assert ev.iloc[1].victim_pid == 125 and ev.iloc[1].line_start == 403


def test_612_global_oom_serial_dump() -> None:
    # the 6.x serial capture counted by hand: 32 `invoked oom-killer`, 32 `Killed process`
    cap = qemu("6.12.118+deb13-amd64-global-oom", "serial")
    r = cap.oom_events.iloc[0]
    assert r.trigger_pid == 192  # line 390 `CPU: 2 UID: 0 PID: 192 Comm: hog …`
    assert r.gfp_flags == "GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO"
    # line 458 `Out of memory: Killed process 183 (hog) … shmem-rss:700kB, UID:0 pgtables:88kB
    # oom_score_adj:300`
    assert (r.victim_pid, r.shmem_rss_kb, r.kill_line_no) == (183, 700, 458)
    t = cap.oom_tasks
    # line 451 `[    181]     0   181    17717     1167      992        0       175    53248
    # 0         -1000 keeper`
    k = one(t[(t.oom_id == r.oom_id) & (t.line_no == 451)])
    assert (k.rss_pages, k.rss_anon_pages, k.rss_file_pages, k.rss_shmem_pages) == (
        1167, 992, 0, 175,
    )  # fmt: skip
    assert (k.pgtables_bytes, k.oom_score_adj, k.rss_shmem_kb) == (53248, -1000, 700)
    assert k["name"] == "keeper"


def test_sysrq_f_manual_oom() -> None:
    ev = qemu("6.1.0-56-amd64-sysrq-oom", "dmesg").oom_events
    assert len(ev) == 2
    # lines 384-385 `kworker/1:1 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=-1, …`
    # `CPU: 1 PID: 35 Comm: kworker/1:1 …`; line 437 kills 101, line 491 kills 103
    assert (ev.order == -1).all() and (ev.kind == "sysrq").all()
    assert list(ev.trigger_comm) == ["kworker/1:1"] * 2 and list(ev.trigger_pid) == [35, 35]
    assert list(ev.victim_pid) == [101, 103] and list(ev.kill_line_no) == [437, 491]
    assert ev.gfp_flags.iloc[0] == "GFP_KERNEL" and ev.complete.all()


def test_another_report_starting_inside_the_task_table() -> None:
    # no caller ids: another CPU's hung-task report line (line 1 of the 4.12 hung-task sample,
    # given the dump's stamp) lands between the header and the rows of the 5.2 task table
    lines = read("memcg-oom-5.2-rc7-leaker-cgroupv1.txt")
    hung = read("hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt")[0]
    foreign = lines[42].split("] ", 1)[0] + "] " + hung.split("] ", 1)[1]
    cap = parse_lines([*lines[:43], foreign, *lines[43:]])
    r = one(cap.oom_events)
    assert r.complete and r.n_tasks == 2 and r.victim_pid == 23793 and r.reaped
    assert "1 foreign line(s) inside (first at line 44)" in r.reason
    assert one(cap.events[cap.events.line_start == 44]).family == "hung_task"
