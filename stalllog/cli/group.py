"""The `stalllog` command group: Typer's, minus one start-up cost."""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup


class Group(TyperGroup):
    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        # Typer 0.29 coerces the group's --help, when not given (None), through a pydantic
        # TypeAdapter: 0.3 s of imports before `stalllog parse --help` can answer. Not given
        # means False, a bool, which Typer passes through.
        if option is not None and option.default is None:
            option.default = False
        return option
