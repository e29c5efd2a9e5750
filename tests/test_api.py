"""The Python API beyond `parse(path)`: lists, globs and directories as inputs,
`Capture.summary()`, `Capture.to_parquet()` and the Jupyter view `Capture._repr_html_()`."""

from __future__ import annotations

import json
import lzma
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest import SAMPLES
from typer.testing import CliRunner

import stalllog
import stalllog.output.capture_files
from stalllog.cli.app import app

QEMU = SAMPLES / "qemu"
GLOBAL_OOM = QEMU / "6.1.0-56-amd64-global-oom-serial.log.xz"
HUNG = QEMU / "5.10.0-46-amd64-hung-task-serial.log"
DROPPED = SAMPLES / "corpus" / "lkml" / "printk-dropped-4.9-stalls-after-oom-short.txt"
HOSTILE = "<img src=x onerror=alert(1)>"


def _sources(cap: stalllog.Capture) -> list[str]:
    return list(cap.sources["source"])


def test_parse_takes_a_list_a_glob_and_a_directory(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for sample in (HUNG, GLOBAL_OOM, DROPPED):
        shutil.copy(sample, logs)
    (logs / ".notes").write_text("not a capture")  # hidden: skipped
    (logs / "old").mkdir()  # subdirectory: skipped
    shutil.copy(DROPPED, logs / "old")
    in_order = sorted(str(p) for p in logs.iterdir() if p.is_file() and p.name[0] != ".")
    assert len(in_order) == 3

    by_dir = stalllog.parse(logs)
    assert _sources(by_dir) == in_order
    # compressed files are read by their magic bytes, whatever their name
    assert by_dir.arrow["sources"].column("compression").to_pylist() == [None, "xz", None]
    assert by_dir.lines["source"].value_counts()[str(logs / GLOBAL_OOM.name)] == 2741
    assert _sources(stalllog.parse(str(logs / "*.log*"))) == in_order[:2]  # not the .txt
    assert _sources(stalllog.parse([HUNG, [DROPPED]], GLOBAL_OOM)) == [
        str(HUNG),
        str(DROPPED),
        str(GLOBAL_OOM),
    ]
    assert (
        stalllog.parse([DROPPED]).lines["text"].tolist()
        == stalllog.parse(DROPPED).lines["text"].tolist()
    )


def test_a_pattern_or_directory_without_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(stalllog.CaptureError, match=r"no file matches this pattern"):
        stalllog.parse(str(tmp_path / "*.log"))
    with pytest.raises(stalllog.CaptureError, match=r"a directory with no file to read"):
        stalllog.parse(tmp_path)


def test_summary_facts_and_text() -> None:
    summary = stalllog.parse(GLOBAL_OOM).summary()
    assert summary["oom"]["kills"] == 32  # grep -c 'Killed process' on the capture
    assert summary["kernels"] == ["6.1.0-56-amd64"]
    assert json.loads(summary.to_json()) == summary.facts
    text = str(summary)
    assert "2,741 lines" in text and "32 OOM invocation(s), 32 kill(s)" in text
    # line 2734: `Killed process 328 (hog) ... anon-rss:95476kB, file-rss:4kB, shmem-rss:772kB`
    assert "worst kill: hog(328), 96,252 kB (boot 0, line 2734)" in text
    assert repr(summary).startswith("<Summary\n1 input(s)")


def test_summary_text_escapes_a_hostile_file_name(tmp_path: Path) -> None:
    hostile = tmp_path / "\x1b]0;owned\x07.log"
    hostile.write_bytes(b"")  # empty: the summary warns, naming the file
    text = str(stalllog.parse(hostile, DROPPED).summary())
    assert "\x1b" not in text and "\\x1b]0;owned\\x07.log: empty input" in text


def _tables(directory: Path) -> dict[str, Any]:
    return {p.name: pq.read_table(p) for p in sorted(directory.glob("*.parquet"))}


def test_to_parquet_writes_what_parse_writes(tmp_path: Path) -> None:
    cap = stalllog.parse(GLOBAL_OOM)
    assert cap.to_parquet(tmp_path / "api") == tmp_path / "api"
    r = CliRunner().invoke(app, ["parse", "-q", str(GLOBAL_OOM), "-o", str(tmp_path / "cli")])
    assert r.exit_code == 0, r.output
    api, cli = _tables(tmp_path / "api"), _tables(tmp_path / "cli")
    assert sorted(api) == sorted(cli) and "lines.parquet" in api
    assert "unparsed.parquet" not in api
    for name, table in cli.items():
        assert api[name].schema == table.schema, name
        assert api[name].to_pandas().equals(table.to_pandas()), name  # NaN equal to NaN
    manifest = json.loads((tmp_path / "api" / "manifest.json").read_text())
    assert (
        manifest["inputs"][0]["sha256"]
        == json.loads((tmp_path / "cli" / "manifest.json").read_text())["inputs"][0]["sha256"]
    )
    assert {t["file"] for t in manifest["tables"]} == set(api)


def test_to_parquet_replaces_only_what_it_may(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = stalllog.parse(DROPPED)
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("keep me")
    with pytest.raises(stalllog.output.atomic.OutputError, match="not a stalllog output"):
        cap.to_parquet(foreign)
    assert [p.name for p in foreign.iterdir()] == ["todo.txt"]

    out = tmp_path / "out"
    stalllog.parse(HUNG).to_parquet(out)
    before = _tables(out)

    def full(directory: Path, manifest: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(stalllog.output.capture_files.manifest, "write", full)
    with pytest.raises(stalllog.output.atomic.OutputError, match="No space left on device"):
        cap.to_parquet(out)
    after = _tables(out)
    assert sorted(after) == sorted(before)  # the old complete set, untouched
    assert after["sources.parquet"].equals(before["sources.parquet"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes", "out"]  # no temporary left


def test_repr_html_escapes_hostile_names(tmp_path: Path) -> None:
    # the victim of the real capture renamed: what any user can call a process
    with lzma.open(GLOBAL_OOM) as f:
        data = f.read().replace(b"(hog)", f"({HOSTILE})".encode())
    capture = tmp_path / "<svg onload=alert(2)>.log"
    capture.write_bytes(data)
    cap = stalllog.parse(capture, HUNG)
    assert (cap.oom_events["victim_comm"] == HOSTILE).sum() == 32
    html = cap._repr_html_()
    assert "<img" not in html and "<svg" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; ×32" in html
    assert "32 OOM invocation(s), 32 kill(s)" in html
    assert "2 input(s), 3,339 lines" in html  # 2,741 + 598
    assert "kernels: 6.1.0-56-amd64, 5.10.0-46-amd64" in html
    assert "<td>oom_events</td><td>32</td>" in html
    assert "<td>lines</td><td>3,339</td>" in html


NOTIME = QEMU / "5.10.0-46-amd64-global-oom-notime-serial.log"


def test_ts_as_timedelta() -> None:
    """`parse(ts="timedelta")`: every time-since-boot column is a pandas timedelta in the
    DataFrames, durations (`*_s`) stay seconds, `cap.arrow` keeps seconds, NA stays NA."""
    import pandas as pd

    cap = stalllog.parse(GLOBAL_OOM, NOTIME, ts="timedelta")
    assert cap.ts == "timedelta"
    first = cap.oom_events.iloc[0]  # lines 373, 438, 439 of the capture
    assert first["ts"] == pd.Timedelta(seconds=7, microseconds=144030)
    assert first["ts_kill"] == pd.Timedelta(seconds=7, microseconds=191524)
    assert first["reap_ts"] == pd.Timedelta(seconds=9, microseconds=344183)
    assert str(cap.lines["ts"].dtype) == "duration[us][pyarrow]"
    assert cap.lines["ts"].dt.total_seconds().iloc[372] == 7.144030
    notime = cap.lines["source"] == str(NOTIME)
    assert cap.lines.loc[notime, "ts"].isna().all() and notime.sum() == 2023
    assert str(cap.boots["ts_first"].dtype) == "duration[us][pyarrow]"
    assert str(cap.oom_lock["start_ts"].dtype) == "duration[us][pyarrow]"
    assert str(cap.oom_lock["held_s"].dtype) == "double[pyarrow]"  # a duration in seconds
    assert cap.arrow["lines"].schema.field("ts").type == "double"
    seconds = stalllog.parse(DROPPED)  # stalls: episodes, stalled_tasks, findings
    td = stalllog.parse(DROPPED, ts="timedelta")
    for name, column in (("episodes", "start_ts"), ("stalled_tasks", "began_ts"),
                         ("findings", "end_ts"), ("alloc_stalls", "ts")):  # fmt: skip
        assert len(seconds[name]) and seconds[name][column].notna().any(), name
        pd.testing.assert_series_equal(
            td[name][column].dt.total_seconds(), seconds[name][column], check_dtype=False
        )
    with pytest.raises(ValueError, match="ts must be one of"):
        stalllog.parse(GLOBAL_OOM, ts="minutes")


def test_plots_of_a_timedelta_capture() -> None:
    import stalllog.plot

    seconds = stalllog.plot.timeline(stalllog.parse(GLOBAL_OOM), strict=True)
    td = stalllog.plot.timeline(stalllog.parse(GLOBAL_OOM, ts="timedelta"), strict=True)
    assert td.axes[0].get_xlim() == seconds.axes[0].get_xlim()  # x in seconds since boot
    assert 50 < td.axes[0].get_xlim()[1] < 60  # the last OOM kill at 48.6 s
