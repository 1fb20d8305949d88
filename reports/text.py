"""Context in, plain text out: the report's text/plain alternative for mail clients.

The same sections as report.html (the same labels, in the report's language), briefly: what a
person must look at, one entry per exception. Lines are wrapped at 100 columns because mail
clients re-wrap or quote longer ones unpredictably.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

from reports.labels import LABELS, day, money

WIDTH = 100
INDENT = "    "

Row = dict[str, Any]


class _Writer:
    """The labels and formats of one language, and the sections written with them."""

    def __init__(self, language: str):
        self.t = LABELS[language]
        self.money = money(language)
        self.day = day(language)

    def render(self, context: dict[str, Any], link: str | None) -> str:
        lines = [*self.header(context), "", *self.headline(context)]
        for section in (self.review, self.partials, self.unmatched, self.unpaid, self.rejects,
                        self.gaps, self.write_errors):
            body = section(context)
            if body:
                lines += ["", *body]
        if link:
            lines += ["", *_wrap(f"{self.t['full_report']}: {link}", first="")]
        lines += ["", self.t["footer"]]
        return "\n".join(lines) + "\n"

    def header(self, context: dict[str, Any]) -> list[str]:
        run, t = context["run"], self.t
        mode = f" · {t['dry_run']}" if run.get("dry_run") else ""
        return [t["title"], *_wrap(
            f"{t['run']} {run['run_id']} · {t['period']} {self.day(run['window_from'])} {t['to']} "
            f"{self.day(run['window_to'])}{mode}", first="")]

    def headline(self, context: dict[str, Any]) -> list[str]:
        counts, t = context["counts"], self.t
        figures = [(t["lines_read"], counts.get("lines", 0)),
                   (t["settled_auto"], counts.get("settled", 0)),
                   (t["to_review"], counts.get("review", 0)),
                   (t["unmatched"], counts.get("unmatched", 0)),
                   (t["unpaid"], len(context["unpaid_parcelas"])),
                   (t["files_rejected"], counts.get("files_rejected", 0))]
        # Shown only when they happen: most nights they are zero and would be noise.
        figures += [(t[label], counts[key]) for label, key in (
            ("lines_rejected", "lines_rejected"), ("gaps_short", "statement_gaps"),
            ("write_errors_title", "write_errors")) if counts.get(key)]
        return [f"  {label:<32}{value:>6}" for label, value in figures]

    def review(self, context: dict[str, Any]) -> list[str]:
        return _listed(self.t["review_title"], context["review"], self.t["no_review"],
                       self.suggestion)

    def partials(self, context: dict[str, Any]) -> list[str]:
        return _listed(self.t["partials_title"], context.get("partials") or [], None,
                       self.suggestion)

    def suggestion(self, item: Row) -> list[str]:
        number = f"#{item['item_id']}  " if item.get("item_id") else ""
        lines = _wrap(f"{number}{self.line_text(item)}", first="  ")
        lines += _wrap(f"{self.t['proposal']}: {self.proposal(item)}")
        lines += _wrap(f"{self.t['reason']}: {item['reason']}")
        if item.get("item_id"):
            lines.append(f"{INDENT}{self.t['approve']}: recon approve {item['item_id']}")
        return lines

    def proposal(self, item: Row) -> str:
        t = self.t
        allocations = item.get("allocations") or []
        if len(allocations) > 1:  # a split: every parcela the amount is divided into
            return "; ".join(f"{a['descricao']} – {a.get('contact_name') or t['no_contact']} · "
                             f"{t['net']} {self.money(int(a['amount_cents']))}" for a in allocations)
        proposed = [c for c in item["candidates"] if c["parcela_id"] == item.get("parcela_id")]
        best = (proposed or item["candidates"] or [None])[0]
        if best is None:
            return t["no_parcela"]
        return (f"{best['descricao']} – {best.get('contact_name') or t['no_contact']} · "
                f"{t['due']} {self.day(best['due_on'])} · {self.money(int(best['open_cents']))}")

    def unmatched(self, context: dict[str, Any]) -> list[str]:
        return _listed(self.t["unmatched_title"], context["unmatched_lines"],
                       self.t["all_matched"], lambda item: [
                           *_wrap(self.line_text(item), first="  "),
                           *_wrap(f"{self.t['reason']}: {item['reason']}")])

    def unpaid(self, context: dict[str, Any]) -> list[str]:
        def entry(p: Row) -> list[str]:
            contact = f" – {p['contact_name']}" if p.get("contact_name") else ""
            return _wrap(f"{self.day(p['due_on'])}  {self.money(int(p['open_cents']))}  "
                         f"{p['descricao']}{contact} ({self.t[p.get('kind') or 'receber']})",
                         first="  ")

        return _listed(self.t["unpaid_title"], context["unpaid_parcelas"], self.t["none_f"], entry)

    def rejects(self, context: dict[str, Any]) -> list[str]:
        def entry(r: Row) -> list[str]:
            where = self.t["whole_file"] if r["kind"] == "file" else (
                f"{self.t['line']} {r['line']}" if r.get("line") is not None else "")
            lines = _wrap(f"{r['file']}, {where}: {_field_and_value(r)}{r['reason']}", first="  ")
            if r.get("hint"):
                lines += _wrap(f"{self.t['what_to_do']}: {r['hint']}")
            return lines

        return _listed(self.t["rejected_title"], context["rejects"], self.t["none_m"], entry)

    def gaps(self, context: dict[str, Any]) -> list[str]:
        def entry(g: Row) -> list[str]:
            difference = (f" · {self.money(int(g['difference_cents']))}"
                          if g.get("difference_cents") else "")
            return _wrap(f"{g['conta']}: {self.day(g['start_date'])} {self.t['to']} "
                         f"{self.day(g['end_date'])}{difference} · {g['detail']}", first="  ")

        return _listed(self.t["gaps_title"], context.get("gaps") or [], None, entry)

    def write_errors(self, context: dict[str, Any]) -> list[str]:
        def entry(w: Row) -> list[str]:
            error = f": {w['error']}" if w.get("error") else ""
            return _wrap(f"{self.day(w['posted_on'])}  {self.money(int(w['amount_cents']))}  "
                         f"{w.get('descricao') or w['parcela_id']} · {w['state']}{error}",
                         first="  ")

        return _listed(self.t["write_errors_title"], context["write_errors"], None, entry)

    def line_text(self, item: Row) -> str:
        where = (f" ({item['file']}, {self.t['line']} {item['source_line']})"
                 if item.get("source_line") else (f" ({item['file']})" if item.get("file") else ""))
        return (f"{self.day(item['posted_on'])}  {self.money(int(item['amount_cents']))}  "
                f"{item['memo']}{where}")


def render_text(context: dict[str, Any], *, link: str | None = None) -> str:
    """The plain-text report of one run.

    Args:
      context: what reports.context.build_context returns (its `language` picks the labels).
      link: where the full report can be opened, if it is served somewhere.
    """
    return _Writer(context.get("language", "pt")).render(context, link)


def _listed(title: str, items: list[Row], empty: str | None,
            entry: Callable[[Row], list[str]]) -> list[str]:
    """A titled section, one entry per item; with nothing in it, `empty` (or no section)."""
    if not items:
        return [] if empty is None else [f"{title} (0)", f"  {empty}"]
    lines = [f"{title} ({len(items)})"]
    for item in items:
        lines += entry(item)
    return lines


def _field_and_value(reject: Row) -> str:
    text = reject.get("field") or ""
    if reject.get("value") is not None:
        text += f" = “{reject['value']}”"
    return f"{text.strip()}: " if text else ""


def _wrap(text: str, *, first: str = INDENT) -> list[str]:
    """One entry, wrapped; continuation lines indented under it. Never longer than WIDTH."""
    return textwrap.wrap(text, width=WIDTH, initial_indent=first, subsequent_indent=first + INDENT,
                         break_on_hyphens=False) or [first.rstrip()]
