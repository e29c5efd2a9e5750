"""Hostile input gives tables, never a traceback: real sample bytes spliced with random bytes,
cut archives, a 1 MB line. Every line still comes back byte-exact."""

from __future__ import annotations

import gzip
import lzma
import random
from functools import cache
from typing import Any

import pyarrow as pa
import pytest
from conftest import rebuild, sample_files
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from mutations import TEXT_MUTATIONS, check, compressed, window

import stalllog
from stalllog.input.lines import LineStage
from stalllog.input.reader import sniff_compression

pytestmark = pytest.mark.slow  # run by .ci/run; skipped by a plain `pytest`


@cache
def _pieces() -> list[bytes]:
    """Real capture bytes: every sample (decompressed), cut into ~2 kB pieces."""
    out = []
    for p in sample_files():
        data = p.read_bytes()
        if data.startswith(b"\xfd7zXZ"):
            data = lzma.decompress(data)
        out += [data[i : i + 2048] for i in range(0, len(data), 2048)]
    return out


def _check(data: bytes) -> stalllog.Capture:
    cap = stalllog.parse(data)
    lines = cap.arrow["lines"]
    assert rebuild(lines) == data
    assert lines.num_rows == data.count(b"\n") + (len(data) > 0 and not data.endswith(b"\n"))
    for name, table in cap.arrow.items():  # every table was built
        assert table.num_columns > 0, name
    return cap


_splice = st.lists(
    st.one_of(
        st.integers(0, 10**9).map(lambda i: _pieces()[i % len(_pieces())]),
        st.binary(min_size=1, max_size=300),
        st.sampled_from(
            [b"\x00", b"\r", b"\x1b[0m", b"\xff\xfe", b"\n", b"\r\n", b"#012", b"\\x0a"]
        ),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_splice)
def test_spliced_real_and_random_bytes(parts: list[bytes]) -> None:
    data = b"".join(parts)
    assume(sniff_compression(data) is None)  # archives: test_cut_archives
    _check(data)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_splice, st.sampled_from(["gzip", "xz"]), st.floats(0.05, 0.95))
def test_cut_archives(parts: list[bytes], kind: str, keep: float) -> None:
    data = b"".join(parts) * 20
    packed = gzip.compress(data) if kind == "gzip" else lzma.compress(data)
    cap = stalllog.parse(packed[: max(10, int(len(packed) * keep))])  # magic kept
    lines = cap.arrow["lines"]
    got = rebuild(lines)
    assert data.startswith(got)  # what decoded, unchanged
    assert cap.sources.error.iloc[0] is not None
    if lines.num_rows:
        assert "truncated" in (cap.lines["flags"].iloc[-1] or "")


# Real-sample mutations (tests/mutations.py): numbers grown to 20-40 digits or mangled, cut
# lines, glued records, stamps in mid-line; hypothesis draws the seed and the mutation list.
# ~40 examples of ~0.3 s keep CI's fuzz time bounded; tests/fuzz_loop.py runs thousands.
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.lists(st.sampled_from(TEXT_MUTATIONS), min_size=1, max_size=4))
def test_mutated_real_windows(seed: int, mutations: list[Any]) -> None:
    rng = random.Random(seed)
    data = window(rng)
    for mutation in mutations:
        data = mutation(data, rng)
    check(data)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32))
def test_mutated_real_windows_in_compressed_members(seed: int) -> None:
    rng = random.Random(seed)
    data = TEXT_MUTATIONS[0](window(rng), rng)  # an oversized number, then packed and cut
    check(compressed(data, rng))


def test_flags_of_control_bytes() -> None:
    # a real console line (syzkaller/349 line 6) with serial noise spliced in
    line = b"[ 1431.920513][ T1054] INFO: task jbd2/sda-8:3563 blocked for more than 140 seconds."
    data = line[:30] + b"\x00\x1b[1m\r" + line[30:] + b"\n"
    cap = _check(data)
    assert cap.lines["flags"].iloc[0] == "nul+ansi+cr"
    assert cap.lines.caller.iloc[0] == "T1054"


def test_one_megabyte_line() -> None:
    # syzkaller/349 line 7's text (no family trigger in it) repeated into one 1 MB line
    line = b"[ 1431.921721][ T1054]       Not tainted 4.20.0-next-20190102+ #5" * 16000
    cap = _check(line + b"\n" + line)
    assert cap.lines["flags"].tolist() == ["long", "long+no-eol"]
    assert len(cap.lines.text.iloc[0]) == len(line) - 23


def test_one_megabyte_line_stage_alone() -> None:
    # with a family trigger inside (syzkaller/349 line 6): the line stage alone, since a
    # family regex may be slow on such a line (reported to the hung_task owner)
    line = b"[ 1431.920513][ T1054] " + b"INFO: task jbd2/sda-8:3563 blocked " * 30000
    stage = LineStage()
    stage.start_source("x")
    batch = stage.batch(line + b"\n" + line, last=True)
    assert rebuild(pa.Table.from_batches([batch])) == line + b"\n" + line
    assert batch.column("caller").to_pylist() == ["T1054", "T1054"]


def test_binary_junk_only() -> None:
    junk = bytes(range(256)) * 64
    cap = _check(junk)
    assert cap.lines["flags"].str.contains("invalid-utf8").any()
