"""CSV source: the shared corpus, one synthetic export per preset layout, and edge cases.

The preset samples are built from the layouts described in shared/notes/statements.md §4
(preamble, header, movements, balance rows, continuation rows where the bank has them);
each must be detected as its own preset and no other.
"""

from __future__ import annotations

import codecs
import csv
from datetime import date
from pathlib import Path

import pytest

from recon.errors import ConfigError, InputError
from recon.records import Balance, BankAccount, StatementFile
from recon.sources.csv_layouts import PRESETS, CsvLayout, layout_from_toml
from recon.sources.csv_reader import looks_like_csv, parse_br_amount, parse_csv

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS_CSV = SHARED / "corpus" / "csv"


def corpus(name: str) -> bytes:
    path = CORPUS_CSV / name
    if not path.is_file():
        pytest.skip(f"{path} not present (CI and developers have shared/ beside the repo)")
    return path.read_bytes()


def parse(text: str, encoding: str = "utf-8", **kwargs: object) -> StatementFile:
    return parse_csv(text.encode(encoding), "extrato.csv", **kwargs)  # type: ignore[arg-type]


def rows(statement: StatementFile) -> list[tuple[date, int, str]]:
    return [(line.posted_on, line.amount_cents, line.memo) for line in statement.lines]


def balances(statement: StatementFile) -> list[tuple[date, str, int]]:
    return [(b.on, b.kind, b.cents) for b in statement.balances]


def dropped(statement: StatementFile, kind: str) -> list[int | None]:
    return [reject.line for reject in statement.dropped if reject.kind == kind]


D = date  # short, for the tables below


# ---------------------------------------------------------------- corpus


def test_corpus_nubank_conta() -> None:
    statement = parse_csv(corpus("mtbsc_nubank_conta_exemplo.csv"), "nu.csv")
    assert (statement.format, statement.layout, statement.bank) == ("csv", "nubank", "Nubank")
    assert statement.accounts == (BankAccount("260", None, None),)
    assert rows(statement) == [
        (D(2025, 7, 1), -11500, "Compra no débito - VENTILADOR"),
        (D(2025, 7, 2), -3554, "Compra no débito - MERCADO"),
        (D(2025, 7, 7), -151362, "Pagamento de boleto efetuado - Aluguel"),
        (D(2025, 7, 12), -998, "Compra no débito - CHOCOLATE"),
        (D(2025, 7, 20), 192359, "Transferência recebida pelo PIX - AMIGA Y"),
    ]
    assert [line.fitid for line in statement.lines][:2] == ["123-451", "125-415"]
    assert [line.source_line for line in statement.lines] == [2, 3, 4, 5, 6]
    assert statement.period == (D(2025, 7, 1), D(2025, 7, 20))
    assert statement.dropped == () and statement.balances == ()


def test_corpus_c6_card_purchases_become_debits() -> None:
    statement = parse_csv(corpus("mtbsc_c6_cartao_exemplo.csv"), "c6.csv")
    assert statement.layout == "c6_cartao"
    assert len(statement.lines) == 8
    assert rows(statement)[:3] == [(D(2025, 7, 10), -590, "MC"),
                                   (D(2025, 7, 11), -5089, "Steakhouse"),
                                   (D(2025, 7, 15), 323430, "Transferencia X")]
    assert rows(statement)[-1] == (D(2025, 7, 27), -12450, "CEA")
    assert sum(line.amount_cents for line in statement.lines) == 323430 - 46508
    assert statement.dropped == ()


def test_corpus_bb_edge_cases() -> None:
    statement = parse_csv(corpus("jcsouza_bb_layout_edge_cases.csv"), "bb.csv")
    assert statement.layout == "bb" and statement.accounts == (BankAccount("1", None, None),)
    assert len(statement.lines) == 15
    by_line = {line.source_line: line for line in statement.lines}
    # dot decimals under BB's comma layout; Entrada/Saída decide the sign
    assert by_line[2].amount_cents == 99999999999
    assert by_line[2].fitid == "1234567890123456789012345678901234567890"
    assert by_line[2].memo.startswith("Teste Muito Longo - Este é um detalhe extremamente")
    assert by_line[7].amount_cents == -99999999999 and by_line[7].memo == ""
    assert by_line[9].amount_cents == -10000  # "100.00","Saída"
    # a C-style \" inside quotes is a quote, not the end of the field
    assert by_line[9].memo == "Teste Caracteres Especiais - Teste com @#$%^&*()_+-=[]{}|;':\",./<>?"
    assert by_line[13].memo == "Teste Espaços - Muitos Espaços"
    assert by_line[16].memo == 'Teste Aspas - "Aspas" Duplas'
    assert by_line[17].memo == "Teste Vírgula - Valor,com,vírgula"
    assert by_line[18].amount_cents == 100000
    assert [(by_line[n].amount_cents) for n in (19, 20, 21)] == [0, -1, 1]
    rejected = [r for r in statement.dropped if r.kind == "rejected"]
    assert [(r.line, r.field, r.value) for r in rejected] == [
        (n, "Valor", "") for n in (3, 4, 5, 6, 8)]
    assert statement.period == (D(2025, 1, 1), D(2025, 1, 20))


def test_corpus_files_look_like_csv_and_other_formats_do_not() -> None:
    corpus("mtbsc_nubank_conta_exemplo.csv")
    assert all(looks_like_csv(path.read_bytes()) for path in CORPUS_CSV.iterdir())
    others = [*(SHARED / "corpus" / "ofx").iterdir(), *(SHARED / "corpus" / "cnab240").iterdir()]
    assert not [path.name for path in others if looks_like_csv(path.read_bytes())]


# ---------------------------------------------------------------- one sample per preset

SAMPLES: dict[str, tuple[str, str]] = {
    "nubank": ("utf-8", """\
Data,Valor,Identificador,Descrição
01/02/2024,-50.00,6f1c2d3e-0000-4000-8000-000000000001,Transferência enviada pelo Pix - FULANO
02/02/2024,1500.5,6f1c2d3e-0000-4000-8000-000000000002,Transferência recebida pelo Pix - CICLANO
"""),
    "nubank_cartao": ("utf-8", """\
date,title,amount
2024-02-01,Padaria,12.50
2024-02-03,Pagamento recebido,-500.00
2024-02-05,Loja - Parcela 1/4,100.00
"""),
    "inter": ("utf-8", """\
Extrato Conta Corrente
Conta ;12345678
Período ;01/02/2024 a 29/02/2024
Saldo: ;2.866,10

Data Lançamento;Descrição;Valor;Saldo
01/02/2024;Pix enviado: "Cp :00000000-Fulano";-100,00;900,00
01/02/2024;Pix recebido: "Cp :11111111-Ciclano";966,1;1.866,10
05/02/2024;RESGATE CDB POS DI LIQ. BANCO INTER;1.000,00;2.866,10
"""),
    "itau": ("cp1252", """\
Logotipo Itaú
Atualização: ;15/02/2024 10:00
Nome: ;EMPRESA EXEMPLO LTDA
Agência: ;0001
Conta: ;12345-6

Lançamentos
data;lançamento;ag./origem;valor (R$);saldos (R$);
;lançamentos;;;;
31/01/2024;SALDO ANTERIOR;;;1.000,00;
01/02/2024;PIX TRANSF FULANO01/02;;-150,00;;
01/02/2024;SISPAG FORNECEDOR SERVIÇOS;;-1.234,56;;
01/02/2024;SALDO TOTAL DISPONÍVEL DIA;;;-384,56;
02/02/2024;TED 237.0001.CICLANO;0001;2.000,00;;
02/02/2024;SALDO TOTAL DISPONÍVEL DIA;;;1.615,44;
lançamentos futuros;;;;;
05/02/2024;BOLETO AGENDADO;;-99,90;;
"""),
    "itau_legacy": ("cp1252", """\
02/01/2024;TAR PACOTE ITAU DEZ 23;-45,00
03/01/2024;REND PAGO APLIC AUT MAIS;0,12
03/01/2024;PAG TITULO SERVIÇOS;-1.000,00
04/01/2024;SALDO FINAL;1.234,00
"""),
    "bb_legacy": ("latin-1", """\
"Data","Dependencia Origem","Histórico","Data do Balancete","Número do documento","Valor",
"31/01/2024","","Saldo Anterior","","0","1500.00",
"01/02/2024","0001-9","Pagamento de Título","","123456","-250.00",
"01/02/2024","","Pix - Recebido","","654321","1000.50",
"02/02/2024","","S A L D O","","0","2250.50",
"""),
    "bb": ("utf-8", """\
"Data","Lançamento","Detalhes","Nº documento","Valor","Tipo Lançamento"
"01/02/2024","Saldo Anterior","","","1.000,00",""
"01/02/2024","Pix - Enviado","01/02 10:00 Fulano","123","-1.677,48","Saída"
"01/02/2024","Pix - Recebido","01/02 11:00 Ciclano","124","2.000,00","Entrada"
"01/02/2024","BB Rende Fácil","Rende Facil","0","-322,52","Saída"
"00/00/0000","Saldo do dia","","","1.000,00",""
"00/00/0000","S A L D O","","","1.000,00",""
"""),
    "bradesco": ("cp1252", """\
Extrato de: Ag: 1234 | Conta: 56789-0 | Entre 01/02/2024 e 29/02/2024\r
Data;Histórico;Docto.;Crédito (R$);Débito (R$);Saldo (R$)\r
31/01/2024;SALDO ANTERIOR;;;;5.000,00\r
01/02/2024;Transfe Pix;1234567;;1.500,00;3.500,00\r
;Rem: Fulano De Tal 01/02;;;;\r
02/02/2024;Resgate Inv Fac;0000001;2.000,00;;5.500,00\r
02/02/2024;Estorno;0000003;10,00;10,00;\r
02/02/2024;Tarifa Bancária;0000002;;15,00;5.485,00\r
;Total;;2.000,00;1.515,00;\r
Últimos Lançamentos\r
03/02/2024;Pix agendado;;;100,00;\r
"""),
    "santander": ("latin-1", """\
AGENCIA;"3733";CONTA;"01300123456"

Data;Histórico;Documento;Valor (R$);Saldo (R$)
01/02/2024;SALDO ANTERIOR;;;10.000,00
01/02/2024;"TED DIFERENTE TITULARIDADE CIP";"000123";"-560,00";"9.440,00"
;"FULANO DE TAL; CPF 123";;;
02/02/2024;PIX RECEBIDO;000124;1.234,56;10.674,56
"""),
    "caixa": ("cp1252", """\
"Conta";"Data_Mov";"Nr_Doc";"Historico";"Valor";"Deb_Cred"
"0000000012345";"20240131";"000000";"SALDO ANTERIOR";"1500.00";"C"
"0000000012345";"20240201";"123456";"DEB CESTA";"25.00";"D"
"0000000012345";"20240201";"654321";"CRED PIX";"100.50";"C"
"0000000012345";"20240201";"000000";"SALDO DIA";"1575.50";"C"
"0000000012345";"20240202";"777";"PAG BOLETO";"10.00";"X"
"""),
    "c6": ("utf-8-sig", """\
EXTRATO DE CONTA CORRENTE C6 BANK
Agência: 1 / Conta: 12345678-9
Extrato gerado em 10/02/2024 às 10:00
Extrato de 01/02/2024 a 09/02/2024

Data Lançamento,Data Contábil,Título,Descrição,Entrada(R$),Saída(R$),Saldo do Dia(R$)
01/02/2024,01/02/2024,Pix recebido,FULANO,1000.00,,1000.00
03/02/2024,05/02/2024,Pagamento de boleto,ENERGIA,,250.10,749.90
"""),
    "c6_cartao": ("utf-8", """\
Data de Compra;Nome no Cartão;Final do Cartão;Categoria;Descrição;Parcela;Valor (em US$);Cotação (em R$);Valor (em R$)
10/02/2024;EMPRESA;1234;Serviços;AWS;Única;10.00;5.00;50.00
12/02/2024;EMPRESA;1234;Casa;SHOPEE;2/5;0;0;67.27
15/02/2024;EMPRESA;1234;Pagamento;Pagamento fatura;Única;0;0;-1000.00
"""),
    "mercadopago": ("utf-8", """\
INITIAL_BALANCE;CREDITS;DEBITS;FINAL_BALANCE
1.000,00;500,00;-200,00;1.300,00

RELEASE_DATE;TRANSACTION_TYPE;REFERENCE_ID;TRANSACTION_NET_AMOUNT;PARTIAL_BALANCE
01-02-2024;Pagamento recebido;1111;500,00;1.500,00
02-02-2024;Transferência Pix enviada;2222;-200,00;1.300,00
"""),
}

EXPECTED: dict[str, dict[str, object]] = {
    "nubank": {
        "account": BankAccount("260", None, None),
        "rows": [(D(2024, 2, 1), -5000, "Transferência enviada pelo Pix - FULANO"),
              (D(2024, 2, 2), 150050, "Transferência recebida pelo Pix - CICLANO")],
        "balances": [], "rejected": [], "dropped": []},
    "nubank_cartao": {
        "account": BankAccount("260", None, None),
        "rows": [(D(2024, 2, 1), -1250, "Padaria"), (D(2024, 2, 3), 50000, "Pagamento recebido"),
              (D(2024, 2, 5), -10000, "Loja - Parcela 1/4")],
        "balances": [], "rejected": [], "dropped": []},
    "inter": {
        "account": BankAccount("77", None, "12345678"), "period": (D(2024, 2, 1), D(2024, 2, 29)),
        "rows": [(D(2024, 2, 1), -10000, 'Pix enviado: "Cp :00000000-Fulano"'),
              (D(2024, 2, 1), 96610, 'Pix recebido: "Cp :11111111-Ciclano"'),
              (D(2024, 2, 5), 100000, "RESGATE CDB POS DI LIQ. BANCO INTER")],
        "balances": [(D(2024, 2, 1), "closing", 186610), (D(2024, 2, 5), "closing", 286610)],
        "rejected": [], "dropped": []},
    "itau": {
        "account": BankAccount("341", "1", "123456"),
        "rows": [(D(2024, 2, 1), -15000, "PIX TRANSF FULANO01/02"),
              (D(2024, 2, 1), -123456, "SISPAG FORNECEDOR SERVIÇOS"),
              (D(2024, 2, 2), 200000, "TED 237.0001.CICLANO")],
        "balances": [(D(2024, 2, 1), "opening", 100000), (D(2024, 2, 1), "closing", -38456),
                  (D(2024, 2, 2), "closing", 161544)],
        "rejected": [], "dropped": [9, 10, 13, 15, 16, 17]},
    "itau_legacy": {
        "account": BankAccount("341", None, None),
        "rows": [(D(2024, 1, 2), -4500, "TAR PACOTE ITAU DEZ 23"),
              (D(2024, 1, 3), 12, "REND PAGO APLIC AUT MAIS"),
              (D(2024, 1, 3), -100000, "PAG TITULO SERVIÇOS")],
        "balances": [(D(2024, 1, 4), "closing", 123400)], "rejected": [], "dropped": [4]},
    "bb_legacy": {
        "account": BankAccount("1", None, None),
        "rows": [(D(2024, 2, 1), -25000, "Pagamento de Título"),
              (D(2024, 2, 1), 100050, "Pix - Recebido")],
        "balances": [(D(2024, 2, 1), "opening", 150000), (D(2024, 2, 2), "closing", 225050)],
        "rejected": [], "dropped": [2, 5]},
    "bb": {
        "account": BankAccount("1", None, None),
        "rows": [(D(2024, 2, 1), -167748, "Pix - Enviado - 01/02 10:00 Fulano"),
              (D(2024, 2, 1), 200000, "Pix - Recebido - 01/02 11:00 Ciclano"),
              (D(2024, 2, 1), -32252, "BB Rende Fácil - Rende Facil")],
        "balances": [(D(2024, 2, 1), "opening", 100000), (D(2024, 2, 1), "closing", 100000)],
        "rejected": [], "dropped": [2, 6, 7]},
    "bradesco": {
        "account": BankAccount("237", "1234", "567890"), "period": (D(2024, 2, 1), D(2024, 2, 29)),
        "rows": [(D(2024, 2, 1), -150000, "Transfe Pix Rem: Fulano De Tal 01/02"),
              (D(2024, 2, 2), 200000, "Resgate Inv Fac"),
              (D(2024, 2, 2), -1500, "Tarifa Bancária")],
        "balances": [(D(2024, 2, 1), "opening", 500000), (D(2024, 2, 1), "closing", 350000),
                  (D(2024, 2, 2), "closing", 548500)],
        "rejected": [7], "dropped": [3, 9, 10, 11]},
    "santander": {
        "account": BankAccount("33", "3733", "1300123456"),
        "rows": [(D(2024, 2, 1), -56000, "TED DIFERENTE TITULARIDADE CIP FULANO DE TAL; CPF 123"),
              (D(2024, 2, 2), 123456, "PIX RECEBIDO")],
        "balances": [(D(2024, 2, 1), "opening", 1000000), (D(2024, 2, 1), "closing", 944000),
                  (D(2024, 2, 2), "closing", 1067456)],
        "rejected": [], "dropped": [4]},
    "caixa": {
        "account": BankAccount("104", None, None),
        "rows": [(D(2024, 2, 1), -2500, "DEB CESTA"), (D(2024, 2, 1), 10050, "CRED PIX")],
        "balances": [(D(2024, 2, 1), "opening", 150000), (D(2024, 2, 1), "closing", 157550)],
        "rejected": [6], "dropped": [2, 5]},
    "c6": {
        "account": BankAccount("336", "1", "123456789"), "period": (D(2024, 2, 1), D(2024, 2, 9)),
        "rows": [(D(2024, 2, 1), 100000, "Pix recebido - FULANO"),
              (D(2024, 2, 3), -25010, "Pagamento de boleto - ENERGIA")],
        "balances": [(D(2024, 2, 1), "closing", 100000), (D(2024, 2, 3), "closing", 74990)],
        "rejected": [], "dropped": []},
    "c6_cartao": {
        "account": BankAccount("336", None, None),
        "rows": [(D(2024, 2, 10), -5000, "AWS"), (D(2024, 2, 12), -6727, "SHOPEE"),
              (D(2024, 2, 15), 100000, "Pagamento fatura")],
        "balances": [], "rejected": [], "dropped": []},
    "mercadopago": {
        "account": BankAccount("323", None, None),
        "rows": [(D(2024, 2, 1), 50000, "Pagamento recebido"),
              (D(2024, 2, 2), -20000, "Transferência Pix enviada")],
        "balances": [(D(2024, 2, 1), "opening", 100000), (D(2024, 2, 1), "closing", 150000),
                  (D(2024, 2, 2), "closing", 130000)],
        "rejected": [], "dropped": []},
}


def test_every_preset_has_a_sample() -> None:
    assert set(SAMPLES) == set(PRESETS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_preset_sample_is_detected_and_read(name: str) -> None:
    encoding, text = SAMPLES[name]
    statement = parse(text, encoding)
    expected = EXPECTED[name]
    assert statement.layout == name and statement.bank == PRESETS[name].bank
    assert statement.accounts == (expected["account"],)
    assert rows(statement) == expected["rows"]
    assert balances(statement) == expected["balances"]
    assert dropped(statement, "rejected") == expected["rejected"]
    assert dropped(statement, "dropped") == expected["dropped"]
    assert not dropped(statement, "warning")
    if "period" in expected:
        assert statement.period == expected["period"]
    assert all(b.account == statement.accounts[0] for b in statement.balances)
    assert len({line.line_key for line in statement.lines}) == len(statement.lines)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_preset_sample_reads_the_same_when_the_layout_is_named(name: str) -> None:
    encoding, text = SAMPLES[name]
    assert parse(text, encoding, layout=PRESETS[name]) == parse(text, encoding)


def test_reject_details_name_the_column_and_value() -> None:
    bradesco = parse(SAMPLES["bradesco"][1], "cp1252")
    (both,) = [r for r in bradesco.dropped if r.kind == "rejected"]
    assert (both.line, both.field, both.value) == (7, "Crédito (R$)", "10,00 | 10,00")
    assert "both credit and debit" in both.reason and both.hint
    caixa = parse(SAMPLES["caixa"][1], "cp1252")
    (letter,) = [r for r in caixa.dropped if r.kind == "rejected"]
    assert (letter.line, letter.field, letter.value) == (6, "Deb_Cred", "X")
    itau = parse(SAMPLES["itau"][1], "cp1252")
    stop = next(r for r in itau.dropped if r.line == 16)
    assert stop.value == "lançamentos futuros" and stop.reason == "end of the statement"
    after = next(r for r in itau.dropped if r.line == 17)
    assert "not part of the statement" in after.reason


def test_bad_amount_row_is_rejected_with_field_and_value() -> None:
    text = SAMPLES["nubank"][1] + "03/02/2024,12.3.4,id-3,Compra\n04/02/2024,,id-4,Sem valor\n"
    statement = parse(text)
    assert len(statement.lines) == 2
    bad, empty = statement.dropped
    assert (bad.kind, bad.line, bad.field, bad.value) == ("rejected", 4, "Valor", "12.3.4")
    assert (empty.line, empty.field, empty.value, empty.reason) == (5, "Valor", "", "no amount")


def test_bad_date_and_undated_amount_are_rejected() -> None:
    text = ("Data;Histórico;Documento;Valor (R$);Saldo (R$)\n"
            "32/01/2024;TARIFA;1;-1,00;\n;SEM DATA;2;-2,00;\n01/02/2024;OK;3;-3,00;\n")
    statement = parse(text)
    assert [(r.line, r.field, r.value) for r in statement.dropped] == [
        (2, "Data", "32/01/2024"), (3, "Data", "")]
    assert statement.dropped[0].reason == "not a date (expected dd/mm/yyyy)"
    assert rows(statement) == [(D(2024, 2, 1), -300, "OK")]


def test_unquoted_decimal_comma_splitting_a_row_is_rejected() -> None:
    text = SAMPLES["nubank"][1] + "03/02/2024,-10,50,id-3,Compra\n"
    statement = parse(text)
    (wide,) = statement.dropped
    assert wide.line == 4 and "cells where the header has" in wide.reason


def test_quoted_multiline_field_keeps_physical_line_numbers() -> None:
    text = ('"Data","Lançamento","Detalhes","Nº documento","Valor","Tipo Lançamento"\n'
            '"01/02/2024","Pix","linha 1\nlinha 2","1","10,00","Entrada"\n'
            '"02/02/2024","Pix","x","2","20,00","Entrada"\n')
    statement = parse(text)
    assert [line.source_line for line in statement.lines] == [2, 4]
    assert statement.lines[0].memo == "Pix - linha 1 linha 2"


def test_account_argument_is_used_when_the_preamble_has_none() -> None:
    given = BankAccount("260", "1", "999")
    assert parse(SAMPLES["nubank"][1], account=given).accounts == (given,)
    bradesco = parse(SAMPLES["bradesco"][1], "cp1252", account=given)
    assert bradesco.accounts == (BankAccount("237", "1234", "567890"),)


def test_newest_first_file_takes_each_days_latest_running_balance() -> None:
    text = ("Data Lançamento;Descrição;Valor;Saldo\n"
            "02/02/2024;C;5,00;115,00\n01/02/2024;B;10,00;110,00\n01/02/2024;A;100,00;100,00\n")
    assert balances(parse(text)) == [(D(2024, 2, 1), "closing", 11000),
                                      (D(2024, 2, 2), "closing", 11500)]


def test_disagreeing_balances_for_a_day_are_not_used() -> None:
    text = SAMPLES["bb"][1].replace('"S A L D O","","","1.000,00"', '"S A L D O","","","9,99"')
    statement = parse(text)
    assert balances(statement) == [(D(2024, 2, 1), "opening", 100000)]
    (warning,) = [r for r in statement.dropped if r.kind == "warning"]
    assert warning.value == "2024-02-01" and "different closing balances" in warning.reason


# ---------------------------------------------------------------- detection


def test_ambiguous_header_names_the_candidates() -> None:
    text = "Data,Valor,Identificador,Descrição,Lançamento,Detalhes\n01/02/2024,1.00,x,y,z,w\n"
    with pytest.raises(InputError) as caught:
        parse(text)
    message = str(caught.value)
    assert "nubank" in message and "bb" in message and "extrato.csv" in message
    assert "csv_layout" in caught.value.hint


def test_unknown_header_lists_the_presets() -> None:
    with pytest.raises(InputError) as caught:
        parse("Quando;O quê;Quanto\n01/02/2024;Pix;1,00\n")
    assert all(name in str(caught.value) for name in PRESETS)
    assert "csv_layout" in caught.value.hint


def test_named_layout_whose_header_is_missing_is_refused() -> None:
    with pytest.raises(InputError, match="header row of CSV layout 'caixa'"):
        parse(SAMPLES["nubank"][1], layout=PRESETS["caixa"])


def test_empty_file_is_refused() -> None:
    with pytest.raises(InputError, match="empty"):
        parse_csv(b"\r\n\r\n", "vazio.csv")


def test_bom_utf16_and_cp1252_decode() -> None:
    encoding, text = SAMPLES["itau"]
    assert rows(parse(text, encoding))[1][2] == "SISPAG FORNECEDOR SERVIÇOS"
    utf16 = codecs.BOM_UTF16_LE + SAMPLES["nubank"][1].encode("utf-16-le")
    assert rows(parse_csv(utf16, "nu.csv")) == EXPECTED["nubank"]["rows"]


def test_looks_like_csv_content_sniff() -> None:
    assert looks_like_csv(SAMPLES["itau_legacy"][1].encode("cp1252"))
    assert not looks_like_csv(b"OFXHEADER:100\r\nDATA:OFXSGML\r\n<OFX>;;,,")
    assert not looks_like_csv(b"%PDF-1.4\x00\x01binary")
    assert not looks_like_csv(("1" * 240 + "\r\n").encode() * 3)
    assert not looks_like_csv(b"just some text\nwithout separators\n")


# ---------------------------------------------------------------- TOML layouts


SICREDI = {
    "name": "sicredi", "bank": "Sicredi", "bank_code": "748",
    "header_markers": ["Data", "Descrição", "Documento", "Valor (R$)", "Saldo (R$)"],
    "date_column": "Data", "description_column": "Descrição", "amount_column": "Valor (R$)",
    "balance_column": "Saldo (R$)", "document_column": "Documento", "delimiter": "|",
    "balance_row_markers": ["SALDO*"],
}


def test_toml_layout_is_read_and_used() -> None:
    layout = layout_from_toml(SICREDI)
    assert isinstance(layout, CsvLayout) and layout.delimiters == ("|",)
    text = ("Cooperativa: 0101 | Conta: 12345-6\n"
            "Data | Descrição | Documento | Valor (R$) | Saldo (R$)\n"
            "01/02/2024 | PIX RECEBIDO FULANO | 1 | 1.000,00 | 1.000,00\n"
            "02/02/2024 | SALDO DO DIA |  |  | 1.000,00\n")
    statement = parse(text, layout=layout)
    assert (statement.layout, statement.bank) == ("sicredi", "Sicredi")
    assert rows(statement) == [(D(2024, 2, 1), 100000, "PIX RECEBIDO FULANO")]
    assert statement.lines[0].fitid == "1"
    assert balances(statement) == [(D(2024, 2, 1), "closing", 100000),
                                   (D(2024, 2, 2), "closing", 100000)]
    # and detected among presets when passed as a candidate
    detected = parse(text, layouts=[*PRESETS.values(), layout])
    assert detected.layout == "sicredi"


def test_toml_layout_can_extend_a_preset() -> None:
    layout = layout_from_toml({"extends": "itau", "name": "itau_pj", "account_pattern": None})
    assert layout.header_markers == PRESETS["itau"].header_markers
    assert layout.name == "itau_pj" and layout.account_pattern is None
    assert layout_from_toml({**SICREDI, "bank_code": 748}).bank_code == "748"


@pytest.mark.parametrize(("table", "key"), [
    ({**SICREDI, "valor": "x"}, "valor"),
    ({k: v for k, v in SICREDI.items() if k != "date_column"}, "date_column"),
    ({**SICREDI, "credit_column": "C", "debit_column": "D"}, "amount_column"),
    ({**SICREDI, "decimal": ";"}, "decimal"),
    ({**SICREDI, "header_markers": 3}, "header_markers"),
    ({**SICREDI, "continuation_rows": "yes"}, "continuation_rows"),
    ({**SICREDI, "account_pattern": "(unclosed"}, "account_pattern"),
    ({"extends": "nope", "name": "x"}, "extends"),
])
def test_toml_layout_errors_name_the_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        layout_from_toml(table)
    assert caught.value.key == key and key in str(caught.value)


# ---------------------------------------------------------------- amounts


@pytest.mark.parametrize(("text", "cents"), [
    ("1.234,56", 123456), ("-1.234,56", -123456), ("1.234,56-", -123456),
    ("(1.234,56)", -123456), ("R$ 1.234,56", 123456), ("-R$ 1.234,56", -123456),
    ("R$ -1.234,56", -123456), ("966,1", 96610), ("1.234,56 D", -123456),
    ("1.234,56C", 123456), ("1.234.567,89", 123456789), ("0,00", 0), ("12", 1200),
    ("1.677", 167700), ("999999999.99", 99999999999), ("+5,00", 500), ("  -560,00 ", -56000),
    ("1\u00a0234,56", 123456),
    ("", None), ("abc", None), ("1,2,3", None), ("12.34,56", None), ("1,234", None),
    ("--1,00", None), ("-(1,00)", None), ("-1,00 D", None), (" . ", None), ("1,", None),
    ("1.234.56", None), ("R$", None),
])
def test_parse_br_amount(text: str, cents: int | None) -> None:
    assert parse_br_amount(text) == cents


@pytest.mark.parametrize(("text", "cents"), [
    ("1234.56", 123456), ("-136.9", -13690), ("1,234.56", 123456), ("12,5", 1250),
    ("0.001", None), ("1.2.3", None),
])
def test_parse_br_amount_with_dot_decimal(text: str, cents: int | None) -> None:
    assert parse_br_amount(text, decimal=".", thousands=",") == cents


def test_balance_record_type() -> None:
    statement = parse(SAMPLES["caixa"][1], "cp1252")
    assert statement.balances[0] == Balance(BankAccount("104", None, None), D(2024, 2, 1),
                                            150000, "opening")


def test_unreadable_quoting_refuses_the_file_naming_the_line() -> None:
    text = SAMPLES["nubank"][1] + '03/02/2024,1.00,x,"' + "a" * 200 + "\n"
    previous = csv.field_size_limit(100)  # a runaway quote, made cheap to reach
    try:
        with pytest.raises(InputError, match="line 4") as caught:
            parse(text)
    finally:
        csv.field_size_limit(previous)
    assert caught.value.file == "extrato.csv" and caught.value.hint
