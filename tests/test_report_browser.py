"""The report as a reader's browser shows it: the demo's report.html in headless Chromium.

Chromium is Debian's `chromium` package; `.ci/run` installs it when missing. Without it
these tests fail in CI (CI=true) and are skipped elsewhere, saying how to install it.
"""

from __future__ import annotations

import os
import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from support import EXPECTED_AUTO, recon_run

from recon.errors import ReportError
from reports.screenshot import (
    PNG_SIGNATURE,
    dump_dom,
    find_chromium,
    page_screenshot,
    read_png,
    screenshot,
    write_png,
)

HOSTILE = "<script>alert(1)</script><b>x</b>"
SECTIONS = ("summary", "review", "unmatched-lines", "unpaid-parcelas", "rejected", "settled",
            "files")  # gaps and write-errors appear only when there are some (not in the demo)


@pytest.fixture
def chromium() -> str:
    found = find_chromium()
    if found:
        return found
    message = ("Chromium is not installed, so the report cannot be checked in a browser: "
               "`sudo apt-get install --no-install-recommends chromium` (.ci/run does it)")
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(message)
    pytest.skip(message)


class Dom(HTMLParser):
    """Elements, ids and visible text of a serialized DOM."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.headings: dict[str, str] = {}
        self._heading: str | None = None
        self._in_body = False
        self.text: list[str] = []
        self.feed(html)
        self.close()

    @property
    def ids(self) -> set[str]:
        return {attrs["id"] for _, attrs in self.elements if attrs.get("id")}

    @property
    def visible_text(self) -> str:
        return " ".join(" ".join(self.text).split())

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == name]

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if tag == "body":
            self._in_body = True
        if tag in ("h1", "h2", "h3") and attributes.get("id"):
            self._heading = attributes["id"]
            self.headings[self._heading] = ""

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3"):
            self._heading = None

    def handle_data(self, data):
        if self._in_body:
            self.text.append(data)
        if self._heading:
            self.headings[self._heading] += data


def blank_reasons(image: np.ndarray) -> list[str]:
    """Why a screenshot looks blank (empty when it shows a page of text and colour)."""
    rgb = image[..., :3].astype(np.uint32)
    colours = np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]).size
    ink = (image[..., :3] @ np.array([0.299, 0.587, 0.114]) < 128).any(axis=1)  # dark text
    reasons = []
    if colours < 16:
        reasons.append(f"only {colours} distinct colours")
    if ink.mean() < 0.10:
        reasons.append(f"only {ink.mean():.0%} of the rows have dark text")
    bands = np.array_split(ink, 4)
    if not all(band.any() for band in bands):
        reasons.append("a quarter of the page has no text at all")
    return reasons


def demo_report(folder: Path) -> Path:
    [report] = (folder / "reports").glob("*/report.html")
    return report


def test_the_demo_report_renders_with_every_section_and_no_script(demo, chromium, tmp_path):
    folder, _ = demo
    assert recon_run(folder) == 3  # the demo has exceptions by design
    report = demo_report(folder)

    png = screenshot(report, tmp_path / "report.png", width=1200, height=1600)
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (1200, 1600)
    image = read_png(png)
    assert image.shape[:2] == (1600, 1200)
    assert blank_reasons(image) == []

    dom = Dom(dump_dom(report))
    assert set(SECTIONS) <= dom.ids, f"sections missing: {set(SECTIONS) - dom.ids}"
    assert dom.ids == Dom(report.read_text(encoding="utf-8")).ids  # the browser dropped nothing
    for section in SECTIONS[1:]:
        assert dom.headings.get(section, "").strip(), f"section {section} has no heading"
    text = dom.visible_text
    assert "extrato-santander-corrompido.ofx" in text  # the rejected file, by name
    assert all(descricao in text for descricao in EXPECTED_AUTO)  # every automatic baixa
    # Mail clients run no JavaScript and fetch nothing: none in the report, inline CSS only.
    assert dom.tags("script") == [] and dom.tags("link") == [] and dom.tags("iframe") == []
    for tag, attrs in dom.elements:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        for name in ("href", "src"):
            assert not (attrs.get(name) or "").strip().lower().startswith(
                ("javascript:", "http:", "https:", "//")), (tag, attrs)


def test_a_bank_memo_with_html_is_shown_as_text_in_the_browser(demo, chromium):
    folder, _ = demo
    csv_file = folder / "inbox" / "bradesco-2026-11.csv"
    original = b"Pacote Servicos Padronizado Prioritarios"
    assert original in csv_file.read_bytes()
    csv_file.write_bytes(csv_file.read_bytes().replace(original, b"Pacote " + HOSTILE.encode()))
    assert recon_run(folder) == 3
    report = demo_report(folder)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;" in report.read_text(
        encoding="utf-8")

    dom = Dom(dump_dom(report))
    assert dom.tags("script") == [] and dom.tags("b") == []
    assert f"Pacote {HOSTILE}" in dom.visible_text  # the reader sees the characters


def test_the_blank_check_fails_on_a_white_page(chromium, tmp_path):
    page = tmp_path / "white.html"
    page.write_text("<!DOCTYPE html><html><body style='background:#fff'></body></html>")
    image = read_png(screenshot(page, tmp_path / "white.png", width=400, height=300))
    assert image.shape[:2] == (300, 400)
    assert len(blank_reasons(image)) == 3


def test_a_page_screenshot_is_cut_below_the_page(chromium, tmp_path):
    page = tmp_path / "block.html"
    page.write_text("<!DOCTYPE html><html><body style='margin:0;background:#fff'>"
                    "<div style='height:700px;background:#123456'></div></body></html>")
    png, fits = page_screenshot(page, tmp_path / "block.png", width=500, max_height=2000,
                                margin=24)
    image = read_png(png)
    assert fits and image.shape[:2] == (724, 500)
    assert tuple(image[699, 10, :3]) == (0x12, 0x34, 0x56)
    assert tuple(image[700, 10, :3]) == (255, 255, 255)


@pytest.mark.parametrize("filter_type", [0, 1, 2, 3, 4, None])
@pytest.mark.parametrize("channels", [3, 4])
def test_png_round_trip_with_every_row_filter(tmp_path, filter_type, channels):
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (6, 5, channels), dtype=np.uint8)
    image[3] = image[2]  # a repeated row, a flat run: what screenshots are made of
    image[4, :, :] = 200
    png = write_png(tmp_path / "x.png", image, filter_type)
    assert (read_png(png) == image).all()


def test_chromium_missing_or_failing_is_a_clear_error(tmp_path, monkeypatch):
    page = tmp_path / "p.html"
    page.write_text("<p>x</p>")
    monkeypatch.setenv("RECON_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(ReportError, match="Chromium not found.*apt-get install"):
        dump_dom(page)

    broken = tmp_path / "broken-chromium"
    broken.write_text("#!/bin/sh\necho 'early noise' >&2\necho 'FATAL: no display here' >&2\n"
                      "exit 3\n")
    broken.chmod(0o755)
    monkeypatch.setenv("RECON_CHROMIUM", str(broken))
    with pytest.raises(ReportError, match=r"status 3(.|\n)*FATAL: no display here"):
        screenshot(page, tmp_path / "p.png")
