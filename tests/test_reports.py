"""Rendering and CSV export from a report context (no store needed)."""

import csv
from datetime import date
from html.parser import HTMLParser

from reports.exports import COLUMNS, exception_rows, to_csv
from reports.render import render_html


def context(memo="PIX RECEBIDO <script>alert(1)</script>", reason="no open parcela"):
    run = {"run_id": "r1", "window_from": date(2026, 11, 2), "window_to": date(2026, 11, 6),
           "dry_run": False}
    line = {"posted_on": date(2026, 11, 3), "amount_cents": 123456, "memo": memo,
            "file": "itau.ofx", "source_line": 12, "line_key": "k1", "reason": reason}
    candidate = {"parcela_id": "p1", "descricao": "Mensalidade", "contact_name": "Ana & Cia",
                 "due_on": date(2026, 11, 3), "open_cents": 123456, "amount_bits": 9.5,
                 "date_bits": 6.1, "name_bits": -4.0, "key_bits": 0.0, "probability": 0.61,
                 "lag_days": 0}
    review = {**line, "parcela_id": "p1", "score": 0.61, "runner_up_score": None,
              "reason": "probability below the automatic threshold; p=0.610", "candidates": [candidate]}
    return {
        "run": run,
        "counts": {"lines": 2, "settled": 0, "review": 1, "unmatched": 1, "files_rejected": 1},
        "files": [], "settled": [], "review": [review], "unmatched_lines": [line],
        "unpaid_parcelas": [{"parcela_id": "p9", "kind": "receber", "descricao": "Consultoria",
                             "contact_name": None, "due_on": date(2026, 11, 4), "open_cents": 5000,
                             "status": "overdue"}],
        "rejects": [{"file": "bad.ofx", "line": None, "field": None, "value": None,
                     "reason": "the file is incomplete", "hint": "Download it again.", "kind": "file"},
                    {"file": "x.ofx", "line": 40, "field": "TRNAMT", "value": "   .  ",
                     "reason": "not an amount", "hint": "Fix the line.", "kind": "rejected"}],
        "gaps": [{"conta": "Itaú PJ", "start_date": date(2026, 11, 4), "end_date": date(2026, 11, 5),
                  "kind": "balance_mismatch", "difference_cents": 12000,
                  "detail": "R$ 120,00 is unaccounted for: lines missing"}],
        "dropped": [], "write_errors": [],
    }


def test_bank_text_is_escaped_in_the_html():
    html = render_html(context())
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert "Ana &amp; Cia" in html


def hostile(field):
    """Markup a bank, a customer or Conta Azul could put in field (quotes too, for attributes)."""
    return f"<script>alert('{field}')</script><b>{field}</b><img src=x onerror=\"alert(1)\">&"


class Parsed(HTMLParser):
    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.tags, self.attributes, self.text = set(), set(), []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)

    def handle_data(self, data):
        self.text.append(data)


def test_every_free_text_field_of_every_section_is_escaped():
    ctx = context(memo=hostile("memo"), reason=hostile("reason"))
    ctx["run"]["run_id"] = hostile("run_id")
    review = ctx["review"][0]
    review["file"] = hostile("review.file")
    review["candidates"][0].update(descricao=hostile("candidate.descricao"),
                                   contact_name=hostile("candidate.contact"))
    allocation = {"descricao": hostile("allocation.descricao"),
                  "contact_name": hostile("allocation.contact"), "due_on": date(2026, 11, 3),
                  "gross_cents": 1000, "taxa_cents": 50, "amount_cents": 950}
    ctx["review"].append({**review, "item_id": 7, "allocations": [allocation, allocation]})
    ctx["unmatched_lines"][0]["file"] = hostile("line.file")
    ctx["unpaid_parcelas"][0].update(descricao=hostile("unpaid.descricao"),
                                     contact_name=hostile("unpaid.contact"))
    ctx["rejects"][1].update(file=hostile("reject.file"), field=hostile("reject.field"),
                             value=hostile("reject.value"), reason=hostile("reject.reason"),
                             hint=hostile("reject.hint"))
    ctx["gaps"][0].update(conta=hostile("gap.conta"), detail=hostile("gap.detail"))
    ctx["write_errors"] = [{"posted_on": date(2026, 11, 3), "amount_cents": 100,
                            "descricao": hostile("write.descricao"), "parcela_id": "p1",
                            "state": hostile("write.state"), "error": hostile("write.error")}]
    ctx["settled"] = [{"posted_on": date(2026, 11, 3), "amount_cents": 100,
                       "memo": hostile("settled.memo"), "descricao": hostile("settled.descricao"),
                       "contact_name": hostile("settled.contact"),
                       "reason": hostile("settled.reason"), "state": hostile("settled.state")}]
    ctx["files"] = [{"file": hostile("files.file"), "format": hostile("files.format"),
                     "accounts": hostile("files.accounts"), "lines_read": 1, "lines_new": 1,
                     "lines_dropped": 0, "lines_rejected": 0, "status": "rejected",
                     "reason": hostile("files.reason")}]
    ctx["dropped"] = [{"file": hostile("dropped.file"), "n": 2}]
    ctx["retorno_titles"] = [{"credited_on": date(2026, 11, 6), "net_cents": 30_710,
                              "nosso_numero": hostile("retorno.nosso_numero"),
                              "payer_name": hostile("retorno.payer"),
                              "file": hostile("retorno.file"), "source_line": 3,
                              "due_on": date(2026, 11, 5), "status": status}
                             for status in ("no_credit", "no_parcela")]

    html = render_html(ctx)
    page = Parsed(html)
    assert not page.tags & {"script", "b", "img"}, page.tags
    assert not [name for name in page.attributes if name.startswith("on")]
    text = "".join(page.text)
    fields = ["memo", "reason", "run_id", "review.file", "candidate.descricao",
              "candidate.contact", "allocation.descricao", "allocation.contact", "line.file",
              "unpaid.descricao", "unpaid.contact", "reject.file", "reject.field",
              "reject.value", "reject.reason", "reject.hint", "gap.conta", "gap.detail",
              "write.descricao", "write.state", "write.error", "settled.memo",
              "settled.descricao", "settled.contact", "settled.reason", "settled.state",
              "files.file", "files.format", "files.accounts", "files.reason", "dropped.file",
              "retorno.nosso_numero", "retorno.payer", "retorno.file"]
    missing = [field for field in fields if hostile(field) not in text]
    assert missing == [], f"shown altered or not at all: {missing}"
    assert html.count("<script") == 0 and html.count("<img") == 0


def test_money_and_dates_are_brazilian():
    html = render_html(context())
    assert "R$ 1.234,56" in html and "03/11/2026" in html


def test_every_section_is_present_with_its_rows():
    html = render_html(context())
    for anchor in ('id="summary"', 'id="review"', 'id="unmatched-lines"', 'id="unpaid-parcelas"',
                   'id="rejected"', 'id="gaps"', 'id="settled"', 'id="files"'):
        assert anchor in html
    assert "arquivo inteiro" in html and "TRNAMT" in html


def test_csv_has_the_documented_columns_and_one_row_per_exception():
    rows = list(csv.DictReader(to_csv(exception_rows(context())).splitlines()))
    assert tuple(rows[0].keys()) == COLUMNS
    kinds = [r["kind"] for r in rows]
    assert kinds == ["review", "unmatched_line", "unpaid_parcela", "rejected_file", "rejected_line",
                     "statement_gap"]
    assert rows[5]["amount"] == "120.00" and rows[5]["reason"].startswith("Itaú PJ:")
    review = rows[0]
    assert (review["amount"], review["date"], review["parcela"]) == ("1234.56", "2026-11-03", "Mensalidade")
    assert rows[4]["reason"] == "not an amount; field TRNAMT; value '   .  '"
