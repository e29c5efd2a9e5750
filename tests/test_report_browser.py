"""The HTML report in a real browser (Debian's chromium, headless): a real capture whose process
names were made hostile renders (the screenshot is not blank), runs no script and makes no
request. `.ci/run` installs chromium and sets STALLLOG_REQUIRE_BROWSER=1: CI never skips."""

from __future__ import annotations

import http.server
import lzma
import os
import shutil
import subprocess
import threading
import zlib
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import SAMPLES
from typer.testing import CliRunner

from stalllog.cli import app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("STALLLOG_REQUIRE_BROWSER"):
        raise RuntimeError("chromium is required (STALLLOG_REQUIRE_BROWSER=1) but not found")
    pytest.skip("no chromium on this machine", allow_module_level=True)

SAMPLE = SAMPLES / "qemu" / "6.1.0-56-amd64-global-oom-serial.log.xz"


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:  # http.server's name
        _Recorder.hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _hostile_capture(tmp_path: Path, port: int) -> Path:
    """The sample with its OOM victims' comm `hog` replaced by names that try HTML, scripts,
    a request to our recorder, a spreadsheet formula, terminal escapes and a bidi override."""
    names = [
        f'<img src="http://127.0.0.1:{port}/img" onerror="document.title=\'PWNED\'">',
        "<script>document.title='PWNED'</script>",
        f'=HYPERLINK("http://127.0.0.1:{port}/cell")',
        "\x1b]8;;http://x\x07evil\x1b[31m",
        "gpj.\u202eexe",
    ]
    text = lzma.decompress(SAMPLE.read_bytes()).decode()
    parts = text.split("(hog)")
    out = parts[0] + "".join(f"({names[i % len(names)]})" + p for i, p in enumerate(parts[1:]))
    path = tmp_path / "hostile-serial.log"
    path.write_text(out)
    return path


def _blank(png: bytes) -> bool:
    """True when every pixel row of the PNG is one colour (decodes the IDAT of an 8-bit
    RGB/RGBA non-interlaced PNG, which is what chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, channels = 8, b"", 0, 4
    while pos < len(png):
        n = int.from_bytes(png[pos : pos + 4], "big")
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            width = int.from_bytes(body[:4], "big")
            channels = {2: 3, 6: 4}[body[9]]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = 1 + width * channels
    # filter bytes aside, a blank page decompresses to rows that are all the same after the
    # first, with filter "up" (2) and zero differences, or identical raw rows
    rows = {raw[i + 1 : i + stride] for i in range(stride, len(raw), stride)}
    return len(rows) <= 2 and all(len(set(r)) <= channels for r in rows)


def test_hostile_names_stay_inert_in_a_real_browser(tmp_path: Path) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        capture = _hostile_capture(tmp_path, server.server_port)
        html = tmp_path / "report.html"
        result = CliRunner().invoke(app, ["report", str(capture), "-o", str(html)])
        assert result.exit_code == 0, result.output
        common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                  f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1024"]  # fmt: skip
        shot = tmp_path / "shot.png"
        subprocess.run([*common, f"--screenshot={shot}", html.as_uri()], check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        dom = subprocess.run([*common, "--dump-dom", html.as_uri()], check=True,
                             capture_output=True, timeout=120, text=True).stdout  # fmt: skip
    finally:
        server.shutdown()
    assert not _blank(shot.read_bytes())
    assert "PWNED" not in dom.split("<body", 1)[0]  # the title was not rewritten by a script
    assert '<img src="http://127.0.0.1' not in dom and "<script>document" not in dom
    assert _Recorder.hits == []
    # the names are shown, as text
    assert "&lt;script&gt;document.title" in dom
    assert "HYPERLINK" in dom
