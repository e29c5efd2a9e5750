"""The line stage: line ends, flags, boots, continuation lines, chunk independence.

Inputs are real sample files or lines quoted verbatim from them (file named)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from conftest import SAMPLES, rebuild

import stalllog
from stalllog.engine.capture import _blank
from stalllog.input.lines import LineStage

LKML = SAMPLES / "corpus" / "lkml"
# QEMU 6.1.0-56-amd64-hung-task-serial.log lines 1-2 (serial console: CRLF)
SERIAL = (
    b"[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 "
    b"(Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP "
    b"PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)\r\n"
    b"[    0.000000] Command line: console=ttyS0,115200 loglevel=7 printk.time=1 "
    b"log_buf_len=8M 8250.nr_uarts=5 scn=hung-task failsafe=400\r\n"
)


def rows_of(data: bytes, chunks: int = 1) -> list[dict[str, Any]]:
    """Run the line stage over `data` cut into `chunks` line-aligned pieces."""
    stage = LineStage()
    stage.start_source("<test>")
    lines = data.splitlines(keepends=True)
    step = max(1, -(-len(lines) // chunks))
    out: list[dict[str, Any]] = []
    for k in range(0, max(len(lines), 1), step):
        piece = b"".join(lines[k : k + step])
        out += stage.batch(piece, last=k + step >= len(lines)).to_pylist()
    return out


def test_crlf_serial_console() -> None:
    a, b = rows_of(SERIAL)
    assert (a["eol"], b["eol"]) == ("\r\n", "\r\n")
    assert a["text"].startswith("Linux version 6.1.0-56-amd64 ") and not a["text"].endswith("\r")
    assert a["flags"] is None  # the "\r" of "\r\n" is a line end, not a stray CR


def test_last_line_without_newline_keeps_its_cr() -> None:
    # bug: a tail ending in "\r" (capture cut between "\r" and "\n") lost the "\r"
    data = SERIAL[:-1]
    rows = rows_of(data)
    assert rows[-1]["eol"] == "" and rows[-1]["text"].endswith("failsafe=400\r")
    assert rows[-1]["flags"] == "cr+no-eol"
    stage = LineStage()
    stage.start_source("x")
    assert rebuild(pa.Table.from_batches([stage.batch(data, last=True)])) == data


def test_banner_and_clock_reset_start_boots() -> None:
    # two serial boots in one input: the second banner (at 0.000000) starts boot 1
    rows = rows_of(SERIAL + SERIAL)
    assert [r["boot"] for r in rows] == [0, 0, 1, 1]
    # the clock back to 0.000000 without a banner is a reboot too: two QEMU dmesg captures
    # (tools/capture), the second without its banner line
    a = (SAMPLES / "qemu/6.1.0-56-amd64-hung-task-dmesg.log").read_bytes()
    b = (SAMPLES / "qemu/6.1.0-56-amd64-page-alloc-fail-dmesg.log").read_bytes()
    assert a.count(b"\n") == 747 and b"Linux version" not in b.split(b"\n", 1)[1]
    cap = stalllog.parse(a + b.split(b"\n", 1)[1])
    assert cap.boots[["line_start", "ts_first"]].values.tolist() == [[1, 0.0], [748, 0.0]]


def test_pasted_excerpts_are_one_boot() -> None:
    # kmallocwd-2017-wq-mem-reclaim-186-tasks-list.txt: excerpts of one boot (INDEX.md) whose
    # clock steps back from 1095 s to 518 s; only a reset to 0.000000 is a reboot
    cap = stalllog.parse(LKML / "kmallocwd-2017-wq-mem-reclaim-186-tasks-list.txt")
    assert cap.boots.boot.tolist() == [0]


def test_indented_continuation_lines() -> None:
    # hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt lines 60-62: util-linux
    # dmesg indents the rest of a multi-line record by the prefix width (16) + the record's own
    # leading space; the console and syslog(2) forms repeat the prefix instead
    path = LKML / "hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt"
    lines = stalllog.parse(path).lines.set_index("line_no")
    assert lines.loc[61, "prefix_kind"] == "cont" and lines.loc[61, "prefix"] == " " * 16
    assert lines.loc[61, "text"] == " active_file:47818 inactive_file:51708 isolated_file:0"
    assert lines.loc[61, "ts"] == lines.loc[60, "ts"] == 305147.007681
    assert lines.loc[66, "prefix_kind"] == "time"


def _comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "ts": None if r["ts"] != r["ts"] else r["ts"]} for r in rows]  # NaN


def test_chunking_does_not_change_rows() -> None:
    names = (
        "corpus/syzkaller/349",
        "corpus/lkml/oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt",
        "corpus/lkml/hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt",
        "corpus/lkml/printk-dropped-4.9-stalls-after-oom-short.txt",
    )
    for name in names:
        data = (SAMPLES / name).read_bytes()
        assert _comparable(rows_of(data, chunks=7)) == _comparable(rows_of(data)), name


def test_invalid_utf8_kept_in_raw() -> None:
    # syzkaller/204 line 1 with its first byte replaced by a Latin-1 byte (serial noise)
    line = (SAMPLES / "corpus/syzkaller/204").read_bytes().splitlines()[0]
    bad = b"\xe9" + line[1:] + b"\n"
    r = rows_of(bad)[0]
    assert r["flags"] == "invalid-utf8" and r["raw"] == bad[:-1]
    assert r["text"].startswith("\\xe9")


def test_truncated_and_no_eol_flags(tmp_path: Path) -> None:
    stage = LineStage()
    stage.start_source("x")
    rows = stage.batch(SERIAL[:-30], last=True, truncated=True).to_pylist()
    assert rows[-1]["flags"] == "no-eol+truncated"


def test_blank_texts_are_those_utf8_trim_whitespace_empties() -> None:
    """`unparsed` leaves blank lines out; capture._blank finds them from each text's first
    byte and must agree with Arrow's utf8_trim_whitespace on every code point, alone and
    after a space, on an array slice too (offsets not from 0)."""
    points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts = pa.array(["x", *map(chr, points), *(" " + chr(c) for c in points), "", "\u3000 "])
    for arr in (texts, texts.slice(1)):
        expected = pc.equal(pc.utf8_trim_whitespace(arr), "").to_numpy(zero_copy_only=False)
        assert expected.sum() > 40  # the Unicode spaces, alone and after a space
        assert (_blank(arr) == expected).all()
