"""The demo's cobrança retorno, through the whole run against the Conta Azul stand-in on
loopback: Itaú's batch credit of 05/11 settles each boleto the retorno lists, with the
bank's tariff as the baixa's taxa and its interest as juros."""

from __future__ import annotations

from decimal import Decimal

from support import parcelas_by_description, recon, recon_run

from recon.store import Store

BOLETOS = {  # descricao -> face value, interest, as the retorno in the demo inbox says
    "Boleto 7781 - consultoria de vitrine": (Decimal("250.00"), Decimal(0)),
    "Boleto 7782 - consultoria de vitrine": (Decimal("180.00"), Decimal("3.54")),
}


def each_boleto_s_baixa(server) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """Each demo boleto's one baixa, checked to carry its face value as principal, the
    R$ 2,90 tariff as taxa and the bank's interest as juros."""
    parcelas = parcelas_by_description(server)
    baixas = {}
    for descricao, (face, interest) in BOLETOS.items():
        [baixa] = parcelas[descricao]["baixas"]
        parts = baixa["composicao_valor"]
        assert Decimal(str(parts["valor_bruto"])) == face
        assert Decimal(str(parts["taxa"])) == Decimal("2.90")
        assert Decimal(str(parts["juros"])) == interest
        baixas[descricao] = baixa
    return baixas


def test_a_boleto_batch_credit_settles_each_title_the_retorno_lists(demo):
    folder, server = demo
    assert recon_run(folder) == 3  # the demo's other lines still leave work for a person
    parcelas = parcelas_by_description(server)
    for descricao, baixa in each_boleto_s_baixa(server).items():
        assert baixa["data_pagamento"] == "2026-11-05"  # the credit's day
        assert parcelas[descricao]["status"] == "QUITADO"
    with Store(folder / "recon.duckdb") as store:
        [decision] = store.query(
            "SELECT d.* FROM decisions d JOIN statement_lines l USING (line_key) "
            "WHERE l.memo = 'CRED COBRANCA SIMPLES'")
        files = {r["file"]: r["status"] for r in store.query("SELECT * FROM statement_files")}
    assert (decision["decision"], decision["reason_code"]) == ("auto", "retorno")
    assert files["IEDCBR_20261105_itau.ret"] == "ok"


def test_a_retorno_that_comes_after_its_credit_s_night_settles_it_the_night_it_comes(demo):
    # The first night has the statement without the retorno: the credit cannot be split
    # (and nothing is guessed). The retorno comes two days later; that night's window does
    # not hold the credit's day, but the retorno brings its credit back to be matched.
    folder, server = demo
    retorno = folder / "inbox" / "IEDCBR_20261105_itau.ret"
    held_back = retorno.read_bytes()
    retorno.unlink()
    assert recon_run(folder) == 3
    parcelas = parcelas_by_description(server)
    assert all(parcelas[d]["baixas"] == [] for d in BOLETOS)
    retorno.write_bytes(held_back)
    assert recon(folder, "run", "--from", "2026-11-07", "--to", "2026-11-07") in (0, 3)
    parcelas = parcelas_by_description(server)
    assert all(len(parcelas[d]["baixas"]) == 1 for d in BOLETOS)


def test_a_boleto_the_bank_credited_with_no_statement_line_is_in_the_report(demo):
    # Itaú's retorno of 06/11 lists a boleto credited that day; the statement in the inbox
    # shows no such credit (the day's download was cut short, say): the report says so,
    # and exceptions.csv has the row, in the report's language (Portuguese by default).
    import csv
    from datetime import date

    from support import retorno_bytes

    folder, _ = demo
    (folder / "inbox" / "IEDCBR_20261106_itau.ret").write_bytes(retorno_bytes([{
        "movement": "06", "nosso_numero": "175099", "due_on": date(2026, 11, 5),
        "face_cents": 31_000, "payer_document": "52998224725", "payer_name": "RENATA PRADO",
        "fee_cents": 290, "paid_cents": 31_000, "net_cents": 30_710,
        "occurred_on": date(2026, 11, 5), "credited_on": date(2026, 11, 6)}],
        bank="341", agencia="1234", conta="56789"))
    assert recon_run(folder) == 3
    [report] = (folder / "reports").glob("*/report.html")
    html = report.read_text(encoding="utf-8")
    section = html.split('id="retorno-titles"')[1].split("<h2")[0]
    assert "175099" in section and "R$ 307,10" in section and "06/11/2026" in section
    assert "o extrato do dia está na pasta?" in section
    rows = list(csv.DictReader((report.parent / "exceptions.csv").read_text(
        encoding="utf-8").splitlines()))
    [row] = [r for r in rows if r["kind"] == "retorno_title"]
    assert (row["date"], row["amount"], row["file"]) == ("2026-11-06", "307.10",
                                                         "IEDCBR_20261106_itau.ret")
    assert "175099" in row["reason"]


def test_a_night_whose_retornos_all_reconcile_shows_no_retorno_section(demo):
    folder, _ = demo
    assert recon_run(folder) == 3
    [report] = (folder / "reports").glob("*/report.html")
    assert 'id="retorno-titles"' not in report.read_text(encoding="utf-8")


def test_a_retorno_proposal_a_person_approves_settles_every_title_with_its_taxa(demo):
    # The statement names the credit as a TED, not a cobrança: the retorno still adds up to
    # it, so its boletos are proposed, not settled; approving the item settles both, each
    # with the tariff as taxa, exactly as an automatic decision would have.
    folder, server = demo
    statement = folder / "inbox" / "itau-2026-11.ofx"
    text = statement.read_bytes().decode("cp1252")
    assert "<MEMO>CRED COBRANCA SIMPLES" in text
    statement.write_bytes(text.replace("<MEMO>CRED COBRANCA SIMPLES",
                                       "<MEMO>TED RECEBIDA 001 0001").encode("cp1252"))
    assert recon_run(folder) == 3
    assert all(parcelas_by_description(server)[d]["baixas"] == [] for d in BOLETOS)
    with Store(folder / "recon.duckdb") as store:
        [item] = store.query(
            "SELECT i.item_id, d.reason_code FROM review_items i JOIN decisions d "
            "ON d.run_id = i.run_id AND d.line_key = i.line_key "
            "WHERE i.status = 'pending' AND d.kind = 'retorno_batch'")
    assert item["reason_code"] == "retorno_unsure"
    assert recon(folder, "approve", str(item["item_id"]), "--apply") == 0
    each_boleto_s_baixa(server)
