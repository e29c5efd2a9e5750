"""`stalllog report CAPTURE... -o FILE`: the analysis as one HTML, Markdown or text file.

Registered on the `app` of app.py when the package `stalllog.cli` is imported."""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stalllog.cli.app import _check_inputs, _check_tz, _fail, _shown, _warn, app
from stalllog.cli.options import (
    CapturesArg,
    HzOption,
    MaxBytesOption,
    RedactCommOption,
    RedactMapOption,
    RedactOption,
    TzOption,
    YearOption,
)
from stalllog.cli.redaction import make_redactor, write_map_or_fail

if TYPE_CHECKING:
    from stalllog.engine.capture import Capture
    from stalllog.report.model import Report


class ReportFormat(enum.StrEnum):
    html = "html"
    md = "md"
    txt = "txt"


SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".txt": "txt"}


def report_format(out: Path, given: ReportFormat | None) -> ReportFormat:
    """--format, else the suffix of -o; a usage error when neither says."""
    if given is not None:
        return given
    if str(out) == "-":
        return ReportFormat.txt
    fmt = SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        raise typer.BadParameter(
            f"cannot tell the format from {_shown(str(out))!r}: name it .html, .md or .txt, "
            "or give --format",
            param_hint="--out",
        )
    return ReportFormat(fmt)


def _parse(
    captures: list[str], hz: int | None, max_bytes: int | None, tz: str | None, year: int | None
) -> Capture:
    from stalllog.engine.capture import parse
    from stalllog.input.reader import CaptureError

    _check_tz(tz)
    _check_inputs(captures)
    try:
        return parse(*captures, hz=hz, max_bytes=max_bytes, tz=tz, year=year)
    except CaptureError as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"{e.filename or ', '.join(captures)}: {e.strerror or e}")
    except Exception as e:
        if os.environ.get("STALLLOG_DEBUG"):
            raise
        _fail(
            f"{', '.join(captures)}: internal error ({type(e).__name__}: {e}); "
            "please report it (STALLLOG_DEBUG=1 shows the traceback)"
        )


def _warn_sources(tables: dict[str, Any]) -> None:
    from stalllog.engine.linestats import LineStats
    from stalllog.report.summary import source_warnings

    stats = LineStats.of(tables["lines"], tables.get("unparsed"))
    for source, problem in source_warnings(tables["sources"], stats):
        _warn(source, problem)


def render(
    model: Report, fmt: ReportFormat, out: Path, cap: Capture | None = None
) -> tuple[bytes, dict[str, bytes]]:
    """The report file's bytes and the files (figures) to write beside it; figures of `cap`
    in HTML (SVG, embedded) and Markdown (PNG beside it), none in plain text."""
    from stalllog.report.figures import report_figures
    from stalllog.report.html import render_html
    from stalllog.report.markdown import render_markdown
    from stalllog.report.text import render_text

    if fmt is ReportFormat.html:
        figures = report_figures(cap, "svg") if cap is not None else []
        return render_html(model, figures).encode(), {}
    if fmt is ReportFormat.md:
        figures = report_figures(cap, "png") if cap is not None else []
        text, assets = render_markdown(model, figures, asset_stem=out.stem or "report")
        return text.encode(), assets
    return render_text(model).encode(), {}


@app.command(epilog="Example: stalllog report serial.log.xz -o report.html   (or .md, .txt)")
def report(
    captures: CapturesArg,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Report file: .html (one self-contained page), .md (Markdown for trackers) "
            "or .txt (80 columns, for mailing lists); '-' writes to standard output.",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        ReportFormat | None,
        typer.Option("--format", "-f", help="html, md or txt (default: from the suffix of -o)."),
    ] = None,
    hz: HzOption = None,
    max_bytes: MaxBytesOption = None,
    redact: RedactOption = False,
    redact_comm: RedactCommOption = False,
    redact_map: RedactMapOption = None,
    tz: TzOption = None,
    year: YearOption = None,
) -> None:
    """Parse captures and write a report: the verdict and key numbers first, then findings
    with the log lines that prove them, episodes, OOM kills, stalled tasks, oom_lock, reclaim,
    per-OOM explanations with what to look at, and the capture summary."""
    from stalllog.output.atomic import OutputError, write_file
    from stalllog.report.model import build_report

    chosen = report_format(out, fmt)
    redactor = make_redactor(redact, redact_comm, redact_map)
    cap = _parse(captures, hz, max_bytes, tz, year)
    tables = cap.arrow
    if redactor is not None:  # the analysis ran on the original; the report shows none of it
        from stalllog.engine.capture import Capture

        tables = redactor.tables(tables)
        cap = Capture(tables)
    _warn_sources(tables)
    names = ", ".join(Path(c).name if c != "-" else "<stdin>" for c in captures)
    if redactor is not None:  # a capture is often named after its host
        names = redactor.text(names)
    model = build_report(tables, title=f"stalllog report: {names}")
    data, assets = render(model, chosen, out, cap)
    if str(out) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        write_map_or_fail(redact_map, redactor)
        return
    try:
        for name, content in assets.items():
            write_file(out.parent / name, content)
        write_file(out, data)  # last: the report never links a figure not yet written
    except OutputError as e:
        _fail(str(e))
    write_map_or_fail(redact_map, redactor)
