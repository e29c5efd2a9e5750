"""Bounded resources of the reader: decompression steps, cut lines, max_bytes and the bomb
guard, and the small holes (FIFO, closed/odd file objects, NUL paths, text encodings, UTF-16).

Peak memory is measured in a subprocess (VmHWM: ru_maxrss would count the forking pytest
process), at reduced sizes."""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import os
import random
import subprocess
import sys
import textwrap
import threading
import zlib
from pathlib import Path

import pyarrow as pa
import pytest
import zstandard
from conftest import ROOT, SAMPLES, rebuild

import stalllog
from stalllog.engine.capture import iter_parse
from stalllog.input.reader import CUTS_LISTED, CaptureError, iter_chunks, open_source
from stalllog.input.streams import STEP_OUT, DecompressedStream

SAMPLE = SAMPLES / "qemu/5.10.0-46-amd64-hung-task-serial.log"
DATA = SAMPLE.read_bytes()
MiB = 1 << 20


def _compress(kind: str, block: bytes, n: int) -> bytes:
    """`n` copies of `block`, compressed as a stream (never all in memory uncompressed)."""
    c = {
        "gzip": lambda: zlib.compressobj(9, wbits=31),
        "xz": lzma.LZMACompressor,
        "bzip2": lambda: bz2.BZ2Compressor(9),
        "zstd": lambda: zstandard.ZstdCompressor().compressobj(),
    }[kind]()
    return b"".join([*(c.compress(block) for _ in range(n)), c.flush()])


KINDS = ["gzip", "xz", "bzip2", "zstd"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_step_is_bounded(kind: str) -> None:
    # 64 MiB of zeros in one go used to come out of a single decompress() call
    stream = DecompressedStream(kind, io.BytesIO(_compress(kind, bytes(MiB), 64)))
    sizes = []
    while out := stream._step():
        sizes.append(len(out))
    assert sum(sizes) == 64 * MiB and max(sizes) <= STEP_OUT and stream.error is None


@pytest.mark.parametrize("kind", KINDS)
def test_read1_returns_at_most_size(kind: str) -> None:
    stream = DecompressedStream(kind, io.BytesIO(_compress(kind, DATA, 4)))
    got = []
    while block := stream.read1(1000):
        assert len(block) <= 1000
        got.append(block)
    assert b"".join(got) == DATA * 4


@pytest.mark.parametrize("kind", KINDS)
def test_cut_archive_keeps_bytes_with_bounded_steps(kind: str) -> None:
    whole = _compress(kind, DATA, 8)
    opened = open_source(whole[: len(whole) * 3 // 4])
    data = b"".join(c.data for c in iter_chunks(opened))
    assert (DATA * 8).startswith(data) and opened.error


_PEAK = r"""
import re, sys, stalllog
kw = {"max_bytes": int(sys.argv[2])} if len(sys.argv) > 2 else {}
try:
    cap = stalllog.parse(sys.argv[1], analysis=False, **kw)
    print("parsed", cap.parsed["lines"].num_rows, cap.parsed["sources"]["error"][0])
except stalllog.CaptureError as e:
    print("refused", e)
hwm = re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read())
print("peak_mib", int(hwm[1]) // 1024)
"""


def _peak(path: Path, *args: str) -> tuple[str, int]:
    r = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path), *args],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    out = r.stdout.splitlines()
    return out[0], int(out[-1].split()[1])


@pytest.mark.parametrize("kind", KINDS)
def test_zeros_bomb_refused_or_cut_with_bounded_memory(kind: str, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb"
    bomb.write_bytes(_compress(kind, bytes(MiB), 128))
    said, peak = _peak(bomb)
    assert said.startswith(f"refused {bomb}: ") and "decompression bomb" in said
    assert peak < 400
    # asked for explicitly: read it all, one line cut at MAX_LINE, the rest only hashed
    said, peak = _peak(bomb, str(1 << 30))
    skipped = 128 * MiB - 4 * MiB
    sha = hashlib.sha256(bytes(skipped)).hexdigest()
    cut = f"line at byte 0 cut after {4 * MiB} bytes: {skipped} bytes skipped (sha256 {sha})"
    assert said == f"parsed 1 {cut}"
    assert peak < 400


def test_newline_bomb_stops_at_max_bytes(tmp_path: Path) -> None:
    bomb = tmp_path / "nl.zst"
    bomb.write_bytes(_compress("zstd", b"\n" * MiB, 256))
    said, peak = _peak(bomb, str(4 * MiB))
    assert said.startswith(f"refused {bomb}: more than {4 * MiB} bytes") and "--max-bytes" in said
    assert peak < 800


def test_max_bytes_names_input_and_limit() -> None:
    with pytest.raises(CaptureError, match=r"^<bytes>: more than 1000 bytes .*max_bytes="):
        stalllog.parse(DATA, max_bytes=1000)
    assert stalllog.parse(DATA, max_bytes=len(DATA)).parsed["lines"].num_rows > 0


@pytest.mark.parametrize(
    ("arg", "value"), [("hz", "x"), ("hz", 0), ("hz", True), ("max_bytes", -1), ("max_bytes", "1")]
)
def test_bad_arguments_fail_before_reading(arg: str, value: object) -> None:
    # the input does not exist: the argument must be reported first, without reading
    with pytest.raises(ValueError, match=f"^{arg} must be a positive number"):
        stalllog.parse("/nonexistent/capture.log", **{arg: value})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=f"^{arg} must be a positive number"):
        iter_parse(["/nonexistent/capture.log"], **{arg: value})  # type: ignore[arg-type]


def _with_long_line(n: int, at: int = 40) -> tuple[bytes, bytes]:
    """The sample with an `n`-byte line inserted after line `at`, and that line."""
    lines = DATA.splitlines(keepends=True)
    long = b"x" * n
    return b"".join([*lines[:at], long + b"\n", *lines[at:]]), long


def test_long_line_cut_counted_and_hashed() -> None:
    data, long = _with_long_line(9 * MiB)
    cap = stalllog.parse(data, analysis=False)
    lines = cap.parsed["lines"]
    assert lines.num_rows == DATA.count(b"\n") + 1
    cut = lines.slice(40, 1).to_pylist()[0]
    assert cut["flags"] == "long+cut" and len(cut["text"]) == 4 * MiB
    src = cap.parsed["sources"].to_pylist()[0]
    offset = data.index(long)
    sha = hashlib.sha256(long[4 * MiB :]).hexdigest()
    assert src["error"] == (
        f"line at byte {offset} cut after {4 * MiB} bytes: {5 * MiB} bytes skipped (sha256 {sha})"
    )
    assert src["n_bytes"] == len(data)
    # the lines rebuild the input except the skipped part of the cut line
    assert rebuild(lines) == data.replace(long, long[: 4 * MiB])
    # everything else parses as without the long line
    plain = stalllog.parse(DATA, analysis=False)
    assert cap.parsed["events"].num_rows == plain.parsed["events"].num_rows


def test_cut_keeps_utf8_characters_whole_and_sums_up_many_cuts() -> None:
    tail = b"tail without newline " * 10
    data = ("é" * 60 + "\n").encode() * (CUTS_LISTED + 3) + tail
    opened = open_source(data)
    chunks = list(iter_chunks(opened, chunk_bytes=1000, max_line=51))
    text = b"".join(c.data for c in chunks)
    # 51 bytes would split the 26th "é": the cut backs off to 50
    assert text == ("é" * 25 + "\n").encode() * (CUTS_LISTED + 3) + tail[:51]
    assert [c.cut for c in chunks].count(True) == CUTS_LISTED + 4 and chunks[-1].last
    problems = opened.problems()
    assert problems is not None and problems.count("cut after 50 bytes: 70 bytes") == CUTS_LISTED
    rest = ("é" * 35).encode() * 3 + tail[51:]
    assert problems.endswith(
        f"; 4 more lines cut: {len(rest)} bytes skipped (sha256 of them all "
        f"{hashlib.sha256(rest).hexdigest()})"
    )


def test_fifo_parses_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "console.fifo"

    def write() -> None:
        with open(fifo, "wb") as f:
            f.write(DATA)

    for argv in ([], [sys.executable, "-m", "stalllog", "summary", str(fifo)]):
        os.mkfifo(fifo)
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        if not argv:
            lines = stalllog.parse(fifo, analysis=False).parsed["lines"]
            assert rebuild(lines) == DATA
        else:  # the CLI used to open the FIFO to size it, then hang on a second open
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT)
            assert r.returncode == 0, r.stderr
        writer.join(10)
        assert not writer.is_alive()
        fifo.unlink()


class _OnlyRead:
    name = "only-read"

    def __init__(self, data: bytes) -> None:
        self.f = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self.f.read(n)


def test_a_reader_with_only_read_works() -> None:
    assert rebuild(stalllog.parse(_OnlyRead(DATA), analysis=False).parsed["lines"]) == DATA  # type: ignore[arg-type]


def test_unusable_inputs_raise_capture_error_naming_them(tmp_path: Path) -> None:
    closed = open(SAMPLE, "rb")  # noqa: SIM115
    closed.close()
    with pytest.raises(CaptureError, match=f"^{SAMPLE}: the file object is closed"):
        stalllog.parse(closed)
    with pytest.raises(CaptureError, match="NUL byte"):
        stalllog.parse(str(SAMPLE) + "\x00x")
    with open(tmp_path / "w.log", "wb") as out, pytest.raises(CaptureError, match="not open for"):
        stalllog.parse(out)
    latin = tmp_path / "latin1.log"
    latin.write_bytes(DATA[:2000] + "\nMem-Info: \xe9t\xe9\n".encode("latin-1"))
    with (
        open(latin, encoding="utf-8") as f,
        pytest.raises(CaptureError, match=f"^{latin}: not utf-8 text .*binary mode"),
    ):
        stalllog.parse(f)


def test_text_objects_are_read_in_pieces() -> None:
    sizes: list[int] = []

    class Recording(io.StringIO):
        def read(self, n: int | None = -1) -> str:
            sizes.append(-1 if n is None else n)
            return super().read(n)

    lines = stalllog.parse(Recording(DATA.decode()), analysis=False).parsed["lines"]
    assert rebuild(lines) == DATA and sizes and all(0 < n <= 1 << 20 for n in sizes)


def _tables(data: bytes) -> dict[str, bytes]:
    """Every table as Arrow IPC bytes (NaN != NaN makes `Table.equals` useless here)."""
    out = {}
    for name, t in stalllog.parse(data).arrow.items():
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, t.schema) as w:
            w.write_table(t.combine_chunks())
        out[name] = sink.getvalue().to_pybytes()
    return out


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_bom_parses_like_utf8(codec: str) -> None:
    bom = b"\xff\xfe" if codec.endswith("le") else b"\xfe\xff"
    want = _tables(DATA)
    got = _tables(bom + DATA.decode().encode(codec))
    assert got.keys() == want.keys()
    for name in want:
        assert got[name] == want[name], name
    # compressed too: the byte order mark is looked for after decompression
    got = stalllog.parse(lzma.compress(bom + DATA.decode().encode(codec)), analysis=False).arrow
    assert rebuild(got["lines"]) == DATA


def test_utf16_bad_bytes_become_escapes() -> None:
    data = b"\xff\xfe" + "ok\n".encode("utf-16-le") + b"\x00\xd8" + "\n".encode("utf-16-le") + b"x"
    text = stalllog.parse(data, analysis=False).parsed["lines"].column("text").to_pylist()
    assert text == ["ok", "\\x00\\xd8", "\\x78"]


def test_dev_zero_stops_at_max_bytes() -> None:
    code = textwrap.dedent(
        """
        import stalllog
        try:
            stalllog.parse("/dev/zero", max_bytes=64 << 20)
        except stalllog.CaptureError as e:
            print(e)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.startswith(f"/dev/zero: more than {64 << 20} bytes")


def test_cli_max_bytes() -> None:
    argv = [sys.executable, "-m", "stalllog", "summary", "--max-bytes", "1000", str(SAMPLE)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 1
    assert (
        r.stderr.startswith(f"stalllog: {SAMPLE}: more than 1000 bytes")
        and "--max-bytes" in r.stderr
    )


@pytest.mark.parametrize("seed", range(3))
def test_cut_matches_a_plain_model(seed: int) -> None:
    """Lines around max_line, any chunk size: each line over max_line keeps max_line bytes."""
    rng = random.Random(seed)
    for _ in range(100):
        max_line = rng.choice([5, 17, 64, 300])
        sizes = [0, 1, 5, 6, 16, 17, 18, 63, 64, 65, 299, 300, 301, 5000, 70000]
        lines = [b"a" * rng.choice(sizes) for _ in range(rng.randint(0, 30))]
        data = b"\n".join(lines) + rng.choice([b"", b"\n"])
        want = [line[:max_line] for line in data.split(b"\n")]
        opened = open_source(data)
        chunk_bytes = rng.choice([10, 100, 1000, 1 << 20])
        chunks = list(iter_chunks(opened, chunk_bytes=chunk_bytes, max_line=max_line))
        assert b"".join(c.data for c in chunks) == b"\n".join(want)
        assert sum(c.cut for c in chunks) == sum(len(x) > max_line for x in data.split(b"\n"))
        assert opened.cut.skipped == len(data) - len(b"\n".join(want))
        assert chunks[-1].last and not any(c.last for c in chunks[:-1])


@pytest.mark.parametrize(
    "data", [b"\xfe\xff", b"\xff\xfe", b"\xfe\xff\x00\x01\x02\x03\x04\x05\x06\x07\x08\n"]
)
def test_bom_without_text_after_it_is_read_as_bytes(data: bytes) -> None:
    # found by test_fuzz: a lone BOM was decoded to nothing and the input did not come back
    lines = stalllog.parse(data, analysis=False).parsed["lines"]
    assert rebuild(lines) == data
