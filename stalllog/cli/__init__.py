"""The `stalllog` command line."""

from . import plot_cmd  # registers `stalllog plot` on the app
from .app import app, main

__all__ = ["app", "main", "plot_cmd"]
