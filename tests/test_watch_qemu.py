"""`stalllog watch` on a live kernel console: a Debian kernel booted under QEMU stalls and OOMs
while its serial console is piped into `stalllog watch -` (tools/capture/watch_live.py).

By default the checks run on the live run kept in the repository (2026-12-04, Debian 6.1,
scenario oom-stall): its console is `sample_logs/qemu/6.1.0-56-amd64-oom-stall-serial.log.xz`,
the watch's events, the arrival time of every console line and the hooks' log are in
`tests/watch_live/`. To boot a guest now (slow: ~100 s of TCG, root for the capture tool's
host packages, a kernel download) or check another kept run:

    STALLLOG_QEMU=1 pytest -m slow tests/test_watch_qemu.py
    STALLLOG_QEMU=/path/to/OUT pytest tests/test_watch_qemu.py
"""

from __future__ import annotations

import json
import lzma
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import stalllog
from stalllog.analyze import analyze

ROOT = Path(__file__).resolve().parents[1]
ASKED = os.environ.get("STALLLOG_QEMU", "")
KERNEL, SCENARIO = "6.1", "oom-stall"

KEPT = ROOT / "tests/watch_live/6.1.0-56-amd64-oom-stall"
KEPT_CONSOLE = ROOT / "sample_logs/qemu/6.1.0-56-amd64-oom-stall-serial.log.xz"


@dataclass
class Run:
    base: Path  # <dir>/<kver>-oom-stall: -watch.jsonl, -arrivals.txt[.xz], -hooks.log
    console: Path


pytestmark = [pytest.mark.slow] if ASKED == "1" else []  # a boot takes minutes


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A live capture: the kept one, one in STALLLOG_QEMU=DIR, or (=1) booted now."""
    if not ASKED:
        return Run(KEPT, KEPT_CONSOLE)
    if ASKED != "1":
        out = Path(ASKED)
    else:
        out = tmp_path_factory.mktemp("qemu-live")
        env = os.environ | {
            "LIVE": f"{sys.executable} {ROOT / 'tools/capture/watch_live.py'}",
            "STALLLOG_PYTHON": sys.executable,
            "OUT": str(out),
            "ACCEL": os.environ.get("ACCEL", "tcg"),
        }
        subprocess.run(
            ["bash", str(ROOT / "tools/capture/capture.sh"), "-k", KERNEL, "-s", SCENARIO],
            env=env, check=True, timeout=1800,
        )  # fmt: skip
    (serial,) = out.glob(f"*-{SCENARIO}-serial.log")
    return Run(Path(str(serial).removesuffix("-serial.log")), serial)


def _events(run: Run) -> list[dict[str, Any]]:
    lines = Path(f"{run.base}-watch.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _arrived(run: Run) -> list[float]:
    path = Path(f"{run.base}-arrivals.txt")
    if path.exists():
        return [float(t) for t in path.read_text().split()]
    with lzma.open(f"{path}.xz", "rt") as f:
        return [float(t) for t in f.read().split()]


def _at(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["time"]).timestamp()


def test_the_live_events_are_what_analyze_finds_in_the_saved_console(run: Run) -> None:
    events = _events(run)
    cap = stalllog.parse(run.console)
    found = analyze(cap)
    episodes = [(e["boot"], e["line_start"], e["line_end"]) for e in events
                if e["event"] == "stall_ended"]  # fmt: skip
    expected = [
        (int(r.boot), int(r.first_line), int(r.last_line)) for r in found["episodes"].itertuples()
    ]
    assert episodes == expected and len(expected) >= 1  # the guest did stall
    kills = [e["kill_line_no"] for e in events if e["event"] == "oom_kill"]
    assert kills == sorted(cap.oom_events["kill_line_no"].dropna().astype(int)) and kills
    end = events[-1]
    assert end["event"] == "watch_ended" and end["reason"] == "end_of_input"
    assert end["lines"] == len(_arrived(run))  # every console line read


def test_stalls_and_kills_arrive_in_order_within_a_second_of_their_lines(run: Run) -> None:
    events, arrived = _events(run), _arrived(run)
    kinds = [(e["event"], e.get("episode")) for e in events]
    for n in {e["episode"] for e in events if e["event"] == "stall_started"}:
        assert kinds.count(("stall_started", n)) == kinds.count(("stall_ended", n)) == 1
        assert kinds.index(("stall_started", n)) < kinds.index(("stall_ended", n))
    for e in events:
        if e["event"] == "oom_kill":
            assert _at(e) - arrived[e["kill_line_no"] - 1] < 1.0
        elif e["event"] == "stall_started":
            assert _at(e) - arrived[e["line_end"] - 1] < 1.0
        elif e["event"] == "stall_ended":
            # the guest went quiet after its storm: ended by --quiet-after (10 s), not by the
            # end of the input
            assert e["reason"] == "quiet" and _at(e) < _at(events[-1])


def test_the_stall_and_clear_hooks_ran_once_per_episode(run: Run) -> None:
    log = Path(f"{run.base}-hooks.log")
    ran = log.read_text().splitlines() if log.exists() else []  # no episode: no hook ran
    n = sum(e["event"] == "stall_started" for e in _events(run))
    assert sorted(ran) == sorted(
        [f"stall_started {i}" for i in range(n)] + [f"stall_ended {i}" for i in range(n)]
    )
