"""Printing rich renderables without rich's padding: every line ends at its last character,
no line is wider than the terminal (or COLUMNS, or 80 when not a terminal)."""

from __future__ import annotations

import io
import re
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import RenderableType

# spaces at the end of a line, before the style resets rich closes it with
_PADDING = re.compile(r" +((?:\x1b\[[0-9;]*m)*)$", re.MULTILINE)


def print_trimmed(renderable: RenderableType, stderr: bool = False) -> None:
    from rich.console import Console

    real = Console(stderr=stderr, highlight=False)
    buf = io.StringIO()
    Console(
        file=buf,
        width=real.width,
        color_system="auto" if real.color_system else None,
        force_terminal=real.is_terminal,
        highlight=False,
    ).print(renderable)
    (sys.stderr if stderr else sys.stdout).write(_PADDING.sub(r"\1", buf.getvalue()))
