"""stalllog: Linux memory-pressure console captures as pandas tables.

>>> import stalllog
>>> cap = stalllog.parse("console.log.xz")
>>> cap.lines.head(), cap.events, cap.unparsed
"""

from .capture import Capture, iter_parse, parse
from .reader import CaptureError

__all__ = ["Capture", "CaptureError", "iter_parse", "parse"]
__version__ = "0.1.0"
