"""Untrusted text made inert: terminal, HTML, CSV (stalllog/safe.py).

The hostile strings here are process names (a comm is whatever a user set with PR_SET_NAME) and
file names, not log lines.
"""

from __future__ import annotations

import io

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from stalllog.output.safe import (
    csv_cell,
    csv_safe_array,
    csv_unescape,
    csv_unescape_array,
    for_html,
    for_terminal,
)

HOSTILE = "\x1b[2J[bold]x"


def _rendered(s: str) -> str:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=200, highlight=False)
    console.print(s)
    return buf.getvalue()


def test_terminal_escapes_ansi_and_markup() -> None:
    assert for_terminal(HOSTILE, markup=False) == "\\x1b[2J[bold]x"
    # through rich's markup parser the name comes out literally: no ESC, no bold
    out = _rendered(for_terminal(HOSTILE))
    assert out == "\\x1b[2J[bold]x\n"
    # unescaped, rich would eat the markup and pass the clear-screen sequence through
    assert "\x1b[2J" in _rendered(HOSTILE.replace("[bold]", "[b]"))


def test_terminal_escapes_c1_bidi_newlines_and_surrogates() -> None:
    # 8-bit CSI, right-to-left override, a newline that would forge a second output line,
    # a lone surrogate from surrogateescape-decoded bytes, DEL
    s = "a\x9b31mb\u202ec\nd\udcffe\x7f"
    assert for_terminal(s, markup=False) == "a\\x9b31mb\\u202ec\\nd\\udcffe\\x7f"


def test_terminal_keeps_printable_text() -> None:
    name = "kworker/u16:3 (sd-pam) ñ 日本"
    assert for_terminal(name, markup=False) == name


@given(st.text())
def test_terminal_output_is_always_printable(s: str) -> None:
    out = for_terminal(s, markup=False)
    assert all(c.isprintable() or c == " " for c in out)


def test_html() -> None:
    assert for_html('<img src=x onerror="alert(1)">\x07') == (
        "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;\\x07"
    )


def test_csv_formula_prefix() -> None:
    assert csv_cell("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert csv_cell("@SUM(1)") == "'@SUM(1)"
    assert csv_cell("-1+2") == "'-1+2"
    assert csv_cell("+x") == "'+x"
    assert csv_cell("\tx") == "'\tx"
    assert csv_cell("kswapd0") == "kswapd0"
    assert csv_cell("") == ""
    # already quoted-looking cells get one more quote so that unescaping is exact
    assert csv_cell("'=x") == "''=x"
    assert csv_cell("'plain") == "'plain"


@given(st.text())
def test_csv_roundtrip(s: str) -> None:
    assert csv_unescape(csv_cell(s)) == s
    assert csv_cell(s).lstrip("'")[:1] not in set("=+-@\t\r") or csv_cell(s).startswith("'")


@given(st.lists(st.one_of(st.none(), st.text())))
def test_csv_vectorized_matches_scalar(values: list[str | None]) -> None:
    arr = pa.array(values, pa.string())
    safe = csv_safe_array(arr)
    assert safe.to_pylist() == [None if v is None else csv_cell(v) for v in values]
    assert csv_unescape_array(safe).to_pylist() == values
