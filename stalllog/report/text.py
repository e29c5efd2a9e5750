"""The report as plain text for mailing lists: at most 80 columns on every line, no trailing
spaces; prose wrapped, table cells and long log lines cut with `~`; names from the log shown
with terminal escapes (no raw control, bidi or zero-width character reaches the reader)."""

from __future__ import annotations

import textwrap
import unicodedata

from stalllog.output.safe import for_terminal
from stalllog.report.model import (
    Block,
    Excerpt,
    Figure,
    Finding,
    Paragraph,
    Report,
    Section,
    Table,
)

WIDTH = 80
CUT = "~"  # marks a cell or line cut to fit
GAP = "  "  # between table columns
MIN_CELL = 4
LOG_ROWS = 4  # rows of text one log line may take in an excerpt


def _esc(s: object) -> str:
    return for_terminal(str(s), markup=False)


def width(s: str) -> int:
    """Columns `s` takes at most: wide (East Asian) characters count two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def fit(s: str, n: int) -> str:
    """`s` cut to at most n columns, ending with CUT when it was cut."""
    if width(s) <= n:
        return s
    out, used = [], 0
    for c in s:
        w = width(c)
        if used + w > n - 1:
            break
        out.append(c)
        used += w
    return "".join(out) + CUT


def _wrap(text: str, first: str = "", rest: str = "") -> list[str]:
    lines = textwrap.wrap(
        text, WIDTH, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    )
    return [fit(line, WIDTH) for line in lines] or [first.rstrip()]


def _widths(cells: list[list[str]], gap: str) -> list[int]:
    """Column widths, the widest shrunk first until the row fits WIDTH."""
    widths = [max([width(c) for c in col] or [0]) for col in zip(*cells, strict=True)]
    room = WIDTH - len(gap) * (len(widths) - 1)
    while sum(widths) > room:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= MIN_CELL:
            break
        widths[widest] -= 1
    return widths


def _row(cells: list[str], widths: list[int], numeric: frozenset[int], gap: str) -> list[str]:
    """One table row; a text last column wraps onto more lines instead of being cut."""
    last = len(cells) - 1
    wrapped = last not in numeric and width(cells[last]) > widths[last] >= MIN_CELL
    tail = _chunks_words(cells[last], widths[last]) if wrapped else [cells[last]]
    out = []
    for i, (c, w) in enumerate(zip([*cells[:last], tail[0]], widths, strict=True)):
        c = fit(c, w)
        pad = " " * (w - width(c))
        out.append(pad + c if i in numeric else c + pad)
    indent = " " * (sum(widths[:last]) + len(gap) * last)
    lines = [gap.join(out), *(indent + more for more in tail[1:])]
    return [fit(line.rstrip(), WIDTH) for line in lines]


def _chunks_words(s: str, n: int) -> list[str]:
    return [fit(line, n) for line in textwrap.wrap(s, n, break_on_hyphens=False)] or [""]


def _table(t: Table) -> list[str]:
    out = _wrap(_esc(t.title)) if t.title else []
    header = any(t.columns)
    cells = [[_esc(c) for c in r] for r in ([t.columns] if header else []) + t.rows]
    if not cells:
        return out
    natural = [max(width(c) for c in col) for col in zip(*cells, strict=True)]
    # one space between columns rather than cutting cells
    gap = GAP if sum(natural) + len(GAP) * (len(natural) - 1) <= WIDTH else " "
    widths = _widths(cells, gap)
    for k, r in enumerate(cells):
        out += _row(r, widths, t.numeric, gap)
        if header and k == 0:
            out.append(fit(gap.join("-" * w for w in widths), WIDTH))
    if t.note:
        out += _wrap(f"({_esc(t.note)})")
    return out


def _chunks(s: str, n: int) -> list[str]:
    """`s` in pieces of at most n columns."""
    out: list[str] = []
    cur: list[str] = []
    used = 0
    for c in s:
        w = width(c)
        if used + w > n:
            out.append("".join(cur))
            cur, used = [], 0
        cur.append(c)
        used += w
    return [*out, "".join(cur)]


def _excerpt(e: Excerpt) -> list[str]:
    """Log lines behind their numbers; a long line goes on under `+`, up to LOG_ROWS rows."""
    out = []
    for line in e.lines:
        if line.line_no is None:
            out.append(fit(f"        {_esc(line.text)}", WIDTH))
            continue
        pieces = _chunks(_esc(line.text), WIDTH - 8)
        if len(pieces) > LOG_ROWS:
            pieces = [*pieces[: LOG_ROWS - 1], fit(pieces[LOG_ROWS - 1] + CUT, WIDTH - 8)]
        out.append(f"{line.line_no:>6}| {pieces[0]}")
        out += [f"      + {p}" for p in pieces[1:]]
    return out


def _finding(f: Finding) -> list[str]:
    lines_of = f"; lines {f.evidence}" if f.evidence else ""
    head = f"{f.severity.upper()}: {_esc(f.text)} [{_esc(f.where)}{lines_of}]"
    out = _wrap(head, "* ", "  ")
    if f.excerpt is not None:
        out += _excerpt(f.excerpt)
    return out


def _block(b: Block) -> list[str]:
    if isinstance(b, Paragraph):
        return _wrap(_esc(b.text), "- ", "  ") if b.bullet else _wrap(_esc(b.text))
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Finding):
        return _finding(b)
    if isinstance(b, Excerpt):
        return _excerpt(b)
    if isinstance(b, Figure):
        return _wrap(f"[figure: {_esc(b.title)}; in the HTML and Markdown reports]")
    raise TypeError(type(b))


def _section(s: Section) -> list[str]:
    title = _esc(s.title)
    out = ["", fit(title, WIDTH), "=" * min(width(title), WIDTH)]
    for b in s.blocks:
        out += [*_block(b), ""]
    return out


def render_text(report: Report) -> str:
    """The report as plain text; every line at most 80 columns, no trailing spaces."""
    title = _esc(report.title)
    out = [fit(title, WIDTH), "#" * min(width(title), WIDTH), ""]
    v = report.verdict
    label = f"VERDICT ({v.severity}): " if v.severity else "VERDICT: "
    out += _wrap(label + _esc(v.text), "", "  ")
    out.append("")
    out += _table(Table(["", ""], [[k, v] for k, v in report.key_numbers]))
    for s in report.sections:
        out += _section(s)
    text = "\n".join(line.rstrip() for line in out).strip("\n")
    return text + "\n"
