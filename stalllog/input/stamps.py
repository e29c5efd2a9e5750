"""The wall-clock part of the line stage's per-line fields (lines.py `_Fields`): stamps to
µs, each distinct second parsed once, and the UTC offsets ISO stamps carry (clock.py turns
them into `wall_utc`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stalllog.input.fixed import slices
from stalllog.input.walls import wall_from_ctime, wall_from_iso, wall_from_syslog

_EPOCH = datetime(1970, 1, 1)
_ONE_US = datetime(1970, 1, 1, 0, 0, 0, 1) - _EPOCH


def _blank_to_null(a: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(a, ""), pa.scalar(None, a.type), a)


def _np_bool(a: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(a, False).to_numpy(zero_copy_only=False), dtype=bool)


def _nonblank(a: pa.Array) -> np.ndarray:
    return _np_bool(pc.not_equal(a, ""))


_ISO_OFFSET = r"(?P<z>Z)$|(?P<sign>[+-])(?P<h>\d\d):?(?P<m>\d\d)$"
# strftime's %Z of a zone without an abbreviation: `+0330`, `-04`
_ZONE_OFFSET = r"^(?P<z>Z)$|^(?P<sign>[+-])(?P<h>\d\d)(?P<m>\d\d)?$"


class WallFields:
    """`wall` (µs since 1970, as printed) and `off` (s east of UTC, where the stamp says)."""

    wall: np.ndarray
    wall_ok: np.ndarray
    off: np.ndarray
    off_ok: np.ndarray

    def set_walls(
        self, rows: np.ndarray, read: tuple[np.ndarray, np.ndarray], pad: np.ndarray,
        at: np.ndarray, width: int, parse: Callable[[str], datetime | None],
    ) -> None:  # fmt: skip
        """Wall clocks read from the bytes (fixed.py: µs, certain); the stamps (`width` bytes
        from `at`) not certainly valid are parsed one by one as before."""
        micros, certain = read
        self.wall[rows[certain]] = micros[certain]
        self.wall_ok[rows[certain]] = True
        unsure = ~certain
        if unsure.any():
            key = slices(pad, at[unsure], np.full(int(unsure.sum()), width))
            self.wall_of(rows[unsure], key, key, parse, None)

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

    def rfc5424(self, idx: np.ndarray, stamps: pa.Array) -> None:
        """RFC 5424 TIMESTAMP (`2026-11-25T18:50:34.123+01:00`, `Z`): wall and offset."""
        parts = pc.extract_regex(stamps, r"^(?P<s>.{19})(?P<f>[.,]\d+)?")
        s, f = parts.flatten()
        self.wall_of(idx, stamps, s, wall_from_iso, f)
        self.offset_of(idx, stamps)

    def walls(self, idx: np.ndarray, g: dict[str, pa.Array]) -> None:
        """Wall clocks and UTC offsets of the prefix groups `g` (named as in prefixes.py)."""
        if "mon" in g:
            key = pc.binary_join_element_wise(g["mon"], g["day"], g["hms"], " ")
            self.wall_of(idx, g["mon"], key, wall_from_syslog, g["frac"])
        for key_name, frac_name, parse, tz in (
            ("iso", "isofrac", wall_from_iso, "isotz"),
            ("dmiso", "dmisofrac", wall_from_iso, "dmisotz"),
            ("full", "fullfrac", wall_from_iso, None),
            ("ctime", None, wall_from_ctime, None),
        ):
            if key_name in g:
                frac = g[frac_name] if frac_name else None
                self.wall_of(idx, g[key_name], g[key_name], parse, frac)
                if tz:
                    self.offset_of(idx, g[tz])
        if "fullzone" in g:
            self.zone_of(idx, g["fullzone"])
        if "iso5424" in g:
            self.rfc5424(idx, g["iso5424"])

    def zone_of(self, idx: np.ndarray, zones: pa.Array) -> None:
        """The UTC offset that `journalctl -o short-full`'s zone names for sure: UTC/GMT, or
        the `+0330`/`-04` strftime prints for a zone without an abbreviation. Other
        abbreviations (IST: India, Ireland or Israel) are left to `--tz`."""
        utc = pc.fill_null(pc.is_in(zones, pa.array(["UTC", "GMT", "UT"])), False)
        self.offset_of(idx, pc.if_else(utc, "Z", zones), _ZONE_OFFSET)

    def offset_of(self, idx: np.ndarray, stamps: pa.Array, pattern: str = _ISO_OFFSET) -> None:
        """The UTC offset at the end of ISO stamps (`Z`, `+03:00`, `-0530`)."""
        m = pc.extract_regex(stamps, pattern)
        found = _np_bool(m.is_valid())
        if not found.any():
            return
        sign, h, mi = (pc.fill_null(m.field(k), "") for k in ("sign", "h", "m"))  # `Z`: all ""
        secs = pc.add(
            pc.multiply(pc.cast(pc.if_else(pc.equal(h, ""), "0", h), pa.int32()), 3600),
            pc.multiply(pc.cast(pc.if_else(pc.equal(mi, ""), "0", mi), pa.int32()), 60),
        )
        secs = pc.if_else(pc.equal(sign, "-"), pc.negate(secs), secs)
        rows = idx[found]
        self.off[rows] = secs.to_numpy(zero_copy_only=False)[found]
        self.off_ok[rows] = True
