"""Boot banner and kernel command line.

`Linux version <release> (<builder>) (<compiler>) #<build> <date>` is printed first in every
boot (init/main.c, linux_banner); `Command line:` comes from x86 setup_arch (arch/x86),
`Kernel command line:` from start_kernel (init/main.c) on every arch. The `boots` table takes
the release and command line of each boot from these rows.
"""

from __future__ import annotations

import pyarrow as pa
import regex

from .base import EVENT_ID, Block, Family, Line, Sink, TableSchema, col


class BannerBlock(Block):
    kind = "boot_banner"
    multiline = False


class CmdlineBlock(Block):
    kind = "boot_cmdline"
    multiline = False


class BootFamily(Family):
    name = "boot"
    priority = 10
    triggers = ("Linux version ", "ommand line: ")
    pattern = regex.compile(
        r"^Linux version (?P<release>\S+)(?: (?P<build>.*))?$"
        r"|^(?:Kernel c|C)ommand line: (?P<cmdline>.*)$"
    )
    tables = (
        TableSchema(
            "banners",
            "One row per `Linux version` banner: the kernel that printed a boot.",
            (
                EVENT_ID,
                col("boot", pa.int32(), "", "boot number in the capture"),
                col("ts", pa.float64(), "s", "seconds since boot (null without timestamps)"),
                col("release", pa.string(), "", "`uname -r`, e.g. `6.1.0-56-amd64`"),
                col("build", pa.string(), "", "rest of the banner: builder, compiler, build date"),
            ),
        ),
        TableSchema(
            "cmdlines",
            "One row per `Command line:` / `Kernel command line:` line.",
            (
                EVENT_ID,
                col("boot", pa.int32(), "", "boot number in the capture"),
                col("ts", pa.float64(), "s", "seconds since boot (null without timestamps)"),
                col("cmdline", pa.string(), "", "the kernel command line as printed"),
            ),
        ),
    )

    def start(self, line: Line, match: regex.Match[str], event_id: int, sink: Sink) -> Block:
        if match["release"] is not None:
            banner = BannerBlock(line, event_id, sink)
            banner.row("banners", boot=line.boot, ts=line.ts, release=match["release"],
                       build=match["build"])  # fmt: skip
            return banner
        block = CmdlineBlock(line, event_id, sink)
        block.row("cmdlines", boot=line.boot, ts=line.ts, cmdline=match["cmdline"].rstrip())
        return block
