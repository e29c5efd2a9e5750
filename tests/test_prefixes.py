"""Each prefix kind on real lines (quoted verbatim; the file each comes from is named).

QEMU lines are from the captures made with tools/capture (sample_logs/qemu/, same names)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pytest

from stalllog.input.lines import LineStage


def parse_lines(*lines: str, eol: str = "\n") -> list[dict[str, Any]]:
    stage = LineStage()
    stage.start_source("<test>")
    return stage.batch("".join(line + eol for line in lines).encode(), last=True).to_pylist()


def one(line: str) -> dict[str, Any]:
    return parse_lines(line)[0]


def test_printk_time() -> None:
    # lkml/allocfail-2.6.28-ubuntu-sky2-netrx-order0-flowed.txt line 1 (trailing space kept)
    r = one("[1136500.281189] swapper: page allocation failure. order:0, mode:0x4020 ")
    assert (r["prefix_kind"], r["prefix"]) == ("time", "[1136500.281189] ")
    assert r["ts"] == 1136500.281189
    assert r["text"] == "swapper: page allocation failure. order:0, mode:0x4020 "
    assert r["caller"] is None and r["level"] is None


def test_time_and_caller_ids() -> None:
    # syzkaller/349 lines 6 and 164: task and CPU caller ids (CONFIG_PRINTK_CALLER)
    t, c = parse_lines(
        "[ 1431.920513][ T1054] INFO: task jbd2/sda-8:3563 blocked for more than 140 seconds.",
        "[ 1432.307971][    C0] NMI backtrace for cpu 0 skipped: idling at "
        "native_safe_halt+0x2/0x10",
    )
    assert (t["prefix_kind"], t["ts"], t["caller"]) == ("time+caller", 1431.920513, "T1054")
    assert t["text"].startswith("INFO: task jbd2/sda-8:3563 blocked")
    assert (c["caller"], c["ts"]) == ("C0", 1432.307971)
    assert c["text"].startswith("NMI backtrace for cpu 0")


def test_stack_line_keeps_its_indent() -> None:
    # syzkaller/349 line 7: the kernel prints one space after the prefix, the rest is text
    r = one("[ 1431.921721][ T1054]       Not tainted 4.20.0-next-20190102+ #5")
    assert r["text"] == "      Not tainted 4.20.0-next-20190102+ #5"


def test_syslog_rfc3164() -> None:
    # lkml/oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt line 1
    r = one(
        "Dec 31 13:46:46 mmp.com kernel: EcNet-dns invoked oom-killer: gfp_mask=0x201da, "
        "order=0, oom_score_adj=0"
    )
    assert (r["prefix_kind"], r["host"]) == ("syslog", "mmp.com")
    assert r["text"].startswith("EcNet-dns invoked oom-killer:")
    assert r["wall"] == datetime(1900, 12, 31, 13, 46, 46)  # no year in RFC 3164
    assert math.isnan(r["ts"]) and r["flags"] is None


def test_rsyslog_octal_escapes() -> None:
    # same file, line 26: rsyslog wrote the Mem-Info record's newlines as #012
    line = (
        "Dec 31 13:46:46 mmp.com kernel: active_anon:1573603 inactive_anon:308826 "
        "isolated_anon:32#012 active_file:59 inactive_file:0 isolated_file:0#012 unevictable:0"
    )
    r = one(line)
    assert r["text"].split("\n")[:2] == [
        "active_anon:1573603 inactive_anon:308826 isolated_anon:32",
        " active_file:59 inactive_file:0 isolated_file:0",
    ]
    assert r["flags"] == "syslog-escaped" and r["raw"] == line.encode()


def test_rsyslog_hash_digits_that_are_not_escapes() -> None:
    # lkml/allocfail-2.6.32.1-i686-e1000-nat-order3-syslog.txt line 2: `#1` stays; a `#1nn`
    # (e.g. a build number) is no control-character escape and stays too (bug: was decoded)
    r = one("Dec 20 11:43:14 koyomi kernel: Pid: 0, comm: swapper Not tainted 2.6.32.1 #1")
    assert r["text"] == "Pid: 0, comm: swapper Not tainted 2.6.32.1 #1"
    r = one("Dec 20 11:43:14 koyomi kernel: Pid: 0, comm: swapper Not tainted 2.6.32.1 #123")
    assert r["text"].endswith("#123") and r["raw"] is None


def test_osstest_serial_stamp() -> None:
    # lkml/allocfail-2020-xen-dom0-order4-osstest-serial-prefix.txt line 3
    r = one("Jul 21 16:21:00.390810 [  530.412448] Call Trace:")
    assert (r["prefix_kind"], r["text"], r["ts"]) == ("syslog+time", "Call Trace:", 530.412448)
    assert r["wall"] == datetime(1900, 7, 21, 16, 21, 0, 390810) and r["host"] is None


def test_netconsole_through_rsyslog() -> None:
    # lkml/warnalloc-stall-4.9-rsync-2102516ms-xfs-netconsole-syslog.txt lines 1, 2, 5:
    # ISO stamp + host + kernel time, no syslog tag; line 2 is a pr_cont piece (no kernel
    # time: it cannot be told from a host name and stays unparsed)
    a, b, c = parse_lines(
        "2017-01-17T11:08:33.754562+03:00 storage8 [335170.452601] rsync: ",
        "2017-01-17T11:08:33.754574+03:00 page allocation stalls for 2102516ms, order:0",
        "2017-01-17T11:08:33.755094+03:00 storage8 [335170.452896] CPU: 2 PID: 20383",
    )
    assert (a["prefix_kind"], a["host"], a["ts"], a["text"]) == (
        "syslog_iso+time", "storage8", 335170.452601, "rsync: ")  # fmt: skip
    assert a["wall"] == datetime(2017, 1, 17, 11, 8, 33, 754562)  # as printed, no tz applied
    assert b["prefix_kind"] == "none"
    assert (c["ts"], c["text"]) == (335170.452896, "CPU: 2 PID: 20383")


def test_journal_short_monotonic_not_a_kernel_line_with_colons() -> None:
    # QEMU 6.1.0-56-amd64-hung-task-dmesg.log line 124: `x86/fpu:` is no host, `xstate_offset[2]`
    # no syslog tag (was taken for journalctl -o short-monotonic)
    r = one("[    0.044582] x86/fpu: xstate_offset[2]:  576, xstate_sizes[2]:  256")
    assert (r["prefix_kind"], r["host"]) == ("time", None)
    assert r["text"] == "x86/fpu: xstate_offset[2]:  576, xstate_sizes[2]:  256"


def test_dmesg_T_and_journal_forms() -> None:
    # QEMU 6.1.0-56-amd64-hung-task-dmesg-T.log and -journal.log line 1
    banner = (
        "Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian "
        "12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP "
        "PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)"
    )
    t, j = parse_lines(
        "[Wed Nov 25 18:49:36 2026] " + banner, "Nov 25 18:50:34 qemu-guest kernel: " + banner
    )
    assert (t["prefix_kind"], t["text"]) == ("dmesg_ctime", banner)
    assert t["wall"] == datetime(2026, 11, 25, 18, 49, 36)
    assert (j["prefix_kind"], j["host"], j["text"]) == ("syslog", "qemu-guest", banner)


def test_kmsg_record() -> None:
    # QEMU 6.1.0-56-amd64-hung-task-kmsg.log line 1 and 381 (`\x5c` is the escaped backslash)
    a, b = parse_lines(
        "5,0,0,-;Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)",
        "6,320,4262039,-;ACPI: \\x5c_SB_.LNKB: Enabled at IRQ 10",
    )
    assert (a["prefix_kind"], a["level"], a["kmsg_seq"], a["ts"]) == ("kmsg", 5, 0, 0.0)
    assert (b["level"], b["kmsg_seq"], b["ts"]) == (6, 320, 4.262039)
    assert b["text"] == "ACPI: \\_SB_.LNKB: Enabled at IRQ 10"
    assert b["flags"] == "kmsg-escaped"
    assert b["raw"] == b"6,320,4262039,-;ACPI: \\x5c_SB_.LNKB: Enabled at IRQ 10"


def test_kmsg_escapes_are_bytes_of_utf8() -> None:
    # /dev/kmsg escapes every byte >= 0x7f (printk.c msg_add_ext_text), so a UTF-8 `é`
    # arrives as `\xc3\xa9`; it was decoded to `Ã©`. The record is built from the real line
    # 6,320 above with the kernel's escaping of a non-ASCII device name.
    r = one("6,320,4262039,-;ACPI: \\x5c_SB_.LNK\\xc3\\xa9: Enabled at IRQ 10")
    assert r["text"] == "ACPI: \\_SB_.LNKé: Enabled at IRQ 10"


def test_kmsg_dictionary_lines() -> None:
    # QEMU 6.1.0-56-amd64-global-oom-kmsg.log: a device record and its dictionary
    rows = parse_lines(
        "6,198,1327515,-;acpi PNP0A03:00: _OSC: OS supports [ASPM ClockPM Segments MSI HPX-Type3]",
        " SUBSYSTEM=acpi",
        " DEVICE=+acpi:PNP0A03:00",
    )
    assert [r["prefix_kind"] for r in rows] == ["kmsg", "kmsg_dict", "kmsg_dict"]
    assert [r["flags"] for r in rows] == [None, "kmsg-dict", "kmsg-dict"]


def test_drop_marker_glued_and_alone() -> None:
    # lkml/printk-dropped-4.6.2-kmallocwd-stezenbach.txt lines 12-13
    glued, alone = parse_lines(
        "** 1402 printk messages dropped ** [  363.818816]  [<ffffffff8116d519>] "
        "__do_page_cache_readahead+0x144/0x29d",
        "** 501 printk messages dropped **",
    )
    assert (glued["prefix_kind"], glued["dropped"], glued["ts"]) == (
        "dropped+time",
        1402,
        363.818816,
    )
    assert glued["text"] == " [<ffffffff8116d519>] __do_page_cache_readahead+0x144/0x29d"
    assert glued["flags"] == "dropped-before"
    # alone, the marker is the message (the printk_loss family reads it from text)
    assert (alone["prefix_kind"], alone["prefix"], alone["dropped"]) == ("none", "", 501)
    assert alone["text"] == "** 501 printk messages dropped **"


@pytest.mark.parametrize(
    ("stamp", "when"),
    [
        ("[Thu Oct 20 08:08:41 2016] ", datetime(2016, 10, 20, 8, 8, 41)),  # dmesg -T, C locale
        # FORMATS-memory.md §5 localized example (French locale)
        ("[dim. 19 avril 18:03:30 2026] ", datetime(2026, 4, 19, 18, 3, 30)),
        ("2016-10-20T08:08:41,123456+02:00 ", datetime(2016, 10, 20, 8, 8, 41, 123456)),
    ],
)
def test_dmesg_wall_clock_forms(stamp: str, when: datetime) -> None:
    # the message: QEMU 6.1.0-56-amd64-hung-task-dmesg.log line 3
    r = one(stamp + "BIOS-provided physical RAM map:")
    assert (r["text"], r["wall"], r["prefix"]) == ("BIOS-provided physical RAM map:", when, stamp)
