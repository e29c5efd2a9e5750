"""`lines.wall_utc` and `lines.utc_offset` (stalllog/input/clock.py): the offset a prefix
carries, `--tz`/`tz=` for stamps without one, the year of RFC 3164 stamps (`--year`, a full
date in the same input, the file's mtime, Dec -> Jan), and `tz-ambiguous` in DST changes."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import SAMPLES
from typer.testing import CliRunner

import stalllog
from stalllog.cli import app
from stalllog.input.clock import Clock
from stalllog.input.walls import wall_from_syslog
from stalllog.output import parallel

QEMU = SAMPLES / "qemu"
JOURNAL = QEMU / "6.1.0-56-amd64-hung-task-journal.log"  # `Nov 25 18:50:34 qemu-guest kernel:`
DMESG_T = QEMU / "6.1.0-56-amd64-hung-task-dmesg-T.log"  # `[Wed Nov 25 18:49:36 2026]`
JSON = SAMPLES / "structured" / "6.1.0-56-amd64-memcg-oom-journal-json.log.xz"
LKML = SAMPLES / "corpus" / "lkml"
NETCONSOLE = LKML / "warnalloc-stall-4.9-rsync-2102516ms-xfs-netconsole-syslog.txt"
RHEL7 = LKML / "oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt"  # `Dec 31 13:46:46`


def utc(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def test_offset_carried_by_the_prefix() -> None:
    """RFC 3339 stamps of rsyslog (`2017-01-17T11:08:33.754562+03:00 storage8 ...`) need no
    --tz; lines without a stamp of their own have none."""
    lines = stalllog.parse(NETCONSOLE).lines
    stamped = lines[lines["wall"].notna()]
    assert len(stamped) == 54 and len(lines) == 100
    assert stamped["wall_utc"].iloc[0] == utc("2017-01-17 08:08:33.754562")
    assert set(stamped["utc_offset"]) == {3 * 3600}
    assert (
        stamped["wall_utc"].dt.tz_localize(None) == stamped["wall"] - pd.Timedelta(hours=3)
    ).all()
    assert lines.loc[lines["wall"].isna(), "wall_utc"].isna().all()


def test_journal_records_are_utc() -> None:
    lines = stalllog.parse(JSON).lines
    has = lines["wall"].notna()
    assert has.sum() > 0 and set(lines.loc[has, "utc_offset"]) == {0}
    assert (lines.loc[has, "wall_utc"].dt.tz_localize(None) == lines.loc[has, "wall"]).all()
    assert lines.loc[has, "wall_utc"].iloc[0] == utc("2026-11-25 18:48:57")


def test_local_stamps_need_a_zone() -> None:
    for path in (JOURNAL, DMESG_T):
        lines = stalllog.parse(path).lines
        assert lines["wall"].notna().all() and lines["wall_utc"].isna().all(), path
        assert lines["utc_offset"].isna().all()


def test_tz_and_year() -> None:
    lines = stalllog.parse(JOURNAL, tz="Europe/Berlin", year=2025).lines
    assert len(lines) == 747 and lines["wall_utc"].notna().all()
    first = lines.iloc[0]
    assert first["wall"] == pd.Timestamp("1900-11-25 18:50:34")  # `wall` stays as printed
    assert first["wall_utc"] == utc("2025-11-25 17:50:34")  # CET in November
    assert set(lines["utc_offset"]) == {3600}
    dmesg = stalllog.parse(DMESG_T, tz="America/New_York").lines  # the year is printed
    assert dmesg["wall_utc"].iloc[0] == utc("2026-11-25 23:49:36")
    assert set(dmesg["utc_offset"]) == {-5 * 3600}


def _copy_with_mtime(tmp_path: Path, when: datetime) -> Path:
    path = tmp_path / JOURNAL.name
    shutil.copyfile(JOURNAL, path)
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


@pytest.mark.parametrize(
    ("mtime", "year"),
    [
        (datetime(2027, 1, 10, tzinfo=UTC), 2026),  # Nov 25 2027 is after it: the year before
        (datetime(2026, 12, 1, tzinfo=UTC), 2026),
        (datetime(2026, 11, 25, 18, 0, tzinfo=UTC), 2026),  # a day of slack for the zone
        (datetime(2031, 6, 1, tzinfo=UTC), 2030),
    ],
)
def test_year_from_the_file_mtime(tmp_path: Path, mtime: datetime, year: int) -> None:
    lines = stalllog.parse(_copy_with_mtime(tmp_path, mtime), tz="UTC").lines
    assert set(lines["wall_utc"].dt.year) == {year}
    assert lines["wall_utc"].iloc[0] == utc(f"{year}-11-25 18:50:34")


def test_no_year_no_instant() -> None:
    """Bytes have no mtime and the journal no full date: the year is unknown."""
    lines = stalllog.parse(JOURNAL.read_bytes(), tz="UTC").lines
    assert lines["wall"].notna().all() and lines["wall_utc"].isna().all()


@pytest.mark.parametrize("dmesg_first", [True, False])
def test_year_from_a_full_date_in_the_same_input(tmp_path: Path, dmesg_first: bool) -> None:
    """The same boot as `dmesg -T` (2026) and as the journal, in one file whose mtime says
    2031: the full date wins, before or after the RFC 3164 stamps."""
    parts = [DMESG_T.read_bytes(), JOURNAL.read_bytes()]
    path = tmp_path / "both.log"
    path.write_bytes(b"".join(parts if dmesg_first else parts[::-1]))
    os.utime(path, (datetime(2031, 6, 1, tzinfo=UTC).timestamp(),) * 2)
    lines = stalllog.parse(path, tz="UTC").lines
    assert len(lines) == 2 * 747 and lines["wall_utc"].notna().all()
    assert set(lines["wall_utc"].dt.year) == {2026}
    syslog = lines[lines["wall"].dt.year == 1900]  # the journal's (and its cont lines)
    assert len(syslog) == 747 and syslog["wall_utc"].iloc[0] == utc("2026-11-25 18:50:34")


def _micros(stamps: list[str]) -> np.ndarray:
    epoch = datetime(1970, 1, 1)
    return np.array([(wall_from_syslog(s) - epoch) // pd.Timedelta(microseconds=1) for s in stamps])


def test_year_turns_at_new_year_and_dst_fall_back() -> None:
    """RFC 3164 stamps across New Year, then Berlin's fall-back hour of 2023 (Oct 29,
    02:00-03:00 happened twice: CEST +2, then CET +1)."""
    stamps = ["Dec 31 23:59:59", "Jan  1 00:00:01", "Oct 29 02:30:00", "Oct 29 03:30:00"]
    wall = _micros(stamps)
    n = len(wall)
    clock = Clock("Europe/Berlin", 2022)
    clock.start_source(None)
    got, offset, unsure = clock.utc(
        wall, np.ones(n, bool), np.zeros(n, np.int32), np.zeros(n, bool)
    )
    assert got.to_pylist() == [
        datetime(2022, 12, 31, 22, 59, 59, tzinfo=UTC),
        datetime(2022, 12, 31, 23, 0, 1, tzinfo=UTC),
        datetime(2023, 10, 29, 0, 30, tzinfo=UTC),  # the first 02:30 (CEST)
        datetime(2023, 10, 29, 2, 30, tzinfo=UTC),
    ]
    assert offset.to_pylist() == [3600, 3600, 7200, 3600]
    assert unsure.tolist() == [False, False, True, False]


def test_dst_gap_on_a_real_capture() -> None:
    """Kiribati's Line Islands skipped 31 Dec 1994 (UTC-10 -> UTC+14): the RHEL 7 capture's
    `Dec 31 13:46:46` never happened there in 1994, and did in 1995."""
    gap = stalllog.parse(RHEL7, tz="Pacific/Kiritimati", year=1994).lines
    stamped = gap["wall"].notna()
    assert stamped.sum() == 50 and gap.loc[stamped, "wall_utc"].isna().all()
    assert gap.loc[stamped, "flags"].str.contains("tz-ambiguous").all()
    ok = stalllog.parse(RHEL7, tz="Pacific/Kiritimati", year=1995).lines
    assert ok.loc[stamped, "wall_utc"].iloc[0] == utc("1995-12-30 23:46:46")
    assert set(ok.loc[stamped, "utc_offset"]) == {14 * 3600}
    assert not ok["flags"].fillna("").str.contains("tz-ambiguous").any()


def test_bad_tz_or_year() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        stalllog.parse(JOURNAL, tz="Mars/Olympus")
    with pytest.raises(ValueError, match="year must be"):
        stalllog.parse(JOURNAL, year=1900)
    r = CliRunner().invoke(app, ["parse", str(JOURNAL), "--tz", "Mars/Olympus", "-o", "x"])
    assert r.exit_code == 2 and "unknown time zone" in r.output


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_cli_tz_and_year(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str) -> None:
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)  # workers for small files too
    out = tmp_path / "out"
    args = ["parse", "-q", str(JOURNAL), str(NETCONSOLE), "-o", str(out), "--jobs", jobs]
    r = CliRunner().invoke(app, [*args, "--tz", "Europe/Berlin", "--year", "2025"])
    assert r.exit_code == 0, r.output
    lines = pq.read_table(out / "lines.parquet").to_pandas()
    journal = lines[lines["source"] == str(JOURNAL)]
    assert set(journal["utc_offset"]) == {3600}
    assert journal["wall_utc"].iloc[0] == datetime(2025, 11, 25, 17, 50, 34, tzinfo=UTC)
    netconsole = lines[(lines["source"] == str(NETCONSOLE)) & lines["wall"].notna()]
    assert set(netconsole["utc_offset"]) == {3 * 3600}  # its own offset, not --tz
    options = json.loads((out / "manifest.json").read_text())["options"]
    assert (options["tz"], options["year"]) == ("Europe/Berlin", 2025)


def test_dask_tz_and_year(tmp_path: Path) -> None:
    pytest.importorskip("dask")
    import stalllog.dask

    frames = stalllog.dask.parse_to_parquet([str(JOURNAL)], tmp_path / "out", tz="UTC", year=2024)
    lines = frames["lines"].compute()
    assert len(lines) == 747 and set(lines["utc_offset"]) == {0}
    assert lines["wall_utc"].iloc[0] == utc("2024-11-25 18:50:34")
    with pytest.raises(ValueError, match="unknown time zone"):
        stalllog.dask.parse_to_parquet([str(JOURNAL)], tmp_path / "x", tz="Mars/Olympus")


GUEST = SAMPLES / "structured" / "guest"


@pytest.mark.parametrize(
    ("zone", "offset"), [("utc", 0), ("caracas", -4 * 3600), ("tehran", 3 * 3600 + 1800)]
)
def test_short_full_zone_gives_the_instant(zone: str, offset: int) -> None:
    """`journalctl -o short-full` prints the zone as strftime's %Z: `UTC`, or the offset of a
    zone without an abbreviation (`-04`, `+0330`). One journal printed under three TZs (the
    guest's memcg OOM, by this machine's journalctl 252) is one instant, and the whole boot."""
    cap = stalllog.parse(GUEST / f"6.1.0-56-amd64-memcg-oom-journal-short-full-{zone}.log.xz")
    first = cap.lines.iloc[0]
    assert first["prefix_kind"] == "journal_full" and first["host"] == "qemu-guest"
    assert first["wall_utc"] == utc("2026-12-04 17:56:31")
    assert first["utc_offset"] == offset
    # 950 records as in the boot's kmsg capture; the rest are their continuation lines
    assert (cap.lines["prefix_kind"] == "journal_full").sum() == 950
    assert cap.lines["wall_utc"].notna().all()
    assert len(cap.oom_events) == 20


def test_short_full_abbreviation_needs_tz() -> None:
    """`CET` names no offset for sure (IST is India, Ireland or Israel): `--tz` gives it."""
    path = GUEST / "6.1.0-56-amd64-memcg-oom-journal-short-full-berlin.log.xz"
    assert cap_first(stalllog.parse(path))["wall_utc"] is pd.NA
    first = cap_first(stalllog.parse(path, tz="Europe/Berlin"))
    assert (first["wall_utc"], first["utc_offset"]) == (utc("2026-12-04 17:56:31"), 3600)


def cap_first(cap: stalllog.Capture) -> pd.Series:
    return cap.lines.iloc[0]


def test_boots_span_and_summary_say_when() -> None:
    """`boots.wall_*` is each boot's wall-clock span; the summary says it per boot, in UTC
    when the zone is known (the prefix's `+0330`, or --tz)."""
    tehran = GUEST / "6.1.0-56-amd64-memcg-oom-journal-short-full-tehran.log.xz"
    boot = stalllog.parse(tehran, analysis=False).boots.iloc[0]
    assert (boot["wall_first"], boot["wall_last"]) == (
        pd.Timestamp("2026-12-04 21:26:31"), pd.Timestamp("2026-12-04 21:26:32"))  # fmt: skip
    assert (boot["wall_utc_first"], boot["wall_utc_last"]) == (
        utc("2026-12-04 17:56:31"), utc("2026-12-04 17:56:32"))  # fmt: skip
    r = CliRunner().invoke(app, ["summary", str(tehran)])
    assert "logged 2026-12-04 17:56:31 to 17:56:32 UTC" in r.output
    r = CliRunner().invoke(app, ["summary", str(JOURNAL)])
    assert "logged Nov 25 18:50:34 to 18:50:34 local time, zone unknown (--tz)" in r.output
    r = CliRunner().invoke(app, ["summary", str(JOURNAL), "--tz", "UTC", "--year", "2026"])
    assert "logged 2026-11-25 18:50:34 to 18:50:34 UTC" in r.output
