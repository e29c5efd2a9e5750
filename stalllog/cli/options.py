"""Arguments and options shared by several `stalllog` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CapturesArg = Annotated[
    list[str],
    typer.Argument(
        metavar="CAPTURE",
        help="Console captures: serial logs, dmesg, /dev/kmsg, syslog, journal; gzip, xz, "
        "bzip2 or zstd compressed. '-' reads standard input.",
        show_default=False,
    ),
]

MaxBytesOption = Annotated[
    int | None,
    typer.Option(
        "--max-bytes",
        min=1,
        metavar="N",
        help="Stop with an error when an input gives more than N bytes (after decompression). "
        "Without it an input decompressing at more than 200:1 past 8 MiB is refused as a bomb.",
    ),
]

HzOption = Annotated[
    int | None,
    typer.Option(
        "--hz",
        min=1,
        metavar="HZ",
        help="CONFIG_HZ of the kernel, if known: kmallocwd delays are in jiffies and the kernel "
        "never prints HZ (stalllog infers it from repeated reports where it can).",
    ),
]

TzOption = Annotated[
    str | None,
    typer.Option(
        "--tz",
        metavar="ZONE",
        help="IANA time zone (Europe/Berlin, UTC) of wall clocks printed without an offset "
        "(syslog, dmesg -T, journalctl short): fills lines.wall_utc and lines.utc_offset.",
    ),
]

YearOption = Annotated[
    int | None,
    typer.Option(
        "--year",
        min=1901,
        max=9998,
        metavar="YYYY",
        help="Year of the first RFC 3164 syslog stamp of each input (they print none); "
        "without it: from a full date earlier in the input, else from the file's mtime.",
    ),
]


FollowOption = Annotated[
    bool,
    typer.Option(
        "--follow",
        help="Keep reading pipes, FIFOs, terminals and /dev/kmsg until EOF or Ctrl-C (then "
        "finish and report). Without it they are read as a snapshot: /dev/kmsg until drained, "
        "others until 5 s without input.",
    ),
]

ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace DIR even if it is a non-empty directory that is not a stalllog output "
        "(its contents are deleted).",
    ),
]

_JOBS_HELP = (
    "Parse up to N input files at once, one process each (default: half the cores, a "
    "parse uses about two); "
    "the output is the same as with --jobs 1, which parses in this process."
)
JobsOption = Annotated[
    int | None, typer.Option("--jobs", "-j", min=1, metavar="N", help=_JOBS_HELP)
]

TablesOption = Annotated[
    str | None,
    typer.Option(
        "--tables",
        "-t",
        help="Comma-separated tables to write (default: all but unparsed).",
        metavar="A,B",
    ),
]

JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print the summary's facts as one JSON object instead (keys: docs/outputs.md).",
    ),
]

OutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        metavar="DIR",
        help="Directory for the table files and manifest.json; replaced as a whole, never "
        "mixed with an earlier run's tables. '-': every row as JSON Lines on standard "
        'output, {"table": NAME, ...}; the summary goes to standard error.',
    ),
]

RedactOption = Annotated[
    bool,
    typer.Option(
        "--redact",
        help="Replace host names, IP/MAC addresses, user names in paths, container and "
        "machine ids and command-line secrets by stable pseudonyms (host-1, 192.0.2.1, ...) "
        "in every output; the analysis runs on the original.",
    ),
]

RedactCommOption = Annotated[
    bool,
    typer.Option(
        "--redact-comm",
        help="--redact, and process names too (comm-1, ...); kernel threads keep theirs.",
    ),
]

RedactMapOption = Annotated[
    Path | None,
    typer.Option(
        "--redact-map",
        metavar="FILE",
        help="--redact, and write the pseudonym -> original mapping to FILE (JSON, mode 0600; "
        "keep it private). Secrets are never written.",
        show_default=False,
    ),
]
