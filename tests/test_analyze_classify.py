"""Stack classifier rules (stalllog/analyze/classify.py), each on real stacks from sample_logs/.

A stack is picked by its sample and the line its trace starts on (`stacks.line_start`); its
reliable symbols go to `classify_symbols` exactly as `classify_stacks` would pass them.
"""

from __future__ import annotations

import time
from functools import cache

import pandas as pd
import pytest
from conftest import ROOT

import stalllog
from stalllog.analyze.classify import (
    MAX_FRAMES,
    SCHEMA,
    STUCK_CLASSES,
    classify_stacks,
    classify_symbols,
)

LKML = "sample_logs/corpus/lkml/"
POSTED = "sample_logs/corpus/posted/"
SYZ = "sample_logs/corpus/syzkaller/"
QEMU = "sample_logs/qemu/"

TMI_2017 = LKML + "kmallocwd-2017-too_many_isolated-congestion_wait.txt"
INTERLEAVED_46 = LKML + "interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt"
D3_2016 = POSTED + "kmallocwd-next-20160224-D3-switches-oomcount-pair-snipped.txt"
S_414 = POSTED + "kmallocwd-4.14-S-sysrq-t-memalloc-after-taskline.txt"
V1_43 = POSTED + "kmallocwd-4.3-rc-v1-silent-hang-then-mmap_sem-livelock-snipped.txt"


@cache
def _tables(sample: str) -> dict[str, pd.DataFrame]:
    return dict(stalllog.parse(ROOT / sample).tables)


def _stack(sample: str, line: int) -> tuple[list[str], str]:
    """Reliable symbols (innermost first) and comm of the trace starting at `line`."""
    t = _tables(sample)
    st = t["stacks"]
    row = st[st["line_start"] == line]
    assert len(row) == 1, f"{sample}: no single trace starts at line {line}"
    sid = int(row["stack_id"].iloc[0])
    fr = t["frames"]
    fr = fr[(fr["stack_id"] == sid) & fr["reliable"] & fr["symbol"].notna()].sort_values("depth")
    comm = row["comm"].iloc[0]
    return [str(s) for s in fr["symbol"]][:MAX_FRAMES], "" if pd.isna(comm) else str(comm)


def _classify(sample: str, line: int) -> tuple[str, str | None, str | None, bool]:
    syms, comm = _stack(sample, line)
    c = classify_symbols(syms, wq_worker=comm.startswith("kworker/"))
    assert c.stuck_in in STUCK_CLASSES
    if c.key_depth is not None:
        assert syms[c.key_depth] == c.key_symbol
    return c.stuck_in, c.stuck_detail, c.oom_lock_role, c.in_allocator


# (sample, line, stuck_in, stuck_detail, oom_lock_role, in_allocator)
CASES = [
    # §1.2 holder, global: out_of_memory ← __alloc_pages_slowpath / entry renamed over time.
    (
        LKML + "oom-3.0.101-sles11-numa-mempolicy-free-memory-no-timestamps.txt",
        4,
        "oom_killer",
        "dump_header (global)",
        "holder",
        True,
    ),
    (
        LKML + "oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt",
        5,
        "oom_killer",
        "dump_header (global)",
        "holder",
        True,
    ),  # ← __alloc_pages_nodemask
    (
        QEMU + "5.10.0-46-amd64-global-oom-dmesg-T.log.xz",
        391,
        "oom_killer",
        "dump_header (global)",
        "holder",
        True,
    ),
    (
        QEMU + "6.1.0-56-amd64-global-oom-dmesg-T.log.xz",
        388,
        "oom_killer",
        "dump_header (global)",
        "holder",
        True,
    ),  # __alloc_pages
    (
        QEMU + "6.12.118+deb13-amd64-global-oom-dmesg-T.log.xz",
        404,
        "oom_killer",
        "dump_header (global)",
        "holder",
        True,
    ),  # __alloc_pages_noprof, normalized
    (
        LKML + "oom-6.12.62-rpi-arm64-journal-notimestamps-truncated.txt",
        5,
        "oom_killer",
        "dump_header (global)",
        "holder",
        True,
    ),  # arm64: out_of_memory ← __alloc_pages
    (
        LKML + "allocfail-5.18.7-arm64-bridge-fdb-atomic-then-panic-deadlocked.txt",
        38,
        "oom_killer",
        "panic (global)",
        "holder",
        True,
    ),
    # §1.2 holder, memcg: ← mem_cgroup_out_of_memory ← try_charge / try_charge_memcg (v6.1).
    (
        LKML + "memcg-oom-5.2-rc7-leaker-cgroupv1.txt",
        4,
        "oom_killer",
        "dump_header (memcg)",
        "holder",
        False,
    ),
    (
        POSTED + "memcg-oom-4.19.4-elrepo-docker-header-syslog-truncated.txt",
        5,
        "oom_killer",
        "dump_header (memcg)",
        "holder",
        False,
    ),
    (
        QEMU + "5.10.0-46-amd64-memcg-oom-dmesg-T.log",
        388,
        "oom_killer",
        "dump_header (memcg)",
        "holder",
        False,
    ),
    (
        QEMU + "6.12.118+deb13-amd64-memcg-oom-dmesg-T.log",
        394,
        "oom_killer",
        "dump_header (memcg)",
        "holder",
        False,
    ),
    # §1.2 holder, SysRq-f: ← moom_callback ← process_one_work (a kworker).
    (
        QEMU + "5.10.0-46-amd64-sysrq-oom-dmesg-T.log",
        390,
        "oom_killer",
        "dump_header (sysrq)",
        "holder",
        False,
    ),
    (
        QEMU + "6.1.0-56-amd64-sysrq-oom-dmesg-T.log",
        388,
        "oom_killer",
        "dump_header (sysrq)",
        "holder",
        False,
    ),
    (
        QEMU + "6.12.118+deb13-amd64-sysrq-oom-dmesg-T.log",
        399,
        "oom_killer",
        "dump_header (sysrq)",
        "holder",
        False,
    ),
    # §1.5 holder printing: stays oom_killer, detail names the console frame.
    (SYZ + "289", 9, "oom_killer", "vprintk_emit←dump_header (global)", "holder", True),
    # ...and an interrupt (softirq warn_alloc) flushing the console on top of the holder.
    (
        SYZ + "492",
        16,
        "oom_killer",
        "vprintk_emit←dump_unreclaimable_slab (global) (irq printing)",
        "holder",
        True,
    ),
    # §3 isolation throttle ≤v4.13: congestion_wait ← shrink_inactive_list (too_many_isolated).
    (TMI_2017, 50, "throttled", "too_many_isolated→congestion_wait", None, True),
    (TMI_2017, 93, "throttled", "too_many_isolated→congestion_wait", None, True),  # kworker NOIO
    (D3_2016, 8, "throttled", "too_many_isolated→congestion_wait", None, True),  # shrink_zone era
    # §3 congestion/writeback throttle: throttle_vm_writeout → congestion_wait (v4.6).
    (INTERLEAVED_46, 139, "throttled", "throttle_vm_writeout→congestion_wait", None, True),
    (INTERLEAVED_46, 205, "throttled", "throttle_vm_writeout→congestion_wait", None, True),
    (S_414, 38, "throttled", "wait_iff_congested←shrink_inactive_list", None, True),
    # §3 pfmemalloc throttle.
    (INTERLEAVED_46, 119, "throttled", "throttle_direct_reclaim (pfmemalloc)", None, True),
    # §3 LRU direct reclaim (preempted in cond_resched), shrink_node and shrink_zone eras.
    (S_414, 3, "direct_reclaim", "shrink_page_list (preempted)", None, True),
    (D3_2016, 48, "direct_reclaim", "vmpressure (preempted)", None, True),
    # §3 filesystem locks: xfs_buf_lock (down) under kswapd's pageout → lock_wait, not kswapd.
    (TMI_2017, 3, "lock_wait", "xfs_buf_lock←xfs_alloc_read_agf in pageout", None, False),
    (
        LKML + "hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt",
        6,
        "lock_wait",
        "mutex_lock←run_store",
        None,
        False,
    ),
    # rwsem_down_write_failed (≤v4.19) with the call_rwsem_* thunk.
    (V1_43, 85, "lock_wait", "down_write←vm_munmap", None, False),
    (
        LKML + "kmallocwd-2017-wq-mem-reclaim-186-tasks-list.txt",
        5,
        "lock_wait",
        "down_write←path_openat",
        None,
        False,
    ),
    (SYZ + "432", 33, "lock_wait", "rtnl_lock←dev_ioctl", None, False),
    (
        QEMU + "5.10.0-46-amd64-hung-task-serial.log",
        368,
        "lock_wait",
        "percpu_down_read←mnt_want_write",
        None,
        False,
    ),
    (
        QEMU + "6.12.118+deb13-amd64-hung-task-serial.log",
        384,
        "lock_wait",
        "percpu_down_read←vfs_write",
        None,
        False,
    ),
    # §3 IO and page waits: page names (≤v5.15) and folio names (v6.1+).
    (INTERLEAVED_46, 354, "io_wait", "__lock_page←mpage_prepare_extent_to_map", None, False),
    (INTERLEAVED_46, 406, "io_wait", "wait_on_page_bit←write_cache_pages", None, False),
    (SYZ + "349", 53, "io_wait", "wait_on_page_bit_common←file_write_and_wait_range", None, False),
    (SYZ + "1000", 12, "io_wait", "folio_wait_bit_common←do_read_cache_folio", None, False),
    (SYZ + "349", 10, "io_wait", "__wait_on_buffer←jbd2_journal_commit_transaction", None, False),
    # kswapd stuck in mempool_alloc for a dm-crypt bio during swap writeout (Tetsuo, #11).
    (INTERLEAVED_46, 170, "io_wait", "mempool_alloc←bio_alloc_bioset in pageout", None, False),
    # §3 kswapd / kcompactd / rescuer idle (kswapd_try_to_sleep is inlined into kswapd).
    (
        QEMU + "5.10.0-46-amd64-sysrq-dmesg-T.log",
        763,
        "kswapd",
        "idle (kswapd_try_to_sleep)",
        None,
        False,
    ),
    (
        QEMU + "6.12.118+deb13-amd64-sysrq-serial.log",
        1113,
        "kswapd",
        "idle (kswapd_try_to_sleep)",
        None,
        False,
    ),
    (
        QEMU + "5.10.0-46-amd64-sysrq-dmesg-T.log",
        686,
        "compaction",
        "idle (kcompactd)",
        None,
        False,
    ),
    (
        QEMU + "5.10.0-46-amd64-sysrq-dmesg-T.log",
        441,
        "rescuer",
        "idle (rescuer_thread)",
        None,
        False,
    ),
    (
        QEMU + "6.12.118+deb13-amd64-sysrq-serial.log",
        473,
        "rescuer",
        "idle (rescuer_thread)",
        None,
        False,
    ),
    # An atomic allocation failing in a softirq on top of the idle loop (v4.6): the interrupted
    # code (cpuidle) says nothing, so the interrupt's allocator frames are kept.
    (INTERLEAVED_46, 5, "other", "warn_alloc_failed←__alloc_pages_nodemask", None, True),
    # The holder interrupted by a softirq allocation failure: the interrupted code decides.
    (SYZ + "492", 8, "oom_killer", "vprintk_emit←dump_unreclaimable_slab (global)", "holder", True),
    # A page-allocation failure report: in the allocator, nothing stuck.
    (
        QEMU + "6.1.0-56-amd64-page-alloc-fail-dmesg-T.log",
        385,
        "other",
        "warn_alloc←__alloc_pages_slowpath",
        None,
        True,
    ),
]


@pytest.mark.parametrize(
    ("sample", "line", "stuck_in", "detail", "role", "in_alloc"),
    CASES,
    ids=[f"{c[0].rsplit('/', 1)[1][:40]}:{c[1]}" for c in CASES],
)
def test_rule(
    sample: str, line: int, stuck_in: str, detail: str, role: str | None, in_alloc: bool
) -> None:
    assert _classify(sample, line) == (stuck_in, detail, role, in_alloc)


def test_unreliable_frames_decide_nothing() -> None:
    # Every frame is a `? ` guess, among them `? out_of_memory`: not an oom_lock holder.
    syms, _ = _stack(V1_43, 64)
    assert syms == []
    assert _classify(V1_43, 64) == ("other", None, None, False)
    sc = classify_stacks(_tables(V1_43))
    st = _tables(V1_43)["stacks"]
    row = sc[sc["stack_id"].isin(st[st["line_start"] == 64]["stack_id"])]
    assert row["key_depth"].isna().all() and row["key_symbol"].isna().all()
    assert row["stuck_in"].tolist() == ["other"]
    # `? rwsem_down_read_slowpath` inside a memcg OOM holder's trace (6.1): still the holder.
    t = _tables(QEMU + "6.1.0-56-amd64-memcg-oom-dmesg.log")
    fr = t["frames"]
    guessed = fr[(fr["symbol"] == "rwsem_down_read_slowpath") & ~fr["reliable"]]
    assert len(guessed) >= 1
    sc = classify_stacks(t)
    rows = sc[sc["stack_id"].isin(guessed["stack_id"])]
    assert set(rows["stuck_in"]) == {"oom_killer"}
    assert set(rows["oom_lock_role"]) == {"holder"}
    # `? rescuer_thread` on an ordinary kworker (4.6): not a rescuer.
    t = _tables(INTERLEAVED_46)
    fr = t["frames"]
    ids = fr[(fr["symbol"] == "rescuer_thread") & ~fr["reliable"]]["stack_id"]
    sc = classify_stacks(t)
    assert len(ids) >= 1
    assert not sc[sc["stack_id"].isin(ids)]["rescuer"].any()


def test_classify_stacks_table() -> None:
    t = _tables(TMI_2017)
    sc = classify_stacks(t)
    assert list(sc.columns) == [c for c, _, _, _ in SCHEMA["stack_classes"]]
    assert len(sc) == len(t["stacks"])
    for col, dtype, _, _ in SCHEMA["stack_classes"]:
        assert str(sc[col].dtype) == dtype, col
    by_pid = sc.set_index("pid")
    assert by_pid.loc[67, "stuck_in"] == "lock_wait"
    assert by_pid.loc[67, "key_symbol"] == "__down_common"
    # key_depth is the frame's own depth (the trace has `? ` frames before it).
    fr = t["frames"]
    sid = by_pid.loc[67, "stack_id"]
    key = fr[(fr["stack_id"] == sid) & (fr["depth"] == by_pid.loc[67, "key_depth"])]
    assert key["symbol"].tolist() == ["__down_common"]
    assert by_pid.loc[526, "stuck_detail"] == "too_many_isolated→congestion_wait"
    assert not sc["oom_lock_role"].notna().any()
    assert sc["gfp_fs"].isna().all()


def test_rescuer_and_idle_flags() -> None:
    sc = classify_stacks(_tables(QEMU + "6.12.118+deb13-amd64-sysrq-serial.log"))
    resc = sc[sc["comm"].str.startswith("kworker/R-").fillna(False)]
    assert len(resc) >= 5
    assert resc["rescuer"].all() and resc["idle"].all()
    assert set(resc["stuck_in"]) == {"rescuer"}
    kswapd = sc[sc["comm"] == "kswapd0"]
    assert kswapd["idle"].all() and set(kswapd["stuck_in"]) == {"kswapd"}
    # An ordinary kworker is not a rescuer.
    assert not sc[sc["comm"].str.startswith("kworker/0").fillna(False)]["rescuer"].any()


def test_empty_tables() -> None:
    t = _tables(LKML + "kmallocwd-4.4-vmstat-wq-pending-oldformat.txt")
    sc = classify_stacks({"stacks": t["stacks"].iloc[:0], "frames": t["frames"].iloc[:0]})
    assert len(sc) == 0
    assert list(sc.columns) == [c for c, _, _, _ in SCHEMA["stack_classes"]]


def test_speed_on_many_frames() -> None:
    # The largest sample's frames repeated to ~200k rows: distinct tuples are classified once.
    t = _tables(QEMU + "6.12.118+deb13-amd64-sysrq-serial.log")
    fr, st = t["frames"], t["stacks"]
    k = 200
    n = int(st["stack_id"].max()) + 1
    frames = pd.concat(
        [fr.assign(stack_id=fr["stack_id"] + i * n) for i in range(k)], ignore_index=True
    )
    stacks = pd.concat(
        [st.assign(stack_id=st["stack_id"] + i * n) for i in range(k)], ignore_index=True
    )
    t0 = time.perf_counter()
    sc = classify_stacks({"frames": frames, "stacks": stacks})
    elapsed = time.perf_counter() - t0
    assert len(sc) == len(stacks)
    one = classify_stacks(t)
    assert sc["stuck_in"].iloc[: len(st)].tolist() == one["stuck_in"].tolist()
    assert elapsed < 5, elapsed
