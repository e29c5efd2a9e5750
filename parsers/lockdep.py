"""Locks held, as lockdep prints them (kernel/locking/lockdep.c): `held_locks` rows.

* `debug_show_all_locks()` (SysRq-d, SysRq-w, hung tasks since ≈4.17, kmallocwd v5+):
  `"\\nShowing all locks held in the system:\\n"`, per task with locks
  `"%d lock%s held by %s/%d:\\n"` + entries, then `"\\n====…====\\n\\n"` (45 `=`).
  Without lockdep: `INFO: lockdep is turned off.` alone.
* `debug_show_held_locks()` / `lockdep_print_held_locks()` (hung tasks <= ≈4.17, lockdep
  splats, kmallocwd v4): the same per-task part alone, or `"no locks held by %s/%d.\\n"`.

Entry (`" #%d: "` + print_lock()), by era (FORMATS-stalls.md §2):

* <= 4.14: ` #0:  (sb_writers#17){.+.+}, at: [<ffffffffb4ca2aa0>] mnt_want_write+0x20/0x50`
  (no instance address; `at:` prints `[<%p>] %pS`).
* 4.15–5.6: ` #0: 000000005eee3cbe (oom_lock){+.+.}, at: oom_reaper+0x9f/0x270` (hashed
  pointer: print_lock() prints `hlock->instance` with `%p`).
* 5.7+: ` #0: ffffffff8273c800 (rcu_read_lock){....}-{1:2}, at: debug_show_all_locks+0x15/…`
  (`-{outer:inner}` wait types, from "lockdep: Introduce wait-type checks").
* syzbot symbolizes `at:` as `func file.c:123 [inline]`.
* Broken continuations (6.9-next consoles): one entry spread over several records
  (` #0: `, `ffffffff8e333e60`, ` (`, `rcu_read_lock`, `){....}-{1:2}`, `, at: …`); the pieces
  are joined until `, at: ` has its function.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import regex

from .base import EVENT_ID, Block, Family, Feed, Line, Sink, TableSchema, col
from .stacktrace import parse_frame

_HELD_BY = re.compile(r"^(?P<n>\d+) locks? held by (?P<comm>.*)/(?P<pid>-?\d+):\s*$")
_NONE_HELD = re.compile(r"^no locks held by (?P<comm>.*)/(?P<pid>-?\d+)\.\s*$")
_ENTRY_START = re.compile(r"^\s*#(?P<i>\d+): ?")
_ENTRY = re.compile(
    r"^\s*#(?P<i>\d+): +(?:(?P<addr>[0-9a-f]{8,16}) *)?\((?P<name>.*)\)\{(?P<usage>[^}]*)\}"
    r"(?:-\{(?P<wait>[^}]*)\})?, at: (?P<at>.*\S)\s*$"
)
_SHOW_ALL = "Showing all locks held in the system:"
_RULE = regex.compile(r"^=+\s*$")
_OFF = "INFO: lockdep is turned off."
# without caller ids, other CPUs' lines can land inside a task's list (syzkaller/235)
_MAX_FOREIGN = 20


def parse_lock_entry(text: str) -> dict[str, Any] | None:
    """A held-lock entry (` #0: ffff… (&mm->mmap_lock){++++}-{3:3}, at: func+0x1/0x2`) ->
    {index, address, lock, usage, wait_type, at_function, at_symbol, at_offset, at_src}."""
    m = _ENTRY.match(text)
    return None if m is None else _entry_values(m)


def _entry_values(m: re.Match[str]) -> dict[str, Any]:
    at = m["at"]
    frame = parse_frame(" " + at)
    return {
        "index": int(m["i"]),
        "address": int(m["addr"], 16) if m["addr"] else None,
        "lock": m["name"],
        "usage": m["usage"],
        "wait_type": m["wait"],
        "at_function": frame["function"] if frame else at,
        "at_symbol": frame["symbol"] if frame else None,
        "at_offset": frame["offset"] if frame else None,
        "at_src": frame["src"] if frame else None,
    }


class LockdepBlock(Block):
    """`Showing all locks held in the system:` … `=====`, or one task's held locks alone."""

    kind = "lockdep_held_locks"

    def __init__(self, first: Line, event_id: int, sink: Sink, show_all: bool) -> None:
        super().__init__(first, event_id, sink)
        self.show_all = show_all
        self.holder: tuple[str, int, int] | None = None  # comm, pid, locks announced
        self.holder_line = first
        self.n_seen = 0
        self.pending: list[Line] = []  # pieces of an entry broken over records
        self.ruled = False
        self.n_foreign = 0
        if not show_all:
            self.complete = True
            self._line(first)

    def feed(self, line: Line) -> Feed:
        text = line.text
        if self.ruled:
            # the closing rule is followed by one empty line
            return Feed.TAKE if not text.strip() and not self.pending else Feed.END
        if self.pending:
            self.pending.append(line)
            joined = "".join(p.text.strip() if i else p.text for i, p in enumerate(self.pending))
            e = _ENTRY.match(joined)
            if e is not None:
                self._entry(self.pending[0], _entry_values(e), broken=True)
                self.pending = []
                return Feed.TAKE
            if len(self.pending) < 10 and not _ENTRY_START.match(text) and not _HELD_BY.match(text):
                return Feed.TAKE
            self.problems.append(f"lock entry at line {self.pending[0].line_no} left unfinished")
            self.pending = []
            # fall through: the line starts something else
        if self._line(line):
            return Feed.TAKE
        if self.show_all and not text.strip():
            return Feed.TAKE
        if self.show_all and _RULE.match(text):
            self.ruled = True
            self.complete = True
            return Feed.TAKE
        if (
            line.caller is None
            and self.holder is not None
            and self.n_seen < self.holder[2]
            and self.n_foreign < _MAX_FOREIGN
        ):
            self.n_foreign += 1
            return Feed.SKIP
        return Feed.END

    def _line(self, line: Line) -> bool:
        text = line.text
        if text.lstrip().startswith("#"):
            if self.holder is None:
                return False
            e = _ENTRY.match(text)
            if e is not None:
                self._entry(line, _entry_values(e), broken=False)
                return True
            if _ENTRY_START.match(text) is None:
                return False
            self.pending = [line]
            return True
        m = _HELD_BY.match(text) if text[:1].isdigit() else None
        if m is not None:
            self._check_count()
            if not self.show_all and self.holder is not None:
                return False  # a standalone block is one task's locks
            self.holder = (m["comm"], int(m["pid"]), int(m["n"]))
            self.holder_line = line
            self.pid, self.comm = self.pid or int(m["pid"]), self.comm or m["comm"]
            self.n_seen = 0
            return True
        m = _NONE_HELD.match(text) if text.startswith("no locks") else None
        if m is not None:
            self._check_count()
            if not self.show_all and self.holder is not None:
                return False
            self.holder = (m["comm"], int(m["pid"]), 0)
            self.holder_line = line
            self.pid, self.comm = self.pid or int(m["pid"]), self.comm or m["comm"]
            return True
        return False

    def _entry(self, line: Line, entry: dict[str, Any], broken: bool) -> None:
        if self.holder is None:
            return
        comm, pid, n = self.holder
        self.n_seen += 1
        self.row(
            "held_locks",
            boot=line.boot,
            ts=line.ts,
            line_no=line.line_no,
            comm=comm,
            pid=pid,
            n_held=n,
            broken=broken,
            **entry,
        )

    def _check_count(self) -> None:
        """Close the current holder. lockdep_print_held_locks() prints a running task's count
        but no entries (`if (p != current && task_is_running(p)) return;` after the count;
        older debug_show_all_locks() skipped such tasks entirely): that gives one row with a
        null `index`, so the holder is not lost."""
        if self.holder is None:
            return
        comm, pid, n = self.holder
        if self.n_seen == 0 and n > 0:
            line = self.holder_line
            self.row("held_locks", boot=line.boot, ts=line.ts, line_no=line.line_no, comm=comm,
                     pid=pid, n_held=n, broken=False)  # fmt: skip
        elif self.n_seen != n and n:
            self.problems.append(
                f"{self.holder[0]}/{self.holder[1]}: {self.holder[2]} locks announced, "
                f"{self.n_seen} printed"
            )

    def finish(self, cut: str | None) -> None:
        if self.pending:
            self.problems.append(f"lock entry at line {self.pending[0].line_no} left unfinished")
        self._check_count()
        super().finish(cut)


class AllLocksBlock(LockdepBlock):
    kind = "lockdep_all_locks"


class LockdepOffBlock(Block):
    kind = "lockdep_off"
    multiline = False


class LockdepFamily(Family):
    name = "lockdep"
    triggers = (_SHOW_ALL, " held by ", _OFF)
    pattern = regex.compile(
        rf"^{regex.escape(_SHOW_ALL)}|^\d+ locks? held by .*/-?\d+:|^no locks held by "
        rf"|^{regex.escape(_OFF)}"
    )
    tables = (
        TableSchema(
            "held_locks",
            "One row per lock in lockdep's held-locks lists (`N locks held by comm/pid:` "
            "entries), from all-locks dumps, hung-task reports and lockdep splats.",
            (
                EVENT_ID,
                col("boot", pa.int32(), "", "boot number in the capture"),
                col("ts", pa.float64(), "s", "seconds since boot of the entry (null if none)"),
                col("line_no", pa.int64(), "", "line of the entry (its first piece if broken)"),
                col("comm", pa.string(), "", "holding task's name (untrusted text)"),
                col("pid", pa.int64(), "", "holding task's pid"),
                col("n_held", pa.int32(), "locks", "locks the task holds, as announced"),
                col(
                    "index",
                    pa.int32(),
                    "",
                    "`#N`: 0 = acquired first; null on the one row of a task whose locks "
                    "lockdep counted but did not list (a running task)",
                ),
                col(
                    "address",
                    pa.uint64(),
                    "",
                    "lock instance address (4.15+; hashed before 5.x unless no_hash_pointers)",
                ),
                col("lock", pa.string(), "", "lock class name (`&mm->mmap_lock`, `oom_lock`)"),
                col("usage", pa.string(), "", "usage bits in braces (`+.+.`)"),
                col("wait_type", pa.string(), "", "5.7+ `-{outer:inner}` wait types (`3:3`)"),
                col("at_function", pa.string(), "", "where it was acquired, as printed"),
                col("at_symbol", pa.string(), "", "that function, normalized (see `frames`)"),
                col("at_offset", pa.int64(), "bytes", "offset in that function"),
                col("at_src", pa.string(), "", "source location when symbolized"),
                col("broken", pa.bool_(), "", "the entry came split over several records"),
            ),
        ),
    )

    def start(self, line: Line, match: regex.Match[str], event_id: int, sink: Sink) -> Block:
        text = match.group()
        if text.startswith(_OFF):
            return LockdepOffBlock(line, event_id, sink)
        if text.startswith(_SHOW_ALL):
            return AllLocksBlock(line, event_id, sink, show_all=True)
        return LockdepBlock(line, event_id, sink, show_all=False)
