"""`--redact`, `--redact-comm`, `--redact-map` (stalllog/output/redact.py does the work)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

# pyarrow comes with the redactor: only commands that redact pay for it
if TYPE_CHECKING:
    from stalllog.output.redact import Redactor


def make_redactor(redact: bool, comm: bool, map_file: Path | None) -> Redactor | None:
    """One redactor for the run (stable pseudonyms), or None when nothing asked for it."""
    if not (redact or comm or map_file):
        return None
    if map_file is not None and not (map_file.parent or Path(".")).is_dir():
        # found before a long parse, not after it
        from stalllog.output.safe import for_terminal

        shown = for_terminal(str(map_file.parent), markup=False)
        raise typer.BadParameter(f"{shown} is not a directory", param_hint="--redact-map")
    from stalllog.output.redact import Redactor

    return Redactor(comm=comm)


def write_map_or_fail(map_file: Path | None, redactor: Redactor | None) -> None:
    """Write the mapping the user asked for; one line and exit 1 when it cannot be written."""
    if map_file is None or redactor is None:
        return
    from stalllog.output.redact import write_map
    from stalllog.output.safe import for_terminal

    try:
        write_map(map_file, redactor)
    except OSError as e:
        shown = for_terminal(f"{map_file}: {e.strerror or e}", markup=False)
        sys.stderr.write(f"stalllog: {shown}\n")
        raise typer.Exit(1) from None


def learn_hosts_up_front(redactor: Redactor | None, captures: list[str]) -> None:
    """The host names of the inputs' syslog/journal prefixes, known before the first `lines`
    batch is rewritten: a host a message names before its own first line gets its pseudonym
    too. Files only (a pipe cannot be read twice); an unreadable one is the parse's to report."""
    if redactor is None:
        return
    from stalllog.input.reader import CaptureError
    from stalllog.output.redact import scan_hosts

    for capture in captures:
        path = Path(capture)
        if capture == "-" or not (path.is_file() or path.is_dir()):
            continue
        files = [path] if path.is_file() else sorted(
            p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
        )  # fmt: skip
        for f in files:
            try:
                redactor.learn_hosts(sorted(scan_hosts(f)))
            except (OSError, CaptureError):
                continue
