"""The line stage: line-aligned chunks of bytes -> Arrow batches of the `lines` table.

This touches every byte of a capture, so it works on whole chunks with numpy and pyarrow
compute (RE2) and drops to Python only for rare lines (invalid UTF-8, escapes, kmsg
dictionary lines, one parse per distinct wall-clock second). Every line becomes one row;
`prefix + text + eol` (or `raw + eol` where `raw` is set) gives back the original bytes
exactly; except a line flagged `cut` (the reader kept its first MAX_LINE bytes only).

Per chunk: newline positions (numpy) -> one zero-copy Arrow string array of whole lines ->
lines sorted into prefix classes by their first bytes -> the fixed-layout forms (printk
time, `dmesg -T`, syslog) read from the bytes (fixedreads.py), the other lines by one small
RE2 pattern per class (prefixes.py) -> prefix lengths and fields scattered back into
per-line numpy arrays -> the text column cut out of the chunk with one boolean mask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stalllog.input import fixed
from stalllog.input.boots import BootTracker
from stalllog.input.clock import WALL_UTC, Clock
from stalllog.input.columns import bitmask_to_dictionary, invalid_rows
from stalllog.input.fixed import PAD, slices
from stalllog.input.fixedreads import FixedReads
from stalllog.input.numbers import NONE, TOO_BIG, checked_int64
from stalllog.input.prefixes import (
    BRACKET_CALLER,
    BRACKET_CALLER_ONLY,
    BRACKET_MONO,
    BRACKET_MONO_TEST,
    BRACKET_TIME,
    CTIME_FAST,
    DIGIT,
    KIND_BIT,
    KIND_GROUPS,
    KMSG,
    KMSG_CALLER,
    KMSG_TEST,
    MONTH,
    MONTH_WORDS,
    OTHER,
    STRUCTURED_FLAGS,
    SYSLOG_FAST,
    SYSLOG_KERNEL_TEST,
    WEEKDAY_WORDS,
    XFAC_WORDS,
    XLEVELS,
)
from stalllog.input.stamps import _blank_to_null, _nonblank, _np_bool
from stalllog.input.walls import wall_from_syslog

LONG_LINE = 8192  # characters; longer lines are kept whole and flagged

FLAG_NAMES: tuple[str, ...] = (
    "invalid-utf8",  # bytes that are not UTF-8; text has \\xNN escapes, raw keeps the bytes
    "nul",  # NUL bytes in the line (serial noise, binary junk)
    "ansi",  # ANSI escape sequences
    "cr",  # a carriage return inside the line (^M from a pasted console)
    "long",  # longer than LONG_LINE characters
    "no-eol",  # last line of the source, without a newline
    "truncated",  # the source ended early (truncated/corrupt compressed stream) after this line
    "dropped-before",  # `** N printk messages dropped **` glued in front of this line
    "non-kernel",  # a syslog/journal line from another program than the kernel
    "kmsg-escaped",  # /dev/kmsg \\xNN escapes decoded into text; raw keeps the original
    "syslog-escaped",  # rsyslog #ooo escapes (#012 = newline) decoded into text
    "kmsg-dict",  # a /dev/kmsg ` KEY=value` dictionary continuation line
    "cut",  # reader: over MAX_LINE bytes, the rest skipped (count + sha256 in sources.error)
    # new flags go last: the bit values of the others stay
    "bad-number",  # a prefix number (kmsg sequence, drop count) too big for int64: left null
    *STRUCTURED_FLAGS,  # journal JSON/export and dmesg -J (structured.py)
    "tz-ambiguous",  # local wall clock in a DST change of the zone given (clock.py)
)
FLAG_BIT = {name: 1 << i for i, name in enumerate(FLAG_NAMES)}
_HEAD_BITS = sum(
    KIND_BIT[k]
    for k in ("time", "syslog", "syslog_iso", "journal_full", "journal_mono", "dmesg_ctime",
              "dmesg_iso", "rfc5424")
)  # fmt: skip

EOL_VALUES = pa.array(["\n", "\r\n", ""], pa.string())

LINES_SCHEMA = pa.schema(
    [
        ("line_no", pa.int64()),
        ("source", pa.dictionary(pa.int32(), pa.string())),
        ("boot", pa.int32()),
        ("ts", pa.float64()),
        ("wall", pa.timestamp("us")),
        ("wall_utc", WALL_UTC),
        ("utc_offset", pa.int32()),
        ("host", pa.string()),
        ("caller", pa.string()),
        ("level", pa.int8()),
        ("prefix_kind", pa.dictionary(pa.int32(), pa.string())),
        ("prefix", pa.string()),
        ("text", pa.string()),
        ("eol", pa.dictionary(pa.int8(), pa.string())),
        ("flags", pa.dictionary(pa.int32(), pa.string())),
        ("dropped", pa.int64()),
        ("kmsg_seq", pa.int64()),
        ("raw", pa.binary()),
    ]
)

# rsyslog escapes control characters as `#ooo` (EscapeControlCharactersOnReceive: #012 is a
# newline, #011 a tab); only 000-037 and 177 can be such escapes, so `#123` in a message stays.
_OCTAL_RE = re.compile(r"#(0[0-3][0-7]|177)")
_OCTAL_ARROW = r"#(?:0[0-3][0-7]|177)"
# /dev/kmsg escapes every byte < 0x20, >= 0x7f and `\` as `\xNN` (printk.c msg_add_ext_text),
# so UTF-8 text arrives byte-wise escaped and must be decoded as bytes.
_KMSG_ESC_RE = re.compile(rb"\\x([0-9a-fA-F]{2})")
_JOURNAL_BOOT_RE = re.compile(r"^-- (?:Boot [0-9a-f]{32}|Reboot) --$")

_CLASSES = ("bracket", "month", "digit", "other")


def _words(words: tuple[str, ...]) -> np.ndarray:
    return np.frombuffer("".join(words).encode(), "<u4")


_MONTH_W, _WEEKDAY_W, _XFAC_W = _words(MONTH_WORDS), _words(WEEKDAY_WORDS), _words(XFAC_WORDS)


def _classify(pad: np.ndarray, starts: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Rows that may carry each class of prefix, from their first bytes (`pad` is the chunk
    plus PAD NUL bytes; a line shorter than 4 bytes shows its "\\n" or the padding, which no
    class accepts)."""
    b0 = pad[starts]
    b1 = pad[starts + 1]
    digit1 = (b1 >= 48) & (b1 <= 57)
    word = (
        b0.astype(np.uint32)
        | (b1.astype(np.uint32) << 8)
        | (pad[starts + 2].astype(np.uint32) << 16)
        | (pad[starts + 3].astype(np.uint32) << 24)
    )
    b2 = pad[starts + 2]
    is_bracket = b0 == 0x5B
    bracket = is_bracket & (
        (b1 == 0x20) | digit1 | (((b1 == 0x54) | (b1 == 0x43)) & (b2 >= 48) & (b2 <= 57))
    )
    month = np.isin(word, _MONTH_W)
    digit = (b0 >= 48) & (b0 <= 57)
    other = (
        (b0 == 0x2A)  # `*`
        | (b0 == 0x3C)  # `<`
        | (is_bracket & ~bracket)
        | np.isin(word, _WEEKDAY_W)
        | np.isin(word, _XFAC_W)
    )
    masks = {"bracket": bracket, "month": month, "digit": digit, "other": other}
    return [(name, np.flatnonzero(masks[name])) for name in _CLASSES]


def _extract(full: pa.StringArray, idx: np.ndarray, pattern: str) -> pa.StructArray:
    """extract_regex on the rows `idx` of `full` (aligned with idx)."""
    if len(idx) * 2 > len(full):  # most lines: match them all, keep the wanted rows
        return pc.extract_regex(full, pattern).take(pa.array(idx))
    return pc.extract_regex(full.take(pa.array(idx)), pattern)


def _match(full: pa.StringArray, idx: np.ndarray, pattern: str) -> np.ndarray:
    """match_substring_regex on the rows `idx` of `full` (a DFA scan, no submatches)."""
    if len(idx) * 2 > len(full):
        return _np_bool(pc.match_substring_regex(full, pattern))[idx]
    return _np_bool(pc.match_substring_regex(full.take(pa.array(idx)), pattern))


def _text_prefix(
    pad: np.ndarray, starts: np.ndarray, tstart: np.ndarray, cend: np.ndarray, plen: np.ndarray,
    fixed: dict[int, str],
) -> tuple[pa.StringArray, pa.StringArray]:  # fmt: skip
    """The text (bytes from tstart to the content end) and prefix columns. The prefix is the
    first plen bytes of the line: of the repaired line (`fixed`, eol included) if not UTF-8."""
    text = slices(pad, tstart, cend - tstart)
    if not fixed:
        return text, slices(pad, starts, plen)
    bad = np.zeros(len(starts), bool)
    bad[list(fixed)] = True
    prefix = slices(pad, starts, np.where(bad, 0, plen))
    cut = [line.encode()[: int(plen[i])].decode() for i, line in fixed.items()]
    return text, pc.replace_with_mask(prefix, pa.array(bad), pa.array(cut, pa.string()))


class _Fields(FixedReads):
    """Per-line values decoded from the prefix matches of every class."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.plen = np.zeros(n, np.int64)
        self.kinds = np.zeros(n, np.int32)
        self.ts = np.full(n, np.nan)
        self.level = np.full(n, -1, np.int16)
        self.kseq = np.full(n, -1, np.int64)
        self.ndrop = np.full(n, -1, np.int64)
        self.wall = np.zeros(n, np.int64)  # µs since 1970
        self.wall_ok = np.zeros(n, bool)
        self.off = np.zeros(n, np.int32)  # UTC offset a prefix carries (s east)
        self.off_ok = np.zeros(n, bool)
        self.nonkernel = np.zeros(n, bool)
        self.good = np.ones(n, bool)  # valid UTF-8: the bytes are the line (fixed.py may read)
        self.strings: dict[str, list[tuple[np.ndarray, pa.Array]]] = {"caller": [], "host": []}

    def merged(self, name: str) -> pa.Array:
        """One string column from the per-class pieces (blank and rows of no class: null)."""
        pieces = self.strings[name]
        if not pieces:
            return pa.nulls(self.n, pa.string())
        pos = np.full(self.n, -1, np.int64)
        offset = 0
        for idx, _ in pieces:
            pos[idx] = np.arange(offset, offset + len(idx))
            offset += len(idx)
        values = pa.concat_arrays([_blank_to_null(arr) for _, arr in pieces])
        return pc.take(values, pa.array(pos, mask=pos < 0))

    def set_flags(self, flags: np.ndarray, clock: Clock) -> None:
        """The flags the fields say, and `utc_columns` (the clock flags DST changes)."""
        flags[self.nonkernel] |= FLAG_BIT["non-kernel"]
        flags[(self.kseq == TOO_BIG) | (self.ndrop == TOO_BIG)] |= FLAG_BIT["bad-number"]
        wall_utc, utc_offset, unsure = clock.utc(self.wall, self.wall_ok, self.off, self.off_ok)
        flags[unsure] |= FLAG_BIT["tz-ambiguous"]
        self.utc_columns = (wall_utc, utc_offset)

    def decode(self, m: pa.StructArray, idx: np.ndarray, kind: int = 0) -> None:
        """Take the fields of `m` (matches of rows idx); `kind`: bits of rows that matched."""
        g = dict(zip([f.name for f in m.type], m.flatten(), strict=True))
        prefix = pc.fill_null(g["prefix"], "")
        plen = pc.binary_length(prefix).to_numpy()
        self.plen[idx] = plen
        kinds = np.where(plen > 0, kind, 0).astype(np.int32)
        for part, groups in KIND_GROUPS.items():
            for name in groups:
                if name in g:
                    kinds[_nonblank(g[name])] |= KIND_BIT[part]
        self.kinds[idx] = kinds

        def first(*names: str) -> pa.Array | None:
            cols = [_blank_to_null(g[n]) for n in names if n in g]
            return pc.coalesce(*cols) if cols else None

        ts = first("ts", "sts", "mono")
        usec = first("kusec")
        secs = pc.cast(ts, pa.float64()) if ts is not None else None
        if usec is not None:
            from_usec = pc.divide(pc.cast(usec, pa.float64()), 1e6)
            secs = from_usec if secs is None else pc.coalesce(secs, from_usec)
        if secs is not None:
            self.ts[idx] = secs.to_numpy(zero_copy_only=False)
        lvl = first("lvl", "kprio", "pri5424")
        if lvl is not None:
            lv = pc.bit_wise_and(pc.cast(lvl, pa.int16()), 7)
            if "xlvl" in g:
                xl = pc.cast(
                    pc.index_in(_blank_to_null(g["xlvl"]), pa.array(list(XLEVELS))), lv.type
                )
                lv = pc.coalesce(lv, xl)
            self.level[idx] = pc.fill_null(lv, -1).to_numpy()
        for name, target in (("kseq", self.kseq), ("ndrop", self.ndrop)):
            if name in g:  # a 20-digit run must not sink the chunk: null and flag it
                target[idx] = checked_int64(g[name])
        caller = first("caller", "caller2", "scaller", "kcaller")
        if caller is not None:
            self.strings["caller"].append((idx, caller))
        host = first("host", "shost", "fullhost", "monohost", "host5424")
        if host is not None:
            self.strings["host"].append((idx, host))
        ident = first("ident", "fullident", "monoident", "app5424")
        if ident is not None:
            self.nonkernel[idx] = _np_bool(pc.invert(pc.starts_with(ident, "kernel")))
        self.walls(idx, g)


@dataclass
class LineStage:
    """Stateful converter of one capture's chunks into `lines` batches."""

    boots: BootTracker = field(default_factory=BootTracker)
    source: str = ""
    next_line_no: int = 1
    prev_kmsg: bool = False  # the previous chunk ended in a /dev/kmsg record or dict line
    clock: Clock = field(default_factory=Clock)  # wall_utc: the zone and year given

    def start_source(self, source: str, mtime: float | None = None) -> None:
        self.boots.new_source(source, 1)
        self.source = source
        self.next_line_no = 1
        self.prev_kmsg = False
        self.clock.start_source(mtime)

    def batch(self, buf: bytes, last: bool, truncated: bool = False) -> pa.RecordBatch:
        """`buf` holds whole lines (ending in b"\\n") unless `last`; `truncated` marks the
        last line of a source whose decompression stopped early."""
        arr = np.frombuffer(buf, np.uint8)
        nl = np.flatnonzero(arr == 10)
        tail = bool(last and len(buf) and buf[-1] != 10)
        n = len(nl) + tail
        starts = np.zeros(n, np.int64)
        starts[1:] = nl[: n - 1] + 1
        ends = np.append(nl, len(buf)) if tail else nl  # the "\n" (or end) of each line
        # a "\r" before the "\n" is the line end (serial consoles); a tail keeps its "\r"
        cr = np.zeros(n, bool)
        has_nl = ends > starts
        if tail:
            has_nl[-1] = False
        cr[has_nl] = arr[ends[has_nl] - 1] == 13
        cend = ends - cr  # end of the line's content
        flags = np.zeros(n, np.int32)

        offsets = np.append(starts, len(buf)).astype(np.int32)
        full = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))
        bad: list[int] = []
        bad_mask = np.zeros(n, bool)
        repaired: dict[int, str] = {}
        whole: dict[int, str] = {}  # the repaired lines, eol included
        try:
            full.validate(full=True)
        except pa.ArrowInvalid:
            bad = invalid_rows(full)
            for i in bad:
                repaired[i] = buf[starts[i] : cend[i]].decode("utf-8", "backslashreplace")
                whole[i] = repaired[i] + buf[cend[i] : offsets[i + 1]].decode()
            bad_mask[bad] = True
            flags[bad_mask] |= FLAG_BIT["invalid-utf8"]
            fixed_lines = pa.array(list(whole.values()), pa.string())
            full = pc.replace_with_mask(full, pa.array(bad_mask), fixed_lines)

        pad = np.concatenate([arr, np.zeros(PAD, np.uint8)])
        fields = _Fields(n)
        fields.good[bad] = False
        for name, idx in _classify(pad, starts):
            if not len(idx):
                continue
            if name == "month":
                self._month(full, pad, starts, idx, fields)
            elif name == "digit":
                self._digit(full, buf, idx, fields)
            elif name == "other":
                self._other(full, pad, starts, idx, fields)
            else:
                self._bracket(full, buf, pad, starts, idx, fields)
        plen, kinds = fields.plen, fields.kinds
        cont_rows, cont_head = self._continuations(pad, starts, cend, fields)

        tstart = np.minimum(starts + plen, cend)
        text, prefix = _text_prefix(pad, starts, tstart, cend, plen, whole)
        host = fields.merged("host")
        caller = fields.merged("caller")
        if len(cont_rows):
            src = np.arange(n)
            src[cont_rows] = cont_head
            host = host.take(pa.array(src))
            caller = caller.take(pa.array(src))
        lengths = cend - starts

        # A drop marker alone on its line is the message itself, not a prefix.
        has_drop = fields.ndrop != NONE  # TOO_BIG too: a marker, its count unknown
        dropped_count = fields.ndrop
        if has_drop.any():
            alone = has_drop & (tstart == cend) & ~(kinds & ~KIND_BIT["dropped"]).astype(bool)
            flags[has_drop & ~alone] |= FLAG_BIT["dropped-before"]
            if alone.any():
                alone_a = pa.array(alone)
                text = pc.if_else(alone_a, prefix, text)
                prefix = pc.if_else(alone_a, "", prefix)
                kinds[alone] &= ~KIND_BIT["dropped"]

        if bad:  # cut the repaired string, not the bytes
            bad_text = [repaired[i].encode()[int(plen[i]) :].decode() for i in bad]
            text = pc.replace_with_mask(text, pa.array(bad_mask), pa.array(bad_text, pa.string()))
        changed: dict[int, str] = {}
        is_kmsg = (kinds & KIND_BIT["kmsg"]) != 0
        texts: list[str] | None = None
        if is_kmsg.any() or self.prev_kmsg:
            self._kmsg(full, pad, starts, plen, is_kmsg, kinds, flags, text, changed, buf, tstart,
                       cend)  # fmt: skip
        syslogish = (
            kinds & (KIND_BIT["syslog"] | KIND_BIT["syslog_iso"] | KIND_BIT["rfc5424"])
        ) != 0
        if (b"#0" in buf or b"#177" in buf) and syslogish.any():
            rows = np.flatnonzero(syslogish)
            octal = rows[_match(text, rows, _OCTAL_ARROW)]
            for i in octal.tolist():
                if texts is None:
                    texts = text.to_pylist()
                base = changed.get(i, texts[i])
                changed[i] = _OCTAL_RE.sub(lambda mm: chr(int(mm[1], 8)), base)
                flags[i] |= FLAG_BIT["syslog-escaped"]
        raw: pa.Array = pa.nulls(n, pa.binary())
        if changed:
            fixed_rows = sorted(changed)
            mask = np.zeros(n, bool)
            mask[fixed_rows] = True
            text = pc.replace_with_mask(
                text, pa.array(mask), pa.array([changed[i] for i in fixed_rows], pa.string())
            )
        raw_rows = sorted(set(bad) | changed.keys())
        if raw_rows:
            mask = np.zeros(n, bool)
            mask[raw_rows] = True
            originals = [buf[starts[i] : cend[i]] for i in raw_rows]
            raw = pc.replace_with_mask(raw, pa.array(mask), pa.array(originals, pa.binary()))

        self._byte_flags(buf, arr, starts, flags, int(np.count_nonzero(cr)))
        flags[lengths > LONG_LINE] |= FLAG_BIT["long"]
        fields.set_flags(flags, self.clock)
        if n and tail:
            flags[-1] |= FLAG_BIT["no-eol"]
        if n and last and truncated:
            flags[-1] |= FLAG_BIT["truncated"]

        line_no = np.arange(self.next_line_no, self.next_line_no + n, dtype=np.int64)
        self.next_line_no += n
        banner = _np_bool(pc.starts_with(text, "Linux version "))
        jboot = np.zeros(n, bool)
        for i in np.flatnonzero((pad[starts] == 0x2D) & (pad[starts + 1] == 0x2D)).tolist():
            jboot[i] = bool(
                _JOURNAL_BOOT_RE.match(buf[starts[i] : cend[i]].decode(errors="replace"))
            )
        boot = self.boots.assign(self.source, line_no, fields.ts, banner, jboot, host)

        eol_idx = cr.astype(np.int8)
        if tail:
            eol_idx[-1] = 2
        source_arr = pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(n, np.int32)), pa.array([self.source], pa.string())
        )
        cols = [
            pa.array(line_no),
            source_arr,
            pa.array(boot),
            pa.array(fields.ts),
            pa.array(fields.wall, pa.timestamp("us"), mask=~fields.wall_ok),
            *fields.utc_columns,  # wall_utc, utc_offset (set_flags)
            host,
            caller,
            pa.array(fields.level.astype(np.int8), pa.int8(), mask=fields.level < 0),
            bitmask_to_dictionary(kinds, KIND_BIT, "none"),
            prefix,
            text,
            pa.DictionaryArray.from_arrays(pa.array(eol_idx), EOL_VALUES),
            bitmask_to_dictionary(flags, FLAG_BIT, None),
            pa.array(dropped_count, pa.int64(), mask=dropped_count < 0),
            pa.array(fields.kseq, pa.int64(), mask=fields.kseq < 0),
            raw,
        ]
        return pa.RecordBatch.from_arrays(cols, schema=LINES_SCHEMA)

    @staticmethod
    def _continuations(
        pad: np.ndarray, starts: np.ndarray, cend: np.ndarray, fields: _Fields
    ) -> tuple[np.ndarray, np.ndarray]:
        """Indented continuation lines: no prefix, at least as many leading spaces as the
        prefix of the last prefixed line, which heads the record. Returns (rows, heads)."""
        n = len(starts)
        plen = fields.plen
        cand = (plen == 0) & (pad[starts] == 0x20)
        none = np.zeros(0, np.int64)
        if not cand.any():
            return none, none
        last = np.where(cand, -1, np.arange(n))
        np.maximum.accumulate(last, out=last)
        idx = np.flatnonzero(cand)
        head = last[idx]
        ok = head >= 0
        ok[ok] = (fields.kinds[head[ok]] & _HEAD_BITS) != 0
        r, h = idx[ok], head[ok]
        width = plen[h]
        keep = cend[r] - starts[r] >= width
        r, h, width = r[keep], h[keep], width[keep]
        # the first `width` bytes must be spaces: one byte column at a time, on the rows
        # still in the running (the line is at least that long, so no read past its end)
        alive = np.ones(len(r), bool)
        for j in range(1, int(width.max()) if len(r) else 0):  # byte 0 is a space already
            live = np.flatnonzero(alive & (width > j))
            if not len(live):
                break
            alive[live[pad[starts[r[live]] + j] != 0x20]] = False
        r, h = r[alive], h[alive]
        if not len(r):
            return none, none
        fields.plen[r] = fields.plen[h]
        fields.kinds[r] = KIND_BIT["cont"]
        for a in (fields.ts, fields.wall, fields.wall_ok, fields.off, fields.off_ok, fields.level,
                  fields.nonkernel):  # fmt: skip
            a[r] = a[h]
        return r, h

    @staticmethod
    def _month(
        full: pa.StringArray, pad: np.ndarray, starts: np.ndarray, idx: np.ndarray,
        fields: _Fields,
    ) -> None:  # fmt: skip
        """Syslog/journal headers: from the bytes (the common host/tag pairs) or the fast
        header-only pattern, then the full one for lines they missed or that carry a kernel
        prefix after the header."""
        read = np.isin(idx, fields.read_syslog(full, pad, starts, idx), assume_unique=True)
        rest = idx[~read]
        m = _extract(full, rest, SYSLOG_FAST)
        fields.decode(m, rest, KIND_BIT["syslog"])
        plen = fields.plen[idx]
        nxt = pad[starts[idx] + plen]
        done = plen > 0
        maybe = done & ((nxt == 0x5B) | (nxt == 0x3C))  # `[`, `<`: a kernel prefix may follow
        if maybe.any():
            done[maybe] = ~_match(full, idx[maybe], SYSLOG_KERNEL_TEST)
        rows = idx[done & read]
        if len(rows):
            stamps = fixed.window(pad, starts[rows])
            fixed.SYSLOG.match(stamps)  # all fit (read_syslog read them); days `[ \d]` to digits
            walls = fixed.syslog_walls(stamps)
            fields.set_walls(rows, walls, pad, starts[rows], 15, wall_from_syslog)
        fast = idx[done & ~read]
        if len(fast):
            prefix = pc.fill_null(m.field("prefix").filter(pa.array(done[~read])), "")
            key = pc.utf8_slice_codeunits(prefix, 0, 15)
            frac = None
            if (pad[starts[fast] + 15] == 0x2E).any():
                frac = pc.extract_regex(prefix, r"^.{15}(?P<f>\.\d+)?").field("f")
            fields.wall_of(fast, prefix, key, wall_from_syslog, frac)
        slow = idx[~done]
        if len(slow):
            fields.decode(_extract(full, slow, MONTH), slow)

    @staticmethod
    def _other(
        full: pa.StringArray, pad: np.ndarray, starts: np.ndarray, idx: np.ndarray,
        fields: _Fields,
    ) -> None:  # fmt: skip
        """`dmesg -T` C-locale lines from the bytes or with their own pattern first, the rest
        with OTHER."""
        b1 = pad[starts[idx] + 1]
        ctime = idx[(pad[starts[idx]] == 0x5B) & (b1 >= 65) & (b1 <= 90)]
        left = np.setdiff1d(ctime, fields.read_ctime(pad, starts, ctime), assume_unique=True)
        if len(left):
            fields.decode(_extract(full, left, CTIME_FAST), left)
        rest = np.setdiff1d(idx, ctime[fields.plen[ctime] > 0], assume_unique=True)
        if len(rest):
            fields.decode(_extract(full, rest, OTHER), rest)

    @staticmethod
    def _digit(full: pa.StringArray, buf: bytes, idx: np.ndarray, fields: _Fields) -> None:
        """/dev/kmsg records with their own small pattern; other digit lines (ISO stamps)
        with the DIGIT pattern."""
        is_kmsg = _match(full, idx, KMSG_TEST)
        rows = idx[is_kmsg]
        if len(rows):
            pattern = KMSG_CALLER if b",caller=" in buf else KMSG
            fields.decode(_extract(full, rows, pattern), rows)
        rest = idx[~is_kmsg]
        if len(rest):
            fields.decode(_extract(full, rest, DIGIT), rest)

    @staticmethod
    def _bracket(
        full: pa.StringArray, buf: bytes, pad: np.ndarray, starts: np.ndarray, idx: np.ndarray,
        fields: _Fields,
    ) -> None:  # fmt: skip
        """`[`-lines: the printk time (most from the bytes, the rest by BRACKET_TIME); `][`
        right after the time means a caller id follows; no time may be a caller id alone; a
        syslog tag after the time means journalctl -o short-monotonic."""
        rest = fields.read_bracket(pad, starts, idx)
        if len(rest):
            fields.decode(_extract(full, rest, BRACKET_TIME), rest)
        plen = fields.plen[idx]
        pos = starts[idx] + plen
        timed = plen > 0
        caller = idx[timed & (pad[pos] == 0x5B) & (pad[pos - 1] == 0x5D)]
        if len(caller):
            fields.decode(_extract(full, caller, BRACKET_CALLER), caller)
        only = idx[~timed]
        if len(only):
            fields.decode(_extract(full, only, BRACKET_CALLER_ONLY), only)
        if b"kernel: " in buf or b"]: " in buf:
            rows = idx[timed]
            mono = rows[_match(full, rows, BRACKET_MONO_TEST)]
            if len(mono):
                fields.decode(_extract(full, mono, BRACKET_MONO), mono)

    def _kmsg(
        self, full: pa.StringArray, pad: np.ndarray, starts: np.ndarray, plen: np.ndarray,
        is_kmsg: np.ndarray, kinds: np.ndarray, flags: np.ndarray, text: pa.StringArray,
        changed: dict[int, str], buf: bytes, tstart: np.ndarray, cend: np.ndarray,
    ) -> None:  # fmt: skip
        """/dev/kmsg dictionary continuation lines and `\\xNN` escapes."""
        n = len(starts)
        b1 = pad[starts + 1]
        cand = np.flatnonzero((pad[starts] == 0x20) & (b1 >= 65) & (b1 <= 90) & (plen == 0))
        dict_line = np.zeros(n, bool)
        if len(cand):
            ok = cand[_match(full, cand, r"^ [A-Z][A-Z0-9_]*=")]
            dict_like = np.zeros(n, bool)
            dict_like[ok] = True
            # the record a dictionary line belongs to: the last line before it that is not one
            head = np.where(dict_like, -1, np.arange(n))
            np.maximum.accumulate(head, out=head)
            owner = head[ok]
            belongs = np.where(owner >= 0, is_kmsg[np.maximum(owner, 0)], self.prev_kmsg)
            dict_line[ok[belongs]] = True
        kinds[dict_line] |= KIND_BIT["kmsg_dict"]
        flags[dict_line] |= FLAG_BIT["kmsg-dict"]
        # most chunks have no escape at all: skip the per-line search then
        esc = np.zeros(n, bool)
        if b"\\x" in buf:
            esc = is_kmsg & _np_bool(pc.match_substring(text, "\\x"))
        for i in np.flatnonzero(esc).tolist():
            body = _KMSG_ESC_RE.sub(lambda mm: bytes([int(mm[1], 16)]), buf[tstart[i] : cend[i]])
            try:
                changed[i] = body.decode("utf-8")
            except UnicodeDecodeError:
                changed[i] = body.decode("utf-8", "backslashreplace")
                flags[i] |= FLAG_BIT["invalid-utf8"]
            flags[i] |= FLAG_BIT["kmsg-escaped"]
        if n:
            self.prev_kmsg = bool(is_kmsg[-1] or dict_line[-1])

    @staticmethod
    def _byte_flags(
        buf: bytes, arr: np.ndarray, starts: np.ndarray, flags: np.ndarray, eol_crs: int
    ) -> None:
        """NUL, ESC and inner CR bytes, found with memchr first (most chunks have none); a
        serial console's CRs, counted, may all be the `eol_crs` of its CRLF line ends."""
        for byte, name in ((b"\x00", "nul"), (b"\x1b", "ansi"), (b"\r", "cr")):
            if byte not in buf:
                continue
            if name == "cr" and np.count_nonzero(arr == 13) == eol_crs:
                continue
            pos = np.flatnonzero(arr == byte[0])
            if name == "cr":  # the "\r" of a "\r\n" line end is not inside the line
                pos = pos[arr[np.minimum(pos + 1, len(arr) - 1)] != 10]
            flags[np.searchsorted(starts, pos, "right") - 1] |= FLAG_BIT[name]
