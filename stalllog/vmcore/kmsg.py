"""The printk ring of a vmcore as `/dev/kmsg` text, so that stalllog's own reader parses it.

Each record becomes what `devkmsg_read()` would have returned for it (kernel/printk/printk.c,
`info_print_ext_header` and `msg_add_ext_text`): `<prio>,<seq>,<usec>,<flags>[,caller=..];`
then the text with every byte below 0x20, from 0x7f, and `\\` written as `\\xNN`, then one
` KEY=VALUE` line per dictionary entry (SUBSYSTEM before DEVICE, as the kernel prints them).
This is transport: the records are the kernel's own, nothing is added or reordered.
"""

from __future__ import annotations

import re
from typing import Any

from stalllog.vmcore.document import as_bool, as_dict, as_int, as_list, as_str

__all__ = ["escape", "render"]

_ESCAPED = re.compile(rb"[\x00-\x1f\x7f-\xff\\]")
_CALLER = re.compile(r"[TC]\d{1,10}")
_DICT_ORDER = {"SUBSYSTEM": 0, "DEVICE": 1}


def escape(text: str) -> bytes:
    """msg_add_ext_text(): the text's bytes, the ones a terminal could act on as `\\xNN`."""
    try:  # a byte that was not UTF-8, kept by the collector as a `\udcNN` escape
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # any other lone surrogate: its bytes, escaped like the rest
        raw = text.encode("utf-8", "surrogatepass")
    return _ESCAPED.sub(lambda m: b"\\x%02x" % m.group(0)[0], raw)


def _record(r: dict[str, Any], index: int) -> bytes:
    level = as_int(r.get("level"))
    facility = as_int(r.get("facility"))
    prio = (facility or 0) * 8 + (level if level is not None and 0 <= level <= 7 else 4)
    seq = as_int(r.get("seq"))
    ts = as_int(r.get("ts_nsec"))
    head = f"{prio},{seq if seq is not None and seq >= 0 else index},"
    head += f"{ts // 1000 if ts is not None and ts >= 0 else 0},"
    head += "c" if as_bool(r.get("continuation")) else "-"
    caller = as_str(r.get("caller"))
    if caller is not None and _CALLER.fullmatch(caller):
        head += f",caller={caller}"
    text = r.get("text")  # not as_str(): its lone surrogates are the record's bytes
    out = [head.encode() + b";" + escape(text if isinstance(text, str) else "")]
    entries = as_dict(r.get("dict"))
    for key in sorted(entries, key=lambda k: (_DICT_ORDER.get(k, 2), k)):
        value = as_str(entries[key])
        if value:  # msg_add_dict_text() skips an empty value
            out.append(b" " + escape(f"{key}={value}"))
    return b"\n".join(out) + b"\n"


def render(printk: Any) -> bytes:
    """The document's `printk` list as one /dev/kmsg text (records that are not objects are
    left out: they carry nothing to show)."""
    records = as_list(printk)
    return b"".join(_record(r, i) for i, r in enumerate(records) if isinstance(r, dict))
