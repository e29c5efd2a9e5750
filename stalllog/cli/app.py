"""`stalllog` command line: parse captures into table files, summarize them, list tables.

Exit status: 0 done (a truncated archive or an empty input only warns: what could be read was
written), 1 an input could not be read or the output not written (one line on stderr:
`stalllog: <file or output path>: <reason>`), 2 wrong usage. The output directory is replaced
as a whole (docs/outputs.md).
"""

from __future__ import annotations

import enum
import errno
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from stalllog import __version__
from stalllog.cli.console import print_trimmed
from stalllog.cli.group import Group
from stalllog.cli.options import (
    CapturesArg,
    FollowOption,
    ForceOption,
    HzOption,
    JobsOption,
    JsonOption,
    MaxBytesOption,
    OutOption,
    RedactCommOption,
    RedactMapOption,
    RedactOption,
    TablesOption,
    TzOption,
    YearOption,
)
from stalllog.cli.redaction import learn_hosts_up_front, make_redactor, write_map_or_fail
from stalllog.cli.tables_cmd import tables_cmd
from stalllog.output.hashing import HashedInput

# pyarrow, pandas, rich and the parsers are imported by the commands that use them, so that
# `--help`, `--version` and usage errors start fast (tests/test_cli_startup.py)
if TYPE_CHECKING:
    from rich.progress import Progress

    from stalllog.input.reader import SourceLike
    from stalllog.output.redact import Redactor
    from stalllog.output.writers import Result

PROGRESS_MIN_BYTES = 4 << 20  # smaller inputs parse in well under a second

app = typer.Typer(
    name="stalllog",
    help="Parse Linux kernel console captures about memory pressure (OOM killer, warn_alloc, "
    "kmallocwd, hung tasks, SysRq dumps) into tables.",
    epilog="Example: stalllog parse console.log.xz -o out  (then: stalllog summary console.log.xz)",
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=Group,
)


class Format(enum.StrEnum):
    parquet = "parquet"
    csv = "csv"
    json = "json"


def _safe(s: object) -> str:
    from stalllog.output.safe import for_terminal

    return for_terminal(str(s), markup=False)


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"stalllog: {_safe(message)}\n")
    raise typer.Exit(1)


def _warn(source: str, message: str) -> None:
    sys.stderr.write(f"stalllog: {_safe(source)}: warning: {_safe(message)}\n")


def _check_tz(tz: str | None) -> None:
    """An unknown zone is a usage error, before any input is read."""
    if tz is None:
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(
            f"unknown time zone {tz!r} (an IANA name: Europe/Berlin, UTC)", param_hint="--tz"
        ) from None


def _check_inputs(captures: list[str]) -> int | None:
    """Fail (exit 1) on the first input that cannot be opened; total bytes on disk, or None
    when reading stdin."""
    if captures.count("-") > 1:
        raise typer.BadParameter("stdin ('-') can be given only once", param_hint="CAPTURE")
    total: int | None = 0
    for path in captures:
        if path == "-":
            total = None
            continue
        if os.path.isdir(path):
            _fail(f"{_shown(path)}: is a directory, not a capture file")
        try:
            if stat.S_ISFIFO(os.stat(path).st_mode):
                # opening a named pipe here would use up its writer's one connection
                if not os.access(path, os.R_OK):
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
                size = 0
            else:
                with open(path, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
        except OSError as e:
            _fail(f"{_shown(path)}: {e.strerror or e}")
        if total is not None:
            total += size
    return total


def _shown(path: str) -> str:
    """A path as text: bytes of a file name that are not UTF-8 become `\\xNN` (the tables
    store the name as UTF-8)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class _Inputs:
    """Opens the inputs one at a time as the parser asks for them and knows how far it got
    in bytes on disk (compressed inputs included), for the progress bar."""

    def __init__(self, captures: list[str], follow: bool = False) -> None:
        self.captures = captures
        self.follow = follow
        self.done = 0
        self.current: IO[bytes] | None = None
        self.name = ""
        self.opened: list[HashedInput] = []

    def __iter__(self) -> Iterator[SourceLike]:
        from stalllog.input.reader import CaptureError

        for path in self.captures:
            self.name = _shown(path)
            try:
                # read through sha256 for the manifest: the only read of each input
                f = HashedInput(path, self.name, self.follow)
            except OSError as e:
                raise CaptureError(f"{_shown(path)}: {e.strerror or e}") from None
            self.opened.append(f)
            self.current = f
            try:
                yield f
            finally:
                # the parser closes uncompressed inputs itself, not the file under a decompressor
                self.done += f.size or 0
                self.current = None
                f.close()

    def records(self) -> list[dict[str, Any]]:
        """The manifest's `inputs`."""
        return [f.record() for f in self.opened]

    def position(self) -> int:
        pos = self.done
        if self.current is not None and not self.current.closed:
            pos += self.current.tell()
        return pos


def _run(
    captures: list[str],
    out_dir: Path | None,
    fmt: str,
    tables: set[str] | None,
    csv_safe: bool,
    quiet: bool,
    hz: int | None = None,
    analysis: bool = True,
    force: bool = False,
    max_bytes: int | None = None,
    jobs: int | None = 1,  # None: default_jobs()
    follow: bool = False,
    stream: IO[str] | None = None,
    redactor: Redactor | None = None,
    tz: str | None = None,
    year: int | None = None,
) -> Result:
    from stalllog.input.clock import Clock
    from stalllog.input.reader import CaptureError
    from stalllog.output.atomic import OutputError
    from stalllog.output.parallel import ParallelInputs, default_jobs
    from stalllog.output.writers import parse_to_files

    total = _check_inputs(captures)
    if not follow:  # a followed input is live: read once, as it comes, in this process
        learn_hosts_up_front(redactor, captures)
    parallel = None if follow else ParallelInputs.of(captures, jobs or default_jobs(), _shown)
    inputs = parallel or _Inputs(captures, follow)
    show_bar = not quiet and total is not None and total > PROGRESS_MIN_BYTES and _terminal()
    more: dict[str, Any] = {"hz": hz, "analysis": analysis, "force": force, "stream": stream,
                            "inputs": inputs.records, "max_bytes": max_bytes,
                            "redactor": redactor, "clock": Clock(tz, year)}  # fmt: skip
    try:
        if not show_bar:
            return parse_to_files(inputs, out_dir, fmt, tables, csv_safe, **more)
        return _parse_with_bar(inputs, total, (out_dir, fmt, tables, csv_safe), more)
    except (CaptureError, OutputError) as e:
        # OutputError names the output path as given with -o
        _fail(str(e))
    except OSError as e:
        _fail(f"{e.filename or inputs.name}: {e.strerror or e}")
    except Exception as e:
        # a parser bug must not look like a crash of the user's making; the file is named
        if os.environ.get("STALLLOG_DEBUG"):
            raise
        _fail(
            f"{inputs.name}: internal error ({type(e).__name__}: {e}); "
            "please report it (STALLLOG_DEBUG=1 shows the traceback)"
        )


def _parse_with_bar(
    inputs: Any, total: int | None, out: tuple[Path | None, str, set[str] | None, bool],
    more: dict[str, Any],
) -> Result:  # fmt: skip
    """parse_to_files under a progress bar; out: (out_dir, fmt, tables, csv_safe)."""
    from stalllog.output.safe import for_terminal
    from stalllog.output.writers import parse_to_files

    bar = _progress_bar()
    with bar:
        task = bar.add_task("parsing", total=total)

        def progress(name: str, n_bytes: int, size: int | None) -> None:
            # the description is rich markup: a file named `[link=...]x[/link]` must not
            # become a terminal hyperlink
            shown = for_terminal(Path(name).name, markup=True)
            bar.update(task, completed=inputs.position(), description=shown)

        out_dir, fmt, tables, csv_safe = out
        return parse_to_files(inputs, out_dir, fmt, tables, csv_safe, progress, **more)


def _progress_bar() -> Progress:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    return Progress(
        "{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def _terminal() -> bool:
    return sys.stderr.isatty()


def _report(
    result: Result, quiet: bool, as_json: bool = False, hz: int | None = None,
    stderr: bool = False,
) -> None:  # fmt: skip
    """Warnings, then the summary (text, or JSON facts) on stdout, or stderr when stdout
    carries the tables (`parse -o -`)."""
    from rich.console import Group
    from rich.text import Text

    from stalllog.report.facts import facts_json, summary_facts
    from stalllog.report.summary import source_warnings, summarize

    if "sources" in result.tables:
        for source, problem in source_warnings(result.tables["sources"], result.stats):
            _warn(source, problem)
    for left in result.leftovers:
        _warn(str(left), "left over from an interrupted stalllog run (see docs/outputs.md)")
    if quiet:
        return
    if as_json:
        written = None
        if result.manifest is not None:
            written = {**result.paths, "manifest": result.manifest}
        facts = summary_facts(result.tables, result.stats, hz, written)
        (sys.stderr if stderr else sys.stdout).write(facts_json(facts) + "\n")
        return
    shown = summarize(result.tables, result.stats)
    if result.paths:
        directory = next(iter(result.paths.values())).parent
        wrote = f"wrote {len(result.paths)} table(s) and manifest.json to {_safe(directory)}/"
        shown = Group(shown, Text(wrote, style="bold"))
    print_trimmed(shown, stderr)


def _table_names() -> list[str]:
    from stalllog.engine.schema import all_schemas

    return [t.name for t in all_schemas()]


def _parse_tables(spec: str | None, no_lines: bool) -> set[str] | None:
    if spec is None and not no_lines:
        return None
    from stalllog.output.writers import OPT_IN

    names = set(_table_names())
    chosen = names - OPT_IN if spec is None else {s.strip() for s in spec.split(",") if s.strip()}
    unknown = sorted(chosen - names)
    if unknown:
        raise typer.BadParameter(
            f"unknown table(s) {_safe(', '.join(unknown))}; see `stalllog tables`",
            param_hint="--tables",
        )
    if no_lines:
        chosen.discard("lines")
    return chosen


def _version(value: bool) -> None:
    if value:
        print(f"stalllog {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Parse Linux kernel console captures about memory pressure (OOM killer, warn_alloc,
    kmallocwd, hung tasks, SysRq dumps) into tables."""


def _check_out(out: Path, fmt: Format | None) -> None:
    """Usage errors of -o (exit 2); the rest is checked by the output layer (exit 1)."""
    if str(out) == "-":
        if fmt not in (None, Format.json):
            raise typer.BadParameter(
                "'-' streams JSON Lines: no --format, or --format json", param_hint="--out"
            )
        return
    if os.path.exists(out) and not os.path.isdir(out):  # these two never raise
        raise typer.BadParameter(f"{_safe(out)} exists and is not a directory", param_hint="--out")


@app.command(
    epilog="Example: stalllog parse serial.log.xz dmesg.txt -o out --format csv "
    "--tables events,boots"
)
def parse(
    captures: CapturesArg,
    out: OutOption = Path("stalllog-out"),
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-f",
            help="parquet (types kept; the default), csv (strings quoted, formula-like cells "
            "prefixed with '), or json (JSON Lines, .jsonl; the only one with -o -).",
            show_default=False,
        ),
    ] = None,
    tables: TablesOption = None,
    no_lines: Annotated[
        bool, typer.Option("--no-lines", help="Do not write the (big) lines table.")
    ] = False,
    csv_raw: Annotated[
        bool,
        typer.Option(
            "--csv-raw",
            help="CSV: write cells starting with = + - @ as they are (unsafe to open in a "
            "spreadsheet).",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary.")] = False,
    hz: HzOption = None,
    no_analysis: Annotated[
        bool,
        typer.Option(
            "--no-analysis",
            help="Skip the analysis tables (findings, episodes, stalled_tasks, oom_lock, ...).",
        ),
    ] = False,
    force: ForceOption = False,
    max_bytes: MaxBytesOption = None,
    jobs: JobsOption = None,
    follow: FollowOption = False,
    as_json: JsonOption = False,
    redact: RedactOption = False,
    redact_comm: RedactCommOption = False,
    redact_map: RedactMapOption = None,
    tz: TzOption = None,
    year: YearOption = None,
) -> None:
    """Parse captures and write DIR/<table>.<ext> for every table and DIR/manifest.json, then
    print a summary. DIR is replaced as a whole once everything is written."""
    _check_tz(tz)
    chosen = _parse_tables(tables, no_lines)
    _check_out(out, fmt)
    to_stdout = str(out) == "-"
    fmt_name = "json" if to_stdout else (fmt or Format.parquet).value
    redactor = make_redactor(redact, redact_comm, redact_map)
    result = _run(
        captures, None if to_stdout else out, fmt_name, chosen, not csv_raw, quiet, hz,
        not no_analysis, force, max_bytes, jobs, follow, stream=sys.stdout if to_stdout else None,
        redactor=redactor, tz=tz, year=year,
    )  # fmt: skip
    write_map_or_fail(redact_map, redactor)
    _report(result, quiet, as_json, hz, stderr=to_stdout)


@app.command(epilog="Example: stalllog summary /var/log/kern.log.1.gz   (or --json for scripts)")
def summary(
    captures: CapturesArg,
    hz: HzOption = None,
    as_json: JsonOption = False,
    max_bytes: MaxBytesOption = None,
    follow: FollowOption = False,
    redact: RedactOption = False,
    redact_comm: RedactCommOption = False,
    redact_map: RedactMapOption = None,
    tz: TzOption = None,
    year: YearOption = None,
) -> None:
    """Parse captures and print the summary only; writes no file."""
    _check_tz(tz)
    redactor = make_redactor(redact, redact_comm, redact_map)
    result = _run(captures, None, "parquet", None, True, False, hz, max_bytes=max_bytes,
                  follow=follow, redactor=redactor, tz=tz, year=year)  # fmt: skip
    write_map_or_fail(redact_map, redactor)
    _report(result, False, as_json, hz)


@app.command(epilog="Example: stalllog analyze serial.log.xz   (or --json for scripts)")
def analyze(
    captures: CapturesArg,
    hz: HzOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the analysis tables as one JSON object {table: [row, ...]} instead.",
        ),
    ] = False,
    max_bytes: MaxBytesOption = None,
    follow: FollowOption = False,
    redact: RedactOption = False,
    redact_comm: RedactCommOption = False,
    redact_map: RedactMapOption = None,
) -> None:
    """Parse captures and say what happened: stall episodes, who held oom_lock, what the stalled
    tasks were doing, and findings with the lines that prove them. Writes no file."""
    from stalllog.report.analysis import analysis_json, analysis_report
    from stalllog.report.summary import source_warnings

    redactor = make_redactor(redact, redact_comm, redact_map)
    result = _run(captures, None, "parquet", set(), True, True, hz, max_bytes=max_bytes,
                  follow=follow, redactor=redactor)  # fmt: skip
    write_map_or_fail(redact_map, redactor)
    if "sources" in result.tables:
        for source, problem in source_warnings(result.tables["sources"], result.stats):
            _warn(source, problem)
    if as_json:
        sys.stdout.write(analysis_json(result.tables) + "\n")
        return
    print_trimmed(analysis_report(result.tables))


app.command(name="tables", epilog="Example: stalllog tables   (or: stalllog tables events)")(
    tables_cmd
)


def main() -> None:
    # Arrow's buffers from glibc malloc, not its bundled mimalloc: 10-15 % less peak memory
    # (storm 128 MiB 1148 -> 986 MB, production 256 MiB 347 -> 313 MB) at the same CPU. Set
    # before pyarrow is imported (it reads this once); workers of --jobs inherit it; a value
    # the user gave stays. Only the CLI's own process: `import stalllog` changes nothing.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    app()
