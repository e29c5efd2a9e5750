#!/usr/bin/env python3
"""Generate stalllog/data/gfp/layouts.json from the kernel header copies in tools/gfp_headers/.

Each layout is one GFP bit layout plus the flag-name table the kernel of that era prints with
(%pGg, i.e. format_flags() over gfpflag_names, since 4.5; the trace table of gfpflags.h before).
The headers are evaluated with a tiny C preprocessor: object-like #define, #undef, #ifdef /
#ifndef / #if 0 / #else / #endif, `enum { ..._BIT, ... }` counters and BIT(). Config-dependent
bits are resolved as Debian and RHEL build x86_64 kernels: CONFIG_NUMA=y, CONFIG_SLAB_OBJ_EXT=y
(6.10+, follows CONFIG_MEMCG=y), and no CONFIG_LOCKDEP, CONFIG_KASAN_HW_TAGS (arm64 MTE only)
or CONFIG_KMEMCHECK; checked against the .config of Debian's linux-headers-6.12.117+deb12-amd64
and linux-headers-6.1.0-56-amd64. A flag whose value is 0 in that config is dropped from the
name table (format_flags() never prints it there, the #ifdef'd name tables say so too).

Usage: python tools/gen_gfp.py  (rewrites stalllog/data/gfp/layouts.json)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADERS = ROOT / "tools" / "gfp_headers"
OUT = ROOT / "stalllog" / "data" / "gfp" / "layouts.json"

CONFIG = frozenset({"CONFIG_NUMA", "CONFIG_MEMCG", "CONFIG_SLAB_OBJ_EXT", "CONFIG_MMU"})


@dataclass(frozen=True)
class Layout:
    name: str
    first: str  # first release it applies to
    until: str | None  # first release it no longer applies to (exclusive), None = open
    defines: tuple[str, ...]  # header files, in order (later ones may #undef/#define)
    names: str  # file holding the flag-name table
    note: str


# Ranges: a layout covers releases from `first` up to the next change we know of. Releases in
# no range get no layout, so no decode: 5.1 (Alexey Dobriyan's "mm: shuffle GFP_* flags",
# posted 2019-01-09 after 5.0-rc1, gave the __GFP_ZERO 0x100 layout, most likely in 5.1; 5.2
# is verified by a real 5.2 line). 4.18 has the v4.19 bits (Shakeel Butt's "mm: save two
# stranding bit in gfp_mask", posted 2018-05-16; the RHEL 8 4.18.0-147 gfp.h has them).
# Within a range, flags added by later point releases (e.g. __GFP_ZEROTAGS in 5.12 under
# v5.10) stay undecoded hex, never a wrong name.
LAYOUTS = (
    Layout("v2.6.24", "2.6.24", "2.6.32", ("v2.6.24/gfp.h",), "v2.6.32/gfpflags.h",
           "__GFP_MOVABLE is 0x100000; names from the 3.x trace table (no %pGg before 4.5)"),
    Layout("v2.6.32", "2.6.32", "3.10", ("v2.6.32/gfp.h",), "v2.6.32/gfpflags.h",
           "__GFP_MOVABLE is 0x08; later 2.6.3x/3.x bits (NO_KSWAPD, OTHER_NODE, WRITE, "
           "MEMALLOC) print as hex"),
    Layout("v3.10", "3.10", "4.4", ("v3.10/gfp.h",), "v2.6.32/gfpflags.h",
           "__GFP_WAIT layout, last before the 4.4 reclaim-flag split"),
    Layout("v4.4", "4.4", "4.5", ("v4.6/gfp.h", "v4.4/gfp.h"), "v4.6/mmflags.h",
           "4.6 bits with 0x100000 = __GFP_NOACCOUNT; 4.4 prints hex only, names as 4.5+"),
    Layout("v4.6", "4.5", "4.10", ("v4.6/gfp.h",), "v4.6/mmflags.h",
           "first %pGg era (4.5); 4.8-4.9 also name GFP_TRANSHUGE_LIGHT, not in this table"),
    Layout("v4.10", "4.10", "4.18", ("v4.10/gfp.h",), "v4.10/mmflags.h",
           "__GFP_OTHER_NODE gone (4.10); 4.13 renamed __GFP_REPEAT __GFP_RETRY_MAYFAIL, 4.15 "
           "dropped __GFP_COLD/__GFP_NOTRACK, both without moving other bits"),
    Layout("v4.19", "4.18", "5.1", ("v4.19/gfp.h",), "v5.10/mmflags.h",
           "__GFP_WRITE at 0x100; name table of 5.10 (the 4.19 one was not at hand)"),
    Layout("v5.10", "5.2", "6.1", ("v5.10/gfp.h",), "v5.10/mmflags.h",
           "__GFP_ZERO 0x100 / __GFP_COMP 0x40000 layout; 5.12+ __GFP_ZEROTAGS etc. print as hex"),
    Layout("v6.1", "6.1", "6.6", ("v6.1/gfp_types.h",), "v6.1/mmflags.h",
           "gfp_types.h era; still has __GFP_ATOMIC (removed in 6.4)"),
    Layout("v6.6", "6.6", "6.12", ("v6.6/gfp_types.h",), "v6.6/mmflags.h",
           "0x200 unused; __GFP_SKIP_KASAN only with KASAN_HW_TAGS"),
    Layout("v6.12", "6.12", None, ("v6.12/gfp_types.h",), "v6.12/mmflags.h",
           "bits from enum ___GFP_*_BIT; __GFP_NO_OBJ_EXT (0x1000000 with SLAB_OBJ_EXT=y, "
           "LOCKDEP=n) has no name and prints as hex"),
)  # fmt: skip


_CASTS = re.compile(r"\(\s*(?:__force\s+)?(?:gfp_t|unsigned\s+long|unsigned\s+int|int)\s*\)")
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
_NUM = re.compile(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b")


def _logical_lines(text: str) -> list[str]:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return [ln.strip() for ln in text.replace("\\\n", " ").splitlines() if ln.strip()]


def _preprocess(text: str, macros: dict[str, str]) -> list[str]:
    """Apply conditionals and #define/#undef to `macros`; return the remaining code lines."""
    stack: list[bool] = []
    code: list[str] = []
    for line in _logical_lines(text):
        active = all(stack)
        if m := re.match(r"#\s*(ifdef|ifndef)\s+(\w+)", line):
            on = m.group(2) in CONFIG or m.group(2) in macros
            stack.append(on if m.group(1) == "ifdef" else not on)
        elif re.match(r"#\s*if\b", line):
            stack.append(line.split(None, 1)[1].strip() not in ("0",))
        elif re.match(r"#\s*else\b", line):
            stack[-1] = not stack[-1]
        elif re.match(r"#\s*endif\b", line):
            stack.pop()
        elif not active:
            continue
        elif m := re.match(r"#\s*define\s+(\w+)(\([^)]*\))?\s*(.*)", line):
            if m.group(2) is None:  # function-like macros are handled by name below
                macros[m.group(1)] = m.group(3)
        elif m := re.match(r"#\s*undef\s+(\w+)", line):
            macros.pop(m.group(1), None)
        else:
            code.append(line)
    return code


def _enum_counters(code: list[str], macros: dict[str, str]) -> None:
    """`enum { A, B, ... };` (conditionals already applied) -> A=0, B=1, ..."""
    joined = " ".join(code)
    for body in re.findall(r"enum\s*\{(.*?)\}", joined):
        for i, name in enumerate(n.strip() for n in body.split(",") if n.strip()):
            macros[name] = str(i)


class Undefined(Exception):
    pass


def evaluate(expr: str, macros: dict[str, str], depth: int = 0) -> int:
    if depth > 50:
        raise Undefined(expr)
    expr = _CASTS.sub(" ", expr)
    expr = re.sub(r"\bBIT\(", "(1 << ", expr)
    expr = re.sub(r"\bIS_ENABLED\(\s*(\w+)\s*\)", lambda m: "1" if m[1] in CONFIG else "0", expr)
    expr = _NUM.sub(lambda m: str(int(m.group(1), 0)), expr)

    def sub(m: re.Match[str]) -> str:
        name = m.group(0)
        if name not in macros:
            raise Undefined(name)
        return f"({evaluate(macros[name], macros, depth + 1)})"

    py = _IDENT.sub(sub, expr)
    if not re.fullmatch(r"[\d\s()|&~<>+\-]*", py):
        raise Undefined(expr)
    return int(eval(py, {"__builtins__": {}})) & 0xFFFFFFFF  # gfp_t is 32 bits


def name_table(path: Path, macros: dict[str, str]) -> list[str]:
    """The flag macros of the name table, in table order (the order format_flags() walks)."""
    text = path.read_text()
    local = dict(macros)
    _preprocess(text, local)
    if "__def_gfpflag_names" in local:  # mmflags.h (4.5+)
        body = local["__def_gfpflag_names"] + " " + local.get("__def_gfpflag_names_kasan", "")
    else:  # gfpflags.h (before 4.5): show_gfp_flags(flags) is function-like, take the text
        body = " ".join(_logical_lines(text))
    entries = re.findall(r"\{\s*\((?:__force\s+)?unsigned long\)\s*(\w+)\s*,", body)
    return entries + re.findall(r"gfpflag_string\(\s*(\w+)\s*\)", body)


def build(layout: Layout) -> dict[str, object]:
    macros: dict[str, str] = {}
    code: list[str] = []
    for rel in layout.defines:
        code += _preprocess((HEADERS / rel).read_text(), macros)
    _enum_counters(code, macros)
    names: list[list[object]] = []
    for flag in name_table(HEADERS / layout.names, macros):
        try:
            mask = evaluate(flag, macros)
        except Undefined:
            continue  # the table names a flag this release does not define
        if mask:
            names.append([flag, mask])
    bits: dict[str, str] = {}
    for name, value in macros.items():
        if not re.fullmatch(r"__GFP_\w+", name) or name.endswith("_FALSE_POSITIVE"):
            continue
        try:
            v = evaluate(value, macros)
        except Undefined:
            continue
        if v and v & (v - 1) == 0 and name not in ("__GFP_BITS_MASK", "__GFP_BITS_SHIFT"):
            bits.setdefault(hex(v), name)
    return {
        "first": layout.first,
        "until": layout.until,
        "note": layout.note,
        "sources": [*layout.defines, layout.names],
        "bits": dict(sorted(bits.items(), key=lambda kv: int(kv[0], 16))),
        "names": names,
    }


def main() -> None:
    out = {
        "about": "GFP flag layouts by kernel release; generated by tools/gen_gfp.py from "
        "tools/gfp_headers (see its README). names: the %pGg table in print order "
        "[flag, mask]; bits: single-bit flags. Config: Debian/RHEL x86_64 (no LOCKDEP, "
        "no KASAN_HW_TAGS, no KMEMCHECK, NUMA=y, SLAB_OBJ_EXT=y).",
        "layouts": {lay.name: build(lay) for lay in LAYOUTS},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(out, indent=1)
    # one [name, mask] pair per line keeps the file small and diffable
    text = re.sub(r"\[\n\s+(\"\w+\"),\n\s+(\d+)\n\s+\]", r"[\1, \2]", text)
    OUT.write_text(text + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text)} bytes, {len(LAYOUTS)} layouts)")


if __name__ == "__main__":
    main()
