"""One boot, five transports: the QEMU captures in sample_logs/qemu/ hold each boot as serial
console, busybox dmesg (syslog(2)), /dev/kmsg, util-linux `dmesg -T` and `journalctl -k`.
/dev/kmsg drops nothing and keeps multi-line records whole (`\\x0a`), so it is the reference:
every kernel line of the other forms must be a kmsg line, in order, with the same text, caller,
level and (where the form has one) timestamp.

Real differences between the forms, checked here rather than hidden:
* serial lacks records above the console loglevel (KERN_DEBUG) and has the poweroff lines
  printed after the dumps were taken, plus the guest's own `qemu-capture:` shell lines;
* busybox dmesg and serial cut a multi-line record short when the prefixed lines overflow the
  kernel's 1 kB line buffer (verify.py in tools/capture counts them);
* journalctl expands a tab to 8 spaces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES

import stalllog

pytestmark = pytest.mark.slow  # run by .ci/run; skipped by a plain `pytest`

QEMU = SAMPLES / "qemu"
FORMS = ("serial", "dmesg", "dmesg-T", "journal")


def _boots() -> list[str]:
    if not QEMU.is_dir():
        return []
    return sorted(p.name.split("-kmsg.log")[0] for p in QEMU.iterdir() if "-kmsg.log" in p.name)


def _file(boot: str, form: str) -> Path:
    for suffix in (".log", ".log.xz"):
        p = QEMU / f"{boot}-{form}{suffix}"
        if p.exists():
            return p
    raise FileNotFoundError(f"{boot}-{form}")


Ref = tuple[str, float, Any, Any, bool]  # text, ts, level, caller, first line of its record


def _rows(path: Path) -> list[dict[str, Any]]:
    return stalllog.parse(path).arrow["lines"].to_pylist()  # None for unknown, not pd.NA


def _kmsg_lines(boot: str) -> list[Ref]:
    rows = _rows(_file(boot, "kmsg"))
    assert {r["prefix_kind"] for r in rows} == {"kmsg", "kmsg_dict"}
    out: list[Ref] = []
    for r in rows:
        if r["prefix_kind"] == "kmsg":
            for k, part in enumerate(r["text"].split("\n")):
                out.append((part, r["ts"], r["level"], r["caller"], k == 0))
    return out


def _form_lines(boot: str, form: str) -> list[dict[str, Any]]:
    rows = _rows(_file(boot, form))
    if form == "serial":  # the guest's shell writes its progress to the console too
        rows = [r for r in rows if not r["text"].startswith("qemu-capture:")]
    return rows


def _match(ref: list[Ref], rows: list[dict[str, Any]], form: str) -> tuple[list, list]:
    """Pair each form line with the next kmsg line of the same text (in order)."""
    i = 0
    pairs, unmatched = [], []
    for row in rows:
        j = i
        while j < len(ref):
            want = ref[j][0].replace("\t", " " * 8) if form == "journal" else ref[j][0]
            if want == row["text"]:
                break
            j += 1
        if j == len(ref):
            unmatched.append(row)
            continue
        pairs.append((j, row))
        i = j + 1
    return pairs, unmatched


BOOTS = _boots()


@pytest.mark.skipif(not BOOTS, reason="no QEMU captures in sample_logs/qemu")
@pytest.mark.parametrize("boot", BOOTS)
def test_forms_agree(boot: str) -> None:
    ref = _kmsg_lines(boot)
    firsts = {j for j, r in enumerate(ref) if r[4]}
    for form in FORMS:
        rows = _form_lines(boot, form)
        pairs, unmatched = _match(ref, rows, form)
        matched = {j for j, _ in pairs}
        if form == "serial":
            # only the poweroff lines after the last dump may be missing from kmsg
            last = max(r["line_no"] for _, r in pairs)
            assert [r["text"] for r in unmatched if r["line_no"] < last] == [], form
            assert len(unmatched) <= 3, [r["text"] for r in unmatched]
            # every record up to KERN_INFO reached the console (loglevel=7)
            shown = {j for j in firsts if ref[j][2] is not None and ref[j][2] <= 6}
            assert shown <= matched, f"{boot} serial lacks {len(shown - matched)} records"
        else:
            assert unmatched == [], f"{boot} {form}: {unmatched[0]['text']!r}"
            # syslog(2) may cut a multi-line record, the others print every line
            assert firsts <= matched if form == "dmesg" else matched == set(range(len(ref)))
        for j, row in pairs:
            _, ts, level, caller, _ = ref[j]
            if row["ts"] is not None:  # forms with a printk time: the same time
                assert row["ts"] == ts, (form, row["line_no"], row["ts"], ts)
            if row["level"] is not None:
                assert row["level"] == level, (form, row["line_no"])
            assert row["caller"] == caller, (form, row["line_no"])
        kinds = {r["prefix_kind"] for _, r in pairs}
        expected = {
            "serial": {"time"} if "notime" not in boot else {"none"},
            "dmesg": {"time"} if "notime" not in boot else {"none"},
            "dmesg-T": {"dmesg_ctime", "cont"},
            "journal": {"syslog", "cont"},
        }[form]
        assert kinds <= expected | {"none"} and kinds & expected, (form, kinds)


@pytest.mark.skipif(not BOOTS, reason="no QEMU captures in sample_logs/qemu")
def test_timed_forms_have_ts_on_every_kernel_line() -> None:
    boot = next(b for b in BOOTS if "notime" not in b)
    for form in ("serial", "dmesg"):
        rows = _form_lines(boot, form)
        assert all(r["ts"] is not None for r in rows), form
