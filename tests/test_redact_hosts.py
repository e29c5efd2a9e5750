"""`--redact` and host names beyond the prefix column: FQDNs in any text (the report title, file
names, messages), a host's FQDN and short name under one pseudonym, host names known before
the first streamed `lines` batch, and no false positives on kernel symbols, file names,
module names or releases.

Inputs are real samples: `mmp.com` names its host by an FQDN on every syslog line (RHEL 7
overcommit OOM), `dr-2` and `koyomi` by short names. No sample's kernel text names a host in
a message, so file and directory names (which people do name after the host) carry it there.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import SAMPLES
from test_redact import _cells
from test_redact import _read as _text
from typer.testing import CliRunner

import stalllog
from stalllog.cli.app import app
from stalllog.output.redact import Redactor, redact_tables, scan_hosts

runner = CliRunner()
LKML = SAMPLES / "corpus" / "lkml"
POSTED = SAMPLES / "corpus" / "posted"
MMP = LKML / "oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt"
HAPROXY = LKML / "oom-2.6.32-279-rhel6-haproxy-slab-unreclaimable-syslog.txt"
KOYOMI = LKML / "allocfail-2.6.32.1-i686-e1000-nat-order3-syslog.txt"
SERIAL = SAMPLES / "qemu" / "6.1.0-56-amd64-global-oom-serial.log.xz"
SYSLOG_HOSTS = {
    MMP: "mmp.com",
    HAPROXY: "dr-2",
    KOYOMI: "koyomi",
    LKML / "allocfail-2.6.32-431-rhel6-varnish-tcp-order6-syslog.txt": "hn-edge3",
    LKML / "warnalloc-stall-4.9-rsync-2102516ms-xfs-netconsole-syslog.txt": "storage8",
    POSTED / "memcg-oom-4.19.4-elrepo-docker-header-syslog-truncated.txt": "fkhan-test-kernelv4",
    POSTED / "oom-4.15.0-108-ubuntu-kvm-comm-with-space-syslog.txt": "sau-3f41e-or",
    SAMPLES / "qemu" / "6.1.0-56-amd64-global-oom-journal.log.xz": "qemu-guest",
    SAMPLES / "structured" / "6.1.0-56-amd64-memcg-oom-journal-export.log.xz": "qemu-guest",
    SAMPLES / "structured" / "6.1.0-56-amd64-global-oom-journal-json.log.xz": "qemu-guest",
}


@pytest.mark.parametrize("sample", list(SYSLOG_HOSTS), ids=lambda p: p.name)
def test_the_prescan_finds_the_hosts_the_parser_finds(sample: Path) -> None:
    assert scan_hosts(sample) == {SYSLOG_HOSTS[sample]}
    assert set(stalllog.parse(sample).boots["host"].dropna()) == {SYSLOG_HOSTS[sample]}


def test_no_prefix_no_host_learned() -> None:
    # a serial console names no host; `page allocation stalls` after a netconsole stamp is
    # not a host either (the rsync sample has such a continuation line)
    assert scan_hosts(SERIAL) == set()
    rsync = LKML / "warnalloc-stall-4.9-rsync-2102516ms-xfs-netconsole-syslog.txt"
    assert "+03:00 page allocation stalls" in _text(rsync)
    assert "page" not in scan_hosts(rsync)


@pytest.mark.parametrize("fmt", ["html", "md", "txt"])
def test_an_fqdn_host_is_in_no_report_title_line_or_figure(fmt: str, tmp_path: Path) -> None:
    assert _text(MMP).count("mmp.com kernel:") == 50
    capture = tmp_path / "mmp.com.log"  # a capture named after its host
    shutil.copy(MMP, capture)
    out = tmp_path / f"r.{fmt}"
    r = runner.invoke(app, ["report", str(capture), "-o", str(out), "--redact"])
    assert r.exit_code == 0, r.output
    files = [out, *tmp_path.glob("r-fig*")]
    assert all(b"mmp.com" not in f.read_bytes() for f in files)
    text = out.read_text(encoding="utf-8")
    # one pseudonym for the host in the title and in the evidence lines
    assert "stalllog report: host-1.log" in text
    assert "host-1 kernel: Killed process 28792 (a.out)" in text


def test_summary_json_and_parse_outputs_name_no_fqdn(tmp_path: Path) -> None:
    per_host = tmp_path / "mmp.com"  # captures kept per host
    per_host.mkdir()
    shutil.copy(MMP, per_host / "kern.log")
    r = runner.invoke(app, ["summary", "--json", "--redact", str(per_host / "kern.log")])
    assert r.exit_code == 0, r.output
    assert "mmp.com" not in r.stdout
    facts = json.loads(r.stdout)
    assert facts["boots"]["hosts"] == ["host-1"]
    assert facts["inputs"][0]["source"].endswith("/host-1/kern.log")
    # the analysis is that of the original: the same worst kill
    assert facts["oom"]["worst_kills"][0]["pid"] == 28792
    out = tmp_path / "out"
    map_file = tmp_path / "map.json"
    r = runner.invoke(app, ["parse", "-q", str(per_host / "kern.log"), "-o", str(out),
                            "--redact", "--redact-map", str(map_file)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert not [c for c in _cells(out) if "mmp.com" in c or "mmp" in c]
    assert json.loads(map_file.read_text())["mapping"]["host"] == {"host-1": "mmp.com"}


def test_a_host_named_before_its_own_lines_is_known_up_front(tmp_path: Path) -> None:
    """Two inputs: a serial capture kept under the directory of host `dr-2`, then dr-2's own
    syslog. The first input's `lines` stream out before the second is read: its `source`
    cells get dr-2's pseudonym only because the hosts were scanned before the parse."""
    per_host = tmp_path / "dr-2"
    per_host.mkdir()
    shutil.copy(SERIAL, per_host / "console.log.xz")
    out = tmp_path / "out"
    inputs = [str(per_host / "console.log.xz"), str(HAPROXY)]
    r = runner.invoke(app, ["parse", "-q", *inputs, "-o", str(out), "--redact", "-j", "1"])
    assert r.exit_code == 0, r.output
    assert not [c for c in _cells(out) if "dr-2" in c]
    lines = pq.read_table(out / "lines.parquet", columns=["source", "host"]).to_pydict()
    sources = set(lines["source"])
    assert {s for s in sources if s.endswith("/host-1/console.log.xz")}
    assert set(lines["host"]) == {None, "host-1"}  # the serial lines have none


def test_fqdn_and_short_name_share_a_pseudonym(tmp_path: Path) -> None:
    """The koyomi capture (host column `koyomi`) kept under the host's FQDN: the input's path
    (the `source` column, the manifest) and its lines name one machine, one pseudonym."""
    per_host = tmp_path / "koyomi.example.org"
    per_host.mkdir()
    shutil.copy(KOYOMI, per_host / "kern.log")
    out, map_file = tmp_path / "out", tmp_path / "map.json"
    r = runner.invoke(app, ["parse", "-q", str(per_host / "kern.log"), "-o", str(out),
                            "--redact", "--redact-map", str(map_file)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert not [c for c in _cells(out) if "koyomi" in c]
    lines = pq.read_table(out / "lines.parquet", columns=["source", "host"]).to_pydict()
    assert {s.rsplit("/", 2)[-2] for s in lines["source"]} == {"host-1"}
    assert set(lines["host"]) == {"host-1"}
    mapping = json.loads(map_file.read_text())["mapping"]["host"]
    assert mapping == {"host-1": "koyomi koyomi.example.org"}


# Real lines with dotted words that are no host names: symbols with compiler suffixes, source
# files, shared objects, module options, releases, systemd units, builder mail (only its
# user@host is replaced).
KEPT_LINES = {
    SERIAL: ["Linux version 6.1.0-", "Call Trace:", "Modules linked in:"],
    LKML / "hungtask-5.16-next-syzbot-cant-die-memcg-reclaim_throttle.txt": [".c:", "+0x"],
    POSTED / "memcg-oom-4.19.4-elrepo-docker-header-syslog-truncated.txt": ["elrepo"],
    LKML / "kmallocwd-2017-too_many_isolated-congestion_wait.txt": ["a.out", ".isra."],
}


@pytest.mark.parametrize("sample", list(KEPT_LINES), ids=lambda p: p.name)
def test_symbols_files_modules_and_releases_are_kept(sample: Path) -> None:
    lines = _text(sample).splitlines()
    dotted = [ln for ln in lines if any(k in ln for k in KEPT_LINES[sample])]
    assert dotted
    r = Redactor()  # no host learned: only the text rules run

    def rest(s: str) -> str:  # what is left after the identifiers the rules must replace
        s = re.sub(r"\S+@\S+", "@", s)
        return re.sub(r"\b(?:[0-9a-f]{64}|container-\d+)\b", "#", s)

    for ln in lines:
        assert rest(r.text(ln)) == rest(ln), ln
    assert all(r.text(ln) == ln for ln in dotted if "@" not in ln and "container" not in ln)


@pytest.mark.parametrize("sample", [MMP, HAPROXY, SERIAL, KOYOMI], ids=lambda p: p.name)
def test_frames_and_analysis_are_unchanged_by_redaction(sample: Path) -> None:
    cap = stalllog.parse(sample)
    redacted, stats = redact_tables(cap.arrow)
    for table in ("frames", "stacks", "stack_classes", "episodes", "oom_events", "findings"):
        if table in cap.arrow:
            assert redacted[table].to_pylist() == cap.arrow[table].to_pylist(), table
    assert redacted["boots"].column("release").equals(cap.arrow["boots"].column("release"))
    if sample != SERIAL:  # a syslog host was there to replace
        assert stats.replaced["host"] > 0
