"""The analyzers as a post-step of every parse: their tables join the parsed ones (written by
`stalllog parse`, shown in the summary's verdict), typed by the modules' `SCHEMA`s."""

from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa

from stalllog.analyze import classify, findings, oom_lock, pressure, reclaim, stalls
from stalllog.engine.capture import Capture
from stalllog.engine.steps import post_step
from stalllog.parsers.base import Column, Context, TableSchema

DOCS = {
    "stack_classes": "One row per call trace (`stacks`): where its task is stuck, by the most "
    "specific reliable frame (classes in `stalllog.analyze.classify.STUCK_CLASSES`), and its "
    "role for oom_lock.",
    "stalled_tasks": "One row per stalled task and allocation attempt (boot, pid, kmallocwd seq "
    "or warn_alloc run), merged from `memalloc`, `alloc_stalls`, `hung_tasks` and task dumps: "
    "first/last seen, longest delay in seconds, progress, what it was doing, its episode.",
    "episodes": "One row per stall episode: stall evidence clustered in time per boot, with "
    "peak stalled tasks, OOM invocations and kills inside, `oom_count` progress, printk loss, "
    "and how it ended (`outcome`).",
    "oom_lock": "One row per interval during which a task held `oom_lock`: from its OOM dump "
    "(header to kill), from stacks inside the OOM killer, or from lockdep held-lock lists; with "
    "the tasks waiting meanwhile.",
    "reclaim": "One row per episode and stall class: how many stalled tasks were in that class "
    "(throttled, direct reclaim, lock wait, ...), with example pids and a line.",
    "episode_pressure": "One row per stall episode: the most concurrent direct reclaimers, what "
    "kswapd was doing, zones below min or unreclaimable in its Mem-Info snapshots, and how long "
    "oom_lock was held meanwhile with an estimate of the reclaim time spent under it.",
    "findings": "One row per conclusion, in plain words with numbers, severity "
    "(info/warning/critical) and the evidence line numbers (`12,40-45`).",
}
_ARROW_TYPES = {
    "Int64": pa.int64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
    "Float64": pa.float64(),
}
_SCHEMAS = {**classify.SCHEMA, **stalls.SCHEMA, **oom_lock.SCHEMA, **reclaim.SCHEMA,
            **pressure.SCHEMA, **findings.SCHEMA}  # fmt: skip
TABLES = tuple(
    TableSchema(
        name,
        DOCS[name],
        tuple(Column(c, _ARROW_TYPES[dtype], unit, meaning) for c, dtype, unit, meaning in cols),
    )
    for name, cols in _SCHEMAS.items()
)


def to_arrow(df: pd.DataFrame, schema: TableSchema) -> pa.Table:
    names = [c.name for c in schema.columns]
    return pa.Table.from_pandas(df[names], schema=schema.arrow(), preserve_index=False)


@post_step("analysis", order=40, tables=TABLES, deferred=True)
def _analysis(tables: dict[str, pa.Table], context: Context) -> dict[str, pa.Table]:
    if not context.analysis:
        return tables
    from stalllog.analyze import analyze  # the package imports this module

    try:
        result = analyze(Capture(tables), hz=context.hz)
        analysis = {s.name: to_arrow(result[s.name], s) for s in TABLES}
    except Exception as e:
        # an analyzer bug must not cost the user the parsed tables: say so in `findings`
        if os.environ.get("STALLLOG_DEBUG"):
            raise
        analysis = {s.name: s.arrow().empty_table() for s in TABLES}
        analysis["findings"] = _failure(e)
    return {**tables, **analysis}


def _failure(e: Exception) -> pa.Table:
    schema = next(s for s in TABLES if s.name == "findings")
    row = dict.fromkeys(c.name for c in schema.columns)
    row.update(finding=0, kind="analysis_failed", severity="warning",
               text=f"stalllog could not analyze this capture ({type(e).__name__}: {e}); "
               "the parsed tables are complete. Please report it (STALLLOG_DEBUG=1 shows the "
               "traceback).")  # fmt: skip
    return pa.Table.from_pylist([row], schema=schema.arrow())
