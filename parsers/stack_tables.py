"""The `frames` and `stacks` tables that every call trace (parsers/stacktrace.py) writes."""

from __future__ import annotations

import pyarrow as pa

from .base import EVENT_ID, TableSchema, col
from .decoded_frames import SRC_CHAIN

FRAMES = TableSchema(
    "frames",
    "One row per call-trace frame, innermost first. Stack markers, register dumps and raw "
    "stack words are not frames; they set `context` and `stacks.ip_function`.",
    (
        col("stack_id", pa.int64(), "", "the trace; joins `stacks` (and `tasks.stack_id`)"),
        EVENT_ID,
        col("depth", pa.int32(), "", "0 = innermost frame, in printed order"),
        col("function", pa.string(), "", "symbol as printed (`__mutex_lock.isra.4`, `.kmalloc`)"),
        col(
            "symbol",
            pa.string(),
            "",
            "normalized: `.constprop.N`/`.isra.N`/`.part.N`/`.cold`/`.llvm.N` and `_noprof` "
            "stripped, ppc64 leading dot dropped; null for a bare address",
        ),
        col("offset", pa.int64(), "bytes", "offset into the function (`+0x3a`)"),
        col("size", pa.int64(), "bytes", "function size (`/0x90`)"),
        col("module", pa.string(), "", "module name of ` [xfs]` frames; null for vmlinux"),
        col(
            "reliable",
            pa.bool_(),
            "",
            "False for `? ` (x86 stack-scan guess) or ppc `(unreliable)`",
        ),
        col(
            "context",
            pa.string(),
            "",
            "stack the frame is on: task, irq, softirq, nmi, exception (from stack markers); "
            "null when the trace says nothing and its owner did not know",
        ),
        col(
            "address", pa.uint64(), "", "return address from `[<…>]` / ppc64 `[…] [pc]`, if printed"
        ),
        col(
            "src", pa.string(), "", "source location appended by symbolizers (`mm/oom_kill.c:1042`)"
        ),
        col(
            "inlined",
            pa.bool_(),
            "",
            "syzbot `[inline]` row: a function inlined into the next frame",
        ),
        SRC_CHAIN,
        col("line_no", pa.int64(), "", "line of the frame"),
        col("raw", pa.string(), "", "the frame line as printed"),
    ),
)

STACKS = TableSchema(
    "stacks",
    "One row per call trace (`frames` holds its frames).",
    (
        col("stack_id", pa.int64(), "", "trace number in the capture, from 0"),
        EVENT_ID,
        col("pid", pa.int64(), "", "task whose stack it is, when the owner knows"),
        col("comm", pa.string(), "", "that task's name"),
        col("line_start", pa.int64(), "", "first line of the trace"),
        col("line_end", pa.int64(), "", "last line of the trace"),
        col("n_frames", pa.int32(), "frames", "frames in `frames`"),
        col("n_unreliable", pa.int32(), "frames", "frames marked `? ` / `(unreliable)`"),
        col(
            "ip_function",
            pa.string(),
            "",
            "normalized kernel function of the register dump's `RIP:`/`pc :`/`NIP` line",
        ),
        col(
            "truncated",
            pa.bool_(),
            "",
            "messages were dropped inside the trace or it was cut before its end",
        ),
        col("problem", pa.string(), "", "why the trace is doubtful, null when it is not"),
    ),
)
