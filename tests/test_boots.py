"""The boots table: release and command line per boot, also for excerpts without a banner."""

from pathlib import Path

import stalllog

SAMPLES = Path(__file__).parent.parent / "sample_logs"


def test_release_from_banner_and_cmdline() -> None:
    boots = stalllog.parse(SAMPLES / "qemu/6.1.0-56-amd64-global-oom-serial.log.xz").boots
    assert len(boots) == 1
    assert boots.loc[0, "release"] == "6.1.0-56-amd64"
    assert boots.loc[0, "cmdline"].startswith("console=ttyS0,115200 loglevel=7")


def test_release_from_dump_stack_header_decodes_hex_gfp() -> None:
    # no banner in this excerpt; `Pid: 0, comm: swapper Not tainted 2.6.32.1 #1` names it, and
    # 2.6.32 printed only `mode:0x20`, which is GFP_ATOMIC (__GFP_HIGH) in that release
    cap = stalllog.parse(
        SAMPLES / "corpus/lkml/allocfail-2.6.32.1-i686-e1000-nat-order3-syslog.txt"
    )
    assert cap.boots.loc[0, "release"] == "2.6.32.1"
    row = cap.alloc_failures.iloc[0]
    assert (row["gfp_mask"], row["gfp_flags"], row["gfp_flags_decoded"]) == (
        0x20,
        "GFP_ATOMIC",
        True,
    )


def test_every_source_and_banner_starts_a_boot() -> None:
    a = SAMPLES / "qemu/6.1.0-56-amd64-sysrq-oom-dmesg.log"
    b = SAMPLES / "qemu/6.12.118+deb13-amd64-sysrq-oom-dmesg.log"
    boots = stalllog.parse(a, b).boots
    assert list(boots["release"]) == ["6.1.0-56-amd64", "6.12.118+deb13-amd64"]
    assert list(boots["source"]) == [str(a), str(b)]
