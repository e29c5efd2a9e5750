"""Parse many captures on a Dask cluster into Parquet, one task per capture.

    from dask.distributed import Client
    import stalllog.dask

    client = Client("scheduler:8786")  # or none: the local threaded scheduler
    tables = stalllog.dask.parse_to_parquet(["s3://bucket/consoles/*.log.xz"], "s3://bucket/out")
    tables["oom_events"].groupby("boot").size().compute()

Needs `pip install stalllog[dask]`. Inputs are paths, globs, directories (every file below,
sorted) or fsspec URLs; the output directory must be reachable from every worker (a shared
file system or an object store). The tables are those of `stalllog parse` on the same inputs
in the same order, with the same ids: each capture is parsed alone as a part
(engine/merge.py), the parts' small tables are merged and their post-steps (the analysis)
run in one task, and each capture's `lines` are renumbered by a task of their own.

Layout: `OUT/<table>/part.<k>.parquet`: `lines` one file per capture (k is its place in the
input order; its `unparsed` column marks the unparsed lines), every other table one file
`part.00000.parquet`. Columns as written by
`stalllog parse` (dictionary columns as plain strings).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from stalllog.engine.capture import LINES_ARROW, plain
from stalllog.engine.merge import Offsets, Part, iter_part, merge, offsets, stow, unstow
from stalllog.engine.spill import Spill
from stalllog.engine.trim import release_memory
from stalllog.input.clock import Clock, check_tz, check_year

BIG = ("lines",)  # written per capture
_TMP = "_stalllog_parts"  # lines with the parts' own ids, until renumbered


def expand(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    """The capture files named by paths, globs, directories and fsspec URLs, in the order
    given (the files of one glob or directory sorted)."""
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    out: list[str] = []
    for item in (os.fspath(i) for i in items):
        if "://" in item:
            out += _expand_url(item)
        elif os.path.isdir(item):
            out += sorted(str(p) for p in _walk(item))
        elif glob.has_magic(item):
            out += sorted(p for p in glob.glob(item, recursive=True) if os.path.isfile(p))
        else:
            out.append(item)
    return out


def _walk(root: str) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]


def _expand_url(url: str) -> list[str]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    if fs.isdir(path):
        found = fs.find(path)
    elif glob.has_magic(path):
        found = [p for p in fs.glob(path) if fs.isfile(p)]
    else:
        return [url]
    return sorted(fs.unstrip_protocol(p) for p in found)


def parse_to_parquet(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    hz: int | None = None,
    analysis: bool = True,
    max_bytes: int | None = None,
    tz: str | None = None,
    year: int | None = None,
) -> dict[str, Any]:
    """Parse the captures (one Dask task each, on the current scheduler or distributed
    Client) into `out_dir/<table>/part.*.parquet`; return {table: dask DataFrame}. out_dir
    must not hold files yet. hz, analysis, max_bytes, tz, year: as in `stalllog.parse()`."""
    import dask
    import dask.dataframe as dd
    import fsspec

    check_tz(tz)
    check_year(year)
    files = expand(paths)
    if not files:
        raise ValueError("no capture found")
    out = os.fspath(out_dir)
    fs, root = fsspec.core.url_to_fs(out)
    if fs.exists(root) and fs.ls(root):
        raise FileExistsError(f"{out}: not empty")
    fs.makedirs(f"{root}/{_TMP}", exist_ok=True)
    parts = [
        dask.delayed(_parse)(
            f,
            f"{out}/{_TMP}/lines.{k}.arrows",
            max_bytes,
            Clock(tz, year),
            f"{out}/{_TMP}/part.{k}",
        )
        for k, f in enumerate(files)
    ]
    shifts = dask.delayed(_offsets)(parts)
    small = dask.delayed(_merge_write)(parts, out, hz, analysis)
    big = [dask.delayed(_renumber)(f"{out}/{_TMP}/lines.{k}.arrows", out, k, shifts, k)
           for k in range(len(files))]  # fmt: skip
    names = dask.compute(small, *big)[0]
    fs.rm(f"{root}/{_TMP}", recursive=True)
    return {name: dd.read_parquet(f"{out}/{name}") for name in names}


_Parsed = tuple[Part, dict[str, str]]  # a part without its tables, and where they are


def _parse(name: str, lines: str, max_bytes: int | None, clock: Clock | None, kept: str) -> _Parsed:
    """Task: parse one capture; its lines (own ids) go to the Arrow stream `lines`, its part's
    tables to `kept.<table>.arrows` (a storm's are ~1.7 GB a GiB: not through the scheduler)."""
    import fsspec

    spill = _local_spill(kept)  # the family rows wait there, as in `stalllog parse`
    try:
        with (
            fsspec.open(name, "rb") as src,
            fsspec.open(lines, "wb") as sink,
            pa.ipc.new_stream(sink, LINES_ARROW) as writer,
        ):
            for item in iter_part(src, None, max_bytes, name=name, clock=clock, spill=spill):
                if isinstance(item, Part):
                    part = item
                else:
                    writer.write_batch(item)
        return stow(part, kept, fsspec.open)
    finally:
        if spill is not None:
            spill.close()


def _local_spill(url: str) -> Spill | None:
    """A spill beside `url` (a file or directory) where it is on a local file system."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return Spill(Path(path).parent) if "file" in protocols else None


def _offsets(parsed: list[_Parsed]) -> list[Offsets]:
    return offsets([part for part, _ in parsed])


def _taken(parsed: list[_Parsed], spill: Spill | None) -> list[Part]:
    """The parts with their tables: mapped from a local file system (their pages go between
    the post-steps as in `stalllog parse`), else read."""
    import fsspec

    if spill is None:
        return [unstow(part, files, None, fsspec.open) for part, files in parsed]
    local = [{t: fsspec.core.url_to_fs(u)[1] for t, u in files.items()} for _, files in parsed]
    return [unstow(part, files, spill) for (part, _), files in zip(parsed, local, strict=True)]


def _renumber(lines: str, out: str, k: int, shifts: Sequence[Offsets], i: int) -> None:
    """Task: one capture's `lines` with global ids, written batch by batch (`unparsed` is
    the `lines.unparsed` flag, as in `stalllog parse`)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(f"{out}/lines/part.{k:05d}.parquet")
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    schema = plain(LINES_ARROW.empty_table()).schema
    with (
        fsspec.open(lines, "rb") as f,
        fs.open(path, "wb") as sink,
        pq.ParquetWriter(sink, schema, compression="zstd") as writer,
    ):
        for batch in pa.ipc.open_stream(f):
            writer.write_table(plain(pa.Table.from_batches([shifts[i].table(batch)])))


def _merge_write(parsed: list[_Parsed], out: str, hz: int | None, analysis: bool) -> list[str]:
    """Task: merge the parts' small tables, run the post-steps, write them; all table names in
    the order `stalllog parse` writes them."""
    spill = _local_spill(f"{out}/{_TMP}/merge")
    try:
        tables = merge(_taken(parsed, spill), hz, analysis)
        for name, t in tables.items():
            _write(plain(t), f"{out}/{name}/part.00000.parquet")
            release_memory()  # a mapped table's pages at a time, as `stalllog parse` writes
    finally:
        if spill is not None:
            spill.close()
    return [*BIG, *tables]


def _write(t: pa.Table, path: str) -> None:
    import fsspec

    fs, p = fsspec.core.url_to_fs(path)
    fs.makedirs(p.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(p, "wb") as f:
        pq.write_table(t, f)
