"""Golden tables: every table of every sample (except `lines`, checked by test_roundtrip) is
compared with the checked-in text in tests/golden/<sample>/<table>.csv.

Regenerate with `pytest tests/test_golden.py --update-golden` and review the diff. New tables
(from new families) are picked up from `Capture.tables` automatically. To keep the folder small
(< 10 MB): the `source` column, the sample itself on every row (asserted), is left out but in
`sources`; `unparsed` is stored as line-number ranges (`unparsed.txt`; its text is in the
sample), and a table longer than MAX_ROWS keeps its first rows as text plus a last line with
the row count and the SHA-256 of the whole CSV, so any change still fails.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, sample_files, sample_id

import stalllog

GOLDEN = Path(__file__).parent / "golden"
FILES = sample_files()
MAX_ROWS = 150
EVIDENCE_SOURCE = {"stalled_tasks", "oom_lock"}  # their `source` is the kind of evidence


def _golden_dir(path: Path) -> Path:
    return GOLDEN / sample_id(path).replace("/", "__")


def _csv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.6f", lineterminator="\n")
    text = buf.getvalue()
    if len(df) <= MAX_ROWS:
        return text
    head = "".join(text.splitlines(keepends=True)[: MAX_ROWS + 1])
    digest = hashlib.sha256(text.encode()).hexdigest()
    return head + f"# ... {len(df) - MAX_ROWS} more rows; {len(df)} rows, sha256 {digest}\n"


def _ranges(numbers: list[int]) -> str:
    out: list[str] = []
    for n in numbers:
        if out and out[-1][1] == n - 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in out)


def _expected_files(path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(ROOT)  # sources are named by their path relative to the project
    cap = stalllog.parse(path.relative_to(ROOT))
    out: dict[str, str] = {}
    for name, df in cap.tables.items():
        if name == "lines" or df.empty:
            continue
        if name == "unparsed":
            per_source = []
            for (source, boot), g in df.groupby(["source", "boot"], sort=True):
                per_source.append(f"{source}\tboot {boot}\t{_ranges(g.line_no.tolist())}\n")
            out["unparsed.txt"] = "".join(per_source)
        elif name != "sources":
            out[f"{name}.csv"] = _csv(_without_source(df, name, str(path.relative_to(ROOT))))
        else:
            out[f"{name}.csv"] = _csv(df)
    return out


def _without_source(df: pd.DataFrame, table: str, sample: str) -> pd.DataFrame:
    """One sample, one source: every row must name it (the line key), then the column goes,
    so that the goldens do not repeat the path on every row."""
    if "source" not in df or table in EVIDENCE_SOURCE:
        return df
    named = set(df["source"].dropna().astype(str))
    assert named <= {sample}, f"{table}: rows of sources {sorted(named - {sample})}"
    return df.drop(columns="source")


@pytest.mark.parametrize("path", FILES, ids=sample_id)
def test_golden(path: Path, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    produced = _expected_files(path, monkeypatch)
    d = _golden_dir(path)
    if update_golden:
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            if old.name not in produced:
                old.unlink()
        for name, text in produced.items():
            (d / name).write_text(text, encoding="utf-8")
        return
    assert d.is_dir(), f"no golden tables for {sample_id(path)}: run pytest --update-golden"
    have = {p.name: p.read_text(encoding="utf-8") for p in d.iterdir()}
    assert sorted(have) == sorted(produced), (
        "tables differ from tests/golden (new or emptied table?): run pytest --update-golden "
        "and review the diff"
    )
    for name, text in produced.items():
        assert text == have[name], f"{sample_id(path)}: {name} changed (pytest --update-golden)"


def test_no_stale_golden_dirs() -> None:
    wanted = {_golden_dir(p).name for p in FILES}
    stale = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir() and p.name not in wanted)
    assert not stale, f"golden tables of samples that no longer exist: {stale}"


def test_golden_dir_small() -> None:
    total = sum(p.stat().st_size for p in GOLDEN.rglob("*") if p.is_file())
    assert total < 10 << 20, f"tests/golden is {total} bytes"
