"""Evidence excerpts: the original lines a finding names (`12,40-45`), taken from the `lines`
table, with long runs cut to their ends and a marker saying how many lines were left out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from stalllog.report.model import Excerpt, ExcerptLine

RUN_KEPT = 4  # lines kept at each end of a run longer than 2 * RUN_KEPT + 1
MAX_EXCERPT = 40  # lines of one finding's excerpt, markers included
TRACE_FRAMES = 8  # frames shown under a cited `Call Trace:` line: the top of the stack


def trace_context(stacks: pa.Table | None, source: str, numbers: list[int]) -> list[int]:
    """The first TRACE_FRAMES lines of each trace whose first line is cited (a finding that
    cites `Call Trace:` is about the frames under it)."""
    if stacks is None or not numbers or "source" not in stacks.column_names:
        return []
    mine = stacks.filter(pc.equal(stacks.column("source"), source))
    hit = mine.filter(pc.is_in(mine.column("line_start"), pa.array(numbers, pa.int64())))
    out: list[int] = []
    for start, end in zip(hit.column("line_start").to_pylist(), hit.column("line_end").to_pylist(),
                          strict=True):  # fmt: skip
        if start is not None and end is not None:
            out.extend(range(start + 1, min(end, start + TRACE_FRAMES) + 1))
    return out


_RANGE = re.compile(r"(\d+)(?:-(\d+))?")


def line_numbers(evidence: str | None) -> list[int]:
    """`12,40-45` → [12, 40, 41, ..., 45] (sorted, distinct)."""
    out: set[int] = set()
    for part in (evidence or "").split(","):
        m = _RANGE.fullmatch(part.strip())
        if m:
            lo = int(m.group(1))
            hi = int(m.group(2) or lo)
            out.update(range(lo, min(hi, lo + 100_000) + 1))
    return sorted(out)


def _runs(numbers: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return runs


def shown_numbers(numbers: list[int]) -> list[int | tuple[int, int]]:
    """The line numbers to show; (first, last) stands for a cut stretch of left-out lines."""
    out: list[int | tuple[int, int]] = []
    for run in _runs(numbers):
        if len(run) > 2 * RUN_KEPT + 1:
            out += run[:RUN_KEPT]
            out.append((run[RUN_KEPT], run[-RUN_KEPT - 1]))
            out += run[-RUN_KEPT:]
        else:
            out += run
    if len(out) > MAX_EXCERPT:
        rest = [n for n in out[MAX_EXCERPT - 1 :] if isinstance(n, int)]
        out = out[: MAX_EXCERPT - 1]
        if rest:
            out.append((rest[0], rest[-1]))
    return out


class LineBook:
    """Original text of wanted lines per (source, line_no), read from `lines` in one pass."""

    def __init__(self, lines: pa.Table | None, wanted: Mapping[str, set[int]]) -> None:
        self.text: dict[tuple[str, int], str] = {}
        if lines is None or not wanted:
            return
        all_numbers = sorted({n for ns in wanted.values() for n in ns})
        hit = lines.filter(pc.is_in(lines.column("line_no"), pa.array(all_numbers, pa.int64())))
        d = hit.select(["source", "line_no", "prefix", "text"]).to_pydict()
        for src, no, prefix, text in zip(
            d["source"], d["line_no"], d["prefix"], d["text"], strict=True
        ):
            if src in wanted and no in wanted[src]:
                self.text[(src, no)] = (prefix or "") + (text or "")

    def excerpt(
        self, source: str, evidence: str | None, context: Iterable[int] = ()
    ) -> Excerpt | None:
        """The evidence lines, and the `context` lines (a cited trace's first frames)."""
        shown = shown_numbers(sorted({*line_numbers(evidence), *context}))
        out: list[ExcerptLine] = []
        for n in shown:
            if isinstance(n, tuple):
                count = n[1] - n[0] + 1
                out.append(ExcerptLine(None, f"[... {count} line(s) left out: {n[0]}-{n[1]} ...]"))
            elif (source, n) in self.text:
                out.append(ExcerptLine(n, self.text[(source, n)]))
        return Excerpt(source, out) if any(e.line_no is not None for e in out) else None
