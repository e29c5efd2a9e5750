"""docs/tables.md is generated from the schemas, and the schemas match what parse() makes."""

from __future__ import annotations

import pyarrow as pa
import pytest
from conftest import ROOT, SAMPLES

import stalllog
from stalllog.engine.schema import all_schemas, render_markdown

DOC = ROOT / "docs" / "tables.md"


def test_tables_md_is_generated_from_the_schemas() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/tables.md is stale: regenerate it with "
        "`python -m stalllog.engine.schema > docs/tables.md`"
    )


def test_schema_names_unique() -> None:
    names = [s.name for s in all_schemas()]
    assert len(names) == len(set(names))
    for s in all_schemas():
        cols = [c.name for c in s.columns]
        assert len(cols) == len(set(cols)), s.name


# captures that between them fill many tables: a syslog OOM, an interleaved console, a
# syzkaller hung-task log with caller ids
CAPTURES = (
    "corpus/lkml/oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt",
    "corpus/lkml/interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt",
    "corpus/syzkaller/349",
)


@pytest.fixture(scope="module")
def capture() -> stalllog.Capture:
    return stalllog.parse(*(SAMPLES / c for c in CAPTURES))


def test_every_table_has_a_schema(capture: stalllog.Capture) -> None:
    declared = {s.name for s in all_schemas()}
    assert set(capture.arrow) <= declared, set(capture.arrow) - declared
    assert declared <= set(capture.arrow), declared - set(capture.arrow)


def test_declared_columns_exist_with_declared_types(capture: stalllog.Capture) -> None:
    for s in all_schemas():
        table = capture.arrow[s.name]
        assert table.column_names == [c.name for c in s.columns], s.name
        for c in s.columns:
            got = table.schema.field(c.name).type
            assert got == c.type, f"{s.name}.{c.name}: declared {c.type}, produced {got}"
            # and pandas sees the plain (non-dictionary) value type
            if pa.types.is_dictionary(c.type):
                assert str(capture[s.name][c.name].dtype).startswith(str(c.type.value_type))
