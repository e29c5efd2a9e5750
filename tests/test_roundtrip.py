"""Nothing dropped, nothing changed: every sample line is one row and comes back byte-exact;
and prefixes built with the kernel's own printf formats around real message lines parse back
to the same text / ts / caller / level."""

from __future__ import annotations

import bz2
import gzip
import lzma
from datetime import datetime
from functools import cache
from pathlib import Path

import pyarrow.compute as pc
import pytest
from conftest import SAMPLES, rebuild, sample_files, sample_id
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stalllog
from stalllog.input.lines import LineStage

FILES = sample_files()


def decompressed(p: Path) -> bytes:
    data = p.read_bytes()
    if data.startswith(b"\xfd7zXZ"):
        return lzma.decompress(data)
    if data.startswith(b"\x1f\x8b"):
        return gzip.decompress(data)
    if data.startswith(b"BZh"):
        return bz2.decompress(data)
    return data


def test_there_are_samples() -> None:
    assert len(FILES) >= 60  # the corpus alone has 24 lkml + 40 syzkaller files


@pytest.mark.parametrize("path", FILES, ids=sample_id)
def test_every_line_is_a_row_and_round_trips(path: Path) -> None:
    data = decompressed(path)
    cap = stalllog.parse(path)
    lines = cap.arrow["lines"]
    assert (
        lines.num_rows
        == len(data.splitlines())
        == data.count(b"\n") + (not data.endswith(b"\n") and len(data) > 0)
    )
    assert rebuild(lines) == data
    assert lines.column("line_no").to_pylist() == list(range(1, lines.num_rows + 1))
    src = cap.arrow["sources"].to_pylist()
    assert src[0]["n_lines"] == lines.num_rows and src[0]["n_bytes"] == len(data)
    assert src[0]["error"] is None


# --- property test: kernel prefix formats x real messages ---------------------------------


@cache
def _messages() -> list[str]:
    """Texts of real printk-timestamped lines from the samples (the message as the kernel
    printed it), minus the few that would start a prefix of their own when printed bare."""
    out: set[str] = set()
    for name in (
        "corpus/syzkaller/349",
        "corpus/syzkaller/493",
        "corpus/lkml/oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt",
        "corpus/lkml/interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt",
    ):
        lines = stalllog.parse(SAMPLES / name).arrow["lines"]
        kind = lines.column("prefix_kind").cast("string")
        timed = lines.filter(pc.match_substring(kind, "time"))
        for t in timed.column("text").to_pylist():
            if t and t[0] not in "[<*0123456789 " and t[:4] not in _WORDS and "\r" not in t:
                out.add(t)
    return sorted(out)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WORDS = {f"{w} " for w in (*_MONTHS, "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}


def _kmsg_escape(text: str) -> str:
    # printk.c msg_add_ext_text(): bytes < ' ', >= 127 and '\\' as \xNN
    return "".join(
        f"\\x{c:02x}" if c < 0x20 or c >= 0x7F or c == 0x5C else chr(c) for c in text.encode()
    )


KINDS = (
    "none", "time", "time+caller", "caller", "level", "level+time", "kmsg", "kmsg+caller",
    "syslog", "syslog+time", "journal_precise", "dmesg_ctime", "dmesg_iso",
)  # fmt: skip


@st.composite
def _record(draw: st.DrawFn) -> tuple[str, str, float | None, str | None, int | None]:
    """(line, text, ts, caller, level) with the prefix made by the kernel's format strings."""
    kind = draw(st.sampled_from(KINDS))
    msg = draw(st.sampled_from(_messages()))
    sec = draw(st.integers(0, 10**7))
    usec = draw(st.integers(0, 999_999))
    ts = float(f"{sec}.{usec:06d}")
    caller = draw(st.sampled_from("TC")) + str(draw(st.integers(0, 4_000_000)))
    level = draw(st.integers(0, 7))
    day = draw(st.integers(1, 28))
    when = datetime(2016, draw(st.integers(1, 12)), day, draw(st.integers(0, 23)),
                    draw(st.integers(0, 59)), draw(st.integers(0, 59)))  # fmt: skip
    time_ = f"[{sec:5d}.{usec:06d}]"  # print_time(): "[%5lu.%06lu]"
    hms = when.strftime("%H:%M:%S")
    syslog = f"{_MONTHS[when.month - 1]} {day:2d} {hms} host kernel: "  # rsyslog "%b %e"
    if kind == "none":
        return msg, msg, None, None, None
    if kind == "time":
        return f"{time_} {msg}", msg, ts, None, None
    if kind == "time+caller":
        return f"{time_}[{caller:>6}] {msg}", msg, ts, caller, None
    if kind == "caller":
        return f"[{caller:>6}] {msg}", msg, None, caller, None
    if kind == "level":
        return f"<{level}>{msg}", msg, None, None, level
    if kind == "level+time":
        return f"<{level}>{time_} {msg}", msg, ts, None, level
    if kind.startswith("kmsg"):
        seq = draw(st.integers(0, 2**40))
        extra = f",caller={caller}" if kind == "kmsg+caller" else ""
        prio = draw(st.sampled_from([0, 8, 24])) | level
        usec_all = sec * 1_000_000 + usec
        line = f"{prio},{seq},{usec_all},-{extra};{_kmsg_escape(msg)}"
        return line, msg, ts, caller if extra else None, level
    if kind == "syslog":
        return syslog + msg, msg, None, None, None
    if kind == "syslog+time":
        return f"{syslog}{time_} {msg}", msg, ts, None, None
    if kind == "journal_precise":  # journalctl -o short-precise
        line = f"{_MONTHS[when.month - 1]} {day:02d} {hms}.{usec:06d} host kernel: {msg}"
    elif kind == "dmesg_ctime":  # util-linux "%a %b %e %H:%M:%S %Y"
        line = when.strftime("[%a %b ") + f"{day:2d} {hms} 2016] {msg}"
    else:  # dmesg --time-format iso
        line = when.strftime("%Y-%m-%dT%H:%M:%S") + f",{usec:06d}+00:00 {msg}"
    return line, msg, None, None, None


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_record(), min_size=1, max_size=30), st.sampled_from(["\n", "\r\n"]))
def test_built_prefixes_parse_back(records: list, eol: str) -> None:
    data = "".join(line + eol for line, *_ in records).encode()
    stage = LineStage()
    stage.start_source("<prop>")
    batch = stage.batch(data, last=True)
    rows = batch.to_pylist()
    assert len(rows) == len(records)
    for row, (line, text, ts, caller, level) in zip(rows, records, strict=True):
        assert row["text"] == text, line
        assert row["caller"] == caller, line
        assert row["level"] == level, line
        if ts is None:
            assert row["ts"] is None or row["ts"] != row["ts"], line  # NaN
        else:
            assert row["ts"] == ts, line
        assert row["eol"] == eol
    import pyarrow as pa

    assert rebuild(pa.Table.from_batches([batch])) == data
