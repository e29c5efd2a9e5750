"""Start-up stays light: `import stalllog`, `stalllog --help` and the like load neither pandas,
pyarrow, numpy nor matplotlib (issue 9: they cost seconds). Checked by what a fresh interpreter
has imported, not by timing; the post-steps still register, on the first parse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES

DATA_LIBS = ("pandas", "pyarrow", "numpy", "matplotlib")
# pydantic: Typer coerces some values through it (stalllog/cli/group.py)
HEAVY = (*DATA_LIBS, "pydantic")
SAMPLE = SAMPLES / "qemu" / "5.10.0-46-amd64-hung-task-serial.log"

# runs `python -m stalllog ARGS` in this interpreter, then reports what it imported
RUN_CLI = """
import json, runpy, sys
sys.argv = ["stalllog", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("stalllog", run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code or 0
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps({{"code": code, "heavy": heavy}}), file=sys.stderr)
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )


def test_import_stalllog_is_light() -> None:
    done = _python(f"import stalllog, sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        ["--version"],
        ["parse", "--help"],
        ["analyze", "--help"],
        ["tables", "--help"],
        ["summary", "-h"],
        ["--show-completion", "bash"],
        ["plot", "--help"],
        ["report", "--help"],
    ],
    ids=" ".join,
)
def test_help_is_light(args: list[str]) -> None:
    done = _python(RUN_CLI.format(heavy=HEAVY), *args)
    report = json.loads(done.stderr.splitlines()[-1])
    assert report == {"code": 0, "heavy": []}, done.stderr
    assert "stalllog" in done.stdout


def test_lazy_names_and_steps_on_first_parse() -> None:
    code = f"""
import sys
import stalllog
from stalllog.engine import steps
assert "stalllog.analyze" not in sys.modules and not steps.STEPS
cap = stalllog.parse({str(SAMPLE)!r})
assert isinstance(cap, stalllog.Capture)
assert stalllog.CaptureError is sys.modules["stalllog.input.reader"].CaptureError
assert {{"gfp_flags", "oom_explain", "analysis"}} <= set(steps.STEPS), sorted(steps.STEPS)
assert {{"oom_explain", "findings"}} <= set(cap.tables), sorted(cap.tables)
print(len(cap.hung_tasks))
"""
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 1


def test_completion_is_light() -> None:
    """What the shell runs on TAB (the `stalllog` script): the choices of --format, without
    the data libraries (Typer coerces the words typed so far through pydantic: ~0.2 s)."""
    code = f"""
import json, sys
from stalllog.cli import main
sys.argv = ["stalllog"]
try:
    main()
except SystemExit as e:
    code = e.code or 0
print(json.dumps({{"code": code, "heavy": sorted(m for m in {DATA_LIBS!r} if m in sys.modules)}}),
      file=sys.stderr)
"""
    env = {**os.environ, "_STALLLOG_COMPLETE": "complete_bash",
           "COMP_WORDS": "stalllog parse --format ", "COMP_CWORD": "3"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert json.loads(done.stderr.splitlines()[-1]) == {"code": 0, "heavy": []}, done.stderr
    assert done.stdout.split() == ["parquet", "csv", "json"]


_POOL_PROBE = """
import atexit, sys
sys.argv = ["stalllog", "parse", sys.argv[1], "-o", sys.argv[2], "-q"]
atexit.register(lambda: print(__import__("pyarrow").default_memory_pool().backend_name))
from stalllog.cli import main
main()
"""


@pytest.mark.parametrize(("given", "used"), [(None, "system"), ("jemalloc", "jemalloc")])
def test_cli_arrow_memory_pool(tmp_path: Path, given: str | None, used: str) -> None:
    """The CLI takes Arrow's buffers from the system allocator (less peak memory than
    mimalloc), unless the user chose a pool; `import stalllog` leaves the default alone."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if given:
        env["ARROW_DEFAULT_MEMORY_POOL"] = given
    sample = SAMPLES / "qemu" / "6.1.0-56-amd64-hung-task-serial.log"
    args = [sys.executable, "-c", _POOL_PROBE, str(sample), str(tmp_path / "out")]
    r = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    assert r.stdout.splitlines()[-1] == used
