"""`stalllog vmcore VMCORE --vmlinux VMLINUX`: what a vmcore of a stalling machine says.

Registered on the `app` of app.py when the package `stalllog.cli` is imported. The dump is
read by the drgn collector (the `vmcore` extra) into a document (stalllog/vmcore/collected.py);
`--from-json` reads a saved document instead, without drgn. Errors: one line
`stalllog: <path>: <reason>`, exit 1.
"""

from __future__ import annotations

import enum
import errno
import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stalllog.cli.app import Format, _fail, _shown, app
from stalllog.cli.options import ForceOption
from stalllog.cli.redaction import make_redactor

if TYPE_CHECKING:
    from stalllog.output.redact import Redactor
    from stalllog.vmcore.read import VmcoreResult

DRGN_MISSING = "reading a vmcore needs drgn: pip install 'stalllog[vmcore]'"


class ClueFormat(enum.StrEnum):
    text = "text"
    json = "json"


def _collect(vmcore: Path | None, vmlinux: Path, kcore: bool) -> dict[str, Any]:
    """The collector's document; exit 1 with one line when it cannot be read."""
    shown = _shown(str(vmcore or "/proc/kcore"))
    for path in (p for p in (vmcore, vmlinux) if p is not None):
        if not path.is_file():  # before drgn is loaded: the common mistake, told at once
            code = errno.EISDIR if path.is_dir() else errno.ENOENT
            _fail(f"{_shown(str(path))}: {os.strerror(code)}")
    try:
        collector = importlib.import_module("stalllog.vmcore.collect")
    except ModuleNotFoundError as e:
        if e.name == "drgn":
            _fail(f"{shown}: {DRGN_MISSING}")
        _fail(f"{shown}: this stalllog has no vmcore collector ({e.name})")
    try:
        doc: dict[str, Any] = collector.collect(vmcore, vmlinux, kcore=kcore)
    except collector.CollectError as e:  # its message says what, often where
        named = any(str(e).startswith(f"{p}: ") for p in (vmcore, vmlinux) if p is not None)
        _fail(str(e) if named else f"{shown}: {e}")
    except OSError as e:
        _fail(f"{_shown(e.filename or shown)}: {e.strerror or e}")
    except Exception as e:  # drgn's errors (FaultError, ...) share no base class with ours
        if os.environ.get("STALLLOG_DEBUG"):
            raise
        _fail(f"{shown}: cannot read the dump ({type(e).__name__}: {str(e)[:200]})")
    return doc


def _read(doc_or_path: dict[str, Any] | Path, shown: str) -> VmcoreResult:
    from stalllog.vmcore.read import read

    try:
        return read(doc_or_path)
    except OSError as e:
        _fail(f"{shown}: {e.strerror or e}")
    except ValueError as e:
        _fail(f"{shown}: {e}")
    except Exception as e:
        if os.environ.get("STALLLOG_DEBUG"):
            raise
        _fail(
            f"{shown}: internal error ({type(e).__name__}: {str(e)[:200]}); please report it "
            "(STALLLOG_DEBUG=1 shows the traceback)"
        )


def _inputs(document: Path | None, dump: Path | None) -> list[dict[str, Any]]:
    """The manifest's `inputs`: a saved document hashed; a dump (gigabytes) only named."""
    from stalllog.output import manifest

    if document is not None:
        return [manifest.hash_file(document)]
    if dump is None:  # --kcore
        return [{"name": "/proc/kcore", "sha256": None, "hashed": "not hashed (live memory)"}]
    return [{"name": str(dump), "size": dump.stat().st_size, "sha256": None,
             "hashed": "not hashed (a dump)"}]  # fmt: skip


def _write_outputs(
    res: VmcoreResult, out: Path | None, fmt: Format, force: bool,
    read_from: tuple[Path | None, Path | None], redactor: Redactor | None,
) -> None:  # fmt: skip
    """read_from: (the saved document, the dump), the one read."""
    from stalllog.output.atomic import OutputError
    from stalllog.vmcore.files import write_result

    if out is None:
        return
    inputs = _inputs(*read_from)
    try:
        write_result(res, out, fmt=fmt.value, force=force, inputs=inputs, redactor=redactor)
    except OutputError as e:
        _fail(str(e))


def _write_clue(
    res: VmcoreResult, clue: str, fmt: ClueFormat, log_lines: int, redactor: Redactor | None
) -> None:
    from stalllog.output.atomic import OutputError, write_file
    from stalllog.vmcore.clue import render_clue

    text = render_clue(res, fmt.value, log_lines=log_lines, redactor=redactor)
    if clue == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        write_file(Path(clue), text.encode())
    except OutputError as e:
        _fail(str(e))


def _save_json(doc: dict[str, Any], path: Path) -> None:
    from stalllog.output.atomic import OutputError
    from stalllog.vmcore.document import save

    try:
        save(doc, path)
    except OutputError as e:
        _fail(str(e))


def _check_usage(vmcore: Path | None, vmlinux: Path | None, kcore: bool, doc: Path | None) -> None:
    if doc is not None:
        if vmcore is not None or kcore:
            raise typer.BadParameter("give a VMCORE, --kcore or --from-json, not two of them")
        return
    if vmcore is None and not kcore:
        raise typer.BadParameter("give a VMCORE (or --kcore, or --from-json DOC.json)")
    if vmcore is not None and kcore:
        raise typer.BadParameter("--kcore reads the running kernel: give no VMCORE with it")
    if vmlinux is None:
        raise typer.BadParameter("reading a dump needs --vmlinux (the kernel's debug image)")


VmcoreArg = Annotated[
    Path | None,
    typer.Argument(metavar="VMCORE", help="The dump: a kdump/makedumpfile vmcore, `virsh dump "
                   "--memory-only` or QEMU `dump-guest-memory` file.", show_default=False),
]  # fmt: skip
VmlinuxOption = Annotated[
    Path | None,
    typer.Option("--vmlinux", metavar="VMLINUX", help="The dumped kernel's vmlinux with debug "
                 "info (Debian linux-image-*-dbg, Ubuntu *-dbgsym, Fedora kernel-debuginfo)."),
]  # fmt: skip
KcoreOption = Annotated[
    bool, typer.Option("--kcore", help="Read the running kernel (/proc/kcore, as root) instead.")
]
FromJsonOption = Annotated[
    Path | None,
    typer.Option("--from-json", metavar="DOC", help="Analyse a document saved with --json "
                 "(.json or .json.xz) instead of a dump: no drgn needed."),
]  # fmt: skip
VmcoreOutOption = Annotated[
    Path | None,
    typer.Option("--out", "-o", metavar="DIR", help="Write the tables (the printk ring's, the "
                 "analysis and the vmcore_* tables) and manifest.json; DIR is replaced whole."),
]  # fmt: skip
ClueOption = Annotated[
    str | None,
    typer.Option("--clue", metavar="FILE", help="Write the clue, the small redacted report to "
                 "send instead of the dump ('-': standard output; the default without -o)."),
]  # fmt: skip
JsonOutOption = Annotated[
    Path | None,
    typer.Option("--json", metavar="FILE", help="Save the collector's document (xz when FILE "
                 "ends in .xz): it holds kernel memory facts, not redacted."),
]  # fmt: skip
VmcoreRedactOption = Annotated[
    bool,
    typer.Option("--redact", help="Redact the -o tables too, as `parse --redact` does (the "
                 "clue always is; the --json document never)."),
]  # fmt: skip
VmcoreRedactCommOption = Annotated[
    bool,
    typer.Option("--redact-comm", help="--redact, and process names in the tables and the "
                 "clue (comm-1, ...); kernel threads keep theirs."),
]  # fmt: skip


@app.command(epilog="Example: stalllog vmcore /var/crash/vmcore --vmlinux "
             "/usr/lib/debug/boot/vmlinux-6.1.0-56-amd64 --clue clue.txt")  # fmt: skip
def vmcore(
    dump: VmcoreArg = None,
    vmlinux: VmlinuxOption = None,
    kcore: KcoreOption = False,
    from_json: FromJsonOption = None,
    out: VmcoreOutOption = None,
    fmt: Annotated[Format, typer.Option("--format", help="Table file format.")] = Format.parquet,
    force: ForceOption = False,
    clue: ClueOption = None,
    clue_format: Annotated[
        ClueFormat, typer.Option("--clue-format", help="text (80 columns) or json.")
    ] = ClueFormat.text,
    log_lines: Annotated[
        int,
        typer.Option("--log-lines", min=0, max=1000, metavar="N", help="Log lines in the clue."),
    ] = 30,
    json_out: JsonOutOption = None,
    redact: VmcoreRedactOption = False,
    redact_comm: VmcoreRedactCommOption = False,
) -> None:
    """Read a vmcore of a stalling machine: who holds oom_lock and what it does, where the
    stalled tasks are stuck, zones against their watermarks, vm counters, and the analysis of
    the kernel log found in the dump; print a small redacted clue to send instead of it."""
    _check_usage(dump, vmlinux, kcore, from_json)
    if from_json is not None:
        shown = _shown(str(from_json))
        res = _read(from_json, shown)
    else:
        assert vmlinux is not None  # _check_usage
        doc = _collect(dump, vmlinux, kcore)
        if json_out is not None:
            _save_json(doc, json_out)
        res = _read(doc, _shown(str(dump or "/proc/kcore")))
    if json_out is not None and from_json is not None:
        _save_json(res.document, json_out)
    redactor = make_redactor(redact, redact_comm, None)
    _write_outputs(res, out, fmt, force, (from_json, dump), redactor)
    if clue is not None or out is None:
        _write_clue(res, clue or "-", clue_format, log_lines, redactor)
