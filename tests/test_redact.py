"""`--redact` / `--redact-comm`: no host name, address, user or container id of the input is
left in any output file; the analysis is the same with and without; process names get one
pseudonym everywhere while kernel threads keep theirs.

Inputs are real samples (syslog and journal captures name their hosts; the journal JSON also
the machine id, the `Linux version` banner its builder's mail address, the docker sample a
container id). No sample holds an IP or MAC address, so the address test uses a copy of a
real capture whose kernel command line (which any admin sets) gets addresses, a home
directory and a password appended.
"""

from __future__ import annotations

import json
import lzma
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SAMPLES
from typer.testing import CliRunner

import stalllog
from stalllog.cli.app import app
from stalllog.output.redact import Redactor, is_kernel_thread

runner = CliRunner()
LKML = SAMPLES / "corpus" / "lkml"
POSTED = SAMPLES / "corpus" / "posted"
KOYOMI = LKML / "allocfail-2.6.32.1-i686-e1000-nat-order3-syslog.txt"
HAPROXY = LKML / "oom-2.6.32-279-rhel6-haproxy-slab-unreclaimable-syslog.txt"
KMALLOCWD = LKML / "kmallocwd-2017-too_many_isolated-congestion_wait.txt"
DOCKER = POSTED / "memcg-oom-4.19.4-elrepo-docker-header-syslog-truncated.txt"
JOURNAL_JSON = SAMPLES / "structured" / "6.1.0-56-amd64-global-oom-journal-json.log.xz"
SERIAL = SAMPLES / "qemu" / "6.1.0-56-amd64-global-oom-serial.log.xz"
WITH_HOSTS = [
    KOYOMI,
    HAPROXY,
    DOCKER,
    LKML / "oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt",
    LKML / "warnalloc-stall-4.9-rsync-2102516ms-xfs-netconsole-syslog.txt",
    POSTED / "oom-4.15.0-108-ubuntu-kvm-comm-with-space-syslog.txt",
    SAMPLES / "qemu" / "5.10.0-46-amd64-global-oom-journal.log.xz",
    JOURNAL_JSON,
    SAMPLES / "structured" / "6.1.0-56-amd64-memcg-oom-journal-export.log.xz",
]
# appended to the real `Command line:` of SERIAL
INJECTED = (
    " ip=10.20.30.40::10.20.30.1:255.255.255.0:buildbox7:eth0:off nfsroot=10.20.30.1:/srv/nfs"
    " netconsole=6665@10.20.30.40/eth0,6666@10.20.30.1/52:54:00:ab:cd:ef"
    " init=/home/alice/bin/init rd.luks.key=/keys/disk.key iommu.passthrough=1 password=hunter2"
)


def _identifiers(text: str) -> set[str]:
    """What the input says that must not be published, found with regexes of this test's own
    (not the redactor's)."""
    found: set[str] = set()
    found.update(re.findall(r"(?m)^[A-Z][a-z]{2} [ \d]\d [\d:]{8} (\S+) kernel:", text))
    found.update(re.findall(r"(?m)^\d{4}-\d\d-\d\dT[\d:.]+[+-][\d:]+ (\S+) \[", text))
    found.update(re.findall(r"(?m)^_HOSTNAME=(.+)$", text))
    found.update(re.findall(r'"_(?:HOSTNAME|MACHINE_ID)":"([^"]+)"', text))
    found.update(re.findall(r"(?m)^_MACHINE_ID=(.+)$", text))
    for user, host in re.findall(r"Linux version \S+ \(([^@()\s]+)@([^()\s]+)\)", text):
        found.update({f"{user}@", host})
    found.update(re.findall(r"\b[0-9a-f]{64}\b", text))
    found.update(re.findall(r"\b(?:\d{1,3}\.){3}\d{1,3}\b(?! #)", text))
    found.update(re.findall(r"\b(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\b", text))
    found.update(re.findall(r"/home/([^/\s]+)", text))
    found.update(re.findall(r"password=(\S+)", text))
    return found - {"2.6.32.1"}  # the release in `Not tainted 2.6.32.1 #1`, not an address


def _read(path: Path) -> str:
    data = lzma.decompress(path.read_bytes()) if path.suffix == ".xz" else path.read_bytes()
    return data.decode("utf-8", "replace")


def _cells(out: Path) -> list[str]:
    """Every string cell of every table (binary cells decoded), and the manifest."""
    cells = [(out / "manifest.json").read_text()]
    for f in sorted(out.glob("*.parquet")):
        t = pq.read_table(f)
        for field, col in zip(t.schema, t.columns, strict=True):
            if pa.types.is_binary(field.type):
                cells += [b.decode("utf-8", "replace") for b in col.to_pylist() if b]
            elif pa.types.is_string(field.type):
                cells += [v for v in col.to_pylist() if v]
    return cells


def _parse(tmp: Path, inputs: list[Path], *options: str) -> Path:
    out = tmp / "out"
    result = runner.invoke(app, ["parse", "-q", *map(str, inputs), "-o", str(out), *options])
    assert result.exit_code == 0, result.output
    return out


def _injected_copy(tmp: Path) -> Path:
    text = _read(SERIAL)
    line = re.search(r"(?m)^\[ *[\d.]+\] Command line: [^\r\n]*", text)
    assert line is not None
    copy = tmp / "serial-injected.log"
    copy.write_text(text[: line.end()] + INJECTED + text[line.end() :], newline="")
    return copy


@pytest.mark.parametrize("sample", WITH_HOSTS, ids=lambda p: p.name)
def test_no_identifier_of_the_input_is_left_in_any_output(tmp_path: Path, sample: Path) -> None:
    secrets = _identifiers(_read(sample))
    assert secrets, "the sample names no host: the test could not fail"
    cells = _cells(_parse(tmp_path, [sample], "--redact"))
    left = {s for s in secrets if any(s in c for c in cells)}
    assert not left


def test_addresses_users_and_command_line_secrets(tmp_path: Path) -> None:
    copy = _injected_copy(tmp_path)
    secrets = _identifiers(_read(copy))
    assert {"10.20.30.40", "52:54:00:ab:cd:ef", "alice", "hunter2"} <= secrets
    out = _parse(tmp_path, [copy], "--redact", "--redact-map", str(tmp_path / "map.json"))
    cells = _cells(out)
    assert not {s for s in secrets | {"buildbox7", "/keys/disk.key"} if any(s in c for c in cells)}
    cmdline = pq.read_table(out / "boots.parquet").column("cmdline")[0].as_py()
    assert cmdline.startswith("console=ttyS0,115200 loglevel=7 printk.time=1 log_buf_len=8M ")
    assert (
        " ip=192.0.2.1::192.0.2.2:192.0.2.3:host-2:eth0:off nfsroot=192.0.2.2:/srv/nfs"
        " netconsole=6665@192.0.2.1/eth0,6666@192.0.2.2/02:00:00:00:00:01"
        " init=/home/user-2/bin/init rd.luks.key=secret-1 iommu.passthrough=1 password=secret-2"
    ) in cmdline
    mapping = json.loads((tmp_path / "map.json").read_text())["mapping"]
    assert mapping["ipv4"]["192.0.2.1"] == "10.20.30.40"
    assert mapping["host"]["host-2"] == "buildbox7"
    assert mapping["user"]["user-2"] == "alice"
    assert "secret" not in mapping and "hunter2" not in (tmp_path / "map.json").read_text()
    assert (tmp_path / "map.json").stat().st_mode & 0o777 == 0o600


def _frame(out: Path, table: str) -> Any:
    return pq.read_table(out / f"{table}.parquet").to_pandas()


ANALYSIS_KEYS = {
    "findings": ["boot", "episode", "kind", "severity", "pid", "start_ts", "end_ts", "evidence"],
    "episodes": None,
    "stalled_tasks": ["pid"],
    "oom_events": ["victim_pid", "trigger_pid"],
    "oom_lock": None,
    "stack_classes": ["pid", "class"],
}


@pytest.mark.parametrize("sample", [HAPROXY, KMALLOCWD, DOCKER, SERIAL], ids=lambda p: p.name)
def test_analysis_is_the_same_with_and_without_redaction(tmp_path: Path, sample: Path) -> None:
    plain = _parse(tmp_path / "plain", [sample])
    redacted = _parse(tmp_path / "redacted", [sample], "--redact-comm")
    assert sorted(p.name for p in plain.iterdir()) == sorted(p.name for p in redacted.iterdir())
    compared = 0
    for table, keys in ANALYSIS_KEYS.items():
        a, b = _frame(plain, table), _frame(redacted, table)
        if keys is None:  # every column but names
            keys = [c for c in a.columns if c not in {"comm", "pids", "holder_comm"}]
        keys = [k for k in keys if k in a.columns]
        assert a[keys].equals(b[keys]), table
        compared += len(a)
    assert compared > 0
    for table in ("findings", "oom_events", "stalled_tasks"):  # names did change
        assert len(_frame(plain, table)) == len(_frame(redacted, table))


def test_redact_comm_maps_a_name_the_same_everywhere_and_keeps_kernel_threads(
    tmp_path: Path,
) -> None:
    out = _parse(tmp_path, [HAPROXY, KMALLOCWD], "--redact-comm")
    kill = _frame(out, "oom_events").iloc[0]
    victim = kill["victim_comm"]
    assert re.fullmatch(r"comm-\d+", victim)
    lines = _frame(out, "lines")
    texts = lines[lines["source"].str.endswith(HAPROXY.name)]["text"].tolist()
    assert f"Killed process 20557, UID 188, ({victim}) total-vm:8560500kB" in "\n".join(texts)
    assert f"Out of memory: Kill process 20557 ({victim}) score 133" in "\n".join(texts)
    tasks = _frame(out, "oom_tasks")
    assert tasks[tasks["pid"] == 20557]["name"].tolist() == [victim]
    assert not any("haproxy" in t for t in texts)
    # kernel threads keep their names, in the tables and in the analysis text
    stalled = _frame(out, "stalled_tasks")
    assert {"kswapd0", "kworker/3:0"} <= set(stalled["comm"])
    journal = stalled[stalled["pid"] == 526]["comm"].tolist()
    assert journal and journal[0].startswith("comm-") and len(set(journal)) == 1
    findings = " ".join(_frame(out, "findings")["text"])
    assert "kswapd0(67)" in findings and f"{journal[0]}(526)" in findings
    assert "systemd-journal" not in findings


def test_pseudonyms_are_stable_within_a_run_and_distinct_per_original(tmp_path: Path) -> None:
    r = Redactor()
    first = r.text("Dec 20 11:43:14 koyomi kernel: to 10.0.0.1 via 10.0.0.2 from 10.0.0.1")
    assert first == "Dec 20 11:43:14 koyomi kernel: to 192.0.2.1 via 192.0.2.2 from 192.0.2.1"
    out = _parse(tmp_path, [KOYOMI, HAPROXY], "--redact")
    boots = _frame(out, "boots")
    assert boots["host"].tolist() == ["host-1", "host-2"]
    lines = _frame(out, "lines")
    for boot, host in enumerate(["host-1", "host-2"]):
        mine = lines[lines["boot"] == boot]
        assert set(mine["host"]) == {host}
        assert mine["prefix"].str.contains(f" {host} kernel:").all()
    manifest = json.loads((out / "manifest.json").read_text())
    # koyomi: 79 lines, dr-2: 161 lines; each in `host` and `prefix`, and one per boot
    assert manifest["redaction"] == {
        "comm": False,
        "replaced": {"host": 2 * (79 + 161) + 2},
        "distinct": {"host": 2},
    }
    assert manifest["options"]["redact"] is True


def test_kernel_releases_and_build_ids_are_not_addresses() -> None:
    r = Redactor()
    line = "Pid: 0, comm: swapper Not tainted 2.6.32.1 #1"  # KOYOMI line 2
    assert r.text(line) == line
    frame = " ? mhi_prepare_channel+0x127/0x2d0 [mhi 40df44e07c05479f7a6e7b90fba9f0e0031a7814]"
    assert r.text(frame) == frame
    assert r.stats().replaced == {}
    r.learn_hosts(["-"])  # RFC 5424 nil host: not a name to replace in text
    panic = "Kernel panic - not syncing: System is deadlocked on memory"  # allocfail-5.18.7
    assert r.host("-") == "-" and r.text(panic) == panic
    assert is_kernel_thread("kworker/u32:45") and is_kernel_thread("kswapd0")
    assert not is_kernel_thread("haproxy") and not is_kernel_thread("systemd-journal")


def test_analyze_and_summary_print_the_redacted_tables(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", "--json", "--redact-comm", str(KMALLOCWD)])
    assert result.exit_code == 0, result.output
    analysis = json.loads(result.output)
    journal = {r["comm"] for r in analysis["stalled_tasks"] if r["pid"] == 526}
    assert len(journal) == 1 and journal.pop().startswith("comm-")
    assert "systemd-journal" not in result.output and "kswapd0(67)" in result.output
    summary = runner.invoke(app, ["summary", "--redact-comm", str(HAPROXY)])
    assert summary.exit_code == 0, summary.output
    assert "victims: haproxy" not in summary.output and "victim haproxy" not in summary.output
    assert re.search(r"victims: comm-\d+", summary.output)


def test_a_map_file_that_cannot_be_written_is_a_usage_error_before_parsing(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "map.json"
    result = runner.invoke(app, ["summary", "--redact-map", str(missing), str(KOYOMI)])
    assert result.exit_code == 2
    assert "no-such-dir is not a directory" in result.output


@pytest.mark.parametrize(
    "sample",
    [
        KMALLOCWD,  # SysRq-t `systemd-journal D11240   526      1 0x00000000`
        POSTED / "kmallocwd-4.14-S-sysrq-t-memalloc-after-taskline.txt",  # `R  running task`
        LKML / "oom-6.12.62-rpi-arm64-journal-notimestamps-truncated.txt",  # 6.x task table
        LKML / "oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt",  # `Kdump: loaded`
        POSTED / "decoded-5.19-rc3-lkp-sleeping-in-atomic-decode_stacktrace.txt",  # `name: pty03`
        SAMPLES / "corpus" / "syzkaller" / "432",  # `1 lock held by syz-executor.1/1338:`
        SAMPLES / "corpus" / "syzkaller" / "206",  # `syz-executor5: vmalloc: allocation failure`
    ],
    ids=lambda p: p.name,
)
def test_redact_comm_leaves_no_process_name_in_the_lines(sample: Path) -> None:
    tables = stalllog.parse(str(sample)).arrow
    names = set()
    for name, t in tables.items():
        for column in t.column_names:
            if (
                column == "comm"
                or column.endswith("_comm")
                or (name, column) == ("oom_tasks", "name")
            ):
                names |= {v for v in t.column(column).to_pylist() if v and not is_kernel_thread(v)}
    assert names
    texts = Redactor(comm=True).tables(tables)["lines"].column("text").to_pylist()
    left = {
        n
        for n in names
        for t in texts
        if t and re.search(rf"(?<![\w.\-]){re.escape(n)}(?![\w\-])", t)
    }
    assert not left
