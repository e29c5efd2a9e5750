"""Digit runs of line prefixes (kmsg sequence numbers, drop counts) to int64, checked.

A mangled line can carry a 20+ digit run where a prefix field is: casting the whole column
would raise for the entire chunk. Runs longer than 18 digits are checked one by one (rare);
those past int64 get TOO_BIG, which the line stage turns into null and a flag (a drop marker
with such a count is still a drop marker).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INT64_MAX = 2**63 - 1
NONE, TOO_BIG = -1, -2  # the field is absent; present but past int64
_SAFE_DIGITS = 18  # any run this long fits int64


def checked_int64(digits: pa.Array) -> np.ndarray:
    """`\\d+` strings -> int64 values; NONE where blank or null, TOO_BIG past int64."""
    text = pc.if_else(pc.equal(digits, ""), pa.scalar(None, pa.string()), digits)
    long = np.asarray(
        pc.fill_null(pc.greater(pc.utf8_length(text), _SAFE_DIGITS), False).to_numpy(
            zero_copy_only=False
        ),
        dtype=bool,
    )
    if long.any():
        rows = np.flatnonzero(long)
        for i, s in zip(rows.tolist(), text.take(pa.array(rows)).to_pylist(), strict=True):
            long[i] = len(s) > 19 or int(s) > INT64_MAX
        text = pc.if_else(pa.array(long), pa.scalar(None, pa.string()), text)
    values = pc.fill_null(pc.cast(text, pa.int64()), NONE).to_numpy(zero_copy_only=False)
    return np.where(long, TOO_BIG, values).astype(np.int64)
