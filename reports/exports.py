"""exceptions.csv and exceptions.json: one row per exception, with a stable schema documented
in the README (new kinds or columns are added at the end; none is renamed or removed)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal
from typing import Any

from recon.money import from_cents
from reports.labels import LABELS, day

SCHEMA_VERSION = 1

COLUMNS = ("kind", "run_id", "date", "amount", "memo", "file", "line", "parcela_id",
           "parcela", "contact", "score", "reason", "hint")


def exception_rows(context: dict[str, Any]) -> list[dict[str, Any]]:
    run_id = context["run"]["run_id"]
    rows: list[dict[str, Any]] = []
    for item in context["review"]:
        suggested = [c for c in item["candidates"] if c["parcela_id"] == item["parcela_id"]]
        best = suggested[0] if suggested else {}
        rows.append(_row("review", run_id, item, parcela_id=item["parcela_id"],
                         parcela=best.get("descricao"), contact=best.get("contact_name"),
                         score=_score(item), reason=item["reason"]))
    for item in context.get("partials", []):
        rows.append(_row("partial_payment", run_id, item, parcela_id=item["parcela_id"],
                         score=_score(item), reason=item["reason"]))
    for item in context["unmatched_lines"]:
        rows.append(_row("unmatched_line", run_id, item, reason=item["reason"]))
    for item in context["unpaid_parcelas"]:
        rows.append({"kind": "unpaid_parcela", "run_id": run_id, "date": item["due_on"],
                     "amount": from_cents(item["open_cents"]), "parcela_id": item["parcela_id"],
                     "parcela": item["descricao"], "contact": item["contact_name"],
                     "reason": f"no bank line matched (status {item['status']}"
                               + (f", {item['days_overdue']} days overdue)"
                                  if item.get("days_overdue") else ")")})
    words = LABELS[context.get("language", "pt")]
    for item in context.get("retorno_titles", []):
        no_credit = item["status"] == "no_credit"
        reason = (words["retorno_no_credit"] if no_credit else
                  words["retorno_no_parcela"].replace("{due}", day(context.get(
                      "language", "pt"))(item["due_on"])))
        rows.append({"kind": "retorno_title", "run_id": run_id, "date": item["credited_on"],
                     "amount": from_cents(item["net_cents"]), "file": item["file"],
                     "line": item["source_line"], "contact": item["payer_name"],
                     "reason": f"{words['nosso_numero']} {item['nosso_numero']}: {reason}"})
    for item in context["rejects"]:
        kind = {"file": "rejected_file", "warning": "statement_warning"}.get(
            item["kind"], "rejected_line")
        rows.append({"kind": kind, "run_id": run_id, "file": item["file"], "line": item["line"],
                     "reason": _with_value(item), "hint": item["hint"]})
    for item in context.get("gaps", []):
        rows.append({"kind": "statement_gap", "run_id": run_id, "date": item["start_date"],
                     "amount": from_cents(item["difference_cents"]) if item["difference_cents"] else None,
                     "reason": f"{item['conta']}: {item['detail']}",
                     "hint": "Download the missing statement period from the bank and put it in the inbox."})
    for item in context["write_errors"]:
        rows.append(_row("write_error", run_id, item, parcela_id=item["parcela_id"],
                         parcela=item["descricao"], reason=f"{item['state']}: {item['error']}"))
    return rows


def _score(item: dict[str, Any]) -> float | None:
    """A proposal's probability; a batch credit or card payout proposes several parcelas and
    has no one pair's probability (its reason says how the amounts add up)."""
    return round(item["score"], 3) if item.get("score") is not None else None


def _row(kind: str, run_id: str, line: dict[str, Any], **extra: Any) -> dict[str, Any]:
    amount = line.get("amount_cents")
    return {"kind": kind, "run_id": run_id, "date": line.get("posted_on"),
            "amount": from_cents(amount) if amount is not None else None,
            "memo": line.get("memo"), "file": line.get("file"), "line": line.get("source_line"),
            **extra}


def _with_value(reject: dict[str, Any]) -> str:
    parts = [reject["reason"]]
    if reject.get("field"):
        parts.append(f"field {reject['field']}")
    if reject.get("value") is not None:
        parts.append(f"value {reject['value']!r}")
    return "; ".join(parts)


def to_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: "" if row.get(column) is None else row[column] for column in COLUMNS})
    return buffer.getvalue()


def to_json(rows: list[dict[str, Any]], run_id: str) -> str:
    """The same rows as the CSV, typed: amounts as strings in reais ("1500.00", never a float),
    dates as YYYY-MM-DD, absent values as null."""
    def cell(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, date):
            return value.isoformat()
        return value

    document = {"schema": SCHEMA_VERSION, "run_id": run_id, "columns": list(COLUMNS),
                "rows": [{column: cell(row.get(column)) for column in COLUMNS} for row in rows]}
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"
