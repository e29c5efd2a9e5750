"""Metamorphic test of the repair layer (stalllog/input/repair.py): a real sample mangled as
mail clients, trackers and syslog mangle logs (tests/mangle.py) gives the family tables of the
clean sample, value for value; line numbers are mapped to the physical line each clean line
starts on. The full matrix (every sample, every mangling) is slow; the default suite runs a
few samples that cover the transports (serial, dmesg, dmesg -T, /dev/kmsg, journal, no
timestamps, a posted excerpt).

EXCEPTIONS lists what cannot be undone, each with its reason; nothing else may differ.
"""

from __future__ import annotations

import fnmatch
import functools
import lzma
import re
from collections.abc import Callable
from pathlib import Path

import mangle
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import SAMPLES, rebuild, sample_files, sample_id
from tablecmp import differing

import stalllog
from stalllog.input.repair import REPAIR_FLAGS

MANGLINGS: dict[str, Callable[[bytes], mangle.Mangled]] = {
    "flowed72": lambda b: mangle.flowed(b, 72, delsp=False),
    "flowed78": lambda b: mangle.flowed(b, 78, delsp=False),
    "flowed72-delsp": lambda b: mangle.flowed(b, 72, delsp=True),
    "flowed78-delsp": lambda b: mangle.flowed(b, 78, delsp=True),
    "wrap72": lambda b: mangle.hard_wrap(b, 72),
    "wrap76": lambda b: mangle.hard_wrap(b, 76),
    "wrap80": lambda b: mangle.hard_wrap(b, 80),
    "cr-literal": lambda b: mangle.suffix(b, "^M"),
    "quote": lambda b: mangle.quote(b, "> "),
    "syslog": mangle.syslog_on_stamp,
    "prcont": mangle.prcont,
}

# (sample glob, mangling glob) -> why the tables differ
_NO_PREFIX = (
    "a hard wrap leaves no mark: where lines have no prefix, a continuation cannot be told "
    "from a line"
)
_EDITED = (
    "the poster wrote unprefixed lines between the kernel's (`(...snipped...)`, grep's `--`): "
    "after a line that ends near the wrap width such a line reads as its continuation"
)
_POSTED = (
    "posted already mangled (corpus/lkml/INDEX.md: flowed, hard-wrapped, split by netconsole): "
    "the repair of that first mangling and a second one on top do not compose exactly"
)
_FEW_SOFT = (
    "DelSp=yes is a mail header; the body tells it by cuts at the full width, which a few "
    "soft breaks cannot show: the deleted space stays"
)
_FEW_SOFT_EVEN = (
    "three soft breaks at one length (the same prefix and words) read as DelSp=yes cuts at the "
    "full width: the space of each break is deleted"
)
_ONE_LINE = (
    "one line wrapped in two: nothing tells the wrap width, the second row reads as a line the "
    "poster wrote"
)
_TRAILING_SPACE = (
    "the kernel line ends in a space (2.6.32 ` ? sym+0x16/0x20 `) just past the wrap width: the "
    "wrap leaves an empty row, read as a blank line (a wrap's rest is never taken empty)"
)
_SYZKALLER = (
    "syzkaller interleaves its own unprefixed lines (programs, headers) with the console: a "
    "wrap's continuation cannot be told from them"
)
_EXCERPT_MEMINFO = (
    "the excerpt starts inside a Mem-Info, whose lines are foreign to the OOM block around "
    "them: a line cut in two pr_cont pieces is two foreign lines"
)
# one entry per (sample, mangling) that differs, from a run without exceptions
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("corpus/lkml/kmallocwd-4.4-vmstat-wq-pending-oldformat.txt", "wrap76"): _EDITED,
    ("corpus/lkml/kmallocwd-4.4-vmstat-wq-pending-oldformat.txt", "wrap80"): _EDITED,
    (
        "corpus/lkml/oom-4.15-rc8-i686-holder-schedule_timeout_killable-snipped.txt",
        "wrap*",
    ): _EDITED,
    ("corpus/lkml/printk-dropped-4.9-stalls-after-oom-short.txt", "wrap*"): _EDITED,
    (
        "corpus/posted/kmallocwd-4.3-rc-v1-silent-hang-then-mmap_sem-livelock-snipped.txt",
        "wrap*",
    ): _EDITED,
    (
        "corpus/posted/kmallocwd-next-20160224-D3-switches-oomcount-pair-snipped.txt",
        "wrap*",
    ): _EDITED,
    ("corpus/syzkaller/217", "flowed72-delsp"): _FEW_SOFT,
    ("corpus/syzkaller/221", "flowed72-delsp"): _FEW_SOFT,
    ("corpus/syzkaller/58", "flowed72-delsp"): _FEW_SOFT,
    ("corpus/syzkaller/58", "flowed78-delsp"): _FEW_SOFT,
    ("corpus/syzkaller/94", "flowed72-delsp"): _FEW_SOFT,
    ("corpus/syzkaller/94", "flowed78-delsp"): _FEW_SOFT,
    ("corpus/lkml/allocfail-4.12-rc2-ppc64-g5-slub-order4-nots.txt", "wrap*"): _NO_PREFIX,
    ("corpus/lkml/allocfail-6.8-rc3-ath11k-resume-noio-order4-nots.txt", "wrap*"): _NO_PREFIX,
    (
        "corpus/lkml/oom-3.0.101-sles11-numa-mempolicy-free-memory-no-timestamps.txt",
        "wrap*",
    ): _NO_PREFIX,
    ("qemu/5.10.0-46-amd64-global-oom-notime-dmesg.log", "wrap*"): _NO_PREFIX,
    ("qemu/5.10.0-46-amd64-global-oom-notime-serial.log", "wrap*"): _NO_PREFIX,
    ("qemu/6.1.0-56-amd64-global-oom-notime-dmesg.log", "wrap*"): _NO_PREFIX,
    ("qemu/6.1.0-56-amd64-global-oom-notime-serial.log", "wrap*"): _NO_PREFIX,
    ("qemu/6.12.118+deb13-amd64-global-oom-notime-dmesg.log", "wrap*"): _NO_PREFIX,
    ("qemu/6.12.118+deb13-amd64-global-oom-notime-serial.log", "wrap*"): _NO_PREFIX,
    (
        "corpus/lkml/allocfail-2.6.32-431-rhel6-varnish-tcp-order6-syslog.txt",
        "wrap76",
    ): _TRAILING_SPACE,
    (
        "corpus/lkml/allocfail-2.6.32-431-rhel6-varnish-tcp-order6-syslog.txt",
        "wrap80",
    ): _TRAILING_SPACE,
    (
        "corpus/lkml/allocfail-2020-xen-dom0-order4-osstest-serial-prefix.txt",
        "flowed78-delsp",
    ): _FEW_SOFT,
    (
        "corpus/lkml/hungtask-5.16-next-syzbot-cant-die-memcg-reclaim_throttle.txt",
        "wrap*",
    ): _NO_PREFIX,
    ("corpus/posted/kmallocwd-4.3-rc-P0-grep-sync4.txt", "flowed72"): _EDITED,
    ("corpus/posted/kmallocwd-4.3-rc-P0-grep-sync4.txt", "flowed72-delsp"): _EDITED,
    ("corpus/posted/kmallocwd-4.3-rc-P0-grep-sync4.txt", "wrap72"): _EDITED,
    ("corpus/syzkaller/1000", "flowed78"): _FEW_SOFT_EVEN,
    ("corpus/lkml/warnalloc-stall-4.10-rc-commpid-nowarn-sysrq-t-snipped.txt", "wrap*"): _EDITED,
    ("corpus/posted/rsyslog-imuxsock-lost-nethserver-ptrack.txt", "flowed*"): _ONE_LINE,
    ("corpus/posted/rsyslog-imuxsock-lost-nethserver-ptrack.txt", "wrap*"): _ONE_LINE,
    ("corpus/lkml/allocfail-2.6.28-ubuntu-sky2-netrx-order0-flowed.txt", "cr-literal"): _POSTED,
    ("corpus/lkml/allocfail-2.6.28-ubuntu-sky2-netrx-order0-flowed.txt", "flowed72"): _POSTED,
    ("corpus/lkml/allocfail-2.6.28-ubuntu-sky2-netrx-order0-flowed.txt", "flowed72-delsp"): _POSTED,
    ("corpus/lkml/allocfail-2.6.28-ubuntu-sky2-netrx-order0-flowed.txt", "syslog"): _POSTED,
    ("corpus/lkml/allocfail-2.6.28-ubuntu-sky2-netrx-order0-flowed.txt", "wrap72"): _POSTED,
    (
        "corpus/lkml/hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt",
        "cr-literal",
    ): _POSTED,
    (
        "corpus/lkml/hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt",
        "flowed72",
    ): _POSTED,
    (
        "corpus/lkml/hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt",
        "flowed72-delsp",
    ): _POSTED,
    (
        "corpus/lkml/hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt",
        "flowed78-delsp",
    ): _POSTED,
    (
        "corpus/lkml/hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt",
        "syslog",
    ): _POSTED,
    (
        "corpus/lkml/hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt",
        "wrap72",
    ): _POSTED,
    ("corpus/lkml/oom-6.12.62-rpi-arm64-journal-notimestamps-truncated.txt", "wrap*"): _POSTED,
    (
        "corpus/lkml/warnalloc-stall-4.11-rc8-desktop-swap-QXcbEventReader-flowed.txt",
        "cr-literal",
    ): _POSTED,
    (
        "corpus/lkml/warnalloc-stall-4.11-rc8-desktop-swap-QXcbEventReader-flowed.txt",
        "flowed72-delsp",
    ): _POSTED,
    (
        "corpus/lkml/warnalloc-stall-4.11-rc8-desktop-swap-QXcbEventReader-flowed.txt",
        "flowed78",
    ): _POSTED,
    (
        "corpus/lkml/warnalloc-stall-4.11-rc8-desktop-swap-QXcbEventReader-flowed.txt",
        "flowed78-delsp",
    ): _POSTED,
    (
        "corpus/lkml/warnalloc-stall-4.11-rc8-desktop-swap-QXcbEventReader-flowed.txt",
        "syslog",
    ): _POSTED,
    (
        "corpus/lkml/warnalloc-stall-4.11-rc8-desktop-swap-QXcbEventReader-flowed.txt",
        "wrap72",
    ): _POSTED,
    ("corpus/lkml/warnalloc-stall-4.9-rsync-2102516ms-xfs-netconsole-syslog.txt", "wrap*"): _POSTED,
    (
        "corpus/lkml/warnalloc-stall-4.9-rsync-2102516ms-xfs-netconsole-syslog.txt",
        "syslog",
    ): _POSTED,
    (
        "corpus/lkml/hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt",
        "prcont",
    ): _POSTED,
    ("corpus/posted/oom-6.x-rpi4-arm32-highmem-tasktable-fragments.txt", "prcont"): (
        _EXCERPT_MEMINFO
    ),
    ("corpus/syzkaller/206", "wrap72"): _SYZKALLER,
    ("corpus/syzkaller/206", "wrap76"): _SYZKALLER,
    ("corpus/syzkaller/217", "wrap72"): _SYZKALLER,
    ("corpus/syzkaller/217", "wrap76"): _SYZKALLER,
    ("corpus/syzkaller/349", "wrap*"): _SYZKALLER,
    ("corpus/syzkaller/350", "wrap*"): _SYZKALLER,
    ("corpus/syzkaller/385", "wrap*"): _SYZKALLER,
    ("corpus/syzkaller/58", "wrap*"): _SYZKALLER,
    ("corpus/syzkaller/688", "wrap76"): _SYZKALLER,
    ("corpus/syzkaller/688", "wrap80"): _SYZKALLER,
    ("corpus/syzkaller/7", "wrap*"): _SYZKALLER,
}

# Tables that are not a family's: the lines and their bookkeeping (boots, sources) change with
# the transport by design.
NOT_FAMILY = {"lines", "unparsed", "boots", "sources"}
# columns that hold a capture line number (mapped); `meminfo_alloc_tags.lineno` is a source line
_LINE_COL = re.compile(r"(?:^|_)line_(?:no|start|end)$")
# texts that name lines: `... (first at line 586)`, `Mem-Info at line 605 cut ...`
_PROBLEM_COLS = {"reason", "problems", "problem"}
_LINE_REF = re.compile(r"(\blines? )(\d+)")
# what the syslog prefix adds: a wall clock and a host the clean capture has not
_SYSLOG_ADDS = {"wall", "host"}

FAST = (
    "qemu/6.1.0-56-amd64-memcg-oom-serial.log",
    "qemu/5.10.0-46-amd64-hung-task-dmesg.log",
    "qemu/6.1.0-56-amd64-sysrq-oom-dmesg-T.log",
    "qemu/5.10.0-46-amd64-page-alloc-fail-kmsg.log",
    "qemu/6.1.0-56-amd64-memcg-v1-oom-journal.log",
    "qemu/6.1.0-56-amd64-global-oom-notime-dmesg.log",
    "corpus/lkml/kmallocwd-2017-too_many_isolated-congestion_wait.txt",
)


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return lzma.decompress(data) if path.suffix == ".xz" else data


@functools.cache
def _clean(sample: str) -> tuple[bytes, dict[str, pa.Table]]:
    data = _read(SAMPLES / sample)
    tables = _families(data)
    return data, tables


def _parse(data: bytes) -> dict[str, pa.Table]:
    return stalllog.parse(data, analysis=False).parsed


def _families(data: bytes, tables: dict[str, pa.Table] | None = None) -> dict[str, pa.Table]:
    tables = _parse(data) if tables is None else tables
    return {k: v for k, v in tables.items() if k not in NOT_FAMILY}


def _repair_flags(lines: pa.Table) -> set[str]:
    flags = pc.unique(lines["flags"].cast(pa.string())).drop_null().to_pylist()
    return {f for joined in flags for f in joined.split("+")} & set(REPAIR_FLAGS)


def _remap(
    tables: dict[str, pa.Table], starts: list[int], pieces_total: int | None = None
) -> dict[str, pa.Table]:
    """The clean tables with their line numbers moved to the mangled capture's lines (in
    line-number columns and in the `line N` of problem texts). `pieces_total` (the mangled
    line count): a clean line became several claimed lines (pr_cont pieces), so a block ends
    on its last line's last piece."""
    where = np.asarray([0, *starts], np.int64)
    where_end = where
    if pieces_total is not None:
        where_end = np.asarray([0, *starts[1:], pieces_total + 1], np.int64) - 1
        where_end[0] = 0

    def moved_text(m: re.Match[str]) -> str:
        return f"{m[1]}{where[int(m[2])]}"

    out = {}
    for name, t in tables.items():
        for i, col in enumerate(t.column_names):
            c = t[col]
            if _LINE_COL.search(col):
                null = pc.is_null(c).to_numpy(zero_copy_only=False)
                to = where_end if col.endswith("line_end") else where
                moved = pa.array(to[pc.fill_null(c, 0).to_numpy()], mask=null)
                t = t.set_column(i, col, moved.cast(c.type))
            elif col in _PROBLEM_COLS and c.type == pa.string():
                texts = [None if v is None else _LINE_REF.sub(moved_text, v) for v in c.to_pylist()]
                t = t.set_column(i, col, pa.array(texts, pa.string()))
        out[name] = t
    return out


def _with_pieces(tables: dict[str, pa.Table], starts: list[int], total: int) -> dict[str, pa.Table]:
    """`events.n_lines` counts the lines a block claimed: a line cut into two pr_cont pieces
    is two (clean line numbers, before `_remap`; `total`: the mangled line count)."""
    events = tables.get("events")
    if events is None or not events.num_rows:
        return tables
    two = np.flatnonzero(np.diff([*starts, total + 1]) == 2) + 1  # clean lines cut in two
    first, last = events["line_start"].to_numpy(), events["line_end"].to_numpy()
    extra = np.searchsorted(two, last, "right") - np.searchsorted(two, first, "left")
    n_lines = pc.add(events["n_lines"], pa.array(extra, events["n_lines"].type))
    i = events.column_names.index("n_lines")
    return {**tables, "events": events.set_column(i, "n_lines", n_lines)}


def _exception(sample: str, mangling: str) -> str | None:
    for (s, m), why in EXCEPTIONS.items():
        if fnmatch.fnmatch(sample, s) and fnmatch.fnmatch(mangling, m):
            return why
    return None


def _applies(sample: str, mangling: str, data: bytes) -> bool:
    """A syslog prefix goes on top of a printk stamp only (what klogd/imklog read), and
    never on a `** N printk messages dropped **` marker (printed to consoles only). Journal
    JSON/export and `dmesg -J` files are not pasted into mail as such: not mangled."""
    if sample.startswith("structured/"):
        return False
    if mangling != "syslog":
        return True
    return re.match(rb"\[ *\d+\.\d{6}\] ", data) is not None and b"messages dropped **" not in data


def _check(
    sample: str, mangling: str, how: Callable[[bytes], mangle.Mangled] | None = None
) -> None:
    data, clean = _clean(sample)
    if not _applies(sample, mangling, data):
        pytest.skip(f"{mangling} does not apply to this capture's form")
    why = _exception(sample, mangling)
    if why:
        pytest.skip(why)
    mangled, starts = (how or MANGLINGS[mangling])(data)
    if mangling == "prcont":
        total = mangled.count(b"\n")
        want = _remap(_with_pieces(clean, starts, total), starts, total)
    else:
        want = _remap(clean, starts)
    tables = _parse(mangled)
    assert rebuild(tables["lines"]) == mangled  # one row per line, byte for byte
    got = _families(mangled, tables)
    if mangling == "syslog":
        want = {k: t.drop_columns([c for c in t.column_names if c in _SYSLOG_ADDS])
                for k, t in want.items()}  # fmt: skip
        got = {k: t.drop_columns([c for c in t.column_names if c in _SYSLOG_ADDS])
               for k, t in got.items()}  # fmt: skip
    assert differing(want, got) == []


def _all_samples() -> list[str]:
    return [sample_id(p) for p in sample_files()]


# more of what mail clients and trackers do, on the FAST samples only
MANGLINGS_MORE: dict[str, Callable[[bytes], mangle.Mangled]] = {
    "quote-nested": lambda b: mangle.quote(b, "> > "),
    "quote-tight": lambda b: mangle.quote(b, ">> "),
    "cr-backslash": lambda b: mangle.suffix(b, "\\r"),
    "html": mangle.html,
}


@pytest.mark.parametrize("mangling", sorted(MANGLINGS_MORE))
@pytest.mark.parametrize("sample", FAST[:3])
def test_more_manglings(sample: str, mangling: str) -> None:
    _check(sample, mangling, MANGLINGS_MORE[mangling])


@pytest.mark.parametrize("mangling", sorted(MANGLINGS))
@pytest.mark.parametrize("sample", FAST)
def test_mangled_sample_gives_clean_tables(sample: str, mangling: str) -> None:
    _check(sample, mangling)


@pytest.mark.slow  # 1920 pairs: ~45 s on 2 cores
@pytest.mark.parametrize("mangling", sorted(MANGLINGS))
@pytest.mark.parametrize("sample", _all_samples())
def test_mangled_every_sample(sample: str, mangling: str) -> None:
    _check(sample, mangling)


@pytest.mark.parametrize("sample", FAST)
def test_clean_sample_gets_no_repair(sample: str) -> None:
    """No repair fires on a clean capture (tools/table_hashes.py checks every sample)."""
    assert _repair_flags(_parse(_read(SAMPLES / sample))["lines"]) == set()


def test_repairs_are_flagged() -> None:
    """Each mangling is undone with its flag in `lines` (nothing repaired silently)."""
    data = _read(SAMPLES / FAST[0])
    want = {"flowed72": {"wrapped", "wrap-cont", "unstuffed"}, "wrap76": {"wrapped", "wrap-cont"},
            "cr-literal": {"cr-literal"}, "quote": {"quoted"}}  # fmt: skip
    for mangling, flags in want.items():
        lines = _parse(MANGLINGS[mangling](data)[0])["lines"]
        assert _repair_flags(lines) == flags, mangling


def test_no_line_a_wrapper_could_cut() -> None:
    """A chunk of long lines without a space (a TSV file: tabs only) tells no wrap width: read
    as it is, not a traceback (it once raised in the width estimate)."""
    data = (SAMPLES / "qemu/MANIFEST.tsv").read_bytes()
    lines = _parse(data)["lines"]
    assert rebuild(lines) == data
    assert _repair_flags(lines) == set()
