"""stalllog: Linux memory-pressure console captures as pandas tables.

>>> import stalllog
>>> cap = stalllog.parse("console.log.xz")
>>> cap.lines.head(), cap.events, cap.unparsed

Importing the package is cheap: pandas, pyarrow and the parsers load on first use of
`parse`, `iter_parse`, `Capture` or `CaptureError` (PEP 562), so `stalllog --help` starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stalllog.engine import documented, steps, views

if TYPE_CHECKING:
    from stalllog.engine.capture import Capture, iter_parse, parse
    from stalllog.input.reader import CaptureError

__all__ = ["Capture", "CaptureError", "iter_parse", "parse"]
__version__ = "0.1.0"

# The post-steps of these packages (stalllog/engine/steps.py) register on the first parse.
steps.provided_by("stalllog.kernel", "stalllog.analyze")
# tables of `stalllog vmcore`, in docs/tables.md beside those parse() makes
documented.provided_by("stalllog.vmcore.schema")
# Capture.summary(), .to_parquet() and ._repr_html_() (stalllog/engine/views.py)
views.provided_by(
    summary="stalllog.report.facts:capture_summary",
    to_parquet="stalllog.output.capture_files:write_capture",
    repr_html="stalllog.report.notebook:capture_html",
)

_LAZY = {
    "Capture": "stalllog.engine.capture",
    "iter_parse": "stalllog.engine.capture",
    "parse": "stalllog.engine.capture",
    "CaptureError": "stalllog.input.reader",
}
# subpackages that `import stalllog` used to load, still reachable as attributes
_SUBPACKAGES = frozenset({"analyze", "engine", "input", "kernel", "parsers"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBPACKAGES})
