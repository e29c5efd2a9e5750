"""Undo what mail clients, trackers and syslog did to a log before families read it.

Two places, both gated on cheap per-chunk evidence so that a clean capture pays a few byte
searches and array sums per chunk, and gets the same tables:

* `unquote` (before the line stage): mail quote marks (`> `, `> > `, `>> `) are cut off the
  lines so the printk/syslog prefix behind them is read; they are put back in front of the
  `prefix` column (`restore_quotes`), so `lines` still gives back the input byte for byte.
* `Repair.view` (after it): families are handed a copy of the batch whose text is repaired:
  literal `^M`/`\\r` line ends, HTML entities, `#ooo` escapes without a syslog prefix, and
  lines wrapped by a mail client (format=flowed soft breaks, RFC 3676, or hard wraps at
  72-80 columns) joined into the line they were cut from. A continuation row is given to
  families empty (flag `wrap-cont`: the dispatcher skips it) and takes the event of its line.

The `lines` table keeps its text as read; each repair is a flag there (REPAIR_FLAGS).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stalllog.input.lines import LineStage

# flag -> what was repaired (docs/tables.md): the text families see is repaired, `text` is not
REPAIR_FLAGS: dict[str, str] = {
    "quoted": "mail quote marks (`> `, nested too) in front, kept in `prefix`",
    "cr-literal": "a literal `^M` or `\\r` at the end of the text, not given to families",
    "html-escaped": "HTML entities (`&gt;` ...), given to families decoded",
    "octal-escaped": "`#012`-style escapes without a syslog prefix, given to families decoded",
    "wrapped": "a mail client wrapped the line: families get it joined with the `wrap-cont` "
    "lines after it (format=flowed soft breaks or a hard wrap)",
    "wrap-cont": "the rest of the wrapped line above: families see it there; it takes that "
    "line's event_id",
    "unstuffed": "format=flowed space-stuffing: families get the text one leading space shorter",
}

MIN_WIDTH = 72  # the narrowest a mail client wraps at
MAX_WIDTH = 81  # mail wraps at 72-80 columns (78 recommended, RFC 5322 2.1.1), +1: flowed space
_SPREAD = 200  # a wrapped chunk has at most 1 line in this many longer (unbreakable words)
_MIN_JOINS = 1  # joins a chunk needs to be taken as wrapped
_PEEK = 16  # long lines looked at to tell a clean chunk with many
# Share of the cut lines ending in a space that tells format=flowed (every soft break ends in
# one) from a hard wrap (only cuts inside runs of spaces do). Measured on every sample mangled
# by tests/mangle.py (chunks with >= 3 cuts): flowed >= 0.93 in 95 % of them, down to 0.78
# where syzkaller's own unprefixed lines look cut; hard wraps <= 0.32 in 90 %, up to 0.68
# where SysRq task columns and `[  530.412585] ` stamps put runs of spaces at the cut
# (0.6 read those as flowed).
_FLOWED_ENDS = 0.7
_QUOTE = ord(">")
_QUOTES = re.compile(r"^(?:> ?)+")
_CR_LITERAL = re.compile(r"(?:\^M|\\r)+$")
_CR_ARROW = r"(?:\^M|\\r)$"
_ENTITY_ARROW = r"&(?:lt|gt|amp|quot|apos|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});"
# rsyslog EscapeControlCharactersOnReceive (see lines._OCTAL_RE), found without its prefix
_OCTAL_RE = re.compile(r"#(0[0-3][0-7]|177)")
_OCTAL_ARROW = r"#01[12]"


def scan(buf: bytes) -> set[str]:
    """The repairs a chunk may need. Each kind of damage starts with a byte that is rare in
    console logs: a one-byte search (memchr) clears most chunks, and the bytes after it are
    looked at only where it occurs (a multi-byte `in` costs ~10x more on the common path)."""
    found = set()
    if buf[:1] == b">" or _followed(buf, b">", lambda i: buf[i - 1] == 10):
        found.add("quoted")
    if _followed(buf, b"^", lambda i: buf[i + 1 : i + 2] == b"M") or _followed(
        buf, b"\\", lambda i: buf[i + 1 : i + 2] == b"r"
    ):
        found.add("cr-literal")
    if _followed(buf, b"&", lambda i: _ENTITY_START.match(buf, i + 1) is not None):
        found.add("html-escaped")
    if _followed(buf, b"#", lambda i: buf[i + 1 : i + 3] == b"01"):
        found.add("octal-escaped")
    return found


_ENTITY_START = re.compile(rb"(?:lt|gt|amp|quot|apos|#)")
_MAX_VISITS = 50_000  # more occurrences: assume the damage, the row match decides


def _followed(buf: bytes, lead: bytes, ok: Callable[[int], bool]) -> bool:
    """Does `lead` occur in `buf` at a position where `ok` holds? (`find` is memchr; `count`
    is not)"""
    i = buf.find(lead)
    for _ in range(_MAX_VISITS):
        if i < 0:
            return False
        if ok(i):
            return True
        i = buf.find(lead, i + 1)
    return i >= 0


def unquote(buf: bytes, found: set[str]) -> tuple[bytes, np.ndarray | None]:
    """`buf` without the quote marks at line starts, and each line's quote length (None when
    no line starts with `>`: no kernel or syslog prefix does)."""
    if "quoted" not in found:
        return buf, None
    arr = np.frombuffer(buf, np.uint8)
    nl = np.flatnonzero(arr == 10)
    starts = np.concatenate([[0], nl + 1])
    if len(buf) and buf[-1] == 10:
        starts = starts[:-1]
    qlen = np.zeros(len(starts), np.int64)
    pad = np.concatenate([arr, np.zeros(2, np.uint8)])
    alive = np.flatnonzero(pad[starts] == _QUOTE)
    while len(alive):  # `>` then an optional space, as often as nested
        pos = starts[alive] + qlen[alive]
        is_q = pad[pos] == _QUOTE
        alive = alive[is_q]
        pos = pos[is_q]
        qlen[alive] += 1 + (pad[pos + 1] == 0x20)
    if len(buf) and buf[-1] != 10 and starts[-1] + qlen[-1] >= len(buf):
        qlen[-1] = 0  # a last line of quote marks alone, unterminated, is left as its text:
        # without them it would be an empty unterminated line, which is no line at all
    keep = np.ones(len(arr), bool)
    # mark the quote bytes: +1 at each quote start, -1 after it, cumulated
    edge = np.zeros(len(arr) + 1, np.int64)
    q = np.flatnonzero(qlen)
    np.add.at(edge, starts[q], 1)
    np.add.at(edge, starts[q] + qlen[q], -1)
    keep[np.cumsum(edge[:-1]) > 0] = False
    return arr[keep].tobytes(), qlen


def restore_quotes(batch: pa.RecordBatch, buf: bytes, qlen: np.ndarray) -> pa.RecordBatch:
    """Put the quote marks back in front of `prefix` (and `raw`) and flag the rows."""
    rows = np.flatnonzero(qlen)
    arr = np.frombuffer(buf, np.uint8)
    starts = np.concatenate([[0], np.flatnonzero(arr == 10) + 1])
    marks = [buf[s : s + k].decode() for s, k in zip(starts[rows], qlen[rows], strict=True)]
    mask = np.zeros(batch.num_rows, bool)
    mask[rows] = True
    m = pa.array(mask)
    cols = dict(zip(batch.schema.names, batch.columns, strict=True))
    old = cols["prefix"].filter(m).to_pylist()
    new = pa.array([a + b for a, b in zip(marks, old, strict=True)], pa.string())
    cols["prefix"] = pc.replace_with_mask(cols["prefix"], m, new)
    raw = cols["raw"]
    if raw.null_count < len(raw):
        fixed = [None if r is None else q.encode() + r for q, r in
                 zip(marks, raw.filter(m).to_pylist(), strict=True)]  # fmt: skip
        cols["raw"] = pc.replace_with_mask(raw, m, pa.array(fixed, pa.binary()))
    cols["flags"] = add_flag(cols["flags"], mask, "quoted")
    return pa.RecordBatch.from_arrays(list(cols.values()), schema=batch.schema)


def add_flag(flags: pa.Array, mask: np.ndarray, flag: str) -> pa.Array:
    """The dictionary `flags` column with `flag` appended on the rows of `mask`."""
    plain = flags.cast(pa.string())
    m = pa.array(mask)
    old = pc.filter(plain, m)
    new = pc.if_else(pc.is_null(old), flag, pc.binary_join_element_wise(old, flag, "+"))
    out = pc.replace_with_mask(plain, m, new)
    return out.dictionary_encode().cast(flags.type)


def _np(a: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(a, False).to_numpy(zero_copy_only=False), dtype=bool)


def _lengths(a: pa.Array) -> np.ndarray:
    offsets = np.frombuffer(a.buffers()[1], np.int32)[a.offset : a.offset + len(a) + 1]
    return np.diff(offsets)


class Repaired:
    """A `lines` batch with its repair flags, the batch families are given, and the wrapped
    lines' continuation rows with the row each belongs to."""

    def __init__(
        self,
        lines: pa.RecordBatch,
        view: pa.RecordBatch | None = None,
        conts: np.ndarray | None = None,
        heads: np.ndarray | None = None,
    ) -> None:
        self.lines = lines
        self.view = lines if view is None else view
        self.conts = np.zeros(0, np.int64) if conts is None else conts
        self.heads = np.zeros(0, np.int64) if heads is None else heads

    def claim(self, event_ids: pa.Array) -> pa.Array:
        """A continuation row belongs to the event of its line."""
        if not len(self.conts):
            return event_ids
        ids = pc.fill_null(event_ids, -1).to_numpy(zero_copy_only=False).copy()
        ids[self.conts] = ids[self.heads]
        return pa.array(ids, pa.int64(), mask=ids < 0)


def repair(batch: pa.RecordBatch, found: set[str], quotes: np.ndarray | None = None,
           rewrap: bool = True) -> Repaired:  # fmt: skip
    """Repair the text families see; `found`: what `scan` found in the chunk, `quotes` the
    length of each line's quote marks (`unquote`). rewrap=False: wrapped lines are not looked
    for (a followed live input comes a burst per chunk, too few lines to tell a width)."""
    text = batch.column("text")
    texts: dict[int, str] = {}
    wraps = _Wraps(batch, texts, quotes, rewrap)
    marks = dict(wraps.marks)
    home = np.arange(batch.num_rows)  # the row a line's text is given to families in
    home[wraps.conts] = wraps.heads

    def fix(flag: str, pattern: str, how: Callable[[str], str]) -> None:
        rows = np.flatnonzero(_np(pc.match_substring_regex(text, pattern)))
        for i in np.unique(home[rows]).tolist():
            texts[i] = how(texts[i] if i in texts else text[i].as_py())
        marks[flag] = rows

    if "cr-literal" in found:
        fix("cr-literal", _CR_ARROW, lambda t: _CR_LITERAL.sub("", t))
        for i in marks["cr-literal"].tolist():  # a drop marker alone is the message (lines.py)
            if texts.get(i) == "" and batch.column("dropped")[i].is_valid:
                texts[i] = batch.column("prefix")[i].as_py().rstrip(" ")
    if "html-escaped" in found:
        fix("html-escaped", _ENTITY_ARROW, html.unescape)
    if "octal-escaped" in found:
        fix("octal-escaped", _OCTAL_ARROW, lambda t: _OCTAL_RE.sub(_octal, t))
    if not marks:
        return Repaired(batch)
    flags = batch.column("flags")
    for flag, rows in marks.items():
        if len(rows):
            mask = np.zeros(batch.num_rows, bool)
            mask[rows] = True
            flags = add_flag(flags, mask, flag)
    lines = batch.set_column(batch.schema.get_field_index("flags"), "flags", flags)
    if not texts:
        return Repaired(lines)
    changed = sorted(texts)
    mask = np.zeros(batch.num_rows, bool)
    mask[changed] = True
    values = pa.array([texts[i] for i in changed], pa.string())
    view = lines.set_column(lines.schema.get_field_index("text"), "text",
                            pc.replace_with_mask(text, pa.array(mask), values))  # fmt: skip
    if len(wraps.heads):
        view = _reparse(view, np.unique(wraps.heads))
    if len(wraps.spaceless):
        view = _reparse(view, wraps.spaceless, " ")
    return Repaired(lines, view, wraps.conts, wraps.heads)


def _octal(m: re.Match[str]) -> str:
    return chr(int(m[1], 8))


_REPARSED = ("ts", "wall", "host", "caller", "level", "text")


def _reparse(view: pa.RecordBatch, heads: np.ndarray, suffix: str = "") -> pa.RecordBatch:
    """A wrap can cut a line inside its prefix (`... kernel:` | `oom-kill:...`: the space
    that ended the prefix is gone): heads read without a prefix are read again joined.
    With `suffix`: lines that lost the space after their prefix, read again with it."""
    bare = heads[_np(pc.equal(view.column("prefix_kind").take(heads).cast(pa.string()), "none"))]
    if not len(bare):
        return view
    joined = [t + suffix for t in view.column("text").take(bare).to_pylist()]
    if any("\n" in t for t in joined):  # decoded escapes: not one physical line each
        return view
    stage = LineStage()
    stage.start_source("")
    again = stage.batch(("\n".join(joined) + "\n").encode(), last=True)
    found = _np(pc.not_equal(again.column("prefix_kind").cast(pa.string()), "none"))
    if suffix:  # only a prefix alone (an empty message) lost its space
        found &= _np(pc.equal(again.column("text"), ""))
    if again.num_rows != len(bare) or not found.any():
        return view
    mask = np.zeros(view.num_rows, bool)
    mask[bare[found]] = True
    m, take = pa.array(mask), pa.array(np.flatnonzero(found))
    for name in _REPARSED:
        i = view.schema.get_field_index(name)
        column = pc.replace_with_mask(view.column(i), m, again.column(name).take(take))
        view = view.set_column(i, name, column)
    return view


def _prefix_alone(text: pa.Array, rows: np.ndarray) -> np.ndarray:
    """The `rows` whose text is a prefix alone that lost the space after it (`... kernel:`):
    read again with that space, they are a prefix with an empty message."""
    ends = pc.utf8_slice_codeunits(text.take(pa.array(rows)), -1)
    cand = rows[_np(pc.is_in(ends, pa.array([":"])))]
    if not len(cand):
        return cand
    joined = [t + " " for t in text.take(pa.array(cand)).to_pylist()]
    if any("\n" in t for t in joined):  # decoded escapes: not one physical line each
        return cand[:0]
    stage = LineStage()
    stage.start_source("")
    again = stage.batch(("\n".join(joined) + "\n").encode(), last=True)
    if again.num_rows != len(cand):
        return cand[:0]
    found = _np(pc.not_equal(again.column("prefix_kind").cast(pa.string()), "none"))
    return cand[found & _np(pc.equal(again.column("text"), ""))]


def _spaced(prefix: pa.Array, text: pa.Array, rows: np.ndarray) -> int:
    """How many of the long `rows` have a space a wrapper could have cut at."""
    whole = pc.binary_join_element_wise(prefix.take(rows), text.take(rows), "")
    head = pc.utf8_slice_codeunits(whole, 1, MAX_WIDTH + 1)
    return int(_np(pc.match_substring(head, " ")).sum())


def _width(prefix: pa.Array, text: pa.Array, lens: np.ndarray, long: np.ndarray) -> int:
    """The width the chunk was wrapped at: its longest line that could have been cut. A word
    longer than the width stays whole (`gfp=0x...(GFP_NOFS|...)`), so lines without a space
    after their first character do not tell it."""
    whole = pc.binary_join_element_wise(prefix, text, "")
    cuttable = ~long & _np(pc.match_substring(pc.utf8_slice_codeunits(whole, 1), " "))
    return int(lens[cuttable if cuttable.any() else ~long].max())


class _Wraps:
    """Lines a mail client wrapped, found and joined into `texts` (row -> text families see).

    Evidence, per chunk: (almost) no line is longer than MAX_WIDTH, so something wrapped it;
    a continuation has no prefix while most lines have one, and its line was cut where its
    first word no longer fitted the chunk's width. format=flowed (the cut lines end in a
    space): the soft breaks are the lines ending in a space (RFC 3676 4.2), joined as they
    are, or less that space with DelSp=yes (seen as cuts at the full width, 4.3); lines that
    begin with a space lose the one that space-stuffing added (4.4). Hard wraps dropped the
    space at the cut: joined with one."""

    def __init__(
        self, batch: pa.RecordBatch, texts: dict[int, str], quotes: np.ndarray | None,
        rewrap: bool = True,
    ) -> None:  # fmt: skip
        self.marks: dict[str, np.ndarray] = {}
        self.conts = self.heads = self.spaceless = np.zeros(0, np.int64)
        if not rewrap:
            return
        prefix, text = batch.column("prefix"), batch.column("text")
        self.kinds = batch.column("prefix_kind")
        plen = _lengths(prefix)
        n = len(plen)
        lens = plen + _lengths(text)
        raw = batch.column("raw")
        if raw.null_count < n:  # decoded escapes: the line was as long as its bytes
            lens = np.where(_np(pc.is_valid(raw)), _lengths(raw), lens)
        if quotes is not None:  # quoted after it was wrapped: the marks took no room
            lens = lens - quotes
        long = lens > MAX_WIDTH
        if n < 3 or long.all():  # no line a wrapper could have cut: nothing tells a width
            return
        # a wrapper leaves a line long only where it had no space to break at (a word longer
        # than the width: a slab cache's name, a path); many long lines: a clean capture,
        # told by the first few (O(1) per chunk), unless all of them are such words
        rows = np.flatnonzero(long)
        if len(rows) > n // 10 and _spaced(prefix, text, rows[:_PEEK]) > 0:
            return
        if _spaced(prefix, text, rows) > max(2, n // _SPREAD):
            return
        width = _width(prefix, text, lens, long)
        # no prefix but quote marks; /dev/kmsg dictionary lines have none either: not bare
        kind = batch.column("prefix_kind").cast(pa.string())
        bare = _np(pc.equal(kind, "none"))
        # a cut that starts with `<48>` (a Code: line's bytes) reads as a level prefix: where
        # that prefix is not the capture's own
        level = _np(pc.equal(kind, "level"))
        if level.any() and level.sum() * 100 < n:
            bare |= level
        # a wrap cut at the space that ended a prefix (`... kernel:` | `oom-kill:...`): that
        # row is the line's head, not the rest of the line above
        bare[_prefix_alone(text, np.flatnonzero(bare))] = False
        prefixed = int((~bare).sum()) * 4 >= n  # wrapped lines may take 2-3 rows each
        nxt = np.flatnonzero(bare[1:])  # rows whose next row is bare
        if not len(nxt):
            return
        cut = self._cut(prefix, text, nxt, lens, plen, width)
        at = pa.array(nxt)
        ends = _np(
            pc.ends_with(pc.binary_join_element_wise(prefix.take(at), text.take(at), ""), " ")
        )
        fits = nxt[cut]
        # Prefixed: the cut lines are the wraps (and lines a poster wrote after a full one);
        # flowed ended most in a space, a hard wrap only those cut in a run of spaces.
        # Unprefixed, any line may look cut.
        soft = int((ends & cut).sum())
        if soft >= _MIN_JOINS and (ends[cut].mean() >= _FLOWED_ENDS or not prefixed):
            self._flowed(batch, texts, nxt[ends], lens, width, prefixed)
        elif prefixed and len(fits) >= _MIN_JOINS:
            self._join(batch, texts, fits + 1, " ", False)

    @staticmethod
    def _cut(prefix: pa.Array, text: pa.Array, nxt: np.ndarray, lens: np.ndarray,
             plen: np.ndarray, width: int) -> np.ndarray:  # fmt: skip
        """Which rows of `nxt` look cut: the next row's first word did not fit `width`."""
        at_next = pa.array(nxt + 1)
        after = pc.binary_join_element_wise(
            pc.replace_substring_regex(prefix.take(at_next), _QUOTES.pattern, ""),
            text.take(at_next),
            "",
        )  # the continuation as printed: `<48> 3d ...` begins with `<48>`
        size = _lengths(after)
        word = pc.find_substring(after, " ").to_numpy(zero_copy_only=False)
        word = np.where(word < 0, size, word)
        # A rest is never empty; one indented as deep as the prefix above is a multi-line
        # record's continuation (dmesg -T, journal), not a wrap's (cut in a run of spaces).
        lead = size - _lengths(pc.utf8_ltrim(after, " "))
        above = np.where(plen > 0, np.arange(len(plen)), 0)
        np.maximum.accumulate(above, out=above)
        indented = (lead > 0) & (lead >= plen[above[nxt]])
        return (lens[nxt] + 1 + word > width) & (size > 0) & ~indented

    def _flowed(self, batch: pa.RecordBatch, texts: dict[int, str], soft: np.ndarray,
                lens: np.ndarray, width: int, prefixed: bool) -> None:  # fmt: skip
        if len(soft) < _MIN_JOINS:
            return
        text = batch.column("text")
        first = pc.utf8_slice_codeunits(pc.binary_join_element_wise(
            batch.column("prefix"), text, ""), 0, 1)  # fmt: skip
        stuffed = np.flatnonzero(_np(pc.equal(first, " ")))
        for i in stuffed.tolist():
            t = texts[i] if i in texts else text[i].as_py()
            texts[i] = t[1:] if t.startswith(" ") else t
        self.marks["unstuffed"] = stuffed
        # DelSp=yes cuts at the full width whatever the words; a few lines cannot tell, nor
        # can lines of one length that is no mail width (a message repeated, cut at a space)
        delsp = len(soft) >= 3 and width >= MIN_WIDTH and bool((lens[soft] == width).mean() >= 0.8)
        self._join(batch, texts, soft + 1, "", delsp)
        # RFC 3676 4.2: trailing spaces of hard breaks are removed, also the one that ended
        # the prefix of an empty message (`... kernel: `)
        bare = _np(pc.equal(batch.column("prefix_kind").cast(pa.string()), "none"))
        bare[self.conts] = False
        cand = np.flatnonzero(bare)
        ends = pc.utf8_slice_codeunits(text.take(pa.array(cand)), -1)
        self.spaceless = cand[_np(pc.is_in(ends, pa.array([":", "]"])))]

    def _join(self, batch: pa.RecordBatch, texts: dict[int, str], conts: np.ndarray, sep: str,
              delsp: bool) -> None:  # fmt: skip
        """Join each run of continuations into its line, as the bytes were (a /dev/kmsg or
        syslog line's escapes may be cut in two), then decode its transport's escapes."""
        text, raw, prefix = batch.column("text"), batch.column("raw"), batch.column("prefix")
        n = len(text)
        is_cont = np.zeros(n, bool)
        is_cont[conts] = True
        is_cont[0] = False  # its line is in the chunk before
        last = np.where(is_cont, -1, np.arange(n))
        np.maximum.accumulate(last, out=last)
        conts = np.flatnonzero(is_cont)
        heads = last[conts]
        parts: dict[int, list[str]] = {}
        for c, h in zip(conts.tolist(), heads.tolist(), strict=True):
            if h not in parts:
                r = raw[h].as_py()
                if h in texts:
                    parts[h] = [texts[h]]
                elif r is not None:
                    parts[h] = [r[len(prefix[h].as_py().encode()) :].decode("utf-8", "replace")]
                else:
                    parts[h] = [text[h].as_py()]
            t = parts[h][-1]
            if delsp and t.endswith(" "):
                parts[h][-1] = t[:-1]
            if parts[h][-1]:  # else the prefix had the cut space
                parts[h].append(sep)
            rest = texts[c] if c in texts else text[c].as_py()
            parts[h].append(_QUOTES.sub("", prefix[c].as_py()) + rest)  # `<48>` is text
            texts[c] = ""
        for h, p in parts.items():
            texts[h] = _as_head("".join(p), self.kinds[h])
        self.conts, self.heads = conts, heads
        self.marks["wrapped"] = np.unique(heads)
        self.marks["wrap-cont"] = conts


_KMSG_ESC_RE = re.compile(rb"\\x([0-9a-fA-F]{2})")


def _as_head(text: str, kind: pa.Scalar) -> str:
    """A joined line with the escapes of its first line's transport decoded, as lines.py
    decodes a whole line: /dev/kmsg `\\xNN`, syslog `#ooo`."""
    k = kind.as_py() or ""
    if "kmsg" in k and "\\x" in text:
        raw = _KMSG_ESC_RE.sub(lambda m: bytes([int(m[1], 16)]), text.encode())
        return raw.decode("utf-8", "backslashreplace")
    if ("syslog" in k or "rfc5424" in k) and "#" in text:
        return _OCTAL_RE.sub(_octal, text)
    return text
