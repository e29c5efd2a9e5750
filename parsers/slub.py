"""The lines of SLUB's slab_out_of_memory() report (mm/slub.c), read by parsers/warn_alloc.py.

* `SLUB: Unable to allocate memory on node %d (gfp=0x%x)` (before %pGg), `… on node %d,
  gfp=%#x(%pGg)`, and since 6.12 `SLUB: Unable to allocate memory on CPU %u (of node %d) on
  node %d, gfp=%#x(%pGg)` (commit bf6b9e9ba086 "mm, slub: print CPU id (and its node) on slab
  OOM");
* `  cache: %s, object size: %u, buffer size: %u, default order: %u, min order: %u`;
* `  %s debugging increased min order, use slub_debug=O to disable.` (slab_debug=O in 6.x);
* one `  node %d: slabs: %ld, objs: %ld, free: %ld` per node.

The report has no stack dump of its own: any other line inside it, before its last part, is
another CPU's (a warn_alloc trace interleaved on a console without caller ids).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .base import Feed, Line

MASK = r"(?P<mask>0x[0-9a-fA-F]+|\d+)(?:\((?P<flags>[^)]*)\))?"
HEADER = re.compile(
    r"^SLUB: Unable to allocate memory(?: on CPU (?P<cpu>\d+) \(of node (?P<cpu_node>-?\d+)\))?"
    r" on node (?P<node>-?\d+)(?:,? \(?gfp=" + MASK + r"\)?)?\s*$"
)
_CACHE = re.compile(
    r"^\s+cache: (?P<cache>.*), object size: (?P<obj>\d+), buffer size: (?P<buf>\d+), "
    r"default order: (?P<dord>\d+), min order: (?P<mord>\d+)"
)
_NODE = re.compile(
    r"^\s+node (?P<node>-?\d+): slabs: (?P<slabs>\d+), objs: (?P<objs>\d+), free: (?P<free>\d+)"
)
MAX_FOREIGN = 8  # other CPUs' lines accepted inside one report


def feed(v: dict[str, Any], line: Line, foreign: Callable[[str], bool], n_foreign: int) -> Feed:
    """One line after the header: its part of the report (TAKE), another CPU's line inside an
    unfinished report (SKIP), or the end."""
    text = line.text
    m = _CACHE.match(text)
    if m is not None and v["slab_cache"] is None:
        v["slab_cache"], v["object_size_bytes"] = m["cache"], int(m["obj"])
        v["buffer_size_bytes"] = int(m["buf"])
        v["default_order"], v["min_order"] = int(m["dord"]), int(m["mord"])
        return Feed.TAKE
    m = _NODE.match(text)
    if m is not None:
        for c, k in (("slabs", "slabs"), ("objs", "objs"), ("free_objs", "free")):
            v[c] = (v[c] or 0) + int(m[k])
        return Feed.TAKE
    if text.startswith("  ") and "debugging increased min order" in text:
        return Feed.TAKE
    # the report is over once a node line came; before that, a foreign line is inside it
    unfinished = v["slabs"] is None
    if unfinished and line.caller is None and n_foreign < MAX_FOREIGN and foreign(text):
        return Feed.SKIP
    return Feed.END
