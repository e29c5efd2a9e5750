"""`stalllog watch` (stalllog/watch/): the same parse run as the log comes in.

The central check: every real sample fed through a pipe in bursts of random size gives the
stall episodes, OOM kills and hung tasks that `parse`/`analyze` find in the saved file (the
goldens). Then hooks (once per episode, never two at once, a full queue and a failure are
events), metrics, a file followed across rotation, /dev/kmsg overrun, and the latency of an
event behind its line."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import random
import re
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES
from test_live import LINES, _FakeKmsg, _within

from stalllog.input.reader import iter_chunks, open_source
from stalllog.watch import Hook, WatchOptions, watch
from stalllog.watch.hooks import Hooks
from stalllog.watch.metrics import Metrics

pytestmark = pytest.mark.skipif(os.name == "nt", reason="pipes, FIFOs and select()")

GOLDEN = Path(__file__).parent / "golden"
THREE_EPISODES = (
    SAMPLES / "corpus/posted/kmallocwd-4.3-rc-v1-silent-hang-then-mmap_sem-livelock-snipped.txt"
)
GLOBAL_OOM = SAMPLES / "qemu/6.1.0-56-amd64-global-oom-serial.log.xz"
# Snipped excerpts: the reports that held the episode together were cut, and the gap that
# joins the parts is known only from reports after them (analyze sees the whole boot).
SNIPPED = {
    "corpus__posted__kmallocwd-4.14-S-sysrq-t-memalloc-after-taskline.txt",
    "corpus__posted__kmallocwd-next-20160224-D3-switches-oomcount-pair-snipped.txt",
    "corpus__lkml__kmallocwd-4.4-vmstat-wq-pending-oldformat.txt",
}


def _golden_rows(case: Path, table: str) -> list[dict[str, str]]:
    path = case / f"{table}.csv"
    return list(csv.DictReader(path.open())) if path.exists() else []


def _cases() -> list[Any]:
    """Every sample whose goldens hold an episode, an OOM kill, a hung task or an oom_lock
    holder."""
    out = []
    for case in sorted(GOLDEN.iterdir()):
        watched = ("episodes", "oom_events", "hung_tasks", "oom_lock")
        if not any((case / f"{t}.csv").exists() for t in watched):
            continue
        marks = (
            [pytest.mark.xfail(strict=True, reason="snipped excerpt")]
            if case.name in SNIPPED
            else []
        )
        out.append(pytest.param(case, id=case.name, marks=marks))
    return out


def _bytes(path: Path) -> bytes:
    opened = open_source(path)
    try:
        return b"".join(c.data for c in iter_chunks(opened))
    finally:
        opened.stream.close()


def _unread(fd: int) -> int:
    buf = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return int.from_bytes(buf, sys.byteorder)


def _through_pipe(
    data: bytes, options: WatchOptions | None = None, seed: int = 1
) -> list[dict[str, Any]]:
    """Watch `data` written into a pipe in bursts of 1-40 lines; the events.

    Each burst is written once the watcher has read the one before, so every burst is a read
    of its own, as lines coming at the pace of a console are: which facts the watcher sees
    before the log's clock passes an episode's gap does not depend on how fast the test runs."""
    lines = data.split(b"\n")
    r, w = os.pipe()
    rnd = random.Random(seed)

    def writer() -> None:
        i = 0
        while i < len(lines):
            k = rnd.randint(1, 40)
            os.write(w, b"\n".join(lines[i : i + k]) + (b"\n" if i + k < len(lines) else b""))
            i += k
            deadline = time.monotonic() + 10
            while _unread(w) and time.monotonic() < deadline:
                time.sleep(0.0002)
        os.close(w)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    out = io.StringIO()
    try:
        _within(lambda: watch(f"/dev/fd/{r}", out, options))
    finally:
        t.join(5)
        os.close(r)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == kind]


@pytest.mark.parametrize("case", _cases())
def test_a_pipe_gives_what_the_saved_file_gives(case: Path) -> None:
    sample = SAMPLES / case.name.replace("__", "/")
    events = _through_pipe(_bytes(sample))
    episodes = [(e["boot"], e["line_start"], e["line_end"]) for e in _of(events, "stall_ended")]
    expected = [
        (int(r["boot"]), int(r["first_line"]), int(r["last_line"]))
        for r in _golden_rows(case, "episodes")
    ]
    assert episodes == expected
    kills = sorted(e["kill_line_no"] for e in _of(events, "oom_kill"))
    assert kills == sorted(
        int(r["kill_line_no"]) for r in _golden_rows(case, "oom_events") if r["kill_line_no"]
    )
    hung = sorted(e["line_no"] for e in _of(events, "hung_task"))
    assert hung == sorted(int(r["line_no"]) for r in _golden_rows(case, "hung_tasks"))
    # who held oom_lock too long: the holders `analyze` names in its findings
    held = sorted((e["boot"], e["pid"]) for e in _of(events, "oom_lock_held_long"))
    assert held == sorted(
        (int(r["boot"]), int(r["pid"]))
        for r in _golden_rows(case, "findings")
        if r["kind"] == "oom_lock_held_long"
    )
    end = events[-1]
    assert end["event"] == "watch_ended" and end["reason"] == "end_of_input"
    assert end["lines"] == sum(int(r["n_lines"]) for r in _golden_rows(case, "sources"))
    # each episode is told started before it is told ended, once
    order = [(e["event"], e["episode"]) for e in events if e["event"].startswith("stall_")]
    for n in range(len(expected)):
        assert order.index(("stall_started", n)) < order.index(("stall_ended", n))
        assert order.count(("stall_started", n)) == order.count(("stall_ended", n)) == 1


def test_cli_runs_each_hook_once_per_episode_and_keeps_metrics(tmp_path: Path) -> None:
    """The seed's recipe, end to end: a capture replayed at its pace into `stalllog watch -`."""
    log = tmp_path / "hooks.log"
    prom = tmp_path / "stalllog.prom"
    script = tmp_path / "hook.py"
    script.write_text(
        "import os, sys\n"
        "e = os.environ\n"
        "open(sys.argv[1], 'a').write(e['STALLLOG_EVENT'] + ' ' + e['STALLLOG_EPISODE'] + '\\n')\n"
    )
    hook = f"{sys.executable} {script} {log}"
    replay = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stalllog.watch.replay",
            str(THREE_EPISODES),
            "--speed",
            "500",
            "--max-wait",
            "0.05",
        ],
        stdout=subprocess.PIPE,
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stalllog",
            "watch",
            "-",
            "--on-stall",
            hook,
            "--on-clear",
            hook,
            "--on-oom",
            hook,
            "--metrics-file",
            str(prom),
        ],
        stdin=replay.stdout,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    replay.wait(10)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(e["event"], e.get("episode")) for e in events if e["event"] != "stall_update"] == [
        ("stall_started", 0),
        ("stall_ended", 0),
        ("stall_started", 1),
        ("oom_kill", None),
        ("stall_ended", 1),
        ("stall_started", 2),
        ("stall_ended", 2),
        ("watch_ended", None),
    ]
    ran = log.read_text().splitlines()
    # an episode's hooks share a worker: they run in the episode's order
    assert [r for r in ran if r.startswith("stall_")] == [
        "stall_started 0", "stall_ended 0", "stall_started 1", "stall_ended 1",
        "stall_started 2", "stall_ended 2",
    ]  # fmt: skip
    assert [r for r in ran if not r.startswith("stall_")] == ["oom_kill "]
    metrics = prom.read_text()
    assert 'stalllog_oom_kills_total{comm="a.out",cgroup="/"} 1' in metrics
    assert "stalllog_stall_episodes_total 3" in metrics
    assert "stalllog_stall_in_progress 0" in metrics
    assert events[-1]["hooks"][0] == {
        "hook": "stall_started",
        "command": hook,
        "runs": 3,
        "failures": 0,
        "dropped": 0,
        "not_run": 0,
    }


def test_events_follow_their_lines_within_a_second() -> None:
    """A line written at a time; its event arrives within a second (the console is paced)."""
    lines = _bytes(GLOBAL_OOM).split(b"\n")
    r, w = os.pipe()
    written: dict[int, float] = {}

    def writer() -> None:
        for n, line in enumerate(lines, 1):
            os.write(w, line + b"\n")
            written[n] = time.monotonic()
            if n % 50 == 0:
                time.sleep(0.01)
        os.close(w)

    seen: list[tuple[float, dict[str, Any]]] = []

    class Out(io.StringIO):
        def write(self, s: str) -> int:
            seen.append((time.monotonic(), json.loads(s)))
            return len(s)

    threading.Thread(target=writer, daemon=True).start()
    _within(lambda: watch(f"/dev/fd/{r}", Out()))
    os.close(r)
    kills = [(t, e) for t, e in seen if e["event"] == "oom_kill"]
    assert kills
    for t, e in kills:
        assert t - written[e["kill_line_no"]] < 1.0


def _hook_cmd(body: str) -> str:
    return f'{sys.executable} -c "{body}"'


def test_a_slow_hook_never_runs_twice_at_once_and_a_full_queue_is_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stalllog.watch.hooks as hooks_mod

    monkeypatch.setattr(hooks_mod, "QUEUE_MAX", 3)
    lock, overlaps = tmp_path / "lock", tmp_path / "overlap"
    script = tmp_path / "slow_hook.py"
    script.write_text(
        "import os, sys, time\n"
        "try:\n    fd = os.open(sys.argv[1], os.O_CREAT | os.O_EXCL)\n"
        "except FileExistsError:\n    open(sys.argv[2], 'a').write('x')\n"
        "else:\n    time.sleep(0.2)\n    os.close(fd)\n    os.unlink(sys.argv[1])\n"
    )
    reported: list[dict[str, Any]] = []
    hook = Hook("oom_kill", f"{sys.executable} {script} {lock} {overlaps}")
    hooks = Hooks([hook], reported.append)
    for i in range(8):
        hooks.submit({"event": "oom_kill", "victim_pid": i})
    hooks.close()
    assert not overlaps.exists()
    dropped = [e for e in reported if e["event"] == "hook_dropped"]
    assert hook.runs + hook.dropped == 8 and hook.dropped == len(dropped) > 0
    assert hook.failures == 0


def test_a_failing_or_hanging_hook_is_an_event() -> None:
    reported: list[dict[str, Any]] = []
    fail = Hook("stall_started", _hook_cmd("raise SystemExit(3)"))
    hang = Hook("stall_ended", _hook_cmd("import time; time.sleep(30)"), timeout=0.3)
    missing = Hook("oom_kill", "/nonexistent/stalllog-hook")
    hooks = Hooks([fail, hang, missing], reported.append)
    for kind in ("stall_started", "stall_ended", "oom_kill"):
        hooks.submit({"event": kind, "episode": 0})
    hooks.close()
    why = {e["hook"]: e["why"] for e in reported if e["event"] == "hook_failed"}
    assert why["stall_started"] == "exit status 3"
    assert why["stall_ended"] == "timed out after 0.3 s (killed)"
    assert "No such file" in why["oom_kill"]


def test_hooks_get_the_event_on_stdin_and_facts_in_the_environment(tmp_path: Path) -> None:
    out = tmp_path / "got"
    body = (
        f"import os, sys, json; e = json.loads(sys.stdin.read()); "
        f"open('{out}', 'w').write(json.dumps([e, os.environ['STALLLOG_PIDS'], "
        f"os.environ['STALLLOG_EPISODE'], os.environ['STALLLOG_LINE']]))"
    )
    hooks = Hooks([Hook("stall_update", _hook_cmd(body))], lambda e: None)
    event = {"event": "stall_update", "episode": 4, "pids": [12, 34], "line_start": 99}
    hooks.submit(event)
    hooks.close()
    assert json.loads(out.read_text()) == [event, "12,34", "4", "99"]


def test_metrics_escape_what_the_log_wrote_and_cap_the_series() -> None:
    m = Metrics()
    m.observe({"event": "oom_kill", "victim_comm": 'x"}\n\\evil', "oom_memcg": "/a"})
    assert 'stalllog_oom_kills_total{comm="x\\"}\\n\\\\evil",cgroup="/a"} 1' in m.text()
    for i in range(600):
        m.observe({"event": "oom_kill", "victim_comm": f"c{i}", "task_memcg": "/"})
    assert len(m.kills) == 501 and m.kills[("other", "other")] == 101  # 500 named, then other


def test_a_followed_file_is_read_across_rotation(tmp_path: Path) -> None:
    lines = _bytes(GLOBAL_OOM).split(b"\n")
    kills = _golden_rows(GOLDEN / ("qemu__" + GLOBAL_OOM.name), "oom_events")
    cut = int(kills[0]["kill_line_no"]) + 5  # one kill before the rotation, the rest after
    log = tmp_path / "kern.log"
    log.write_bytes(b"\n".join(lines[:cut]) + b"\n")
    stop = threading.Event()
    out = io.StringIO()
    t = threading.Thread(target=watch, args=(str(log), out, WatchOptions(stop=stop)), daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while '"oom_kill"' not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    log.rename(tmp_path / "kern.log.1")  # logrotate: rename, then a new file
    log.write_bytes(b"\n".join(lines[cut:]))
    while out.getvalue().count('"oom_kill"') < len(kills) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join(10)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(_of(events, "oom_kill")) == len(kills)
    assert events[-1]["event"] == "watch_ended" and events[-1]["reason"] == "stopped"
    assert events[-1]["error"] == "followed across 1 rotation(s)"


def test_kmsg_overrun_is_a_printk_loss_event() -> None:
    records = [line for line in LINES if not line.startswith(b" ")]
    out = io.StringIO()
    _within(lambda: watch(_FakeKmsg(records, at=10, lost=3), out))  # type: ignore[arg-type]
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    loss = _of(events, "printk_loss")
    assert [(e["kind"], e["count"], e["who"]) for e in loss] == [("kmsg_seq_gap", 3, "/dev/kmsg")]
    assert events[-1]["lines"] == len(records) - 3


def test_an_oom_dump_held_longer_than_the_threshold_is_told_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No sample holds oom_lock over HELD_LONG_S (5 s) in one dump; with the threshold at
    0.2 s, the 3 slowest of the 5.10 QEMU global OOM's 32 dumps (header to kill line, the
    `oom_lock` table's held_s) are the ones told, each once, by their invoker."""
    from stalllog.watch import collect, oom_lock

    monkeypatch.setattr(collect, "HELD_LONG_S", 0.2)
    monkeypatch.setattr(oom_lock, "HELD_LONG_S", 0.2)
    sample = SAMPLES / "qemu/5.10.0-46-amd64-global-oom-serial.log.xz"
    case = GOLDEN / f"qemu__{sample.name}"
    slow = sorted(
        (int(r["boot"]), int(r["pid"]), int(r["start_line"]))
        for r in _golden_rows(case, "oom_lock")
        if r["held_s"] and float(r["held_s"]) > 0.2
    )
    assert len(slow) == 3
    events = _of(_through_pipe(_bytes(sample)), "oom_lock_held_long")
    assert sorted((e["boot"], e["pid"], e["line_start"]) for e in events) == slow
    assert {e["evidence"] for e in events} == {"oom_dump"}
    for e in events:  # told when known: at its kill line, or before it while the dump went on
        assert e["held_s"] > 0.2 and e["line_end"] <= e["line_start"] + 400


def test_stopping_leaves_queued_hooks_unrun_and_counts_them(tmp_path: Path) -> None:
    """Ctrl-C or stop with slow hooks queued: the running one finishes, the queued ones are
    counted as not run instead of holding the exit for their whole run time."""
    reported: list[dict[str, Any]] = []
    hook = Hook("oom_kill", _hook_cmd("import time; time.sleep(0.5)"))
    hooks = Hooks([hook], reported.append)
    for i in range(20):
        hooks.submit({"event": "oom_kill", "victim_pid": i})
    time.sleep(0.2)  # the first one is running
    start = time.monotonic()
    hooks.close(discard=True)
    assert time.monotonic() - start < 2.0
    assert hook.runs + hook.not_run == 20 and hook.not_run >= 18 and hook.dropped == 0


def test_a_first_burst_that_cuts_a_journal_export_record_still_reads_it_as_export() -> None:
    """The format is told from the first bytes; a pipe's first burst of three lines ends inside
    the first export record. Read as text, the memory.oom.group kill's second walk over the
    first victim became a kill of its own (seen in CI under load)."""
    name = "structured/6.1.0-56-amd64-memcg-oom-journal-export.log.xz"
    data = _bytes(SAMPLES / name)
    head = b"".join(data.splitlines(keepends=True)[:3])
    r, w = os.pipe()

    def writer() -> None:
        os.write(w, head)
        time.sleep(0.3)  # the reader takes the three lines alone
        with os.fdopen(w, "wb") as f:
            f.write(data[len(head) :])

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    out = io.StringIO()
    try:
        _within(lambda: watch(f"/dev/fd/{r}", out))
    finally:
        t.join(5)
        os.close(r)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    kills = [e for e in events if e["event"] == "oom_kill"]
    golden = _golden_rows(GOLDEN / name.replace("/", "__"), "oom_events")
    assert [e["kill_line_no"] for e in kills] == [int(r["kill_line_no"]) for r in golden]
    assert kills[-1]["victim_comm"] == "grphog" and kills[-1]["oom_group_memcg"] == "/grp"


def test_the_cli_names_an_unreadable_source_and_takes_a_hook_on_every_event_kind(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "no-such.log"
    done = subprocess.run(
        [sys.executable, "-m", "stalllog", "watch", str(missing)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == f"stalllog: {missing}: No such file or directory\n"
    # every event kind the docs' table lists, but watch_ended, can carry a hook
    doc = (Path(__file__).parents[1] / "docs/watch.md").read_text()
    table = doc.split("## Events", 1)[1].split("\n## ", 1)[0]
    kinds = [k for k in re.findall(r"^\| `([a-z_]+)` \|", table, re.M) if k != "watch_ended"]
    assert "oom_lock_held_long" in kinds
    args = [a for k in kinds for a in ("--on-event", f"{k}=true")]
    done = subprocess.run(
        [sys.executable, "-m", "stalllog", "watch", "-", *args],
        input="", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["event"] == "watch_ended"
