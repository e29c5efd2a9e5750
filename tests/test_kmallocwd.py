"""kmallocwd (`MemAlloc-Info:` / `MemAlloc:`) from real captures (sample_logs/corpus/lkml).

Counts were checked by hand: `grep -c "MemAlloc: " <file>` for task lines,
`grep -c "MemAlloc-Info" <file>` for scan lines, `grep -c "MemAlloc: .* uninterruptible$"`
(plus the one `… uninterruptible dying victim` line) for the uninterruptible flag; values were
read off the quoted lines, hex converted by hand.

Generations with a sample here: v3-v4 (kmallocwd-4.4-…-oldformat), v5-v9 (the 2017 files and
the 4.6.2 Stezenbach capture). P0, P1, v1, v2, D1, D2, D3 and S have no capture in
sample_logs yet (see the family docstring for their formats).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import pytest

import stalllog
from stalllog.engine.capture import Capture
from stalllog.parsers.kmallocwd import with_hz, with_hz_arrow

LKML = Path(__file__).resolve().parent.parent / "sample_logs" / "corpus" / "lkml"
TASKS_186 = "kmallocwd-2017-wq-mem-reclaim-186-tasks-list.txt"
ISOLATED = "kmallocwd-2017-too_many_isolated-congestion_wait.txt"
OLD = "kmallocwd-4.4-vmstat-wq-pending-oldformat.txt"
STEZENBACH = "printk-dropped-4.6.2-kmallocwd-stezenbach.txt"


@cache
def cap(name: str) -> Capture:
    return stalllog.parse(LKML / name)


def test_186_task_list_rows() -> None:
    m = cap(TASKS_186).memalloc
    assert len(m) == 206  # grep -c "MemAlloc: " = 206
    # lines 39..224 and 226..245 (line 225 is a blank excerpt separator), one row each
    assert m.line_no.tolist() == [*range(39, 225), *range(226, 246)]
    assert int(m.uninterruptible.sum()) == 169  # 168 `uninterruptible$` + the dying victim
    assert int(m.stalling.sum()) == 204  # grep -c "MemAlloc: .* seq=" = 204
    # the task list (518 s) comes after scan lines of 1095 s in the excerpt; same boot, so the
    # scan lines narrow every row to the generations that print them
    assert m.generation.value_counts().to_dict() == {"D3|v5-v9": 206}
    assert int(m.exiting.isna().sum()) == 0
    # line 69: `MemAlloc: a.out(9477) ... uninterruptible dying victim`
    assert int(m.dying.sum()) == 1
    first = m.iloc[0]
    # [  518.092627] MemAlloc: kthreadd(2) flags=0x208840 switches=313 seq=5
    # gfp=0x16040c0(GFP_KERNEL|__GFP_COMP|__GFP_NOTRACK) order=2 delay=74546 uninterruptible
    assert (first.comm, first.pid, first["flags"], first.switches, first.seq) == (
        "kthreadd",
        2,
        0x208840,
        313,
        5,
    )
    assert (first.gfp_mask, first.gfp_flags, first.order, first.delay_jiffies) == (
        0x16040C0,
        "GFP_KERNEL|__GFP_COMP|__GFP_NOTRACK",
        2,
        74546,
    )
    assert first.uninterruptible and pd.isna(first.delay_s)
    # [  518.900038] MemAlloc: kswapd0(69) flags=0xa40840 switches=23883 uninterruptible
    kswapd = m[m.comm == "kswapd0"].iloc[0]
    assert (kswapd.pid, kswapd["flags"], kswapd.switches) == (69, 0xA40840, 23883)
    assert not kswapd.stalling and pd.isna(kswapd.seq) and pd.isna(kswapd.delay_jiffies)
    # [  522.576919] MemAlloc: a.out(9477) flags=0x420040 switches=27 uninterruptible dying victim
    victim = m[m.pid == 9477].iloc[0]
    assert victim.dying and victim.victim and victim.uninterruptible and not victim.exiting
    # comm with `/`: [ 1095.633625] MemAlloc: xfs-data/sda1(451) … delay=652073
    xfs = m[(m.comm == "xfs-data/sda1") & (m.ts == 1095.633625)].iloc[0]
    assert xfs.delay_jiffies == 652073 and xfs.gfp_mask == 0x1604240
    last = m.iloc[-1]
    assert (last.comm, last.pid, last.delay_jiffies) == ("kworker/3:0", 10498, 652087)


def test_186_task_list_scans_alternate_header_trailer() -> None:
    s = cap(TASKS_186).memalloc_scans
    assert len(s) == 14  # grep -c MemAlloc-Info = 14, lines 24-37
    assert s.position.tolist() == ["header", "trailer"] * 7
    trailers = s[s.position == "trailer"]
    assert trailers.header_scan_id.tolist() == s.scan_id[s.position == "header"].tolist()
    # [  518.090012] MemAlloc-Info: stalling=184 dying=1 exiting=0 victim=1 oom_count=8441307
    h = s.iloc[0]
    assert (h.stalling, h.dying, h.exiting, h.victim, h.oom_count) == (184, 1, 0, 1, 8441307)
    # [ 1095.821248] … oom_count=40646791 (the last trailer)
    assert s.oom_count.iloc[-1] == 40646791
    assert set(s.generation) == {"D3|v5-v9"}


def test_too_many_isolated_task_dumps_linked() -> None:
    c = cap(ISOLATED)
    m = c.memalloc
    assert len(m) == 3  # grep -c "MemAlloc: " = 3, each followed by its task line and trace
    assert m.pid.tolist() == [67, 526, 6345]
    assert m.task_line_no.tolist() == (m.line_no + 1).tolist()
    assert set(m.task_state) == {"D"}
    assert m.stack_id.notna().all()
    # kswapd0 is stuck on an XFS buffer lock: xfs_buf_lock in its trace (line 14)
    kswapd_frames = c.frames[c.frames.stack_id == m.stack_id.iloc[0]]
    assert "xfs_buf_lock" in set(kswapd_frames.function)
    # systemd-journal(526) … delay=52772; kworker/3:0(6345) gfp=0x1400000(GFP_NOIO) delay=45953
    assert m.delay_jiffies.tolist()[1:] == [52772, 45953]
    assert m.gfp_flags.iloc[2] == "GFP_NOIO"
    tasks = c.tasks[c.tasks.event_id.isin(m.event_id)]
    assert tasks.pid.tolist() == [67, 526, 6345]
    s = c.memalloc_scans
    assert len(s) == 6
    assert s.position.tolist() == ["header", "trailer"] * 3
    assert s.stalling.tolist() == [32, 32, 36, 36, 40, 40]
    assert set(s.oom_count) == {45896}  # frozen: out_of_memory() is not called


def test_old_format_4_4() -> None:
    c = cap(OLD)
    s = c.memalloc_scans
    # MemAlloc-Info: 8 / 11 / 18 stalling task, 0 dying task, 0 victim task.
    assert s.stalling.tolist() == [8, 11, 18]
    assert set(s.generation) == {"P0|P1|v1|v2|v3-v4"}
    assert s.exiting.isna().all() and s.oom_count.isna().all()
    assert set(s.position) == {"header"}
    # the first scan's Mem-Info comes after a `(...snipped...)` line: still that scan's
    assert s.meminfo_id.iloc[0] == 0
    m = c.memalloc
    assert len(m) == 1
    r = m.iloc[0]
    # MemAlloc: kworker/3:1(86) seq=5 gfp=0x2400000 order=0 delay=9793
    assert (r.comm, r.pid, r.seq, r.gfp_mask, r.order, r.delay_jiffies) == (
        "kworker/3:1",
        86,
        5,
        0x2400000,
        0,
        9793,
    )
    assert r.generation == "v3-v4"
    assert r.exiting is False  # v3-v4 prints ` exiting`: known to be absent
    assert pd.isna(r["flags"])


def test_dropped_messages_mark_the_scan() -> None:
    c = cap(STEZENBACH)
    s = c.memalloc_scans
    assert len(s) == 1
    # `** 1402 printk messages dropped **` and `** 501 printk messages dropped **`
    assert s.dropped.iloc[0] == 1903
    ev = c.events.set_index("event_id").loc[s.event_id.iloc[0]]
    assert ev.corrupted and "1402 printk messages dropped" in ev.reason
    m = c.memalloc.iloc[0]
    # the frame glued behind the drop marker belongs to a task whose line was lost
    assert pd.isna(m.stack_id)
    assert (m.comm, m.pid, m.switches, m.delay_jiffies) == ("kworker/0:0", 4, 212, 17984)


def test_with_hz() -> None:
    m = cap(ISOLATED).memalloc
    out = with_hz(m, 250)
    assert out.delay_s.iloc[1] == pytest.approx(52772 / 250)
    assert pd.isna(out.delay_s.iloc[0])  # kswapd0: no delay printed
    assert m.delay_s.isna().all()  # the input is left alone
    with pytest.raises(ValueError):
        with_hz(m, 0)


def test_with_hz_arrow() -> None:
    c = cap(ISOLATED)
    out = with_hz_arrow(c.arrow["memalloc"], 100)
    # systemd-journal(526) delay=52772 jiffies at HZ=100
    assert out.column("delay_s").to_pylist()[1:] == [527.72, 459.53]
    assert out.column("delay_s").to_pylist()[0] is None
    assert out.schema == c.arrow["memalloc"].schema


@pytest.mark.parametrize(
    "text",
    [
        "MemAlloc: kswapd0(67) flags=0xa60840 switches=51139 uninterruptible",
        "MemAlloc: a(1) gfp=0x24(GFP_(5) order=0 delay=1",
        "MemAlloc: a(1) gfp=0x24(5) order=0 delay=1 dying victim",
        "MemAlloc: a b(1) c(2) seq=3",
        "MemAlloc: a)b(12)",
        "MemAlloc-victim: x(3) gfp=0x1 order=0 delay=9",
        "MemAlloc: x(3)(4) exiting",
        "MemAlloc: é(7) switches=1 \t",
    ],
)
def test_task_line_match_without_backtracking_gives_the_same_groups(text: str) -> None:
    from stalllog.parsers.kmallocwd import _TASK, _TASK_PLAIN, _task_match

    full, plain = _TASK.match(text), _TASK_PLAIN.match(text)
    assert plain is None or (full is not None and full.groups() == plain.groups())
    used = _task_match(text)
    assert (used is None) == (full is None)
    assert used is None or full is None or used.groups() == full.groups()
