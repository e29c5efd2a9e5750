#!/usr/bin/env python3
"""Dump guest memory on the Nth "invoked oom-killer" console line (capture.sh's LIVE= command).

    LIVE="python3 tools/vmcore/qmp_dump.py" VMCORE_QMP=SOCK VMCORE_DIR=DIR \\
        QEMU_EXTRA="-device vmcoreinfo -qmp unix:SOCK,server=on,wait=off" \\
        EXTRA_MODULES=qemu_fw_cfg tools/capture/capture.sh -k 6.1 -s oom-stall

Reads QEMU's console (ttyS0) from stdin as it comes and writes it unchanged to SERIAL_LOG (the
only argument; capture.sh passes the serial log's path). It counts the console lines holding
"invoked oom-killer"; when the count reaches one of the numbers in VMCORE_AT (default "3"), it
sends QEMU (QMP socket VMCORE_QMP) `stop`, `dump-guest-memory` (paging off, format
VMCORE_FORMAT, default kdump-zlib) into VMCORE_DIR/vmcore-at<N>, and `cont`. The guest then
runs its scenario to the end. VMCORE_DIR/dumps.json lists every dump (N, the console line, its
line number, host times) and the QEMU command line (read from /proc for the QEMU process that
holds the QMP socket).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

TRIGGER = b"invoked oom-killer"


class Qmp:
    """Minimal QMP client: one command at a time, events are kept in self.events."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for _ in range(100):
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.1)
        else:
            raise RuntimeError(f"QMP socket {path}: cannot connect")
        self.file = self.sock.makefile("rwb")
        self.events: list[dict] = []
        self.greeting = self._read()
        self.cmd("qmp_capabilities")

    def _read(self) -> dict:
        line = self.file.readline()
        if not line:
            raise RuntimeError("QMP connection closed")
        return json.loads(line)

    def cmd(self, name: str, **args: object) -> object:
        msg: dict = {"execute": name}
        if args:
            msg["arguments"] = args
        self.file.write(json.dumps(msg).encode() + b"\n")
        self.file.flush()
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise RuntimeError(f"QMP {name}: {reply['error']}")
            return reply.get("return")


def qemu_cmdline(sock_path: str) -> list[str] | None:
    """The argv of the QEMU process whose command line names our QMP socket."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and b"qemu-system" in argv[0] and any(sock_path.encode() in a for a in argv):
            return [a.decode(errors="replace") for a in argv if a]
    return None


def main() -> int:
    serial = Path(sys.argv[1])
    sock_path = os.environ["VMCORE_QMP"]
    out = Path(os.environ["VMCORE_DIR"]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    at = sorted({int(x) for x in os.environ.get("VMCORE_AT", "3").split()})
    fmt = os.environ.get("VMCORE_FORMAT", "kdump-zlib")
    info: dict = {
        "serial_log": str(serial),
        "trigger": TRIGGER.decode(),
        "at": at,
        "format": fmt,
        "started_utc": time.time(),
        "dumps": [],
    }
    qmp: Qmp | None = None
    count = 0
    lineno = 0
    partial = b""

    def save() -> None:
        (out / "dumps.json").write_text(json.dumps(info, indent=1) + "\n")

    with serial.open("wb") as log:
        while chunk := os.read(0, 65536):
            now = time.time()
            log.write(chunk)
            log.flush()
            if qmp is None:
                qmp = Qmp(sock_path)
                info["qemu_cmdline"] = qemu_cmdline(sock_path)
                info["qemu_version"] = qmp.greeting.get("QMP", {}).get("version")
                save()
            *lines, partial = (partial + chunk).split(b"\n")
            for line in lines:
                lineno += 1
                if TRIGGER not in line:
                    continue
                count += 1
                if count not in at:
                    continue
                path = out / f"vmcore-at{count}"
                text = line.decode(errors="replace").rstrip("\r")
                d: dict = {
                    "n": count,
                    "line_no": lineno,
                    "line": text,
                    "line_arrived": now,
                    "path": str(path),
                    "format": fmt,
                }
                t = time.time()
                qmp.cmd("stop")
                d["stopped"] = time.time()
                d["stop_delay_s"] = round(d["stopped"] - t, 3)
                try:
                    qmp.cmd("dump-guest-memory", paging=False, protocol=f"file:{path}", format=fmt)
                    d["dumped"] = time.time()
                    d["size"] = path.stat().st_size
                except RuntimeError as e:
                    d["error"] = str(e)
                qmp.cmd("cont")
                d["resumed"] = time.time()
                info["dumps"].append(d)
                save()
                print(
                    f"[qmp_dump] dump at '{TRIGGER.decode()}' #{count} (console line {lineno}): "
                    f"{d.get('size', d.get('error'))}",
                    file=sys.stderr,
                )
    info["ended_utc"] = time.time()
    info["oom_killer_lines"] = count
    if qmp is not None:
        info["qmp_events"] = qmp.events
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
