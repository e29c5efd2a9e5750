"""Structured inputs (stalllog/input/structured.py): `journalctl -o json`, `-o json-seq`,
`-o export` and util-linux `dmesg -J` of a real boot give the same family tables as the
boot's /dev/kmsg capture, value for value (ids and line numbers aside: the forms put a record
on a different number of lines). The structured samples were made from the kmsg captures in
sample_logs/qemu/ by tools/make_structured.sh (see sample_logs/README.md). Bad records are
flagged and counted, never a traceback."""

from __future__ import annotations

import functools
import json
import lzma
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import SAMPLES, rebuild
from tablecmp import differing

import stalllog
import stalllog.engine.capture as capture
from stalllog.input.reader import iter_chunks
from stalllog.input.structured import sniff
from stalllog.parsers import all_families
from stalllog.parsers.base import written_tables

STRUCTURED = SAMPLES / "structured"
FAMILY_TABLES = sorted({t.name for f in all_families() for t in written_tables(f)} | {"events"})
MEMCG = "6.1.0-56-amd64-memcg-oom"
GLOBAL = "6.1.0-56-amd64-global-oom"
FORMS = ("journal-json", "journal-json-seq", "journal-export", "dmesg-J")


def _kmsg(boot: str) -> Path:
    return next((SAMPLES / "qemu").glob(f"{boot}-kmsg.log*"))


def _positional(t: pa.Table) -> pa.Table:
    """Without the columns that count lines or ids: they differ between forms by design."""
    drop = [c for c in t.column_names
            if "line_no" in c or c in ("event_id", "line_start", "line_end", "source")]  # fmt: skip
    return t.drop(drop)


def _family_diff(boot: str, form: str, folder: Path = STRUCTURED) -> list[str]:
    kmsg = folder / f"{boot}-kmsg.log.xz" if folder != STRUCTURED else _kmsg(boot)
    ref = stalllog.parse(kmsg, analysis=False).arrow
    got = stalllog.parse(folder / f"{boot}-{form}.log.xz", analysis=False).arrow
    assert got["sources"]["error"].to_pylist() == [None]
    out = differing(
        {n: _positional(ref[n]) for n in FAMILY_TABLES},
        {n: _positional(got[n]) for n in FAMILY_TABLES},
    )
    # a real check: the boot has the OOM kills it should
    assert got["oom_events"].num_rows == ref["oom_events"].num_rows > 0
    return out


@pytest.mark.parametrize("form", FORMS)
def test_memcg_oom_structured_forms_equal_kmsg(form: str) -> None:
    assert _family_diff(MEMCG, form) == []


@pytest.mark.slow
@pytest.mark.parametrize("form", ("journal-json", "journal-export", "dmesg-J"))
def test_global_oom_structured_forms_equal_kmsg(form: str) -> None:
    assert _family_diff(GLOBAL, form) == []


GUEST = STRUCTURED / "guest"  # printed by the guest's own journalctl and dmesg -J
GUEST_FORMS = ("journal-json", "journal-export", "dmesg-J")


@pytest.mark.parametrize("form", GUEST_FORMS)
def test_guest_memcg_oom_forms_equal_its_kmsg(form: str) -> None:
    assert _family_diff(MEMCG, form, GUEST) == []


@pytest.mark.slow
@pytest.mark.parametrize("form", GUEST_FORMS)
def test_guest_global_oom_forms_equal_its_kmsg(form: str) -> None:
    assert _family_diff(GLOBAL, form, GUEST) == []


@pytest.mark.parametrize(("boot", "kills"), [(MEMCG, 20), (GLOBAL, 32)])
def test_guest_journal_json_is_one_boot_of_its_host(boot: str, kills: int) -> None:
    """journald's own fields: one _BOOT_ID (one boot), _HOSTNAME on every line; the OOM kills
    counted by hand with `grep -c "Killed process"` on the kmsg capture (memcg: 21 lines, one a
    memory.oom.group re-walk of the same kill)."""
    cap = stalllog.parse(GUEST / f"{boot}-journal-json.log.xz", analysis=False)
    assert len(cap.boots) == 1
    assert set(cap.boots["host"]) == {"qemu-guest"}
    assert cap.oom_events["victim_pid"].notna().sum() == kills


def test_journal_json_line_columns() -> None:
    """A journal record's fields land in the line columns: _SOURCE_MONOTONIC_TIMESTAMP as ts,
    __REALTIME_TIMESTAMP as wall, PRIORITY as level, _HOSTNAME as host; the JSON syntax of
    a dmesg -J record is kept as flagged lines around the message line."""
    lines = stalllog.parse(STRUCTURED / f"{MEMCG}-journal-json.log.xz").lines
    first = lines.iloc[0]
    assert first["text"].startswith("Linux version 6.1.0-56-amd64 ")
    assert (first["ts"], first["level"], first["host"]) == (0.0, 5, "qemu-guest")
    assert str(first["wall"]) == "2026-11-25 18:48:57"
    assert first["prefix_kind"] == "journal_json" and isinstance(first["raw"], bytes)
    kill = lines[lines["text"].str.startswith("Memory cgroup out of memory: Killed process 106")]
    assert kill["ts"].tolist() == [5.519666]  # kmsg record 450: usec 5519666
    dm = stalllog.parse(STRUCTURED / f"{MEMCG}-dmesg-J.log.xz").lines
    assert dm["prefix"].head(6).tolist() == ["{", '   "dmesg": [', "      {",
                                             '         "pri": 5,',
                                             '         "time":     0.000000,', ""]  # fmt: skip
    assert dm["flags"].head(5).tolist() == ["structured"] * 5
    assert dm.iloc[5]["text"] == first["text"] and dm.iloc[5]["level"] == 5


def _journal_lines(n: int) -> list[bytes]:
    data = lzma.decompress((STRUCTURED / f"{MEMCG}-journal-json.log.xz").read_bytes())
    return data.splitlines(keepends=True)[:n]


def test_bad_records_are_flagged_and_counted() -> None:
    """A cut JSON line and a record without MESSAGE: flagged bad-record, kept as text (so
    unparsed), named in sources.error; the records around them are read."""
    good = _journal_lines(4)
    cut = good[1][:50] + b"\n"
    no_msg = json.dumps({k: v for k, v in json.loads(good[2]).items() if k != "MESSAGE"})
    data = good[0] + cut + no_msg.encode() + b"\n" + good[3]
    cap = stalllog.parse(data)
    lines = cap.arrow["lines"]
    assert lines["flags"].to_pylist() == [None, "bad-record", "bad-record", None]
    assert lines["unparsed"].to_pylist()[:3] == [False, True, True]  # 0: the banner
    assert lines["text"][1].as_py() == cut[:-1].decode()
    assert cap.sources["error"][0] == (
        "2 journal JSON record(s) could not be read (flag bad-record; first at line 2)"
    )
    assert rebuild(lines) == data


def test_message_as_byte_array_and_new_boot_id() -> None:
    """journalctl writes a MESSAGE that is not UTF-8 as an array of byte values; a record
    of another _BOOT_ID starts a boot."""
    first, second = (json.loads(x) for x in _journal_lines(2))
    text = second["MESSAGE"]
    second["MESSAGE"] = [*text.encode(), 0xFF]
    second["_BOOT_ID"] = "0" * 32
    data = (json.dumps(first) + "\n" + json.dumps(second) + "\n").encode()
    lines = stalllog.parse(data).arrow["lines"]
    assert lines["text"][1].as_py() == text + "\\xff"
    assert lines["flags"][1].as_py() == "invalid-utf8"
    assert lines["boot"].to_pylist() == [0, 1]


def test_export_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries (binary MESSAGE values with newlines among them) cut by chunk boundaries give
    the same lines as one chunk."""
    path = STRUCTURED / f"{MEMCG}-journal-export.log.xz"
    whole = stalllog.parse(path, analysis=False).arrow["lines"]
    monkeypatch.setattr(capture, "iter_chunks", functools.partial(iter_chunks, chunk_bytes=4096))
    parts = stalllog.parse(path, analysis=False).arrow["lines"]
    assert parts.to_batches()[0].num_rows < whole.num_rows  # really cut into chunks
    assert differing({"lines": whole}, {"lines": parts}) == []
    multi = pc.match_substring(whole["text"], "\n")
    assert pc.sum(multi).as_py() == 18  # the records with \x0a in the kmsg capture


def test_export_broken_framing_skips_to_next_entry() -> None:
    """A binary field whose length runs past its value: that entry is flagged, reading goes
    on at the next entry."""
    data = lzma.decompress((STRUCTURED / f"{MEMCG}-journal-export.log.xz").read_bytes())
    entries = data.split(b"\n\n")[:3]
    broken = entries[1].replace(b"\nMESSAGE=", b"\nMESSAGE\n\xff\xff\x00\x00\x00\x00\x00\x00")
    blob = b"\n\n".join([entries[0], broken, entries[2]]) + b"\n\n"
    cap = stalllog.parse(blob)
    lines = cap.arrow["lines"]
    msgs = lines.filter(pc.invert(pc.equal(lines["text"], "")))["text"].to_pylist()
    assert [m[:13] for m in msgs] == ["Linux version", "BIOS-provided"]
    assert "1 journal export record(s) could not be read" in cap.sources["error"][0]
    assert rebuild(lines) == blob


def test_unknown_json_is_read_as_text_with_a_note() -> None:
    assert sniff(b'{"level":"info","msg":"x"}\n') == (None, sniff(b"{}\n")[1])
    cap = stalllog.parse(b'{"ts": 1, "log": "Out of memory"}\n')
    assert "looks like JSON but is neither" in cap.sources["error"][0]
    assert cap.lines["prefix_kind"].tolist() == ["none"]


def test_sniff_formats() -> None:
    for form, fmt in zip(FORMS, ("json", "json-seq", "export", "dmesg-json"), strict=True):
        head = lzma.decompress((STRUCTURED / f"{MEMCG}-{form}.log.xz").read_bytes())[:65536]
        assert sniff(head) == (fmt, None)
    assert sniff(_kmsg(MEMCG).read_bytes()[:65536]) == (None, None)


def test_export_value_past_max_line_is_a_bad_record() -> None:
    """A binary value longer than the reader keeps of a line (MAX_LINE, 4 MiB): the line is
    cut, the entry's framing no longer holds; flagged, no traceback, memory bounded."""
    head = lzma.decompress((STRUCTURED / f"{MEMCG}-journal-export.log.xz").read_bytes())
    first = head.split(b"\n\n")[0] + b"\n\n"
    size = 5 << 20
    big = b"__CURSOR=x\nMESSAGE\n" + size.to_bytes(8, "little") + b"a" * size + b"\n\n"
    cap = stalllog.parse(first + big + first, analysis=False)
    lines = cap.arrow["lines"]
    texts = lines.filter(pc.invert(pc.equal(lines["text"], "")))["text"].to_pylist()
    assert [t[:13] for t in texts] == ["Linux version", "Linux version"]
    error = cap.arrow["sources"]["error"][0].as_py()
    assert "1 journal export record(s) could not be read" in error and "cut after" in error


def test_message_set_twice_and_nested_arrays() -> None:
    """A field set twice is an array of its values (each a line of the row's text); deeper
    nesting is no journalctl output: a bad record, not a traceback."""
    first, second = (json.loads(x) for x in _journal_lines(2))
    twice = dict(first, MESSAGE=[first["MESSAGE"], list(second["MESSAGE"].encode())])
    deep = dict(first, MESSAGE=[[[second["MESSAGE"]]]])
    data = "".join(json.dumps(r) + "\n" for r in (twice, deep)).encode()
    lines = stalllog.parse(data, analysis=False).arrow["lines"]
    assert lines["text"][0].as_py() == first["MESSAGE"] + "\n" + second["MESSAGE"]
    assert lines["flags"].to_pylist() == [None, "bad-record"]


@pytest.mark.slow
@pytest.mark.parametrize("form", ("journal-json", "journal-export", "dmesg-J"))
def test_structured_time_is_linear(form: str) -> None:
    """The memcg OOM boot's records repeated n and 8n times (a dmesg -J document after
    another is read on as syntax lines and records): time grows linearly."""
    from test_scaling import _assert_linear

    data = lzma.decompress((STRUCTURED / f"{MEMCG}-{form}.log.xz").read_bytes())
    records = data.split(b"\n\n")[:100] if form == "journal-export" else data.splitlines()[:500]
    sep = b"\n\n" if form == "journal-export" else b"\n"
    unit = sep.join(records) + sep
    _assert_linear(lambda n: unit * n, 8)  # n // 8 = 1 unit warms the structured path up
