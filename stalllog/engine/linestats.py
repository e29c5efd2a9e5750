"""Statistics of the `lines` table collected batch by batch (flags, binary lines), so that a
caller writing lines to disk never holds the whole table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

_BINARY_FLAGS = ("invalid-utf8", "nul")


@dataclass
class LineStats:
    """What the summary needs from the `lines` table, collected batch by batch so the CLI
    never holds the table."""

    n_lines: int = 0
    n_unparsed: int = 0
    flags: Counter[str] = field(default_factory=Counter)
    # lines with invalid UTF-8 or NUL bytes, per source: a mostly binary input is not a capture
    binary: Counter[str] = field(default_factory=Counter)

    def add(self, lines: pa.RecordBatch | pa.Table, n_unparsed: int) -> None:
        self.n_lines += lines.num_rows
        self.n_unparsed += n_unparsed
        if lines.num_rows == 0:
            return
        flags = lines.column("flags")
        if flags.null_count == lines.num_rows:
            return
        combos = pc.value_counts(pc.drop_null(flags).cast(pa.string()))
        for combo, n in zip(
            combos.field("values").to_pylist(), combos.field("counts").to_pylist(), strict=True
        ):
            for name in combo.split("+"):
                self.flags[name] += n
        flag_str = pc.fill_null(flags.cast(pa.string()), "")
        bad = pc.or_(*(pc.match_substring(flag_str, f) for f in _BINARY_FLAGS))
        if pc.any(bad).as_py():
            sources = lines.column("source").cast(pa.string()).filter(bad)
            counts = pc.value_counts(sources)
            for src, n in zip(
                counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
            ):
                self.binary[src] += n

    @classmethod
    def of(cls, lines: pa.Table, unparsed: pa.Table | None) -> LineStats:
        stats = cls()
        stats.add(lines, unparsed.num_rows if unparsed is not None else 0)
        return stats
