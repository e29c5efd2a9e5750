"""`hz=` / `--hz` turn kmallocwd's jiffies into seconds, in the API and in written tables."""

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

import stalllog
from stalllog.cli.app import app

LIST = (
    Path(__file__).parent.parent
    / "sample_logs/corpus/lkml/kmallocwd-2017-wq-mem-reclaim-186-tasks-list.txt"
)


def test_hz_fills_delay_s() -> None:
    without = stalllog.parse(LIST).memalloc
    assert without["delay_s"].isna().all()  # HZ is never printed: unknown, not guessed
    memalloc = stalllog.parse(LIST, hz=250).memalloc
    kthreadd = memalloc[memalloc["comm"] == "kthreadd"].iloc[0]
    # raw: `MemAlloc: kthreadd(2) flags=0x208840 switches=... delay=74546 uninterruptible`
    assert kthreadd["delay_jiffies"] == 74546
    assert kthreadd["delay_s"] == 74546 / 250


def test_cli_hz(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["parse", "-q", "--hz", "1000", str(LIST), "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    memalloc = pd.read_parquet(tmp_path / "memalloc.parquet")
    known = memalloc.dropna(subset=["delay_jiffies"])
    assert len(known) > 200
    assert (known["delay_s"] == known["delay_jiffies"] / 1000).all()
    assert CliRunner().invoke(app, ["parse", "--hz", "0", str(LIST)]).exit_code == 2
