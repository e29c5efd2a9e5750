"""stalllog.plot and `stalllog plot` on real samples: what the figures show is what the tables
(and a grep of the capture) say; untrusted names render literally; the command writes real
PNG/SVG files and fails cleanly without the data a plot needs."""

from __future__ import annotations

import functools
import io
import lzma
import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from conftest import ROOT, SAMPLES
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from typer.testing import CliRunner

import stalllog
import stalllog.plot
from stalllog.cli import app
from stalllog.plot.common import label

LKML = SAMPLES / "corpus" / "lkml"
GLOBAL_OOM = SAMPLES / "qemu" / "6.1.0-56-amd64-global-oom-serial.log.xz"
KMALLOCWD = LKML / "kmallocwd-2017-too_many_isolated-congestion_wait.txt"
DROPPED = LKML / "printk-dropped-4.6.2-kmallocwd-stezenbach.txt"
STALLS_AFTER_OOM = LKML / "printk-dropped-4.9-stalls-after-oom-short.txt"
NUMA = LKML / "oom-3.0.101-sles11-numa-mempolicy-free-memory-no-timestamps.txt"
INTERLEAVED = LKML / "interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt"
HOSTILE = ["$\\frac{a}{b}$", "\x1b[31mred\u202egpj.exe", "a$b\\$c"]

runner = CliRunner()


def _text(path: Path) -> str:
    data = path.read_bytes()
    return (lzma.decompress(data) if path.suffix == ".xz" else data).decode()


@functools.cache
def _parse(path: Path) -> stalllog.Capture:
    return stalllog.parse(path)


def _line(fig: Figure, prefix: str) -> Line2D:
    """The one line artist whose label starts with `prefix` (legend handles keep labels)."""
    found = [a for ax in fig.axes for a in ax.get_lines() if a.get_label().startswith(prefix)]
    assert len(found) == 1, [a.get_label() for ax in fig.axes for a in ax.get_lines()]
    return found[0]


def _kills(cap: stalllog.Capture) -> int:
    return int(cap.oom_events["kill_line_no"].notna().sum())


@pytest.mark.parametrize("path", [GLOBAL_OOM, STALLS_AFTER_OOM], ids=lambda p: p.name)
def test_timeline_has_one_marker_per_kill(path: Path) -> None:
    cap = _parse(path)
    fig = stalllog.plot.timeline(cap)
    kills = _line(fig, "OOM kill")
    assert len(kills.get_xdata()) == _kills(cap) == _text(path).count("Killed process")
    assert kills.get_label() == f"OOM kill ({_kills(cap)})"
    ts = cap.oom_events["ts_kill"].to_numpy(dtype=float, na_value=np.nan)
    assert np.allclose(np.sort(kills.get_xdata()), np.sort(ts[~np.isnan(ts)]))
    if path == GLOBAL_OOM:  # no stall report: the left axis counts the kills
        assert list(_line(fig, "kills so far").get_ydata()) == list(range(1, 33))
        assert fig.axes[0].get_ylabel() == "OOM kills so far"


def test_timeline_shades_each_oom_lock_interval() -> None:
    cap = _parse(GLOBAL_OOM)
    fig = stalllog.plot.timeline(cap)
    (spans,) = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    assert len(cap.oom_lock) == 32
    assert len(spans.get_paths()) == len(cap.oom_lock)
    shaded = sorted((p.vertices[:, 0].min(), p.vertices[:, 0].max()) for p in spans.get_paths())
    rows = sorted(zip(cap.oom_lock["start_ts"], cap.oom_lock["end_ts"], strict=True))
    assert np.allclose(shaded, rows)
    assert fig.axes[0].get_xlabel() == "seconds since boot"


def test_timeline_of_a_kmallocwd_stall() -> None:
    """kmallocwd's own counts (MemAlloc-Info headers: 32, 36, 40 stalling) are drawn, the
    3 reported tasks make the step line, and the missing HZ is said."""
    cap = _parse(KMALLOCWD)
    fig = stalllog.plot.timeline(cap)
    scans = _line(fig, "kmallocwd: tasks stalling")
    assert list(scans.get_ydata()) == [32, 36, 40]
    assert list(scans.get_xdata()) == [1209.781787, 1242.551629, 1275.319189]
    assert _line(fig, "tasks known stalled").get_label().endswith("of 3 tasks)")
    assert any("give --hz" in t.get_text() for t in fig.axes[0].texts)
    with_hz = stalllog.plot.timeline(stalllog.parse(KMALLOCWD, hz=250))
    assert len(with_hz.axes) == 2  # the delays get their axis
    assert with_hz.axes[1].get_ylabel() == "stall (s)"


def test_timeline_places_console_drops_without_timestamps() -> None:
    """A console drop marker has no stamp of its own: it is placed between the timed lines
    around it, and the legend sums the messages lost (1402 + 501)."""
    cap = _parse(DROPPED)
    assert np.isnan(cap.printk_loss["ts"].to_numpy(dtype=float)).all()
    fig = stalllog.plot.timeline(cap)
    loss = _line(fig, "printk loss")
    assert loss.get_label() == "printk loss (2 markers, 1,903 messages)"
    assert _text(DROPPED).count("printk messages dropped") == 2
    x = np.asarray(loss.get_xdata(), dtype=float)
    assert np.isfinite(x).all()
    assert (x >= cap.events["ts"].min()).all() and (x <= cap.events["ts"].max()).all()


def test_memory_one_line_per_zone_and_crosses_below_min() -> None:
    cap = _parse(GLOBAL_OOM)
    fig = stalllog.plot.memory(cap)
    free = [line for line in fig.axes[0].get_lines() if line.get_label().endswith(" free")]
    zones = {f"Node {n} {z} free" for n, z in zip(cap.zones["node"], cap.zones["zone"], strict=1)}
    assert (
        sorted(line.get_label() for line in free)
        == sorted(zones)
        == [
            "Node 0 DMA free",
            "Node 0 DMA32 free",
        ]
    )
    assert all(len(line.get_xdata()) == len(cap.meminfo) == 32 for line in free)
    below = int((cap.zones["free_kb"] < cap.zones["min_kb"]).sum())
    assert below == 29
    (crosses,) = [line for line in fig.axes[0].get_lines() if line.get_marker() == "x"]
    assert len(crosses.get_xdata()) == below
    assert fig.axes[0].get_yscale() == "log"
    assert fig.axes[0].get_title() == "Free memory per zone, 32 Mem-Info snapshots of boot 0"


def test_memory_of_one_snapshot_is_a_bar_per_zone() -> None:
    """3.0.101 NUMA box, no timestamps, one Mem-Info: 10 zones, Node 0 Normal below min."""
    cap = _parse(NUMA)
    fig = stalllog.plot.memory(cap)
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert len(ticks) == len(cap.zones) == 10
    assert ticks[:3] == ["Node 0 DMA", "Node 0 DMA32", "Node 0 Normal"]
    free_bars = ax.containers[0]
    red = [i for i, bar in enumerate(free_bars) if bar.get_facecolor()[:3] == (1.0, 0.0, 0.0)]
    assert [ticks[i] for i in red] == ["Node 0 Normal"]


def test_task_stalls_bars_and_unknown_delays() -> None:
    cap = _parse(INTERLEAVED)
    fig = stalllog.plot.task_stalls(cap)
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert len(names) == len(cap.stalled_tasks) == 8
    widths = {n: bar.get_width() for n, bar in zip(names, ax.patches, strict=False)}
    hung = cap.stalled_tasks.dropna(subset=["max_delay_s"])
    for comm, pid, delay in zip(hung["comm"], hung["pid"], hung["max_delay_s"], strict=True):
        assert widths[f"{comm}({pid})"] == delay
    notes = [t.get_text() for t in ax.texts]
    assert len(notes) == cap.stalled_tasks["max_delay_s"].isna().sum() == 5
    assert all(n.startswith("  delay not printed") for n in notes)


def test_reclaim_classes_stack_the_reclaim_table() -> None:
    cap = _parse(INTERLEAVED)
    fig = stalllog.plot.reclaim_classes(cap)
    ax = fig.axes[0]
    heights = {c.get_label(): [b.get_height() for b in c] for c in ax.containers}
    expected = dict(zip(cap.reclaim["stuck_in"], cap.reclaim["n_tasks"], strict=True))
    assert heights == {k: [v] for k, v in expected.items()} == {"throttled": [5], "io_wait": [3]}


def test_victims_rss_and_top_of_many() -> None:
    cap = _parse(GLOBAL_OOM)
    ax = stalllog.plot.victims_rss(cap).axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert len(names) == 32 and names[-1] == "hog(135) at 7.2 s"  # the first kill at the top
    anon = [bar.get_width() for bar in ax.containers[0]]
    assert anon[-1] == 16360 / 1024
    few = stalllog.plot.victims_rss(cap, top=5).axes[0]
    assert len(few.get_yticklabels()) == 5
    assert few.get_title() == "OOM victims: the 5 largest of 32 kills"


def test_ax_is_drawn_into_and_its_figure_returned() -> None:
    fig = Figure()
    left, right = fig.subplots(1, 2)
    cap = _parse(GLOBAL_OOM)
    assert stalllog.plot.victims_rss(cap, ax=right) is fig
    assert stalllog.plot.timeline(cap.tables, ax=left) is fig  # a dict of tables works too
    assert len(fig.axes) == 2 and right.get_title().startswith("OOM victims")


def test_missing_data_says_so_or_raises_when_strict() -> None:
    cap = _parse(KMALLOCWD)
    fig = stalllog.plot.victims_rss(cap)
    assert [t.get_text() for t in fig.axes[0].texts] == ["no OOM kills in this capture"]
    with pytest.raises(stalllog.plot.NoData, match="no zone lines"):
        stalllog.plot.memory(cap, strict=True)
    with pytest.raises(stalllog.plot.NoData, match="in boot 7"):
        stalllog.plot.timeline(cap, boot=7, strict=True)


@pytest.mark.parametrize("name", HOSTILE, ids=["mathtext", "escapes", "dollars"])
def test_hostile_comm_renders_literally(tmp_path: Path, name: str) -> None:
    """A name a user gave a process, in a copy of a real `Killed process` line: shown as
    written (mathtext not typeset, control characters as escapes), and drawing does not raise.
    """
    text = _text(GLOBAL_OOM).replace("Killed process 135 (hog)", f"Killed process 135 ({name})")
    capture = tmp_path / "hostile.log"
    capture.write_text(text)
    cap = stalllog.parse(capture)
    assert name in set(cap.oom_events["victim_comm"])
    fig = stalllog.plot.victims_rss(cap)
    shown = label(name)
    assert f"{shown}(135) at 7.2 s" in [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert not matplotlib.cbook.is_math_text(shown)
    svg = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text, to read it back
        fig.savefig(svg, format="svg")
    literal = name.replace("\x1b", "\\x1b").replace("\u202e", "\\u202e")
    assert literal.replace("&", "&amp;") in svg.getvalue().decode()
    assert "\x1b" not in svg.getvalue().decode() and "\u202e" not in svg.getvalue().decode()
    fig.savefig(io.BytesIO(), format="png")


def test_label_cuts_long_names_and_escapes() -> None:
    assert label("x" * 100) == "x" * 39 + "…"
    assert label("a\nb\tc") == "a\\x0ab\\x09c"
    assert label(None) == "?"


@pytest.mark.parametrize(
    ("suffix", "magic"), [(".png", b"\x89PNG\r\n\x1a\n"), (".svg", b"<?xml"), (".pdf", b"%PDF")]
)
def test_cli_writes_the_figure(tmp_path: Path, suffix: str, magic: bytes) -> None:
    out = tmp_path / f"fig{suffix}"
    r = runner.invoke(app, ["plot", str(GLOBAL_OOM), "--kind", "victims_rss", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left
    if suffix == ".svg":
        assert b"<svg" in out.read_bytes()


def test_cli_same_capture_same_svg(tmp_path: Path) -> None:
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    for out in (a, b):
        r = runner.invoke(app, ["plot", str(KMALLOCWD), "-k", "timeline", "-o", str(out)])
        assert r.exit_code == 0, r.output
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-k", "victims_rss"], 1, "no OOM kills in this capture: no victims_rss plot written"),
        (["-k", "memory", "--boot", "3"], 1, "no zone lines (Mem-Info dumps) in boot 3"),
        (["-k", "pie"], 2, "'pie' is not one of"),
        (["-o", "fig.gif"], 2, "must end in .png, .svg, .pdf"),
    ],
    ids=["no-kills", "no-such-boot", "unknown-kind", "unknown-format"],
)
def test_cli_fails_cleanly(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    out = ["-o", str(tmp_path / "fig.png")] if "-o" not in args else []
    r = runner.invoke(app, ["plot", str(KMALLOCWD), *args, *out])
    assert r.exit_code == code, r.output
    assert message in r.output
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert not list(tmp_path.iterdir())


def test_cli_unwritable_output(tmp_path: Path) -> None:
    # missing directories are made, as for `parse -o`; a file in the way is an error
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "fig.png"
    r = runner.invoke(app, ["plot", str(GLOBAL_OOM), "-o", str(out)])
    assert r.exit_code == 1
    assert f"stalllog: {out}: {tmp_path / 'file'} is not a directory" in r.output
    made = tmp_path / "new" / "fig.png"
    assert runner.invoke(app, ["plot", str(GLOBAL_OOM), "-o", str(made)]).exit_code == 0
    assert made.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gallery_is_complete_and_shown_in_the_readme() -> None:
    """Every PNG tools/gallery.py makes is committed, small, and shown in the README."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gallery.py"), "--check"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    shown = set(re.findall(r"\(docs/gallery/([^)]+\.png)\)", (ROOT / "README.md").read_text()))
    assert shown == {p.name for p in (ROOT / "docs" / "gallery").glob("*.png")}
    assert len(shown) == 11


def test_cli_replaces_an_existing_figure(tmp_path: Path) -> None:
    out = tmp_path / "fig.png"
    out.write_bytes(b"an older figure")
    out.chmod(0o600)
    r = runner.invoke(app, ["plot", str(GLOBAL_OOM), "-k", "memory", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert out.stat().st_mode & 0o777 == 0o600  # the replaced file's mode
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]
    new = tmp_path / "new.png"
    assert (
        runner.invoke(app, ["plot", str(GLOBAL_OOM), "-k", "memory", "-o", str(new)]).exit_code == 0
    )
    umask = os.umask(0)
    os.umask(umask)
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
