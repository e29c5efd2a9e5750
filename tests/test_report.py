"""`stalllog report` (HTML, Markdown, text) on real captures: the numbers and names the tables
have, the evidence lines with their original text, 80 columns in text, hostile process names
inert in HTML, figures embedded."""

from __future__ import annotations

import base64
import lzma
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import SAMPLES, sample_files, sample_id
from markdown_it import MarkdownIt
from typer.testing import CliRunner

import stalllog
from stalllog.cli import app
from stalllog.output.safe import for_html
from stalllog.report.excerpts import LineBook
from stalllog.report.html import render_html
from stalllog.report.markdown import fence_for, render_markdown
from stalllog.report.markdown import md as md_text
from stalllog.report.model import build_report, figure_from_matplotlib
from stalllog.report.text import render_text

runner = CliRunner()
STALL = SAMPLES / "corpus/lkml/kmallocwd-2017-too_many_isolated-congestion_wait.txt"
GLOBAL_OOM = SAMPLES / "qemu/6.1.0-56-amd64-global-oom-serial.log.xz"
MEMCG_OOM = SAMPLES / "qemu/5.10.0-46-amd64-memcg-oom-serial.log"


def _bytes(path: Path) -> bytes:
    return lzma.decompress(path.read_bytes()) if path.suffix == ".xz" else path.read_bytes()


def _report(path: Path, fmt: str, tmp_path: Path) -> str:
    out = tmp_path / f"report.{fmt}"
    r = runner.invoke(app, ["report", str(path), "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out.read_text(encoding="utf-8")


class _Checker(HTMLParser):
    """Well-formedness (every non-void element closed in order) and what the page could load
    or run: tags, attribute values."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(k, v or "") for k, v in attrs]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected </{tag}>")


def _checked(html: str) -> _Checker:
    c = _Checker()
    c.feed(html)
    c.close()
    assert c.errors == [] and c.stack == [], (c.errors, c.stack)
    return c


@pytest.mark.parametrize("fmt", ["html", "md", "txt"])
def test_stall_report_shows_verdict_and_evidence_lines(fmt: str, tmp_path: Path) -> None:
    report = _report(STALL, fmt, tmp_path)
    original = STALL.read_text(encoding="utf-8").splitlines()
    # the verdict is the worst finding, before any section (Markdown escapes `_`)
    verdict = "oom_count stayed at 45896 over 3 kmallocwd scans"
    verdict_at = report.index(verdict.replace("_", "\\_") if fmt == "md" else verdict)
    assert verdict_at < report.index("Findings")
    # every evidence line of the findings is shown with its number and original text
    for n in (129, 131, 133, 3, 50, 93):
        text = original[n - 1]
        shown = {
            "html": f'<span class="ln">{n:>6} </span>{for_html(text)}',
            "md": f"{n:>6}  {text}",
            "txt": f"{n:>6}| {text[:72]}",
        }[fmt]
        assert shown in report, n
    if fmt == "html":
        assert "<td>stalled_at_end (line 134)</td>" in report  # how the episode ended


@pytest.mark.parametrize(
    ("path", "kills", "victim", "cgroup"),
    [(GLOBAL_OOM, 32, "hog(135)", "/"), (MEMCG_OOM, 21, "grphog(175)", "/grp")],
    ids=["global", "memcg"],
)
def test_oom_report_counts_kills_and_names_victims(
    path: Path, kills: int, victim: str, cgroup: str, tmp_path: Path
) -> None:
    assert _bytes(path).count(b"Killed process") == kills
    cap = stalllog.parse(path)
    victims = cap.oom_events.dropna(subset=["victim_pid"])
    assert len(victims) == kills
    text = _report(path, "txt", tmp_path)
    assert re.search(rf"^OOM kills +{kills}$", text, re.M)
    assert f"{kills} kill(s) in {kills} OOM report(s)." in text
    html = _report(path, "html", tmp_path)
    _checked(html)
    assert f"OOM kills: <b>{kills}</b>" in html
    assert victim in html and victim in text
    # the kills table lists the first 30 victims, each by comm(pid)
    for comm, pid in victims[["victim_comm", "victim_pid"]].head(30).itertuples(index=False):
        assert f"<td>{for_html(f'{comm}({pid})')}</td>" in html
    assert f'<tr><td>{cgroup}</td><td class="num">' in html  # kills per cgroup


def test_memcg_report_advises_on_the_limit(tmp_path: Path) -> None:
    md = _report(MEMCG_OOM, "md", tmp_path)
    # OOM #0 of this capture: /box at its 48 MiB limit (`memory: usage 49152kB, limit 49152kB`)
    assert "memcg limit: /box hit its memory limit at 48.0 MiB of 48.0 MiB" in md
    assert "| \\#0 | 14.993 | 338 | hog(93) |" in md


def test_global_oom_advice_is_tied_to_the_numbers(tmp_path: Path) -> None:
    text = _report(GLOBAL_OOM, "txt", tmp_path)
    flat = " ".join(text.split())
    # OOM #0: 2052 kB free, DMA and DMA32 under min, no swap, anon 138852 kB of 261624 kB RAM
    assert "watermarks: DMA, DMA32 below the min watermark (2.0 MiB free in all)" in flat
    assert "swap: none in use while anonymous memory held 135.6 MiB (53% of RAM)" in flat
    assert "(all 32 OOMs; numbers of OOM #0)" in flat


def test_key_numbers_of_an_excerpt_with_drops(tmp_path: Path) -> None:
    path = SAMPLES / "corpus/lkml/printk-dropped-4.6.2-kmallocwd-stezenbach.txt"
    dropped = re.findall(r"\*\* (\d+) printk messages dropped", path.read_text(encoding="utf-8"))
    assert [int(n) for n in dropped] == [1402, 501]
    text = _report(path, "txt", tmp_path)
    assert re.search(r"^messages lost \(printk\) +1,903$", text, re.M)
    # the excerpt's clock goes back (2083.6 s, then 363.8 s): the span is earliest to latest
    assert re.search(r"^span +363\.8 to 2,084\.9 s after boot$", text, re.M)
    assert "    13| ** 501 printk messages dropped **" in text


HOSTILE = [
    "<img src=x onerror=alert(1)>",
    '=HYPERLINK("http://x")',
    "\x1b]8;;http://x\x1b\\ab\x1b[2J",
    "\u202eexe.gnp",
    "</pre><script>alert(1)</script>",
]


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_comm_stays_inert(name: str, tmp_path: Path) -> None:
    # the real capture, its task name `hog` replaced in every line: what a user of the
    # machine could have made the kernel print with prctl(PR_SET_NAME)
    capture = tmp_path / "hostile<i>.log"
    hostile = name.encode()
    capture.write_bytes(MEMCG_OOM.read_bytes().replace(b"hog", hostile).replace(b"/box", hostile))
    html = _report(capture, "html", tmp_path)
    c = _checked(html)
    # the only images are the report's own figures, inline (alt: our titles)
    ours = re.compile(r'<img alt="[^"<>]*" src="data:image/(?:svg\+xml|png);base64,[\w+/=]*">')
    assert ours.search(html)
    assert "<img" not in ours.sub("", html) and "<script" not in html
    assert set(c.tags) <= {
        "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "p", "b", "ul",
        "li", "nav", "a", "main", "section", "div", "span", "pre", "table", "caption", "thead",
        "tbody", "tr", "th", "td", "figure", "img", "figcaption",
    }  # fmt: skip
    for key, value in c.attrs:
        if key == "src":
            assert value.startswith(("data:image/svg+xml;base64,", "data:image/png;base64,"))
            continue
        assert "http" not in value and not key.startswith("on"), (key, value)
    assert "\x1b" not in html and "\u202e" not in html
    assert for_html(f"{name}(93)") in html  # shown, escaped, in the kills table
    assert f"<tr><td>{for_html(name)}</td>" in html  # the cgroup, in kills per cgroup
    assert "<title>stalllog report: hostile&lt;i&gt;.log</title>" in html
    text = _report(capture, "txt", tmp_path)
    assert "\x1b" not in text and "\u202e" not in text
    md = _report(capture, "md", tmp_path)
    assert "\x1b" not in md and "\u202e" not in md
    # log lines in fenced code blocks are shown as text by Markdown; outside them, escaped
    outside = re.sub(r"^ *(`{3,})text\n.*?^ *\1$", "", md, flags=re.M | re.S)
    assert "```" not in outside and "<img" not in outside and "<script" not in outside
    assert md_text(f"{name}(93)") in outside  # the kills table again
    # as a Markdown renderer that passes raw HTML through shows it (rich's markdown-it)
    shown = MarkdownIt("commonmark").enable("table").render(md)
    figures = re.compile(r'<img src="report-fig\d+\.png" alt="[^"<>]*" />')  # ours, beside it
    assert "<img" not in figures.sub("", shown) and "<script" not in shown
    assert f"<td>{for_html(f'{name}(93)')}</td>".replace("&#x27;", "'") in shown


def test_figures_are_embedded(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot([0, 1, 2], [3, 1, 2])
    svg = figure_from_matplotlib(fig, "stalled <tasks>", "svg")
    png = figure_from_matplotlib(fig, "kills", "png")
    model = build_report(stalllog.parse(STALL).arrow, "t")
    html = render_html(model, [svg, png])
    _checked(html)
    img = r'<img alt="stalled &lt;tasks&gt;" src="data:image/svg\+xml;base64,([^"]+)">'
    m = re.search(img, html)
    assert m and base64.b64decode(m.group(1)) == svg.data and b"<svg" in svg.data
    assert html.index('id="figures"') > html.index('id="findings"')
    md, assets = render_markdown(model, [svg, png], "rep")
    assert "![stalled &lt;tasks&gt;](rep-fig1.svg)" in md and "![kills](rep-fig2.png)" in md
    assert assets["rep-fig2.png"].startswith(b"\x89PNG") and assets["rep-fig1.svg"] == svg.data


def test_long_evidence_runs_are_cut_with_a_count() -> None:
    cap = stalllog.parse(STALL)
    source = cap.arrow["boots"]["source"][0].as_py()
    book = LineBook(cap.arrow["lines"], {source: set(range(1, 47))})
    excerpt = book.excerpt(source, "1-46")  # kswapd0's kmallocwd report and trace
    assert excerpt is not None
    shown = [(e.line_no, e.text) for e in excerpt.lines]
    assert [n for n, _ in shown] == [1, 2, 3, 4, None, 43, 44, 45, 46]
    assert shown[4][1] == "[... 38 line(s) left out: 5-42 ...]"
    assert shown[2][1] == STALL.read_text(encoding="utf-8").splitlines()[2]


def test_markdown_fence_outgrows_backticks() -> None:
    assert fence_for("no ticks") == "```"
    assert fence_for("a ```` b") == "`````"


def test_cli_stdout_and_format_errors(tmp_path: Path) -> None:
    r = runner.invoke(app, ["report", str(STALL), "-o", "-"])
    assert r.exit_code == 0 and r.stdout.startswith("stalllog report: kmallocwd-2017")
    r = runner.invoke(app, ["report", str(STALL), "-o", "-", "--format", "md"])
    assert r.exit_code == 0 and r.stdout.startswith("# stalllog report: kmallocwd-2017-too\\_many")
    r = runner.invoke(app, ["report", str(STALL), "-o", str(tmp_path / "r.pdf")])
    assert r.exit_code == 2 and "name it .html, .md or .txt" in r.output
    r = runner.invoke(app, ["report", str(tmp_path / "missing.log"), "-o", str(tmp_path / "r.txt")])
    assert r.exit_code == 1 and not (tmp_path / "r.txt").exists()
    (tmp_path / "file").write_text("")
    r = runner.invoke(app, ["report", str(STALL), "-o", str(tmp_path / "file" / "r.txt")])
    assert r.exit_code == 1 and "/file is not a directory" in r.output
    (tmp_path / "file").unlink()
    out = tmp_path / "r.report"
    r = runner.invoke(app, ["report", str(STALL), "-o", str(out), "-f", "html"])
    assert r.exit_code == 0 and out.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.report"]  # no temporary file left


def _text_problems(text: str) -> list[str]:
    return [
        f"{i}: {line!r}"
        for i, line in enumerate(text.splitlines(), 1)
        if len(line) > 80 or line != line.rstrip()
    ]


def test_text_fits_80_columns_on_the_examples() -> None:
    for path in (STALL, GLOBAL_OOM, MEMCG_OOM):
        assert _text_problems(render_text(build_report(stalllog.parse(path).arrow, "x"))) == []


@pytest.mark.slow
@pytest.mark.parametrize("path", sample_files(), ids=sample_id)
def test_every_sample_reports_in_80_columns(path: Path) -> None:
    model = build_report(stalllog.parse(path).arrow, f"stalllog report: {path.name}")
    assert _text_problems(render_text(model)) == []
    _checked(render_html(model))
    render_markdown(model)


@pytest.mark.parametrize(
    ("sample", "kinds"),
    [
        (GLOBAL_OOM, ["Timeline", "Free memory", "OOM victims"]),
        (STALL, ["Timeline", "Longest-stalled tasks", "What the stalled tasks were doing"]),
    ],
    ids=["global-oom", "stall"],
)
def test_cli_report_carries_the_plots_with_data(
    sample: Path, kinds: list[str], tmp_path: Path
) -> None:
    """`stalllog report` embeds each plot the capture has data for (a global OOM has no
    stalled tasks; the kmallocwd excerpt no Mem-Info or kill), the timeline leading in HTML."""
    html = tmp_path / "r.html"
    assert runner.invoke(app, ["report", str(sample), "-o", str(html)]).exit_code == 0
    page = html.read_text()
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", page)
    assert len(captions) == len(kinds)
    assert all(c.startswith(k) for c, k in zip(captions, kinds, strict=True))
    assert page.index('<figure class="lead">') < page.index('id="findings"')
    md = tmp_path / "r.md"
    assert runner.invoke(app, ["report", str(sample), "-o", str(md)]).exit_code == 0
    pngs = sorted(tmp_path.glob("r-fig*.png"))
    assert len(pngs) == 3 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert all(f"]({p.name})" in md.read_text() for p in pngs)


@pytest.mark.parametrize("fmt", ["html", "md", "txt"])
def test_redacted_report_names_no_host(fmt: str, tmp_path: Path) -> None:
    """A syslog capture of host `dr-2` (its prefix on every line): `report --redact` shows the
    evidence lines with the host as a pseudonym, in the text and in the figures."""
    sample = SAMPLES / "corpus/lkml/oom-2.6.32-279-rhel6-haproxy-slab-unreclaimable-syslog.txt"
    assert "dr-2 kernel:" in sample.read_text()
    out = tmp_path / f"r.{fmt}"
    r = runner.invoke(app, ["report", str(sample), "-o", str(out), "--redact"])
    assert r.exit_code == 0, r.output
    files = [out, *tmp_path.glob("r-fig*")]
    assert all(b"dr-2" not in f.read_bytes() for f in files)
    # the `Killed process` evidence line (line 160), its host pseudonymized
    assert "host-1 kernel: Killed process 20557" in out.read_text()


def test_allocation_failure_capture_says_what_it_holds() -> None:
    """No finding covers a lone order-3 GFP_ATOMIC failure (2.6.32.1 e1000, swapper(0)); the
    verdict still names it and the report lists it."""
    sample = SAMPLES / "corpus/lkml/allocfail-2.6.32.1-i686-e1000-nat-order3-syslog.txt"
    r = runner.invoke(app, ["report", str(sample), "-o", "-"])
    assert r.exit_code == 0, r.output
    assert "1 allocation failure(s) (order 3; GFP_ATOMIC) by swapper(0)" in r.output.replace(
        "\n  ", " "
    )
    assert re.search(r"swapper\(0\)\s+page\s+3\s+GFP_ATOMIC", r.output)


def test_a_cited_call_trace_shows_its_top_frames() -> None:
    """kswapd_blocked cites kswapd0(67)'s `Call Trace:` (line 3): the excerpt goes on with the
    trace's first 8 frames (lines 4-11), as the thread read it, not the header alone."""
    r = runner.invoke(app, ["report", str(STALL), "-o", "-"])
    assert r.exit_code == 0, r.output
    block = r.output.split("kswapd0(67) is waiting", 1)[1].split("* WARNING", 1)[0]
    shown = re.findall(r"^ +(\d+)\| ", block, flags=re.M)
    assert shown == [str(n) for n in range(3, 12)]
    assert "__schedule+0x336/0xe00" in block and "down+0x41/0x50" in block


def _key(text: str, label: str) -> str:
    """A key number's value, its wrapped continuation lines joined."""
    m = re.search(rf"^{re.escape(label)} +(.*(?:\n {{10,}}.*)*)", text, re.M)
    assert m, label
    return " ".join(part.strip() for part in m[1].split("\n"))


def test_report_says_when_in_wall_clock_time(tmp_path: Path) -> None:
    """People match a report against their incident timeline: the wall clock the capture
    printed, in UTC where its prefix names the zone (journalctl short-full `+0330`) or --tz
    does, else as printed and said to be local."""
    tehran = SAMPLES / "structured/guest/6.1.0-56-amd64-memcg-oom-journal-short-full-tehran.log.xz"
    text = _report(tehran, "txt", tmp_path)
    assert _key(text, "logged") == "2026-12-04 17:56:31 to 17:56:32 UTC"
    assert _key(text, "worst OOM kill").endswith("(boot 0, line 1089, 2026-12-04 17:56:32 UTC)")
    journal = SAMPLES / "qemu/6.1.0-56-amd64-global-oom-journal.log.xz"
    text = _report(journal, "txt", tmp_path)
    assert _key(text, "logged") == "Nov 25 18:47:11 to 18:47:12 local time, zone unknown (--tz)"
    out = tmp_path / "tz.txt"
    r = runner.invoke(app, ["report", str(journal), "-o", str(out), "--tz", "Europe/Berlin",
                            "--year", "2026"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert _key(out.read_text(), "logged") == "2026-11-25 17:47:11 to 17:47:12 UTC"
    assert "logged" not in _report(GLOBAL_OOM, "txt", tmp_path)  # serial: no wall clock
