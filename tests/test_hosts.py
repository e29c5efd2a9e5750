"""Many hosts in one syslog file (issue 10 item 3): boots, blocks and records never join two
hosts' lines.

The multi-host file is built here from real captures, each kept as it was except for its
time: every capture's syslog times are moved to start at the same second (so they interleave,
as several machines logging to one rsyslog server do), and their records are merged by time,
round-robin within a second (host A's first record of a second, host B's first, ...). A
record is a prefixed line with the unprefixed continuation lines that follow it (journalctl
indents the further lines of a multi-line message). Each host's rows of the merged parse must
equal that capture (time-shifted the same way) parsed alone, value for value: ids, source
and `boot` aside, with line numbers translated back to the capture's own."""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import SAMPLES

import stalllog
from stalllog.input.boots import BootTracker

# three real syslog-prefixed captures of three hosts: rsyslog (RHEL 6, NUMA), rsyslog with
# printk times (Ubuntu 4.15), journalctl -k (Debian 6.1 under QEMU, memcg OOMs, indented
# continuation lines)
CAPTURES = (
    "corpus/lkml/oom-2.6.32-279-rhel6-haproxy-slab-unreclaimable-syslog.txt",
    "corpus/posted/oom-4.15.0-108-ubuntu-kvm-comm-with-space-syslog.txt",
    "qemu/6.1.0-56-amd64-memcg-oom-journal.log",
)
_STAMP = re.compile(rb"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) \S+ ")
_START = datetime(2000, 11, 24, 19, 52, 22)  # year for the arithmetic only; never printed
# line-number columns (a line of the input); `lineno` (a source line of the kernel) is not one
_LINE_REFS = re.compile(r"(\blines? )(\d+(?: and \d+)?)")
_NUMBER = re.compile(r"\d+")
_IDS = {"boot", "source", "finding", "episode"}  # numbered over the whole capture
_NOT_LINES = {"lineno", "n_lines", "cmdline"}


def _records(data: bytes) -> list[tuple[datetime, bytes]]:
    """(time, lines) per record, the time moved so the capture starts at _START."""
    out: list[tuple[datetime, bytes]] = []
    shift = None
    for line in data.splitlines(keepends=True):
        m = _STAMP.match(line)
        if m is None:
            assert out, "a capture must start with a syslog prefix"
            out[-1] = (out[-1][0], out[-1][1] + line)
            continue
        t = datetime.strptime("2000 " + m[1].decode(), "%Y %b %d %H:%M:%S")
        shift = _START - t if shift is None else shift
        t += shift
        stamp = f"{t:%b} {t.day:2d} {t:%H:%M:%S}".encode()
        out.append((t, stamp + line[m.end(1) :]))
    return out


def _interleave(captures: list[bytes]) -> tuple[bytes, list[list[int]]]:
    """The merged file and, per capture, the merged line number of each of its lines."""
    keyed = []
    for k, data in enumerate(captures):
        rank: dict[datetime, int] = {}
        for i, (t, rec) in enumerate(_records(data)):
            rank[t] = rank.get(t, -1) + 1
            keyed.append(((t, rank[t], k, i), k, rec))
    keyed.sort()
    merged: list[bytes] = []
    where: list[list[int]] = [[] for _ in captures]
    for _, k, rec in keyed:
        for _ in range(rec.count(b"\n")):
            merged.append(b"")
            where[k].append(len(merged))
        merged[-1] = rec
    return b"".join(merged), where


def _rebased(name: str) -> bytes:
    return b"".join(rec for _, rec in _records((SAMPLES / name).read_bytes()))


def _line_columns(t: pa.Table) -> list[str]:
    def is_line(f: pa.Field) -> bool:
        return "line" in f.name and f.name not in _NOT_LINES and pa.types.is_integer(f.type)

    return [f.name for f in t.schema if is_line(f)]


def _id_columns(t: pa.Table) -> list[str]:
    return [c for c in t.column_names if c.endswith("_id") or c in _IDS]


def _host_rows(tables: dict[str, pa.Table], name: str, boots: set[int]) -> pa.Table | None:
    """The rows of `name` that belong to these boots (through `boot` or `event_id`)."""
    t = tables[name]
    if "boot" in t.column_names:
        key, values = "boot", boots
    elif "event_id" in t.column_names:
        ev = tables["events"]
        ids = ev.filter(pc.is_in(ev["boot"], pa.array(sorted(boots), pa.int32())))["event_id"]
        key, values = "event_id", set(ids.to_pylist())
    else:
        return None
    return t.filter(pc.is_in(t[key], pa.array(sorted(values), t[key].type)))


def _comparable(t: pa.Table, line_of: dict[int, int] | None) -> list[dict[str, object]]:
    """Rows without ids, line numbers translated (merged -> the capture's own), NaN as None."""
    t = t.drop_columns(_id_columns(t))
    rows = t.to_pylist()
    lines = _line_columns(t)
    for r in rows:
        for c, v in r.items():
            if isinstance(v, float) and v != v:
                r[c] = None
        if line_of is not None:
            for c in lines:
                if r[c] is not None:
                    r[c] = line_of[r[c]]
            if r.get("evidence"):  # findings: `1,320`, "between lines 1 and 320"
                r["evidence"] = ",".join(str(line_of[int(x)]) for x in r["evidence"].split(","))
                r["text"] = _LINE_REFS.sub(
                    lambda m: m[1] + _NUMBER.sub(lambda d: str(line_of[int(d[0])]), m[2]),
                    r["text"],
                )
    return rows


@pytest.fixture(scope="module")
def parsed() -> tuple[stalllog.Capture, list[stalllog.Capture], list[list[int]]]:
    alone = [_rebased(n) for n in CAPTURES]
    merged, where = _interleave(alone)
    return stalllog.parse(merged), [stalllog.parse(a) for a in alone], where


def test_interleaved_hosts_give_each_hosts_tables(
    parsed: tuple[stalllog.Capture, list[stalllog.Capture], list[list[int]]],
) -> None:
    merged, alone, where = parsed
    tables = merged.arrow
    boots = tables["boots"]
    hosts = boots["host"].to_pylist()
    assert len(set(hosts)) == len(CAPTURES)  # no boot without a host, none shared
    compared = set()
    for cap, lines in zip(alone, where, strict=True):
        own = cap.arrow
        host = own["boots"]["host"][0].as_py()
        mine = {b for b, h in zip(boots["boot"].to_pylist(), hosts, strict=True) if h == host}
        line_of = {m: i + 1 for i, m in enumerate(lines)}
        for name, want in own.items():
            got = _host_rows(tables, name, mine)
            if got is None or name == "sources":
                continue
            assert _comparable(got, line_of) == _comparable(want, None), (host, name)
            compared.add(name) if want.num_rows else None
    # the captures fill the tables that a wrong join would spoil
    assert {"oom_events", "oom_tasks", "meminfo", "zones", "memcg", "stacks", "frames",
            "oom_explain", "findings", "lines", "events"} <= compared  # fmt: skip


def test_interleaving_is_real(
    parsed: tuple[stalllog.Capture, list[stalllog.Capture], list[list[int]]],
) -> None:
    """Other hosts' lines sit inside the reports (else the test above proves little)."""
    merged, _, _ = parsed
    t = merged.arrow
    host = t["lines"]["host"].to_pylist()
    assert None not in host
    boot_host = dict(zip(t["boots"]["boot"].to_pylist(), t["boots"]["host"].to_pylist(),
                         strict=True))  # fmt: skip
    oom = t["oom_events"]
    inside = [
        sum(h != boot_host[b] for h in host[lo - 1 : hi])
        for b, lo, hi in zip(oom["boot"].to_pylist(), oom["line_start"].to_pylist(),
                             oom["line_end"].to_pylist(), strict=True)
    ]  # fmt: skip
    assert sum(n > 0 for n in inside) >= 2 and max(inside) > 50


def _assign(tracker: BootTracker, hosts: list[str | None], ts: list[float]) -> list[int]:
    n = len(ts)
    line_no = np.arange(1, n + 1)
    none = np.zeros(n, bool)
    out = tracker.assign(
        "s", line_no, np.array(ts, float), none, none, pa.array(hosts, pa.string())
    )
    return out.tolist()


def test_boot_tracker_per_host() -> None:
    """Line stage level: the boots of each host, across chunks."""
    t = BootTracker()
    t.new_source("s", 1)
    nan = float("nan")
    # lines before the first host go with it; a line without host continues the one before
    assert _assign(t, [None, "a", "b", None, "a"], [nan, 5.0, 7.0, 8.0, 6.0]) == [0, 0, 1, 1, 0]
    # b's clock starts again from 0: b reboots, a does not (its clock is still running)
    assert _assign(t, [None, "b", "a", "b"], [9.0, 0.0, 9.5, 0.5]) == [0, 2, 0, 2]
    assert t.stream_of[0] != t.stream_of[1] == t.stream_of[2]
    # one host in a chunk: the whole chunk is that host's, whatever came before
    assert _assign(t, ["a", None], [10.0, nan]) == [0, 0]
    # a new source: new hosts, even with the same names
    t.new_source("s2", 1)
    assert _assign(t, ["a"], [11.0]) == [3]
