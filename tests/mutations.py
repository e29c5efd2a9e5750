"""Mutations of real capture bytes, shared by tests/test_fuzz.py, tests/test_values.py and the
standalone loop tests/fuzz_loop.py.

Every mutation starts from real sample bytes (sample_logs/) and damages them the way consoles,
collectors and copy-paste do: numbers grown past any column type or mangled (`--5`, `5x`),
lines cut, records glued (a lost newline, a printk stamp in mid-line), compressed members
concatenated and cut. No new kinds of log lines are invented.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
import re
from collections.abc import Callable
from functools import cache

from conftest import rebuild, sample_files

import stalllog

DIGITS = re.compile(rb"\d+")
HUGE = b"9" * 25  # past uint64 (20 digits) and any float-exact integer


@cache
def sample_lines() -> list[list[bytes]]:
    """Every sample's decompressed bytes as lines (newline kept), one list per sample."""
    out = []
    for p in sample_files():
        data = p.read_bytes()
        if data.startswith(b"\xfd7zXZ"):
            data = lzma.decompress(data)
        elif data.startswith(b"\x1f\x8b"):
            data = gzip.decompress(data)
        out.append(data.splitlines(keepends=True))
    return out


def window(rng: random.Random) -> bytes:
    """A run of 5..300 consecutive lines of a random sample."""
    lines = rng.choice(sample_lines())
    size = rng.randint(5, 300)
    start = rng.randrange(max(1, len(lines) - size))
    return b"".join(lines[start : start + size])


def _run(data: bytes, rng: random.Random) -> tuple[int, int] | None:
    runs = [m.span() for m in DIGITS.finditer(data)]
    return rng.choice(runs) if runs else None


def _replace(data: bytes, rng: random.Random, make: Callable[[bytes], bytes]) -> bytes:
    span = _run(data, rng)
    if span is None:
        return data
    a, b = span
    return data[:a] + make(data[a:b]) + data[b:]


def huge_number(data: bytes, rng: random.Random) -> bytes:
    """A digit run replaced by a 20-40 digit run (past int64 and uint64)."""
    return _replace(data, rng, lambda _: b"%d" % rng.randint(1, 9) + b"9" * rng.randint(19, 39))


def negative_number(data: bytes, rng: random.Random) -> bytes:
    """A digit run prefixed by `-` or `--` (`min:--156kB`)."""
    return _replace(data, rng, lambda run: rng.choice([b"-", b"--"]) + run)


def junk_number(data: bytes, rng: random.Random) -> bytes:
    """Digits followed by junk or doubled signs inside (`12x`, `1-2`, `1.2.3`)."""
    junk = [b"x", b"-", b".", b"_", b"e9", b"\xc2\xb2", b"+"]
    return _replace(data, rng, lambda run: run[:1] + rng.choice(junk) + run[1:] + rng.choice(junk))


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def glue(data: bytes, rng: random.Random) -> bytes:
    """Two records joined: a newline dropped (unfinished `pr_cont` of another CPU)."""
    nls = [m.start() for m in re.finditer(rb"\n", data)]
    if not nls:
        return data
    i = rng.choice(nls)
    return data[:i] + data[i + 1 :]


def stamp_inside(data: bytes, rng: random.Random) -> bytes:
    """A printk stamp (taken from the data when it has one) glued into the middle of a line."""
    stamps = re.findall(rb"\[ *\d+\.\d{6}\](?:\[ *[TC]\d+\])? ", data) or [b"[  123.456789] "]
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.choice(stamps) + data[i:]


def compressed(data: bytes, rng: random.Random) -> bytes:
    """Pieces compressed as separate members, concatenated, maybe cut."""
    pack = rng.choice([gzip.compress, lzma.compress, bz2.compress])
    cuts = sorted(rng.sample(range(len(data) + 1), k=min(2, len(data) + 1)))
    pieces = [data[: cuts[0]], data[cuts[0] : cuts[-1]], data[cuts[-1] :]]
    packed = b"".join(pack(p) for p in pieces if p) or pack(b"")
    if rng.random() < 0.5:
        packed = packed[: max(12, rng.randrange(len(packed) + 1))]
    return packed


TEXT_MUTATIONS: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    huge_number,
    huge_number,  # numbers are the point: twice the weight
    negative_number,
    junk_number,
    truncate,
    glue,
    stamp_inside,
)


def mutate(rng: random.Random) -> bytes:
    """A real window with 1-4 text mutations, compressed in one case out of ten."""
    data = window(rng)
    for _ in range(rng.randint(1, 4)):
        data = rng.choice(TEXT_MUTATIONS)(data, rng)
    return compressed(data, rng) if rng.random() < 0.1 else data


def check(data: bytes) -> stalllog.Capture:
    """Parse (the analysis too) and check nothing was lost: for plain input every line comes
    back byte-exact; for an archive, what decoded is a prefix of the original."""
    cap = stalllog.parse(data)
    tables = cap.arrow  # runs the deferred analysis
    lines = tables["lines"]
    if cap.sources.compression.iloc[0] is None:
        assert rebuild(lines) == data
        assert lines.num_rows == data.count(b"\n") + (len(data) > 0 and not data.endswith(b"\n"))
    return cap
