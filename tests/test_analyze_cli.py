"""`stalllog analyze`, `parse --no-analysis` and the summary's verdict, end to end on real
captures: the words a user reads and the JSON a script reads carry the analysis tables."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import SAMPLES
from typer.testing import CliRunner

import stalllog
from stalllog.analyze import ANALYSIS_TABLES
from stalllog.cli.app import app

runner = CliRunner()
TOO_MANY_ISOLATED = SAMPLES / "corpus/lkml/kmallocwd-2017-too_many_isolated-congestion_wait.txt"
QEMU_OOM = SAMPLES / "qemu/6.1.0-56-amd64-global-oom-serial.log.xz"


def test_analyze_names_the_livelock_first() -> None:
    r = runner.invoke(app, ["analyze", str(TOO_MANY_ISOLATED)])
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())  # rich wraps long lines
    first = text.split("findings", 1)[1].strip()
    assert first.startswith("CRITICAL oom_count stayed at 45896")
    assert "kswapd0(67) is waiting for a lock in xfs_buf_lock" in text
    assert "stalled_at_end (line 134)" in text


def test_analyze_json_round_trips_to_the_tables() -> None:
    r = runner.invoke(app, ["analyze", "--json", str(TOO_MANY_ISOLATED)])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert list(got) == list(ANALYSIS_TABLES)
    cap = stalllog.parse(TOO_MANY_ISOLATED)
    for name in ANALYSIS_TABLES:
        want = cap.tables[name].astype(object).where(cap.tables[name].notna(), None)
        assert pd.DataFrame(got[name], columns=list(want.columns)).equals(
            pd.DataFrame(want.to_dict("records"), columns=list(want.columns))
        ), name
    kinds = {f["kind"]: f for f in got["findings"]}
    assert kinds["no_oom_progress"]["severity"] == "critical"
    assert kinds["kswapd_blocked"]["pid"] == 67


def test_prompt_oom_gives_no_alarm_in_summary() -> None:
    r = runner.invoke(app, ["summary", str(QEMU_OOM)])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("verdict (info): 1 finding(s)")
    assert "CRITICAL" not in r.stdout and "WARNING" not in r.stdout


def test_parse_writes_analysis_tables_unless_told_not_to(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = runner.invoke(app, ["parse", str(TOO_MANY_ISOLATED), "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    findings = pq.read_table(out / "findings.parquet").to_pylist()
    assert [f["kind"] for f in findings if f["severity"] == "critical"] == [
        "no_oom_progress",
        "victim_not_exiting",
    ]
    bare = tmp_path / "bare"
    r = runner.invoke(app, ["parse", str(TOO_MANY_ISOLATED), "-o", str(bare), "--no-analysis"])
    assert r.exit_code == 0, r.output
    assert not any((bare / f"{name}.parquet").exists() for name in ANALYSIS_TABLES)
    assert "verdict" not in r.stdout


def test_hostile_names_are_escaped_in_the_analysis_text(tmp_path: Path) -> None:
    # a real report whose task name an attacker chose: ESC sequences must not reach the terminal
    text = TOO_MANY_ISOLATED.read_text().replace("kswapd0", "kswapd\x1b[2J")
    log = tmp_path / "hostile.txt"
    log.write_text(text)
    r = runner.invoke(app, ["analyze", str(log)])
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.stdout
    r = runner.invoke(app, ["analyze", "--json", str(log)])
    assert "\x1b" not in r.stdout and "\\u001b" in r.stdout


def test_an_analyzer_bug_keeps_the_parsed_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside debugging, a crash inside the analysis becomes a finding, not a lost parse."""
    import stalllog.analyze.findings as findings_module

    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.delenv("STALLLOG_DEBUG")
    monkeypatch.setattr(findings_module, "findings", broken)
    cap = stalllog.parse(TOO_MANY_ISOLATED)
    assert len(cap.memalloc) > 0 and cap.stalled_tasks.empty
    assert cap.findings.kind.tolist() == ["analysis_failed"]
    assert "RuntimeError: boom" in cap.findings.text[0]
