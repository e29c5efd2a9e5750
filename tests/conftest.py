"""Shared test helpers: the sample files, the `--update-golden` option, round-trip check."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

# An analyzer bug must fail the tests, not turn into an `analysis_failed` finding.
os.environ.setdefault("STALLLOG_DEBUG", "1")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"
_NOT_LOGS = {".md", ".tsv", ".py", ".sh"}


def sample_files() -> list[Path]:
    """Every capture under sample_logs/ (corpus and qemu/, compressed ones too), sorted."""
    return sorted(
        p
        for p in SAMPLES.rglob("*")
        if p.is_file() and p.suffix not in _NOT_LOGS and p.name not in {"index.txt", "README"}
    )


def sample_id(p: Path) -> str:
    return p.relative_to(SAMPLES).as_posix()


def rebuild(lines: pa.Table) -> bytes:
    """The input bytes as given back by the `lines` table: `prefix + text + eol`, or
    `raw + eol` where raw is set. A line flagged `cut` (over the reader's MAX_LINE) gives
    back only its kept start: the skipped rest is counted and hashed in `sources.error`."""
    prefix = lines.column("prefix").to_pylist()
    text = lines.column("text").to_pylist()
    eol = lines.column("eol").cast(pa.string()).to_pylist()
    raw = lines.column("raw").to_pylist()
    out = []
    for p, t, e, r in zip(prefix, text, eol, raw, strict=True):
        out.append((r if r is not None else (p + t).encode()) + e.encode())
    return b"".join(out)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/ from the current parser output instead of comparing",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
