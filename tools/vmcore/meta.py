#!/usr/bin/env python3
"""Write meta.json of a vmcore cache entry (called by make_dumps.sh) to stdout."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path


def utc(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def main() -> None:
    ap = argparse.ArgumentParser()
    for a in ("run", "chosen", "kver", "kdeb", "scenario", "boots", "vmlinux", "started", "runs"):
        ap.add_argument("--" + a, required=True)
    a = ap.parse_args()
    run = Path(a.run)
    dumps = json.loads((run / "dumps" / "dumps.json").read_text())
    chosen = next(d for d in dumps["dumps"] if d["path"] == a.chosen)
    verify = json.loads(Path(a.chosen + ".json").read_text())
    # every dump of every boot, with what drgn found in it
    tries = []
    for b in range(1, int(a.boots) + 1):
        bd = Path(a.runs) / f"boot{b}" / "dumps"
        if not (bd / "dumps.json").exists():
            tries.append({"boot": b, "dumps": None})
            continue
        for d in json.loads((bd / "dumps.json").read_text())["dumps"]:
            v = Path(d["path"] + ".json")
            o = "drgn failed"
            if v.exists() and v.stat().st_size:
                o = json.loads(v.read_text())["oom_lock_owner"]
                o = o and {"pid": o["pid"], "comm": o["comm"]}
            tries.append({"boot": b, "n": d["n"], "oom_lock_owner": o})
    manifest = (run / "MANIFEST.tsv").read_text().splitlines()
    cols = manifest[0].split("\t")
    last = [r for r in manifest[1:] if r.split("\t")[2] == a.scenario][-1]
    row = dict(zip(cols, last.split("\t"), strict=True))
    pkg, version = a.kdeb.split("_")[:2]
    vm = Path(a.vmlinux)
    prep = Path(str(vm) + ".prep_s")
    flat = chosen["format"].startswith("kdump") and Path(a.chosen + ".kdump").exists()
    owner = verify["oom_lock_owner"]
    meta = {
        "release": a.kver,
        "kernel_package": pkg,
        "kernel_version": version,
        "dbg_package": f"{pkg}-dbg",
        "dbg_version": version,
        "vmlinux": {
            "from": f"{pkg}-dbg_{version}_amd64.deb:/usr/lib/debug/boot/vmlinux-{a.kver}",
            "stripped_with": "objcopy --remove-section='.rela.*'",
            "size": vm.stat().st_size,
        },
        "scenario": a.scenario,
        "kernel_cmdline": row["cmdline"],
        "trigger": {
            "text": dumps["trigger"],
            "n": chosen["n"],
            "console_line_no": chosen["line_no"],
            "console_line": chosen["line"],
            "note": (
                "n-th console line holding the text; QMP stop was sent as soon as the line arrived"
            ),
        },
        "dump": {
            "qmp": "dump-guest-memory paging=false format=" + chosen["format"],
            "format": "kdump-compressed (zlib), reassembled from QEMU's flattened output"
            if flat
            else chosen["format"],
            "size": os.path.getsize(a.chosen + ".kdump" if flat else a.chosen),
            "open_with": "prog = drgn.Program(drgn.host_platform); prog.set_core_dump(path); "
            "prog.load_debug_info([vmlinux], default=False, main=False)",
        },
        "tries": {
            "boots": int(a.boots),
            "dumps": tries,
            "note": "each boot dumps at several n; cached: the first with an oom_lock owner",
        },
        "qemu": {
            "version": dumps.get("qemu_version"),
            "cmdline": dumps.get("qemu_cmdline"),
            "accel": row["accel"],
            "smp": int(row["smp"]),
            "mem_mb": int(row["mem_mb"]),
        },
        "boot": {
            "ok": row["ok"] == "1",
            "qemu_rc": int(row["qemu_rc"]),
            "wall_s": float(row["wall_s"]),
            "scenario_done_uptime_s": row["done_uptime_s"],
        },
        "verify": {
            k: verify[k]
            for k in (
                "drgn",
                "release",
                "tasks",
                "printk_records",
                "oom_lock_waiters",
                "oom_lock_owner_raw",
            )
        },
        "oom_lock_owner": owner
        and {k: owner.get(k) for k in ("pid", "comm", "state", "on_cpu", "stack")},
        "timestamps_utc": {
            "make_dumps_started": utc(float(a.started)),
            "serial_watch_started": utc(dumps["started_utc"]),
            "trigger_line_arrived": utc(chosen["line_arrived"]),
            "guest_stopped": utc(chosen["stopped"]),
            "dump_written": utc(chosen.get("dumped")),
            "guest_resumed": utc(chosen["resumed"]),
            "boot_ended": utc(dumps.get("ended_utc")),
            "captured": row["captured_utc"],
        },
        "vmlinux_prep_s": int(prep.read_text()) if prep.exists() else None,
        "made_by": "tools/vmcore/make_dumps.sh",
    }
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
