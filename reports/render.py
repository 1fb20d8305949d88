"""Context in, HTML out. Autoescaped: memos and names come from banks and customers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from recon.money import format_brl


def format_date(value: date | datetime | None) -> str:
    return "" if value is None else value.strftime("%d/%m/%Y")


def format_score(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["brl"] = format_brl
    env.filters["ddmmyyyy"] = format_date
    env.filters["score"] = format_score
    return env


def render_html(context: dict[str, Any]) -> str:
    return environment().get_template("report.html.j2").render(**context)
