"""Markers of lost or suppressed messages: evidence that a capture is incomplete.

* `** %u printk messages dropped **` (console_unlock; console only, never in dmesg; no
  timestamp; can be glued in front of the next record: FORMATS-stalls.md §5). The `%u`
  became `%llu` around 4.x and `%lu` with the 5.10 ringbuffer; the text stayed the same.
* `%s: %d callbacks suppressed` (lib/ratelimit.c; `%s` is the rate-limited function).
* `%s: %d output lines suppressed due to ratelimiting` (/dev/kmsg writers, 4.10+).
* `printk: %d messages suppressed.`, `NET: %d messages suppressed.` (2.6 era).
* `printk: Too many dropped messages. Suppress messages on non-panic CPUs ...` (6.x panic).
* Collectors: rsyslog `imuxsock lost N messages from pid P due to rate-limiting` (a program's
  messages to /dev/log: userspace loss, `kernel_messages` false),
  `imjournal: N messages lost due to rate-limiting`; journald `Suppressed N messages from
  UNIT`, `Missed N kernel messages`.
"""

from __future__ import annotations

import pyarrow as pa
import regex

from .base import EVENT_ID, Block, Family, Line, Sink, TableSchema, col


class LossBlock(Block):
    kind = "printk_loss"
    multiline = False


# one anchored alternation: unanchored, every branch's `.+`/`\S+` was retried at each position
_PATTERN = regex.compile(
    r"^(?:\*\* (?P<dropped>\d+) printk messages dropped \*\*"
    r"|(?P<cb_who>\S+): (?P<callbacks>\d+) callbacks suppressed\s*$"
    r"|(?P<out_who>.+): (?P<output>\d+) output lines suppressed due to ratelimiting"
    r"|(?P<old_who>\S+): (?P<old>\d+) messages suppressed\.?\s*$"
    r"|printk: (?P<panic>Too many dropped messages)"
    r"|.*?(?P<rs_who>imuxsock) lost (?P<rsyslog>\d+) messages(?: from pid (?P<rs_pid>\d{1,10}))?"
    r"|(?P<ij_who>imjournal): (?P<imjournal>\d+) messages lost"
    r"|Suppressed (?P<journald>\d+) messages from (?P<jd_who>\S+)"
    r"|(?P<missed_who>)Missed (?P<missed>\d+) kernel messages)"
)

# group holding the count -> (loss kind, group naming who lost/suppressed, were the lost
# messages the kernel's): imuxsock reads /dev/log (programs), journald's `Suppressed … from
# UNIT` and /dev/kmsg writers' lines are userspace; imjournal's may be either (None)
_KINDS = {
    "dropped": ("console_dropped", None, True),
    "callbacks": ("callbacks_suppressed", "cb_who", True),
    "output": ("output_lines_suppressed", "out_who", False),
    "old": ("messages_suppressed", "old_who", True),
    "panic": ("panic_suppressed", None, True),
    "rsyslog": ("rsyslog_lost", "rs_who", False),
    "imjournal": ("rsyslog_lost", "ij_who", None),
    "journald": ("journald_suppressed", "jd_who", False),
    "missed": ("journald_missed_kernel", None, True),
}


class PrintkLossFamily(Family):
    name = "printk_loss"
    priority = 5
    triggers = (
        "printk messages dropped",
        "callbacks suppressed",
        "output lines suppressed",
        "messages suppressed",
        "Too many dropped messages",
        " lost ",
        "messages lost",
        "Suppressed ",
        "Missed ",
    )
    pattern = _PATTERN
    tables = (
        TableSchema(
            "printk_loss",
            "One row per marker of lost or suppressed messages (console drops, rate limits, "
            "collector losses). `count` is NA where the marker gives none.",
            (
                EVENT_ID,
                col("boot", pa.int32(), "", "boot number in the capture"),
                col("line_no", pa.int64(), "", "line of the marker"),
                col(
                    "ts",
                    pa.float64(),
                    "s",
                    "seconds since boot of the marker line (null if none; "
                    "a console drop marker has no stamp of its own)",
                ),
                col(
                    "kind",
                    pa.string(),
                    "",
                    "console_dropped, callbacks_suppressed, "
                    "output_lines_suppressed, messages_suppressed, panic_suppressed, rsyslog_lost, "
                    "journald_suppressed, journald_missed_kernel, kmsg_seq_gap (the /dev/kmsg "
                    "sequence number jumped: records overwritten before they were read, a "
                    "read that failed with EPIPE; or left out of the capture)",
                ),
                col("count", pa.int64(), "messages", "how many messages were lost or suppressed"),
                col("who", pa.string(), "", "rate-limited function, writer, or collector"),
                col(
                    "glued",
                    pa.bool_(),
                    "",
                    "console drop marker glued in front of another message on the same line",
                ),
                col(
                    "kernel_messages",
                    pa.bool_(),
                    "",
                    "the lost messages were the kernel's (false: programs', e.g. rsyslog "
                    "imuxsock or journald per unit; NA: unknown, imjournal); analyses count "
                    "only true as kernel loss",
                ),
                col("pid", pa.int64(), "", "imuxsock: the program whose messages were lost"),
            ),
        ),
    )

    def start(self, line: Line, match: regex.Match[str], event_id: int, sink: Sink) -> Block:
        block = LossBlock(line, event_id, sink)
        for group, (kind, who_group, kernel) in _KINDS.items():
            if match[group] is not None:
                count = None if group == "panic" else int(match[group])
                who = match[who_group] if who_group else None
                pid = int(match["rs_pid"]) if group == "rsyslog" and match["rs_pid"] else None
                block.row("printk_loss", boot=line.boot, line_no=line.line_no, ts=line.ts,
                          kind=kind, count=count, who=who or None, glued=False,
                          kernel_messages=kernel, pid=pid)  # fmt: skip
                break
        return block

    def glued(self, line: Line, event_id: int, sink: Sink) -> Block:
        """A drop marker glued in front of `line`: recorded without claiming the line."""
        block = LossBlock(line, event_id, sink)
        block.row("printk_loss", boot=line.boot, line_no=line.line_no, ts=float("nan"),
                  kind="console_dropped", count=line.dropped, who=None, glued=True,
                  kernel_messages=True, pid=None)  # fmt: skip
        return block

    def seq_gap(self, line: Line, count: int, event_id: int, sink: Sink) -> Block:
        """/dev/kmsg records missing before `line` (printk.c devkmsg_read: EPIPE, and the
        reader moves on to the oldest record left): a loss row, the line not claimed."""
        block = LossBlock(line, event_id, sink)
        block.row("printk_loss", boot=line.boot, line_no=line.line_no, ts=line.ts,
                  kind="kmsg_seq_gap", count=count, who="/dev/kmsg", glued=False)  # fmt: skip
        return block
