"""The drgn collector (`stalllog.vmcore.collect`) on real dumps.

The committed fixtures (`tests/vmcore/<release>.json.xz`, written by `tools/vmcore/fixture.py`)
are collector outputs of QEMU guests dumped in the middle of an OOM storm; the facts asserted
here were read by hand from them and checked against the same boot's serial console. With
`STALLLOG_VMCORE_CACHE` naming a tools/vmcore cache, the slow test collects each dump again and
compares it with its fixture.
"""

from __future__ import annotations

import functools
import json
import lzma
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from stalllog.vmcore.collected import check_document

FIXTURES = ROOT / "tests" / "vmcore"
STATES = set("RSDTtXZPI")  # task_state_to_char()

# Read by hand from each dump (and its serial.log): the oom_lock owner is the task whose
# "invoked oom-killer" header is the last one on the console before QEMU stopped the guest.
FACTS: dict[str, dict[str, Any]] = {
    "6.1.0-56-amd64": {
        "owner": 212,
        "owner_comm": "hog",
        "owner_frames": ["out_of_memory", "__alloc_pages_may_oom", "__alloc_pages_slowpath"],
        "tasks": 106,
        "d_state": 12,
        "oom_kill": 9,
        "printk": 2053,
        "hz": 250,
        "nr_cpus": 4,
        # (free, boost, min, low, high) pages, as the Mem-Info the owner printed right after
        # the dump shows them in kB (its min/low/high include the boost)
        "zones": {"DMA": (681, 512, 38, 47, 56), "DMA32": (854, 512, 355, 443, 531)},
        "nr_free_pages": 1535,
    },
    "6.12.118+deb13-amd64": {
        "owner": 218,
        "owner_comm": "hog",
        # 6.12 names the allocator __alloc_pages_noprof (memory allocation profiling)
        "owner_frames": [
            "out_of_memory",
            "__alloc_pages_may_oom",
            "__alloc_pages_slowpath",
            "__alloc_pages_noprof",
        ],
        "tasks": 103,
        "d_state": 10,
        "oom_kill": 2,
        "printk": 794,
        "hz": 250,
        "nr_cpus": 4,
        "zones": {"DMA": (680, 512, 37, 46, 55), "DMA32": (249, 0, 366, 457, 548)},
        "nr_free_pages": 929,
    },
}


def _fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.json.xz"))


@functools.cache
def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(lzma.decompress(path.read_bytes()))
    return doc


def _release(path: Path) -> str:
    return path.name.removesuffix(".json.xz")


@pytest.fixture(params=_fixtures(), ids=_release)
def doc(request: pytest.FixtureRequest) -> dict[str, Any]:
    return _load(request.param)


def test_every_fixture_has_its_facts() -> None:
    assert _fixtures(), "no committed fixture"
    assert {_release(p) for p in _fixtures()} == set(FACTS)


def _tasks(doc: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {t["pid"]: t for t in doc["tasks"]}


def _last_oom_header(doc: dict[str, Any]) -> dict[str, Any]:
    return [r for r in doc["printk"] if "invoked oom-killer" in r["text"]][-1]


def test_document_shape_and_kernel(doc: dict[str, Any]) -> None:
    check_document(doc)
    facts = FACTS[doc["kernel"]["release"]]
    assert doc["errors"] == []
    assert doc["kernel"]["hz"] == facts["hz"]
    assert doc["kernel"]["nr_cpus"] == facts["nr_cpus"]
    assert doc["kernel"]["page_size"] == 4096
    assert doc["dump"]["panic"] is False  # QEMU's dump-guest-memory of a running guest
    assert doc["kernel"]["release"] in doc["printk"][0]["text"]  # "Linux version ..."


def test_owner_is_the_last_oom_killer_invoker(doc: dict[str, Any]) -> None:
    facts = FACTS[doc["kernel"]["release"]]
    owner = doc["oom_lock"]["owner_pid"]
    assert owner == facts["owner"]
    task = _tasks(doc)[owner]
    assert task["comm"] == facts["owner_comm"]
    header = _last_oom_header(doc)
    assert header["caller"] == f"T{owner}"
    assert header["text"].startswith(f"{task['comm']} invoked oom-killer")
    # the dump_stack() header line after it names the same pid
    after = [r["text"] for r in doc["printk"] if r["seq"] > header["seq"]]
    pid_line = next(t for t in after if t.startswith("CPU: "))
    assert re.search(rf"\bPID: {owner}\b", pid_line)
    names = [f["function"] for f in task["stack"]]
    frames = facts["owner_frames"]
    assert [n for n in names if n in frames] == frames, names
    assert owner not in doc["oom_lock"]["waiters"]


def test_task_invariants(doc: dict[str, Any]) -> None:
    facts = FACTS[doc["kernel"]["release"]]
    tasks = doc["tasks"]
    assert len(tasks) == facts["tasks"]
    assert [t["pid"] for t in tasks] == sorted({t["pid"] for t in tasks})
    assert all(t["pid"] > 0 for t in tasks)  # no idle task
    assert {t["state"] for t in tasks} <= STATES
    d_state = [t for t in tasks if t["state"] == "D"]
    assert len(d_state) == facts["d_state"]
    assert all(t["stack"] for t in d_state)
    assert all(t["since_ran_s"] is not None and t["since_ran_s"] >= 0 for t in tasks)
    uptime = doc["dump"]["uptime_ns"]
    assert all(t["last_arrival_ns"] <= uptime for t in tasks)
    on_cpu = [t for t in tasks if t["on_cpu"]]
    assert 0 < len(on_cpu) <= doc["kernel"]["nr_cpus"]
    assert all(t["state"] == "R" for t in on_cpu)
    # kernel threads have no mm, user tasks that are not exiting do
    init = _tasks(doc)[1]
    assert init["rss_pages"] > 0 and init["ppid"] == 0
    kthreadd = _tasks(doc)[2]
    assert kthreadd["comm"] == "kthreadd" and kthreadd["rss_pages"] is None


def test_stack_frames(doc: dict[str, Any]) -> None:
    for task in doc["tasks"]:
        for frame in task["stack"] or []:
            assert frame["pc"] >= 1 << 63  # kernel text only: user space cut off
            assert frame["function"], (task["pid"], frame)
            if frame["inline"]:
                continue
            assert frame["offset"] is not None and frame["offset"] >= 0
    # a sleeping task's innermost real frame is the scheduler
    sleepers = [t for t in doc["tasks"] if t["state"] in "SD" and t["stack"]]
    assert all(any(f["function"] == "__schedule" for f in t["stack"][:3]) for t in sleepers), (
        "a sleeper's stack that does not start in __schedule"
    )


def test_vmstat_oom_kill_counts_the_kills_in_the_ring(doc: dict[str, Any]) -> None:
    facts = FACTS[doc["kernel"]["release"]]
    vmstat = doc["vmstat"]
    killed = [r for r in doc["printk"] if r["text"].startswith("Out of memory: Killed process")]
    # the ring holds the whole boot (log_buf_len=8M), so every kill is there
    assert vmstat["oom_kill"] == len(killed) == facts["oom_kill"]
    assert len(doc["printk"]) == facts["printk"]
    assert [r["seq"] for r in doc["printk"]] == list(range(len(doc["printk"])))
    # names from the kernel's enums, lower-cased; /proc/vmstat's spelling of the aliases
    for name in ("nr_free_pages", "nr_zone_inactive_anon", "nr_inactive_anon", "pgfault"):
        assert name in vmstat
    assert "workingset_refault_anon" in vmstat and "workingset_refault_base" not in vmstat
    assert vmstat["allocstall_normal"] + vmstat["allocstall_dma32"] > 0


def test_zones(doc: dict[str, Any]) -> None:
    facts = FACTS[doc["kernel"]["release"]]
    zones = doc["zones"]
    seen = {z["zone"]: (z["free_pages"], z["boost"], z["min"], z["low"], z["high"]) for z in zones}
    assert seen == facts["zones"]
    assert doc["vmstat"]["nr_free_pages"] == facts["nr_free_pages"]
    assert [z["zone"] for z in zones][:2] == ["DMA", "DMA32"]
    for z in zones:
        assert 0 < z["min"] < z["low"] < z["high"]
        assert z["managed_pages"] <= z["present_pages"] <= z["spanned_pages"]
        assert 0 <= z["free_pages"] <= z["managed_pages"]
    # vm_zone_stat is the sum of the zones' own counters (both folded the same way)
    assert sum(z["free_pages"] for z in zones) == doc["vmstat"]["nr_free_pages"]


def test_memcg_root(doc: dict[str, Any]) -> None:
    root = doc["memcg"][0]
    assert root["path"] == "/" and root["limit_pages"] is None
    assert root["oom_kill"] == doc["vmstat"]["oom_kill"]  # global OOMs count in the root


# --- the collector itself, on the dumps (slow; needs drgn and the cache) ---


def _cache_entries() -> list[Path]:
    cache = os.environ.get("STALLLOG_VMCORE_CACHE")
    if not cache:
        return []
    return sorted(p for p in Path(cache).iterdir() if (p / "READY").exists())


def _facts_of(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "kernel": doc["kernel"],
        "oom_lock": doc["oom_lock"],
        "tasks": [(t["pid"], t["state"], t["comm"]) for t in doc["tasks"]],
        "vmstat": doc["vmstat"],
        "zones": doc["zones"],
        "printk": len(doc["printk"]),
    }


_CONSOLE_LEVEL = 7  # loglevel=7 on the guests' command line: the console prints 0..6


def _console_misses(doc: dict[str, Any], serial: Path) -> list[str]:
    """The records printed on the console that the serial log lacks (in order)."""
    lines = serial.read_bytes().decode("utf-8", errors="replace").replace("\r", "").split("\n")
    pos, misses = 0, []
    for rec in doc["printk"]:
        if rec["level"] >= _CONSOLE_LEVEL:
            continue
        ts = rec["ts_nsec"]
        want = f"[{ts // 10**9:5d}.{ts % 10**9 // 1000:06d}] {rec['text'].splitlines()[0]}"
        try:
            pos = lines.index(want, pos) + 1
        except ValueError:
            misses.append(want)
    return misses


@pytest.mark.slow
@pytest.mark.skipif(not _cache_entries(), reason="STALLLOG_VMCORE_CACHE names no dump cache")
def test_printk_ring_is_the_console() -> None:
    for entry in _cache_entries():
        fixture = FIXTURES / f"{entry.name}.json.xz"
        if fixture.exists():
            assert _console_misses(_load(fixture), entry / "serial.log") == [], entry


@pytest.mark.slow
@pytest.mark.skipif(not _cache_entries(), reason="STALLLOG_VMCORE_CACHE names no dump cache")
def test_collect_matches_the_fixture() -> None:
    from stalllog.vmcore.collect import collect

    for entry in _cache_entries():
        fixture = FIXTURES / f"{entry.name}.json.xz"
        if not fixture.exists():
            continue
        doc = check_document(collect(entry / "vmcore", entry / "vmlinux"))
        assert doc["kernel"]["release"] == entry.name
        assert _facts_of(doc) == _facts_of(_load(fixture)), entry


@pytest.mark.slow
@pytest.mark.skipif(not _cache_entries(), reason="STALLLOG_VMCORE_CACHE names no dump cache")
def test_stalllog_vmcore_on_the_dumps(tmp_path: Path) -> None:
    """The command a user runs, on each real dump: the tables and the clue name the owner
    read by hand (FACTS) and stay under the clue's 16 KB."""
    from typer.testing import CliRunner

    from stalllog.cli import app

    for entry in _cache_entries():
        facts = FACTS.get(entry.name)
        if facts is None:
            continue
        out, clue = tmp_path / entry.name, tmp_path / f"{entry.name}.txt"
        args = ["vmcore", str(entry / "vmcore"), "--vmlinux", str(entry / "vmlinux")]
        r = CliRunner().invoke(app, [*args, "-o", str(out), "--format", "csv", "--clue", str(clue)])
        assert r.exit_code == 0, r.output
        owner = (out / "vmcore_oom_lock.csv").read_text().splitlines()[1].split(",")[0]
        assert owner == str(facts["owner"])
        text = clue.read_text()
        assert len(text.encode()) <= 16 * 1024
        assert f"held by pid {facts['owner']} ({facts['owner_comm']})" in text


# --- opening and guarding (no dump needed) ---


def test_without_drgn_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from stalllog.vmcore.collect import CollectError, collect

    monkeypatch.setitem(sys.modules, "drgn", None)  # import drgn -> ImportError
    with pytest.raises(CollectError, match=re.escape("pip install 'stalllog[vmcore]'")):
        collect(tmp_path / "vmcore", tmp_path / "vmlinux")


def test_unreadable_inputs_are_one_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("drgn")
    from stalllog.vmcore.collect import CollectError, collect

    vmlinux = tmp_path / "vmlinux"
    with pytest.raises(CollectError, match="no such vmlinux"):
        collect(tmp_path / "vmcore", vmlinux)
    vmlinux.write_bytes(b"\x7fELF not really")
    not_a_dump = tmp_path / "vmcore"
    not_a_dump.write_text("Linux version 6.1.0\n")
    with pytest.raises(CollectError, match=r"cannot open .*vmcore"):
        collect(not_a_dump, vmlinux)


def test_a_failed_read_is_null_and_one_sentence() -> None:
    from stalllog.vmcore.collect import MAX_ERRORS, Reader

    r = Reader(None)  # type: ignore[arg-type]

    def torn() -> int:
        raise LookupError("could not read memory\nat 0xffff")

    assert r.read("task 7 comm", torn) is None
    assert r.read("task 7 comm", torn) is None  # the same failure is said once
    assert r.read("task 8 state", int, "3") == 3
    assert r.errors == ["task 7 comm: LookupError: could not read memory"]
    for i in range(2 * MAX_ERRORS):
        r.read(f"task {i} flags", torn)
    assert len(r.errors) == MAX_ERRORS and r.dropped == MAX_ERRORS + 1


def test_hz_without_tick_nsec() -> None:
    """v6.13 dropped tick_nsec: HZ then comes from the jiffies clocksource (both dumps hold
    tick_nsec 4000000 and clocksource_jiffies mult 1024000000, shift 8: HZ 250)."""
    from types import SimpleNamespace

    from stalllog.vmcore.collect import _hz

    def value(v: int) -> SimpleNamespace:
        return SimpleNamespace(value_=lambda: v)

    jiffies = SimpleNamespace(mult=value(1024000000), shift=value(8))
    old = {"tick_nsec": value(3999987), "clocksource_jiffies": jiffies}  # NTP-adjusted
    assert _hz(old) == 250  # type: ignore[arg-type]
    assert _hz({"clocksource_jiffies": jiffies}) == 250  # type: ignore[arg-type]
    hz1000 = SimpleNamespace(mult=value(1000000 << 8), shift=value(8))
    assert _hz({"clocksource_jiffies": hz1000}) == 1000  # type: ignore[arg-type]
