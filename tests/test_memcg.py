"""memcg part of OOM reports (parsers/memcg.py), on the real memcg dumps in sample_logs/.

Values were read off the raw sample lines named next to them (1-based line numbers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

import stalllog
from stalllog.parsers.memcg import is_memcg_start

LKML = Path(__file__).resolve().parent.parent / "sample_logs" / "corpus" / "lkml"


def parse(name: str) -> stalllog.Capture:
    return stalllog.parse(str(LKML / name))


def one(df: pd.DataFrame) -> Any:
    assert len(df) == 1, df
    return df.iloc[0]


def test_v1_310_task_in_counters_and_one_line_stats() -> None:
    cap = parse("memcg-oom-3.10-rhel7-apiscp-site133-abridged.txt")
    r = one(cap.oom_events)
    # line 2 `Task in /site133 killed as a result of limit of /site133`
    assert (r.task_memcg, r.oom_memcg, r.kind, r.memcg_version) == (
        "/site133", "/site133", "memcg", "v1",
    )  # fmt: skip
    # line 14 `Memory cgroup out of memory: Kill process 25892 (grep) score 710 or sacrifice child`
    assert r.message == "Memory cgroup out of memory" and r.score == 710
    # line 15 `Killed process 25892 (grep), UID 9730, total-vm:899256kB, …`
    assert (r.victim_pid, r.victim_uid, r.anon_rss_kb) == (25892, 9730, 521228)
    assert r.victim_oom_score_adj == 600  # from its task row (line 13), the kill line lacks it
    m = cap.memcg.set_index("counter")
    # lines 3-5
    assert m.loc["memory", ["usage_kb", "limit_kb", "failcnt"]].tolist() == [524288, 524288, 153]
    assert not m.loc["memory", "unlimited"]
    assert m.loc["memory+swap", "usage_kb"] == 525060 and m.loc["memory+swap", "unlimited"]
    assert m.loc["kmem", "usage_kb"] == 0 and m.loc["kmem", "limit_kb"] == 9007199254740988
    assert (cap.memcg.memcg == "/site133").all() and (cap.memcg.event_id == r.event_id).all()
    # line 6 `Memory cgroup stats for /site133: cache:0KB rss:524288KB rss_huge:0KB … swap:772KB
    # inactive_anon:31404KB active_anon:492884KB inactive_file:0KB active_file:0KB unevictable:0KB`
    s = cap.memcg_stat.set_index("key")
    assert len(s) == 10 and (s.unit == "KB").all() and (s.memcg == "/site133").all()
    assert s.loc["rss", "value"] == 524288 and s.loc["rss", "bytes"] == 524288 * 1024
    assert s.loc["swap", "bytes"] == 772 * 1024 and s.loc["active_anon", "value"] == 492884


def test_v1_52_oom_kill_line_and_reaper() -> None:
    cap = parse("memcg-oom-5.2-rc7-leaker-cgroupv1.txt")
    r = one(cap.oom_events)
    # line 45 `oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),oom_memcg=/leaker,
    # task_memcg=/leaker,task=leaker,pid=23793,uid=0` (no cpuset: CONFIG_CPUSETS off)
    assert (r.constraint, r.oom_memcg, r.task_memcg) == ("CONSTRAINT_MEMCG", "/leaker", "/leaker")
    assert r.cpuset is None or pd.isna(r.cpuset)
    assert r.complete and not r.corrupted and r.memcg_version == "v1"
    # line 47 reaper, 0.1 s later
    assert r.reaped and r.reap_line_no == 47 and r.reap_anon_rss_kb == 0
    m = cap.memcg.set_index("counter")
    # lines 37-39
    assert m.loc["memory", "failcnt"] == 1240247
    assert m.loc["memory+swap", "usage_kb"] == 2592556 and m.loc["kmem", "usage_kb"] == 7260
    s = cap.memcg_stat.set_index("key")
    assert s.loc["swap", "value"] == 2068268 and s.loc["rss", "bytes"] == 516948 * 1024
    assert len(s) == 13  # cache … unevictable on line 40
    t = cap.oom_tasks
    # line 44 `[  23793]     0 23793   655928   126942  5226496   519670             0 leaker`
    v = one(t[t.is_victim])
    assert (v.rss_pages, v.pgtables_bytes, v.swapents_pages) == (126942, 5226496, 519670)
    assert v.pgtables_kb == 5104 and v.swapents_kb == 519670 * 4


def test_is_memcg_start() -> None:
    # first lines of the memcg part in the samples above
    assert is_memcg_start("Task in /site133 killed as a result of limit of /site133")
    assert is_memcg_start("memory: usage 524288kB, limit 524288kB, failcnt 1240247")
    kill = (LKML / "memcg-oom-5.2-rc7-leaker-cgroupv1.txt").read_text().splitlines()[45]
    assert not is_memcg_start(kill.split("] ", 1)[1])  # `Memory cgroup out of memory: Killed …`
    assert is_memcg_start(
        "Memory cgroup stats for /leaker: cache:80KB rss:516948KB rss_huge:0KB shmem:0KB "
        "mapped_file:0KB dirty:0KB writeback:0KB swap:2068268KB inactive_anon:258520KB "
        "active_anon:258412KB inactive_file:32KB active_file:12KB unevictable:0KB"
    )


QEMU = LKML.parent.parent / "qemu"


def test_v2_61_oom_group_and_multiline_stats() -> None:
    cap = stalllog.parse(str(QEMU / "6.1.0-56-amd64-memcg-oom-dmesg.log"))
    ev = cap.oom_events
    grp = ev[ev.oom_group_memcg == "/grp"]
    # line 1435 `grphog invoked oom-killer …`; line 1502 `Tasks in /grp are going to be killed
    # due to memory.oom.group set`; kill lines 1501 (182), 1503 (182 again: the group walk meets
    # the victim a second time, no new row), 1504 (183), 1505 (184), 1506 (189)
    assert list(grp.victim_pid) == [182, 183, 184, 189]
    assert list(grp.kill_line_no) == [1501, 1504, 1505, 1506]
    assert grp.event_id.nunique() == 1 and (grp.oom_memcg == "/grp").all()
    assert (grp.memcg_version == "v2").all() and (grp.kind == "memcg").all()
    assert grp.shmem_rss_kb.iloc[3] == 772  # line 1506 `… shmem-rss:772kB …`
    event = grp.event_id.iloc[0]
    t = cap.oom_tasks[cap.oom_tasks.event_id == event]
    assert t.is_victim.all() and list(t.pid) == [182, 183, 184]  # lines 1471-1473
    m = cap.memcg[cap.memcg.event_id == event].set_index("counter")
    # lines 1462-1463 `memory: usage 40960kB, limit 40960kB, failcnt 57`, `swap: usage 0kB,
    # limit 9007199254740988kB, failcnt 0`
    assert m.loc["memory", ["usage_kb", "limit_kb", "failcnt"]].tolist() == [40960, 40960, 57]
    assert m.loc["swap", "unlimited"] and set(m.index) == {"memory", "swap"}
    s = cap.memcg_stat[cap.memcg_stat.event_id == event].set_index("key")
    # line 1464 `Memory cgroup stats for /grp:`, then `anon 41512960` … in bytes; the dmesg
    # form cuts this one record at `workingset_activate_anon 0` (the kernel's 1 kB line buffer)
    assert (s.memcg == "/grp").all() and len(s) == 30
    assert s.loc["anon", "bytes"] == 41512960 and s.loc["anon", "unit"] == "bytes"
    assert s.loc["workingset_refault_anon", "unit"] == "count"
    assert pd.isna(s.loc["workingset_refault_anon", "bytes"])
    # the /dev/kmsg form of the same boot keeps the whole record (51 keys, ending with the
    # thp_* event counters)
    full = stalllog.parse(str(QEMU / "6.1.0-56-amd64-memcg-oom-kmsg.log"))
    ev_k = full.oom_events
    event_k = ev_k[ev_k.oom_group_memcg == "/grp"].event_id.iloc[0]
    s_k = full.memcg_stat[full.memcg_stat.event_id == event_k].set_index("key")
    assert len(s_k) == 51 and s_k.loc["thp_collapse_alloc", "unit"] == "count"


def test_v1_510_counters_and_v2_style_stats() -> None:
    cap = stalllog.parse(str(QEMU / "5.10.0-46-amd64-memcg-v1-oom-dmesg.log"))
    r = cap.oom_events.iloc[0]
    # line 445 `oom-kill:constraint=CONSTRAINT_MEMCG,…,oom_memcg=/box,task_memcg=/box,task=hog,
    # pid=94,uid=0`; line 446 `Memory cgroup out of memory: Killed process 94 (hog) …`
    assert (r.oom_memcg, r.victim_pid, r.memcg_version, r.kind) == ("/box", 94, "v1", "memcg")
    m = cap.memcg[cap.memcg.event_id == r.event_id].set_index("counter")
    # lines 408-410
    assert m.loc["memory", ["usage_kb", "limit_kb", "failcnt"]].tolist() == [49140, 49152, 46]
    assert m.loc["memory+swap", "unlimited"] and m.loc["kmem", "usage_kb"] == 380
    s = cap.memcg_stat[cap.memcg_stat.event_id == r.event_id].set_index("key")
    # 5.3-6.4 print memory.stat (v2 keys) for v1 too: line 412 `anon 49876992`, line 437
    # `pgfault 12210`
    assert s.loc["anon", "bytes"] == 49876992 and s.loc["kernel_stack", "bytes"] == 98304
    assert s.loc["pgfault", "value"] == 12210 and s.loc["pgfault", "unit"] == "count"
