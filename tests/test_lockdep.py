"""lockdep held-locks lists from real captures (sample_logs/corpus).

Entry counts were checked by hand with `grep -cE "^(\\[[^]]*\\])*\\s*#[0-9]+: " <file>`; the
running-task holders (`N locks held by …:` with no entries after it) were read off the files.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import pytest

import stalllog
from stalllog.engine.capture import Capture
from stalllog.parsers.lockdep import parse_lock_entry

CORPUS = Path(__file__).resolve().parent.parent / "sample_logs" / "corpus"


@cache
def cap(name: str) -> Capture:
    return stalllog.parse(CORPUS / name)


@pytest.mark.parametrize(
    ("name", "entries", "unlisted"),
    [
        ("syzkaller/349", 44, 0),
        ("syzkaller/365", 19, 1),  # line 47 `5 locks held by ksoftirqd/0/9:` lists nothing
        ("syzkaller/385", 44, 2),  # `2 locks held by syz-executor013/7547:` (lines 171, 422)
        ("syzkaller/441", 822, 0),
        ("syzkaller/235", 18, 0),  # entries of getty/khungtaskd interleaved with other CPUs
        ("lkml/interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt", 5, 0),
    ],
)
def test_entry_counts(name: str, entries: int, unlisted: int) -> None:
    held = cap(name).held_locks
    assert int(held["index"].notna().sum()) == entries
    assert int(held["index"].isna().sum()) == unlisted


def test_all_locks_dump_4_20() -> None:
    # syzkaller/349 lines 130-151: `Showing all locks held in the system:` …
    # `4 locks held by kworker/u12:5/1980:`
    # ` #2: 00000000146ba37b (&type->s_umount_key#30){++++}, at: trylock_super+0x22/0x110`
    c = cap("syzkaller/349")
    held = c.held_locks
    row = held[(held.pid == 1980) & (held["index"] == 2)].iloc[0]
    assert (row.comm, row.n_held, row.lock, row.usage) == (
        "kworker/u12:5", 4, "&type->s_umount_key#30", "++++"
    )  # fmt: skip
    assert row.address == 0x146BA37B and pd.isna(row.wait_type)
    assert (row.at_function, row.at_symbol, row.at_offset) == (
        "trylock_super",
        "trylock_super",
        0x22,
    )
    wq = held[(held.pid == 1980) & (held["index"] == 0)].iloc[0]
    assert wq.lock == '(wq_completion)"writeback"'
    ev = c.events.set_index("event_id").loc[row.event_id]
    assert ev.kind == "lockdep_all_locks" and not ev.corrupted


def test_pre_4_15_entries_and_no_locks_line() -> None:
    # lkml/interleaved-4.6.2…: `4 locks held by kworker/u8:9/1598:` then
    # ` #0:  ("writeback"){......}, at: [<ffffffff810998fd>] process_one_work+0x1ad/0x4e2`
    # (no instance address); `no locks held by jbd2/dm-3-8/2344.` stands alone
    c = cap("lkml/interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt")
    held = c.held_locks
    assert held.pid.unique().tolist() == [1598, 3124]
    first = held.iloc[0]
    assert (first.lock, first.usage, first.at_function, first.at_offset) == (
        '"writeback"', "......", "process_one_work", 0x1AD
    )  # fmt: skip
    assert pd.isna(first.address)
    kinds = c.events.kind.tolist()
    assert kinds.count("lockdep_held_locks") == 3  # 1598, 2344 (no locks), 3124


def test_wait_types_5_7() -> None:
    # syzkaller/484 line 77:
    # ` #2: ffffffff8a576f30 (pernet_ops_rwsem){++++}-{3:3}, at: cleanup_net+0x9b/0xa50`
    held = cap("syzkaller/484").held_locks
    row = held[held.line_no == 77].iloc[0]
    assert (row["index"], row.lock, row.usage, row.wait_type) == (
        2,
        "pernet_ops_rwsem",
        "++++",
        "3:3",
    )
    assert row.address == 0xFFFFFFFF8A576F30
    assert (row.at_symbol, row.at_offset) == ("cleanup_net", 0x9B)
    # line 75: ` #0: ffff8880a9771938 ((wq_completion)netns){+.+.}-{0:0}, at: process_one_work+…`
    first = held[held.line_no == 75].iloc[0]
    assert (first.lock, first.wait_type) == ("(wq_completion)netns", "0:0")


def test_parse_lock_entry_rejects_other_lines() -> None:
    # syzkaller/484 line 74 (the holder line above those entries) verbatim
    assert parse_lock_entry("3 locks held by kworker/u4:7/338:") is None
