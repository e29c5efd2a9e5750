"""Live inputs (stalllog/input/live.py): a FIFO or a pty whose writer stops writing ends the
snapshot after the idle time instead of blocking forever; `--follow` reads on until EOF or
Ctrl-C; a /dev/kmsg read that fails with EPIPE (records overwritten) is counted and reading
goes on, the lost records showing as a printk_loss `kmsg_seq_gap` row. Every test runs the
parse in a daemon thread with a deadline, so a regression fails instead of hanging."""

from __future__ import annotations

import errno
import os
import signal
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES
from typer.testing import CliRunner

import stalllog
import stalllog.input.live as live
from stalllog.cli import app

pytestmark = pytest.mark.skipif(os.name == "nt", reason="FIFOs, ptys and select() on pipes")

KMSG = SAMPLES / "qemu" / "6.1.0-56-amd64-memcg-oom-kmsg.log"
LINES = KMSG.read_bytes().splitlines(keepends=True)[:40]  # real records, dictionary lines too
DEADLINE = 20.0


def _within(fn: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    """fn() in a daemon thread; fails when it does not return in time (it would block)."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as e:  # handed to the test thread
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(deadline)
    assert not t.is_alive(), f"did not return within {deadline} s"
    if "error" in out:
        raise out["error"]
    return out["value"]


@pytest.fixture
def short_idle(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(live, "IDLE_S", 0.3)
    monkeypatch.setattr(live, "FIRST_S", 5.0)
    return 0.3


def _writer(path: Path, pieces: list[bytes], pause: float, close: bool,
            done: threading.Event) -> threading.Thread:  # fmt: skip
    """Writes the pieces to the FIFO with pauses between them; keeps it open until `done`
    unless `close`."""

    def run() -> None:
        with open(path, "wb", buffering=0) as f:
            for k, piece in enumerate(pieces):
                if k:
                    time.sleep(pause)
                f.write(piece)
            if not close:
                done.wait(DEADLINE)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_fifo_that_stops_writing_ends_the_snapshot(tmp_path: Path, short_idle: float) -> None:
    fifo = tmp_path / "console"
    os.mkfifo(fifo)
    done = threading.Event()
    _writer(fifo, [b"".join(LINES)], 0, close=False, done=done)
    cap = _within(lambda: stalllog.parse(fifo))
    done.set()
    assert len(cap.lines) == len(LINES)
    assert cap.banners["release"].tolist() == ["6.1.0-56-amd64"]
    assert cap.sources["error"][0].startswith("no input for 0.3 s, the writer still open")


def test_pty_that_stops_writing_ends_the_snapshot(short_idle: float) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)  # bytes as written, no echo or line editing
    try:
        os.write(master, b"".join(LINES[:10]))
        cap = _within(lambda: stalllog.parse(os.ttyname(slave)))
    finally:
        os.close(master)
        os.close(slave)
    assert len(cap.lines) == 10
    assert cap.lines["prefix_kind"].iloc[0] == "kmsg"


def test_follow_reads_past_pauses_until_eof(tmp_path: Path, short_idle: float) -> None:
    """Two bursts 1 s apart (more than the idle time) and then EOF: --follow reads both."""
    fifo = tmp_path / "console"
    os.mkfifo(fifo)
    pieces = [b"".join(LINES[:20]), b"".join(LINES[20:])]
    _writer(fifo, pieces, 1.0, close=True, done=threading.Event())
    out = tmp_path / "out"
    res = _within(lambda: CliRunner().invoke(
        app, ["parse", "--follow", "-q", "--no-analysis", "-o", str(out), str(fifo)]))  # fmt: skip
    assert res.exit_code == 0, res.output
    import pyarrow.parquet as pq

    lines = pq.read_table(out / "lines.parquet")
    assert lines.num_rows == len(LINES)
    assert pq.read_table(out / "sources.parquet")["error"].to_pylist() == [None]


def test_follow_ends_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """SIGINT while --follow waits for input ends the input; the tables keep what was read."""
    fifo = tmp_path / "console"
    os.mkfifo(fifo)
    done = threading.Event()
    _writer(fifo, [b"".join(LINES[:10])], 0, close=False, done=done)
    stalllog.parse(LINES[0])  # families loaded: the alarm must find the reader waiting
    old = signal.signal(signal.SIGALRM, signal.default_int_handler)  # raises KeyboardInterrupt
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        cap = stalllog.parse(fifo, follow=True)  # signals reach the main thread: no _within
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        done.set()
    assert len(cap.lines) == 10
    assert cap.sources["error"][0] == (
        "interrupted (Ctrl-C): the tables hold what was read until then"
    )


class _FakeKmsg:
    """A /dev/kmsg reader's view: one record per read(); EPIPE once after record `at`, after
    which the next `lost` records are gone (the kernel overwrote them)."""

    def __init__(self, records: list[bytes], at: int, lost: int) -> None:
        self.records, self.at, self.lost = records, at, lost
        self.i = 0
        self.failed = False

    def read(self, n: int = -1) -> bytes:
        if self.i == self.at and not self.failed:
            self.failed = True
            self.i += self.lost
            raise OSError(errno.EPIPE, os.strerror(errno.EPIPE))
        if self.i >= len(self.records):
            return b""
        self.i += 1
        return self.records[self.i - 1]


def test_kmsg_epipe_becomes_a_printk_loss_row() -> None:
    records = [line for line in LINES if not line.startswith(b" ")]  # no dictionary lines
    fake = _FakeKmsg(records, at=10, lost=3)
    cap = _within(lambda: stalllog.parse(fake))
    loss = cap.printk_loss
    assert loss[["kind", "count", "who"]].values.tolist() == [["kmsg_seq_gap", 3, "/dev/kmsg"]]
    first_after = records[13].split(b";", 1)[1].decode().rstrip("\n")
    row = cap.lines.iloc[int(loss["line_no"].iloc[0]) - 1]
    assert row["text"] == first_after and row["kmsg_seq"] == 13
    assert len(cap.lines) == len(records) - 3
    assert "1 read(s) failed with EPIPE" in cap.sources["error"][0]


def test_dev_kmsg_snapshot_returns() -> None:
    try:
        os.close(os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK))
    except OSError:
        pytest.skip("/dev/kmsg cannot be read here")
    cap = _within(lambda: stalllog.parse("/dev/kmsg"))
    assert len(cap.lines) > 0 and set(cap.lines["prefix_kind"]) <= {"kmsg", "kmsg_dict"}
