"""`** N printk messages dropped **` markers, noted in the blocks open when they appeared.

A storm of markers over thousands of open blocks (one per caller id) must not cost markers ×
blocks in time or memory: markers go into one log, and a block catches up only when the
dispatcher touches it (feeds it a line, finishes it), which keeps its problems in line order.
Past NOTED_PER_BLOCK markers a block gets one summary instead of a string per marker."""

from __future__ import annotations

from stalllog.parsers.base import Block

NOTED_PER_BLOCK = 8


class DropLog:
    def __init__(self) -> None:
        self.lines: list[int] = []  # marker line numbers; empty: catch_up has nothing to do
        self._cum: list[int] = [0]  # messages dropped before marker k
        self._first: dict[int, int] = {}  # event_id -> first marker that concerns the block
        self._noted: dict[int, int] = {}  # event_id -> markers written out one by one

    def marker(self, line_no: int, dropped: int) -> None:
        self.lines.append(line_no)
        self._cum.append(self._cum[-1] + dropped)

    def opened(self, block: Block) -> None:
        """A block starts: only markers from now on concern it."""
        self._first[block.event_id] = len(self.lines)
        self._noted[block.event_id] = 0

    def catch_up(self, block: Block) -> None:
        first = self._first.get(block.event_id)
        if first is None or first >= len(self.lines):
            return  # the common case: no marker since the block opened
        noted = self._noted[block.event_id]
        upto = min(len(self.lines), first + NOTED_PER_BLOCK)
        for k in range(first + noted, upto):
            dropped = self._cum[k + 1] - self._cum[k]
            block.problems.append(f"{dropped} printk messages dropped at line {self.lines[k]}")
        self._noted[block.event_id] = max(noted, upto - first)

    def closed(self, block: Block) -> None:
        """Note the markers not yet noted (one summary past NOTED_PER_BLOCK); forget the block."""
        self.catch_up(block)
        first = self._first.pop(block.event_id, None)
        self._noted.pop(block.event_id, None)
        if first is None:
            return
        rest = first + NOTED_PER_BLOCK
        if len(self.lines) > rest:
            block.problems.append(
                f"{len(self.lines) - rest} more drop markers"
                f" ({self._cum[-1] - self._cum[rest]} printk messages) up to line {self.lines[-1]}"
            )
