"""Journal export stream (`journalctl -o export`) of a real /dev/kmsg capture, with the fields
systemd-journald gives kernel records.

The QEMU guest of tools/capture has no journal of its own that could be exported as JSON, so
the journal forms of a boot are made from its `kmsg` form: this script writes every record as
journald's `dev_kmsg_record()` (src/journal/journald-kmsg.c) stores it, then
`systemd-journal-remote` turns the stream into a journal file and the real `journalctl` prints
it in the wanted output mode (see sample_logs/README.md):

    python tools/journal_from_kmsg.py KMSG.log --boot-wall 2026-11-25T18:48:57 > x.export
    systemd-journal-remote -o x.journal - < x.export
    journalctl --file x.journal -o json > x.json       # also -o json-seq, -o export

Fields (journald's names): MESSAGE (the record text, `\\xNN` escapes undone as journald does
with cunescape), PRIORITY and SYSLOG_FACILITY (from the record's prefix), SYSLOG_IDENTIFIER
"kernel", _TRANSPORT "kernel", _SOURCE_MONOTONIC_TIMESTAMP (the record's usec),
_KERNEL_SUBSYSTEM and _KERNEL_DEVICE (from its SUBSYSTEM=/DEVICE= dictionary lines),
_HOSTNAME. What the capture does not hold is filled in and documented: _BOOT_ID and
_MACHINE_ID (fixed ids derived from the file name), __MONOTONIC_TIMESTAMP (journald's
reception time; here the record's own usec) and __REALTIME_TIMESTAMP (--boot-wall plus usec).
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

RECORD = re.compile(rb"^(\d+),(\d+),(\d+),[^;]*;(.*)$")
ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")


def _field(key: str, value: bytes) -> bytes:
    """One export-format field: `KEY=value\\n`, or binary-safe when the value holds a
    newline or other control bytes (journal-remote / journalctl's own rule)."""
    if all(b >= 0x20 or b == 0x09 for b in value):
        return key.encode() + b"=" + value + b"\n"
    return key.encode() + b"\n" + len(value).to_bytes(8, "little") + value + b"\n"


def records(data: bytes) -> list[tuple[int, int, bytes, dict[str, bytes]]]:
    """(prefix value, usec, text, dictionary) of every /dev/kmsg record."""
    out: list[tuple[int, int, bytes, dict[str, bytes]]] = []
    for line in data.split(b"\n"):
        if line.startswith(b" ") and out and b"=" in line:
            key, _, value = line[1:].partition(b"=")
            out[-1][3][key.decode()] = value
            continue
        m = RECORD.match(line)
        if m:
            text = ESCAPE.sub(lambda e: bytes([int(e[1], 16)]), m[4])
            out.append((int(m[1]), int(m[3]), text, {}))
    return out


def export(path: Path, boot_wall: datetime, host: str) -> bytes:
    data = path.read_bytes()
    if data.startswith(b"\xfd7zXZ"):
        data = lzma.decompress(data)
    name = path.name.split(".log")[0]
    boot_id = hashlib.md5(b"boot " + name.encode()).hexdigest()
    machine_id = hashlib.md5(b"machine qemu-guest").hexdigest()
    base = int(boot_wall.replace(tzinfo=UTC).timestamp()) * 1_000_000
    out = []
    for prefix, usec, text, info in records(data):
        fields = [
            ("__REALTIME_TIMESTAMP", str(base + usec).encode()),
            ("__MONOTONIC_TIMESTAMP", str(usec).encode()),
            ("_BOOT_ID", boot_id.encode()),
            ("_SOURCE_MONOTONIC_TIMESTAMP", str(usec).encode()),
            ("_TRANSPORT", b"kernel"),
            ("PRIORITY", str(prefix & 7).encode()),
            ("SYSLOG_FACILITY", str(prefix >> 3).encode()),
            ("SYSLOG_IDENTIFIER", b"kernel"),
        ]
        if "DEVICE" in info:
            fields.append(("_KERNEL_DEVICE", info["DEVICE"]))
        if "SUBSYSTEM" in info:
            fields.append(("_KERNEL_SUBSYSTEM", info["SUBSYSTEM"]))
        fields += [("MESSAGE", text), ("_MACHINE_ID", machine_id.encode()),
                   ("_HOSTNAME", host.encode())]  # fmt: skip
        out.append(b"".join(_field(k, v) for k, v in fields) + b"\n")
    return b"".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kmsg", type=Path, help="a /dev/kmsg capture (plain or .xz)")
    ap.add_argument("--boot-wall", required=True, help="wall clock at usec 0, ISO 8601 (UTC)")
    ap.add_argument("--host", default="qemu-guest", help="_HOSTNAME (default qemu-guest)")
    args = ap.parse_args()
    sys.stdout.buffer.write(export(args.kmsg, datetime.fromisoformat(args.boot_wall), args.host))


if __name__ == "__main__":
    main()
