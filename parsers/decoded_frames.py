"""Frames symbolized by scripts/decode_stacktrace.sh, read by parsers/stacktrace.py.

The script replaces a frame's `+0x…/0x…` by ` (` + what `addr2line -i` printed + `)`, one
location per function inlined at that address, innermost first, joined by spaces, and prints
a module's name bare after it (`echo "$symbol $module"` after stripping the brackets):

    dump_stack_lvl (lib/dump_stack.c:107 (discriminator 1))
    ? flush_work (kernel/workqueue.c:3074 kernel/workqueue.c:3096)
    close_candev (drivers/net/can/dev/dev.c:389) can_dev

(addr2line prints `file:?` for an unknown line.) Several locations are one frame, not several:
`src` keeps the first, `src_chain` all of them.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import regex

from .base import col

# possessive (`++`, `*+`): a long line that is no frame fails in linear time
_SYM = r"[A-Za-z_.$][\w.$@~-]*+"
_LOC = r"(?=[\w/+-]*\.)[\w./+-]++:(?:\d++|\?)"
_DISC = r"(?: \(discriminator \d++\))?+"
_DECODED = regex.compile(
    rf"^\s*+(?P<q>\? )?(?P<func>{_SYM}) \((?P<locs>{_LOC}{_DISC}(?: {_LOC}{_DISC})*+)\)"
    r"(?: (?P<module>[\w-]++))?\s*+$"
)
_ONE_LOC = regex.compile(rf"(?P<loc>{_LOC}){_DISC}")

SRC_CHAIN = col(
    "src_chain",
    pa.string(),
    "",
    "decode_stacktrace.sh: every location `addr2line -i` gave for the frame, innermost first, "
    "space-separated, when there are several (functions inlined there); null otherwise",
)


def decoded_frame(text: str, normalize: Any) -> dict[str, Any] | None:
    """A decode_stacktrace.sh frame line as parse_frame's dict (plus `src_chain`); None if the
    line is not one."""
    m = _DECODED.match(text)
    if m is None:
        return None
    locs = [x["loc"] for x in _ONE_LOC.finditer(m["locs"])]
    func = m["func"]
    return {
        "function": func,
        "symbol": normalize(func),
        "offset": None,
        "size": None,
        "module": m["module"],
        "reliable": m["q"] is None,
        "address": None,
        "src": locs[0],
        "src_chain": " ".join(locs) if len(locs) > 1 else None,
        "inlined": False,
        "ctx": None,
    }
