"""The `stalllog` command group: Typer's, minus one start-up cost and its type names in help."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperGroup, TyperOption


class Group(TyperGroup):
    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)
        # Typer 0.29 coerces a flag of the group that is not given and defaults to None (its
        # --help, --install-completion, --show-completion) through a pydantic TypeAdapter:
        # 0.1-0.3 s of imports before `stalllog parse --help` can answer. Not given means
        # False, a bool, which Typer passes through.
        for param in params:
            if isinstance(param, TyperOption) and param.is_flag and param.default is None:
                param.default = False
        return params

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            for param in command.params:
                plain_metavar(param)
        return command


def plain_metavar(param: Any) -> None:
    """Typer 0.29 shows Python types in help (`CAPTURE <list[str]>`, `--out <path>`,
    `--hz <int range>`): arguments show their name only, options their metavar (the choices of
    an enum, else the option's name in capitals). Done for every command, so a command added
    later needs no metavar of its own."""
    if isinstance(param, TyperArgument):
        param.__class__ = _PlainArgument
    elif isinstance(param, TyperOption) and param.metavar is None and not param.is_flag:
        choices = param.type_descriptor.choices if param.type_descriptor.is_choice else None
        if choices:
            param.metavar = "[" + "|".join(str(getattr(c, "value", c)) for c in choices) + "]"
        else:
            param.metavar = (param.name or "value").upper()


class _PlainArgument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        """`CAPTURE...` when required, `[NAME]` when optional (Typer: `{CAPTURE}...`)."""
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")
