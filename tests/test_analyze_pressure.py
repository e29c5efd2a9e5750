"""episode_pressure on real samples: every value asserted here was read in the log text."""

from __future__ import annotations

from functools import cache

import pandas as pd
import pytest
from conftest import ROOT

import stalllog
from stalllog.analyze.pressure import SCHEMA

LKML = "sample_logs/corpus/lkml/"
TOO_MANY = LKML + "kmallocwd-2017-too_many_isolated-congestion_wait.txt"
TASKS_186 = LKML + "kmallocwd-2017-wq-mem-reclaim-186-tasks-list.txt"
PRINTK_49 = LKML + "printk-dropped-4.9-stalls-after-oom-short.txt"
INTERLEAVED = LKML + "interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt"
VMSTAT_44 = LKML + "kmallocwd-4.4-vmstat-wq-pending-oldformat.txt"
SAMPLES = [TOO_MANY, TASKS_186, PRINTK_49, INTERLEAVED, VMSTAT_44]


@cache
def _tables(sample: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    tables = stalllog.parse(ROOT / sample).tables
    return tables["episode_pressure"], tables["episodes"]


def _only_row(sample: str) -> pd.Series:
    pressure, _ = _tables(sample)
    assert len(pressure) == 1
    return pressure.iloc[0]


@pytest.mark.parametrize("sample", SAMPLES)
def test_one_row_per_episode_with_the_schema(sample: str) -> None:
    pressure, episodes = _tables(sample)
    cols = SCHEMA["episode_pressure"]
    # the analysis' columns, and `source` before `boot`: the line key (engine/keys.py)
    keyed = [c for c, *_ in cols]
    keyed.insert(keyed.index("boot"), "source")
    assert list(pressure.columns) == keyed
    assert pressure["episode"].tolist() == episodes["episode"].tolist()
    assert pressure["boot"].tolist() == episodes["boot"].tolist()
    # counts are never missing; only peak_direct_reclaimers is NA (no trace in the episode)
    for c in ("n_reclaim_tasks", "n_meminfo", "n_oom_lock_intervals"):
        assert pressure[c].notna().all(), c


def test_too_many_isolated_kswapd_on_xfs_buf_lock() -> None:
    """Two allocators in shrink_inactive_list -> too_many_isolated -> congestion_wait,
    systemd-journal(526) at 1209.90 s and kworker/3:0(6345) at 1210.54 s: both between the
    scan's MemAlloc-Info header (1209.78 s) and trailer (1212.20 s), so one scan shows two
    reclaimers (the excerpt cut the list from its MemAlloc-Info lines). kswapd0(67) waits in
    __down <- xfs_buf_lock <- xfs_alloc_read_agf under pageout. The excerpt holds no Mem-Info,
    no OOM dump."""
    r = _only_row(TOO_MANY)
    assert r["peak_direct_reclaimers"] == 2
    assert r["n_reclaim_tasks"] == 2
    assert r["kswapd_doing"] == "lock_wait: xfs_buf_lock←xfs_alloc_read_agf in pageout"
    assert r["n_meminfo"] == 0
    for c in ("zones_below_min", "zones_all_unreclaimable", "min_free_over_min"):
        assert pd.isna(r[c]), c
    assert r["n_oom_lock_intervals"] == 0
    assert r["oom_lock_held_s"] == 0.0
    assert r["reclaim_task_s_under_oom_lock"] == 0.0


def test_186_tasks_without_traces_peak_unknown() -> None:
    """The list of 186 MemAlloc lines (lines 39-245, kswapd0(69) among them) carries no trace:
    how many were reclaiming is unknown (NA, not 0), and so is what kswapd was doing. The only
    trace (lines 5-22) precedes the episode's first scan (line 24)."""
    r = _only_row(TASKS_186)
    assert pd.isna(r["peak_direct_reclaimers"])
    assert pd.isna(r["kswapd_doing"])
    assert r["n_reclaim_tasks"] == 0
    assert r["n_meminfo"] == 0


def test_printk_dropped_49_traced_but_not_reclaiming() -> None:
    """Only the last a.out warn_alloc report (line 18) kept a trace, in warn_alloc itself
    (class other): traced, zero reclaimers. The kill at 118.57 s lost its OOM header and the
    header at 118.59 s lost its kill (snipped), so no oom_lock interval is known."""
    r = _only_row(PRINTK_49)
    assert r["peak_direct_reclaimers"] == 0
    assert pd.isna(r["kswapd_doing"])
    assert r["n_oom_lock_intervals"] == 0
    assert r["oom_lock_held_s"] == 0.0
    assert r["reclaimers_under_oom_lock"] == 0


def test_interleaved_462_sysrq_w_throttled_and_kswapd_in_mempool() -> None:
    """The SysRq-w dump at 2377.97 s shows systemd(1) in throttle_direct_reclaim and
    kthreadd(2), kworker/u8:3(1470), u8:4(1592), u8:6(1594) in throttle_vm_writeout: five
    throttled reclaimers at once; kswapd0(766) in mempool_alloc <- bio_alloc_bioset under
    pageout (Tetsuo: kswapd stuck in mempool_alloc for a dm-crypt bio). The two Mem-Info dumps
    (DMA free 12kB < min 32kB) are at 2241 s (lines 36, 85), before the episode (line 118)."""
    r = _only_row(INTERLEAVED)
    assert r["peak_direct_reclaimers"] == 5
    assert r["kswapd_doing"] == "io_wait: mempool_alloc←bio_alloc_bioset in pageout"
    assert r["n_meminfo"] == 0
    assert pd.isna(r["zones_below_min"])


def test_vmstat_44_zones_below_min_and_unreclaimable() -> None:
    """The Mem-Info at 114.997 s (line 6, inside the episode 113.85-242.13 s): Node 0 DMA
    (free 15888kB, min 28kB) and DMA32 (12724kB, min 5008kB) say `all_unreclaimable? yes`;
    Node 0 Normal has free 3568kB < min 3632kB, `all_unreclaimable? no`. The next Mem-Info
    (line 90, 245.61 s) comes after the episode's last scan (line 88)."""
    r = _only_row(VMSTAT_44)
    assert r["n_meminfo"] == 1
    assert r["zones_below_min"] == "Node 0 Normal"
    assert r["zones_all_unreclaimable"] == "Node 0 DMA|Node 0 DMA32"
    assert pd.isna(r["nodes_all_unreclaimable"])  # 4.4: the flag is per zone
    assert r["min_free_over_min"] == pytest.approx(3568 / 3632)
    assert pd.isna(r["kswapd_doing"])
