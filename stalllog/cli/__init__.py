"""The `stalllog` command line."""

from . import plot_cmd, report_cmd  # noqa: F401  (they register `plot` and `report` on app)
from .app import app, main

__all__ = ["app", "main"]
