"""Tables written whole to Parquet: the same bytes however the table is chunked (`--jobs`
merges the parts' tables, whose chunks differ from one process's). Before ROW_GROUP, a table
whose text outgrew Parquet's 1 MiB dictionary page fell back to plain at a chunk boundary:
oom_events of a 256 MiB capture differed between --jobs 1 and --jobs 2."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import stalllog
import stalllog.output.writers as writers

SAMPLES = Path(__file__).parent.parent / "sample_logs"


def _rechunked(t: pa.Table, rows: int) -> pa.Table:
    return pa.Table.from_batches(
        [b for at in range(0, t.num_rows, rows) for b in t.slice(at, rows).to_batches()],
        schema=t.schema,
    )


def _written(t: pa.Table, path: Path) -> bytes:
    w = writers.open_writer(path, t.schema, "parquet", True, path)
    w.write(t)
    w.close()
    return path.read_bytes()


def _same_bytes(t: pa.Table, tmp_path: Path) -> None:
    one = _written(t.combine_chunks(), tmp_path / "one.parquet")
    many = _written(_rechunked(t, 1000), tmp_path / "many.parquet")
    assert one == many
    assert pq.read_table(tmp_path / "many.parquet").num_rows == t.num_rows


def test_row_groups_of_fixed_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writers, "ROW_GROUP", 50)
    frames = stalllog.parse(SAMPLES / "qemu/6.1.0-56-amd64-hung-task-serial.log").arrow["frames"]
    _same_bytes(frames, tmp_path)
    n_groups = pq.ParquetFile(tmp_path / "many.parquet").num_row_groups
    assert n_groups == -(-frames.num_rows // 50) > 2


@pytest.mark.slow
def test_text_past_the_dictionary_page(tmp_path: Path) -> None:
    """The lines' text of every sample (~15 MB, ~380k rows): the dictionary falls back."""
    files = sorted(f for f in SAMPLES.glob("*/*") if f.suffix != ".md")
    tables = [stalllog.parse(f).arrow["lines"].select(["line_no", "text"]) for f in files]
    text = pa.concat_tables(tables)
    assert text.column("text").nbytes > 8 << 20
    _same_bytes(text, tmp_path)
