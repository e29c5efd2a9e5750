"""Dispatcher behaviour on real interleaved consoles: nesting, glued records, foreign lines."""

from pathlib import Path

import stalllog

SAMPLES = Path(__file__).parent.parent / "sample_logs"


def test_record_glued_behind_another_cpus_text_keeps_its_stamp_and_caller() -> None:
    # syzkaller/688 line 15: `syzkaller login: [  417.725670][    C1] rcu: INFO: rcu_sched
    # self-detected stall on CPU` -- the RCU report belongs to CPU 1's stream.
    events = stalllog.parse(SAMPLES / "corpus/syzkaller/688").events
    rcu = events[events["line_start"] == 15].iloc[0]
    assert (rcu["kind"], rcu["caller"], rcu["ts"]) == ("rcu_stall", "C1", 417.72567)


def test_glued_hung_task_report_is_not_corrupted() -> None:
    # interleaved-4.6.2 line 349: `[ 2417.498163] BUG: workqueue lockup - pool[ 2417.500236]
    # INFO: task kworker/u8:9:1598 blocked for more than 120 seconds.`
    cap = stalllog.parse(
        SAMPLES / "corpus/lkml/interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt"
    )
    ev = cap.events
    hung = ev[(ev["kind"] == "hung_task") & (ev["line_start"] == 349)].iloc[0]
    assert not hung["corrupted"]
    row = cap.hung_tasks[cap.hung_tasks["event_id"] == hung["event_id"]].iloc[0]
    assert (row["comm"], row["pid"], row["ts"]) == ("kworker/u8:9", 1598, 2417.500236)


def test_block_interleaved_without_caller_ids_is_nested_not_cut() -> None:
    # syzkaller/206: `Mem-Info:` (line 86) is printed by one CPU while another prints its
    # dump_stack header and trace (lines 87-90); the Mem-Info body goes on at line 91.
    ev = stalllog.parse(SAMPLES / "corpus/syzkaller/206").events
    mem = ev[ev["line_start"] == 86].iloc[0]
    assert mem["kind"] == "show_mem"
    assert mem["line_end"] > 91  # it got its body back after the other CPU's trace
    trace = ev[ev["line_start"] == 88].iloc[0]
    assert trace["line_end"] == 90


def test_foreign_lines_after_a_block_do_not_corrupt_it() -> None:
    # 6.1 global OOM serial capture: the guest's shell lines follow some dumps; 32 clean OOMs
    ev = stalllog.parse(SAMPLES / "qemu/6.1.0-56-amd64-global-oom-serial.log.xz").events
    oom = ev[ev["kind"] == "oom"]
    assert len(oom) == 32
    assert not oom["corrupted"].any()


def test_many_drop_markers_in_one_block_are_summarized() -> None:
    # a hung-task report from syzkaller/349's caller T1054 stays open while 12 markers of
    # printk-dropped-4.6.2-kmallocwd-stezenbach.txt arrive: 8 are listed, the rest summed up
    header = next(
        line
        for line in (SAMPLES / "corpus/syzkaller/349").read_text().splitlines()
        if "[ T1054] INFO: task" in line
    )
    data = "\n".join([header, *["** 501 printk messages dropped **"] * 12, ""]).encode()
    problems = stalllog.parse(data).events.iloc[0]["reason"].split("; ")
    assert problems[:8] == [f"501 printk messages dropped at line {n}" for n in range(2, 10)]
    assert problems[8] == "4 more drop markers (2004 printk messages) up to line 13"


# Window finds with RE2 the rows _row once searched with `re`; the two must agree exactly.
_TRICKY = ["[ 1.123456] x", "a[ 1.123456] x", "a[ 1.123456]x", "a[ 1.123456][ T12] x", "a\nb",
           "é[ 12.123456] y", "x[ 1.12345] z", "a[1.123456] ", "", "[", "\n", "x" * 200,
           "x" * 50 + "1" * 101, "1" * 100, "١" * 101, "a" + "١" * 101, "é" + "1" * 101,
           "٣" * 50 + "1" * 60, "𝟘" * 120]  # fmt: skip


def test_window_flags_rows_as_the_python_searches_do() -> None:
    import re

    import numpy as np
    import pyarrow as pa

    from stalllog.engine import window
    from stalllog.engine.window import DIGIT_RUN_RE

    glued = re.compile(window.GLUED_STAMP, re.ASCII)
    lines = SAMPLES / "corpus/lkml/interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt"
    texts = [*_TRICKY, *lines.read_text(errors="replace").split("\n")]
    n = len(texts)
    batch = pa.record_batch({"text": pa.array(texts), "ts": pa.nulls(n, pa.float64()),
                             "caller": pa.nulls(n, pa.string()), "level": pa.nulls(n, pa.int8()),
                             "boot": pa.array([0] * n, pa.int32()),
                             "dropped": pa.nulls(n, pa.int64())})  # fmt: skip
    view = window.Window(batch, 0, np.zeros(n, bool), np.zeros(n, bool), "s", 0, n)
    for t, multi, digits in zip(texts, view.multi, view.digits, strict=True):
        assert multi == ("\n" in t or glued.search(t, 1) is not None), t
        if len(t) > window.MAX_DIGITS and DIGIT_RUN_RE.search(t):
            assert digits, t  # a superset: Python searches the rows flagged
