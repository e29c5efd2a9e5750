"""The report as one self-contained HTML file: inline CSS, figures inline as data: URIs, no
script, no external URL; a Content-Security-Policy meta tag forbids loading anything else.
Every string from the log goes through `for_html`."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from stalllog.output.safe import for_html
from stalllog.report.model import (
    Block,
    Excerpt,
    Figure,
    Finding,
    Paragraph,
    Report,
    Section,
    Table,
    with_figures,
)

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:80em;padding:0 1em;
color:#1b1b1b;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
.verdict{font-size:1.1em;padding:.6em .8em;border-left:6px solid #888;background:#f4f4f4}

.sev{font-weight:bold;font-size:.85em;padding:0 .3em;border-radius:3px;color:#fff;background:#777}
.sev.critical{background:#c0392b}.sev.warning{background:#b9770e}.sev.info{background:#1e8449}
.keys{display:flex;flex-wrap:wrap;gap:.4em 1.6em;margin:.8em 0;padding:0;list-style:none}
.keys b{font-size:1.15em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
caption{text-align:left;font-weight:bold;padding:.2em 0}
th,td{border:1px solid #ddd;padding:.15em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.finding{border-left:4px solid #888;padding:.1em .8em;margin:.8em 0}
.critical{border-color:#c0392b}.warning{border-color:#d68910}.info{border-color:#27ae60}
.where,.note{color:#555;font-size:.9em}
pre{background:#f7f7f7;padding:.5em;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85em;
margin:.3em 0}
.ln{color:#888;user-select:none}.gap{color:#a04000;font-style:italic}
figure{margin:1em 0}figure img{max-width:100%}
.lead{float:right;width:44%;margin:0 0 1em 1.5em}.finding{overflow:hidden}
nav{font-size:.9em}nav a{margin-right:1em}
"""


def _e(s: object) -> str:
    return for_html(str(s))


def _table(t: Table) -> str:
    out = ["<table>"]
    if t.title:
        out.append(f"<caption>{_e(t.title)}</caption>")
    if any(t.columns):
        out.append("<thead><tr>" + "".join(f"<th>{_e(c)}</th>" for c in t.columns))
        out.append("</tr></thead>")
    out.append("<tbody>")
    for r in t.rows:
        cells = (
            f'<td class="num">{_e(c)}</td>' if i in t.numeric else f"<td>{_e(c)}</td>"
            for i, c in enumerate(r)
        )
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if t.note:
        out.append(f'<p class="note">{_e(t.note)}</p>')
    return "\n".join(out)


def _excerpt(e: Excerpt) -> str:
    lines = [
        f'<span class="ln">{line.line_no:>6} </span>{_e(line.text)}'
        if line.line_no is not None
        else f'<span class="gap">{_e(line.text)}</span>'
        for line in e.lines
    ]
    return "<pre>" + "\n".join(lines) + "</pre>"


def _finding(f: Finding) -> str:
    sev = _e(f.severity)
    lines_of = f"; lines {_e(f.evidence)}" if f.evidence else ""
    head = (
        f'<p><span class="sev {sev}">{_e(f.severity.upper())}</span> {_e(f.text)} '
        f'<span class="where">({_e(f.where)}{lines_of})</span></p>'
    )
    body = _excerpt(f.excerpt) if f.excerpt is not None else ""
    return f'<div class="finding {sev}">{head}{body}</div>'


def _figure(f: Figure, css: str = "") -> str:
    data = base64.b64encode(f.data).decode("ascii")
    klass = f' class="{css}"' if css else ""
    return (
        f'<figure{klass}><img alt="{_e(f.title)}" src="data:{_e(f.mime)};base64,{data}">'
        f"<figcaption>{_e(f.title)}</figcaption></figure>"
    )


def _block(b: Block) -> str:
    if isinstance(b, Paragraph):
        return f"<li>{_e(b.text)}</li>" if b.bullet else f"<p>{_e(b.text)}</p>"
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Finding):
        return _finding(b)
    if isinstance(b, Excerpt):
        return _excerpt(b)
    if isinstance(b, Figure):
        return _figure(b)
    raise TypeError(type(b))


def _section(s: Section) -> str:
    out = [f'<section id="{_e(s.key)}"><h2>{_e(s.title)}</h2>']
    in_list = False
    for b in s.blocks:
        bullet = isinstance(b, Paragraph) and b.bullet
        if bullet != in_list:
            out.append("<ul>" if bullet else "</ul>")
            in_list = bullet
        out.append(_block(b))
    if in_list:
        out.append("</ul>")
    out.append("</section>")
    return "\n".join(out)


def render_html(report: Report, figures: Sequence[Figure] = ()) -> str:
    """The report as one HTML document (figures embedded). The first figure (the timeline)
    leads: beside the findings, so that the first screen shows verdict, timeline and
    evidence; the others follow the findings and episodes."""
    lead = _figure(figures[0], "lead") if figures else ""
    sections = with_figures(report.sections, figures[1:])
    v = report.verdict
    sev = _e(v.severity or "")
    label = f"Verdict ({_e(v.severity)})" if v.severity else "Verdict"
    keys = "".join(f"<li>{_e(k)}: <b>{_e(val)}</b></li>" for k, val in report.key_numbers)
    nav = "".join(f'<a href="#{_e(s.key)}">{_e(s.title)}</a>' for s in sections)
    head = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(report.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
    )
    top = (
        f"<header><h1>{_e(report.title)}</h1>\n"
        f'<p class="verdict {sev}"><b>{label}:</b> {_e(v.text)}</p>\n'
        f'<ul class="keys">{keys}</ul>\n<nav>{nav}</nav></header>\n'
    )
    body = "\n".join(_section(s) for s in sections)
    return f"{head}{top}<main>\n{lead}{body}\n</main>\n</body>\n</html>\n"
