"""Table equality for tests: Arrow `equals`, except that NaN equals NaN (float columns hold
NaN for "no timestamp", and NaN != NaN would make every table differ from itself)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from stalllog.engine.capture import UNPARSED_ARROW, unparsed_of


def _canon(c: pa.ChunkedArray) -> list[pa.ChunkedArray]:
    if pa.types.is_floating(c.type):
        nan = pc.is_nan(c)
        return [nan, pc.if_else(nan, pa.scalar(0.0, c.type), c)]
    return [c]


def differing(want: dict[str, pa.Table], got: dict[str, pa.Table]) -> list[str]:
    """Names of the tables (and `table.column`s) that differ, and table order if it does."""
    out = [] if list(want) == list(got) else [f"order: {list(want)} != {list(got)}"]
    for name, a in want.items():
        b = got.get(name)
        if b is None or a.schema != b.schema or a.num_rows != b.num_rows:
            out.append(name)
            continue
        for col in a.column_names:
            if not all(x.equals(y) for x, y in zip(_canon(a[col]), _canon(b[col]), strict=True)):
                out.append(f"{name}.{col}")
    return out


def unparsed_table(lines: pa.Table) -> pa.Table:
    return pa.Table.from_batches([unparsed_of(b) for b in lines.to_batches()], UNPARSED_ARROW)
