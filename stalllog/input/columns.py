"""Arrow column helpers of the line stage."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def bitmask_to_dictionary(mask: np.ndarray, names: dict[str, int], empty: str | None) -> pa.Array:
    uniq = np.flatnonzero(np.bincount(mask)) if len(mask) else np.zeros(0, np.int64)
    code = np.zeros(int(uniq[-1]) + 1 if len(uniq) else 1, np.int32)
    code[uniq] = np.arange(len(uniq), dtype=np.int32)
    labels = []
    for v in uniq.tolist():
        parts = [n for n, bit in names.items() if v & bit]
        labels.append("+".join(parts) if parts else empty)
    indices = code[mask]
    null_codes = [i for i, label in enumerate(labels) if label is None]
    dictionary = pa.array([label or "" for label in labels], pa.string())
    idx = pa.array(indices, mask=np.isin(indices, null_codes) if null_codes else None)
    return pa.DictionaryArray.from_arrays(idx, dictionary)


def invalid_rows(full: pa.StringArray) -> list[int]:
    """Rows that are not valid UTF-8, found by bisection (few validations of big slices)."""
    bad: list[int] = []
    todo = [(0, len(full))]
    while todo:
        a, b = todo.pop()
        try:
            full.slice(a, b - a).validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        if b - a == 1:
            bad.append(a)
        else:
            mid = (a + b) // 2
            todo += [(mid, b), (a, mid)]
    return sorted(bad)
