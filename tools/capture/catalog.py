#!/usr/bin/env python3
"""Markdown tables for a folder of captured logs (plain or .xz): one row per
boot (from MANIFEST.tsv) and one row per file with the kernel package, the
scenario, the form, the program that wrote it, and counts of the message
families (lines matching each pattern, as `grep -c` counts them).

usage: catalog.py DIR
"""

import csv
import lzma
import os
import re
import sys

PATTERNS = [
    ("banners", "Linux version"),
    ("oom-killer", "invoked oom-killer"),
    ("Killed process", "Killed process"),
    ("oom_reaper", "oom_reaper"),
    ("Mem-Info", "Mem-Info"),
    ("alloc failure", "page allocation failure"),
    ("hung task", "blocked for more than"),
    ("sysrq", "sysrq: "),
    ("Call Trace", "Call Trace"),
]

MADE_BY = {
    "serial": "QEMU `-serial file:` of ttyS0: the kernel console (+ /init's `qemu-capture:` lines)",
    "dmesg": "`dmesg > /dev/ttyS1` (busybox)",
    "kmsg": "`kmsgdump > /dev/ttyS2` (reads /dev/kmsg)",
    "dmesg-T": "`dmesg -T > /dev/ttyS3` (util-linux)",
    "journal": "`journalctl -k --no-pager > /dev/ttyS4` (journald started after the scenario)",
    "journal-json": "`journalctl -k --no-pager -o json > /dev/ttyS5` (JSON_FORMS=1)",
    "journal-export": "`journalctl -k --no-pager -o export > /dev/ttyS6` (JSON_FORMS=1)",
    "dmesg-J": "`dmesg -J > /dev/ttyS7` (util-linux, JSON_FORMS=1)",
}
FORMS = [
    "serial",
    "dmesg",
    "kmsg",
    "dmesg-T",
    "journal",
    "journal-json",
    "journal-export",
    "dmesg-J",
]


def read(path):
    opener = lzma.open if path.endswith(".xz") else open
    with opener(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def main(d):
    with open(os.path.join(d, "MANIFEST.tsv"), newline="") as f:
        boots = list(csv.DictReader(f, delimiter="\t"))
    files = {}
    for name in os.listdir(d):
        m = re.match(
            r"(.+?)-(serial|dmesg-T|dmesg-J|dmesg|kmsg|journal-json|journal-export|journal)"
            r"\.log(\.xz)?$",
            name,
        )
        if m:
            files[(m.group(1), m.group(2))] = name

    print("Boots (MANIFEST.tsv): kernel command line and QEMU settings\n")
    print("| kernel package | scenario | vCPUs | RAM MiB | ok | wall s | cmdline |")
    print("|---|---|--:|--:|--:|--:|---|")
    for b in boots:
        print(
            f"| {b.get('package', b['kernel'])} | {b['scenario']} | {b['smp']} | {b['mem_mb']} "
            f"| {b['ok']} | {b['wall_s']} | `{b['cmdline']}` |"
        )

    print("\nFiles: what each holds (line counts per pattern)\n")
    head = (
        "| file | bytes | kernel package | scenario | form | made by | lines | "
        + " | ".join(p[0] for p in PATTERNS)
        + " |"
    )
    print(head)
    print("|---|--:|---|---|---|---|--:|" + "--:|" * len(PATTERNS))
    for b in boots:
        pkg = b.get("package", b["kernel"])
        base = f"{b['kernel']}-{b['scenario']}"
        for form in FORMS:
            name = files.get((base, form))
            if not name:
                continue
            lines = read(os.path.join(d, name)).splitlines()
            counts = [sum(1 for line in lines if pat in line) for _, pat in PATTERNS]
            print(
                f"| {name} | {os.path.getsize(os.path.join(d, name))} | {pkg} "
                f"| {b['scenario']} | {form} | {MADE_BY[form]} | {len(lines)} | "
                + " | ".join(map(str, counts))
                + " |"
            )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
