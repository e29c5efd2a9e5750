"""The line stage: line-aligned chunks of bytes -> Arrow batches of the `lines` table.

This touches every byte of a capture, so it works on whole chunks with numpy and pyarrow
compute (RE2) and drops to Python only for rare lines (invalid UTF-8, escapes, wall clocks).
Every line becomes one row; `prefix + text + eol` (or `raw + eol` where `raw` is set) gives
back the original bytes exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .prefixes import KIND_PARTS, PREFIX_PATTERN, XLEVELS

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
)
FLAG_BIT = {name: 1 << i for i, name in enumerate(FLAG_NAMES)}
KIND_BIT = {name: 1 << i for i, name in enumerate((*KIND_PARTS, "kmsg_dict"))}

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

_MONTHS = {
    m: i + 1
    for names in (
        "jan feb mar apr may jun jul aug sep oct nov dec",
        "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.",
        "jän feb mär apr mai jun jul aug sep okt nov dez",
        "ene feb mar abr may jun jul ago sep oct nov dic",
        "gen feb mar apr mag giu lug ago set ott nov dic",
        "jan fev mar abr mai jun jul ago set out nov dez",
        "янв фев мар апр мая июн июл авг сен окт ноя дек",
        "sty lut mar kwi maj cze lip sie wrz paź lis gru",
    )
    for i, m in enumerate(names.split())
}
_MONTHS.update(
    {
        "janvier": 1, "février": 2, "avril": 4, "juillet": 7, "septembre": 9,
        "octobre": 10, "novembre": 11, "décembre": 12, "januar": 1, "februar": 2,
        "märz": 3, "juni": 6, "juli": 7, "oktober": 10, "dezember": 12,
    }
)  # fmt: skip
_CTIME_RE = re.compile(r"(\d{1,2}):(\d\d):(\d\d) (\d{4})")
_OCTAL_RE = re.compile(r"#([0-3][0-7]{2})")
_KMSG_ESC_RE = re.compile(r"\\x([0-9a-fA-F]{2})")


def _wall_from_ctime(s: str) -> datetime | None:
    """`Thu Oct 20 08:08:41 2016`, or localized (`dim. 19 avril 18:03:30 2026`)."""
    m = _CTIME_RE.search(s)
    if not m:
        return None
    words = s[: m.start()].lower().replace(",", " ").split()
    month = day = None
    for w in words:
        if w.isdigit():
            day = int(w)
        elif w in _MONTHS or w.rstrip(".") in _MONTHS:
            month = _MONTHS.get(w) or _MONTHS[w.rstrip(".")]
    if month is None or day is None:
        return None
    try:
        return datetime(int(m[4]), month, day, int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _wall_from_iso(s: str) -> datetime | None:
    try:
        return datetime.strptime(s[:19].replace(" ", "T"), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None


def _wall_from_syslog(s: str) -> datetime | None:
    # RFC 3164 has no year: 1900 stands for "unknown year" (documented in docs/tables.md)
    try:
        return datetime.strptime("1900 " + s, "%Y %b %d %H:%M:%S")
    except ValueError:
        return None


def _blank_to_null(a: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(a, ""), pa.scalar(None, a.type), a)


def _coalesce(*arrays: pa.Array) -> pa.Array:
    return pc.coalesce(*[_blank_to_null(a) for a in arrays])


def _np_bool(a: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(a, False).to_numpy(zero_copy_only=False), dtype=bool)


def _nonblank(a: pa.Array) -> np.ndarray:
    return _np_bool(pc.not_equal(a, ""))


def _bitmask_to_dictionary(mask: np.ndarray, names: dict[str, int], empty: str | None) -> pa.Array:
    uniq, inverse = np.unique(mask, return_inverse=True)
    labels = []
    for v in uniq.tolist():
        parts = [n for n, bit in names.items() if v & bit]
        labels.append("+".join(parts) if parts else empty)
    dictionary = pa.array(labels, pa.string())
    indices = pa.array(inverse.astype(np.int32))
    if empty is None:
        null_codes = [i for i, label in enumerate(labels) if label is None]
        if null_codes:
            indices = pc.if_else(pc.is_in(indices, pa.array(null_codes, pa.int32())), None, indices)
    return pa.DictionaryArray.from_arrays(indices, dictionary)


def _lines_from_bytes(buf: bytes, last: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (start, end, cr) byte positions of each line's content in buf."""
    arr = np.frombuffer(buf, np.uint8)
    nl = np.flatnonzero(arr == 10)
    ends = nl
    if last and (len(nl) == 0 or nl[-1] != len(buf) - 1) and len(buf) > 0:
        ends = np.append(nl, len(buf))
    starts = np.empty(len(ends), np.int64)
    if len(ends):
        starts[0] = 0
        starts[1:] = nl[: len(ends) - 1] + 1
    nonempty = ends > starts
    cr = np.zeros(len(ends), bool)
    cr[nonempty] = arr[ends[nonempty] - 1] == 13
    return starts, ends, cr


def _string_array(data: np.ndarray, lengths: np.ndarray) -> pa.StringArray:
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.LargeStringArray.from_buffers(
        len(lengths), pa.py_buffer(offsets), pa.py_buffer(data)
    ).cast(pa.string())


def _keep_ranges(total: int, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Boolean mask over [0, total) that is True inside [starts[i], stops[i])."""
    marks = np.zeros(total + 1, np.int32)
    np.add.at(marks, starts, 1)
    np.add.at(marks, stops, -1)
    return np.cumsum(marks[:-1]) > 0


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
        # A reboot shows as the clock going back to near zero; NMI and printk_safe lines can be
        # stamped slightly out of order, so small steps back are not a reboot.
        reset = has_ts & (ts < prev - 1.0) & (ts < prev * 0.5)
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
    prev_kmsg: bool = False

    def start_source(self, source: str) -> None:
        self.boots.new_source(source, 1)
        self.source = source
        self.next_line_no = 1
        self.prev_kmsg = False

    def batch(self, buf: bytes, last: bool, truncated: bool = False) -> pa.RecordBatch:
        starts, ends, cr = _lines_from_bytes(buf, last)
        n = len(starts)
        content_end = ends - cr
        lengths = content_end - starts
        arr = np.frombuffer(buf, np.uint8)
        keep = _keep_ranges(len(buf), starts, content_end) if n else np.zeros(0, bool)
        data = arr[keep]
        content = _string_array(data, lengths)
        flags = np.zeros(n, np.int32)
        raw: list[bytes | None] | None = None
        try:
            content.validate(full=True)
        except pa.ArrowInvalid:
            content, raw, bad = self._repair_utf8(buf, starts, content_end)
            flags[bad] |= FLAG_BIT["invalid-utf8"]
            data = np.frombuffer(b"".join(s.encode() for s in content.to_pylist()), np.uint8)
            lengths = pc.binary_length(content).to_numpy().astype(np.int64)

        m = pc.extract_regex(content, PREFIX_PATTERN)
        g = {name: m.field(name) for name in (f.name for f in m.type)}
        plen = pc.binary_length(g["prefix"]).to_numpy().astype(np.int64)
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        text_keep = _keep_ranges(len(data), offsets[:-1] + plen, offsets[1:]) if n else keep[:0]
        text = _string_array(data[text_keep], lengths - plen)
        prefix = g["prefix"]

        kinds = np.zeros(n, np.int32)
        present = {
            "dropped": g["ndrop"], "rfc5424": g["pri5424"], "syslog": g["mon"],
            "syslog_iso": g["iso"], "journal_full": g["full"], "journal_mono": g["mono"],
            "kmsg": g["kprio"], "dmesg_ctime": g["ctime"], "dmesg_iso": g["dmiso"],
            "dmesg_x": g["xfac"], "level": g["lvl"], "time": g["ts"],
        }  # fmt: skip
        for part, col in present.items():
            kinds[_nonblank(col)] |= KIND_BIT[part]
        kinds[_nonblank(g["caller"]) | _nonblank(g["caller2"])] |= KIND_BIT["caller"]

        ts = pc.cast(_coalesce(g["ts"], g["mono"]), pa.float64())
        kusec = pc.cast(_blank_to_null(g["kusec"]), pa.float64())
        ts = pc.coalesce(ts, pc.divide(kusec, 1e6)).to_numpy(zero_copy_only=False)
        ts = np.asarray(ts, dtype=np.float64)

        level = pc.coalesce(
            pc.cast(_blank_to_null(g["lvl"]), pa.int32()),
            pc.cast(_blank_to_null(g["kprio"]), pa.int32()),
            pc.cast(_blank_to_null(g["pri5424"]), pa.int32()),
        )
        level = pc.bit_wise_and(level, 7)
        xl = _blank_to_null(g["xlvl"])
        if xl.null_count < n:
            xmap = pc.index_in(xl, pa.array(list(XLEVELS)))
            level = pc.coalesce(level, xmap)
        level = pc.cast(level, pa.int8())

        caller = _coalesce(g["caller"], g["caller2"], g["kcaller"])
        host = _coalesce(g["host"], g["isohost"], g["fullhost"], g["monohost"], g["host5424"])
        ident = _coalesce(g["ident"], g["isoident"], g["fullident"], g["monoident"], g["app5424"])
        nonkernel = _np_bool(pc.invert(pc.starts_with(ident, "kernel")))
        flags[nonkernel] |= FLAG_BIT["non-kernel"]

        wall = self._wall(g, n)
        dropped = pc.cast(_blank_to_null(g["ndrop"]), pa.int64())
        dropped_np = _nonblank(g["ndrop"])
        if dropped_np.any():
            # A marker alone on its line is the message itself, not a prefix.
            alone = dropped_np & (lengths - plen == 0)
            flags[dropped_np & ~alone] |= FLAG_BIT["dropped-before"]
            if alone.any():
                alone_a = pa.array(alone)
                text = pc.if_else(alone_a, prefix, text)
                prefix = pc.if_else(alone_a, "", prefix)
                kinds[alone] &= ~KIND_BIT["dropped"]
        kmsg_seq = pc.cast(_blank_to_null(g["kseq"]), pa.int64())

        is_kmsg = (kinds & KIND_BIT["kmsg"]) != 0
        text_list: list[str] | None = None

        def texts() -> list[str]:
            nonlocal text_list
            if text_list is None:
                text_list = text.to_pylist()
            return text_list

        changed: dict[int, str] = {}
        if is_kmsg.any() or self.prev_kmsg:
            dict_cand = np.flatnonzero(
                _np_bool(pc.match_substring_regex(text, r"^ [A-Z][A-Z0-9_]*=")) & (plen == 0)
            )
            prev = self.prev_kmsg
            cand_set = set(dict_cand.tolist())
            for i in dict_cand.tolist():
                p = (
                    is_kmsg[i - 1] or (i - 1 in cand_set and kinds[i - 1] & KIND_BIT["kmsg_dict"])
                    if i
                    else prev
                )
                if p:
                    kinds[i] |= KIND_BIT["kmsg_dict"]
                    flags[i] |= FLAG_BIT["kmsg-dict"]
            esc = np.flatnonzero(is_kmsg & _np_bool(pc.match_substring(text, "\\x")))
            for i in esc.tolist():
                changed[i] = _KMSG_ESC_RE.sub(lambda mm: chr(int(mm[1], 16)), texts()[i])
                flags[i] |= FLAG_BIT["kmsg-escaped"]
            if n:
                self.prev_kmsg = bool(is_kmsg[-1] or kinds[-1] & KIND_BIT["kmsg_dict"])
        syslogish = (
            kinds & (KIND_BIT["syslog"] | KIND_BIT["syslog_iso"] | KIND_BIT["rfc5424"])
        ) != 0
        if syslogish.any():
            octal = np.flatnonzero(
                syslogish & _np_bool(pc.match_substring_regex(text, r"#[0-3][0-7][0-7]"))
            )
            for i in octal.tolist():
                changed[i] = _OCTAL_RE.sub(lambda mm: chr(int(mm[1], 8)), texts()[i])
                flags[i] |= FLAG_BIT["syslog-escaped"]
        if changed:
            if raw is None:
                raw = [None] * n
            tl = texts()
            for i, new in changed.items():
                if raw[i] is None:
                    raw[i] = buf[starts[i] : content_end[i]]
                tl[i] = new
            text = pa.array(tl, pa.string())

        for name, needle in (("nul", "\x00"), ("ansi", "\x1b"), ("cr", "\r")):
            hit = _np_bool(pc.match_substring(content, needle))
            flags[hit] |= FLAG_BIT[name]
        flags[lengths > LONG_LINE] |= FLAG_BIT["long"]
        if n and last:
            if not (len(buf) and buf.endswith(b"\n")):
                flags[-1] |= FLAG_BIT["no-eol"]
            if truncated:
                flags[-1] |= FLAG_BIT["truncated"]

        line_no = np.arange(self.next_line_no, self.next_line_no + n, dtype=np.int64)
        self.next_line_no += n
        banner = _np_bool(pc.starts_with(text, "Linux version "))
        jboot = _np_bool(pc.match_substring_regex(text, r"^-- (?:Boot [0-9a-f]{32}|Reboot) --$"))
        boot = self.boots.assign(self.source, line_no, ts, banner, jboot)

        eol_idx = np.where(cr, 1, 0).astype(np.int8)
        if n and last and not buf.endswith(b"\n"):
            eol_idx[-1] = 2
        source_arr = pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(n, np.int32)), pa.array([self.source], pa.string())
        )
        cols = [
            pa.array(line_no),
            source_arr,
            pa.array(boot),
            pa.array(ts),
            wall,
            host,
            caller,
            level,
            _bitmask_to_dictionary(kinds, KIND_BIT, "none"),
            prefix,
            text,
            pa.DictionaryArray.from_arrays(pa.array(eol_idx), EOL_VALUES),
            _bitmask_to_dictionary(flags, FLAG_BIT, None),
            dropped,
            kmsg_seq,
            pa.array(raw, pa.binary()) if raw is not None else pa.nulls(n, pa.binary()),
        ]
        return pa.RecordBatch.from_arrays(cols, schema=LINES_SCHEMA)

    @staticmethod
    def _repair_utf8(
        buf: bytes, starts: np.ndarray, ends: np.ndarray
    ) -> tuple[pa.StringArray, list[bytes | None], np.ndarray]:
        texts: list[str] = []
        raw: list[bytes | None] = []
        bad = np.zeros(len(starts), bool)
        for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            b = buf[s:e]
            try:
                texts.append(b.decode("utf-8"))
                raw.append(None)
            except UnicodeDecodeError:
                texts.append(b.decode("utf-8", "backslashreplace"))
                raw.append(b)
                bad[i] = True
        return pa.array(texts, pa.string()), raw, bad

    @staticmethod
    def _wall(g: dict[str, pa.Array], n: int) -> pa.Array:
        """Wall-clock time as printed (no time zone applied); parsed once per distinct second."""
        out = pa.nulls(n, pa.timestamp("us"))
        forms = (
            ("mon", _wall_from_syslog, g["frac"]),
            ("iso", _wall_from_iso, g["isofrac"]),
            ("full", _wall_from_iso, g["fullfrac"]),
            ("ctime", _wall_from_ctime, None),
            ("dmiso", _wall_from_iso, g["dmisofrac"]),
            (
                "iso5424",
                _wall_from_iso,
                pc.extract_regex(g["iso5424"], r"^.{19}(?P<f>[.,]\d+)?").field("f"),
            ),
        )
        for key, parse, frac_col in forms:
            col = g[key]
            if key == "mon":
                col = pc.binary_join_element_wise(g["mon"], g["day"], g["hms"], " ")
            present = _nonblank(g[key])
            if not present.any():
                continue
            uniq = pc.unique(col)
            parsed = pa.array(
                [parse(s) if s else None for s in uniq.to_pylist()], pa.timestamp("us")
            )
            vals = pc.take(parsed, pc.index_in(col, uniq))
            if frac_col is not None:
                frac = pc.cast(
                    _blank_to_null(pc.replace_substring(frac_col, ",", ".")), pa.float64()
                )
                micros = pc.cast(pc.round(pc.multiply(pc.fill_null(frac, 0.0), 1e6)), pa.int64())
                vals = pc.add(vals, pc.cast(micros, pa.duration("us")))
            out = pc.if_else(pa.array(present), vals, out)
        return out
