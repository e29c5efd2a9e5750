"""`stalllog watch`: events of a live console as JSON Lines, hooks and metrics (stalllog.watch).

Registered on the `stalllog` app when stalllog.cli is imported."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stalllog.cli.app import _fail, app
from stalllog.cli.options import HzOption

if TYPE_CHECKING:
    from stalllog.watch import Hook

KMSG = "/dev/kmsg"
EVENT_KINDS = (
    "stall_started",
    "stall_update",
    "stall_ended",
    "oom_kill",
    "oom_lock_held_long",
    "hung_task",
    "lockup",
    "printk_loss",
    "hook_failed",
    "hook_dropped",
)

_EPILOG = (
    "Example: dmesg -w | stalllog watch - --on-stall 'perf record -a -g -o /var/tmp/stall.data' "
    "--on-clear 'pkill -INT -f \"perf record -a -g -o /var/tmp/stall.data\"'"
)


def _hooks(
    on_stall: list[str],
    on_clear: list[str],
    on_oom: list[str],
    on_event: list[str],
    shell: bool,
    timeout: float,
) -> list[Hook]:
    from stalllog.watch import Hook

    specs = [("stall_started", c) for c in on_stall] + [("stall_ended", c) for c in on_clear]
    specs += [("oom_kill", c) for c in on_oom]
    for item in on_event:
        kind, sep, command = item.partition("=")
        if not sep or kind not in EVENT_KINDS or not command.strip():
            raise typer.BadParameter(
                f"{item!r}: give KIND=COMMAND, KIND one of {', '.join(EVENT_KINDS)}",
                param_hint="--on-event",
            )
        specs.append((kind, command))
    hooks = [Hook(kind, command, shell, timeout) for kind, command in specs]
    for h in hooks:
        try:
            if not h.argv():
                raise ValueError("empty command")
        except ValueError as e:
            raise typer.BadParameter(f"{h.command!r}: {e}", param_hint="hook command") from None
    return hooks


def _source(source: str | None) -> str:
    if source is not None:
        return source
    if os.access(KMSG, os.R_OK):
        return KMSG
    _fail(
        f"{KMSG} is not readable here (root or CAP_SYSLOG, or kernel.dmesg_restrict=0): "
        "give a SOURCE, e.g. `dmesg -w | stalllog watch -`"
    )


SourceArg = Annotated[
    str | None,
    typer.Argument(
        metavar="SOURCE",
        help="/dev/kmsg (the default where readable), '-' (a pipe: dmesg -w, journalctl -kf, "
        "a serial console reader), or a log file that grows (followed across rotation).",
        show_default=False,
    ),
]
OnStall = Annotated[
    list[str], typer.Option("--on-stall", metavar="CMD", help="Run CMD when a stall starts.")
]
OnClear = Annotated[list[str], typer.Option("--on-clear", metavar="CMD", help="... when it ends.")]
OnOom = Annotated[list[str], typer.Option("--on-oom", metavar="CMD", help="... on an OOM kill.")]
OnEvent = Annotated[
    list[str], typer.Option("--on-event", metavar="KIND=CMD", help="... on each event of KIND.")
]
Shell = Annotated[
    bool, typer.Option("--shell", help="Run hook commands with /bin/sh -c (default: no shell).")
]
HookTimeout = Annotated[
    float,
    typer.Option("--hook-timeout", min=0.1, metavar="S", help="Kill a hook after S seconds."),
]
QuietAfter = Annotated[
    float | None,
    typer.Option(
        "--quiet-after",
        min=0.1,
        metavar="S",
        help="End a stall after S seconds without input (default: the episode gap, from the "
        "reporting intervals seen).",
    ),
]
MetricsFile = Annotated[
    Path | None,
    typer.Option("--metrics-file", metavar="PATH", help="Keep node-exporter metrics in PATH."),
]
MetricsPort = Annotated[
    int | None,
    typer.Option("--metrics-port", min=1, max=65535, metavar="PORT", help="Serve them on HTTP."),
]
MetricsHost = Annotated[
    str, typer.Option("--metrics-host", metavar="HOST", help="Address to serve them on.")
]
FromEnd = Annotated[bool, typer.Option("--from-end", help="Skip what a log file already holds.")]
EventsOut = Annotated[
    Path | None,
    typer.Option("--out", "-o", metavar="FILE", help="Append the events to FILE, not stdout."),
]


@app.command(epilog=_EPILOG)
def watch(
    source: SourceArg = None,
    on_stall: OnStall = [],  # noqa: B006 - typer's list options
    on_clear: OnClear = [],  # noqa: B006
    on_oom: OnOom = [],  # noqa: B006
    on_event: OnEvent = [],  # noqa: B006
    shell: Shell = False,
    hook_timeout: HookTimeout = 60.0,
    quiet_after: QuietAfter = None,
    hz: HzOption = None,
    metrics_file: MetricsFile = None,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = "127.0.0.1",
    from_end: FromEnd = False,
    out: EventsOut = None,
) -> None:
    """Watch a live console: one JSON line per event (stall_started, stall_update,
    stall_ended, oom_kill, oom_lock_held_long, hung_task, lockup, printk_loss; watch_ended
    last), hooks run on them. Ends at the end of the input or on Ctrl-C."""
    from stalllog.watch import WatchOptions
    from stalllog.watch import watch as run_watch
    from stalllog.watch.metrics import Metrics

    hooks = _hooks(on_stall, on_clear, on_oom, on_event, shell, hook_timeout)
    if metrics_file is not None and not metrics_file.parent.is_dir():
        _fail(f"{metrics_file}: its directory does not exist")
    metrics = Metrics()
    if metrics_port is not None:
        try:
            metrics.serve(metrics_host, metrics_port)
        except OSError as e:
            _fail(f"{metrics_host}:{metrics_port}: {e.strerror or e}")
    options = WatchOptions(
        hz=hz,
        quiet_after=quiet_after,
        hooks=hooks,
        metrics_file=metrics_file,
        metrics=metrics,
        from_end=from_end,
    )
    try:
        stream = sys.stdout if out is None else open(out, "a", encoding="utf-8")  # noqa: SIM115
    except OSError as e:
        _fail(f"{out}: {e.strerror or e}")
    try:
        stats = run_watch(_source(source), stream, options)
    finally:
        if stream is not sys.stdout:
            stream.close()
    if stats.error and not stats.lines:
        _fail(stats.error)
