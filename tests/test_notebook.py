"""The notebooks run top to bottom in a real Jupyter kernel (nbclient), on real samples, and say
what the threads concluded; in git they are stored without outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")  # [dev] installs it: CI never skips
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


def _run(name: str) -> str:
    """Execute a notebook as Jupyter would (cwd = notebooks/); all its text outputs joined.
    A cell that raises fails the test (nbclient raises CellExecutionError)."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text") or o.get("data", {}).get("text/plain", ""))
    return "\n".join(str(t) for t in out)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_stored_without_outputs(path: Path) -> None:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)


def test_explore_notebook() -> None:
    text = _run("explore.ipynb")
    # 32 `invoked oom-killer` headers in the capture (grep -c), each with its kill
    assert "OOM kills: 32" in text


def test_oom_lock_and_reclaim_notebook() -> None:
    text = _run("oom_lock_and_reclaim.ipynb")
    # syzkaller 289: syz-fuzzer(2270) holds oom_lock while printing (RCU stall, line 5 and 9)
    assert "[oom_lock_held_long] pid 2270" in text
    assert "evidence lines: 5,9" in text
    # 4.3-rc SysRq-t: one oom_lock waiter in the trylock back-off, 7 tasks on mmap_sem
    assert "schedule_timeout_uninterruptible←__alloc_pages_nodemask    1" in text
    assert "down_read←__do_page_fault                                  7" in text
    # kmallocwd 2017: nobody holds oom_lock, oom_count frozen, reclaimers throttled
    assert "oom_lock rows: 0" in text
    assert "[no_oom_progress]" in text
    assert "kswapd0(67) is waiting for a lock" in text
