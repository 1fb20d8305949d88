"""Render a report.html in headless Chromium: a PNG screenshot, or the DOM the browser built.

Used by tests/test_report_browser.py and to regenerate the README's screenshot:

    make demo
    .venv/bin/python -m reports.screenshot demo-out/reports/*/report.html docs/report-demo.png

Chromium comes from Debian's `chromium` package (`.ci/run` installs it when missing);
RECON_CHROMIUM names another binary. PNGs are read and written with zlib and numpy only.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

from recon.errors import ReportError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
              "chrome-headless-shell")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", "--no-default-browser-check", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-extensions", "--mute-audio",
         "--force-color-profile=srgb", "--force-device-scale-factor=1")
TIMEOUT_SECONDS = 90.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def find_chromium() -> str | None:
    """The Chromium binary: $RECON_CHROMIUM if set, else the first known name on PATH."""
    named = os.environ.get("RECON_CHROMIUM")
    if named:
        return shutil.which(named)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(html_path: Path | str, png_path: Path | str, width: int = 1200,
               height: int = 2400, *, timeout: float = TIMEOUT_SECONDS) -> Path:
    """Screenshot the top width x height pixels of html_path (a window that size) to png_path."""
    png = Path(png_path).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    _chromium(html_path, f"--window-size={width},{height}", f"--screenshot={png}",
              timeout=timeout)
    if not png.is_file() or png.stat().st_size == 0:
        raise ReportError(f"Chromium exited without writing the screenshot {png}")
    return png


def dump_dom(html_path: Path | str, *, timeout: float = TIMEOUT_SECONDS) -> str:
    """The DOM Chromium built from html_path, serialized (what a reader's browser shows)."""
    return _chromium(html_path, "--dump-dom", timeout=timeout)


def _chromium(html_path: Path | str, *args: str, timeout: float) -> str:
    binary = find_chromium()
    if binary is None:
        raise ReportError(
            "Chromium not found (looked for $RECON_CHROMIUM, then "
            f"{', '.join(CANDIDATES)} on PATH): install Debian's package with "
            "`sudo apt-get install --no-install-recommends chromium` (.ci/run does it)")
    page = Path(html_path).resolve()
    if not page.is_file():
        raise ReportError(f"no report to render at {page}")
    with tempfile.TemporaryDirectory(prefix="recon-chromium-") as profile:
        command = [binary, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()]
        # Own session, so a hung browser is killed with its renderer and GPU children.
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise ReportError(f"Chromium did not finish within {timeout:.0f} s rendering {page}"
                              f"{_tail(err)}") from None
    if proc.returncode != 0:
        raise ReportError(f"Chromium exited with status {proc.returncode} rendering {page}"
                          f"{_tail(err)}")
    return out.decode("utf-8", errors="replace")


def _tail(stderr: bytes, lines: int = 15) -> str:
    """The last lines of Chromium's stderr, without the D-Bus noise every headless run prints."""
    text = stderr.decode("utf-8", errors="replace").splitlines()
    useful = [line for line in text if "dbus" not in line.lower()] or text
    return ("; Chromium's stderr ends with:\n" + "\n".join(useful[-lines:])) if useful else ""


# -- PNG, with zlib and numpy only -------------------------------------------------------

def read_png(path: Path | str) -> np.ndarray:
    """An 8-bit, non-interlaced RGB or RGBA PNG as a (height, width, channels) uint8 array."""
    data = Path(path).read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise ReportError(f"{path} is not a PNG file")
    pos, header, idat = len(PNG_SIGNATURE), None, []
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ReportError(f"{path}: PNG without an IHDR chunk")
    width, height, depth, colour_type, _, _, interlace = header
    channels = {2: 3, 6: 4}.get(colour_type)
    if depth != 8 or channels is None or interlace:
        raise ReportError(f"{path}: unsupported PNG (depth {depth}, colour type {colour_type}, "
                          f"interlace {interlace}); expected 8-bit RGB or RGBA")
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as exc:
        raise ReportError(f"{path}: corrupt PNG image data ({exc})") from None
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise ReportError(f"{path}: PNG image data has {len(raw)} bytes, expected "
                          f"{height * (stride + 1)}")
    rows = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    image = np.zeros((height, stride), np.uint8)
    previous = np.zeros(stride, np.uint8)
    for y in range(height):
        image[y] = previous = _unfilter(int(rows[y, 0]), rows[y, 1:], previous, channels)
    return image.reshape(height, width, channels)


def _unfilter(kind: int, line: np.ndarray, up: np.ndarray, bpp: int) -> np.ndarray:
    if kind == 0:
        return line
    if kind == 1:  # Sub: a running sum per channel, modulo 256
        return np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
    if kind == 2:
        return line + up
    if kind not in (3, 4):
        raise ReportError(f"unknown PNG filter type {kind}")
    out, above = bytearray(line.tobytes()), up.tobytes()  # left-to-right: plain Python
    for i in range(len(out)):
        a = out[i - bpp] if i >= bpp else 0
        b = above[i]
        if kind == 3:
            out[i] = (out[i] + ((a + b) >> 1)) & 255
            continue
        c = above[i - bpp] if i >= bpp else 0
        pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
        out[i] = (out[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    return np.frombuffer(bytes(out), np.uint8)


def write_png(path: Path | str, image: np.ndarray, filter_type: int | None = None) -> Path:
    """Write a (height, width, 3 or 4) uint8 array as a PNG, each row with the best filter.

    filter_type (0-4) forces one filter on every row instead (the tests use it).
    """
    height, width, channels = image.shape
    pixels = image.astype(np.int16).reshape(height, width * channels)
    left = np.zeros_like(pixels)
    left[:, channels:] = pixels[:, :-channels]
    up = np.zeros_like(pixels)
    up[1:] = pixels[:-1]
    corner = np.zeros_like(pixels)
    corner[1:, channels:] = pixels[:-1, :-channels]
    pa, pb, pc = np.abs(up - corner), np.abs(left - corner), np.abs(left + up - 2 * corner)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, corner))
    candidates = np.stack([pixels, pixels - left, pixels - up, pixels - (left + up) // 2,
                           pixels - paeth]) & 255
    # The usual heuristic: per row, the filter whose output is smallest as signed bytes.
    cost = np.minimum(candidates, 256 - candidates).sum(axis=2)
    best = cost.argmin(axis=0) if filter_type is None else np.full(height, filter_type)
    filtered = candidates[best, np.arange(height)].astype(np.uint8)
    raw = np.concatenate([best.astype(np.uint8)[:, None], filtered], axis=1).tobytes()
    colour_type = {3: 2, 4: 6}[channels]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(PNG_SIGNATURE
                    + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type,
                                                  0, 0, 0))
                    + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))
    return out


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def content_height(image: np.ndarray) -> int:
    """Rows down to the last one that differs from the bottom row (the page's background)."""
    background = image[-1, 0]
    differs = (image != background).any(axis=(1, 2))
    rows = np.flatnonzero(differs)
    return int(rows[-1]) + 1 if rows.size else 0


def page_screenshot(html_path: Path | str, png_path: Path | str, width: int = 1200,
                    max_height: int = 8000, margin: int = 24) -> tuple[Path, bool]:
    """Screenshot the whole page: render in a tall window, cut the empty background below.

    Returns the PNG and whether the page fit (False: it is longer than max_height).
    """
    png = screenshot(html_path, png_path, width, max_height)
    image = read_png(png)
    used = content_height(image)
    fits = used + margin < max_height
    if fits:
        write_png(png, image[:used + margin])
    return png, fits


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m reports.screenshot",
        description="Screenshot a report.html in headless Chromium, full page height.",
        epilog="example: python -m reports.screenshot demo-out/reports/*/report.html "
               "docs/report-demo.png")
    parser.add_argument("report", type=Path, help="the report.html to render")
    parser.add_argument("png", type=Path, help="where to write the PNG")
    parser.add_argument("--width", type=int, default=1200, help="window width (default 1200)")
    parser.add_argument("--max-height", type=int, default=8000,
                        help="tallest page captured (default 8000); the rest is cut")
    args = parser.parse_args(argv)
    try:
        png, fits = page_screenshot(args.report, args.png, args.width, args.max_height)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    height, width, _ = read_png(png).shape
    print(f"{png} ({width}x{height})")
    if not fits:
        print(f"warning: the page is longer than {args.max_height} px and was cut; "
              "raise --max-height", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
