"""What mail clients, trackers and syslog do to a console log, as functions of its bytes.

Each mangler takes the clean capture and returns the mangled bytes and, for every clean line,
the number of the physical line it starts on in the mangled text (wraps add lines), so a test
can map the line numbers of the clean tables. They follow the software they imitate:

* `flowed`: a format=flowed body as sent and archived (RFC 3676): a soft break leaves a space
  at the end of the line (section 4.2), lines that begin with a space, `>` or `From ` are
  space-stuffed (4.4), trailing spaces of hard line ends are removed (4.2). Without DelSp the
  break is after a space; with DelSp=yes the generator may break anywhere and adds the space
  that the reader deletes (4.3).
* `hard_wrap`: a mail client or tracker that wraps at `width` columns without format=flowed
  (Thunderbird, Gmail, Bugzilla): break at the last space that fits, the space is dropped, a
  word longer than the line is left whole; the continuation has no prefix.
* `suffix`: a literal `^M` (or `\\r`) kept where a pasted serial log had its carriage return.
* `quote`: a reply's quote marks: `> ` (`>` alone on an empty line), nested `> > ` or `>> `.
* `syslog_on_stamp`: rsyslog/klogd in front of the printk stamp (`Mmm dd hh:mm:ss host kernel:`).
* `html`: a tracker page saved as text with its entities left in (`&lt;TASK&gt;`).
* `prcont`: lines the kernel builds from pr_cont pieces (buddy, lowmem_reserve) cut in two,
  the rest behind its own prefix, as when another CPU's printk came in between.
"""

from __future__ import annotations

import html as htmlmod
import re
from collections.abc import Callable

Mangled = tuple[bytes, list[int]]


def _lines(data: bytes) -> list[str]:
    text = data.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _join(out: list[str]) -> bytes:
    return ("\n".join(out) + "\n").encode("utf-8", "surrogateescape")


def _wrapped(data: bytes, wrap: Callable[[str], list[str]], keep_cr: bool = True) -> Mangled:
    """`wrap` each line; a serial line's CR stays its line end (keep_cr), not wrapped text."""
    out: list[str] = []
    starts = []
    for line in _lines(data):
        starts.append(len(out) + 1)
        cr = keep_cr and line.endswith("\r")
        pieces = wrap(line[:-1] if cr else line)
        out.extend(pieces[:-1])
        out.append(pieces[-1] + "\r" if cr else pieces[-1])
    return _join(out), starts


def _stuff(line: str) -> str:
    return " " + line if line.startswith((" ", ">", "From ")) else line


def flowed(data: bytes, width: int, delsp: bool) -> Mangled:
    """format=flowed at `width` columns (the trailing space included), DelSp=yes or no."""

    def wrap(line: str) -> list[str]:
        line = line.rstrip(" ")
        out = []
        while len(_stuff(line)) > width:
            s = _stuff(line)
            if delsp:  # anywhere; the added space is deleted by the reader
                cut = width - 1 - (len(s) - len(line))
                out.append(s[: width - 1] + " ")
                line = line[cut:]
                continue
            cut = line.rfind(" ", 0, width - (len(s) - len(line)))
            if cut <= 0:  # no space to break at: the word stays whole
                cut = line.find(" ", 1)
                if cut < 0:
                    break
            out.append(_stuff(line[: cut + 1]))
            line = line[cut + 1 :]
        out.append(_stuff(line))
        return out

    return _wrapped(data, wrap)


def hard_wrap(data: bytes, width: int) -> Mangled:
    def wrap(line: str) -> list[str]:
        out = []
        while len(line) > width:
            cut = line.rfind(" ", 1, width + 1)
            if cut <= 0:
                cut = line.find(" ", width + 1)
                if cut < 0:
                    break
            out.append(line[:cut])
            line = line[cut + 1 :]
        out.append(line)
        return out

    return _wrapped(data, wrap)


def suffix(data: bytes, mark: str = "^M") -> Mangled:
    """The carriage return of a serial line (or none: a `dmesg` pasted from a terminal) shown
    as `mark` by the editor or pager it was copied from."""
    return _wrapped(data, lambda line: [line.removesuffix("\r") + mark], keep_cr=False)


def quote(data: bytes, mark: str = "> ") -> Mangled:
    bare = mark.rstrip(" ")
    return _wrapped(data, lambda line: [mark + line if line else bare])


_STAMP = re.compile(r"^\[ *(\d+)\.\d{6}\]")


def syslog_on_stamp(data: bytes) -> Mangled:
    """Every line as rsyslog's imklog writes it; the syslog time follows the printk stamp."""
    last = [0]

    def wrap(line: str) -> list[str]:
        m = _STAMP.match(line)
        if m:
            last[0] = int(m[1])
        s = 17 * 3600 + last[0]
        head = f"Dec  3 {s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d} vm1 kernel: "
        return [head + line]

    return _wrapped(data, wrap)


def html(data: bytes) -> Mangled:
    return _wrapped(data, lambda line: [htmlmod.escape(line, quote=False)], keep_cr=False)


# pr_cont-built lines (mm/page_alloc.c show_free_areas): the buddy line prints `N*SkB ` and
# `(UME) ` per order, lowmem_reserve ` %ld` per zone. Another CPU's printk in between makes the
# rest its own record, printed with its own prefix.
_BUDDY = re.compile(r"Node \d+ \w+: \d+\*\d+kB ")
_RESERVE = re.compile(r"lowmem_reserve\[\]:(?: \d+){2,}")


def _prcont_cut(text: str) -> int | None:
    """Where the line's middle pr_cont piece starts, if it is a line built of pieces."""
    m = _BUDDY.search(text)
    if m:
        cuts = [p.start() for p in re.finditer(r"(?<= )\d+\*\d+kB ", text[m.start() :])]
        return m.start() + cuts[len(cuts) // 2] if len(cuts) > 1 else None
    m = _RESERVE.search(text)
    if m:
        cuts = [p.start() for p in re.finditer(r" \d+", text[m.start() :])]
        return m.start() + cuts[len(cuts) // 2]
    return None


def prcont(data: bytes) -> Mangled:
    """Each buddy and lowmem_reserve line cut in two at its middle pr_cont piece, the rest
    on its own line behind the same prefix (stamp, syslog header), as a console prints a
    continuation record that another CPU's message interrupted (4.9+, FORMATS-memory.md)."""
    out: list[str] = []
    starts = []
    for line in _lines(data):
        starts.append(len(out) + 1)
        cr = "\r" if line.endswith("\r") else ""
        body = line.removesuffix("\r")
        cut = _prcont_cut(body)
        if cut is None:
            out.append(line)
            continue
        piece = _BUDDY.search(body) or _RESERVE.search(body)
        assert piece is not None
        out.append(body[:cut] + cr)
        out.append(body[: piece.start()] + body[cut:] + cr)
    return _join(out), starts
