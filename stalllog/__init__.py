"""stalllog: Linux memory-pressure console captures as pandas tables.

>>> import stalllog
>>> cap = stalllog.parse("console.log.xz")
>>> cap.lines.head(), cap.events, cap.unparsed
"""

# Importing these packages registers their post-steps (see stalllog/engine/steps.py).
from stalllog import analyze, kernel  # noqa: F401
from stalllog.engine.capture import Capture, iter_parse, parse
from stalllog.input.reader import CaptureError

__all__ = ["Capture", "CaptureError", "iter_parse", "parse"]
__version__ = "0.1.0"
