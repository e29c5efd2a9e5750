"""The line stage runs a few chunks ahead of the dispatcher in a thread (engine/prefetch.py):
the same tables as reading chunk after chunk, errors raised where they happened, no thread left
behind."""

from __future__ import annotations

import functools
import platform
import threading
from collections.abc import Iterator

import pytest
from conftest import SAMPLES
from test_merge import COVER

import stalllog
from stalllog.engine import capture
from stalllog.engine.prefetch import prefetched
from stalllog.engine.trim import _malloc_trim
from stalllog.input import reader


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "stalllog-prefetch"]


def test_items_in_order_then_the_error_where_it_happened() -> None:
    def items() -> Iterator[int]:
        yield from range(7)
        raise ValueError("chunk 7")

    got: list[int] = []
    with pytest.raises(ValueError, match="chunk 7"):
        for i in prefetched(items(), depth=2):
            got.append(i)
    assert got == list(range(7))
    assert _threads() == []


def test_closing_early_closes_the_items_in_their_thread() -> None:
    closed_in: list[str] = []

    def items() -> Iterator[int]:
        try:
            yield from range(1000)
        finally:
            closed_in.append(threading.current_thread().name)

    gen = prefetched(items(), depth=2)
    assert [next(gen), next(gen)] == [0, 1]
    gen.close()
    assert closed_in == ["stalllog-prefetch"]
    assert _threads() == []


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """64 KiB chunks: many chunks in flight even in small samples."""
    monkeypatch.setattr(
        capture, "iter_chunks", functools.partial(reader.iter_chunks, chunk_bytes=1 << 16)
    )


def test_prefetching_gives_the_tables_of_reading_in_turn(
    small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [SAMPLES / p for p in COVER]
    ahead = stalllog.parse(*files).arrow
    monkeypatch.setattr(capture, "PREFETCH", 0)
    in_turn = stalllog.parse(*files).arrow
    assert list(ahead) == list(in_turn)
    assert ahead["lines"].column("line_no").num_chunks > 8  # a batch per chunk
    assert ahead["oom_events"].num_rows > 0
    for name, table in in_turn.items():
        assert ahead[name].equals(table), name


def test_an_input_failing_midway_leaves_no_thread(small_chunks: None) -> None:
    path = SAMPLES / "qemu/6.12.118+deb13-amd64-global-oom-notime-kmsg.log"  # 191 KiB
    with pytest.raises(stalllog.CaptureError, match="more than 100000 bytes"):
        stalllog.parse(path, max_bytes=100_000)
    assert _threads() == []


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_the_threads_free_memory_is_given_back_before_the_steps() -> None:
    """What the reading threads freed stays in their malloc arenas unless trimmed (a storm
    peaked 260 MB higher): the binding must be found where there is glibc."""
    assert _malloc_trim() is not None
    assert _malloc_trim()(0) in (0, 1)


def test_free_pages_go_back_between_sources_past_trim_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The two halves of the production benchmark peaked at 527-537 MB without it (407-422
    with): a source's threads leave what they freed in their arenas."""
    calls: list[int] = []
    monkeypatch.setattr(capture, "release_free_memory", lambda: calls.append(1))
    files = [SAMPLES / p for p in COVER[:3]]
    sizes = [p.stat().st_size for p in files]
    monkeypatch.setattr(capture, "TRIM_BYTES", sizes[0] + sizes[1])  # after the second file
    stalllog.parse(*files)
    assert len(calls) == 1
    monkeypatch.setattr(capture, "TRIM_BYTES", 1)  # after every file
    calls.clear()
    stalllog.parse(*files)
    assert len(calls) == 3
