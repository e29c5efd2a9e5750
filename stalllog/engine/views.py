"""What a `Capture` shows of itself through layers above the engine (`summary()` from report,
`to_parquet()` from output, `_repr_html_()` for Jupyter): named here as `module:function` by
`stalllog/__init__.py` and imported on first use, as the post-steps are (steps.py), so the
engine never imports the layers above it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

_VIEWS: dict[str, str] = {}


def provided_by(**views: str) -> None:
    """`name="package.module:function"` for each view."""
    _VIEWS.update(views)


def view(name: str) -> Callable[..., Any]:
    module, function = _VIEWS[name].split(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module), function)
    return fn
