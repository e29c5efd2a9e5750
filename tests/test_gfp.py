"""GFP decoding checked against masks real kernels printed (sample_logs), and pre-4.5 hex
masks expanded by hand from the bit values of that era's header (tools/gfp_headers)."""

from __future__ import annotations

import importlib.util
import json
import lzma
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import regex

import stalllog
import stalllog.kernel.gfp as gfp_module
from stalllog.kernel.gfp import (
    decode_gfp,
    fill_gfp_flags,
    layout_for_release,
    layouts,
    parse_release,
)

ROOT = Path(__file__).resolve().parent.parent
LKML = ROOT / "sample_logs" / "corpus" / "lkml"
SYZ = ROOT / "sample_logs" / "corpus" / "syzkaller"
QEMU = ROOT / "sample_logs" / "qemu"

PAIR = regex.compile(r"(?:mode:|gfp_mask=|gfp=)(0x[0-9a-f]+)\(([^)]*)\)")
# the release as the kernel printed it in "CPU: 0 PID: 1 Comm: x Not tainted 4.19.60 #33"
# (RHEL 7: "Tainted: G           OE  ------------   3.10.0-1160.45.1.el7.x86_64 #1")
RELEASE = regex.compile(r"(?:Not tainted|Tainted: [A-Z ]*?)(?:\s+-+)?\s+(\d+\.\d+\S*) #\d+")


def _text(path: Path) -> str:
    raw = path.read_bytes()
    return (lzma.decompress(raw) if path.suffix == ".xz" else raw).decode(errors="replace")


def _pairs(path: Path) -> list[tuple[int, str]]:
    return [(int(m[1], 16), m[2]) for m in PAIR.finditer(_text(path))]


def _release(path: Path) -> str:
    found = set(RELEASE.findall(_text(path)))
    assert len(found) == 1, (path.name, found)
    return found.pop()


# Files whose kernel printed mask and %pGg names side by side; release read from the file
# itself, or (None -> given) from INDEX.md where the excerpt has no "Tainted" line.
PRINTED = [
    (LKML / "interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt", None, "v4.6"),
    (LKML / "printk-dropped-4.6.2-kmallocwd-stezenbach.txt", "4.6.2", "v4.6"),  # INDEX #8
    (LKML / "printk-dropped-4.9-stalls-after-oom-short.txt", None, "v4.6"),
    (LKML / "warnalloc-stall-4.9-rsync-2102516ms-xfs-netconsole-syslog.txt", None, "v4.6"),
    (LKML / "warnalloc-stall-4.11-rc8-desktop-swap-QXcbEventReader-flowed.txt", None, "v4.10"),
    (LKML / "kmallocwd-2017-wq-mem-reclaim-186-tasks-list.txt", "4.11.0-rc1", "v4.10"),  # #5
    (LKML / "kmallocwd-2017-too_many_isolated-congestion_wait.txt", "4.11.0-rc1", "v4.10"),
    (LKML / "allocfail-4.12-rc2-ppc64-g5-slub-order4-nots.txt", None, "v4.10"),
    (LKML / "hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt", None, "v4.10"),
    (LKML / "warnalloc-stall-4.12-sle15-kvm-thp-order9-html-artifact.txt", "4.12.14", "v4.10"),
    (SYZ / "198", None, "v4.10"),
    (SYZ / "206", None, "v4.10"),
    (SYZ / "231", None, "v4.10"),
    (SYZ / "218", None, "v4.10"),
    (SYZ / "493", None, "v4.19"),
    (SYZ / "334", None, "v4.19"),
    (LKML / "memcg-oom-5.2-rc7-leaker-cgroupv1.txt", None, "v5.10"),
    (SYZ / "492", None, "v5.10"),
    (LKML / "allocfail-5.18.7-arm64-bridge-fdb-atomic-then-panic-deadlocked.txt", None, "v5.10"),
    (LKML / "allocfail-6.8-rc3-ath11k-resume-noio-order4-nots.txt", None, "v6.6"),
    (LKML / "oom-6.12.62-rpi-arm64-journal-notimestamps-truncated.txt", None, "v6.12"),
    # QEMU captures of stock Debian kernels (sample_logs/qemu/README.md); the 6.1 one is the
    # very build whose linux-headers-6.1.0-56-common the v6.1 table was generated from
    (QEMU / "5.10.0-46-amd64-global-oom-serial.log.xz", None, "v5.10"),
    (QEMU / "5.10.0-46-amd64-page-alloc-fail-serial.log", None, "v5.10"),
    (QEMU / "6.1.0-56-amd64-global-oom-serial.log.xz", None, "v6.1"),
    (QEMU / "6.1.0-56-amd64-page-alloc-fail-serial.log", None, "v6.1"),
    (QEMU / "6.1.0-56-amd64-memcg-oom-serial.log", None, "v6.1"),
    (QEMU / "6.12.118+deb13-amd64-global-oom-serial.log.xz", None, "v6.12"),
    (QEMU / "6.12.118+deb13-amd64-page-alloc-fail-serial.log", None, "v6.12"),
]


@pytest.mark.parametrize(("path", "given", "layout"), PRINTED, ids=lambda p: getattr(p, "name", p))
def test_decode_matches_what_the_kernel_printed(path: Path, given: str | None, layout: str) -> None:
    release = given or _release(path)
    lay = layout_for_release(release)
    assert lay is not None and lay.name == layout
    pairs = _pairs(path)
    assert pairs, path.name
    for mask, printed in pairs:
        assert decode_gfp(mask, release) == printed, (path.name, hex(mask))


def test_pairs_checked_per_layout() -> None:
    """Every shipped layout with %pGg names has real pairs checked above."""
    covered = {layout for _, _, layout in PRINTED}
    hex_only = {"v2.6.24", "v2.6.32", "v3.10", "v4.4"}  # no %pGg before 4.5: see below
    assert {lay.name for lay in layouts()} - covered == hex_only
    # real mask(names) pairs checked; counted independently with
    # (cat <files>; xzcat <.xz files>) | grep -oE '(mode:|gfp_mask=|gfp=)0x[0-9a-f]+\(' | wc -l
    assert sum(len(_pairs(p)) for p, _, _ in PRINTED) == 368


# Hex-only lines (no names before 4.5), expanded by hand from the era's #defines.
HEX_ONLY = [
    # 2.6.28 (v2.6.24 header): 0x4000 __GFP_COMP | 0x20 __GFP_HIGH; GFP_ATOMIC = (__GFP_HIGH)
    (LKML / "allocfail-2.6.28-ubuntu-sky2-netrx-order0-flowed.txt", "2.6.28-16-generic",
     "mode:0x4020", "GFP_ATOMIC|__GFP_COMP"),
    # 2.6.32: 0x20 __GFP_HIGH = GFP_ATOMIC
    (LKML / "allocfail-2.6.32.1-i686-e1000-nat-order3-syslog.txt", None, "mode:0x20",
     "GFP_ATOMIC"),
    # 2.6.32: 0x80 __GFP_FS | 0x40 __GFP_IO | 0x10 __GFP_WAIT = GFP_KERNEL
    (LKML / "allocfail-2.6.32-431-rhel6-varnish-tcp-order6-syslog.txt", None, "mode:0xd0",
     "GFP_KERNEL"),
    # 2.6.32: 0x20000 HARDWALL | 0x100 COLD | 0x80 FS | 0x40 IO | 0x10 WAIT | 0x8 MOVABLE
    # | 0x2 HIGHMEM = GFP_HIGHUSER_MOVABLE (WAIT|IO|FS|HARDWALL|HIGHMEM|MOVABLE) + __GFP_COLD
    (LKML / "oom-2.6.32-279-rhel6-haproxy-slab-unreclaimable-syslog.txt", None,
     "gfp_mask=0x201da", "GFP_HIGHUSER_MOVABLE|__GFP_COLD"),
    # 3.0 (v2.6.32 bits): 0x280da = GFP_HIGHUSER_MOVABLE (0x200da) + 0x8000 __GFP_ZERO
    (LKML / "oom-3.0.101-sles11-numa-mempolicy-free-memory-no-timestamps.txt", None,
     "gfp_mask=0x280da", "GFP_HIGHUSER_MOVABLE|__GFP_ZERO"),
    # 3.10 (RHEL 7): same bits as 2.6.32 for these: 0x201da
    (LKML / "oom-3.10.0-1160-rhel7-vmware-overcommit-syslog-hash012.txt", None,
     "gfp_mask=0x201da", "GFP_HIGHUSER_MOVABLE|__GFP_COLD"),
    # 3.10 memcg (INDEX #32: CentOS 7, no release in the excerpt): 0xd0 = GFP_KERNEL
    (LKML / "memcg-oom-3.10-rhel7-apiscp-site133-abridged.txt", "3.10.0", "gfp_mask=0xd0",
     "GFP_KERNEL"),
    # 4.0 (v3.10 bits): 0x280da as above
    (LKML / "oom-panic-4.0-panic_on_oom_timeout-rfc-short.txt", None, "gfp_mask=0x280da",
     "GFP_HIGHUSER_MOVABLE|__GFP_ZERO"),
    # 4.4: 0x2000000 KSWAPD_RECLAIM | 0x400000 DIRECT_RECLAIM | 0x80 FS | 0x40 IO | 0x2 HIGHMEM
    # = GFP_KERNEL (__GFP_RECLAIM|IO|FS = 0x24000c0) + __GFP_HIGHMEM
    (SYZ / "199", None, "mode:0x24000c2", "GFP_KERNEL|__GFP_HIGHMEM"),
    # 4.4 kmallocwd (INDEX #3, "4.4-era"): 0x2000000|0x400000 = __GFP_RECLAIM = GFP_NOIO,
    # which is what the thread says the disk_events_workfn kworker was doing
    (LKML / "kmallocwd-4.4-vmstat-wq-pending-oldformat.txt", "4.4.0", "gfp=0x2400000",
     "GFP_NOIO"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "given", "token", "expected"), HEX_ONLY, ids=lambda p: getattr(p, "name", p)
)
def test_hex_only_masks_decode_by_release(
    path: Path, given: str | None, token: str, expected: str
) -> None:
    text = path.read_text(errors="replace")
    assert regex.search(regex.escape(token) + r"(?![0-9a-f(])", text), (path.name, token)
    release = given or _release(path)
    assert decode_gfp(int(token.split("0x")[1], 16), release) == expected


@pytest.mark.parametrize(
    ("release", "version", "layout"),
    [
        ("4.9.0-8-amd64", (4, 9, 0), "v4.6"),
        ("2.6.32-431.el6.x86_64", (2, 6, 32), "v2.6.32"),
        ("3.10.0-1160.45.1.el7.x86_64", (3, 10, 0), "v3.10"),
        ("6.12.117+deb13-amd64", (6, 12, 117), "v6.12"),
        ("5.18.7", (5, 18, 7), "v5.10"),
        ("4.11.0-rc8+", (4, 11, 0), "v4.10"),
        ("6.1.0-26-amd64", (6, 1, 0), "v6.1"),
        ("5.10.0-32-amd64", (5, 10, 0), "v5.10"),
        ("2.6.28-16-generic", (2, 6, 28), "v2.6.24"),
        ("4.4.114+", (4, 4, 114), "v4.4"),
        ("4.5.0", (4, 5, 0), "v4.6"),
        ("4.18.0-147.el8.x86_64", (4, 18, 0), "v4.19"),
        ("5.0.21", (5, 0, 21), "v4.19"),
    ],
)
def test_layout_for_release(release: str, version: tuple[int, int, int], layout: str) -> None:
    assert parse_release(release) == version
    lay = layout_for_release(release)
    assert lay is not None and lay.name == layout


@pytest.mark.parametrize("release", ["5.1.0-rc6+", "5.1.21", "2.6.18-8.el5", "x"])
def test_no_layout_means_no_guess(release: str) -> None:
    assert layout_for_release(release) is None
    assert decode_gfp(0xCC0, release) is None


def test_format_flags_edge_cases() -> None:
    # 0 prints as nothing, like "gfp_mask=0x0()" of a page-fault OOM
    assert decode_gfp(0, "6.12.117+deb13-amd64") == ""
    # leftover bits print as one hex number after the names, like the kernel's number()
    # (0x1000000 is __GFP_NO_OBJ_EXT on Debian 6.12: no name in mmflags.h)
    assert decode_gfp(0xCC0 | 0x1000000, "6.12.117+deb13-amd64") == "GFP_KERNEL|0x1000000"
    assert decode_gfp(0x1000000, "6.12.117+deb13-amd64") == "0x1000000"
    assert decode_gfp(0xCC0, None) is None


def _boots(rows: list[tuple[int, str | None]]) -> pa.Table:
    return pa.table(
        {"boot": pa.array([b for b, _ in rows], pa.int64()),
         "release": pa.array([r for _, r in rows], pa.string())}
    )  # fmt: skip


def _gfp_table(rows: list[tuple[int, int | None, str | None]]) -> pa.Table:
    return pa.table(
        {"boot": pa.array([r[0] for r in rows], pa.int64()),
         "gfp_mask": pa.array([r[1] for r in rows], pa.int64()),
         "gfp_flags": pa.array([r[2] for r in rows], pa.string()),
         "gfp_flags_decoded": pa.array([None] * len(rows), pa.bool_())}
    )  # fmt: skip


def test_fill_gfp_flags_by_boot_release() -> None:
    # masks from the 2.6.32-279 / 4.4.114 / 5.2 samples above
    table = _gfp_table(
        [(0, 0x201DA, None), (1, 0x24000C2, None), (2, 0x100CCA, "GFP_HIGHUSER_MOVABLE"),
         (3, 0xD0, None), (0, None, None)]
    )  # fmt: skip
    boots = _boots(
        [(0, "2.6.32-279.19.1.el6.x86_64"), (1, "4.4.114+"), (2, "5.2.0-rc7"), (3, None)]
    )
    other = pa.table({"boot": [0], "x": [1]})
    out = fill_gfp_flags({"oom": table, "other": other}, boots)
    assert out["other"] is other
    assert out["oom"].column("gfp_flags").to_pylist() == [
        "GFP_HIGHUSER_MOVABLE|__GFP_COLD", "GFP_KERNEL|__GFP_HIGHMEM", "GFP_HIGHUSER_MOVABLE",
        None, None,
    ]  # fmt: skip
    assert out["oom"].column("gfp_flags_decoded").to_pylist() == [True, True, False, None, None]
    assert out["oom"].schema == table.schema
    # a release given by the user decodes rows whose boot has none, and only those
    again = fill_gfp_flags({"oom": table}, boots, release="3.10.0-1160.45.1.el7.x86_64")
    assert again["oom"].column("gfp_flags").to_pylist()[3] == "GFP_KERNEL"
    assert again["oom"].column("gfp_flags").to_pylist()[1] == "GFP_KERNEL|__GFP_HIGHMEM"
    # no banner: the release another family recorded from "CPU: … Not tainted <release> #1"
    # (e.g. hung_tasks.release) decodes the boot; the banner wins where both exist
    seen = pa.table({"boot": [3, 0], "release": ["3.10.0-1160.45.1.el7.x86_64", "5.2.0-rc7"]})
    via = fill_gfp_flags({"oom": table, "hung_tasks": seen}, boots)
    assert via["oom"].column("gfp_flags").to_pylist()[3] == "GFP_KERNEL"
    assert via["oom"].column("gfp_flags").to_pylist()[0] == "GFP_HIGHUSER_MOVABLE|__GFP_COLD"
    # a second pass keeps what the first one decoded
    twice = fill_gfp_flags(out, boots)
    assert twice["oom"].column("gfp_flags_decoded").to_pylist() == [True, True, False, None, None]


def test_shipped_tables_match_the_generator() -> None:
    """data/gfp/layouts.json is what tools/gen_gfp.py makes of tools/gfp_headers."""
    spec = importlib.util.spec_from_file_location("gen_gfp", ROOT / "tools" / "gen_gfp.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = gen  # dataclasses look their module up while being built
    spec.loader.exec_module(gen)
    shipped = json.loads((ROOT / "stalllog" / "data" / "gfp" / "layouts.json").read_text())
    for lay in gen.LAYOUTS:
        assert shipped["layouts"][lay.name] == json.loads(json.dumps(gen.build(lay)))
    # v6.12 from the Debian headers: GFP_KERNEL = __GFP_RECLAIM|__GFP_IO|__GFP_FS
    names = dict(shipped["layouts"]["v6.12"]["names"])
    assert names["GFP_KERNEL"] == 0x400 | 0x800 | 0x40 | 0x80
    assert "__GFP_NOLOCKDEP" not in names  # CONFIG_LOCKDEP=n


def test_parse_fills_gfp_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    """stalllog.parse() runs fill_gfp_flags (its gfp_flags post-step) with the boots table."""
    seen: list[pa.Table] = []

    def spy(tables: dict[str, pa.Table], boots: pa.Table) -> dict[str, pa.Table]:
        seen.append(boots)
        return fill_gfp_flags(tables, boots)

    monkeypatch.setattr(gfp_module, "fill_gfp_flags", spy)
    cap = stalllog.parse(QEMU / "6.1.0-56-amd64-page-alloc-fail-serial.log")
    assert len(seen) == 1 and seen[0].column("release").to_pylist() == ["6.1.0-56-amd64"]
    # every mask printed with names keeps them, marked as not decoded by stalllog
    for table in cap.arrow.values():
        if {"gfp_mask", "gfp_flags", "gfp_flags_decoded"} <= set(table.column_names):
            for row in table.to_pylist():
                if row["gfp_flags"] is not None:
                    assert row["gfp_flags_decoded"] is False
