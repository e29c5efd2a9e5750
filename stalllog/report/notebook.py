"""`Capture._repr_html_()`: what Jupyter shows for a Capture. Small and static (no script, no
style sheet): the inputs, boots and kernels, the verdict with the worst findings, and every
table with its row count. Every string from the capture (file, kernel, task and host names,
finding text) goes through `for_html`."""

from __future__ import annotations

from typing import Any

from stalllog.engine.capture import Capture
from stalllog.output.safe import for_html
from stalllog.report.facts import summary_facts


def _e(s: object) -> str:
    return for_html(str(s))


def _row(*cells: object, head: bool = False) -> str:
    tag = "th" if head else "td"
    return "<tr>" + "".join(f"<{tag}>{_e(c)}</{tag}>" for c in cells) + "</tr>"


def _findings(findings: dict[str, Any] | None) -> list[str]:
    if findings is None:
        return ["<p>analysis not run</p>"]
    counts = ", ".join(f"{n} {s}" for s, n in findings["by_severity"].items() if n)
    out = [f"<p><b>findings</b>: {findings['total']}{_e(f' ({counts})' if counts else '')}</p>"]
    if findings["worst"]:
        out.append("<table>" + _row("severity", "kind", "boot", "finding", "lines", head=True))
        out += [_row(f["severity"], f["kind"], f["boot"], f["text"], f["evidence"] or "")
                for f in findings["worst"]]  # fmt: skip
        out.append("</table>")
    return out


def capture_html(cap: Capture) -> str:
    facts = summary_facts(cap)
    boots, lines, oom = facts["boots"], facts["lines"], facts["oom"]
    kernels = ", ".join(f"{k} ×{n}" if n > 1 else k for k, n in boots["by_release"].items())
    head = (
        f"{len(facts['inputs'])} input(s), {lines['total']:,} lines ({lines['unparsed']:,} "
        f"unparsed), {boots['count']} boot(s), kernels: {kernels or 'unknown'}"
    )
    filled = {name: t.num_rows for name, t in cap.arrow.items() if t.num_rows}
    hosts = f"; hosts: {', '.join(boots['hosts'])}" if boots["hosts"] else ""
    out = [
        '<div class="stalllog-capture">',
        f"<p><b>stalllog Capture</b>: {_e(head + hosts)}</p>",
        f"<p>{oom['invocations']} OOM invocation(s), {oom['kills']} kill(s)"
        + "".join(f"; {_e(v['comm'])} ×{v['kills']}" for v in oom["top_victims"])
        + "</p>",
        *_findings(facts["findings"]),
        f"<details><summary>{len(filled)} non-empty table(s) of {len(cap.arrow)}: "
        "cap.&lt;name&gt; is a DataFrame</summary><table>" + _row("table", "rows", head=True),
        *(_row(name, f"{n:,}") for name, n in filled.items()),
        "</table></details>",
        *(f"<p>warning: {_e(w['source'])}: {_e(w['message'])}</p>" for w in facts["warnings"]),
        "</div>",
    ]
    return "\n".join(out)
