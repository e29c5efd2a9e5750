"""The CLI keeps flushed family rows on disk and maps them back (engine/spill.py): the same
files as keeping them in memory, nothing left in the output directory, and mapped pages that
can be let go and read again."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from conftest import SAMPLES
from test_merge import COVER

from stalllog.engine import dispatch, spill
from stalllog.engine.capture import plain
from stalllog.engine.spill import Spill
from stalllog.output import writers


def test_batches_come_back_mapped_and_survive_dropped_pages(tmp_path: Path) -> None:
    s = Spill(tmp_path)
    batches = [
        pa.record_batch({"pid": list(range(k, k + 5000)), "comm": [f"task{k}"] * 5000})
        for k in (0, 5000, 10000)
    ]
    for b in batches:
        s.add("memalloc", b)
    got = s.take("memalloc")
    assert [b.num_rows for b in got] == [5000] * 3
    assert list(s.path.iterdir()) == []  # unlinked once mapped
    assert s.mapped_bytes() > 0 and s in spill.OPEN
    s.drop_pages()  # faulted back in from the page cache on the next read
    assert pa.Table.from_batches(got).equals(pa.Table.from_batches(batches))
    assert s.take("frames") == []  # nothing added under that name
    s.close()
    assert not s.path.exists() and s not in spill.OPEN
    assert pa.Table.from_batches(got).column("pid")[-1].as_py() == 14999  # still mapped


def test_remap_moves_heap_columns_and_keeps_chunks_and_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Spill(tmp_path)
    s.add("memalloc", pa.record_batch({"pid": list(range(300_000))}))
    mapped = pa.Table.from_batches(s.take("memalloc"))
    flags = pa.chunked_array([["GFP_KERNEL"] * 200_000, [None, "GFP_NOFS"] * 50_000])
    small = pa.chunked_array([[1, 2, 3]])
    before = mapped.append_column("gfp_flags", flags)
    tables = {"memalloc": before, "episodes": pa.table({"episode": small})}
    monkeypatch.setattr(spill, "REMAP_MIN_BYTES", 1 << 20)
    after = s.remap(tables)
    assert after["episodes"] is tables["episodes"]  # too small to be worth a file
    got = after["memalloc"]
    assert got.equals(before)
    assert [len(c) for c in got.column("gfp_flags").chunks] == [200_000, 100_000]
    regions = [(w.address, w.address + w.size) for w in s._mapped]
    for column in got.columns:  # every buffer now in a mapping: its pages can be dropped
        assert spill._heap_bytes(column, regions) == 0
    assert got.column("pid").chunks[0].buffers()[1].address == (
        mapped.column("pid").chunks[0].buffers()[1].address
    )  # what was mapped already stays where it was
    s.drop_pages()
    assert got.column("gfp_flags")[-1].as_py() == "GFP_NOFS"
    s.close()


def test_close_removes_what_a_failed_parse_left(tmp_path: Path) -> None:
    s = Spill(tmp_path)
    s.add("frames", pa.record_batch({"depth": [1, 2, 3]}))
    s.close()
    assert list(tmp_path.iterdir()) == []


def _written(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.parquet"))}


def test_the_cli_writes_the_same_files_with_rows_spilled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small flushes so that the samples' tables go to disk in many batches; pages dropped
    after every step (DROP_MIN_BYTES 0), as in a storm."""
    files = [str(SAMPLES / p) for p in COVER]
    monkeypatch.setattr(dispatch, "ROW_FLUSH", 16)
    monkeypatch.setattr(dispatch, "ROW_WINDOW", 4)
    monkeypatch.setattr(writers, "Spill", lambda directory: None)
    writers.parse_to_files(files, tmp_path / "memory")
    monkeypatch.undo()

    taken: list[str] = []
    take = Spill.take

    def counted(self: Spill, name: str) -> list[pa.RecordBatch]:
        got = take(self, name)
        taken.extend([name] if got else [])
        return got

    monkeypatch.setattr(dispatch, "ROW_FLUSH", 16)
    monkeypatch.setattr(dispatch, "ROW_WINDOW", 4)
    monkeypatch.setattr(Spill, "take", counted)
    monkeypatch.setattr(spill, "DROP_MIN_BYTES", 0)
    monkeypatch.setattr(spill, "REMAP_MIN_BYTES", 0)
    writers.parse_to_files(files, tmp_path / "spilled")
    assert {"memalloc", "frames", "events", "oom_tasks"} <= set(taken)
    # the steps' tables (the analysis's, the keyed ones) went through the spill too
    assert {"stalled_tasks.remapped", "findings.remapped"} <= {n.rsplit(".", 1)[0] for n in taken}
    assert spill.OPEN == []
    assert not [p for p in (tmp_path / "spilled").iterdir() if p.name.startswith(".")]
    memory, spilled = _written(tmp_path / "memory"), _written(tmp_path / "spilled")
    assert len(memory) > 30
    assert memory.keys() == spilled.keys()
    assert [n for n in memory if memory[n] != spilled[n]] == []


def test_plain_gives_the_schema_it_gave_when_it_rebuilt_every_table() -> None:
    """Column by column now (Table.from_arrays pages in a whole mapped table): still no
    schema metadata, dictionaries decoded, every field nullable."""
    comm = pa.array(["a", "b", "a"]).dictionary_encode()
    t = pa.table({"comm": comm, "pid": [1, 2, 3]}).replace_schema_metadata({"pandas": "{}"})
    rebuilt = pa.Table.from_arrays([comm.cast(pa.string()), t.column("pid")], ["comm", "pid"])
    assert plain(t).equals(rebuilt, check_metadata=True)
    strict = pa.table({"pid": [1, 2]}, schema=pa.schema([pa.field("pid", pa.int64(), False)]))
    assert plain(strict).schema.field("pid").nullable
    batch = pa.record_batch({"comm": comm})
    assert plain(batch).column("comm").type == pa.string()


def test_a_full_disk_names_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = Spill(tmp_path)

    def full(*args: object) -> None:
        raise OSError(28, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(pa, "OSFile", full)
    with pytest.raises(OSError, match="No space left on device") as e:
        s.add("memalloc", pa.record_batch({"pid": [1]}))
    assert e.value.filename == str(s.path)
    assert "cannot keep the parsed rows there" in str(e.value.strerror)
    s.close()
