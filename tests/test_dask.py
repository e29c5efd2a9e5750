"""stalllog.dask on a LocalCluster of two worker processes gives the tables of `stalllog
parse` on the same inputs."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import SAMPLES
from distributed import Client, LocalCluster
from tablecmp import differing
from test_merge import COVER
from typer.testing import CliRunner

import stalllog.dask
from stalllog.cli import app

FILES = [str(SAMPLES / p) for p in COVER[:5]]


@pytest.mark.slow
def test_dask_tables_equal_the_cli(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["parse", "-q", *FILES, "-o", str(tmp_path / "cli")])
    assert r.exit_code == 0, r.output
    names = [p.stem for p in sorted((tmp_path / "cli").glob("*.parquet"))]
    want = {n: pq.read_table(tmp_path / "cli" / f"{n}.parquet") for n in names}
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, Client(cluster):
        frames = stalllog.dask.parse_to_parquet(FILES, tmp_path / "dask")
    assert sorted(frames) == sorted(names)
    got = {n: pq.read_table(tmp_path / "dask" / n) for n in names}
    assert differing(want, got) == []
    lines = sorted((tmp_path / "dask" / "lines").iterdir())
    assert [p.name for p in lines] == [f"part.{k:05d}.parquet" for k in range(len(FILES))]
    assert len(frames["oom_events"].compute()) == want["oom_events"].num_rows > 0


def test_expand_paths_globs_directories(tmp_path: Path) -> None:
    for name in ("b.log", "a.log", "sub/c.log"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    d = str(tmp_path)
    assert stalllog.dask.expand([f"{d}/b.log", f"{d}/*.log", d]) == [
        f"{d}/b.log", f"{d}/a.log", f"{d}/b.log", f"{d}/a.log", f"{d}/b.log", f"{d}/sub/c.log",
    ]  # fmt: skip
    assert stalllog.dask.expand(f"file://{d}/sub") == [f"file://{d}/sub/c.log"]


def test_refuses_a_non_empty_output(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("mine")
    with pytest.raises(FileExistsError):
        stalllog.dask.parse_to_parquet(FILES[:1], tmp_path)
