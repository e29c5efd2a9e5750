"""Schemas of the core tables (families declare their own in parsers/) and the docs generator.

docs/tables.md is generated from these declarations
(`python -m stalllog.engine.schema > docs/tables.md`) and a test fails when the two disagree.
"""

from __future__ import annotations

import pyarrow as pa

from stalllog.engine.dispatch import EVENTS_SCHEMA
from stalllog.engine.documented import other_tables
from stalllog.engine.keys import keyed
from stalllog.engine.registry import families_or_all
from stalllog.engine.steps import step_tables
from stalllog.input.lines import FLAG_NAMES, KIND_BIT, LINES_SCHEMA
from stalllog.input.repair import REPAIR_FLAGS
from stalllog.parsers.base import TableSchema, col

_LINE_DOCS = {
    "line_no": ("", "1-based line number in its source"),
    "source": ("", "the input (path, `<stdin>`, `<bytes>`)"),
    "boot": (
        "",
        "boot number in the capture, from 0; a new `Linux version` banner, a clock "
        "reset, a journal `-- Boot … --` line or a new `_BOOT_ID` starts the next; every "
        "source starts one",
    ),
    "ts": (
        "s",
        "seconds since boot from `[ 123.456789]`, /dev/kmsg usec or journal monotonic "
        "time (`_SOURCE_MONOTONIC_TIMESTAMP`, else `__MONOTONIC_TIMESTAMP`); null (NA) when "
        "the line has none",
    ),
    "wall": (
        "",
        "wall-clock time as printed (`dmesg -T`, syslog, journal), time zone not "
        "applied; year 1900 = year not printed (RFC 3164)",
    ),
    "wall_utc": (
        "",
        "the UTC instant of `wall`: from the offset the prefix carries (`dmesg --time-format "
        "iso`, RFC 3339/5424 syslog `+03:00`/`Z`; journal records are UTC; journalctl -o "
        "short-full's `UTC`/`GMT` or `+0330`/`-04` zone), else from the zone "
        "given (`--tz`, `parse(tz=)`) for `dmesg -T`, RFC 3164 syslog and journalctl "
        "short stamps; RFC 3164 stamps get their year from `--year`/`year=`, else from the "
        "last full date before them in the input (`dmesg -T`, ISO; or the first after them "
        "in the same 8 MiB chunk), else from the file's mtime (the year before when the "
        "stamp would be later), counting a new year at each Dec -> Jan turn; null when the "
        "zone or the year "
        "is unknown, or the local time did not exist (a DST gap)",
    ),
    "utc_offset": (
        "s",
        "`wall - wall_utc`: seconds east of UTC of the zone at that time (null with "
        "`wall_utc`); in a DST fall-back hour the earlier instant is taken and the line "
        "flagged `tz-ambiguous`",
    ),
    "host": ("", "host name from a syslog/journal prefix"),
    "caller": ("", "CONFIG_PRINTK_CALLER id: `T<pid>` (task) or `C<cpu>` (interrupt context)"),
    "level": ("", "console log level 0 (emerg) .. 7 (debug) when the transport kept it"),
    "prefix_kind": (
        "",
        "prefix parts present, joined by `+`: " + ", ".join(KIND_BIT) + "; `none` without "
        "prefix. `kmsg_dict`: a /dev/kmsg ` KEY=value` line; `cont`: an indented continuation "
        "line of a multi-line record (util-linux dmesg, dmesg -T, journalctl), which takes the "
        "first line's ts, wall and host; `journal_json` (`journalctl -o json`/`json-seq`), "
        "`journal_export` (`-o export`), `dmesg_json` (`dmesg -J`): every line of such an input, "
        "the record's message on the line that carries it, the other lines flagged `structured`",
    ),
    "prefix": ("", "the prefix exactly as in the input"),
    "text": (
        "",
        "the message without prefix; /dev/kmsg `\\xNN` and rsyslog `#ooo` escapes "
        "decoded (may then hold newlines)",
    ),
    "eol": ("", "line end in the input: `\\n`, `\\r\\n` (serial consoles) or empty (last line)"),
    "flags": (
        "",
        "comma-free `+`-joined flags, null when none: "
        + ", ".join(FLAG_NAMES)
        + ". `structured`: a line of a journal JSON/export or `dmesg -J` input that carries no "
        "message (syntax, other fields); `bad-record`: a record of such an input that could "
        "not be read, kept as text and counted in `sources.error`; `tz-ambiguous`: the "
        "local `wall` falls in a DST change of the zone given (`--tz`): the fall-back hour "
        "happened twice (`wall_utc` takes the first) or the spring-forward gap never "
        "happened (`wall_utc` null). "
        + "Repairs of mangling by mail clients, trackers and syslog (`text` stays as read): "
        + "; ".join(f"{k}: {v}" for k, v in REPAIR_FLAGS.items()),
    ),
    "dropped": (
        "messages",
        "`** N printk messages dropped **` count glued in front of (or forming) this line",
    ),
    "kmsg_seq": ("", "/dev/kmsg sequence number (gaps mean records lost from the ring buffer)"),
    "raw": (
        "",
        "the original bytes when `prefix + text` does not give them back (invalid "
        "UTF-8, decoded escapes); null otherwise",
    ),
    "event_id": ("", "the event that claimed this line; null when no family did"),
    "unparsed": (
        "",
        "no family claimed the line and it is neither blank (a `structured` line's text is "
        "empty) nor a /dev/kmsg dictionary line: "
        "the rows of the `unparsed` table",
    ),
}
_EVENT_DOCS = {
    "event_id": ("", "event number in the capture, in order of first line"),
    "kind": ("", "what the block is (`boot_banner`, `printk_loss`, `oom`, …)"),
    "family": ("", "the parsers/ module that recognized it"),
    "boot": ("", "boot number"),
    "source": ("", "the input it came from"),
    "ts": ("s", "seconds since boot of the block's first line (null without timestamps)"),
    "line_start": ("", "first line of the block"),
    "line_end": ("", "last line of the block"),
    "n_lines": ("lines", "lines the block claimed (foreign lines inside are not counted)"),
    "caller": ("", "caller id of the first line"),
    "pid": ("", "task the block is about, when it names one"),
    "comm": ("", "that task's name (untrusted text)"),
    "corrupted": ("", "the block was cut short, lost lines, or had foreign lines inside"),
    "reason": ("", "why `corrupted`, `; `-joined"),
}


def _schema(name: str, doc: str, arrow: pa.Schema, docs: dict[str, tuple[str, str]]) -> TableSchema:
    return TableSchema(name, doc, tuple(col(f.name, f.type, *docs[f.name]) for f in arrow))


LINES = _schema(
    "lines",
    "One row per input line, in input order; nothing dropped. `prefix + text + eol` (or "
    "`raw + eol`) is the original line; a line flagged `cut` keeps only its first 4 MiB "
    "(the rest is counted and hashed in `sources.error`).",
    LINES_SCHEMA.append(pa.field("event_id", pa.int64())).append(pa.field("unparsed", pa.bool_())),
    _LINE_DOCS,
)
EVENTS = _schema("events", "One row per recognized block (any family).", EVENTS_SCHEMA, _EVENT_DOCS)
UNPARSED_SCHEMA = pa.schema(
    [
        (n, LINES.arrow().field(n).type)
        for n in ("line_no", "source", "boot", "ts", "caller", "text")
    ]
)
UNPARSED = _schema(
    "unparsed",
    "Lines no family claimed (blank lines and /dev/kmsg dictionary lines left out): the "
    "`lines` rows flagged `unparsed`, some of their columns. `parse -o DIR` writes it only "
    "when asked (`--tables unparsed`): on real captures it is nearly every line again.",
    UNPARSED_SCHEMA,
    _LINE_DOCS,
)
BOOTS = TableSchema(
    "boots",
    "One row per boot found in the capture.",
    (
        col("boot", pa.int32(), "", "boot number"),
        col("source", pa.string(), "", "input it is in"),
        col("line_start", pa.int64(), "", "first line"),
        col("line_end", pa.int64(), "", "last line"),
        col("n_lines", pa.int64(), "lines", "lines in the boot"),
        col("ts_first", pa.float64(), "s", "first timestamp"),
        col("ts_last", pa.float64(), "s", "last timestamp"),
        col(
            "release",
            pa.string(),
            "",
            "kernel release from the `Linux version` banner, "
            "else from the first dump_stack / hung-task header of the boot that names one",
        ),
        col("cmdline", pa.string(), "", "kernel command line"),
        col("has_caller", pa.bool_(), "", "lines carry CONFIG_PRINTK_CALLER ids"),
        col("prefix_kinds", pa.string(), "", "distinct prefix kinds seen, `, `-joined"),
        col("host", pa.string(), "", "host of its syslog/journal prefixes (boots are per host)"),
        col("wall_first", pa.timestamp("us"), "", "earliest `lines.wall` of the boot (as printed)"),
        col("wall_last", pa.timestamp("us"), "", "latest `lines.wall` of the boot (as printed)"),
        col("wall_utc_first", pa.timestamp("us", tz="UTC"), "", "earliest `lines.wall_utc`"),
        col("wall_utc_last", pa.timestamp("us", tz="UTC"), "", "latest `lines.wall_utc`"),
    ),
)
SOURCES = TableSchema(
    "sources",
    "One row per input.",
    (
        col("source", pa.string(), "", "path, `<stdin>` or `<bytes>`"),
        col("compression", pa.string(), "", "gzip, xz, bzip2, zstd, or null"),
        col("n_lines", pa.int64(), "lines", "lines read"),
        col("n_bytes", pa.int64(), "bytes", "decompressed bytes read"),
        col(
            "error",
            pa.string(),
            "",
            "why reading stopped early (truncated archive), lines cut, "
            "records of a structured input that could not be read, JSON of an unknown kind "
            "read as text; else null",
        ),
    ),
)

CORE_TABLES = (LINES, EVENTS, UNPARSED, BOOTS, SOURCES)


def all_schemas() -> list[TableSchema]:
    out = list(CORE_TABLES)
    for family in families_or_all(None):
        out.extend(keyed(t) for t in family.tables)
    out.extend(keyed(t) for t in step_tables())
    return out


TIMES = [
    "**Times.** `ts` and every `ts_*`/`*_ts` column are seconds since boot (float, the "
    "kernel's own clock: printk stamps, /dev/kmsg usec, journal monotonic time); "
    '`stalllog.parse(..., ts="timedelta")` gives them as pandas timedeltas '
    "(`duration[us][pyarrow]`) in the DataFrames (`Capture.arrow` and written files keep "
    "seconds). Durations (`*_s`) stay seconds. `lines.wall` is the wall clock as printed "
    "(no zone; RFC 3164 syslog prints no year: 1900); `lines.wall_utc` is its UTC instant "
    "where the prefix carries an offset or `--tz`/`tz=` names the zone, `lines.utc_offset` "
    "the offset (`--year`/`year=` or an inferred year for RFC 3164 stamps).",
    "",
]

JOIN_MAP = [
    "## How the tables join",
    "",
    "**The line key.** Every table but `sources` carries `boot` and `source` (the input; in "
    "`stalled_tasks` and `oom_lock`, whose `source` names the kind of evidence, the input is "
    "`boots.source` of the row's `boot`); a row printed on one line has `line_no`, a block "
    "`line_start`/`line_end`. Join any row to the kernel's text on `lines` (`source`, "
    "`line_no`); `boot` numbers are unique in a capture and each boot lies in one input, so "
    "(`boot`, `line_no`) is a key too.",
    "",
    "| from | to | on |",
    "|---|---|---|",
    "| any family table | `events` (the block the row came from) | `event_id` |",
    "| `oom_tasks`, `oom_explain` | `oom_events` | `oom_id` |",
    "| `oom_events`, `alloc_stalls`, `alloc_failures`, `memalloc_scans` | "
    "`meminfo`, `meminfo_nodes`, `zones`, `buddy`, `zone_pcp`, `hugepages`, "
    "`meminfo_alloc_tags`, `slab_unreclaimable` (the Mem-Info snapshot; these tables "
    "carry `meminfo_id` and its older name `snapshot_id`, the same values) | `meminfo_id` |",
    "| any `stack_id` (`oom_events`, `memalloc`, `alloc_*`, `hung_tasks`, `tasks`, `lockups`, "
    "`nmi_backtraces`, `stack_classes`) | `stacks` (one row), `frames` (one per frame) | "
    "`stack_id` |",
    "| `memalloc` | `memalloc_scans` | `scan_id` |",
    "| `tasks` | `sysrq`, `hung_tasks` (the dump they belong to) | `dump_id` |",
    "| `stalled_tasks`, `reclaim`, `episode_pressure`, `findings` | `episodes` | "
    "(`boot`, `episode`) |",
    "",
    "```python",
    'cap = stalllog.parse("console.log")',
    "kills = cap.oom_events.merge(",
    '    cap.lines, left_on=["source", "kill_line_no"], right_on=["source", "line_no"]',
    ")  # the `Killed process` text",
    'zones = cap.oom_events.merge(cap.zones, on="meminfo_id", suffixes=("", "_zone"))',
    "trace = cap.frames[cap.frames.stack_id == cap.oom_events.stack_id.iloc[0]]",
    "```",
    "",
]


def render_markdown() -> str:
    out = [
        "# stalllog tables",
        "",
        "Generated from the code by `python -m stalllog.engine.schema > docs/tables.md`; "
        "`tests/test_docs.py` fails when this file is stale. Column and table names are public "
        "interface. In pandas every column uses a pyarrow-backed dtype; unknown is NA (null in "
        "the files), never 0 nor NaN.",
        "",
        *TIMES,
        *JOIN_MAP,
    ]
    for t in [*all_schemas(), *other_tables()]:
        out += [
            f"## `{t.name}`",
            "",
            t.doc,
            "",
            "| column | dtype | unit | meaning |",
            "|---|---|---|---|",
        ]
        for c in t.columns:
            meaning = c.meaning.replace("|", "\\|").replace("\n", " ")
            shown = c.type.value_type if pa.types.is_dictionary(c.type) else c.type
            out.append(f"| `{c.name}` | {shown} | {c.unit} | {meaning} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render_markdown(), end="")
