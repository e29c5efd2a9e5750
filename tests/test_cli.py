"""The `stalllog` command: files written per format read back equal to `stalllog.parse()`,
exit codes, messages for bad input, the summary.

Inputs are the corpus samples, or junk built from their bytes (truncated gzip, random bytes
appended): no invented log lines.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
import typer.main
from typer.testing import CliRunner

import stalllog
import stalllog.engine.capture
import stalllog.output.writers
from stalllog.cli.app import app
from stalllog.engine.schema import all_schemas
from stalllog.input import reader
from stalllog.output.safe import csv_unescape
from stalllog.report.summary import summary_text

LKML = Path(__file__).resolve().parent.parent / "sample_logs" / "corpus" / "lkml"
DROPPED = LKML / "printk-dropped-4.9-stalls-after-oom-short.txt"
# syslog prefixes and an rsyslog `#012` escape (so `raw` is set on one line)
SYSLOG = LKML / "oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt"
INTERLEAVED = LKML / "interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt"
EXT = {"parquet": "parquet", "csv": "csv", "json": "jsonl"}

runner = CliRunner()


def _junk(tmp_path: Path) -> Path:
    """A real capture followed by random bytes (a serial console catching line noise)."""
    rng = random.Random(7)
    p = tmp_path / "noise.log"
    p.write_bytes(SYSLOG.read_bytes() + bytes(rng.randrange(256) for _ in range(3000)))
    return p


def _plain(t: pa.Table) -> pa.Table:
    cols = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in t.columns]
    return pa.Table.from_arrays(cols, names=t.column_names)


def _norm(v: Any) -> Any:
    return "NaN" if isinstance(v, float) and math.isnan(v) else v


def _columns(t: pa.Table) -> dict[str, list[Any]]:
    return {n: [_norm(v) for v in t.column(n).to_pylist()] for n in t.column_names}


def _read_csv(path: Path, schema: pa.Schema) -> dict[str, list[Any]]:
    types = {
        f.name: pa.string() if pa.types.is_binary(f.type) or pa.types.is_nested(f.type) else f.type
        for f in schema
    }
    t = pa_csv.read_csv(
        path,
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=types,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    out = _columns(t)
    for f in schema:
        col = out[f.name]
        if pa.types.is_binary(f.type):
            out[f.name] = [None if v is None else bytes.fromhex(v) for v in col]
        elif pa.types.is_nested(f.type):
            out[f.name] = [None if v is None else json.loads(v) for v in col]
        elif pa.types.is_string(f.type):
            out[f.name] = [None if v is None else csv_unescape(v) for v in col]
    return out


def _read_json(path: Path, schema: pa.Schema) -> dict[str, list[Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    out: dict[str, list[Any]] = {f.name: [r[f.name] for r in rows] for f in schema}
    for f in schema:
        col = out[f.name]
        if pa.types.is_binary(f.type):
            out[f.name] = [None if v is None else bytes.fromhex(v) for v in col]
        elif pa.types.is_timestamp(f.type):
            out[f.name] = [None if v is None else datetime.fromisoformat(v) for v in col]
    return out


def _expected_json(t: pa.Table) -> dict[str, list[Any]]:
    # JSON has no NaN: the writer turns it into null
    return {k: [None if v == "NaN" else v for v in col] for k, col in _columns(t).items()}


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_parse_writes_every_table_equal_to_parse(tmp_path: Path, fmt: str) -> None:
    src = _junk(tmp_path)
    out = tmp_path / "out"
    r = runner.invoke(app, ["parse", str(src), str(INTERLEAVED), "-o", str(out), "-f", fmt])
    assert r.exit_code == 0, r.output
    cap = stalllog.parse(src, INTERLEAVED)
    # every table but `unparsed` (opt-in: the `lines` rows flagged `unparsed`)
    want = [f"{n}.{EXT[fmt]}" for n in cap.arrow if n != "unparsed"] + ["manifest.json"]
    assert sorted(p.name for p in out.iterdir()) == sorted(want)
    flagged = cap.lines[cap.lines["unparsed"]][list(cap.unparsed.columns)]
    pd.testing.assert_frame_equal(flagged.reset_index(drop=True), cap.unparsed)
    # the appended noise gives lines with `raw` bytes; hex in csv/json must give them back
    assert cap.arrow["lines"].column("raw").null_count < cap.arrow["lines"].num_rows
    for name, table in cap.arrow.items():
        path = out / f"{name}.{EXT[fmt]}"
        if name == "unparsed":
            continue
        expected = _plain(table)
        if fmt == "parquet":
            got = pq.read_table(path).to_pandas(types_mapper=pd.ArrowDtype)
            pd.testing.assert_frame_equal(got, cap[name], check_dtype=True)
        elif fmt == "csv":
            assert _read_csv(path, expected.schema) == _columns(expected), name
        else:
            assert _read_json(path, expected.schema) == _expected_json(expected), name


def test_lines_streamed_in_row_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # small chunks: the 516-line capture arrives as many batches, each its own row group
    whole = stalllog.parse(INTERLEAVED)
    monkeypatch.setattr(
        stalllog.engine.capture,
        "iter_chunks",
        lambda src: reader.iter_chunks(src, chunk_bytes=4096),
    )
    out = tmp_path / "out"
    r = runner.invoke(
        app, ["parse", "-q", str(INTERLEAVED), "-o", str(out), "--tables", "lines,unparsed"]
    )
    assert r.exit_code == 0, r.output
    f = pq.ParquetFile(out / "lines.parquet")
    chunks = reader.iter_chunks(reader.open_source(INTERLEAVED), chunk_bytes=4096)
    n_batches = sum(1 for c in chunks if c.data)
    assert n_batches > 1
    assert f.metadata.num_row_groups == n_batches
    got = f.read().to_pandas(types_mapper=pd.ArrowDtype)
    pd.testing.assert_frame_equal(got, whole.lines)
    unparsed = pq.read_table(out / "unparsed.parquet").to_pandas(types_mapper=pd.ArrowDtype)
    pd.testing.assert_frame_equal(unparsed, whole.unparsed)


def test_failure_midway_leaves_no_partial_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = stalllog.output.writers.iter_parse

    def failing(sources: Any, **kwargs: Any) -> Any:
        for item in real(sources, **kwargs):
            yield item
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(stalllog.output.writers, "iter_parse", failing)
    out = tmp_path / "out"
    r = runner.invoke(app, ["parse", str(DROPPED), "-o", str(out)])
    assert r.exit_code == 1
    # an error while reading names the input (the output side: tests/test_outputs.py)
    assert r.stderr == f"stalllog: {DROPPED}: No space left on device\n"
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_csv_formula_cells_prefixed_unless_raw(tmp_path: Path) -> None:
    # last line of the file (checked by eye): "[  311.261390] ---[ end Kernel panic - not
    # syncing: System is deadlocked on memory ]---"; its text starts with "-"
    src = LKML / "allocfail-5.18.7-arm64-bridge-fdb-atomic-then-panic-deadlocked.txt"
    text = "---[ end Kernel panic - not syncing: System is deadlocked on memory ]---"
    for flag, want in (([], "'" + text), (["--csv-raw"], text)):
        out = tmp_path / ("raw" if flag else "safe")
        r = runner.invoke(app, ["parse", "-q", str(src), "-o", str(out), "-f", "csv", *flag])
        assert r.exit_code == 0, r.output
        t = pa_csv.read_csv(
            out / "lines.csv", parse_options=pa_csv.ParseOptions(newlines_in_values=True)
        )
        assert t.column("text").to_pylist()[-1] == want


def test_tables_selection(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = runner.invoke(
        app, ["parse", "-q", str(DROPPED), "-o", str(out), "--tables", "events,boots"]
    )
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == [
        "boots.parquet",
        "events.parquet",
        "manifest.json",
    ]
    out2 = tmp_path / "out2"
    r = runner.invoke(app, ["parse", "-q", str(DROPPED), "-o", str(out2), "--no-lines"])
    assert r.exit_code == 0
    names = {p.name for p in out2.iterdir()}
    assert "events.parquet" in names
    assert "lines.parquet" not in names and "unparsed.parquet" not in names  # opt-in


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert runner.invoke(app, ["parse", str(DROPPED), "-f", "xml"]).exit_code == 2
    r = runner.invoke(app, ["parse", str(DROPPED), "--tables", "events,nosuch"])
    assert r.exit_code == 2 and "nosuch" in r.output
    assert runner.invoke(app, ["parse"]).exit_code == 2
    assert runner.invoke(app, ["frobnicate"]).exit_code == 2
    a_file = tmp_path / "f"
    a_file.write_text("")
    assert runner.invoke(app, ["parse", str(DROPPED), "-o", str(a_file)]).exit_code == 2


@pytest.mark.parametrize("cmd", ["parse", "summary", "tables"])
def test_help_ends_with_example(cmd: str) -> None:
    r = runner.invoke(app, [cmd, "--help"])
    assert r.exit_code == 0
    # the example is the last paragraph of the help
    assert "\n\n" not in r.output[r.output.rindex("Example: stalllog ") :].strip()
    assert "Example: stalllog" in runner.invoke(app, ["--help"]).output


def test_missing_file_exit_1_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.log"
    r = runner.invoke(app, ["parse", str(DROPPED), str(missing), "-o", str(tmp_path / "o")])
    assert r.exit_code == 1
    assert r.stderr == f"stalllog: {missing}: No such file or directory\n"
    assert r.stdout == ""
    # checked before anything is written
    assert not (tmp_path / "o").exists()


def test_directory_exit_1(tmp_path: Path) -> None:
    r = runner.invoke(app, ["summary", str(tmp_path)])
    assert r.exit_code == 1
    assert r.stderr == f"stalllog: {tmp_path}: is a directory, not a capture file\n"


def test_truncated_gzip_warns_and_keeps_going(tmp_path: Path) -> None:
    data = gzip.compress(INTERLEAVED.read_bytes())
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(data[: len(data) // 2])
    r = runner.invoke(app, ["parse", str(cut), str(DROPPED), "-o", str(tmp_path / "o")])
    assert r.exit_code == 0
    assert r.stderr.startswith(f"stalllog: {cut}: warning: gzip stream ended early")
    assert "Traceback" not in r.output
    assert (tmp_path / "o" / "sources.parquet").exists()
    sources = pq.read_table(tmp_path / "o" / "sources.parquet").to_pylist()
    assert sources[0]["compression"] == "gzip" and sources[0]["error"]
    assert sources[1]["n_lines"] == 21 and sources[1]["error"] is None
    # what decompressed before the cut is kept: the first lines of the original (the last
    # kept line may be cut mid-line)
    n = sources[0]["n_lines"]
    assert 0 < n < 516
    lines = pq.read_table(tmp_path / "o" / "lines.parquet").to_pandas()
    kept = lines[lines["source"] == str(cut)]["text"].tolist()
    assert kept[:-1] == stalllog.parse(INTERLEAVED).lines["text"].tolist()[: n - 1]


def test_empty_and_binary_inputs_warn(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    binary = tmp_path / "blob.bin"
    # bytes of a gzip member without its magic: not compressed, not text
    binary.write_bytes(gzip.compress(SYSLOG.read_bytes())[2:])
    r = runner.invoke(app, ["summary", str(empty), str(binary)])
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    assert lines[0] == f"stalllog: {empty}: warning: empty input"
    assert lines[1].startswith(f"stalllog: {binary}: warning: ")
    assert lines[1].endswith("lines have invalid UTF-8 or NUL bytes: not a text capture?")
    assert "Traceback" not in r.output


def test_stdin(tmp_path: Path) -> None:
    r = runner.invoke(app, ["summary", "-"], input=DROPPED.read_bytes())
    assert r.exit_code == 0, r.output
    assert "<stdin>" in r.stdout and "21 lines" in r.stdout
    assert runner.invoke(app, ["summary", "-", "-"], input=b"").exit_code == 2


def test_hostile_file_name_printed_inertly(tmp_path: Path) -> None:
    hostile = tmp_path / "\x1b[2J[bold]x\x9b.log"
    shutil.copy(DROPPED, hostile)
    r = runner.invoke(app, ["summary", str(hostile)], env={"COLUMNS": "300"})
    assert r.exit_code == 0
    assert "\x1b" not in r.stdout and "\x9b" not in r.stdout
    assert "\\x1b[2J[bold]x\\x9b.log" in r.stdout
    r = runner.invoke(app, ["summary", str(tmp_path / "\x1b]0;owned\x07.log")])
    assert r.exit_code == 1
    assert r.stderr == f"stalllog: {tmp_path}/\\x1b]0;owned\\x07.log: No such file or directory\n"


def test_non_utf8_file_name(tmp_path: Path) -> None:
    # Linux file names are bytes; the `source` column is UTF-8 text, so 0xff shows as \xff
    odd = tmp_path / b"dropped-\xff.log".decode("utf-8", "surrogateescape")
    shutil.copy(DROPPED, odd)
    out = tmp_path / "o"
    r = runner.invoke(app, ["parse", "-q", str(odd), "-o", str(out), "-f", "json"])
    assert r.exit_code == 0, r.output
    source = json.loads((out / "sources.jsonl").read_text())["source"]
    assert source == f"{tmp_path}/dropped-\\xff.log"
    r = runner.invoke(app, ["summary", str(odd) + "x"])
    assert r.stderr == f"stalllog: {tmp_path}/dropped-\\xff.logx: No such file or directory\n"


def test_summary_numbers() -> None:
    # Counted by hand with grep on the file: 21 lines, five `** N printk messages dropped **`
    # markers, 88 + 72 + 2081 + 119 + 56 = 2416 messages.
    r = runner.invoke(app, ["summary", str(DROPPED)], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    assert "1 input(s), 21 lines" in r.stdout
    assert "console_dropped: 5 marker(s), 2,416 messages" in r.stdout
    assert "flagged: dropped-before 5" in r.stdout
    # the same summary from Python, on a Capture
    text = summary_text(stalllog.parse(DROPPED), width=200)
    assert "console_dropped: 5 marker(s), 2,416 messages" in text


def test_summary_lists_every_nonempty_family_table() -> None:
    cap = stalllog.parse(INTERLEAVED, SYSLOG)
    text = summary_text(cap, width=200)
    core = {"lines", "unparsed", "events", "boots", "sources"}
    nonempty = [n for n, t in cap.arrow.items() if n not in core and t.num_rows]
    assert nonempty
    for name in nonempty:
        assert any(
            line.split()[:2] == [name, f"{cap.arrow[name].num_rows:,}"]
            for line in (ln.removeprefix("tables").strip() for ln in text.splitlines())
        ), name


def test_tables_command() -> None:
    r = runner.invoke(app, ["tables"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    names = [line.split()[0] for line in r.stdout.splitlines()[:-1] if line[:1].strip()]
    assert names == [t.name for t in all_schemas()]
    r = runner.invoke(app, ["tables", "sources"], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "compression" in r.stdout
    assert runner.invoke(app, ["tables", "nosuch"]).exit_code == 2


def test_version() -> None:
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout == f"stalllog {stalllog.__version__}\n"


# --- command-line habits (issue 11, item 5) ------------------------------------------------

GLOBAL_OOM = LKML.parent.parent / "qemu" / "6.1.0-56-amd64-global-oom-serial.log.xz"
KMALLOCWD = LKML / "kmallocwd-2017-too_many_isolated-congestion_wait.txt"
# what Typer 0.29 prints for a parameter's Python type: `<list[str]>`, `<int range>`,
# `<parquet|csv|json>`, and `{CAPTURE}` for a required argument
TYPE_NAME = re.compile(r"<(list\[\w+\]|str|int|float|bool|path|\w+ range|\w+(\|\w+)+)>|\{[A-Z]+\}")
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("cmd", ["", *COMMANDS])
def test_h_is_help_and_help_names_no_python_type(cmd: str) -> None:
    args = [cmd] if cmd else []
    long = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "100"})
    short = runner.invoke(app, [*args, "-h"], env={"COLUMNS": "100"})
    assert long.exit_code == short.exit_code == 0
    assert short.stdout == long.stdout
    assert TYPE_NAME.search(long.stdout) is None, long.stdout


def test_help_metavars() -> None:
    out = runner.invoke(app, ["parse", "-h"], env={"COLUMNS": "100"}).stdout
    assert out.startswith("Usage: stalllog parse [OPTIONS] CAPTURE...\n")
    for shown in ("-o, --out DIR", "-f, --format [parquet|csv|json]", "--hz HZ", "-j, --jobs N"):
        assert shown in out
    assert "Usage: stalllog tables [OPTIONS] [NAME]" in runner.invoke(app, ["tables", "-h"]).stdout


def test_shell_completion() -> None:
    r = runner.invoke(app, ["--show-completion", "bash"])
    assert r.exit_code == 0
    assert "complete -o default -F _stalllog_completion stalllog" in r.stdout


def _facts(*args: str) -> dict[str, Any]:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    facts: dict[str, Any] = json.loads(r.stdout)
    return facts


def test_summary_json() -> None:
    # grep on the capture: 2,741 lines, 32 `invoked oom-killer`, 32 `Killed process NNN (hog)`,
    # one `Linux version 6.1.0-56-amd64` banner
    facts = _facts("summary", "--json", str(GLOBAL_OOM))
    assert facts["lines"]["total"] == 2741
    assert facts["kernels"] == ["6.1.0-56-amd64"]
    assert facts["boots"]["count"] == 1
    assert facts["oom"]["invocations"] == 32 and facts["oom"]["kills"] == 32
    assert facts["oom"]["top_victims"] == [{"comm": "hog", "kills": 32}]
    assert facts["inputs"][0]["compression"] == "xz"
    assert facts["findings"]["total"] == sum(facts["findings"]["by_severity"].values()) >= 1
    assert facts["verdict"] in ("critical", "warning", "info")
    assert facts["written"] is None and facts["warnings"] == []
    # the same facts from Python
    assert stalllog.parse(GLOBAL_OOM).summary().facts == facts


def test_parse_json_names_the_files_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    facts = _facts("parse", "--json", str(DROPPED), "-o", str(out), "--tables", "events,boots")
    assert facts["written"] == {
        "events": str(out / "events.parquet"),
        "boots": str(out / "boots.parquet"),
        "manifest": str(out / "manifest.json"),
    }
    unparsed = len(stalllog.parse(DROPPED).unparsed)
    assert facts["lines"] == {"total": 21, "unparsed": unparsed, "flags": {"dropped-before": 5}}


def test_summary_hz_gives_kmallocwd_delays_in_seconds() -> None:
    # the longest `delay=` of the capture is 52772 jiffies: 211.1 s at HZ=250
    r = runner.invoke(app, ["summary", "--hz", "250", str(KMALLOCWD)], env={"COLUMNS": "200"})
    assert "longest delay 52,772 jiffies (211.1 s)" in r.stdout
    r = runner.invoke(app, ["summary", str(KMALLOCWD)], env={"COLUMNS": "200"})
    assert "longest delay 52,772 jiffies;" in r.stdout
    assert _facts("summary", "--json", "--hz", "250", str(KMALLOCWD))["hz"] == 250


def test_tables_json() -> None:
    described = _facts("tables", "--json")
    assert [t["name"] for t in described] == [t.name for t in all_schemas()]
    sources = _facts("tables", "sources", "--json")
    assert [c["name"] for c in sources["columns"]][:2] == ["source", "compression"]
    assert sources["file_names"] == ["sources.parquet", "sources.csv", "sources.jsonl"]


def test_parse_to_stdout_streams_json_lines() -> None:
    r = runner.invoke(app, ["parse", str(DROPPED), "-o", "-"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["table"]] = counts.get(row["table"], 0) + 1
    cap = stalllog.parse(DROPPED)
    expected = {n: t.num_rows for n, t in cap.arrow.items() if t.num_rows and n != "unparsed"}
    assert counts == expected
    # the rows are the table's rows, `table` first
    boots = [row for row in rows if row["table"] == "boots"]
    assert list(boots[0])[:3] == ["table", "boot", "source"]
    assert boots[0]["line_end"] == 21
    assert "1 input(s), 21 lines" in r.stderr  # the summary, off stdout
    r = runner.invoke(app, ["parse", str(DROPPED), "-o", "-", "-t", "boots", "--json"])
    assert [json.loads(line)["table"] for line in r.stdout.splitlines()] == ["boots"]
    assert json.loads(r.stderr)["written"] is None


def test_rerun_into_the_same_directory_leaves_no_stale_table(tmp_path: Path) -> None:
    """The issue's complaint ("re-running into the same output directory leaves stale tables
    beside new ones") does not hold: the directory is replaced as a whole."""
    out = tmp_path / "out"
    assert runner.invoke(app, ["parse", "-q", str(DROPPED), "-o", str(out)]).exit_code == 0
    assert len(list(out.iterdir())) > 10
    r = runner.invoke(app, ["parse", "-q", str(DROPPED), "-o", str(out), "-t", "boots"])
    assert r.exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["boots.parquet", "manifest.json"]
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("keep me")
    r = runner.invoke(app, ["parse", "-q", str(DROPPED), "-o", str(foreign)])
    assert r.exit_code == 1 and (foreign / "todo.txt").exists()


def test_oom_without_memory_dump_is_not_none() -> None:
    # the capture starts at the kill lines of one OOM: no Mem-Info dump to explain it
    text = runner.invoke(
        app, ["summary", str(LKML / "kmallocwd-4.4-vmstat-wq-pending-oldformat.txt")]
    ).stdout
    assert "None" not in text
    assert "1 without a Mem-Info dump to explain them" in text


@pytest.mark.parametrize("columns", [60, 80, 120])
@pytest.mark.parametrize("cmd", ["summary", "analyze", "tables"])
def test_no_trailing_padding_and_no_line_wider_than_the_terminal(cmd: str, columns: int) -> None:
    args = [cmd] if cmd == "tables" else [cmd, str(KMALLOCWD), str(GLOBAL_OOM)]
    r = runner.invoke(app, args, env={"COLUMNS": str(columns)})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) > 5
    assert [line for line in lines if line != line.rstrip()] == []
    assert max(len(line) for line in lines) <= columns


def test_many_boots_are_aggregated() -> None:
    """41 syzkaller reports, one boot each: counts and the worst boots, not 41 listings."""
    syzkaller = sorted((LKML.parent / "syzkaller").iterdir())
    r = runner.invoke(app, ["summary", *map(str, syzkaller)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    boots = r.stdout[r.stdout.index("\nboots ") : r.stdout.index("\nlines ")].splitlines()[1:]
    assert boots[0].split() == ["boots", str(len(syzkaller))]
    assert boots[3].strip() == "worst 5 (findings, kills, events):"
    assert len(boots) == 4 + 5
    assert "cmdline: " not in r.stdout  # sample 127 has one: not listed
    facts = _facts("summary", "--json", *map(str, syzkaller))
    assert facts["boots"]["count"] == len(syzkaller) == len(facts["inputs"])
    # the boots of the two warnings (oom_lock held by a task printing) rank first
    worst = [int(line.split()[0].lstrip("#")) for line in boots[4:]]
    warned = [f["boot"] for f in facts["findings"]["worst"] if f["severity"] == "warning"]
    assert len(warned) == 2 and set(worst[:2]) == set(warned)
