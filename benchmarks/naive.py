#!/usr/bin/env python3
"""The naive baseline: a Python loop over the lines of a file, one compiled `re` per line.

The pattern is the words a report of each family starts with (taken from the families'
`triggers`), the way a quick script would look for OOMs, stalls and hangs; the file is read
as text. Prints the number of matching lines.

Not the dispatcher's whole trigger list: its 40-odd words (`+0x`, `task:`, ` lost `, ...)
exist to follow a report once it started, and make Python's `re` about 4x slower (8 against
30 MB/s of CPU on the production workload).

Usage: python benchmarks/naive.py FILE
"""

from __future__ import annotations

import re
import sys

WORDS = (
    "printk messages dropped",  # printk_loss
    "Linux version ",  # boot
    "invoked oom-killer",  # oom
    "Killed process ",
    "MemAlloc",  # kmallocwd
    "BUG: soft lockup",  # lockup
    "hard LOCKUP",
    "workqueue lockup",
    "page allocation stalls for",  # warn_alloc
    "page allocation failure",
    "INFO: task ",  # hung_task
    "Mem-Info:",  # meminfo
    "sysrq: ",  # sysrq
    "SysRq : ",
    "Call Trace:",  # stacktrace
    "Showing all locks held",  # lockdep
)
PATTERN = "|".join(re.escape(w) for w in WORDS)


def count(path: str) -> int:
    rx = re.compile(PATTERN)
    hits = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if rx.search(line):
                hits += 1
    return hits


if __name__ == "__main__":
    print(count(sys.argv[1]))
