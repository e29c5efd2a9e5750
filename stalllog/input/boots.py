"""Boot numbers of lines: a new boot at a journal boot marker, at a kernel banner after
kernel lines, or where the printk clock starts again from 0."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class BootTracker:
    """Assigns boot numbers; state carries across chunks and sources of one capture."""

    boot: int = -1
    seen_kernel: bool = False  # current boot already has a banner or a timestamped line
    last_ts: float = float("nan")
    boots: list[dict[str, object]] = field(default_factory=list)

    def new_boot(self, source: str, line_no: int) -> None:
        self.boot += 1
        self.seen_kernel = False
        self.last_ts = float("nan")
        self.boots.append({"boot": self.boot, "source": source, "line_start": line_no})

    def assign(
        self, source: str, line_no: np.ndarray, ts: np.ndarray, banner: np.ndarray,
        journal_boot: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        n = len(ts)
        out = np.empty(n, np.int32)
        if self.boot < 0:
            self.new_boot(source, int(line_no[0]) if n else 1)
        has_ts = ~np.isnan(ts)
        prev = np.empty(n)
        # last timestamp seen before each line (forward fill)
        idx = np.where(has_ts, np.arange(n), -1)
        np.maximum.accumulate(idx, out=idx)
        prev[1:] = np.where(idx[:-1] >= 0, ts[np.maximum(idx[:-1], 0)], self.last_ts)
        if n:
            prev[0] = self.last_ts
        # A reboot shows as the clock going back to 0.000000 (the first lines of every boot
        # are stamped before the clock runs). Other steps back are not reboots: secondary CPUs
        # print with their own clock while they come up (6.12: 1.528080 then 0.075867), NMI and
        # printk_safe lines are stamped late, and pasted excerpts join pieces of one boot.
        reset = has_ts & (ts < prev - 1.0) & (ts < 1e-3)
        candidates = np.flatnonzero(reset | banner | journal_boot)
        ts_count = np.cumsum(has_ts)
        start = 0
        seen = self.seen_kernel
        for i in candidates.tolist():
            if i > start:
                seen = seen or bool(ts_count[i - 1] - (ts_count[start - 1] if start else 0))
            if journal_boot[i] or reset[i] or (banner[i] and seen):
                out[start:i] = self.boot
                self.new_boot(source, int(line_no[i]))
                start = i
                seen = False
            seen = seen or bool(banner[i])
        out[start:] = self.boot
        self.seen_kernel = seen or bool(has_ts[start:].any())
        valid = ts[has_ts]
        if len(valid):
            self.last_ts = float(valid[-1])
        return out

    def new_source(self, source: str, line_no: int) -> None:
        """Each source starts a new boot: separate files are separate captures."""
        if self.boot >= 0:
            self.new_boot(source, line_no)
        self.last_ts = float("nan")
