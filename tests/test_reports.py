"""Rendering and CSV export from a report context (no store needed)."""

import csv
from datetime import date

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
