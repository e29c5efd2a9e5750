#!/usr/bin/env python3
"""Reassemble a makedumpfile "flattened" dump into a plain kdump-compressed file.

    python3 tools/vmcore/unflatten.py FLAT OUT

QEMU before 8.2 writes its kdump-* formats of `dump-guest-memory` in makedumpfile's flattened
format (a stream of (offset, size, data) records, so that it can go down a pipe). drgn reads it
but warns and must index it on every open; `makedumpfile -R OUT < FLAT` does the same job as
this script. Format (makedumpfile's makedumpfile.h): a 4096-byte header starting with
"makedumpfile\\0", big-endian int64 type and version (1, 1); then records of big-endian int64
offset and int64 size followed by size bytes; offset = size = -1 ends the stream.
"""

from __future__ import annotations

import struct
import sys

HEADER_SIZE = 4096
SIGNATURE = b"makedumpfile\0"


def unflatten(src: str, dst: str) -> int:
    """Write the records of flattened file SRC at their offsets in DST; return DST's size."""
    end = 0
    with open(src, "rb") as f, open(dst, "wb") as out:
        head = f.read(HEADER_SIZE)
        if not head.startswith(SIGNATURE):
            raise ValueError(f"{src}: not a makedumpfile flattened file")
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                raise ValueError(f"{src}: truncated (no end record)")
            off, size = struct.unpack(">qq", rec)
            if off == -1 and size == -1:
                break
            if off < 0 or size < 0:
                raise ValueError(f"{src}: bad record offset={off} size={size}")
            data = f.read(size)
            if len(data) != size:
                raise ValueError(f"{src}: truncated record at offset {off}")
            out.seek(off)
            out.write(data)
            end = max(end, off + size)
        out.truncate(end)
    return end


if __name__ == "__main__":
    print(unflatten(sys.argv[1], sys.argv[2]))
