"""`stalllog plot`: one figure of the captures (stalllog.plot) written to a PNG, SVG or PDF.

Registered on the `stalllog` app when stalllog.cli is imported; matplotlib is imported only
when the command runs."""

from __future__ import annotations

import enum
import io
from pathlib import Path
from typing import Annotated

import typer

from stalllog.cli.app import _fail, _run, _warn, app
from stalllog.cli.options import CapturesArg, HzOption, MaxBytesOption

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
DPI = 100


class Kind(enum.StrEnum):
    timeline = "timeline"
    memory = "memory"
    task_stalls = "task_stalls"
    reclaim_classes = "reclaim_classes"
    victims_rss = "victims_rss"


_KIND_HELP = (
    "timeline: stalled tasks, delays, OOM kills, oom_lock held, printk loss over time; "
    "memory: free vs min/low/high per zone; task_stalls: the longest stalled tasks; "
    "reclaim_classes: what stalled tasks were doing, per episode; victims_rss: RSS of the "
    "OOM victims."
)


def _format_of(out: Path) -> str:
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise typer.BadParameter(
            f"the file name must end in {', '.join(FORMATS)} (the format)", param_hint="--out"
        )
    return fmt


@app.command(epilog="Example: stalllog plot console.log.xz --kind timeline -o timeline.png")
def plot(
    captures: CapturesArg,
    kind: Annotated[Kind, typer.Option("--kind", "-k", help=_KIND_HELP)] = Kind.timeline,
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Figure file; its suffix gives the format: .png, .svg or .pdf."
        ),
    ] = Path("stalllog-plot.png"),
    boot: Annotated[
        int | None,
        typer.Option(
            "--boot",
            min=0,
            metavar="N",
            help="Plot boot N only (timeline and memory default to the boot with the most "
            "data; the bar charts to all boots).",
        ),
    ] = None,
    hz: HzOption = None,
    max_bytes: MaxBytesOption = None,
) -> None:
    """Parse captures and draw one figure of them. A capture without what the figure needs
    (no OOM kill for victims_rss, ...) is an error (exit 1) and writes no file."""
    fmt = _format_of(out)
    try:
        import matplotlib
    except ImportError:
        _fail("stalllog plot needs matplotlib (a dependency of stalllog): pip install matplotlib")
    from stalllog.engine.capture import Capture
    from stalllog.output.atomic import OutputError, write_file
    from stalllog.plot import KINDS, NoData
    from stalllog.report.summary import source_warnings

    result = _run(captures, None, "parquet", set(), True, True, hz, max_bytes=max_bytes)
    if "sources" in result.tables:
        for source, problem in source_warnings(result.tables["sources"], result.stats):
            _warn(source, problem)
    try:
        fig = KINDS[kind.value](Capture(result.tables), boot=boot, strict=True)
    except NoData as e:
        _fail(f"{e}: no {kind.value} plot written")
    buf = io.BytesIO()
    # no date in SVG/PDF metadata, fixed SVG ids: the same capture gives the same file
    with matplotlib.rc_context({"svg.hashsalt": "stalllog"}):
        fig.savefig(buf, format=fmt, dpi=DPI, metadata={"Date": None} if fmt != "png" else None)
    try:
        write_file(out, buf.getvalue())
    except OutputError as e:
        _fail(str(e))
