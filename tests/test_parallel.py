"""`stalllog parse --jobs N`: worker processes, one per input file; files byte-identical to
`--jobs 1`, manifest identical but for its timestamps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SAMPLES
from test_merge import COVER
from typer.testing import CliRunner

from stalllog.cli import app
from stalllog.output import parallel
from stalllog.output.parallel import ParallelInputs

runner = CliRunner()
FILES = [str(SAMPLES / p) for p in (*COVER[:3], "qemu/6.12.118+deb13-amd64-global-oom-kmsg.log.xz")]
TIMES = ("started", "finished")


@pytest.fixture
def always_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small samples are parsed by workers too (they would be parsed in-process)."""
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)


def _parse(out: Path, jobs: int, *args: str) -> None:
    r = runner.invoke(app, ["parse", "-q", *FILES, "-o", str(out), "--jobs", str(jobs), *args])
    assert r.exit_code == 0, r.output


@pytest.mark.usefixtures("always_parallel")
@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_jobs_output_is_byte_identical(tmp_path: Path, fmt: str) -> None:
    _parse(tmp_path / "one", 1, "-f", fmt)
    _parse(tmp_path / "two", 2, "-f", fmt)
    one = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert one == sorted(p.name for p in (tmp_path / "two").iterdir())
    assert len(one) > 40
    for name in one:
        a, b = (tmp_path / d / name for d in ("one", "two"))
        if name == "manifest.json":
            ma, mb = json.loads(a.read_text()), json.loads(b.read_text())
            assert {k: v for k, v in ma.items() if k not in TIMES} == {
                k: v for k, v in mb.items() if k not in TIMES
            }
            assert [i["hashed"] for i in mb["inputs"]] == ["while reading"] * len(FILES)
        else:
            assert a.read_bytes() == b.read_bytes(), name


@pytest.mark.usefixtures("always_parallel")
def test_jobs_to_stdout_reads_the_parts_back_into_memory() -> None:
    # `-o -`: no output directory to map the workers' tables from
    args = ["parse", "-q", *FILES, "-o", "-", "-t", "oom_events,frames,boots"]
    one, two = (runner.invoke(app, [*args, "--jobs", str(jobs)]) for jobs in (1, 2))
    assert one.exit_code == two.exit_code == 0, two.output
    assert one.stdout == two.stdout and one.stdout.count("\n") > 1000


@pytest.mark.usefixtures("always_parallel")
def test_jobs_error_names_the_input_like_one_process(tmp_path: Path) -> None:
    """An input that fails in a worker fails the run as it does in one process."""
    outs = []
    for jobs in (1, 2):
        args = ["parse", "-q", *FILES, "-o", str(tmp_path / str(jobs)), "--max-bytes", "1000"]
        r = runner.invoke(app, [*args, "--jobs", str(jobs)])
        outs.append((r.exit_code, r.output))
    assert outs[0] == outs[1]
    assert outs[0][0] == 1 and "more than 1000 bytes" in outs[0][1], outs[0]
    assert not (tmp_path / "2").exists()


def test_one_process_when_workers_cannot_help(tmp_path: Path) -> None:
    def shown(p: str) -> str:
        return p

    assert ParallelInputs.of(FILES, 1, shown) is None  # --jobs 1: the plain in-process path
    assert ParallelInputs.of(FILES[:1], 4, shown) is None  # one input
    assert ParallelInputs.of([*FILES, "-"], 4, shown) is None  # stdin is read by the parent
    assert ParallelInputs.of(FILES, 4, shown) is None  # < PARALLEL_MIN_BYTES: faster alone
    big = tmp_path / "big.log"
    with big.open("wb") as f:  # only its size is looked at: a sparse file
        f.truncate(parallel.PARALLEL_MIN_BYTES)
    jobs = ParallelInputs.of([*FILES, str(big)], 9, shown)
    assert jobs is not None and jobs.jobs == len(FILES) + 1


@pytest.mark.parametrize(("cores", "jobs"), [(1, 1), (2, 1), (3, 1), (4, 2), (16, 8)])
def test_default_is_a_worker_per_two_cores(
    monkeypatch: pytest.MonkeyPatch, cores: int, jobs: int
) -> None:
    """A parse keeps about two cores busy (engine/prefetch.py): on two, one process wins."""
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert parallel.default_jobs() == jobs
