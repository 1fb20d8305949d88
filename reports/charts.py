"""Small inline SVG charts for the report: numbers in, markup out (escaped, no script).

Inline SVG needs no attachment and no network; clients that do not draw SVG (some webmail)
still show the figures in the tables beside each chart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup, escape

BAR = "#2f8132"
WARN = "#ab091e"
INK = "#52606d"
GRID = "#e4e7eb"


def auto_rate_chart(history: Sequence[dict[str, Any]], label_of: Callable[[Any], str],
                    title: str, width: int = 460, height: int = 140) -> Markup:
    """One bar per run: the share of its bank lines settled automatically (0-100 %)."""
    if not history:
        return Markup("")
    top, bottom, left = 16, 22, 30
    plot_h = height - top - bottom
    step = min((width - left) / len(history), 36.0)  # one run must not fill the chart
    parts = [_frame(width, height, title)]
    for pct in (0, 50, 100):
        y = top + plot_h * (1 - pct / 100)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width}" y2="{y:.1f}" stroke="{GRID}"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" fill="{INK}" '
                     f'text-anchor="end">{pct}%</text>')
    for i, run in enumerate(history):
        share = run["auto"] / run["lines"] if run["lines"] else 0.0
        bar_h = plot_h * share
        x = left + i * step + step * 0.15
        parts.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - bar_h:.1f}" width="{step * 0.7:.1f}" '
            f'height="{bar_h:.1f}" fill="{BAR}"><title>{escape(label_of(run["window_to"]))}: '
            f'{share:.0%}</title></rect>'
            f'<text x="{x + step * 0.35:.1f}" y="{height - 6}" font-size="9" fill="{INK}" '
            f'text-anchor="middle">{escape(label_of(run["window_to"]))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def amount_bars(rows: Sequence[dict[str, Any]], money: Callable[[int], str], title: str,
                width: int = 460) -> Markup:
    """One horizontal bar per account: bank money no parcela explains yet."""
    if not rows:
        return Markup("")
    row_h, label_w = 22, 150
    height = row_h * len(rows) + 8
    largest = max(int(r["cents"]) for r in rows) or 1
    parts = [_frame(width, height, title)]
    for i, row in enumerate(rows):
        y = 4 + i * row_h
        bar_w = (width - label_w - 90) * int(row["cents"]) / largest
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" font-size="11" fill="{INK}" '
            f'text-anchor="end">{escape(str(row["conta"])[:24])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_w:.1f}" height="{row_h - 8}" '
            f'fill="{WARN}"/>'
            f'<text x="{label_w + bar_w + 6:.1f}" y="{y + 14}" font-size="11" fill="{INK}">'
            f'{escape(money(int(row["cents"])))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _frame(width: int, height: int, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
            f'style="font-family: Arial, Helvetica, sans-serif;"><title>{escape(title)}</title>')
