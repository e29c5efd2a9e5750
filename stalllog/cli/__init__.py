"""The `stalllog` command line."""

from . import plot_cmd, report_cmd, vmcore_cmd, watch_cmd  # noqa: F401  (they register their commands)
from .app import app, main

__all__ = ["app", "main"]
