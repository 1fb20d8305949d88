"""CNAB 240 extrato (segment E): the shared corpus, plus small files built field by field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from support import cnab_record

from recon.errors import InputError
from recon.records import Balance, BankAccount, StatementFile
from recon.sources.cnab240 import looks_like_cnab240, parse_cnab240

CORPUS_CNAB = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "cnab240"

# Read by eye from the files (positions 1-based): header arquivo 1-3; header lote 14-16,
# 53-57, 59-70, 71/72; the first detalhe 143-240; header lote and trailer lote 143-169.
EXTRATOS = {
    "marcodpt_extrato_E_bb.txt": ("001", BankAccount("1", "679", "27267110"), "v032", "OCRJN6Z90W"),
    "marcodpt_extrato_E_bradesco.txt": ("237", BankAccount("237", "679", "27267110"), "v050",
                                        "OCRJN6Z"),
    "marcodpt_extrato_E_caixa.txt": ("104", BankAccount("104", "679", "27267110"), "v089",
                                     "OCRJN6Z"),
    # Itaú: 71 blank, the DAC in 72 ("9"); the generator's conta 59-70 already ends in its DV.
    "marcodpt_extrato_E_itau.txt": ("341", BankAccount("341", "679", "272671109"), "v050",
                                    "OCRJN6"),
}
RETORNOS = ["dattos_bb_cobranca_retorno_1.ret", "dattos_bb_cobranca_retorno_2.ret",
            "trustcode_santander_cobranca.ret"]


def _corpus(name: str) -> bytes:
    path = CORPUS_CNAB / name
    if not path.is_file():
        pytest.skip(f"CNAB 240 corpus not found at {CORPUS_CNAB} (shared/ sits beside the repo)")
    return path.read_bytes()


@pytest.mark.parametrize("name", sorted(EXTRATOS))
def test_corpus_extrato(name: str) -> None:
    data = _corpus(name)
    bank, account, version, first_fitid = EXTRATOS[name]
    assert looks_like_cnab240(data)
    parsed = parse_cnab240(data, name)

    assert (parsed.format, parsed.bank, parsed.layout) == ("cnab240", bank, f"segmento E {version}")
    assert parsed.accounts == (account,)
    assert len(parsed.lines) == 9
    first = parsed.lines[0]
    assert (first.source_line, first.posted_on, first.amount_cents, first.raw_date) == (
        3, date(2022, 12, 14), 179371, "14122022")
    assert first.direction == "credit"
    assert (first.memo, first.fitid, first.account) == ("ANTONIO E VERA INFORMATIC", first_fitid,
                                                        account)
    last = parsed.lines[-1]
    assert (last.posted_on, last.amount_cents, last.memo) == (
        date(2022, 12, 5), -993451, "LUAN BERNARDO DUARTE")
    # The trailer's own totals (177-194 débitos 16.336,22; 195-212 créditos 11.323,07).
    assert sum(line.amount_cents for line in parsed.lines) == 1132307 - 1633622
    assert parsed.period == (date(2022, 12, 5), date(2022, 12, 31))
    assert parsed.balances == (Balance(account, date(2022, 11, 23), 93241081, "opening"),
                               Balance(account, date(2022, 11, 24), 21136549, "closing"))
    # Synthetic data: the balances do not add up, which warns and keeps every line.
    assert [(r.kind, r.field, r.line) for r in parsed.dropped] == [("warning", "saldo final", 12)]
    assert len({line.line_key for line in parsed.lines}) == 9


@pytest.mark.parametrize("name", RETORNOS)
def test_corpus_cobranca_retorno_is_refused(name: str) -> None:
    data = _corpus(name)
    assert looks_like_cnab240(data)
    with pytest.raises(InputError, match="cobrança retorno") as caught:
        parse_cnab240(data, name)
    assert caught.value.file == name
    assert "segment E" in caught.value.hint


# --- files built field by field ---
record = cnab_record  # a 240-character record, each text at its 1-based start position


def money(cents: int) -> str:
    return f"{cents:018d}"


def header_arquivo(bank: str = "341") -> str:
    return record((1, bank), (4, "0000"), (8, "0"), (143, "2"), (144, "02022024"), (164, "050"))


def header_lote(bank: str = "341", lote: str = "0001", *, agencia: str = "00123",
                conta: str = "000000012345", dv: str = "6", dac: str = " ",
                opening: tuple[str, int, str] = ("31012024", 100000, "C"),
                operation: str = "E", service: str = "04") -> str:
    on, cents, sign = opening
    return record((1, bank), (4, lote), (8, "1"), (9, operation), (10, service), (12, "40"),
                  (14, "050"), (18, "2"), (19, "12345678000199"), (53, agencia), (59, conta),
                  (71, dv), (72, dac), (73, "EMPRESA TESTE LTDA"), (143, on), (151, money(cents)),
                  (169, sign), (170, "F"), (171, "BRL"), (174, "00001"))


def detalhe(seq: int, on: str, cents: int, sign: str, historico: str, documento: str = "",
            bank: str = "341", lote: str = "0001", amount: str | None = None) -> str:
    return record((1, bank), (4, lote), (8, "3"), (9, f"{seq:05d}"), (14, "E"), (109, "DPV"),
                  (112, "00"), (134, "N"), (135, on), (143, on),
                  (151, amount if amount is not None else money(cents)), (169, sign),
                  (170, "105" if sign == "D" else "209"), (173, "0001"), (177, historico),
                  (202, documento))


def trailer_lote(closing: tuple[str, int, str], debits: int, credits: int, count: int,
                 bank: str = "341", lote: str = "0001") -> str:
    on, cents, sign = closing
    return record((1, bank), (4, lote), (8, "5"), (143, on), (151, money(cents)), (169, sign),
                  (170, "F"), (171, f"{count:06d}"), (177, money(debits)), (195, money(credits)))


def trailer_arquivo(bank: str = "341", records: int = 6) -> str:
    return record((1, bank), (4, "9999"), (8, "9"), (18, "000001"), (24, f"{records:06d}"))


DEBIT = detalhe(1, "01022024", 15000, "D", "TARIFA MANUTENÇÃO")
CREDIT = detalhe(2, "02022024", 25050, "C", "PIX RECEBIDO", "E1234567")
CLOSING = ("02022024", 110050, "C")  # 1.000,00 - 150,00 + 250,50


def build(*lines: str, eol: str = "\r\n") -> bytes:
    return (eol.join(lines) + eol).encode("cp1252")


def extrato(*details: str, closing: tuple[str, int, str] = CLOSING, debits: int = 15000,
            credits: int = 25050) -> list[str]:
    return [header_arquivo(), header_lote(), *details,
            trailer_lote(closing, debits, credits, len(details) + 2),
            trailer_arquivo(records=len(details) + 4)]


def parse(data: bytes) -> StatementFile:
    return parse_cnab240(data, "extrato.ret")


def test_round_trip() -> None:
    data = build(*extrato(DEBIT, CREDIT))
    assert looks_like_cnab240(data)
    parsed = parse(data)
    account = BankAccount("341", "123", "123456")
    assert (parsed.path, parsed.format, parsed.bank, parsed.layout) == (
        "extrato.ret", "cnab240", "341", "segmento E v050")
    assert parsed.accounts == (account,)
    assert parsed.dropped == ()
    assert [(x.source_line, x.posted_on, x.amount_cents, x.memo, x.fitid, x.raw_date)
            for x in parsed.lines] == [
        (3, date(2024, 2, 1), -15000, "TARIFA MANUTENÇÃO", None, "01022024"),
        (4, date(2024, 2, 2), 25050, "PIX RECEBIDO", "E1234567", "02022024"),
    ]
    assert [line.direction for line in parsed.lines] == ["debit", "credit"]
    assert all(line.account == account for line in parsed.lines)
    assert parsed.balances == (Balance(account, date(2024, 1, 31), 100000, "opening"),
                               Balance(account, date(2024, 2, 2), 110050, "closing"))
    assert parsed.period == (date(2024, 2, 1), date(2024, 2, 2))
    keys = [line.line_key for line in parsed.lines]
    assert len(set(keys)) == 2 and all(keys)


def test_lf_trailing_blank_line_and_trailing_spaces_read_the_same() -> None:
    lines = extrato(DEBIT, CREDIT)
    plain = parse(build(*lines))
    sloppy = parse((("\n".join(line + "   " for line in lines)) + "\n\n  \n").encode("cp1252"))
    assert sloppy.lines == plain.lines and sloppy.balances == plain.balances
    assert sloppy.dropped == ()
    one_string = parse("".join(lines).encode("cp1252"))  # no line breaks at all
    assert [line.line_key for line in one_string.lines] == [line.line_key for line in plain.lines]


def test_utf8_file_keeps_its_positions() -> None:
    parsed = parse_cnab240("\r\n".join(extrato(DEBIT, CREDIT)).encode("utf-8"), "x.txt")
    assert parsed.lines[0].memo == "TARIFA MANUTENÇÃO" and parsed.dropped == ()


def test_wrong_line_length_is_reported_with_its_line_number() -> None:
    parsed = parse(build(*extrato(DEBIT, CREDIT[:239])))
    assert [line.memo for line in parsed.lines] == ["TARIFA MANUTENÇÃO"]
    wrong = [r for r in parsed.dropped if r.kind == "rejected"]
    assert [(r.line, r.value) for r in wrong] == [(4, "239")]
    assert "line 4" in wrong[0].reason and "239" in wrong[0].reason
    # The missing credit shows in the balance and total checks as warnings.
    assert {r.field for r in parsed.dropped if r.kind == "warning"} == {"saldo final",
                                                                       "total créditos"}


def test_wrong_length_header_lote_is_an_input_error() -> None:
    lines = extrato(DEBIT)
    lines[1] = lines[1][:200]
    with pytest.raises(InputError) as caught:
        parse(build(*lines))
    assert caught.value.line == 2 and "200 characters" in str(caught.value)


def test_bad_date_or_amount_rejects_just_that_line() -> None:
    bad_date = detalhe(1, "31022024", 15000, "D", "TARIFA")
    bad_amount = detalhe(3, "02022024", 0, "C", "TED", amount="0000000000000012,5")
    parsed = parse(build(*extrato(bad_date, CREDIT, bad_amount)))
    assert [line.memo for line in parsed.lines] == ["PIX RECEBIDO"]
    rejected = [(r.line, r.field, r.value) for r in parsed.dropped if r.kind == "rejected"]
    assert rejected == [(3, "data lançamento", "31022024"), (5, "valor", "0000000000000012,5")]
    assert all(r.hint for r in parsed.dropped)
    superscript = detalhe(1, "01022024", 0, "D", "TARIFA", amount="00000000000000150²")
    parsed = parse(build(*extrato(superscript, CREDIT)))  # '²'.isdigit() is True in Python
    assert (parsed.dropped[0].field, parsed.dropped[0].kind) == ("valor", "rejected")


def test_two_lotes_give_two_accounts() -> None:
    second = header_lote(lote="0002", agencia="00456", conta="000000098765", dv=" ", dac="4",
                         opening=("31012024", 5000, "D"))
    lines = [header_arquivo(), header_lote(), DEBIT, trailer_lote(("01022024", 85000, "C"), 15000,
                                                                  0, 3),
             second, detalhe(1, "03022024", 7000, "C", "DEPOSITO", lote="0002"),
             trailer_lote(("03022024", 2000, "C"), 0, 7000, 3, lote="0002"), trailer_arquivo()]
    parsed = parse(build(*lines))
    first, other = BankAccount("341", "123", "123456"), BankAccount("341", "456", "987654")
    assert parsed.accounts == (first, other)
    assert [(line.account, line.amount_cents) for line in parsed.lines] == [(first, -15000),
                                                                          (other, 7000)]
    assert [(b.account, b.kind, b.cents) for b in parsed.balances] == [
        (first, "opening", 100000), (first, "closing", 85000),
        (other, "opening", -5000), (other, "closing", 2000)]
    assert parsed.dropped == ()
    assert parsed.period == (date(2024, 2, 1), date(2024, 2, 3))


def test_sum_mismatch_warns_and_keeps_the_lines() -> None:
    parsed = parse(build(*extrato(DEBIT, CREDIT, closing=("02022024", 999999, "C"))))
    assert len(parsed.lines) == 2
    assert [(r.kind, r.field) for r in parsed.dropped] == [("warning", "saldo final")]
    reason = parsed.dropped[0].reason
    assert "do not add up" in reason and "R$ 1.000,00" in reason and "R$ 9.999,99" in reason
    assert len(parsed.balances) == 2


def test_other_cnab_services_are_named() -> None:
    lines = extrato(DEBIT)
    lines[1] = header_lote(operation="C", service="20")
    with pytest.raises(InputError, match="pagamento a fornecedores"):
        parse(build(*lines))


def test_retorno_built_inline_is_refused() -> None:
    lines = extrato(DEBIT)
    lines[1] = header_lote(operation="T", service="01")
    with pytest.raises(InputError, match="cobrança retorno"):
        parse(build(*lines))


def test_not_cnab() -> None:
    assert not looks_like_cnab240(b"OFXHEADER:100\r\nDATA:OFXSGML\r\n<OFX></OFX>\r\n")
    assert not looks_like_cnab240(b"")
    assert not looks_like_cnab240(("0" * 400 + "\r\n").encode())
    with pytest.raises(InputError, match="not a CNAB 240 file"):
        parse(("0" * 400 + "\r\n").encode())
    with pytest.raises(InputError, match="empty"):
        parse(b"\r\n")


def test_missing_trailers_warn() -> None:
    parsed = parse(build(header_arquivo(), header_lote(), DEBIT))
    assert len(parsed.lines) == 1
    assert {r.field for r in parsed.dropped} == {"trailer lote", "trailer arquivo"}
    assert all(r.kind == "warning" for r in parsed.dropped)
