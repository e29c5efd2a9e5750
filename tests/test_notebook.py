"""The exploration notebook runs top to bottom on the bundled sample."""

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "explore.ipynb"


def test_explore_notebook_runs() -> None:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [c["source"] for c in cells if c["cell_type"] == "code"]
    namespace: dict[str, object] = {}
    cwd = os.getcwd()
    os.chdir(NOTEBOOK.parent)
    try:
        for source in code:
            exec(compile(source, str(NOTEBOOK), "exec"), namespace)
    finally:
        os.chdir(cwd)
    oom = namespace["oom"]
    # 32 `invoked oom-killer` headers in the capture (grep -c), each with its kill
    assert len(oom) == 32  # type: ignore[arg-type]
