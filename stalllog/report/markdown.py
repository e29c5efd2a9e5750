"""The report as GitHub-flavoured Markdown for bug trackers: tables, evidence in fenced code
blocks (each fence longer than any backtick run inside), figures as image files beside the
.md linked relatively. Text from the log is escaped: control characters as in a terminal,
Markdown syntax (`|`, backticks, emphasis, links) with backslashes, `<` and `&` as entities."""

from __future__ import annotations

import re
from collections.abc import Sequence

from stalllog.output.safe import for_terminal
from stalllog.report.model import (
    FIGURE_EXTENSIONS,
    Block,
    Excerpt,
    Figure,
    Finding,
    Paragraph,
    Report,
    Table,
    with_figures,
)

_SYNTAX = re.compile(r"([\\`*_\[\]|#!~])")


def md(s: object) -> str:
    """Text safe inside a Markdown paragraph or table cell."""
    s = for_terminal(str(s), markup=False)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SYNTAX.sub(r"\\\1", s)


def fence_for(body: str) -> str:
    """A backtick fence longer than any backtick run in `body` (at least three)."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


def _table(t: Table) -> list[str]:
    out = [f"**{md(t.title)}**", ""] if t.title else []
    columns = [md(c) for c in t.columns]
    align = ["---:" if i in t.numeric else "---" for i in range(len(columns))]
    out.append("| " + " | ".join(columns) + " |")
    out.append("|" + "|".join(align) + "|")
    out += ["| " + " | ".join(md(c) for c in r) + " |" for r in t.rows]
    if t.note:
        out += ["", f"_{md(t.note)}_"]
    return out


def _excerpt(e: Excerpt) -> list[str]:
    body = [
        f"{line.line_no:>6}  {for_terminal(line.text, markup=False)}"
        if line.line_no is not None
        else f"        {line.text}"
        for line in e.lines
    ]
    fence = fence_for("\n".join(body))
    return [fence + "text", *body, fence]


def _finding(f: Finding) -> list[str]:
    lines_of = f"; lines {md(f.evidence)}" if f.evidence else ""
    out = [f"- **{md(f.severity.upper())}** {md(f.text)} _({md(f.where)}{lines_of})_"]
    if f.excerpt is not None:
        out += ["", *("  " + line if line else "" for line in _excerpt(f.excerpt))]
    return out


def _figure(f: Figure, name: str) -> list[str]:
    return [f"![{md(f.title)}]({name})", "", f"_{md(f.title)}_"]


def _block(b: Block, figure_names: dict[int, str]) -> list[str]:
    if isinstance(b, Paragraph):
        return [("- " if b.bullet else "") + md(b.text)]
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Finding):
        return _finding(b)
    if isinstance(b, Excerpt):
        return _excerpt(b)
    if isinstance(b, Figure):
        return _figure(b, figure_names[id(b)])
    raise TypeError(type(b))


def render_markdown(
    report: Report, figures: Sequence[Figure] = (), asset_stem: str = "report"
) -> tuple[str, dict[str, bytes]]:
    """(Markdown text, {file name: bytes} of the figures to write beside it). Figures are
    linked as `<asset_stem>-fig<N>.<png|svg>` relative to the .md."""
    sections = with_figures(report.sections, figures)
    names = {
        id(f): f"{asset_stem}-fig{i}.{FIGURE_EXTENSIONS[f.mime]}" for i, f in enumerate(figures, 1)
    }
    v = report.verdict
    label = f"Verdict ({v.severity})" if v.severity else "Verdict"
    out = [f"# {md(report.title)}", "", f"**{label}:** {md(v.text)}", ""]
    out += _table(Table(["", ""], [[k, val] for k, val in report.key_numbers]))
    for s in sections:
        out += ["", f"## {md(s.title)}"]
        for b in s.blocks:
            out += ["", *_block(b, names)]
    assets = {names[id(f)]: f.data for f in figures}
    return "\n".join(out) + "\n", assets
