"""Pathological shapes take time linear in their size (issue 8): each shape is parsed at 1×
and 8×, and the time may grow at most 12× (a quadratic path grows 64×). The lines are real
lines of the samples, repeated or with one field varied."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from conftest import SAMPLES

import stalllog

pytestmark = pytest.mark.slow  # timing: run by .ci/run, skipped by a plain `pytest`

SYZ = SAMPLES / "corpus" / "syzkaller"


def _real_line(pattern: str) -> str:
    for p in sorted(SAMPLES.rglob("*")):
        if p.is_file() and p.suffix in ("", ".txt", ".log"):
            for line in p.read_text("utf-8", "replace").splitlines():
                if re.search(pattern, line):
                    return line
    raise AssertionError(f"no sample line matches {pattern!r}")


def _seconds(data: bytes) -> float:
    """CPU seconds of the parse (best of 2): on a machine shared with the rest of the suite,
    wall time measures the neighbours too."""
    best = float("inf")
    for _ in range(2):
        t0 = time.process_time()
        stalllog.parse(data, analysis=False).arrow  # noqa: B018 - build every table
        best = min(best, time.process_time() - t0)
    return best


def _assert_linear(make: Callable[[int], bytes], n: int) -> None:
    _seconds(make(n // 8))  # warm up imports and caches
    small, big = _seconds(make(n)), _seconds(make(8 * n))
    assert big <= 12 * max(small, 0.05), f"{n} -> {8 * n}: {small:.2f} s -> {big:.2f} s"


def test_repeated_banners_are_linear() -> None:
    banner = _real_line(r"^\[    0\.000000\] Linux version ")
    _assert_linear(lambda n: (banner + "\n").encode() * n, 2_500)


def test_clock_resets_are_linear() -> None:
    # every `[    0.000000]` after later stamps starts a boot: one boot per two lines
    zero = _real_line(r"^\[    0\.000000\] Command line: ")
    later = _real_line(r"^\[ +\d{3,}\.\d{6}\] INFO: task .* blocked for more than")
    _assert_linear(lambda n: f"{zero}\n{later}\n".encode() * n, 2_500)


def test_drop_markers_over_many_open_blocks_are_linear() -> None:
    # one hung-task report open per caller id, then as many `printk messages dropped` markers
    header = _real_line(r"^\[ *\d+\.\d+\]\[ *T\d+\] INFO: task .* blocked for more than")
    marker = _real_line(r"^\*\* \d+ printk messages dropped \*\*$")

    def make(n: int) -> bytes:
        opened = [re.sub(r"\[ *T\d+\]", f"[T{10_000 + i}]", header, count=1) for i in range(n)]
        return "\n".join([*opened, *[marker] * n, ""]).encode()

    _assert_linear(make, 1_000)


def _blocks_by_kind() -> dict[str, tuple[list[bytes], int, int]]:
    """The first block of 6+ lines of each event kind in the samples: (lines, start, end)."""
    import lzma

    from conftest import sample_files

    found: dict[str, tuple[list[bytes], int, int]] = {}
    for p in sample_files():
        data = p.read_bytes()
        data = lzma.decompress(data) if data.startswith(b"\xfd7zXZ") else data
        events = stalllog.parse(data, analysis=False).events
        for e in events[events["n_lines"] >= 6].itertuples():
            if e.kind not in found:
                found[e.kind] = (data.split(b"\n"), e.line_start - 1, e.line_end)
    return found


def test_every_block_kind_with_its_body_repeated_is_linear() -> None:
    # a block's inner lines (task rows, frames, Mem-Info lines, a dump continued after an
    # interruption...) repeated inside it: per-line work must not walk what came before
    slow = []
    for kind, (lines, start, end) in sorted(_blocks_by_kind().items()):
        head, body, tail = (
            lines[start : start + 2],
            lines[start + 2 : end - 1],
            lines[end - 1 : end],
        )
        k = max(1, 1_500 // len(body))
        sizes = [b"\n".join(head + body * n + tail) + b"\n" for n in (k, 8 * k)]
        small, big = _seconds(sizes[0]), _seconds(sizes[1])
        if big > 12 * max(small, 0.05):
            slow.append(f"{kind}: {small:.2f} s -> {big:.2f} s")
    assert not slow, slow


def _literal_pieces(source: str) -> set[str]:
    """Literal runs of a pattern (unescaped) plus a few generic ones: the repeats that make a
    backtracking pattern retry work at every position."""
    runs = re.findall(r"(?:[A-Za-z0-9_:=,/\- ]|\\[\[\]().|+*?\-])+", source)
    pieces = {re.sub(r"\\(.)", r"\1", r) for r in runs}
    return {p for p in pieces if len(p.strip()) >= 2} | {" ", "0", "a", "(", ":", "0x1 ", "1,"}


def _module_patterns() -> list[tuple[str, re.Pattern[str]]]:
    import importlib
    import pkgutil

    import regex

    import stalllog.parsers

    names = [f"stalllog.parsers.{m.name}" for m in pkgutil.iter_modules(stalllog.parsers.__path__)]
    names += ["stalllog.input.lines", "stalllog.input.prefixes", "stalllog.engine.dispatch"]
    found = []
    for module in map(importlib.import_module, names):
        for name, pat in vars(module).items():
            if isinstance(pat, re.Pattern | regex.Pattern) and isinstance(pat.pattern, str):
                found.append((f"{module.__name__}.{name}", pat))
    return found


def test_no_pattern_backtracks_quadratically_on_its_own_pieces() -> None:
    # found this way: `.*? cpuset=` (oom, warn_alloc), slab rows, memcg items, printk_loss
    slow = []
    for name, pat in _module_patterns():
        for piece in sorted(_literal_pieces(pat.pattern)):
            times = []
            for n in (300, 2_400):
                text = piece * n
                t0 = time.process_time()
                for text_ in (text, "x" + text, text + "\x00"):
                    pat.search(text_)
                    pat.match(text_)
                times.append(time.process_time() - t0)
            if times[1] > 12 * max(times[0], 0.01):
                slow.append(f"{name} on {piece!r}*n: {times[0]:.3f} s -> {times[1]:.3f} s")
    assert not slow, slow
