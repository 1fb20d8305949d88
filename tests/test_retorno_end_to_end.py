"""A cobrança retorno dropped in the inbox next to the statements, through the whole run
against the Conta Azul stand-in on loopback: the day's batch credit settles each boleto it
pays, with the bank's tariff as the baixa's taxa."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from support import parcelas_by_description, recon_run, retorno_bytes

from recon.contaazul.standin import StandIn
from recon.demo import default_fixtures, prepare_demo_folder
from recon.store import Store

TARIFF = 290
BOLETOS = [  # descricao, payer, CPF, face value, interest
    ("Boleto 7781 - consultoria", "Renata Alves Prado", "52998224725", 25_000, 0),
    ("Boleto 7782 - consultoria", "Otávio Lins Barreto", "11144477735", 18_000, 354),
]
OFX = """OFXHEADER:100
DATA:OFXSGML
VERSION:102
SECURITY:NONE
ENCODING:USASCII
CHARSET:1252
COMPRESSION:NONE
OLDFILEUID:NONE
NEWFILEUID:NONE

<OFX><BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STATUS><CODE>0<SEVERITY>INFO</STATUS><STMTRS>
<CURDEF>BRL<BANKACCTFROM><BANKID>0341<BRANCHID>1234<ACCTID>567890<ACCTTYPE>CHECKING
</BANKACCTFROM><BANKTRANLIST><DTSTART>20261105<DTEND>20261105
<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20261105100000[-03:EST]<TRNAMT>{amount}
<FITID>COB20261105<MEMO>CRED COBRANCA SIMPLES</STMTTRN>
</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>
"""


def _add_boletos(folder) -> None:
    """Two open boletos of two new customers in the stand-in's state, a credit of the two
    net of the tariff in an Itaú statement, and Itaú's retorno listing both."""
    state_path = folder / "contaazul_state.json"
    state = json.loads(state_path.read_text(encoding="utf-8"))
    template = next(p for p in state["parcelas"] if p["tipo"] == "RECEITA")
    titles = []
    for i, (descricao, payer, cpf, face, interest) in enumerate(BOLETOS):
        person = f"5eed0000-0000-4000-8000-00000000f0{i:02d}"
        state["pessoas"].append({"id": person, "nome": payer, "documento": cpf, "email": "",
                                 "tipo_pessoa": "Física", "perfis": ["Cliente"],
                                 "ativo": True})
        state["parcelas"].append({**template, "id": f"5eed0000-0000-4000-8000-00000000f1{i:02d}",
                                  "descricao": descricao, "data_vencimento": "2026-11-03",
                                  "valor": face / 100, "contato_id": person, "baixas": [],
                                  "status": "PENDENTE", "nota": ""})
        titles.append({"movement": "06", "nosso_numero": f"17500{i}", "seu_numero": f"778{i}",
                       "due_on": date(2026, 11, 3), "face_cents": face,
                       "payer_document": cpf, "payer_name": payer.upper(),
                       "fee_cents": TARIFF, "interest_cents": interest,
                       "paid_cents": face + interest, "net_cents": face + interest - TARIFF,
                       "occurred_on": date(2026, 11, 4), "credited_on": date(2026, 11, 5)})
    state_path.write_text(json.dumps(state), encoding="utf-8")
    credit = sum(t["net_cents"] for t in titles)
    (folder / "inbox" / "itau-cobranca-2026-11-05.ofx").write_text(
        OFX.format(amount=f"{credit / 100:.2f}"), encoding="cp1252")
    (folder / "inbox" / "IEDCBR_261105.ret").write_bytes(
        retorno_bytes(titles, bank="341", agencia="1234", conta="56789"))


def test_a_boleto_batch_credit_settles_each_title_the_retorno_lists(tmp_path, monkeypatch):
    folder = tmp_path / "demo"
    prepare_demo_folder(folder, default_fixtures())
    _add_boletos(folder)
    monkeypatch.setenv("RECON_CONTAAZUL_REQUESTS_PER_SECOND", "1000")
    with StandIn(state_path=folder / "contaazul_state.json") as server:
        monkeypatch.setenv("RECON_CONTAAZUL_API_URL", server.api_url)
        monkeypatch.setenv("RECON_CONTAAZUL_TOKEN_URL", server.token_url)
        assert recon_run(folder) == 3  # the demo's other lines still leave work for a person
        parcelas = parcelas_by_description(server)
        for descricao, _, _, face, interest in BOLETOS:
            [baixa] = parcelas[descricao]["baixas"]
            parts = baixa["composicao_valor"]
            assert Decimal(str(parts["valor_bruto"])) == Decimal(face) / 100
            assert Decimal(str(parts["taxa"])) == Decimal(TARIFF) / 100
            assert Decimal(str(parts["juros"])) == Decimal(interest) / 100
            assert baixa["data_pagamento"] == "2026-11-05"
            assert parcelas[descricao]["status"] == "QUITADO"
    with Store(folder / "recon.duckdb") as store:
        [decision] = store.query("SELECT * FROM decisions WHERE line_key IN (SELECT line_key "
                                 "FROM statement_lines WHERE memo = 'CRED COBRANCA SIMPLES')")
        files = {r["file"]: r["status"] for r in store.query("SELECT * FROM statement_files")}
    assert (decision["decision"], decision["reason_code"]) == ("auto", "retorno")
    assert files["IEDCBR_261105.ret"] == "ok"
