"""The `stalllog` command line."""

from . import report_cmd  # noqa: F401  (registers `stalllog report` on app)
from .app import app, main

__all__ = ["app", "main"]
