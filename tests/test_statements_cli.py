"""`recon statements`: what a user runs first when a bank file looks wrong."""

import csv
import json

from recon.cli import main
from recon.demo import default_fixtures

INBOX = default_fixtures() / "inbox"


def test_text_shows_each_file_its_lines_and_why_others_were_left_out(capsys):
    code = main(["statements", str(INBOX / "itau-2026-11.ofx"),
                 str(INBOX / "extrato-santander-corrompido.ofx")])
    out = capsys.readouterr().out
    assert code == 3  # a file was rejected
    assert "itau-2026-11.ofx: ofx" in out and "341/1234/567890" in out
    assert "R$ 2.340,50" in out and "TED 237.1234COMERCIAL ALVES" in out
    assert "DROPPED: balance line" in out and "SALDO FINAL" in out
    assert "extrato-santander-corrompido.ofx: REJECTED" in out and "truncated" in out


def test_csv_has_one_row_per_line_kept_or_not(capsys):
    assert main(["statements", "--format", "csv", str(INBOX / "itau-2026-11.ofx")]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [r["status"] for r in rows].count("kept") == 10
    assert [r["status"] for r in rows].count("dropped") == 1
    first = rows[0]
    assert (first["date"], first["amount"], first["line"]) == ("2026-11-03", "1500.00", "40")


def test_json_carries_format_accounts_period_and_lines(capsys):
    assert main(["statements", "--format", "json", str(INBOX / "nubank-2026-11.ofx")]) == 0
    [doc] = json.loads(capsys.readouterr().out)
    assert doc["format"] == "ofx" and doc["accounts"] == ["260/1/98765432"]
    assert doc["period"] == ["2026-11-02", "2026-11-06"]
    late = next(line for line in doc["lines"] if line["amount"] == "780.00")
    assert late["date"] == "2026-11-05"  # 22:30 BRT stays on its own day


def test_a_retorno_shows_each_title_the_bank_moved_and_its_unreadable_lines(tmp_path, capsys):
    from datetime import date

    from support import retorno_bytes

    path = tmp_path / "COB.RET"
    path.write_bytes(retorno_bytes([
        {"nosso_numero": "777001", "payer_name": "RENATA PRADO", "due_on": date(2026, 11, 3),
         "face_cents": 25_000, "fee_cents": 290, "paid_cents": 25_000, "net_cents": 24_710,
         "occurred_on": date(2026, 11, 4), "credited_on": date(2026, 11, 5)},
        {"nosso_numero": "777002", "due_on": "31022026", "face_cents": 100}]))
    assert main(["statements", str(path)]) == 0
    out = capsys.readouterr().out
    assert "COB.RET: cnab240 cobrança retorno, bank 001, 1 title (1 liquidated, R$ 247,10 net)" in out
    assert "05/11/2026" in out and "R$ 250,00" in out and "nosso número 777001" in out
    assert "RENATA PRADO" in out and "tariff R$ 2,90" in out
    assert "REJECTED" in out and "31022026" in out
    assert main(["statements", "--format", "csv", str(path)]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [r["status"] for r in rows] == ["title", "rejected"]
