"""`dmesg -J` (util-linux 2.38) output of a real /dev/kmsg capture.

util-linux reads /dev/kmsg and prints each record as JSON (sys-utils/dmesg.c print_record with
`ctl->json`, lib/jsonwrt.c): "pri" (facility << 3 | level), "time" (`%5ld.%06ld`), "caller"
(when the record has one, 2.39+), "msg" (the text with the kernel's `\\xNN` escapes undone),
pretty-printed with 3-space indents and objects joined by `},{`; records with an empty text are
left out. util-linux 2.38's `dmesg -F FILE -J` runs each message to the end of the file (it
writes the message up to a NUL), so a capture file cannot be fed to the real program; this
script applies the same rules. Checked byte for byte against the real `dmesg -J` of a live
kernel: `python tools/dmesg_json_from_kmsg.py --self-test` (reads /dev/kmsg; needs the right
to, as dmesg does).

    python tools/dmesg_json_from_kmsg.py KMSG.log > KMSG.dmesg-J.json
"""

from __future__ import annotations

import argparse
import errno
import lzma
import os
import re
import subprocess
import sys
from pathlib import Path

RECORD = re.compile(rb"^(\d+),(\d+),(\d+),[^;]*?(?:,caller=([TC]\d+))?[^;]*;(.*)$")
ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")
SHORT = {0x22: b'\\"', 0x5C: b"\\\\", 0x08: b"\\b", 0x0C: b"\\f", 0x0A: b"\\n", 0x0D: b"\\r",
         0x09: b"\\t"}  # fmt: skip


def quoted(text: bytes) -> bytes:
    """lib/jsonwrt.c fputs_quoted_json: short escapes, other control bytes as \\u00XX."""
    out = bytearray(b'"')
    for c in text:
        if c in SHORT:
            out += SHORT[c]
        elif c < 0x20 or c == 0x7F:
            out += b"\\u%04x" % c
        else:
            out.append(c)
    return bytes(out + b'"')


def dmesg_json(kmsg: bytes) -> bytes:
    objs = []
    for line in kmsg.split(b"\n"):
        m = RECORD.match(line)
        if not m:
            continue  # a ` KEY=value` dictionary line
        text = ESCAPE.sub(lambda e: bytes([int(e[1], 16)]), m[5])
        if not text:
            continue
        usec = int(m[3])
        obj = b'         "pri": %d,\n' % int(m[1])
        obj += b'         "time": %5d.%06d,\n' % (usec // 1_000_000, usec % 1_000_000)
        if m[4]:
            obj += b'         "caller": ' + quoted(m[4]) + b",\n"
        objs.append(obj + b'         "msg": ' + quoted(text) + b"\n")
    body = b"      },{\n".join(objs)
    return b'{\n   "dmesg": [\n      {\n' + body + b"      }\n   ]\n}\n" if objs else b""


def live_kmsg() -> bytes:
    """/dev/kmsg read until drained (O_NONBLOCK)."""
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    out = []
    try:
        while True:
            try:
                out.append(os.read(fd, 8192))
            except OSError as e:
                if e.errno == errno.EAGAIN:
                    return b"".join(out)
                if e.errno != errno.EPIPE:
                    raise
    finally:
        os.close(fd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kmsg", type=Path, nargs="?", help="a /dev/kmsg capture (plain or .xz)")
    ap.add_argument("--self-test", action="store_true", help="compare with the real dmesg -J")
    args = ap.parse_args()
    if args.self_test:
        mine = dmesg_json(live_kmsg())
        real = subprocess.run(["dmesg", "-J"], capture_output=True, check=True).stdout
        print("identical" if mine == real else "DIFFERENT", len(mine), len(real))
        sys.exit(mine != real)
    data = args.kmsg.read_bytes()
    sys.stdout.buffer.write(dmesg_json(lzma.decompress(data) if data[:5] == b"\xfd7zXZ" else data))


if __name__ == "__main__":
    main()
