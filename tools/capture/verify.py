#!/usr/bin/env python3
"""Check captured logs: one boot per serial log, and the same kernel
messages in every form of one boot.

usage: verify.py DIR        (logs named <kver>-<scenario>-<form>.log[.xz])

Prints one line per boot and exits 1 if a check fails:
  banners  "Linux version" lines in the serial log (must be 1)
  kmsg     records in the /dev/kmsg dump (must be > 0)
  dmesg    busybox dmesg lines equal to the kmsg record texts, in order (must
           be all; a multi-line record may be cut short, see match_dmesg)
  -T       util-linux `dmesg -T` lines (it reads /dev/kmsg) equal to the kmsg
           text lines, in order, white space normalised (`dmesg -T` indents the
           continuation lines of a multi-line record; must be all)
  journal  journalctl -k lines whose text (white space normalised: journalctl
           expands tabs and indents continuation lines) is a kmsg text line
  serial   kmsg records of level <= 6 (those console loglevel 7 prints) whose
           first text line is in the serial log
"""

import collections
import lzma
import os
import re
import sys

NAME_RE = re.compile(r"(.+?)-(serial|dmesg-T|dmesg|kmsg|journal)\.log(\.xz)?$")
TIME_RE = re.compile(r"^\[ *[0-9]+\.[0-9]+\] ?")
WALL_RE = re.compile(r"^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} [0-9]{4}\] ?")
JOURNAL_RE = re.compile(r"^[A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} \S+ kernel: ?(.*)$")


def read(path):
    opener = lzma.open if path.endswith(".xz") else open
    with opener(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def lines_of(text):
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def kmsg_records(text):
    """(level, text) for every record; continuation ' KEY=VALUE' lines skipped.
    The text is unescaped the way dmesg prints it (\\xNN -> char)."""
    out = []
    for line in text.split("\n"):
        if not line or line.startswith(" "):
            continue
        head, sep, msg = line.partition(";")
        if not sep:
            continue
        msg = re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), msg)
        out.append((int(head.split(",")[0]) & 7, msg))
    return out


def norm(line):
    return " ".join(line.split())


def match_dmesg(ktexts, dlines):
    """Walk the kmsg records and the dmesg lines together.  A record whose
    text holds newlines is one line per text line in dmesg; syslog(2) (and
    the console) cut such a record short when the per-line prefixes do not
    fit the kernel's line buffer: the dmesg lines then stop early (the last
    one may be cut).  Returns (ok, records cut short, first bad dmesg line)."""
    i = cut = 0
    for text in ktexts:
        for j, want in enumerate(text.split("\n")):
            got = dlines[i] if i < len(dlines) else None
            if got == want:
                i += 1
                continue
            if j == 0:
                return False, cut, i + 1
            if got is not None and want.startswith(got):
                i += 1
            cut += 1
            break
    return i == len(dlines), cut, i + 1


def check_boot(forms):
    msgs, ok = [], True
    serial = read(forms["serial"]).replace("\r\n", "\n") if "serial" in forms else None
    if serial is not None:
        n = serial.count("Linux version")
        msgs.append(f"banners={n}")
        ok &= n == 1
    if "kmsg" not in forms:
        return ok, msgs
    recs = kmsg_records(read(forms["kmsg"]))
    ktexts = [t for _, t in recs]
    klines = [norm(line) for t in ktexts for line in t.split("\n")]
    msgs.append(f"kmsg={len(recs)}")
    ok &= len(recs) > 0
    if "dmesg" in forms:
        dlines = [TIME_RE.sub("", line, count=1) for line in lines_of(read(forms["dmesg"]))]
        good, cut, at = match_dmesg(ktexts, dlines)
        note = f"({cut} multi-line records cut by syslog(2))" if cut else ""
        msgs.append("dmesg=" + ("same" if good else f"DIFFERENT@line{at}") + note)
        ok &= good
    if "dmesg-T" in forms:
        tlines = [norm(WALL_RE.sub("", line, count=1)) for line in lines_of(read(forms["dmesg-T"]))]
        same = tlines == klines
        msgs.append(f"-T={'same' if same else 'DIFFERENT'}")
        ok &= same
    if "journal" in forms:
        left = collections.Counter(klines)
        jlines = [line for line in lines_of(read(forms["journal"])) if line]
        found = 0
        for line in jlines:
            m = JOURNAL_RE.match(line)
            # continuation lines of a multi-line record: indented, no prefix
            text = m.group(1) if m else (line if line[:1].isspace() else None)
            if text is not None and left[norm(text)] > 0:
                left[norm(text)] -= 1
                found += 1
        msgs.append(f"journal={found}/{len(jlines)}")
    if serial is not None:
        left = collections.Counter(TIME_RE.sub("", line, count=1) for line in serial.split("\n"))
        want = [t.split("\n")[0] for lvl, t in recs if lvl <= 6]
        got = 0
        for text in want:
            if left[text] > 0:
                left[text] -= 1
                got += 1
        msgs.append(f"serial={got}/{len(want)}")
    return ok, msgs


def main(d):
    boots = collections.defaultdict(dict)
    for name in sorted(os.listdir(d)):
        m = NAME_RE.match(name)
        if m:
            boots[m.group(1)][m.group(2)] = os.path.join(d, name)
    bad = 0
    for boot, forms in sorted(boots.items()):
        ok, msgs = check_boot(forms)
        print(f"{'ok ' if ok else 'BAD'} {boot}: {' '.join(msgs)}")
        bad += not ok
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
