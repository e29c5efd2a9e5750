"""`stalllog tables`: the tables `parse` writes and their columns, as text or JSON."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from stalllog.cli.console import print_trimmed


def tables_cmd(
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="Show this table's columns.", show_default=False),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print [{name, doc, file_names, columns: [{name, type, unit, meaning}]}] "
            "(one table's object with NAME) instead.",
        ),
    ] = False,
) -> None:
    """List the tables `parse` writes (file DIR/<table>.<ext>), or one table's columns (also
    of the vmcore_* tables `stalllog vmcore` writes)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from stalllog.engine.schema import all_schemas
    from stalllog.output.writers import EXTENSIONS

    schemas = {t.name: t for t in all_schemas()}
    if name is not None and name not in schemas:
        # the tables other commands write (`stalllog vmcore`): by name, not in the list
        from stalllog.engine.documented import other_tables

        schemas |= {t.name: t for t in other_tables() if t.name == name}
    if name is not None and name not in schemas:
        raise typer.BadParameter(
            f"no table {name!r}; one of {', '.join(schemas)}", param_hint="NAME"
        )
    if as_json:
        described = [_table_json(t) for t in schemas.values() if name in (None, t.name)]
        sys.stdout.write(json.dumps(described[0] if name else described) + "\n")
        return
    if name is None:
        grid = Table.grid(padding=(0, 2))
        for t in schemas.values():
            grid.add_row(Text(t.name, style="bold"), Text(_first_sentence(t.doc)))
        exts = ",".join(EXTENSIONS.values())
        print_trimmed(Group(grid, Text(
            f"file names: <table>.{{{exts}}}; columns: stalllog tables NAME"
        )))  # fmt: skip
        return
    t = schemas[name]
    grid = Table("column", "type", "unit", "meaning", box=None, padding=(0, 2, 0, 0))
    for c in _table_json(t)["columns"]:
        # Text, not markup: a plug-in family's schema is not ours
        grid.add_row(*(Text(c[k]) for k in ("name", "type", "unit", "meaning")))
    print_trimmed(Group(Text(t.doc), grid))


def _table_json(t: Any) -> dict[str, Any]:
    """A TableSchema as `tables --json` prints it."""
    import pyarrow as pa

    from stalllog.output.writers import EXTENSIONS

    columns = [
        {"name": c.name, "unit": c.unit, "meaning": c.meaning,
         "type": str(c.type.value_type if pa.types.is_dictionary(c.type) else c.type)}
        for c in t.columns
    ]  # fmt: skip
    files = [f"{t.name}.{ext}" for ext in EXTENSIONS.values()]
    return {"name": t.name, "doc": t.doc, "file_names": files, "columns": columns}


def _first_sentence(doc: str) -> str:
    end = doc.find(". ")
    return doc if end < 0 else doc[: end + 1]
