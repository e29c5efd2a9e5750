"""Make untrusted text (process names, log text, file names) inert for terminals, HTML and CSV.

Any user can set a task's comm (`prctl(PR_SET_NAME)`, 15 bytes) and it is printed verbatim by
the kernel, so a name like `\\x1b[2J[bold]x` reaches our output. Three contexts:

* terminal: control characters (C0, DEL, C1 such as the 8-bit CSI `\\x9b`), Unicode format
  characters (bidi overrides, zero-width), line/paragraph separators and lone surrogates are
  shown as Python-style escapes (`\\x1b`, `\\u202e`); rich markup (`[bold]`) is escaped too,
  since the CLI prints through rich.
* HTML: the terminal escapes, then `html.escape` (quotes included, safe in attributes).
* CSV: spreadsheets run cells starting with `=`, `+`, `-`, `@`, TAB or CR as formulas
  ("CSV injection", OWASP). Quoting does not prevent this. The CSV writer therefore prefixes
  such string cells with `'` by default (`--csv-raw` turns it off), the OWASP advice that
  spreadsheets display as the plain value. The rule is reversible: a cell that already starts
  with one or more `'` before such a character gets one more `'`, and `csv_unescape` removes
  exactly one. Kernel text often starts with `-` (`---[ end trace`), so readers that want the
  exact text use Parquet/JSON or `csv_unescape`. Numeric columns are never touched.
"""

from __future__ import annotations

import html

import pyarrow as pa
import pyarrow.compute as pc
from rich.markup import escape as _markup_escape

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

# a string cell a spreadsheet would evaluate, possibly already `'`-escaped (RE2 syntax)
_FORMULA_RE = r"^'*[=+\-@\t\r]"
_ESCAPED_RE = r"^'('*[=+\-@\t\r])"
_FORMULA_START = frozenset("=+-@\t\r")


def _escape_char(c: str) -> str:
    if c in _NAMED:
        return _NAMED[c]
    n = ord(c)
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def for_terminal(s: str, *, markup: bool = True) -> str:
    """`s` with everything a terminal could act on shown as escapes; one line, always.

    markup=True also escapes rich markup, for strings printed through rich's markup parser;
    use markup=False for `rich.text.Text` objects or plain `print`.
    """
    if not s.isprintable():
        # str.isprintable() is False exactly for Cc, Cf, Cs, Co, Cn, Zl, Zp and non-space Zs
        s = "".join(c if c.isprintable() or c == " " else _escape_char(c) for c in s)
    return _markup_escape(s) if markup else s


def for_html(s: str) -> str:
    """`s` safe as HTML text or a quoted attribute value, control characters made visible."""
    return html.escape(for_terminal(s, markup=False), quote=True)


def csv_cell(s: str) -> str:
    """One string cell made safe to open in a spreadsheet (see module doc); reversible."""
    return "'" + s if s.lstrip("'")[:1] in _FORMULA_START else s


def csv_unescape(s: str) -> str:
    """Undo `csv_cell`."""
    return s[1:] if s.startswith("'") and s.lstrip("'")[:1] in _FORMULA_START else s


def csv_safe_array(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """`csv_cell` on every value of a string array, vectorized; nulls stay null."""
    hit = pc.fill_null(pc.match_substring_regex(arr, _FORMULA_RE), False)
    if not pc.any(hit).as_py():
        return arr
    prefixed = pc.binary_join_element_wise(pa.scalar("'"), arr, "")
    return pc.if_else(hit, prefixed, arr)


def csv_unescape_array(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """`csv_unescape` on every value of a string array."""
    return pc.replace_substring_regex(arr, _ESCAPED_RE, r"\1")
