"""`stalllog vmcore` after the collector: the documents of real dumps (tests/vmcore/, the
collector's fixtures from QEMU guests' dumps) as tables, analysis and clue, checked against
what the same boot's console said and against facts looked at by hand."""

from __future__ import annotations

import copy
import json
import lzma
import os
import re
import stat
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import ROOT
from typer.testing import CliRunner

from stalllog.cli import app
from stalllog.vmcore import VmcoreResult, kmsg, read
from stalllog.vmcore.clue import CLUE_LIMIT, clue_facts, render_clue
from stalllog.vmcore.files import arrow_tables

FIXTURES = sorted((ROOT / "tests" / "vmcore").glob("*.json.xz"))
runner = CliRunner()

# Looked at by hand (`stalllog vmcore --from-json F -o out`, vmcore_tasks and the console).
# 6.1: the QMP stop came as the 10th `invoked oom-killer` line reached the console; hog 212
# is printing that OOM's dump_stack through the serial console; 15 hogs wait for locks (7 for
# mmap_lock in the page fault, 6 for the superblock's freeze rwsem in mnt_want_write, 2 for
# mmap_lock in vm_mmap_pgoff), 2 reclaim, 1 shrinks slabs.
EXPECTED: dict[str, dict[str, Any]] = {
    "6.1.0-56-amd64": {
        "owner": (212, "hog", "R"),
        "stalled": {"lock_wait": 15, "direct_reclaim": 2, "oom_killer": 1, "slab_shrink": 1},
        "lock_wait_details": {
            "lock_mm_and_find_vma←do_user_addr_fault": 7,
            "percpu_down_read←mnt_want_write": 6,
            "down_write←vm_mmap_pgoff": 2,
        },
        "states": {"I": 46, "S": 32, "D": 12, "R": 11, "Z": 5},
        "below_min": {"DMA": True, "DMA32": True},
        "oom_kill": 9,
        "oom_lock_wait": [],
    },
    # 6.12: stopped at the 3rd OOM report; hog 218 prints its Mem-Info (__show_mem) through
    # the serial console; 9 hogs wait for locks, and hog 192 is in the oom_lock trylock
    # backoff: `schedule_timeout` (schedule_timeout_uninterruptible tail-calls it) under
    # `__alloc_pages_may_oom`, inlined into `__alloc_pages_slowpath` (drgn names it).
    "6.12.118+deb13-amd64": {
        "owner": (218, "hog", "R"),
        "stalled": {
            "lock_wait": 9,
            "direct_reclaim": 1,
            "oom_killer": 1,
            "slab_shrink": 1,
            "oom_lock_wait": 1,
        },
        "lock_wait_details": {
            "down_write←vm_mmap_pgoff": 4,
            "percpu_down_read←mnt_want_write": 2,
            "down_write←vma_expand": 2,
            "lock_mm_and_find_vma←do_user_addr_fault": 1,
        },
        "states": {"I": 47, "S": 40, "D": 10, "R": 5, "Z": 1},
        "below_min": {"DMA": True, "DMA32": True},
        "oom_kill": 2,
        "oom_lock_wait": [192],
    },
}
# x86_64 zone indexes (include/linux/mmzone.h, enum zone_type) for the by-hand check
ZONE_INDEX = {"DMA": 0, "DMA32": 1, "Normal": 2, "Movable": 3, "Device": 4}


def _doc(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(lzma.decompress(path.read_bytes()))
    return doc


def _release(path: Path) -> str:
    return path.name.removesuffix(".json.xz")


@pytest.fixture(scope="module", params=FIXTURES, ids=_release)
def res(request: pytest.FixtureRequest) -> VmcoreResult:
    return read(request.param)


def test_there_is_a_fixture_and_every_fixture_was_checked_by_hand() -> None:
    assert FIXTURES, "tests/vmcore/*.json.xz: copy the collector's fixtures here"
    assert {_release(p) for p in FIXTURES} <= set(EXPECTED)


def test_printk_ring_is_the_capture(res: VmcoreResult) -> None:
    """Every record is one /dev/kmsg line of the capture, with its text (newlines too)."""
    lines = res.capture.arrow["lines"].to_pandas()
    records = [r for r in res.document["printk"]]
    msgs = lines[~lines["prefix_kind"].str.contains("kmsg_dict")]
    assert list(msgs["kmsg_seq"]) == [r["seq"] for r in records]
    assert list(msgs["text"]) == [r["text"] for r in records]
    assert set(res.capture.sources["source"]) == {"vmcore:" + res.document["dump"]["file"]}
    assert res.capture.boots["release"].tolist() == [res.document["kernel"]["release"]]


def test_oom_lock_owner_is_the_last_oom_killer_invoker(res: VmcoreResult) -> None:
    last = res.capture.oom_events.iloc[-1]
    lock = res.tables["vmcore_oom_lock"].iloc[0]
    assert lock["owner_pid"] == last["trigger_pid"] == EXPECTED[_release_of(res)]["owner"][0]
    assert (lock["owner_comm"], lock["owner_state"]) == EXPECTED[_release_of(res)]["owner"][1:]
    assert lock["owner_stuck_in"] == "oom_killer"
    # the analysis of the ring: that OOM dump holds the lock and has not ended
    held = res.analysis["oom_lock"].iloc[-1]
    assert (held["pid"], held["ended_by"]) == (lock["owner_pid"], "unknown")
    tasks = res.tables["vmcore_tasks"].set_index("pid")
    assert tasks.loc[int(lock["owner_pid"]), "oom_lock_role"] == "holder"


def _release_of(res: VmcoreResult) -> str:
    return str(res.document["kernel"]["release"])


def test_stalled_classes_as_seen_by_hand(res: VmcoreResult) -> None:
    from stalllog.vmcore.clue import stalled_mask

    want = EXPECTED[_release_of(res)]
    tasks = res.tables["vmcore_tasks"]
    assert tasks["state"].value_counts().to_dict() == want["states"]
    stalled = tasks[stalled_mask(tasks)]
    assert stalled["stuck_in"].value_counts().to_dict() == want["stalled"]
    lock = stalled[stalled["stuck_in"] == "lock_wait"]
    assert lock["detail"].value_counts().to_dict() == want["lock_wait_details"]
    backoff = res.tables["vmcore_oom_lock"].iloc[0]["oom_lock_wait_pids"]
    assert ([] if pd.isna(backoff) else list(map(int, backoff.split()))) == want["oom_lock_wait"]


def test_frames_are_normalized_as_the_console_s(res: VmcoreResult) -> None:
    frames = res.tables["vmcore_frames"]
    assert not frames["symbol"].str.contains(r"\.(?:isra|constprop|cold|part)\b|_noprof$").any()
    # the owner's trace as the console printed it (`oom_kill_process.cold` normalized)
    cap = res.capture
    printed = cap.frames[cap.frames["stack_id"] == cap.oom_events.iloc[-1]["stack_id"]]
    printed = printed[printed["reliable"]]  # not the `? ` guesses
    owner = int(res.tables["vmcore_oom_lock"].iloc[0]["owner_pid"])
    mine = frames[(frames["pid"] == owner) & ~frames["inline"].fillna(False)]
    # the console's trace starts at dump_stack_lvl, under it the same functions
    assert {"dump_header", "oom_kill_process", "out_of_memory"} <= set(printed["symbol"])
    assert set(printed["symbol"]) - {"dump_stack_lvl"} <= set(mine["symbol"])


def test_zones_below_min_by_the_kernel_predicate(res: VmcoreResult) -> None:
    zones = res.tables["vmcore_zones"].set_index("zone")
    raw = res.document["zones"]
    top = max((z["zone"] for z in raw), key=ZONE_INDEX.__getitem__)
    for z in raw:  # __zone_watermark_ok, order 0, no __GFP_HIGH, no CMA
        by_hand = (
            z["free_pages"] - z["nr_free_cma"]
            <= z["min"] + z["boost"] + z["lowmem_reserve"][ZONE_INDEX[top]]
        )
        assert zones.loc[z["zone"], "below_min"] == by_hand, z["zone"]
    assert zones["below_min"].to_dict() == EXPECTED[_release_of(res)]["below_min"]


def test_vmstat_oom_kill_counts_the_kills_in_the_ring(res: VmcoreResult) -> None:
    vmstat = res.tables["vmcore_vmstat"].set_index("name")["value"]
    killed = res.capture.lines["text"].str.contains("Killed process").sum()
    assert vmstat["oom_kill"] == killed == res.capture.oom_events["victim_pid"].notna().sum()
    assert vmstat["oom_kill"] == EXPECTED[_release_of(res)]["oom_kill"]


def test_analysis_runs_on_the_ring(res: VmcoreResult) -> None:
    assert set(res.analysis) >= {"findings", "oom_lock", "stack_classes"}
    assert len(res.analysis["oom_lock"]) == len(res.capture.oom_events)


def _secrets(doc: dict[str, Any]) -> set[str]:
    text = json.dumps(doc)
    found = set(re.findall(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])", text))
    found |= set(re.findall(r"(?:[0-9a-f]{2}:){5}[0-9a-f]{2}", text.lower()))
    found |= set(re.findall(r"/home/[^/\s\"]+", text))
    return found | {doc["kernel"]["hostname"]}


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_clue_is_small_names_the_owner_and_is_redacted(res: VmcoreResult, fmt: str) -> None:
    clue = render_clue(res, fmt)
    assert len(clue.encode()) <= CLUE_LIMIT
    owner = res.tables["vmcore_oom_lock"].iloc[0]
    if fmt == "text":
        assert max(len(ln) for ln in clue.splitlines()) <= 80
        assert f"held by pid {owner['owner_pid']} (hog)" in clue
        assert "class oom_killer" in clue
    else:
        facts = json.loads(clue)
        assert (facts["oom_lock"]["pid"], facts["oom_lock"]["class"]) == (
            owner["owner_pid"], "oom_killer")  # fmt: skip
    for secret in _secrets(res.document):
        assert secret not in clue


def _planted(doc: dict[str, Any]) -> dict[str, Any]:
    """The real document with what a customer's would hold: its host name, addresses and a
    user's home in the log, a container's memcg and a hostile process name."""
    doc = copy.deepcopy(doc)
    host = doc["kernel"]["hostname"]
    doc["printk"][-1]["text"] = f"{host} eth0: 10.20.30.40 52:54:00:12:34:56 /home/alice/x"
    doc["kernel"]["cmdline"] += " password=hunter2 nfsroot=files.example.com:/srv"
    owner = doc["oom_lock"]["owner_pid"]
    for t in doc["tasks"]:
        if t["pid"] == owner:
            t["comm"] = "\x1b]0;pwn\x07<script>"
            t["memcg"] = "/docker/" + "ab" * 32
    doc["memcg"].append({"path": "/docker/" + "ab" * 32, "usage_pages": 1, "limit_pages": 2,
                         "oom_kill": 1})  # fmt: skip
    return doc


def test_clue_redacts_and_escapes_what_a_document_may_hold() -> None:
    doc = _planted(_doc(FIXTURES[0]))
    clue = render_clue(read(doc))
    for secret in ("10.20.30.40", "52:54:00:12:34:56", "alice", "hunter2", "ab" * 32,
                   "files.example.com", doc["kernel"]["hostname"], "\x1b", "\x07"):  # fmt: skip
        assert secret not in clue
    assert "\\x1b]0;pwn\\x07<script>" in clue  # shown, not acted on
    assert "<script>" in json.loads(render_clue(read(doc), "json"))["oom_lock"]["comm"]


def test_clue_is_cut_with_a_marker_when_too_big() -> None:
    doc = _doc(FIXTURES[0])
    clue = render_clue(read(doc), limit=4096, log_lines=200)
    assert len(clue.encode()) <= 4096
    marker = re.search(r"\[cut to stay within the size limit: (\d+) log lines", clue)
    assert marker and int(marker.group(1)) > 0
    assert "held by pid" in clue  # the owner is the last thing cut


def test_cli_from_json_writes_tables_and_prints_the_clue(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = runner.invoke(app, ["vmcore", "--from-json", str(FIXTURES[0]), "-o", str(out),
                            "--clue", "-", "--json", str(tmp_path / "doc.json.xz")])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "stalllog vmcore clue" in r.stdout and "== oom_lock" in r.stdout
    for name in ("vmcore_tasks", "vmcore_frames", "vmcore_oom_lock", "vmcore_zones",
                 "vmcore_vmstat", "vmcore_memcg", "oom_events", "findings", "lines"):  # fmt: skip
        assert (out / f"{name}.parquet").is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"][0]["name"] == str(FIXTURES[0])
    tasks = pd.read_parquet(out / "vmcore_tasks.parquet")
    assert len(tasks) == len(_doc(FIXTURES[0])["tasks"])
    assert _doc(tmp_path / "doc.json.xz") == _doc(FIXTURES[0])
    r = runner.invoke(app, ["vmcore", "--from-json", str(FIXTURES[0]), "--clue-format", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["format"] == "stalllog-vmcore-clue"


def _fails(tmp_path: Path, content: bytes | str, reason: str) -> None:
    doc = tmp_path / "doc.json"
    doc.write_bytes(content if isinstance(content, bytes) else content.encode())
    r = runner.invoke(app, ["vmcore", "--from-json", str(doc)])
    assert r.exit_code == 1, r.output
    assert r.stderr == f"stalllog: {doc}: {reason}\n"


def test_cli_hostile_documents_fail_in_one_line(tmp_path: Path) -> None:
    _fails(tmp_path, b"\x00\x01junk", "not JSON (Expecting value: line 1 column 1 (char 0))")
    _fails(tmp_path, "[1, 2]", "not a stalllog-vmcore document (expected a JSON object)")
    _fails(tmp_path, '{"format": "other"}', "not a stalllog-vmcore document (format: 'other')")
    good = _doc(FIXTURES[0])
    del good["zones"], good["printk"]
    _fails(tmp_path, json.dumps(good), "stalllog-vmcore document lacks printk, zones")
    _fails(tmp_path, json.dumps(good | {"zones": [], "printk": {}}), "printk is not a list")
    _fails(tmp_path, FIXTURES[0].read_bytes()[:4000], "xz data ends early")
    r = runner.invoke(app, ["vmcore", "--from-json", str(tmp_path / "missing.json")])
    assert r.exit_code == 1 and r.stderr.endswith("missing.json: No such file or directory\n")


def test_values_of_the_wrong_type_are_unknown_not_a_traceback() -> None:
    doc = _doc(FIXTURES[0])
    doc["tasks"][0] |= {"pid": "1", "comm": 5, "stack": "x", "state": "??", "since_ran_s": -1}
    doc["tasks"][1]["stack"] = [{"function": None, "pc": -5}, 7]
    doc["tasks"].append("not a task")
    doc["zones"][0]["lowmem_reserve"] = "many"
    doc["printk"][0] |= {"level": "x", "seq": None, "text": None, "dict": [1]}
    doc["oom_lock"] = {"owner_pid": 999999, "waiters": ["a", 3]}
    doc["vmstat"] |= {"bogus": "1", "nr_free_pages": 2**80}
    doc["memcg"] += [{"path": None, "usage_pages": "x", "limit_pages": 1, "oom_kill": None}, 3]
    doc["tasks"][2] |= {"pid": 2**70, "comm": "a\ud800b"}  # JSON allows lone surrogates
    doc["printk"][-1]["text"] = "x\ud800y"
    res = read(doc)
    arrow_tables(res)  # as -o writes them
    first = res.tables["vmcore_tasks"].iloc[0]
    assert pd.isna(first["pid"]) and pd.isna(first["comm"]) and pd.isna(first["state"])
    assert pd.isna(res.tables["vmcore_zones"].iloc[0]["below_min"])
    clue = render_clue(res)
    assert "held by pid 999999 (not among the tasks read)" in clue


def test_kmsg_escapes_as_the_kernel_does() -> None:
    """msg_add_ext_text(): bytes below 0x20, from 0x7f, and the backslash."""
    assert kmsg.escape("a\\b\nc\x7fé\t~") == b"a\\x5cb\\x0ac\\x7f\\xc3\\xa9\\x09~"
    record = {"seq": 7, "ts_nsec": 1_234_567_891, "level": 4, "facility": 0, "caller": "T12",
              "continuation": True, "text": "x",
              "dict": {"DEVICE": "+pci:0", "SUBSYSTEM": "pci"}}  # fmt: skip
    assert kmsg.render([record]) == b"4,7,1234567,c,caller=T12;x\n SUBSYSTEM=pci\n DEVICE=+pci:0\n"


def test_cli_usage(tmp_path: Path) -> None:
    for args in ([], ["--kcore", str(FIXTURES[0])], ["x", "--from-json", str(FIXTURES[0])],
                 [str(FIXTURES[0])]):  # fmt: skip
        assert runner.invoke(app, ["vmcore", *args]).exit_code == 2, args
    r = runner.invoke(app, ["vmcore", str(tmp_path / "vmcore"), "--vmlinux", str(tmp_path)])
    assert r.exit_code == 1
    assert r.stderr == f"stalllog: {tmp_path / 'vmcore'}: No such file or directory\n"
    r = runner.invoke(app, ["vmcore", "--help"])
    assert r.exit_code == 0
    assert "\n\n" not in r.output[r.output.rindex("Example: stalllog ") :].strip()


def test_docs_show_the_clue_the_code_makes() -> None:
    fixture = ROOT / "tests" / "vmcore" / "6.1.0-56-amd64.json.xz"
    clue = render_clue(read(fixture), log_lines=6)
    assert f"```\n{clue}```\n" in (ROOT / "docs" / "vmcore.md").read_text(encoding="utf-8")


def test_clue_does_not_depend_on_the_document_s_key_order() -> None:
    doc = _doc(FIXTURES[0])
    shuffled = copy.deepcopy(doc)
    shuffled["vmstat"] = dict(reversed(list(doc["vmstat"].items())))
    assert render_clue(read(shuffled)) == render_clue(read(doc))


def test_cli_redact_comm_gives_tables_and_clue_the_same_pseudonyms(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = runner.invoke(app, ["vmcore", "--from-json", str(FIXTURES[0]), "-o", str(out),
                            "--redact-comm", "--clue", "-"])  # fmt: skip
    assert r.exit_code == 0, r.output
    tasks = pd.read_parquet(out / "vmcore_tasks.parquet").set_index("pid")
    owner = int(_doc(FIXTURES[0])["oom_lock"]["owner_pid"])
    assert tasks.loc[owner, "comm"] == "comm-1"  # the workload's name, `hog`
    assert f"held by pid {owner} (comm-1)" in r.stdout
    assert not re.search(r"\bhog\b", r.stdout)
    assert not pd.read_parquet(out / "lines.parquet")["text"].str.contains(r"\bhog\b").any()
    assert json.loads((out / "manifest.json").read_text())["options"]["redact_comm"]


def test_clue_into_a_fifo_is_written_into_it_not_replaced(tmp_path: Path) -> None:
    """`--clue /dev/stdout` or a pipe: written into; an atomic rename would replace it."""
    fifo = tmp_path / "clue.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    r = runner.invoke(app, ["vmcore", "--from-json", str(FIXTURES[0]), "--clue", str(fifo)])
    reader.join(30)
    assert r.exit_code == 0, r.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert got and got[0].startswith(b"stalllog vmcore clue")


def test_clue_through_a_symlink_replaces_the_file_it_points_at(tmp_path: Path) -> None:
    """A symlink stays a symlink; the file behind it is replaced atomically, as any file."""
    real, link = tmp_path / "real.txt", tmp_path / "clue.txt"
    real.write_text("old")
    link.symlink_to(real)
    r = runner.invoke(app, ["vmcore", "--from-json", str(FIXTURES[0]), "--clue", str(link)])
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and real.read_text().startswith("stalllog vmcore clue")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clue.txt", "real.txt"]


def test_tables_command_describes_the_vmcore_tables() -> None:
    from stalllog.vmcore.schema import SCHEMA

    for name, cols in SCHEMA.items():
        r = runner.invoke(app, ["tables", name, "--json"])
        assert r.exit_code == 0, r.output
        assert [c["name"] for c in json.loads(r.stdout)["columns"]] == [c for c, *_ in cols]


def test_clue_says_how_long_stalled_tasks_had_not_run() -> None:
    """6.1: the longest wait is pid 141's (D in percpu_down_read←mnt_want_write: the
    scenario's thread on the frozen ext4, off the CPU 13.96 s at the 18.55 s dump); the
    page-fault waiters on mmap_lock had run tens of ms before."""
    res = read(ROOT / "tests" / "vmcore" / "6.1.0-56-amd64.json.xz")
    lock_wait = next(c for c in clue_facts(res)["stalled"] if c["class"] == "lock_wait")
    assert lock_wait["off_cpu_s"] == {"max": 13.958, "median": 0.046}
    assert lock_wait["pids"][0] == 141
    assert "off the CPU up to 14.0 s (median 46 ms)" in render_clue(res)
