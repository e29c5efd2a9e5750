"""Call traces of x86 (old `[<addr>]` and new), arm64 and ppc64, read from real captures.

Each case feeds a line range of a sample file to a `CallTrace` owned by a stub block, so the
result does not depend on which family owns the trace in a full parse. Expected values were
read by hand from the quoted lines (offsets converted from hex).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import stalllog
from stalllog.parsers.base import Block, Feed, Line
from stalllog.parsers.stacktrace import (
    CallTrace,
    is_dump_stack_header,
    is_trace_start,
    normalize_symbol,
    parse_dump_stack_header,
)

CORPUS = Path(__file__).resolve().parent.parent / "sample_logs" / "corpus"


class _Sink:
    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.ids: dict[str, int] = {}

    def row(self, table: str, values: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(values)

    def next_id(self, kind: str) -> int:
        self.ids[kind] = self.ids.get(kind, -1) + 1
        return self.ids[kind]


@cache
def _lines(name: str) -> tuple[Line, ...]:
    df = stalllog.parse(CORPUS / name).lines
    out = []
    for r in df.itertuples():
        ts = float("nan") if pd.isna(r.ts) else float(r.ts)
        caller = None if pd.isna(r.caller) else r.caller
        dropped = 0 if pd.isna(r.dropped) else int(r.dropped)
        out.append(Line(name, int(r.line_no), int(r.boot), ts, caller, None, r.text, dropped))
    return tuple(out)


def run_trace(name: str, first: int, **kw: Any) -> tuple[CallTrace, _Sink, int]:
    """Feed lines from `first` on; return the trace, its rows, and the line it ended at."""
    lines = [ln for ln in _lines(name) if ln.line_no >= first]
    sink = _Sink()
    owner = Block(lines[0], 7, sink)
    trace = CallTrace(owner, lines[0], **kw)
    end = lines[-1].line_no + 1
    for ln in lines[1:]:
        if trace.feed(ln) is Feed.END:
            end = ln.line_no
            break
    trace.finish(None)
    return trace, sink, end


def test_x86_new_hung_task_trace() -> None:
    # syzkaller/349 lines 10-21: `Call Trace:` then ` __schedule+0x897/0x1e60` …
    # `ret_from_fork+0x3a/0x50`, ended by line 22 `INFO: task kworker/u12:5:1980 blocked …`
    trace, sink, end = run_trace("syzkaller/349", 10, pid=3563, comm="jbd2/sda-8", context="task")
    assert end == 22
    frames = sink.rows["frames"]
    assert [f["function"] for f in frames][:3] == ["__schedule", "schedule", "io_schedule"]
    assert len(frames) == 11 and frames[-1]["function"] == "ret_from_fork"
    assert (frames[0]["offset"], frames[0]["size"]) == (0x897, 0x1E60)
    assert all(f["context"] == "task" and f["reliable"] and f["event_id"] == 7 for f in frames)
    assert [f["depth"] for f in frames] == list(range(11))
    (stack,) = sink.rows["stacks"]
    assert stack["stack_id"] == trace.stack_id == 0
    assert (stack["pid"], stack["n_frames"], stack["line_end"]) == (3563, 11, 21)
    assert stack["truncated"] is False and stack["problem"] is None


def test_x86_user_return_registers_are_part_of_trace() -> None:
    # syzkaller/349 lines 53-81: frames, then `RIP: 0033:0x4576a9`, `Code:`, `RSP:`…`R13:` lines;
    # line 82 is the next `INFO: task` line
    _, sink, end = run_trace("syzkaller/349", 53)
    assert end == 82
    assert len(sink.rows["frames"]) == 20
    assert sink.rows["frames"][-1]["function"] == "entry_SYSCALL_64_after_hwframe"
    assert sink.rows["stacks"][0]["ip_function"] is None  # user-mode RIP


def test_nmi_registers_then_trace() -> None:
    # syzkaller/349 line 169 `RIP: 0010:unwind_next_frame+0x36/0x50`, registers, `Call Trace:`,
    # 18 frames `__save_stack_trace+0x7a/0xf0` … `entry_SYSCALL_64_after_hwframe+0x49/0xbe`
    _, sink, _ = run_trace("syzkaller/349", 169)
    assert sink.rows["stacks"][0]["ip_function"] == "unwind_next_frame"
    frames = sink.rows["frames"]
    assert len(frames) == 18 and frames[0]["function"] == "__save_stack_trace"


def test_x86_old_addresses_irq_eoi_and_modules() -> None:
    # lkml/interleaved-4.6.2…: stack words (lines 5-7), `Call Trace:` (8),
    # ` <IRQ>  [<ffffffff81368f0c>] dump_stack+0x85/0xbe` (9) … ` <EOI>  [<ffffffff8164d6e9>] ?
    # cpuidle_enter_state+0x1ae/0x251` (31) … `start_secondary+0x17c/0x192` (35); `Mem-Info:` (36)
    name = "lkml/interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt"
    _, sink, end = run_trace(name, 5)
    assert end == 36
    frames = sink.rows["frames"]
    assert len(frames) == 27
    first = frames[0]
    assert first["address"] == 0xFFFFFFFF81368F0C and first["function"] == "dump_stack"
    assert first["context"] == "irq" and first["line_no"] == 9
    ath = next(f for f in frames if f["module"] is not None)
    assert (ath["function"], ath["module"]) == ("ath9k_hif_usb_reg_in_cb", "ath9k_htc")
    slab = next(f for f in frames if f["function"].startswith("__slab_alloc"))
    assert slab["function"] == "__slab_alloc.isra.17.constprop.21"
    assert slab["symbol"] == "__slab_alloc"
    eoi = next(f for f in frames if f["line_no"] == 31)
    assert eoi["function"] == "cpuidle_enter_state"
    assert eoi["reliable"] is False and eoi["context"] == "task"
    assert sum(not f["reliable"] for f in frames) == 7  # `? ` on lines 14-16, 18, 19, 21, 31


def test_arm64_trace() -> None:
    # lkml/allocfail-5.18.7-arm64…: `Call trace:` (line 4), ` dump_backtrace.part.0+0xc8/0xd4` …
    # ` ret_from_fork+0x10/0x20` (31), then an empty line
    _, sink, end = run_trace(
        "lkml/allocfail-5.18.7-arm64-bridge-fdb-atomic-then-panic-deadlocked.txt", 4
    )
    assert end == 32
    frames = sink.rows["frames"]
    assert len(frames) == 27
    assert (frames[0]["function"], frames[0]["symbol"]) == (
        "dump_backtrace.part.0",
        "dump_backtrace",
    )
    netif = frames[14]
    assert netif["function"] == "__netif_receive_skb_core.constprop.0"
    assert netif["symbol"] == "__netif_receive_skb_core"
    assert frames[0]["context"] is None  # arm64 prints no stack markers


def test_ppc64_trace() -> None:
    # lkml/allocfail-4.12-rc2-ppc64…: line 7 `Call Trace:`, line 8
    # `[c00000000090b5c0] [c0000000004f8478] .dump_stack+0xa0/0xcc (unreliable)` …
    # line 18 `[c00000000090be30] [c00000000000a118] system_call+0x38/0xfc`, end of file
    _, sink, end = run_trace("lkml/allocfail-4.12-rc2-ppc64-g5-slub-order4-nots.txt", 7)
    assert end == 19
    frames = sink.rows["frames"]
    assert len(frames) == 11
    assert frames[0]["function"] == ".dump_stack" and frames[0]["symbol"] == "dump_stack"
    assert frames[0]["reliable"] is False and frames[0]["address"] == 0xC0000000004F8478
    assert frames[1]["reliable"] is True
    assert frames[5]["symbol"] == "__slab_alloc"  # `.__slab_alloc.isra.61.constprop.63`
    assert frames[-1]["function"] == "system_call"


def test_task_markers_and_foreign_callers() -> None:
    # syzkaller/1002: `Call Trace:` (line 12), ` <TASK>` (13), `? ` frames; lines of other
    # callers (T76, T30) never reach the trace when caller ids exist, so feed only T28's lines
    lines = [ln for ln in _lines("syzkaller/1002") if ln.line_no >= 12 and ln.caller == "T28"]
    sink = _Sink()
    trace = CallTrace(Block(lines[0], 1, sink), lines[0])
    for ln in lines[1:]:
        if trace.feed(ln) is Feed.END:
            break
    trace.finish(None)
    frames = sink.rows["frames"]
    assert frames[0]["function"] == "__schedule" and frames[0]["context"] == "task"
    assert frames[0]["reliable"] is False


def test_dropped_messages_mark_truncated() -> None:
    # lkml/printk-dropped-4.6.2-kmallocwd-stezenbach.txt: `** 1402 printk messages dropped **`
    # glued in front of a ` [<ffffffff8116d519>] __do_page_cache_readahead+0x144/0x29d` frame
    lines = _lines("lkml/printk-dropped-4.6.2-kmallocwd-stezenbach.txt")
    glued = next(ln for ln in lines if ln.dropped == 1402)
    assert "__do_page_cache_readahead" in glued.text
    sink = _Sink()
    trace = CallTrace(Block(glued, 1, sink), glued)
    trace.finish(None)
    assert sink.rows["stacks"][0]["truncated"] is True
    assert trace.problems == ["printk messages dropped inside the trace"]


@pytest.mark.parametrize(
    ("raw", "symbol"),
    [
        ("__slab_alloc.isra.61.constprop.63", "__slab_alloc"),  # ppc64 sample, dot removed below
        (".mm_init.isra.65", "mm_init"),
        ("nmi_cpu_backtrace.cold", "nmi_cpu_backtrace"),  # syzkaller/349 line 157
        ("__alloc_pages_noprof", "__alloc_pages"),
        ("p9_client_flush.isra.0", "p9_client_flush"),  # syzkaller/1002
        ("__schedule", "__schedule"),
    ],
)
def test_normalize_symbol(raw: str, symbol: str) -> None:
    assert normalize_symbol(raw) == symbol


def test_headers() -> None:
    t = {ln.line_no: ln.text for ln in _lines("syzkaller/349")}
    assert is_dump_stack_header(t[153]) and is_dump_stack_header(t[154])  # CPU:, Hardware name:
    assert parse_dump_stack_header(t[167]) == {
        "cpu": 1, "uid": None, "pid": 5857, "comm": "rs:main Q:Reg", "tainted": "",
        "release": "4.20.0-next-20190102+",
    }  # fmt: skip
    assert is_trace_start(t[155]) and not is_trace_start(t[154])
    # line 40 `CPU: 1 PID: 405 Comm: khugepaged Tainted: G` lost its release to a mail wrap
    wrapped = {ln.line_no: ln.text for ln in _lines(
        "lkml/hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt")}[40]  # fmt: skip
    assert is_dump_stack_header(wrapped) and parse_dump_stack_header(wrapped) is None


def test_orphan_traces_in_full_parse() -> None:
    # syzkaller/349 holds 13 `Call Trace:` lines (grep -c 'Call Trace:' = 13); each gives a stack
    cap = stalllog.parse(CORPUS / "syzkaller/349")
    assert len(cap.stacks) == 13
    assert cap.frames.stack_id.nunique() == 13


def test_symbol_wrapped_onto_next_line() -> None:
    # lkml/allocfail-2.6.28-ubuntu-sky2-netrx-order0-flowed.txt lines 4-7: `Call Trace:`,
    # ` <IRQ>  [<ffffffff802b6e2e>] ` and, wrapped by the mailer,
    # `__alloc_pages_internal+0x3ee/0x500`
    _, sink, _ = run_trace("lkml/allocfail-2.6.28-ubuntu-sky2-netrx-order0-flowed.txt", 4)
    first, second = sink.rows["frames"][:2]
    assert (first["function"], first["address"]) == ("__alloc_pages_internal", 0xFFFFFFFF802B6E2E)
    assert (first["line_no"], first["context"]) == (5, "irq")
    assert (second["function"], second["line_no"]) == ("alloc_slab_page", 7)


def test_foreign_line_before_first_frame_is_skipped() -> None:
    # syzkaller/198 lines 10-12: `Call Trace:`, `kasan: CONFIG_KASAN_INLINE enabled` (another
    # CPU, no caller ids), ` dump_stack+0x194/0x257`
    lines = [ln for ln in _lines("syzkaller/198") if ln.line_no >= 10]
    sink = _Sink()
    trace = CallTrace(Block(lines[0], 1, sink), lines[0])
    assert trace.feed(lines[1]) is Feed.SKIP
    assert trace.feed(lines[2]) is Feed.TAKE
    trace.finish(None)
    assert sink.rows["frames"][0]["function"] == "dump_stack"


INVARIANT_FILES = sorted(
    [p for p in CORPUS.glob("*/*") if p.name not in {"INDEX.md", "index.txt"}]
    + list((CORPUS.parent / "qemu").glob("*-sysrq-dmesg.log"))
    + list((CORPUS.parent / "qemu").glob("*-hung-task-serial.log"))
)


@pytest.mark.parametrize("path", INVARIANT_FILES, ids=lambda p: p.name)
def test_links_between_tables(path: Path) -> None:
    """Every frame belongs to a stack with that many frames, depths run 0..n-1, and the
    stack_id / dump_id links of tasks, hung_tasks and nmi_backtraces point at real rows."""
    c = stalllog.parse(path)
    stacks, frames = c.stacks, c.frames
    assert stacks.stack_id.is_unique
    counts = frames.groupby("stack_id").size()
    n = stacks.set_index("stack_id").n_frames
    assert (counts.reindex(n.index, fill_value=0) == n).all()
    for _, f in frames.groupby("stack_id"):
        assert f.depth.tolist() == list(range(len(f)))
    known = set(stacks.stack_id)
    for table in ("tasks", "hung_tasks", "nmi_backtraces"):
        ids = c[table].stack_id.dropna()
        assert set(ids) <= known, table
    dumps = set(c.tasks.dump_id)
    hung = c.hung_tasks
    assert set(hung[hung.task_state.notna()].dump_id) <= dumps


def test_fragment_after_dropped_messages() -> None:
    # lkml/printk-dropped-4.6.2-kmallocwd-stezenbach.txt line 12: `** 1402 printk messages
    # dropped ** [  363.818816]  [<ffffffff8116d519>] __do_page_cache_readahead+0x144/0x29d`,
    # a frame whose `Call Trace:` was among the dropped messages (an orphan trace, or part of
    # the kmallocwd scan above it when that family owns the block)
    c = stalllog.parse(CORPUS / "lkml/printk-dropped-4.6.2-kmallocwd-stezenbach.txt")
    st = c.stacks[c.stacks.line_start == 12].iloc[0]
    assert st.n_frames == 1 and st.truncated
    f = c.frames[c.frames.stack_id == st.stack_id].iloc[0]
    assert (f.function, f.address) == ("__do_page_cache_readahead", 0xFFFFFFFF8116D519)
    ev = c.events.set_index("event_id").loc[st.event_id]
    assert ev.corrupted and "dropped" in ev.reason


def test_arm32_from_frames_without_backtrace_verbose() -> None:
    # corpus/posted/oom-6.x-rpi4-arm32-...: lines 36-46, `[  501.054873]  unwind_backtrace from
    # show_stack+0x18/0x1c` ... `ksys_read from __sys_trace_return+0x0/0x10` (11 frames)
    path = Path(__file__).parent.parent / "sample_logs/corpus/posted"
    cap = stalllog.parse(path / "oom-6.x-rpi4-arm32-highmem-tasktable-fragments.txt")
    frames = cap.frames[cap.frames["line_no"].between(36, 46)]
    assert frames["function"].tolist() == [
        "unwind_backtrace", "show_stack", "dump_stack_lvl", "dump_header", "oom_kill_process",
        "out_of_memory", "__alloc_pages", "__get_free_pages", "proc_pid_cmdline_read",
        "vfs_read", "ksys_read",
    ]  # fmt: skip
    assert frames["depth"].tolist() == list(range(11))
