"""`parse -o DIR` replaces DIR as a whole: no stale tables from an earlier run, the old complete
set after a failure or a kill, no file opened through a planted symlink, manifest.json that
matches the files, one-line errors naming the output path, file names inert on the terminal.

Inputs are corpus samples (a copy under a hostile name for the terminal test).
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import stalllog.output.atomic
import stalllog.output.writers
from stalllog.cli.app import app
from stalllog.output.atomic import StagedDir, leftovers
from stalllog.output.writers import parse_to_files

cli_app = importlib.import_module("stalllog.cli.app")  # `stalllog.cli.app` is the Typer app
LKML = Path(__file__).resolve().parent.parent / "sample_logs" / "corpus" / "lkml"
DROPPED = LKML / "printk-dropped-4.9-stalls-after-oom-short.txt"
INTERLEAVED = LKML / "interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt"

runner = CliRunner()


def _parse(*args: str) -> Any:
    return runner.invoke(app, ["parse", "-q", *args])


def _snapshot(d: Path) -> dict[str, bytes]:
    """Every file in an output directory with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def _manifest(d: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((d / "manifest.json").read_text())
    return data


def _leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def _assert_complete(d: Path) -> None:
    """A whole set: the manifest lists exactly the files there, with their row counts."""
    m = _manifest(d)
    listed = [t["file"] for t in m["tables"]] + ["manifest.json"]
    assert sorted(listed) == sorted(p.name for p in d.iterdir())
    for t in m["tables"]:
        meta = pq.read_metadata(d / t["file"])
        assert meta.num_rows == t["rows"], t["name"]
        assert meta.schema.to_arrow_schema().names == [c["name"] for c in t["columns"]]


# --- whole-set replacement ---------------------------------------------------------------


def test_narrower_rerun_replaces_the_whole_set(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _parse(str(DROPPED), "-o", str(out)).exit_code == 0
    assert (out / "lines.parquet").exists() and (out / "findings.parquet").exists()
    r = _parse(str(DROPPED), "-o", str(out), "--no-lines")
    assert r.exit_code == 0, r.output
    assert not (out / "lines.parquet").exists()
    _assert_complete(out)
    r = _parse(str(DROPPED), "-o", str(out), "--tables", "events,boots")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == [
        "boots.parquet",
        "events.parquet",
        "manifest.json",
    ]
    assert _manifest(out)["options"]["tables"] == ["boots", "events"]
    assert _leftovers(tmp_path, "out") == []


def test_manifest_matches_the_tables_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    started = time.time()
    r = _parse(str(INTERLEAVED), str(DROPPED), "-o", str(out))
    assert r.exit_code == 0, r.output
    _assert_complete(out)
    m = _manifest(out)
    assert m["manifest_version"] == 1 and m["stalllog_version"] == stalllog.__version__
    assert m["analysis"] is True and m["options"]["format"] == "parquet"
    # 516 and 21 lines (wc -l); the inputs hashed as read equal sha256sum of the files
    lines = next(t for t in m["tables"] if t["name"] == "lines")
    assert lines["rows"] == 516 + 21
    for entry, path in zip(m["inputs"], (INTERLEAVED, DROPPED), strict=True):
        assert entry["name"] == str(path)
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["size"] == entry["bytes_read"] == path.stat().st_size
        assert entry["complete"] is True and entry["hashed"] == "while reading"
    assert started - 1 < _iso(m["started"]) <= _iso(m["finished"]) < time.time() + 1

    r = _parse(str(DROPPED), "-o", str(out), "--no-analysis", "-f", "json")
    assert r.exit_code == 0, r.output
    m = _manifest(out)
    assert m["analysis"] is False and m["options"]["format"] == "json"
    names = {t["name"] for t in m["tables"]}
    assert "findings" not in names and {"lines", "events"} <= names
    for t in m["tables"]:
        n = len((out / t["file"]).read_text().splitlines())
        assert n == t["rows"], t["name"]


def _iso(s: str) -> float:
    return datetime.fromisoformat(s).timestamp()


def test_stdin_is_hashed_as_read(tmp_path: Path) -> None:
    data = DROPPED.read_bytes()
    r = runner.invoke(app, ["parse", "-q", "-", "-o", str(tmp_path / "o")], input=data)
    assert r.exit_code == 0, r.output
    (entry,) = _manifest(tmp_path / "o")["inputs"]
    assert entry["name"] == "<stdin>" and entry["size"] is None
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["bytes_read"] == len(data) and entry["complete"] is True


def test_library_call_hashes_file_inputs_separately(tmp_path: Path) -> None:
    result = parse_to_files([str(DROPPED)], tmp_path / "o", tables={"events"})
    assert result.paths == {"events": tmp_path / "o" / "events.parquet"}
    (entry,) = _manifest(tmp_path / "o")["inputs"]
    assert entry["hashed"] == "separately"
    assert entry["sha256"] == hashlib.sha256(DROPPED.read_bytes()).hexdigest()


def test_existing_directories(tmp_path: Path) -> None:
    # empty: used; older stalllog output (table files only): replaced
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _parse(str(DROPPED), "-o", str(empty)).exit_code == 0
    old = tmp_path / "old"
    old.mkdir()
    (old / "lines.parquet").write_bytes(b"from an older stalllog")
    assert _parse(str(DROPPED), "-o", str(old), "--tables", "events").exit_code == 0
    assert sorted(p.name for p in old.iterdir()) == ["events.parquet", "manifest.json"]
    # anything else: refused, untouched, unless --force
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"meow")
    r = _parse(str(DROPPED), "-o", str(foreign))
    assert r.exit_code == 1
    assert r.stderr == (
        f"stalllog: {foreign}: is not empty and not a stalllog output (no manifest.json); "
        "--force replaces it and deletes its contents\n"
    )
    assert _snapshot(foreign) == {"cat.jpg": b"meow"}
    assert _parse(str(DROPPED), "-o", str(foreign), "--force").exit_code == 0
    _assert_complete(foreign)
    assert _manifest(foreign)["options"]["force"] is True


# --- failures and kills --------------------------------------------------------------------


def test_write_failure_keeps_the_old_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    assert _parse(str(DROPPED), "-o", str(out)).exit_code == 0
    before = _snapshot(out)
    calls = 0
    real = stalllog.output.writers.ParquetTableWriter._write

    def full_disk(self: Any, t: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 5:  # the 5th write: lines, unparsed and two small tables are written
            raise OSError(errno.ENOSPC, "Error writing bytes to file")
        real(self, t)

    monkeypatch.setattr(stalllog.output.writers.ParquetTableWriter, "_write", full_disk)
    r = _parse(str(INTERLEAVED), "-o", str(out))
    assert r.exit_code == 1
    failed = r.stderr.removeprefix(f"stalllog: {out}/").split(":")[0]
    assert r.stderr == f"stalllog: {out}/{failed}: No space left on device\n"
    assert failed.endswith(".parquet") and failed not in ("lines.parquet", "unparsed.parquet")
    assert _snapshot(out) == before
    assert _leftovers(tmp_path, "out") == []


def test_write_failure_in_the_lines_thread_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lines` batches are encoded in a thread: a full disk there still names lines.parquet,
    fails the run and keeps the old set."""
    out = tmp_path / "out"
    assert _parse(str(DROPPED), "-o", str(out)).exit_code == 0
    before = _snapshot(out)
    real = pq.ParquetWriter.write_table
    threads: list[str] = []

    def full_disk(self: Any, table: Any, row_group_size: Any = None) -> None:
        if "text" in table.column_names:  # the lines table
            threads.append(threading.current_thread().name)
            raise OSError(errno.ENOSPC, "Error writing bytes to file")
        real(self, table, row_group_size)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full_disk)
    r = _parse(str(INTERLEAVED), "-o", str(out))
    assert r.exit_code == 1
    assert r.stderr == f"stalllog: {out}/lines.parquet: No space left on device\n"
    assert threads and all(t.startswith("stalllog-parquet") for t in threads)
    assert _snapshot(out) == before
    assert _leftovers(tmp_path, "out") == []


def test_interrupt_keeps_the_old_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    assert _parse(str(DROPPED), "-o", str(out)).exit_code == 0
    before = _snapshot(out)

    def interrupted(directory: Path, manifest: Any) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(stalllog.output.writers.manifest, "write", interrupted)
    r = _parse(str(INTERLEAVED), "-o", str(out))
    assert r.exit_code != 0
    assert _snapshot(out) == before
    assert _leftovers(tmp_path, "out") == []


def test_without_rename_exchange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where renameat2 is missing: two renames. Interrupted between them, the old complete
    set is under `.out.old.XXXXXXXX` (the documented window); otherwise the new set is in."""
    monkeypatch.setattr(stalllog.output.atomic, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    assert _parse(str(DROPPED), "-o", str(out)).exit_code == 0
    assert _parse(str(INTERLEAVED), "-o", str(out), "--no-lines").exit_code == 0
    _assert_complete(out)
    assert _manifest(out)["inputs"][0]["name"] == str(INTERLEAVED)
    assert _leftovers(tmp_path, "out") == []
    before = _snapshot(out)

    real = os.rename
    calls = []

    def rename(a: Any, b: Any) -> None:
        calls.append(b)
        if len(calls) == 3:  # after rename(new, out) failed (not empty) and rename(out, old)
            raise KeyboardInterrupt
        real(a, b)

    monkeypatch.setattr(stalllog.output.atomic.os, "rename", rename)
    r = _parse(str(DROPPED), "-o", str(out))
    assert r.exit_code != 0
    assert not out.exists()
    (old,) = [p for p in tmp_path.iterdir() if p.name.startswith(".out.old.")]
    assert _snapshot(old) == before
    assert _leftovers(tmp_path, "out") == [old.name]


def _kill_after(out: Path, n_files: int | str) -> tuple[int, int | None]:
    """Run `stalllog parse` and SIGKILL it once its temporary directory holds `n_files`
    files (or the file so named); the exit status and the temporary directory's mode while
    it was written."""
    cmd = [sys.executable, "-m", "stalllog", "parse", "-q", str(INTERLEAVED), "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mode: int | None = None

    def watch() -> None:
        nonlocal mode
        while proc.poll() is None:
            for tmp in out.parent.glob(f".{out.name}.*"):
                if tmp.name.startswith(f".{out.name}.old."):
                    continue  # the previous set, moved aside by the swap
                try:
                    # the mode as first seen: once complete, it is opened up before the rename
                    if mode is None:
                        mode = tmp.stat().st_mode & 0o777
                    there = os.listdir(tmp)
                    if n_files in there if isinstance(n_files, str) else len(there) >= n_files:
                        proc.send_signal(signal.SIGKILL)
                        return
                except FileNotFoundError:
                    pass

    t = threading.Thread(target=watch)
    t.start()
    rc = proc.wait(timeout=120)
    t.join()
    return rc, mode


@pytest.mark.parametrize("n_files", [1, 12, 30, "manifest.json"])
def test_sigkill_leaves_old_or_new_complete_set(tmp_path: Path, n_files: int | str) -> None:
    out = tmp_path / "out"
    assert _parse(str(DROPPED), "-o", str(out)).exit_code == 0
    before = _snapshot(out)
    rc, mode = _kill_after(out, n_files)
    if rc == -signal.SIGKILL:
        # killed while writing: the old set, byte for byte; the private directory was 0700
        assert _snapshot(out) == before
        assert mode == 0o700
        # the next run says what the killed one left behind (it cannot clean up)
        (left,) = _leftovers(tmp_path, "out")
        r = _parse(str(DROPPED), "-o", str(out))
        assert r.exit_code == 0
        assert r.stderr == (
            f"stalllog: {tmp_path}/{left}: warning: left over from an interrupted stalllog run "
            "(see docs/outputs.md)\n"
        )
    else:  # finished before the kill landed: the new set
        assert rc == 0
        assert _manifest(out)["inputs"][0]["name"] == str(INTERLEAVED)
    _assert_complete(out)


# --- symlinks ------------------------------------------------------------------------------


def test_planted_symlinks_are_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    # every name an earlier stalllog wrote through (`.<file>.part`), every table and the
    # manifest, planted in the target
    names = [t.name for t in stalllog.engine.schema.all_schemas()]
    for name in names:
        for file in (f"{name}.parquet", f".{name}.parquet.part"):
            (out / file).symlink_to(victim)
    (out / "manifest.json").symlink_to(victim)
    r = _parse(str(DROPPED), "-o", str(out))
    assert r.exit_code == 1 and "not a stalllog output" in r.stderr  # a symlink is no manifest
    assert _parse(str(DROPPED), "-o", str(out), "--force").exit_code == 0
    _assert_complete(out)
    assert not any(p.is_symlink() for p in out.iterdir())
    assert victim.read_text() == "precious"
    # the target itself a symlink: refused
    link = tmp_path / "link"
    link.symlink_to(out)
    before = _snapshot(out)
    r = _parse(str(INTERLEAVED), "-o", str(link))
    assert r.exit_code == 1
    assert r.stderr == f"stalllog: {link}: is a symbolic link; give the directory it points to\n"
    assert _snapshot(out) == before and link.is_symlink()


# --- errors --------------------------------------------------------------------------------


def test_output_under_a_regular_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("")
    r = _parse(str(DROPPED), "-o", str(f / "sub" / "out"))
    assert r.exit_code == 1
    assert r.stderr == f"stalllog: {f}/sub/out: {f} is not a directory\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_output_in_a_read_only_directory(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    r = _parse(str(DROPPED), "-o", str(ro / "out"))
    assert r.exit_code == 1
    assert r.stderr == f"stalllog: {ro}/out: Permission denied\n"
    # a parent we may not even search
    ro.chmod(0o000)
    r = _parse(str(DROPPED), "-o", str(ro / "sub" / "out"))
    ro.chmod(0o755)
    assert r.exit_code == 1
    assert r.stderr == f"stalllog: {ro}/sub/out: Permission denied\n"


def test_cannot_create_the_temporary_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what mkdtemp raises in a directory we may not write (as root the real one cannot fail)
    def denied(dir: str, prefix: str) -> str:
        raise PermissionError(errno.EACCES, "Permission denied", f"{dir}/{prefix}x1y2z3")

    monkeypatch.setattr(stalllog.output.atomic.tempfile, "mkdtemp", denied)
    r = _parse(str(DROPPED), "-o", "out-here")
    assert r.exit_code == 1
    assert r.stderr == "stalllog: out-here: Permission denied\n"


def test_manifest_write_failure_names_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(directory: Path, manifest: Any) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(stalllog.output.writers.manifest, "write", full)
    out = tmp_path / "out"
    r = _parse(str(DROPPED), "-o", str(out))
    assert r.exit_code == 1
    assert r.stderr == f"stalllog: {out}/manifest.json: No space left on device\n"
    assert list(tmp_path.iterdir()) == []


def test_dash_is_not_an_output_directory(tmp_path: Path) -> None:
    # `-o -` streams JSON Lines (tests/test_cli.py); a file format cannot go there
    r = runner.invoke(app, ["parse", str(DROPPED), "-o", "-", "-f", "csv"])
    assert r.exit_code == 2
    assert "'-' streams JSON Lines: no --format, or --format json" in r.output
    assert not Path("-").exists()


# --- terminal ------------------------------------------------------------------------------


def test_markup_in_a_file_name_is_not_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a name with `/` is a path: `[link=http:` and `x]CLICK[` are directories; the progress
    # bar shows base names, so one input has markup without `/` in its base name
    hostile = f"{tmp_path}/[link=http://x]CLICK[/link].log"
    Path(hostile).parent.mkdir(parents=True)
    shutil.copy(DROPPED, hostile)
    base = tmp_path / "[link=https:x]CLICK.log"
    shutil.copy(DROPPED, base)
    # show the progress bar (normally: a terminal and more than 4 MiB) and let rich colour
    monkeypatch.setattr(cli_app, "PROGRESS_MIN_BYTES", 0)
    monkeypatch.setattr(cli_app, "_terminal", lambda: True)
    env = {"FORCE_COLOR": "1", "TERM": "xterm", "COLUMNS": "300"}
    r = runner.invoke(app, ["parse", hostile, str(base), "-o", str(tmp_path / "o")], env=env)
    assert r.exit_code == 0, r.output
    assert "\x1b[" in r.stderr  # the bar was drawn, in colour
    assert "\x1b]8;" not in r.stdout + r.stderr  # no OSC 8 hyperlink
    assert "[link=https:x]CLICK.log" in r.stderr  # its description, shown literally
    assert hostile in r.stdout and str(base) in r.stdout  # the summary lists the sources


def test_control_characters_in_a_table_name_are_escaped() -> None:
    r = runner.invoke(app, ["parse", str(DROPPED), "--tables", "\x1b]0;owned\x07"])
    assert r.exit_code == 2
    assert "\x1b" not in r.output and "\\x1b]0;owned\\x07" in r.output


def test_leftovers_are_only_abandoned_temporary_directories(tmp_path: Path) -> None:
    target = tmp_path / "out"
    (tmp_path / ".out.cache").mkdir()  # the user's, not mkdtemp's shape
    abandoned = Path(tempfile.mkdtemp(dir=tmp_path, prefix=".out."))
    with StagedDir(target) as stage:  # a run in progress holds its directory locked
        assert leftovers(target) == [abandoned]
        assert stage.path.exists()
    assert not stage.path.exists()


def test_named_pipe_is_hashed_as_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    data = DROPPED.read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as f:  # one writer: the input is opened once
            f.write(data)

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    r = _parse(str(fifo), "-o", str(tmp_path / "o"))
    if t.is_alive():  # the CLI never opened the pipe: unblock the writer, then fail below
        open(fifo, "rb").close()
    t.join()
    assert r.exit_code == 0, r.output
    (entry,) = _manifest(tmp_path / "o")["inputs"]
    assert entry["size"] is None and entry["complete"] is True
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["bytes_read"] == len(data)
