"""engine/merge.py: sources parsed alone and merged give the tables of one parse over all."""

from __future__ import annotations

import pyarrow as pa
import pytest
from conftest import SAMPLES
from tablecmp import differing, unparsed_table

import stalllog
from stalllog.engine.capture import iter_parse
from stalllog.engine.merge import ID_KINDS, merge, offsets, parse_part, unknown_id_columns
from stalllog.input.reader import SourceLike

# Real captures that between them fill every table (a greedy cover over sample_logs/), one
# boot each, several families each.
COVER = [
    "qemu/6.1.0-56-amd64-page-alloc-fail-dmesg-T.log",
    "qemu/5.10.0-46-amd64-memcg-oom-journal.log",
    "corpus/syzkaller/718",
    "corpus/posted/kmallocwd-next-20160209-D1-too_many_isolated-185-stalling.txt",
    "corpus/syzkaller/206",
    "corpus/lkml/allocfail-2.6.32.1-i686-e1000-nat-order3-syslog.txt",
    "qemu/5.10.0-46-amd64-sysrq-serial.log",
    "qemu/5.10.0-46-amd64-hung-task-kmsg.log",
    "corpus/lkml/kmallocwd-4.4-vmstat-wq-pending-oldformat.txt",
    "corpus/lkml/warnalloc-stall-4.11-rc8-desktop-swap-QXcbEventReader-flowed.txt",
]

NO_SAMPLE_HAS = ["meminfo_alloc_tags", "slab_unreclaimable"]  # empty for every sample


def merged(sources: list[SourceLike]) -> dict[str, pa.Table]:
    """Every table, as parse() gives them, from the sources parsed one by one and merged."""
    parts, lines = zip(*(parse_part(s) for s in sources), strict=True)
    tables = merge(parts)
    shifted = pa.concat_tables(o.table(t) for o, t in zip(offsets(parts), lines, strict=True))
    head = {"lines": shifted, "events": tables["events"], "unparsed": unparsed_table(shifted),
            "boots": tables["boots"], "sources": tables["sources"]}  # fmt: skip
    return {**head, **{k: v for k, v in tables.items() if k not in head}}


def test_merge_equals_one_parse_over_all() -> None:
    sources: list[SourceLike] = [SAMPLES / p for p in COVER]
    # an empty input first and in the middle (no lines, yet a boot number), one file twice
    sources = [b"", *sources[:5], b"", *sources[5:], sources[0]]
    want = stalllog.parse(*sources).arrow
    got = merged(sources)
    assert [t for t in want if not want[t].num_rows] == NO_SAMPLE_HAS, "the cover lost a table"
    assert want["boots"].num_rows == len(COVER) + 1
    assert differing(want, got) == []


def test_merge_keeps_iter_parse_order_of_tables() -> None:
    sources = [SAMPLES / COVER[0], SAMPLES / COVER[1]]
    *_, want = iter_parse(sources)
    assert isinstance(want, dict)
    got = merge([parse_part(s)[0] for s in sources])
    assert list(got) == list(want)


def test_every_id_column_is_known() -> None:
    assert unknown_id_columns() == []
    assert set(ID_KINDS.values()) == {"event", "boot", "oom", "stack", "meminfo",
                                      "memalloc_scan", "dump"}  # fmt: skip


def test_merge_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one part"):
        merge([])
