"""The line key (stalllog/engine/keys.py): every table's rows say their `source` and `boot`, and
the joins docs/tables.md shows work on a real capture."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from conftest import SAMPLES

import stalllog

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
    zones = cap.oom_events.merge(cap.zones, left_on="meminfo_id", right_on="snapshot_id")
    assert len(zones) == 64 and set(zones["zone"]) == {"DMA", "DMA32"}
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
