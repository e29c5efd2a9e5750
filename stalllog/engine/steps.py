"""Post-steps: functions over the finished Arrow tables, run in order once dispatching is done.

A step registers itself with `@post_step(name, order, tables=...)` where it is defined; the
package that holds it is named by `stalllog/__init__.py` (the one place that wires layers
together) with `provided_by`, and imported here the first time the steps are asked for, so the
engine never imports the layers above it and `import stalllog` stays light. Families adjust
their own tables in `Family.post`, run at `FAMILY_ORDER`. `tables` declares what the step adds,
for the docs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # at run time neither is needed: importing them would load pyarrow
    import pyarrow as pa

    from stalllog.parsers.base import Context, Family, TableSchema

    Tables = dict[str, pa.Table]
    StepFn = Callable[[Tables, Context], Tables]

FAMILY_ORDER = 20  # families' own post-steps run here


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    order: int  # lower runs first
    run: StepFn
    tables: tuple[TableSchema, ...]
    deferred: bool  # `parse()` runs it only when one of its tables is first asked for


STEPS: dict[str, Step] = {}
_PENDING: list[str] = []  # modules whose import registers steps, not imported yet


def provided_by(*modules: str) -> None:
    """Steps are defined in these modules (imported on first use of the steps)."""
    _PENDING.extend(m for m in modules if m not in _PENDING)


def _load() -> None:
    for name in tuple(_PENDING):
        # a failing import propagates (and is tried again next time): no step goes missing
        importlib.import_module(name)
        if name in _PENDING:  # a nested call during that import may have removed it
            _PENDING.remove(name)


def post_step(
    name: str, order: int, tables: Sequence[TableSchema] = (), deferred: bool = False
) -> Callable[[StepFn], StepFn]:
    def register(fn: StepFn) -> StepFn:
        STEPS[name] = Step(name, order, fn, tuple(tables), deferred)
        return fn

    return register


def run_steps(
    tables: Tables, context: Context, families: Sequence[Family], skip_deferred: bool = False
) -> Tables:
    _load()
    plan: list[tuple[int, str, StepFn]] = [
        (s.order, s.name, s.run) for s in STEPS.values() if not (skip_deferred and s.deferred)
    ]
    plan += [(FAMILY_ORDER, f"family:{f.name}", f.post) for f in families]
    from stalllog.engine.keys import add_keys, missing_as_null  # pyarrow: not at import time
    from stalllog.engine.trim import release_free_memory, settle

    release_free_memory()  # what the parse's threads freed, before the steps allocate
    # every step sees missing values as null, whether it runs now or deferred (parse())
    # `events` too: sorted by id in the heap at the end of the parse, 130 bytes an event
    tables = settle({name: missing_as_null(t) for name, t in tables.items()})
    for _, _, run in sorted(plan, key=lambda p: (p[0], p[1])):
        tables = settle(run(tables, context))
    return settle(add_keys(tables))


def step_tables() -> list[TableSchema]:
    _load()
    return [t for s in sorted(STEPS.values(), key=lambda s: (s.order, s.name)) for t in s.tables]


def deferred_steps() -> list[Step]:
    _load()
    return sorted((s for s in STEPS.values() if s.deferred), key=lambda s: (s.order, s.name))
