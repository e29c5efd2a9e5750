"""Redaction: replace what must not be published (host names, IP and MAC addresses, user names
in paths, container ids, machine ids, command-line secrets; with `comm`, process names) by
stable pseudonyms, in every string cell of the output tables.

It runs on the finished tables (and on each `lines` batch as it streams out), never before
parsing or analysis, so pids, classes, outcomes and counts are those of the original capture.
One `Redactor` per run: the same original gets the same pseudonym in every table and line.
Pseudonyms (docs/outputs.md, "Redaction"): `host-1`, `192.0.2.1` (RFC 5737 documentation
ranges, then 198.18.0.0/15), `2001:db8::1` (RFC 3849), `02:00:00:00:00:01` (locally
administered), `user-1`, `container-1`, `pod-1`, `machine-1`, `secret-1`, `comm-1`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stalllog.output import redact_rules as R

CATEGORIES = ("host", "ipv4", "ipv6", "mac", "user", "container", "pod", "machine", "secret",
              "comm")  # fmt: skip
# never written to the map file: a secret is not to be kept, not even privately
NOT_MAPPED = frozenset({"secret"})
# string columns that are never rewritten: kernel releases look like IPv4 addresses
# (`2.6.32.1`), and the rest are stalllog's own vocabulary
KEPT = frozenset({"release", "prefix_kind", "eol", "flags"})
TEXT_TABLES = frozenset({"lines", "unparsed"})  # kernel text, where comm contexts apply
_DOC_V4 = ("192.0.2.", "198.51.100.", "203.0.113.")


def _ipv4(n: int) -> str:
    i = n - 1
    if i < 254 * len(_DOC_V4):
        return f"{_DOC_V4[i // 254]}{i % 254 + 1}"
    j = i - 254 * len(_DOC_V4)  # RFC 2544 benchmarking range: 131072 more
    return f"198.{18 + j // 65536}.{j // 256 % 256}.{j % 256}"


def _pseudonym(category: str, n: int) -> str:
    if category == "ipv4":
        return _ipv4(n)
    if category == "ipv6":
        return f"2001:db8::{n:x}"
    if category == "mac":
        return f"02:00:00:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}"
    return f"{category}-{n}"


@dataclass
class RedactionStats:
    """What a run replaced: occurrences per category and how many distinct originals."""

    comm: bool
    replaced: dict[str, int] = field(default_factory=dict)
    distinct: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"comm": self.comm, "replaced": self.replaced, "distinct": self.distinct}


def is_kernel_thread(comm: str) -> bool:
    return R.KERNEL_THREAD.fullmatch(comm) is not None


class Redactor:
    def __init__(self, comm: bool = False) -> None:
        self.comm = comm
        self.maps: dict[str, dict[str, str]] = {c: {} for c in CATEGORIES}
        self.replaced: Counter[str] = Counter()
        self._weight = 1  # occurrences of the cell being rewritten
        self._hosts: re.Pattern[str] | None = None
        self._host_trigger = ""
        self._comms: tuple[re.Pattern[str], re.Pattern[str]] | None = None

    def _new(self, category: str) -> str:
        """The next pseudonym of a category (a host's FQDN shares its host's: not counted)."""
        m = self.maps[category]
        return _pseudonym(category, (len(set(m.values())) if category == "host" else len(m)) + 1)

    def _host_alias(self, original: str) -> None:
        """An FQDN and its host's short name are one machine: the one seen second takes the
        pseudonym of the one seen first (`web1` and `web1.example.com` both `host-1`)."""
        m = self.maps["host"]
        if original in m:
            return
        short = original.split(".", 1)[0]
        if "." in original and short in m:
            m[original] = m[short]
        else:
            fqdn = next((k for k in m if k.startswith(original + ".")), None)
            if fqdn is not None:
                m[original] = m[fqdn]
        if original in m:
            self._hosts = None

    def name(self, category: str, original: str) -> str:
        """The pseudonym of `original`, counted as one replacement."""
        if category == "host":
            self._host_alias(original)
        m = self.maps[category]
        p = m.get(original)
        if p is None:
            p = m[original] = self._new(category)
            if category == "host":
                self._hosts = None
            elif category == "comm":
                self._comms = None
        self.replaced[category] += self._weight
        return p

    def stats(self) -> RedactionStats:
        return RedactionStats(
            self.comm,
            {c: self.replaced[c] for c in CATEGORIES if self.replaced[c]},
            {c: len(self.maps[c]) for c in CATEGORIES if self.maps[c]},
        )

    def mapping(self) -> dict[str, dict[str, str]]:
        """pseudonym -> original per category, secrets left out (for --redact-map)."""
        out: dict[str, dict[str, str]] = {}
        for c, m in self.maps.items():
            if m and c not in NOT_MAPPED:
                for o, p in m.items():  # a host's FQDN beside its short name
                    out.setdefault(c, {})[p] = f"{out[c][p]} {o}" if p in out.get(c, {}) else o
        return out

    # -- single values ------------------------------------------------------------------

    def host(self, value: str) -> str:
        if not any(c.isalnum() for c in value):  # RFC 5424's `-`: no host, nothing to hide
            return value
        if R.IPV4.fullmatch(value):
            return self.name("ipv4", value)
        if R.IPV6.fullmatch(value) and ":" in value:
            return self.name("ipv6", value)
        return self.name("host", value)

    def comm_name(self, value: str) -> str:
        return value if not value or is_kernel_thread(value) else self.name("comm", value)

    def learn_hosts(self, values: Iterable[str | None]) -> None:
        m = self.maps["host"]
        for v in values:
            if v and v not in m and _is_host_name(v):
                self._host_alias(v)
                if v not in m:
                    m[v] = self._new("host")
                self._hosts = None

    def learn_comms(self, values: Iterable[str | None]) -> None:
        m = self.maps["comm"]
        for v in values:
            if v and v not in m and not is_kernel_thread(v):
                m[v] = self._new("comm")
                self._comms = None

    def cmdline(self, value: str) -> str:
        """Values of secret keys; host names in `ip=`, `nfsroot=`, `hostname=`. Addresses
        and user names are left to text(), which runs after it."""
        return re.sub(r"(?<!\S)([\w.\-]+)=(\S*)", self._cmdline_arg, value)

    def _cmdline_arg(self, m: re.Match[str]) -> str:
        key, value = m.group(1), m.group(2)
        if not value:
            return m.group(0)
        last = key.rsplit(".", 1)[-1].lower()
        if R.SECRET_KEY.search(key) and last not in R.NOT_SECRET_KEYS:
            return f"{key}={self.name('secret', value)}"
        if last == "ip":  # client:server:gw:netmask:HOSTNAME:device:autoconf...
            fields = value.split(":")
            if len(fields) > 4 and fields[4]:
                fields[4] = self._host_name(fields[4])
            return f"{key}={':'.join(fields)}"
        if last == "nfsroot" and ":" in value:
            server, rest = value.split(":", 1)
            return f"{key}={self._host_name(server)}:{rest}"
        if last == "hostname":
            return f"{key}={self._host_name(value)}"
        return m.group(0)

    def _host_name(self, value: str) -> str:
        is_address = R.IPV4.fullmatch(value) or (":" in value and R.IPV6.fullmatch(value))
        return value if is_address else self.name("host", value)

    # -- free text -----------------------------------------------------------------------

    def text(self, s: str) -> str:
        """Every rule but process names, in an order where no pseudonym is rewritten. The
        `in` tests skip rules that cannot match (most cells match none)."""
        if "_HOSTNAME" in s:
            for m in R.HOSTNAME_FIELD.finditer(s):
                self.learn_hosts([m.group(1)])
        if "ommand line: " in s:
            s = R.CMDLINE.sub(lambda m: m.group(1) + self.cmdline(m.group(2)), s)
        if "_MACHINE_ID" in s:
            s = R.MACHINE.sub(lambda m: m.group(1) + self.name("machine", m.group(2).lower()), s)
        if "@" in s:
            s = R.EMAIL.sub(self._email, s)
        if "/home/" in s or "/Users/" in s:
            s = R.HOME.sub(lambda m: m.group(1) + self.name("user", m.group(2)), s)
        if R.HEX64.search(s):
            s = R.CONTAINER.sub(lambda m: self.name("container", m.group(0)), s)
        if "pod" in s:
            s = R.POD.sub(lambda m: self.name("pod", m.group(0)), s)
        if ":" in s or "-" in s:
            s = R.MAC.sub(lambda m: self.name("mac", m.group(0).lower()), s)
        if "::" in s or s.count(":") >= 7:
            s = R.IPV6.sub(self._ipv6, s)
        if R.DOTTED.search(s):
            s = R.IPV4.sub(self._ipv4, s)
        if "." in s:  # after the mail rule: `user@host.example.org` is one user and host
            s = R.FQDN.sub(self._fqdn, s)
        hosts = self._host_pattern()
        if hosts is not None:
            s = hosts.sub(lambda m: self.name("host", m.group(0)), s)
        return s

    def _email(self, m: re.Match[str]) -> str:
        return f"{self.name('user', m.group(1))}@{self.name('host', m.group(2))}"

    def _fqdn(self, m: re.Match[str]) -> str:
        if m.group(1).lower() not in R.FQDN_TLDS:
            return m.group(0)  # `foo.isra`, `system.slice`, `vmscan.c`: no host name
        return self.name("host", m.group(0))

    def _ipv6(self, m: re.Match[str]) -> str:
        a = m.group(0)
        hexdigits = sum(c in "0123456789abcdefABCDEF" for c in a)
        if ("::" not in a and a.count(":") != 7) or hexdigits < 4 or a.startswith("2001:db8:"):
            return a
        return self.name("ipv6", a.lower())

    def _ipv4(self, m: re.Match[str]) -> str:
        a = m.group(0)
        release = R.RELEASE_AFTER.match(m.string, m.end()) or m.string.endswith(
            "Linux version ", 0, m.start()
        )
        if release or any(int(x) > 255 for x in a.split(".")):
            return a
        return self.name("ipv4", a)

    def _host_pattern(self) -> re.Pattern[str] | None:
        if self._hosts is None and self.maps["host"]:
            names = sorted(self.maps["host"], key=len, reverse=True)
            alt = "|".join(re.escape(h) for h in names)
            self._hosts = re.compile(rf"(?<![\w.\-])(?:{alt})(?![\w\-])")
            self._host_trigger = alt
        return self._hosts

    def trigger(self, comm_text: bool) -> str:
        """RE2 pattern of the cells text() (and comm_text()) may change."""
        self._host_pattern()
        parts = [R.TRIGGER]
        if self._host_trigger:
            parts.append(self._host_trigger)
        if self.comm and comm_text:
            parts.append(R.COMM_TRIGGER)
            if self.maps["comm"]:
                parts.append(r"\(\d|victim ")
        return "|".join(parts)

    def comm_text(self, s: str, kernel_text: bool) -> str:
        """Process names where the kernel (or stalllog, as `comm(pid)`) prints them."""
        s = self.text(s)
        if not self.comm:
            return s
        if kernel_text:
            for pattern in R.COMM_CONTEXTS:
                s = pattern.sub(self._comm_in_context, s)
        else:
            named = self._comm_patterns()[1]
            if named is not None:
                s = named.sub(lambda m: self.name("comm", m[0]), s)
        return s

    def _comm_in_context(self, m: re.Match[str]) -> str:
        start, end = m.span("comm")
        whole = m.group(0)
        base = m.start()
        return whole[: start - base] + self.comm_name(m.group("comm")) + whole[end - base :]

    # -- columns and tables ------------------------------------------------------------

    def column(self, arr: pa.Array | pa.ChunkedArray, fn: Callable[[str], str],
               trigger: str | None) -> pa.Array | pa.ChunkedArray:  # fmt: skip
        """`fn` over the distinct cells the RE2 `trigger` matches (all cells when None)."""
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        if trigger is None:
            mask = pc.is_valid(arr)
        else:
            mask = pc.fill_null(pc.match_substring_regex(arr, trigger), False)
        if not pc.any(mask).as_py():
            return arr
        chosen = arr.filter(mask)
        counts = pc.value_counts(chosen)
        new = {}
        for value, count in zip(counts.field("values").to_pylist(),
                                counts.field("counts").to_pylist(), strict=True):  # fmt: skip
            self._weight = count
            new[value] = fn(value)
        self._weight = 1
        replacements = pa.array([new[v] for v in chosen.to_pylist()], arr.type)
        return pc.replace_with_mask(arr, mask, replacements)

    def binary(self, arr: pa.Array | pa.ChunkedArray, fn: Callable[[str], str]) -> pa.Array:
        """`raw` bytes (invalid UTF-8 kept as is) through `fn`."""
        out: list[bytes | None] = [
            None
            if b is None
            else fn(b.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
            for b in arr.to_pylist()
        ]
        return pa.array(out, arr.type)

    def _comm_patterns(self) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
        """Known process names: as words (in `raw`, beside the line's text that named
        them), and where stalllog's analysis text names a task (`comm(pid)`, `victim comm
        held`)."""
        if self._comms is None and self.maps["comm"]:
            alt = "|".join(re.escape(c) for c in sorted(self.maps["comm"], key=len, reverse=True))
            self._comms = (
                re.compile(rf"(?<![\w.\-])(?:{alt})(?![\w\-])"),
                re.compile(rf"(?<![\w.\-])(?:{alt})(?=\(\d+\))|(?<=victim )(?:{alt})(?= held )"),
            )
        return self._comms or (None, None)

    def _known_comms(self, s: str) -> str:
        words = self._comm_patterns()[0]
        return s if words is None else words.sub(lambda m: self.name("comm", m[0]), s)

    def _fn(self, table: str, column: str) -> Callable[[str], str] | None:
        """How a string column is rewritten; None: kept."""
        if column in KEPT:
            return None
        if column == "host":
            return self.host
        if column == "cmdline":
            return lambda s: self.text(self.cmdline(s))
        if self.comm and _is_comm_column(table, column):
            return lambda s: self.comm_name(self.text(s))
        if self.comm and column == "pids":
            return lambda s: ",".join(self.comm_name(p) if not p.isdigit() else p
                                      for p in self.text(s).split(","))  # fmt: skip
        kernel_text = table in TEXT_TABLES
        return lambda s: self.comm_text(s, kernel_text)

    def table(self, name: str, t: pa.Table | pa.RecordBatch) -> pa.Table | pa.RecordBatch:
        """One table (or `lines` batch) with every string cell rewritten."""
        if "host" in t.column_names:
            self.learn_hosts(pc.unique(t.column("host")).to_pylist())
        cols: dict[str, Any] = {}
        # the text of a line comes before its raw bytes: the names it holds are then known
        order = sorted(t.column_names, key=lambda c: c == "raw")
        for column in order:
            arr = t.column(column)
            typ = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
            fn = self._fn(name, column)
            if fn is None or not (
                pa.types.is_string(typ)
                or pa.types.is_large_string(typ)
                or pa.types.is_binary(typ)
                or pa.types.is_large_binary(typ)
            ):
                cols[column] = arr
            elif pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
                cols[column] = self.binary(arr, self._raw)
            else:
                exact = fn == self.host or (self.comm and _is_comm_column(name, column))
                trigger = None if exact else self.trigger(comm_text=name in TEXT_TABLES
                                                          or self.comm)  # fmt: skip
                cols[column] = self.column(arr, fn, trigger)
        if isinstance(t, pa.RecordBatch):
            return pa.RecordBatch.from_arrays([cols[c] for c in t.column_names], t.column_names)
        return pa.table([cols[c] for c in t.column_names], names=t.column_names)

    def batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """One streamed `lines` batch."""
        out = self.table("lines", batch)
        assert isinstance(out, pa.RecordBatch)
        return out

    def inputs(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The manifest's `inputs` with their names redacted like the `source` column."""
        return [{**r, "name": self.text(r["name"])} if r.get("name") else r for r in records]

    def _raw(self, s: str) -> str:
        s = self.text(s)
        return self._known_comms(s) if self.comm else s

    def tables(self, tables: Mapping[str, pa.Table]) -> dict[str, pa.Table]:
        """Every table; names in any table's host and comm columns are known before the
        first cell is rewritten, so free text anywhere gets their pseudonyms."""
        for t in tables.values():
            if "host" in t.column_names:
                self.learn_hosts(pc.unique(t.column("host")).to_pylist())
        if self.comm:
            for name, t in tables.items():
                for column in t.column_names:
                    if _is_comm_column(name, column):
                        self.learn_comms(sorted(set(t.column(column).to_pylist()) - {None}))
        out = {}
        for name, t in tables.items():
            redacted = self.table(name, t)
            assert isinstance(redacted, pa.Table)
            out[name] = redacted
        return out


def scan_hosts(path: Path) -> set[str]:
    """The host names of a capture file's syslog/journal prefixes, read once before the parse
    (compressed files too). Streamed `lines` batches are rewritten as they come: without
    this, a host named in a message before its own first line would be missed."""
    from stalllog.input.reader import open_source

    found: set[bytes] = set()
    opened = open_source(path)
    try:
        rest = b""
        while chunk := opened.stream.read(1 << 20):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                m = R.HOST_PREFIX.match(line)
                if m:
                    found.add(m.group(1) or m.group(2))
                elif b"_HOSTNAME" in line:
                    found.update(R.HOST_FIELD.findall(line))
        m = R.HOST_PREFIX.match(rest)
        if m:
            found.add(m.group(1) or m.group(2))
    finally:
        opened.stream.close()
    return {h.decode("utf-8", "replace") for h in found} - {"-"}


def _is_host_name(value: str) -> bool:
    """A name to look for in text: not an address (those have their own rules), and with a
    letter or digit (a `-` would replace every dash)."""
    address = R.IPV4.fullmatch(value) or (":" in value and R.IPV6.fullmatch(value))
    return not address and any(c.isalnum() for c in value)


def _is_comm_column(table: str, column: str) -> bool:
    return column == "comm" or column.endswith("_comm") or (table, column) == ("oom_tasks", "name")


def redact_tables(
    tables: Mapping[str, pa.Table], comm: bool = False, redactor: Redactor | None = None
) -> tuple[dict[str, pa.Table], RedactionStats]:
    """Every table with its string cells redacted, and what was replaced. Give the run's
    `redactor` when some tables (a streamed `lines`) went through it already."""
    r = redactor or Redactor(comm)
    out = r.tables(tables)
    return out, r.stats()


def write_map(path: Path, redactor: Redactor) -> None:
    """The pseudonym -> original mapping as JSON, mode 0600, replacing `path` atomically."""
    data = json.dumps({"mapping": redactor.mapping(), "note": "private: do not share"}, indent=1)
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
