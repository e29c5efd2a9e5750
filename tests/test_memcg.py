"""memcg part of OOM reports (parsers/memcg.py), on the real memcg dumps in sample_logs/.

Values were read off the raw sample lines named next to them (1-based line numbers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

import stalllog
from parsers.memcg import is_memcg_start

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
