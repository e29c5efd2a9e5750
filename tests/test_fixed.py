"""fixed.py's readers take a line only where its RE2 pattern (prefixes.py) reads it the same:
checked on every printk time of the samples and on those stamps with bytes swapped."""

from __future__ import annotations

import lzma
import random
import re
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import sample_files

from stalllog.input import fixed
from stalllog.input.prefixes import BRACKET_TIME

_STAMP = re.compile(rb"^\[[ 0-9]*\.[0-9]*\] ?", re.M)


@cache
def _stamps() -> list[bytes]:
    """The first 24 bytes of every sample line that starts with a printk time."""
    out: set[bytes] = set()
    for p in sample_files():
        data = p.read_bytes()
        if data.startswith(b"\xfd7zXZ"):
            data = lzma.decompress(data)
        out |= {data[m.start() : m.start() + 24].split(b"\n")[0] for m in _STAMP.finditer(data)}
    return sorted(out)


def _by_pattern(lines: list[bytes]) -> list[tuple[int, float] | None]:
    m = pc.extract_regex(pa.array(lines, pa.binary()).cast(pa.string()), BRACKET_TIME)
    return [None if r is None else (len(r["prefix"]), float(r["ts"])) for r in m.to_pylist()]


def _by_bytes(lines: list[bytes]) -> list[tuple[int, float] | None]:
    buf = b"".join(line + b"\n" for line in lines)
    starts = np.cumsum([0] + [len(line) + 1 for line in lines[:-1]])
    pad = np.concatenate([np.frombuffer(buf, np.uint8), np.zeros(fixed.PAD, np.uint8)])
    fits, plen, secs = fixed.printk_times(pad, starts)
    return [(int(p), float(s)) if f else None for f, p, s in zip(fits, plen, secs, strict=True)]


def _agree(lines: list[bytes]) -> int:
    """How many lines the bytes read; each of them read as the pattern reads it."""
    want, got = _by_pattern(lines), _by_bytes(lines)
    for line, w, g in zip(lines, want, got, strict=True):
        assert g is None or g == w, line
    return sum(g is not None for g in got)


def test_every_printk_time_of_the_samples() -> None:
    stamps = _stamps()
    assert len(stamps) > 10_000
    widths = {s.index(b"]") for s in stamps}
    assert {13, 14, 15} <= widths  # `[%5lu.%06lu]` and the wider uptimes
    assert _agree(stamps) == sum(w is not None for w in _by_pattern(stamps))  # all read


@pytest.mark.parametrize("seed", range(20))
def test_printk_times_with_bytes_swapped(seed: int) -> None:
    rng = random.Random(seed)
    stamps = rng.sample(_stamps(), 2000)
    swapped = []
    for s in stamps:
        b = bytearray(s)
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(min(len(b), 18))] = rng.choice(b" 0123456789.][x\t")
        swapped.append(bytes(b))
    assert _agree(swapped) > 0
