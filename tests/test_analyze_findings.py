"""Unit tests of oom_lock.py and findings.py rules, on real samples (rows selected by line)."""

from __future__ import annotations

import re
from functools import cache

import pandas as pd
import pytest
from conftest import ROOT

import stalllog
from stalllog.analyze import ANALYSIS_TABLES, analyze
from stalllog.analyze.findings import KINDS, SCHEMA, has_gfp_fs, line_ranges
from stalllog.analyze.oom_lock import SCHEMA as OOM_LOCK_SCHEMA
from stalllog.analyze.oom_lock import mutex_waiting_stacks, stack_times

LKML = "sample_logs/corpus/lkml/"
POSTED = "sample_logs/corpus/posted/"
QEMU_61_OOM = "sample_logs/qemu/6.1.0-56-amd64-global-oom-serial.log.xz"
SYZ_289 = "sample_logs/corpus/syzkaller/289"

SAMPLES = [
    QEMU_61_OOM,
    SYZ_289,
    LKML + "kmallocwd-2017-too_many_isolated-congestion_wait.txt",
    LKML + "kmallocwd-2017-wq-mem-reclaim-186-tasks-list.txt",
    LKML + "printk-dropped-4.9-stalls-after-oom-short.txt",
    POSTED + "kmallocwd-4.3-rc-v1-silent-hang-then-mmap_sem-livelock-snipped.txt",
]


@cache
def _parsed(*paths: str) -> stalllog.Capture:
    return stalllog.parse(*(ROOT / p for p in paths))


@cache
def _analyzed(*paths: str) -> dict[str, pd.DataFrame]:
    return analyze(_parsed(*paths))


def test_line_ranges() -> None:
    assert line_ranges([40, 12, 41, 42, 45, 12]) == "12,40-42,45"
    assert line_ranges([]) == ""
    assert line_ranges([7, pd.NA, None]) == "7"


def test_has_gfp_fs_on_memalloc_masks() -> None:
    """%pGg names: GFP_NOIO / GFP_NOFS lack __GFP_FS, GFP_HIGHUSER_MOVABLE has it (§2.4)."""
    mem = _parsed(LKML + "kmallocwd-2017-wq-mem-reclaim-186-tasks-list.txt").memalloc
    by_line = mem.set_index("line_no")
    fs = has_gfp_fs(by_line.loc[[40, 46, 200], "gfp_flags"])
    assert by_line.loc[40, "gfp_flags"] == "GFP_NOIO"  # kworker/2:0(27)
    assert fs.tolist() == [False, False, True]
    # kswapd lines carry no gfp: unknown, not False
    kswapd = _parsed(LKML + "kmallocwd-2017-too_many_isolated-congestion_wait.txt").memalloc
    assert has_gfp_fs(kswapd.loc[kswapd["line_no"] == 1, "gfp_flags"]).isna().all()


def test_mutex_waiting_stacks() -> None:
    """ksmtuned(1399) hangs in __mutex_lock (run_store) in both of its traces; khugepaged does
    not: a lockdep `oom_lock` entry of such a task would be a waiter, not the holder (§1.3)."""
    tables = _parsed(LKML + "hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt").tables
    stacks = tables["stacks"].set_index("stack_id")
    waiting = set(mutex_waiting_stacks(tables))
    assert {int(s) for s in waiting} == set(stacks.index[stacks["pid"] == 1399])
    assert not set(stacks.index[stacks["pid"] == 405]) & waiting


def test_stack_times_snapshot_is_the_scan() -> None:
    """A kmallocwd trace is timed by its MemAlloc line and belongs to the whole scan."""
    tables = _parsed(LKML + "kmallocwd-2017-too_many_isolated-congestion_wait.txt").tables
    st = stack_times(tables).set_index("stack_id")
    assert st.loc[0, "ts"] == pytest.approx(1209.790966)  # MemAlloc: kswapd0(67), line 1
    assert st.loc[2, "ts"] == pytest.approx(1210.538496)  # MemAlloc: kworker/3:0(6345), line 90


def test_oom_dump_interval_absorbs_nothing_else() -> None:
    """The OOM header's own trace (a holder stack) is the same evidence as the dump: one
    interval per dump, from the header line to the kill line."""
    ol = _analyzed(QEMU_61_OOM)["oom_lock"]
    oom = _parsed(QEMU_61_OOM).oom_events
    assert len(ol) == len(oom) == 32
    assert (ol["source"] == "oom_dump").all() and (ol["n_evidence"] == 1).all()
    assert ol["start_line"].tolist() == oom["line_start"].tolist()
    assert ol["end_line"].tolist() == oom["kill_line_no"].tolist()
    assert (ol["held_s"] < 0.1).all()


def test_stack_holder_point_per_boot() -> None:
    """The RCU stall trace of syz-fuzzer(2270) in dump_header is a holder sighting; the same log
    twice is two boots, never merged into one interval."""
    one = _analyzed(SYZ_289)["oom_lock"]
    assert one[["pid", "source", "start_line", "held_s"]].values.tolist() == [
        [2270, "stack", 9, 0.0]
    ]
    two = _analyzed(SYZ_289, SYZ_289)["oom_lock"]
    assert two["boot"].tolist() == [0, 1]
    assert (two["pid"] == 2270).all()


def test_header_without_pid_gives_no_interval() -> None:
    """The SysRq-f header there lost its dump_stack (snipped) and the kill's header is cut: the
    kill line names the victim, not the task holding oom_lock, so no interval is invented."""
    path = POSTED + "kmallocwd-4.3-rc-v1-silent-hang-then-mmap_sem-livelock-snipped.txt"
    assert len(_parsed(path).oom_events) == 2
    assert len(_analyzed(path)["oom_lock"]) == 0


@pytest.mark.parametrize("path", SAMPLES)
def test_schemas(path: str) -> None:
    res = _analyzed(path)
    assert tuple(res) == ANALYSIS_TABLES
    for table, schema in (
        ("findings", SCHEMA["findings"]),
        ("oom_lock", OOM_LOCK_SCHEMA["oom_lock"]),
    ):
        df = res[table]
        assert list(df.columns) == [c for c, *_ in schema]
        assert [str(df[c].dtype) for c, *_ in schema] == [d for _, d, *_ in schema]
    f = res["findings"]
    assert f["kind"].isin(KINDS).all()
    assert f["severity"].isin(["info", "warning", "critical"]).all()
    assert f["evidence"].str.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*").all()
    assert f["text"].str.endswith(".").all()
    assert f["finding"].tolist() == list(range(len(f)))


@pytest.mark.parametrize("path", SAMPLES)
def test_evidence_lines_exist(path: str) -> None:
    """Every cited line is a line of the capture."""
    cap = _parsed(path)
    n = int(cap.sources["n_lines"].sum())
    for ev in _analyzed(path)["findings"]["evidence"]:
        nums = [int(x) for x in re.findall(r"\d+", ev)]
        assert nums and all(1 <= x <= n for x in nums), ev


def test_analyze_takes_capture_or_tables() -> None:
    path = LKML + "kmallocwd-2017-too_many_isolated-congestion_wait.txt"
    cap = _parsed(path)
    a = analyze(cap)
    b = analyze(cap.tables)
    for name in ANALYSIS_TABLES:
        pd.testing.assert_frame_equal(a[name], b[name])


def test_printk_flood_markers_without_stamps() -> None:
    """Console drop markers have no timestamp: the finding cites their lines instead."""
    f = _analyzed(LKML + "printk-dropped-4.9-stalls-after-oom-short.txt")["findings"]
    row = f[f["kind"] == "printk_flood"].iloc[0]
    assert "between lines 15 and 21" in row["text"]


def test_rules_without_the_other_analyses() -> None:
    """findings/oom_lock work on parsed tables alone (no stack classes, episodes): the
    kmallocwd counter rules and the OOM dump intervals need nothing else."""
    from stalllog.analyze.findings import findings
    from stalllog.analyze.oom_lock import oom_lock

    tables = _parsed(LKML + "kmallocwd-2017-too_many_isolated-congestion_wait.txt").tables
    f = findings(tables, {})
    assert "no_oom_progress" in set(f["kind"])
    assert len(oom_lock(_parsed(QEMU_61_OOM).tables, None)) == 32


def test_interval_of_on_oom_lock() -> None:
    """Each kill line lies in its own holder's interval; the reaper line after it does not."""
    from stalllog.analyze.findings import interval_of

    ol = _analyzed(QEMU_61_OOM)["oom_lock"]
    oom = _parsed(QEMU_61_OOM).oom_events
    got = interval_of(
        oom["boot"], oom["kill_line_no"], ol["boot"], ol["start_line"], ol["end_line"], ol["pid"]
    )
    assert got.tolist() == oom["trigger_pid"].tolist()
    reaped = oom.dropna(subset=["reap_line_no"])
    after = interval_of(
        reaped["boot"], reaped["reap_line_no"], ol["boot"], ol["start_line"], ol["end_line"],
        ol["pid"],
    )  # fmt: skip
    assert after.isna().all()
