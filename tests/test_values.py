"""No fatal value (issue 8): a number too big for its column or mangled never stops a parse.

Built from real blocks: for the lines each family claimed in real samples, every digit run is
replaced by 25 nines (past uint64) and by a mangled form (`--5`, `5x`); each variant is parsed
as its own source next to the unchanged block. Every line must come back; a cell the number
landed in is null and its event's reason names the value.
"""

from __future__ import annotations

import itertools
import lzma
import os
import re
from collections import defaultdict
from functools import cache
from typing import Any

import pyarrow as pa
import pytest
from conftest import SAMPLES, rebuild

import stalllog
from stalllog.engine.checked import shown, to_batch
from stalllog.input.numbers import TOO_BIG, checked_int64
from stalllog.parsers.base import to_int

HUGE = b"9" * 25
DIGITS = re.compile(rb"\d+")
# samples whose blocks cover every family (and their parts: Mem-Info, task lists, memcg)
SAMPLES_USED = [
    "qemu/6.12.118+deb13-amd64-memcg-oom-serial.log",
    "qemu/6.1.0-56-amd64-sysrq-serial.log",
    "qemu/5.10.0-46-amd64-hung-task-kmsg.log",
    "corpus/lkml/kmallocwd-2017-too_many_isolated-congestion_wait.txt",
    "corpus/lkml/interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt",
    "corpus/lkml/warnalloc-stall-4.9-rsync-2102516ms-xfs-netconsole-syslog.txt",
    "corpus/lkml/printk-dropped-4.6.2-kmallocwd-stezenbach.txt",
]


@cache
def _sample(name: str) -> tuple[list[bytes], stalllog.Capture]:
    data = (SAMPLES / name).read_bytes()
    if data.startswith(b"\xfd7zXZ"):
        data = lzma.decompress(data)
    return data.splitlines(keepends=True), stalllog.parse(data, analysis=False)


def _blocks(sample: str) -> list[tuple[str, bytes, list[int]]]:
    """(family, window, claimed line indexes in it): the first block of each family."""
    lines, cap = _sample(sample)
    out = []
    for family, events in cap.events.groupby("family", sort=True):
        e = events.iloc[0]
        a, b = int(e.line_start), int(e.line_end)
        claimed = cap.lines.line_no[cap.lines.event_id == e.event_id]
        out.append((str(family), b"".join(lines[a - 1 : b]), [int(n) - a for n in claimed]))
    return out


def _shape(line: bytes) -> bytes:
    return DIGITS.sub(b"#", line)


def _variants(window: bytes, claimed: list[int], every_line: bool) -> list[tuple[bytes, bytes]]:
    """(variant window, the number put in) per digit run of the claimed lines: 25 nines, and
    `--run` or `runx` alternately. Without every_line, one line per line shape."""
    lines = window.splitlines(keepends=True)
    seen: set[bytes] = set()
    out = []
    for i in claimed:
        if not every_line and _shape(lines[i]) in seen:
            continue
        seen.add(_shape(lines[i]))
        for k, m in enumerate(DIGITS.finditer(lines[i])):
            a, b = m.span()
            bad = b"--" + m[0] if k % 2 else m[0] + b"x"
            for put in (HUGE, bad):
                changed = lines[i][:a] + put + lines[i][b:]
                out.append((b"".join([*lines[:i], changed, *lines[i + 1 :]]), put))
    return out


def _by_source(cap: stalllog.Capture, n: int) -> list[dict[str, list[dict[str, Any]]]]:
    """Per source (= boot here), the rows of every family table and of `events`."""
    tables = cap.arrow
    # Each source starts a boot at its line 1; windows hold no reboot, but a digit of a
    # syslog host name mangled (`storage8` -> `storage8x`) names another host, whose lines
    # get a boot of their own (boots are per host) later in that source.
    first = [ls == 1 for ls in tables["boots"].column("line_start").to_pylist()]
    assert sum(first) == n
    source_of = list(itertools.accumulate(first))
    events = tables["events"]
    pairs = zip(events["event_id"].to_pylist(), events["boot"].to_pylist(), strict=True)
    boot_of = {e: source_of[b] - 1 for e, b in pairs}
    out: list[dict[str, list[dict[str, Any]]]] = [defaultdict(list) for _ in range(n)]
    for name, t in tables.items():
        if name not in ("lines", "unparsed", "boots", "sources") and "event_id" in t.column_names:
            for row in t.to_pylist():
                if row["event_id"] in boot_of:
                    out[boot_of[row["event_id"]]][name].append(row)
    return out


_NAMED = re.compile(r"(\w+)\.(\w+): (\S+) out of range")


def _check_variants(window: bytes, variants: list[tuple[bytes, bytes]]) -> int:
    """Parse the block and its variants as separate sources; returns how many cells were
    nulled (and named)."""
    datas = [window, *(v for v, _ in variants)]
    cap = stalllog.parse(*datas)  # the analysis runs too
    assert rebuild(cap.arrow["lines"]) == b"".join(datas)  # every line, byte-exact
    assert cap.sources.n_lines.tolist() == [d.count(b"\n") for d in datas]
    per = _by_source(cap, len(datas))
    nulled = 0
    for (_, put), got in zip(variants, per[1:], strict=True):
        reasons = {r["event_id"]: r["reason"] or "" for r in got["events"]}
        # every value named out of range is a null cell of its event in that table
        for eid, reason in reasons.items():
            for table, column, value in _NAMED.findall(reason):
                # the number put in, or one computed from it (pages -> kB): past int64
                assert value.endswith("...") or not -(2**63) <= int(value) < 2**63, reason
                rows = [r for r in got[table] if r["event_id"] == eid] if table != "events" else []
                assert table == "events" or any(r[column] is None for r in rows), reason
                nulled += 1
        if put == HUGE:
            _check_landing(per[0], got, reasons)
    return nulled


def _check_landing(orig: dict, got: dict, reasons: dict[int, str]) -> None:
    """A cell that held a number in the unchanged block and is null in the variant lost it to
    the oversized value (same table, same row, same column): its event's reason must quote
    the value or the cell. Only when the blocks are the same (kinds, lines): a 25-digit
    timestamp may split a block, which is no value landing anywhere."""
    shape = [(e["kind"], e["n_lines"]) for e in orig["events"]]
    if [(e["kind"], e["n_lines"]) for e in got["events"]] != shape:
        return
    for table, rows in got.items():
        before = orig.get(table, [])
        if table == "events" or len(before) != len(rows):
            continue
        for old, new in zip(before, rows, strict=True):
            for column, value in new.items():
                kept = any(isinstance(v, str) and "99999999" in v for v in new.values())
                if value is None and isinstance(old[column], int) and not kept:
                    # (kept: the line was no longer read as fields, its text is in the row)
                    reason = reasons.get(new["event_id"], "")
                    named = "99999999" in reason or f"{table}.{column}" in reason
                    assert named or "unreadable" in reason, (  # the family's own word
                        f"{table}.{column} nulled without a reason: {reason!r}"
                    )


def _cases(every_line: bool) -> list[Any]:
    return [
        pytest.param(sample, family, every_line, id=f"{family}-{sample.rsplit('/', 1)[-1][:30]}")
        for sample in SAMPLES_USED
        for family, _, _ in _blocks(sample)
    ]


# Variants per block, evenly spread: the default suite takes one line per shape; `-m slow`
# every line, within CI's fuzz budget; STALLLOG_VALUES_ALL=1 all of them (minutes).
DEFAULT_VARIANTS = 60
SLOW_VARIANTS = None if os.environ.get("STALLLOG_VALUES_ALL") else 300


def _run(sample: str, family: str, every_line: bool) -> None:
    window, claimed = next((w, c) for f, w, c in _blocks(sample) if f == family)
    variants = _variants(window, claimed, every_line)
    cap = SLOW_VARIANTS if every_line else DEFAULT_VARIANTS
    if cap is not None and len(variants) > cap:
        variants = [variants[int(k * len(variants) / cap)] for k in range(cap)]
    for k in range(0, len(variants), 200):  # batches of 200 sources keep each parse small
        _check_variants(window, variants[k : k + 200])


@pytest.mark.parametrize(("sample", "family", "every_line"), _cases(every_line=False))
def test_every_number_of_a_block_oversized_or_mangled(
    sample: str, family: str, every_line: bool
) -> None:
    _run(sample, family, every_line)


@pytest.mark.slow
@pytest.mark.parametrize(("sample", "family", "every_line"), _cases(every_line=True))
def test_every_number_of_every_line_oversized_or_mangled(
    sample: str, family: str, every_line: bool
) -> None:
    _run(sample, family, every_line)


# -- the reproducers, on real lines ----------------------------------------------


def _real_line(sample: str, line_no: int) -> bytes:
    return _sample(sample)[0][line_no - 1]


def _with(line: bytes, old: bytes, new: bytes = HUGE) -> bytes:
    assert line.count(old) >= 1, line
    return line.replace(old, new, 1)


POSTED = "corpus/posted/kmallocwd-next-20160224-D3-switches-oomcount-pair-snipped.txt"
REPRODUCERS = [
    # (sample, line, number in it, table.column it lands in)
    ("qemu/5.10.0-46-amd64-hung-task-journal.log", 388, b":108 ", "hung_tasks.pid"),
    ("corpus/lkml/printk-dropped-4.6.2-kmallocwd-stezenbach.txt", 13, b"501", "printk_loss.count"),
    ("qemu/5.10.0-46-amd64-page-alloc-fail-serial.log", 337, b"order:10", "alloc_failures.order"),
    (POSTED, 2, b"process 2363", "oom_events.victim_pid"),
    (POSTED, 3, b"process 2363", "oom_events.victim_pid"),
    (
        "corpus/lkml/warnalloc-stall-4.9-rsync-2102516ms-xfs-netconsole-syslog.txt", 2,
        b"2102516", "alloc_stalls.stall_ms",
    ),
]  # fmt: skip


# 25 digits: past int64; 5000: past what Python's int() converts (families see 100 digits)
@pytest.mark.parametrize("n_digits", [25, 5000])
@pytest.mark.parametrize(("sample", "line_no", "number", "cell"), REPRODUCERS)
def test_an_oversized_number_is_a_null_cell_named_in_the_reason(
    sample: str, line_no: int, number: bytes, cell: str, n_digits: int
) -> None:
    digits = re.search(rb"\d+", number)
    assert digits is not None
    huge = b"9" * n_digits
    line = _with(_real_line(sample, line_no), number, number.replace(digits[0], huge))
    cap = stalllog.parse(line)
    table, column = cell.split(".")
    assert cap[table][column].isna().all() and len(cap[table]) == 1
    said = f"{cell}: {shown(huge.decode())} out of range"
    assert said in cap.events.reason.iloc[0]
    assert cap.events.corrupted.iloc[0]
    if "reason" in cap[table]:  # the row's own reason says it too
        assert said in cap[table].reason.iloc[0]
    assert cap.lines.text.str.contains(huge.decode()).tolist() == [True]  # the line kept whole


def test_kmsg_sequence_number_past_int64_is_null_and_flagged() -> None:
    line = _real_line("qemu/5.10.0-46-amd64-hung-task-kmsg.log", 6)  # `6,5,0,-;BIOS-e820: ...`
    ok = b"6,9223372036854775807," + line[4:]  # int64 max still fits
    cap = stalllog.parse(_with(line, b"6,5,", b"6," + HUGE + b",") + ok)
    assert cap.lines.kmsg_seq.tolist()[1] == 2**63 - 1 and cap.lines.kmsg_seq.isna().tolist()[0]
    assert cap.arrow["lines"].column("flags").to_pylist() == ["bad-number", None]
    assert cap.lines.text.tolist() == [line[8:-1].decode()] * 2  # the prefix still cut off


def test_drop_marker_with_oversized_count_is_still_a_marker() -> None:
    line = _real_line("corpus/lkml/printk-dropped-4.6.2-kmallocwd-stezenbach.txt", 12)
    cap = stalllog.parse(_with(line, b"1402"))
    assert cap.lines["flags"].iloc[0] == "dropped-before+bad-number"
    assert cap.lines.dropped.isna().iloc[0]
    assert cap.lines.text.iloc[0].startswith(" [<ffffffff8116d519>] __do_page_cache_readahead")


def test_doubled_minus_in_a_zone_line_is_unreadable_not_fatal() -> None:
    sample = "qemu/5.10.0-46-amd64-page-alloc-fail-serial.log"
    lines = _sample(sample)[0]
    block = b"".join(lines[336:400])  # the page allocation failure with its Mem-Info
    assert b"min:156kB" in block
    cap = stalllog.parse(block.replace(b"min:156kB", b"min:--156kB", 1))
    assert "Node 0 DMA: unreadable 'min:--156kB'" in "".join(cap.events.reason.dropna())
    assert cap.zones.min_kb.isna().iloc[0] and cap.zones.min_kb.notna().iloc[1]
    assert len(cap.lines) == 64


@pytest.mark.parametrize(
    ("text", "value"),
    [("156", 156), ("-156", -156), ("+3", 3), ("--156", None), ("12x", None), ("", None),
     ("1_000", None), (" 5", None), ("²", None), (None, None), ("9" * 25, int("9" * 25)),
     ("9" * 5000, None)],
)  # fmt: skip
def test_to_int(text: str | None, value: int | None) -> None:
    assert to_int(text) == value


def test_checked_int64() -> None:
    got = checked_int64(pa.array(["5", "", None, "9223372036854775807", "9223372036854775808",
                                  "9" * 25]))  # fmt: skip
    assert got.tolist() == [5, -1, -1, 2**63 - 1, TOO_BIG, TOO_BIG]


def test_to_batch_nulls_only_what_does_not_fit() -> None:
    schema = pa.schema([("event_id", pa.int64()), ("pid", pa.int32()), ("x", pa.float64()),
                        ("reason", pa.string())])  # fmt: skip
    rows = [{"event_id": 0, "pid": 2**31, "x": 10**30, "reason": "cut"},
            {"event_id": 1, "pid": 7, "x": 1.5}]  # fmt: skip
    batch, bad = to_batch(rows, schema, "t")
    assert batch.to_pylist() == [
        {"event_id": 0, "pid": None, "x": 1e30, "reason": "cut; t.pid: 2147483648 out of range"},
        {"event_id": 1, "pid": 7, "x": 1.5, "reason": None},
    ]
    assert bad == [(0, "t.pid: 2147483648 out of range")]
