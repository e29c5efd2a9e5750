"""The line key (stalllog/engine/keys.py): every table's rows say their `source` and `boot`, and
the joins docs/tables.md shows work on a real capture."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import SAMPLES

import stalllog
from stalllog.engine.keys import _positions

OOM = SAMPLES / "qemu" / "6.1.0-56-amd64-global-oom-serial.log.xz"
STALL = SAMPLES / "corpus" / "lkml" / "kmallocwd-2017-too_many_isolated-congestion_wait.txt"


@pytest.fixture(scope="module")
def cap() -> stalllog.Capture:
    return stalllog.parse(str(OOM), str(STALL))


def test_every_table_but_sources_has_the_key(cap: stalllog.Capture) -> None:
    for name, df in cap.tables.items():
        if name != "sources":
            assert {"source", "boot"} <= set(df.columns), name
    # oom_lock's `source` is its evidence kind (public since the analyzers): input via boot
    assert set(cap.oom_lock["source"]) == {"oom_dump"}
    inputs = cap.boots.set_index("boot")["source"]
    assert set(inputs[cap.oom_lock["boot"]]) == {str(OOM)}


def test_keys_come_from_the_rows_event(cap: stalllog.Capture) -> None:
    events = cap.events.set_index("event_id")
    for name in ("zones", "buddy", "frames", "oom_tasks", "memalloc", "stack_classes"):
        df = cap[name]
        assert len(df), name
        expected = events.loc[df["event_id"], ["source", "boot"]].reset_index(drop=True)
        got = df[["source", "boot"]].reset_index(drop=True).astype(expected.dtypes.to_dict())
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    # the 32 OOMs' 64 zone rows are the first file's (boot 0); the MemAlloc rows the second's
    assert cap.zones.groupby(["source", "boot"]).size().to_dict() == {(str(OOM), 0): 64}
    assert cap.memalloc.groupby(["source", "boot"]).size().to_dict() == {(str(STALL), 1): 3}
    assert set(cap.episodes["source"]) == {str(STALL)}


def test_documented_joins(cap: stalllog.Capture) -> None:
    kills = cap.oom_events.merge(
        cap.lines, left_on=["source", "kill_line_no"], right_on=["source", "line_no"]
    )
    assert len(kills) == 32
    assert kills["text"].str.contains(r"Killed process \d+ \(hog\)").all()
    zones = cap.oom_events.merge(cap.zones, on="meminfo_id", suffixes=("", "_zone"))
    assert len(zones) == 64 and set(zones["zone"]) == {"DMA", "DMA32"}
    assert (zones["event_id"] == zones["event_id_zone"]).all()  # each OOM its own dump
    first = cap.oom_events.stack_id.iloc[0]
    trace = cap.frames[cap.frames.stack_id == first]
    assert "out_of_memory" in set(trace["function"])


NOTIME = SAMPLES / "qemu" / "5.10.0-46-amd64-global-oom-notime-serial.log"


def test_missing_values_are_null_never_nan(tmp_path: Path) -> None:
    """A capture without printk stamps: every `ts` is missing, and missing is NA in pandas
    (`isna()`) and null in the files, never a float NaN (which pandas counts as a value)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from stalllog.cli import app

    cap = stalllog.parse(str(NOTIME), str(STALL))
    notime = cap.lines["source"] == str(NOTIME)
    assert cap.lines.loc[notime, "ts"].isna().all() and notime.sum() == 2023
    assert cap.oom_events["ts"].isna().sum() == 25  # `grep -c 'invoked oom-killer'`
    for name, t in cap.arrow.items():
        for column, values in zip(t.column_names, t.columns, strict=True):
            if values.type in (pa.float32(), pa.float64()):
                assert not pc.any(pc.is_nan(values)).as_py(), (name, column)
    out = tmp_path / "out"
    assert CliRunner().invoke(app, ["parse", str(NOTIME), "-o", str(out), "-q"]).exit_code == 0
    lines = pq.read_table(out / "lines.parquet", columns=["ts"]).column("ts")
    assert lines.null_count == len(lines) == 2023


SNAPSHOT_TABLES = (
    "meminfo",
    "meminfo_nodes",
    "zones",
    "buddy",
    "zone_pcp",
    "hugepages",
    "meminfo_alloc_tags",
    "slab_unreclaimable",
)
ALLOCFAIL_2628 = (
    SAMPLES / "corpus" / "lkml" / "allocfail-2.6.28-ubuntu-sky2-netrx-order0-flowed.txt"
)
KMALLOCWD_44 = SAMPLES / "corpus" / "lkml" / "kmallocwd-4.4-vmstat-wq-pending-oldformat.txt"


def test_snapshot_tables_carry_meminfo_id(cap: stalllog.Capture) -> None:
    """The reporting tables' `meminfo_id` is the snapshot tables' column too (same values as
    `snapshot_id`, kept under its old name), so one key name joins them."""
    for name in SNAPSHOT_TABLES:
        df = cap[name]
        assert str(df["meminfo_id"].dtype) == "int64[pyarrow]", name
        assert df["meminfo_id"].equals(df["snapshot_id"]), name
    assert len(cap.meminfo_nodes) == 32 and len(cap.hugepages) == 64
    nodes = cap.oom_events.merge(cap.meminfo_nodes, on="meminfo_id", suffixes=("", "_n"))
    assert len(nodes) == 32 and set(nodes["node"]) == {0}
    huge = cap.oom_events.merge(cap.hugepages, on="meminfo_id", suffixes=("", "_h"))
    assert sorted(set(huge["size_kb"])) == [2048, 1048576]


def test_meminfo_id_joins_alloc_failures_and_memalloc_scans() -> None:
    cap = stalllog.parse(str(ALLOCFAIL_2628), str(KMALLOCWD_44))
    fail = cap.alloc_failures.merge(cap.zone_pcp, on="meminfo_id", suffixes=("", "_pcp"))
    # 2.6.28 prints two CPUs' per-cpu lists for each of DMA, DMA32, Normal
    assert len(fail) == 6 and sorted(set(fail["zone"])) == ["DMA", "DMA32", "Normal"]
    scans = cap.memalloc_scans.merge(cap.buddy, on="meminfo_id", suffixes=("", "_b"))
    # the first of the 3 scans (line 3) has its Mem-Info at line 6: 11 orders of 3 zones
    assert len(scans) == 33 and set(scans["scan_id"]) == {cap.memalloc_scans["scan_id"].iloc[0]}
    assert set(scans["line_no"]) == {3}


@pytest.mark.parametrize(
    "ids",
    [
        [0, 1, 2, 3, 4],  # a parse's event ids
        [7, 3, 3, 9],  # repeated: the first one's position, as index_in
        [5, 1_000_000_000],  # sparse: index_in itself
        [0, None, 2],  # a missing id: index_in itself
    ],
)
def test_key_positions_are_index_ins(ids: list[int | None]) -> None:
    values = pa.chunked_array([ids[:2], ids[2:]], pa.int64())
    keys = pa.chunked_array([[3, 9, None, -1, 2], [0, 1_000_000_000, 42, 7]], pa.int64())
    got = _positions(values)(keys)
    expected = pc.index_in(keys, value_set=values)
    assert pa.chunked_array([got]).combine_chunks().equals(expected.combine_chunks())
