"""OOM kills worst-first (stalllog/report/worst.py): `stalllog summary` (text and `--json`) and
the reports lead with the victim that held the most memory, and count kills per boot and per
memcg. Every expected value is read off the real captures' `Killed process` lines."""

from __future__ import annotations

import json
import lzma
import re
from pathlib import Path

import pytest
from conftest import SAMPLES
from typer.testing import CliRunner

from stalllog.cli import app
from stalllog.output.safe import for_html, for_terminal

runner = CliRunner()
GLOBAL_OOM = SAMPLES / "qemu/6.1.0-56-amd64-global-oom-serial.log.xz"
MEMCG_OOM = SAMPLES / "qemu/6.1.0-56-amd64-memcg-oom-serial.log"
MEMCG_510 = SAMPLES / "qemu/5.10.0-46-amd64-memcg-oom-serial.log"
RHEL7 = SAMPLES / "corpus/lkml/oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt"
RHEL6 = SAMPLES / "corpus/lkml/oom-2.6.32-279-rhel6-haproxy-slab-unreclaimable-syslog.txt"
KILL = re.compile(
    r"Killed process (\d+),?(?: UID \d+,)? \(([^)]*)\).*?anon-rss:(\d+)kB, file-rss:(\d+)kB"
    r"(?:, shmem-rss:(\d+)kB)?"
)


def _lines(path: Path) -> list[str]:
    data = lzma.decompress(path.read_bytes()) if path.suffix == ".xz" else path.read_bytes()
    return data.decode("utf-8").splitlines()


def _kills(path: Path) -> list[tuple[int, int, str, int]]:
    """(line_no, pid, comm, anon+file+shmem kB) of every `Killed process` line, by this
    test's own regex."""
    out = []
    for no, line in enumerate(_lines(path), 1):
        m = KILL.search(line)
        if m:
            rss = sum(int(x) for x in m.group(3, 4, 5) if x is not None)
            out.append((no, int(m.group(1)), m.group(2), rss))
    return out


def _facts(*args: str) -> dict:
    r = runner.invoke(app, ["summary", "--json", *args])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_json_names_the_largest_victim_of_the_global_oom_capture() -> None:
    kills = _kills(GLOBAL_OOM)
    assert len(kills) == 32
    # the last kill of the capture is the largest: hog(328), 95476 + 4 + 772 kB
    assert max(kills, key=lambda k: k[3]) == (2734, 328, "hog", 96252)
    oom = _facts(str(GLOBAL_OOM))["oom"]
    assert oom["worst_kills_by"] == "victim_rss_kb"
    worst = oom["worst_kills"]
    assert len(worst) == 5
    assert {k: worst[0][k] for k in ("boot", "line_no", "pid", "comm", "rss_kb")} == {
        "boot": 0, "line_no": 2734, "pid": 328, "comm": "hog", "rss_kb": 96252,
    }  # fmt: skip
    assert (worst[0]["anon_rss_kb"], worst[0]["file_rss_kb"], worst[0]["shmem_rss_kb"]) == (
        95476, 4, 772,
    )  # fmt: skip
    assert worst[0]["constraint"] == "CONSTRAINT_NONE" and worst[0]["memcg"] == "/"
    expected = sorted(kills, key=lambda k: -k[3])[:5]
    assert [(w["line_no"], w["pid"], w["rss_kb"]) for w in worst] == [
        (no, pid, rss) for no, pid, _, rss in expected
    ]
    assert oom["kills_by_boot"] == {"0": 32}
    assert oom["kills_by_memcg"] == {"/": 32}


def test_json_counts_kills_per_boot_and_memcg_across_two_captures() -> None:
    # 21 kill lines: memory.oom.group prints its first victim, grphog(182), twice
    memcg_kills = _kills(MEMCG_OOM)
    assert len(memcg_kills) == 21 and len({k[1] for k in memcg_kills}) == 20
    oom = _facts(str(GLOBAL_OOM), str(MEMCG_OOM))["oom"]
    assert oom["kills_by_boot"] == {"0": 32, "1": 20}
    # the memcg capture kills in /box (16) and in /grp (4: `task_memcg=/grp/...`)
    assert oom["kills_by_memcg"] == {"/": 32, "/box": 16, "/grp": 4}
    assert oom["worst_kills"][0]["pid"] == 328
    assert oom["worst_kills"][0]["source"] == str(GLOBAL_OOM)
    rss = [w["rss_kb"] for w in oom["worst_kills"]]
    assert rss == sorted(rss, reverse=True)


def test_equal_rss_keeps_capture_order_and_old_kernels_rank_too() -> None:
    # 5.10 memcg: hog(103) and hog(141) both held 48568 kB; the earlier kill ranks first
    worst = _facts(str(MEMCG_510))["oom"]["worst_kills"]
    assert [(w["pid"], w["rss_kb"], w["line_no"]) for w in worst[:2]] == [
        (103, 48568, 603), (141, 48568, 1137),
    ]  # fmt: skip
    assert [k for k in _kills(MEMCG_510) if k[1] in (103, 141)] == [
        (603, 103, "hog", 48568), (1137, 141, "hog", 48568),
    ]  # fmt: skip
    # RHEL 7 (3.10): anon 6375476 + file 4 + shmem 0 kB, a.out(28792), 6.1 GiB
    (kill,) = _kills(RHEL7)
    assert kill == (51, 28792, "a.out", 6375480)
    (w,) = _facts(str(RHEL7))["oom"]["worst_kills"]
    assert (w["pid"], w["comm"], w["rss_kb"], w["line_no"]) == (28792, "a.out", 6375480, 51)
    # RHEL 6 (2.6.32) prints no shmem-rss: anon 12468 + file 264 kB, haproxy(20557)
    (kill,) = _kills(RHEL6)
    assert kill == (160, 20557, "haproxy", 12732)
    (w,) = _facts(str(RHEL6))["oom"]["worst_kills"]
    assert (w["pid"], w["comm"], w["rss_kb"], w["shmem_rss_kb"]) == (20557, "haproxy", 12732, None)


def test_summary_text_leads_with_the_worst_kill() -> None:
    r = runner.invoke(app, ["summary", str(GLOBAL_OOM), str(MEMCG_OOM)], terminal_width=100)
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "52 OOM kill(s), worst first by victim RSS" in out
    assert out.index("hog(328)") < out.index("sources")  # before the inputs and boots
    assert "94.0 MiB" in out  # 96252 kB
    assert "per boot: #0 32, #1 20" in out
    assert "per memcg: / 32, /box 16, /grp 4" in out


@pytest.mark.parametrize("fmt", ["txt", "md", "html"])
def test_reports_name_the_worst_kill_first(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / f"r.{fmt}"
    r = runner.invoke(app, ["report", str(GLOBAL_OOM), str(MEMCG_OOM), "-o", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    key = "hog(328), 94.0 MiB RSS (boot 0, line 2734)"
    assert key in text
    assert text.index(key) < text.index("Findings")  # among the key numbers, on top
    kills = text[text.index("OOM kills\n") if fmt != "html" else text.index('id="kills"') :]
    assert kills.index("Worst kills") < kills.index("All kills, in order")
    assert kills.index("hog(328)") < kills.index("hog(316)")  # 75220 kB, the runner-up
    assert "Kills per boot" in kills
    if fmt == "txt":
        assert max(len(line) for line in text.splitlines()) <= 80


def test_a_hostile_worst_victim_stays_inert(tmp_path: Path) -> None:
    # the real capture with its task name `hog` replaced: what a user could have set
    name = "<img src=x onerror=alert(1)>\x1b[2J\u202e"
    capture = tmp_path / "hostile.log"
    capture.write_bytes(MEMCG_510.read_bytes().replace(b"hog", name.encode()))
    assert _facts(str(capture))["oom"]["worst_kills"][0]["comm"] == name
    r = runner.invoke(app, ["summary", "--json", str(capture)])
    assert "\x1b" not in r.stdout and "\u202e" not in r.stdout  # JSON: \u escapes
    r = runner.invoke(app, ["summary", str(capture)], terminal_width=120)
    assert "\x1b" not in r.stdout and "\u202e" not in r.stdout
    assert for_terminal(f"{name}(103)", markup=False) in r.stdout
    out = tmp_path / "r.html"
    assert runner.invoke(app, ["report", str(capture), "-o", str(out)]).exit_code == 0
    html = out.read_text(encoding="utf-8")
    assert for_html(f"{name}(103), 47.4 MiB RSS (boot 0, line 603)") in html
    assert "<img src=x" not in html and "\x1b" not in html
