"""Every input the fuzzers ever crashed on (tests/fuzz_corpus/: real sample lines as mutated
by tests/mutations.py, shrunk to the lines that crashed) parses, with every line back."""

from __future__ import annotations

from pathlib import Path

import pytest
from mutations import check

CORPUS = Path(__file__).parent / "fuzz_corpus"


@pytest.mark.parametrize("path", sorted(CORPUS.iterdir()), ids=lambda p: p.name)
def test_fuzz_corpus_case_parses_with_every_line_back(path: Path) -> None:
    data = path.read_bytes()
    cap = check(data)  # no exception; rebuild == data; one row per line
    assert len(cap.lines) == data.count(b"\n") > 0


def test_kmallocwd_count_past_int64_is_named() -> None:
    cap = check((CORPUS / "kmallocwd-stalling-count-35-digits.log").read_bytes())
    assert cap.events.corrupted.iloc[0]
    assert "29999999999999999999999999999999999 out of range" in cap.events.reason.iloc[0]


def test_stack_sighting_inside_a_dump_joins_it() -> None:
    # four real 2 kB pieces spliced by test_fuzz: a pid's stack sighting after its own OOM
    # dump once got a NaN group (index-aligned assignment) and crashed the oom_lock analysis
    cap = check((CORPUS / "oom-dump-and-stack-sighting-spliced.log").read_bytes())
    assert cap.oom_lock[["pid", "source", "n_evidence"]].values.tolist() == [
        [149, "oom_dump|stack", 2]
    ]


@pytest.mark.parametrize("data", [b">", b"> ", b"a\n>", b"> x\n> > "], ids=repr)
def test_a_last_unterminated_line_of_quote_marks_alone_is_its_text(data: bytes) -> None:
    # test_fuzz found b">": unquoted, the line was empty and unterminated, no line at all, and
    # restoring the marks of the lines that were no longer there raised IndexError
    cap = check(data)
    last = cap.arrow["lines"].to_pylist()[-1]
    assert (last["prefix"], last["text"], last["flags"]) == (
        "",
        data.split(b"\n")[-1].decode(),
        "no-eol",
    )
