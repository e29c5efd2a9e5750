"""The manifest's sha256 of an input, taken while the parser reads it: pieces of 1 MiB and more
are hashed on a thread (output/hashing.py), and must still be hashed whole and in order."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from stalllog.cli.app import app
from stalllog.output.hashing import HashedInput

QEMU = Path(__file__).parent.parent / "sample_logs/qemu"
SAMPLE = QEMU / "6.1.0-56-amd64-global-oom-notime-serial.log"


def _big_capture(tmp_path: Path, copies: int) -> Path:
    """A real console capture repeated (several boots back to back), a few MiB."""
    path = tmp_path / "console.log"
    path.write_bytes(SAMPLE.read_bytes() * copies)
    return path


def test_pieces_hashed_in_order(tmp_path: Path) -> None:
    path = _big_capture(tmp_path, 20)  # 3.5 MiB: three thread-hashed reads and a short one
    data = path.read_bytes()
    f = HashedInput(str(path), "console.log")
    got = b""
    while piece := f.read1((1 << 20) + 7):
        got += piece
    f.close()
    record = f.record()
    assert got == data
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["bytes_read"] == record["size"] == len(data) and record["complete"] is True


def test_cli_manifest_sha_of_a_big_input(tmp_path: Path) -> None:
    path = _big_capture(tmp_path, 12)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["parse", "-q", str(path), "-o", str(out), "-t", "events"])
    assert r.exit_code == 0, r.output
    (entry,) = json.loads((out / "manifest.json").read_text())["inputs"]
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entry["bytes_read"] == path.stat().st_size and entry["complete"] is True
