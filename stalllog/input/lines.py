"""The line stage: line-aligned chunks of bytes -> Arrow batches of the `lines` table.

This touches every byte of a capture, so it works on whole chunks with numpy and pyarrow
compute (RE2) and drops to Python only for rare lines (invalid UTF-8, escapes, kmsg
dictionary lines, one parse per distinct wall-clock second). Every line becomes one row;
`prefix + text + eol` (or `raw + eol` where `raw` is set) gives back the original bytes
exactly; except a line flagged `cut` (the reader kept its first MAX_LINE bytes only).

Per chunk: newline positions (numpy) -> one zero-copy Arrow string array of whole lines ->
lines sorted into prefix classes by their first bytes -> one small RE2 pattern per class
(prefixes.py) -> prefix lengths and fields scattered back into per-line numpy arrays -> the
text column cut out of the chunk with one boolean mask.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stalllog.input.numbers import NONE, TOO_BIG, checked_int64
from stalllog.input.prefixes import (
    BRACKET_CALLER,
    BRACKET_CALLER_ONLY,
    BRACKET_MONO,
    BRACKET_MONO_TEST,
    BRACKET_TIME,
    CTIME_FAST,
    DIGIT,
    KIND_GROUPS,
    KIND_PARTS,
    KMSG,
    KMSG_CALLER,
    KMSG_TEST,
    MONTH,
    MONTH_WORDS,
    OTHER,
    SYSLOG_FAST,
    SYSLOG_KERNEL_TEST,
    WEEKDAY_WORDS,
    XFAC_WORDS,
    XLEVELS,
)
from stalllog.input.walls import wall_from_ctime, wall_from_iso, wall_from_syslog

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
)
FLAG_BIT = {name: 1 << i for i, name in enumerate(FLAG_NAMES)}
# "cont": a continuation line of a multi-line record, indented by the width of its first
# line's prefix (util-linux dmesg, `dmesg -T`, journalctl); it takes that line's ts/wall/host.
KIND_BIT = {name: 1 << i for i, name in enumerate((*KIND_PARTS, "kmsg_dict", "cont"))}
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
_EPOCH = datetime(1970, 1, 1)

_CLASSES = (("bracket", BRACKET_TIME), ("month", MONTH), ("digit", DIGIT), ("other", OTHER))


def _blank_to_null(a: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(a, ""), pa.scalar(None, a.type), a)


def _np_bool(a: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(a, False).to_numpy(zero_copy_only=False), dtype=bool)


def _nonblank(a: pa.Array) -> np.ndarray:
    return _np_bool(pc.not_equal(a, ""))


def _words(words: tuple[str, ...]) -> np.ndarray:
    return np.frombuffer("".join(words).encode(), "<u4")


_MONTH_W, _WEEKDAY_W, _XFAC_W = _words(MONTH_WORDS), _words(WEEKDAY_WORDS), _words(XFAC_WORDS)


def _bitmask_to_dictionary(mask: np.ndarray, names: dict[str, int], empty: str | None) -> pa.Array:
    uniq = np.flatnonzero(np.bincount(mask)) if len(mask) else np.zeros(0, np.int64)
    code = np.zeros(int(uniq[-1]) + 1 if len(uniq) else 1, np.int32)
    code[uniq] = np.arange(len(uniq), dtype=np.int32)
    labels = []
    for v in uniq.tolist():
        parts = [n for n, bit in names.items() if v & bit]
        labels.append("+".join(parts) if parts else empty)
    indices = code[mask]
    null_codes = [i for i, label in enumerate(labels) if label is None]
    dictionary = pa.array([label or "" for label in labels], pa.string())
    idx = pa.array(indices, mask=np.isin(indices, null_codes) if null_codes else None)
    return pa.DictionaryArray.from_arrays(idx, dictionary)


def _classify(pad: np.ndarray, starts: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """Rows that may carry each class of prefix, from their first bytes (`pad` is the chunk
    plus 4 NUL bytes; a line shorter than 4 bytes shows its "\\n" or the padding, which no
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
    return [(name, pattern, np.flatnonzero(masks[name])) for name, pattern in _CLASSES]


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


def _invalid_rows(full: pa.StringArray) -> list[int]:
    """Rows that are not valid UTF-8, found by bisection (few validations of big slices)."""
    bad: list[int] = []
    todo = [(0, len(full))]
    while todo:
        a, b = todo.pop()
        try:
            full.slice(a, b - a).validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        if b - a == 1:
            bad.append(a)
        else:
            mid = (a + b) // 2
            todo += [(mid, b), (a, mid)]
    return sorted(bad)


class _Fields:
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
        self.nonkernel = np.zeros(n, bool)
        self.strings: dict[str, list[tuple[np.ndarray, pa.Array]]] = {
            "prefix": [],
            "caller": [],
            "host": [],
        }

    def merged(self, name: str, blank_is_null: bool) -> pa.Array:
        """One string column from the per-class pieces (rows of no class: null or "")."""
        pieces = self.strings[name]
        pos = np.full(self.n, -1, np.int64)
        arrays = []
        offset = 0
        for idx, arr in pieces:
            pos[idx] = np.arange(offset, offset + len(idx))
            offset += len(idx)
            arrays.append(_blank_to_null(arr) if blank_is_null else arr)
        if not arrays:
            out = pa.nulls(self.n, pa.string())
        else:
            out = pc.take(pa.concat_arrays(arrays), pa.array(pos, mask=pos < 0))
        return out if blank_is_null else pc.fill_null(out, "")

    def set_flags(self, flags: np.ndarray) -> None:
        flags[self.nonkernel] |= FLAG_BIT["non-kernel"]
        flags[(self.kseq == TOO_BIG) | (self.ndrop == TOO_BIG)] |= FLAG_BIT["bad-number"]

    def decode(self, m: pa.StructArray, idx: np.ndarray, kind: int = 0) -> None:
        """Take the fields of `m` (matches of rows idx); `kind`: bits of rows that matched."""
        g = dict(zip([f.name for f in m.type], m.flatten(), strict=True))
        prefix = pc.fill_null(g["prefix"], "")
        plen = pc.binary_length(prefix).to_numpy()
        self.plen[idx] = plen
        self.strings["prefix"].append((idx, prefix))
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
        if "mon" in g:
            key = pc.binary_join_element_wise(g["mon"], g["day"], g["hms"], " ")
            self.wall_of(idx, g["mon"], key, wall_from_syslog, g["frac"])
        for key_name, frac_name, parse in (
            ("iso", "isofrac", wall_from_iso),
            ("dmiso", "dmisofrac", wall_from_iso),
            ("full", "fullfrac", wall_from_iso),
            ("ctime", None, wall_from_ctime),
        ):
            if key_name in g:
                frac = g[frac_name] if frac_name else None
                self.wall_of(idx, g[key_name], g[key_name], parse, frac)
        if "iso5424" in g:
            parts = pc.extract_regex(g["iso5424"], r"^(?P<s>.{19})(?P<f>[.,]\d+)?")
            s, f = parts.flatten()
            self.wall_of(idx, g["iso5424"], s, wall_from_iso, f)

    def wall_of(
        self, idx: np.ndarray, present_col: pa.Array, key: pa.Array,
        parse: Callable[[str], datetime | None], frac: pa.Array | None,
    ) -> None:  # fmt: skip
        """Parse each distinct whole-second stamp once; add the fraction vectorized."""
        present = _nonblank(present_col)
        if not present.any():
            return
        sel = pa.array(present)
        keys = key.filter(sel)
        uniq = pc.unique(keys)
        micros = []
        ok = []
        for s in uniq.to_pylist():
            dt = parse(s) if s else None
            ok.append(dt is not None)
            micros.append((dt - _EPOCH) // _ONE_US if dt is not None else 0)
        pos = pc.index_in(keys, uniq).to_numpy()
        vals = np.asarray(micros, np.int64)[pos]
        if frac is not None:
            f = pc.cast(_blank_to_null(pc.replace_substring(frac.filter(sel), ",", ".")),
                        pa.float64())  # fmt: skip
            vals = vals + np.round(pc.fill_null(f, 0.0).to_numpy() * 1e6).astype(np.int64)
        rows = idx[present]
        self.wall[rows] = vals
        self.wall_ok[rows] = np.asarray(ok, bool)[pos]


_ONE_US = datetime(1970, 1, 1, 0, 0, 0, 1) - _EPOCH


def _cut(arr: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> pa.StringArray:
    """Concatenate arr[starts[i]:stops[i]] for all i (ascending, non-overlapping ranges) into a
    string array, with one boolean mask over the chunk."""
    lengths = stops - starts
    n = len(lengths)
    gaps = np.empty(n, np.int64)
    if n:
        gaps[0] = starts[0]
        gaps[1:] = starts[1:] - stops[:-1]
    runs = np.empty(2 * n, np.int64)
    runs[0::2] = gaps
    runs[1::2] = lengths
    mask = np.repeat(np.tile(np.array([False, True]), n), runs)
    data = arr[: len(mask)][mask]
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


@dataclass
class BootTracker:
    """Assigns boot numbers; state carries across chunks and sources of one capture."""

    boot: int = -1
    seen_kernel: bool = False  # current boot already has a banner or a timestamped line
    last_ts: float = float("nan")
    boots: list[dict[str, object]] = field(default_factory=list)

    def new_boot(self, source: str, line_no: int) -> None:
        self.boot += 1
        self.seen_kernel = False
        self.last_ts = float("nan")
        self.boots.append({"boot": self.boot, "source": source, "line_start": line_no})

    def assign(
        self, source: str, line_no: np.ndarray, ts: np.ndarray, banner: np.ndarray,
        journal_boot: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        n = len(ts)
        out = np.empty(n, np.int32)
        if self.boot < 0:
            self.new_boot(source, int(line_no[0]) if n else 1)
        has_ts = ~np.isnan(ts)
        prev = np.empty(n)
        # last timestamp seen before each line (forward fill)
        idx = np.where(has_ts, np.arange(n), -1)
        np.maximum.accumulate(idx, out=idx)
        prev[1:] = np.where(idx[:-1] >= 0, ts[np.maximum(idx[:-1], 0)], self.last_ts)
        if n:
            prev[0] = self.last_ts
        # A reboot shows as the clock going back to 0.000000 (the first lines of every boot
        # are stamped before the clock runs). Other steps back are not reboots: secondary CPUs
        # print with their own clock while they come up (6.12: 1.528080 then 0.075867), NMI and
        # printk_safe lines are stamped late, and pasted excerpts join pieces of one boot.
        reset = has_ts & (ts < prev - 1.0) & (ts < 1e-3)
        candidates = np.flatnonzero(reset | banner | journal_boot)
        ts_count = np.cumsum(has_ts)
        start = 0
        seen = self.seen_kernel
        for i in candidates.tolist():
            if i > start:
                seen = seen or bool(ts_count[i - 1] - (ts_count[start - 1] if start else 0))
            if journal_boot[i] or reset[i] or (banner[i] and seen):
                out[start:i] = self.boot
                self.new_boot(source, int(line_no[i]))
                start = i
                seen = False
            seen = seen or bool(banner[i])
        out[start:] = self.boot
        self.seen_kernel = seen or bool(has_ts[start:].any())
        valid = ts[has_ts]
        if len(valid):
            self.last_ts = float(valid[-1])
        return out

    def new_source(self, source: str, line_no: int) -> None:
        """Each source starts a new boot: separate files are separate captures."""
        if self.boot >= 0:
            self.new_boot(source, line_no)
        self.last_ts = float("nan")


@dataclass
class LineStage:
    """Stateful converter of one capture's chunks into `lines` batches."""

    boots: BootTracker = field(default_factory=BootTracker)
    source: str = ""
    next_line_no: int = 1
    prev_kmsg: bool = False  # the previous chunk ended in a /dev/kmsg record or dict line

    def start_source(self, source: str) -> None:
        self.boots.new_source(source, 1)
        self.source = source
        self.next_line_no = 1
        self.prev_kmsg = False

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
        try:
            full.validate(full=True)
        except pa.ArrowInvalid:
            bad = _invalid_rows(full)
            for i in bad:
                repaired[i] = buf[starts[i] : cend[i]].decode("utf-8", "backslashreplace")
            fixed = [repaired[i] + buf[cend[i] : offsets[i + 1]].decode() for i in bad]
            bad_mask[bad] = True
            flags[bad_mask] |= FLAG_BIT["invalid-utf8"]
            full = pc.replace_with_mask(full, pa.array(bad_mask), pa.array(fixed, pa.string()))

        pad = np.concatenate([arr, np.zeros(4, np.uint8)])
        fields = _Fields(n)
        for name, pattern, idx in _classify(pad, starts):
            if not len(idx):
                continue
            if name == "month":
                self._month(full, pad, starts, idx, fields)
            elif name == "digit":
                self._digit(full, buf, idx, fields)
            elif name == "other":
                self._other(full, pad, starts, idx, fields)
            else:
                fields.decode(_extract(full, idx, pattern), idx)
                if name == "bracket":
                    self._bracket(full, buf, pad, starts, idx, fields)
        plen = fields.plen
        kinds = fields.kinds
        cont_rows, cont_head = self._continuations(buf, pad, starts, cend, fields)

        tstart = np.minimum(starts + plen, cend)
        text = _cut(arr, tstart, cend)
        prefix = fields.merged("prefix", blank_is_null=False)
        host = fields.merged("host", blank_is_null=True)
        caller = fields.merged("caller", blank_is_null=True)
        if len(cont_rows):
            src = np.arange(n)
            src[cont_rows] = cont_head
            host = host.take(pa.array(src))
            caller = caller.take(pa.array(src))
            mask = np.zeros(n, bool)
            mask[cont_rows] = True
            spaces = pa.array([" " * int(p) for p in plen[cont_rows]], pa.string())
            prefix = pc.replace_with_mask(prefix, pa.array(mask), spaces)
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
        if syslogish.any():
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

        self._byte_flags(buf, arr, starts, ends, cr, flags)
        flags[lengths > LONG_LINE] |= FLAG_BIT["long"]
        fields.set_flags(flags)
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
        boot = self.boots.assign(self.source, line_no, fields.ts, banner, jboot)

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
            host,
            caller,
            pa.array(fields.level.astype(np.int8), pa.int8(), mask=fields.level < 0),
            _bitmask_to_dictionary(kinds, KIND_BIT, "none"),
            prefix,
            text,
            pa.DictionaryArray.from_arrays(pa.array(eol_idx), EOL_VALUES),
            _bitmask_to_dictionary(flags, FLAG_BIT, None),
            pa.array(dropped_count, pa.int64(), mask=dropped_count < 0),
            pa.array(fields.kseq, pa.int64(), mask=fields.kseq < 0),
            raw,
        ]
        return pa.RecordBatch.from_arrays(cols, schema=LINES_SCHEMA)

    @staticmethod
    def _continuations(
        buf: bytes, pad: np.ndarray, starts: np.ndarray, cend: np.ndarray, fields: _Fields
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
        rows = []
        heads = []
        for i, h in zip(idx[ok].tolist(), head[ok].tolist(), strict=True):
            p = int(plen[h])
            if cend[i] - starts[i] >= p and buf[starts[i] : starts[i] + p] == b" " * p:
                rows.append(i)
                heads.append(h)
        if not rows:
            return none, none
        r = np.asarray(rows, np.int64)
        h = np.asarray(heads, np.int64)
        fields.plen[r] = fields.plen[h]
        fields.kinds[r] = KIND_BIT["cont"]
        for a in (fields.ts, fields.wall, fields.wall_ok, fields.level, fields.nonkernel):
            a[r] = a[h]
        return r, h

    @staticmethod
    def _month(
        full: pa.StringArray, pad: np.ndarray, starts: np.ndarray, idx: np.ndarray,
        fields: _Fields,
    ) -> None:  # fmt: skip
        """Syslog/journal headers: the fast header-only pattern, then the full one for lines
        it missed or that carry a kernel prefix after the header."""
        m = _extract(full, idx, SYSLOG_FAST)
        fields.decode(m, idx, KIND_BIT["syslog"])
        plen = fields.plen[idx]
        nxt = pad[starts[idx] + plen]
        done = plen > 0
        maybe = done & ((nxt == 0x5B) | (nxt == 0x3C))  # `[`, `<`: a kernel prefix may follow
        if maybe.any():
            done[maybe] = ~_match(full, idx[maybe], SYSLOG_KERNEL_TEST)
        fast = idx[done]
        if len(fast):
            prefix = pc.fill_null(m.field("prefix").filter(pa.array(done)), "")
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
        """`dmesg -T` C-locale lines with their own pattern first, the rest with OTHER."""
        b1 = pad[starts[idx] + 1]
        ctime = idx[(pad[starts[idx]] == 0x5B) & (b1 >= 65) & (b1 <= 90)]
        if len(ctime):
            fields.decode(_extract(full, ctime, CTIME_FAST), ctime)
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
        """Refine the `[`-lines matched with the printk time alone: `][` right after the time
        means a caller id follows; no time may be a caller id alone; a syslog tag after the
        time means journalctl -o short-monotonic."""
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
        buf: bytes, arr: np.ndarray, starts: np.ndarray, ends: np.ndarray, cr: np.ndarray,
        flags: np.ndarray,
    ) -> None:  # fmt: skip
        """NUL, ESC and inner CR bytes, found with memchr first (most chunks have none)."""
        for byte, name in ((b"\x00", "nul"), (b"\x1b", "ansi"), (b"\r", "cr")):
            if byte not in buf:
                continue
            pos = np.flatnonzero(arr == byte[0])
            rows = np.searchsorted(starts, pos, "right") - 1
            if name == "cr":  # the "\r" of a "\r\n" line end is not inside the line
                rows = rows[~(cr[rows] & (pos == ends[rows] - 1))]
            flags[rows] |= FLAG_BIT[name]
