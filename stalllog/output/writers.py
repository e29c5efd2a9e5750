"""Write parsed tables to files (`DIR/<table>.<ext>`) while the capture is being parsed.

The `lines` table (and `unparsed`, derived from it) is written batch by batch as
`iter_parse()` yields it, so memory does not grow with the input; the other tables are small
and written whole at the end. `unparsed` is written only when named (OPT_IN): it repeats
nearly every line of a real capture, and `lines.unparsed` marks the same rows.

Formats:

* parquet: zstd-compressed; a row group per parsed chunk (`lines`) or per ROW_GROUP rows;
  column types as in docs/tables.md (dictionary columns written as plain strings).
* csv: header line, every string value quoted, null = empty unquoted field (an empty string
  is `""`), NaN = `nan`, timestamps ISO 8601 without zone, list values as JSON text
  (`[1, 2]`). String cells that a spreadsheet would run as a formula get a leading `'` unless
  `csv_safe=False` (see stalllog/safe.py; undo with `stalllog.output.safe.csv_unescape`).
* json: JSON Lines (`.jsonl`), one object per row, every column present, null for unknown
  (NaN becomes null: JSON has no NaN), timestamps ISO 8601 strings.

In csv and json the binary `raw` column (original bytes of lines that were not valid UTF-8 or
had escapes decoded) is lowercase hex, `bytes.fromhex()` gives the bytes back: hex is
unambiguous and keeps the file plain ASCII/UTF-8 whatever the capture held.

The tables and `manifest.json` are written into a private temporary directory that replaces
the output directory as a whole when everything is written (atomic.py): a failed or killed
run leaves the previous complete set, never a table that looks whole but is not, nor tables
of two runs side by side.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from stalllog.engine.capture import (
    LINES_ARROW,
    UNPARSED_ARROW,
    Progress,
    iter_parse,
    plain,
    unparsed_of,
)
from stalllog.engine.linestats import LineStats
from stalllog.engine.spill import Spill
from stalllog.engine.trim import release_memory
from stalllog.input.clock import Clock
from stalllog.input.reader import SourceLike
from stalllog.output import manifest
from stalllog.output.atomic import OutputError, StagedDir, check_target, leftovers, reason
from stalllog.output.manifest import table_entry
from stalllog.output.parallel import ParallelInputs
from stalllog.output.redact import Redactor
from stalllog.output.textcols import plain_schema, text_columns, text_schema

FORMATS = ("parquet", "csv", "json")
OPT_IN = frozenset({"unparsed"})  # tables written only when asked for by name
EXTENSIONS = {"parquet": "parquet", "csv": "csv", "json": "jsonl"}
ROW_GROUP = 1 << 16  # rows per Parquet row group of a table written whole (ParquetTableWriter)


def _small_int(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) and t.bit_width <= 32


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_bytes(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t)


def _no_nan(v: Any) -> Any:
    """NaN -> None inside nested values (JSON has no NaN)."""
    if isinstance(v, float):
        return None if v != v else v
    if isinstance(v, list):
        return [_no_nan(x) for x in v]
    if isinstance(v, dict):
        return {k: _no_nan(x) for k, x in v.items()}
    return v


class TableWriter:
    """One output table, written incrementally, in the run's private temporary directory (see
    atomic.py); errors name `shown`, where the file will be in the user's output directory."""

    def __init__(self, path: Path, schema: pa.Schema, shown: Path | None = None) -> None:
        self.path = path
        self.shown = shown or path
        self.schema = plain_schema(schema)
        self.rows = 0

    def write(self, data: pa.RecordBatch | pa.Table) -> None:
        t = self._prepared(data)
        try:
            self._write(t)
        except OSError as e:
            raise OutputError(self.shown, reason(e)) from None
        self.rows += t.num_rows

    def _prepared(self, data: pa.RecordBatch | pa.Table) -> pa.Table:
        return plain(data)

    def _write(self, t: pa.Table) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        try:
            self._close()
        except OSError as e:
            raise OutputError(self.shown, reason(e)) from None

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # already failing: the first error is reported
            self._close()
        self.path.unlink(missing_ok=True)


class ParquetTableWriter(TableWriter):
    """zstd: half the size of the default snappy at the same CPU. A streamed table (`lines`,
    `unparsed`: nearly every line of the capture) keeps a dictionary and min/max statistics only
    for the columns where they pay: a dictionary of mostly unique text or timestamps falls back
    to plain after costing its build, and string statistics are rarely of use. line_no: delta.
    Other tables: row groups of ROW_GROUP rows, each contiguous, so the bytes do not depend on
    the table's chunks (--jobs merges parts: the chunks differ, the values do not)."""

    def __init__(
        self, path: Path, schema: pa.Schema, shown: Path | None = None, streamed: bool = False
    ) -> None:
        super().__init__(path, schema, shown)
        options: dict[str, Any] = {"compression": "zstd"}
        if streamed:
            options["use_dictionary"] = [
                f.name for f in schema if pa.types.is_dictionary(f.type) or _small_int(f.type)
            ]
            options["write_statistics"] = [
                f.name for f in self.schema if not _is_text(f.type) and not _is_bytes(f.type)
            ]
            options["column_encoding"] = {"line_no": "DELTA_BINARY_PACKED"}  # -13 % size
            # dictionary columns go in as they are: their dictionary pages come from the codes,
            # with no cast to strings and no hash of every value (0.8 s of CPU a GiB); with no
            # Arrow schema stored they read back as the strings of self.schema
            options["store_schema"] = False
        self._streamed = streamed
        self._written = pa.schema(list(schema)) if streamed else self.schema
        self._w = pq.ParquetWriter(self.path, self._written, **options)
        # streamed: encoded in a thread (no GIL) while the parse goes on; same calls, same bytes
        self._thread = ThreadPoolExecutor(1, "stalllog-parquet") if streamed else None
        self._pending: Future[None] | None = None

    def _prepared(self, data: pa.RecordBatch | pa.Table) -> pa.Table:
        if not self._streamed:
            return plain(data)
        t = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        # redaction gives plain strings where the parse gave a dictionary column
        return t if t.schema.equals(self._written) else t.cast(self._written)

    def _write(self, t: pa.Table) -> None:
        if not t.num_rows:
            return
        if self._thread is None:
            for at in range(0, t.num_rows, ROW_GROUP):
                self._w.write_table(t.slice(at, ROW_GROUP).combine_chunks())
            return
        self._wait()  # one batch in flight: memory stays one batch ahead
        self._pending = self._thread.submit(self._w.write_table, t, row_group_size=t.num_rows)

    def _wait(self) -> None:
        """The batch in flight written; its error (OSError: disk full) raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _close(self) -> None:
        try:
            self._wait()
        finally:
            if self._thread is not None:
                self._thread.shutdown()
            self._w.close()


class CsvTableWriter(TableWriter):
    def __init__(
        self, path: Path, schema: pa.Schema, csv_safe: bool = True, shown: Path | None = None
    ) -> None:
        super().__init__(path, schema, shown)
        self.csv_safe = csv_safe
        self._w = pa_csv.CSVWriter(str(self.path), text_schema(schema, for_csv=True))

    def _write(self, t: pa.Table) -> None:
        if t.num_rows:
            self._w.write_table(text_columns(t, for_csv=True, csv_safe=self.csv_safe))

    def _close(self) -> None:
        self._w.close()


class JsonTableWriter(TableWriter):
    def __init__(self, path: Path, schema: pa.Schema, shown: Path | None = None) -> None:
        super().__init__(path, schema, shown)
        # a new file, never through an existing name or symlink
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        self._f: IO[str] = open(fd, "w", encoding="utf-8", newline="\n")  # noqa: SIM115

    def _write(self, t: pa.Table) -> None:
        self._f.writelines(json_lines(t))

    def _close(self) -> None:
        self._f.close()


class JsonStreamWriter(TableWriter):
    """Rows as JSON Lines on a text stream shared by all tables (`parse -o -`): {"table": ...}."""

    def __init__(self, stream: IO[str], name: str, schema: pa.Schema) -> None:
        super().__init__(Path("-"), schema, Path("<stdout>"))
        self._f = stream
        self._head = {"table": name}

    def _write(self, t: pa.Table) -> None:
        self._f.writelines(json_lines(t, self._head))

    def _close(self) -> None:
        self._f.flush()

    def abort(self) -> None:
        """Rows already written stay written: a stream cannot be taken back."""


def json_lines(t: pa.Table, head: dict[str, Any] | None = None) -> Iterator[str]:
    """One JSON object per row (`head`'s keys first), as JSON Lines (see the module doc)."""
    if not t.num_rows:
        return
    t = text_columns(t, for_csv=False)
    names = t.schema.names
    cols: list[list[Any]] = []
    for f, c in zip(t.schema, t.columns, strict=True):
        if pa.types.is_timestamp(f.type):
            c = pc.replace_substring(c.cast(pa.string()), " ", "T", max_replacements=1)
        elif pa.types.is_floating(f.type):
            c = pc.if_else(pc.is_nan(c), pa.scalar(None, f.type), c)
        elif pa.types.is_nested(f.type):
            cols.append([_no_nan(v) for v in c.to_pylist()])
            continue
        cols.append(c.to_pylist())
    dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
    for row in zip(*cols, strict=True):
        yield dumps({**(head or {}), **dict(zip(names, row, strict=True))}) + "\n"


def open_writer(
    path: Path,
    schema: pa.Schema,
    fmt: str,
    csv_safe: bool = True,
    shown: Path | None = None,
    streamed: bool = False,
) -> TableWriter:
    """streamed: written batch by batch, about every line (see ParquetTableWriter)."""
    try:
        if fmt == "parquet":
            return ParquetTableWriter(path, schema, shown, streamed)
        if fmt == "csv":
            return CsvTableWriter(path, schema, csv_safe, shown)
        if fmt == "json":
            return JsonTableWriter(path, schema, shown)
    except OSError as e:
        raise OutputError(shown or path, reason(e)) from None
    raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


@dataclass
class Result:
    """The small tables (everything but `lines` and `unparsed`), line statistics for the
    summary, the files written (table name -> path) and the manifest."""

    tables: dict[str, pa.Table]
    stats: LineStats
    paths: dict[str, Path] = field(default_factory=dict)
    manifest: Path | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)  # the manifest's `tables`
    # temporary directories of killed runs next to the output (atomic.leftovers)
    leftovers: list[Path] = field(default_factory=list)
    read_sources: pa.Table | None = None  # `sources` before redaction: the names as given


def parse_to_files(
    sources: Iterable[SourceLike],
    out_dir: Path | None,
    fmt: str = "parquet",
    tables: Collection[str] | None = None,
    csv_safe: bool = True,
    progress: Progress | None = None,
    hz: int | None = None,
    analysis: bool = True,
    *,
    force: bool = False,
    inputs: Callable[[], list[dict[str, Any]]] | None = None,
    max_bytes: int | None = None,
    stream: IO[str] | None = None,
    redactor: Redactor | None = None,
    clock: Clock | None = None,
) -> Result:
    """Parse `sources`, writing `out_dir/<table>.<ext>` for each table in `tables` (all but
    OPT_IN when None; nothing when `out_dir` is None) and `out_dir/manifest.json`. Family
    rows wait on disk in `out_dir` (engine/spill.py). With `stream` (and no `out_dir`) the
    same tables go to that text stream as JSON Lines, `{"table": name, ...}` per row.

    The directory is replaced as a whole (see atomic.py): a previous stalllog output is
    replaced, a non-empty foreign directory only with `force`; OutputError otherwise, or when
    writing fails (naming the output path). inputs: the manifest's `inputs` entries, called
    after the parse (default: inputs that are files are hashed again by path). redactor:
    every table written and returned is redacted (stalllog/output/redact.py). clock: the
    zone and year of wall clocks printed without them (`--tz`, `--year`; input/clock.py).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    if out_dir is None:
        # stream: every table as JSON Lines on it (see JsonStreamWriter), nothing on disk
        return _parse_writing(
            sources, stream, None, fmt, tables, csv_safe, progress, hz, analysis, max_bytes,
            redactor, clock,
        )  # fmt: skip
    target = check_target(out_dir, force)
    started = manifest.now()
    with StagedDir(target, out_dir) as stage:
        result = _parse_writing(
            sources, stage.path, out_dir, fmt, tables, csv_safe, progress, hz, analysis, max_bytes,
            redactor, clock,
        )  # fmt: skip
        read = inputs() if inputs is not None else hash_again(result.read_sources)
        options = {"format": fmt, "tables": None if tables is None else sorted(tables),
                   "csv_safe": csv_safe, "hz": hz, "analysis": analysis, "force": force,
                   "max_bytes": max_bytes, "tz": clock and clock.tz,
                   "year": clock and clock.year}  # fmt: skip
        info = _manifest(options, read, result, started, redactor)
        try:
            manifest.write(stage.path, info)
        except OSError as e:
            raise OutputError(out_dir / manifest.MANIFEST, reason(e)) from None
        stage.commit()
    result.leftovers = [out_dir.parent / p.name for p in leftovers(target)]
    result.paths = {name: out_dir / p.name for name, p in result.paths.items()}
    result.manifest = out_dir / manifest.MANIFEST
    return result


def _manifest(
    options: dict[str, Any], read: list[dict[str, Any]], result: Result, started: str,
    redactor: Redactor | None,
) -> dict[str, Any]:  # fmt: skip
    """manifest.json's content; a redacted run says so, counts what it replaced (never the
    mapping) and redacts its input names."""
    options["redact"] = redactor is not None
    options["redact_comm"] = redactor is not None and redactor.comm
    return manifest.build(
        options=options,
        inputs=read if redactor is None else redactor.inputs(read),
        tables=result.entries,
        started=started,
        analysis=bool(options["analysis"]),
        redaction=None if redactor is None else redactor.stats().as_dict(),
    )


def hash_again(sources: pa.Table | None) -> list[dict[str, Any]]:
    """The manifest's `inputs` when the inputs were not read through HashedInput."""
    out = []
    for name in [] if sources is None else sources.column("source").to_pylist():
        if os.path.isfile(name):
            out.append(manifest.hash_file(name))
        else:
            out.append({"name": name, "sha256": None, "hashed": "not hashed (not a file)"})
    return out


def _finish(w: TableWriter, name: str, fmt: str, result: Result) -> None:
    try:
        w.close()
    except BaseException:
        w.abort()
        raise
    if isinstance(w, JsonStreamWriter):
        return  # no file
    result.paths[name] = w.path
    result.entries.append(table_entry(name, w.path.name, fmt, w.rows, w.schema))


def _items(
    sources: Iterable[SourceLike], progress: Progress | None, hz: int | None, analysis: bool,
    max_bytes: int | None, clock: Clock | None, spill: Spill | None,
) -> Iterator[pa.RecordBatch | dict[str, pa.Table]]:  # fmt: skip
    """iter_parse's items, or with --jobs the same items from worker processes."""
    if isinstance(sources, ParallelInputs):
        return sources.iter_parse(progress, hz, analysis, max_bytes, clock, spill)
    tz, year = (clock.tz, clock.year) if clock else (None, None)
    return iter_parse(sources, progress=progress, hz=hz, analysis=analysis, max_bytes=max_bytes,
                      tz=tz, year=year, spill=spill)  # fmt: skip


def _write_tables(
    result: Result, wanted: Callable[[str], bool], opened: Callable[[str, pa.Schema], TableWriter],
    fmt: str, streams: dict[str, TableWriter],
) -> None:  # fmt: skip
    """The tables but `lines` and `unparsed`, one file each (`streams`: the one open)."""
    for name, t in result.tables.items():
        if wanted(name):
            streams[name] = opened(name, t.schema)
            streams[name].write(t)
            _finish(streams.pop(name), name, fmt, result)
            release_memory()  # a spilled table's pages at a time, not all of them


def _parse_writing(
    sources: Iterable[SourceLike],
    out_dir: Path | IO[str] | None,
    shown_dir: Path | None,
    fmt: str,
    tables: Collection[str] | None,
    csv_safe: bool,
    progress: Progress | None,
    hz: int | None,
    analysis: bool,
    max_bytes: int | None,
    redactor: Redactor | None = None,
    clock: Clock | None = None,
) -> Result:
    ext = EXTENSIONS[fmt]

    def wanted(name: str) -> bool:
        return out_dir is not None and (name not in OPT_IN if tables is None else name in tables)

    def opened(name: str, schema: pa.Schema, streamed: bool = False) -> TableWriter:
        if out_dir is not None and not isinstance(out_dir, Path):
            return JsonStreamWriter(out_dir, name, schema)
        assert out_dir is not None and shown_dir is not None
        file = f"{name}.{ext}"
        return open_writer(out_dir / file, schema, fmt, csv_safe, shown_dir / file, streamed)

    streams: dict[str, TableWriter] = {}
    stats = LineStats()
    result = Result({}, stats)
    spill = Spill(out_dir) if isinstance(out_dir, Path) else None  # family rows wait on disk
    try:
        for name, schema in (("lines", LINES_ARROW), ("unparsed", UNPARSED_ARROW)):
            if wanted(name):
                streams[name] = opened(name, schema, streamed=True)
        for item in _items(sources, progress, hz, analysis, max_bytes, clock, spill):
            if isinstance(item, dict):
                result.read_sources = item.get("sources")
                result.tables = item if redactor is None else redactor.tables(item)
                continue
            stats.add(item, pc.sum(item.column("unparsed")).as_py() or 0)
            if redactor is not None and streams:
                item = redactor.batch(item)
            if "lines" in streams:
                streams["lines"].write(item)
            if "unparsed" in streams:
                streams["unparsed"].write(unparsed_of(item))
        for name in list(streams):
            _finish(streams.pop(name), name, fmt, result)
        _write_tables(result, wanted, opened, fmt, streams)
    except BaseException:
        for w in streams.values():
            w.abort()
        raise
    finally:
        if spill is not None:
            spill.close()
    return result
