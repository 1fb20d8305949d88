"""Context in, HTML out. Autoescaped: memos and names come from banks and customers."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from reports.charts import amount_bars, auto_rate_chart
from reports.context import MAX_ROWS
from reports.labels import LABELS, day, money, short_day, thousands


def format_score(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def environment(language: str = "pt") -> Environment:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["brl"] = money(language)
    env.filters["ddmmyyyy"] = day(language)
    env.filters["score"] = format_score
    env.filters["thousands"] = thousands(language)
    return env


def render_html(context: dict[str, Any]) -> str:
    language = context.get("language", "pt")
    labels = LABELS[language]
    charts = {
        "auto_rate": auto_rate_chart(context.get("auto_rate_history", []), short_day(language),
                                     labels["auto_rate"]),
        "unexplained": amount_bars(context.get("unexplained_by_account", []), money(language),
                                   labels["unexplained_by_account"]),
    }
    return environment(language).get_template("report.html.j2").render(
        **{"max_rows": MAX_ROWS, **context}, t=labels, charts=charts)
