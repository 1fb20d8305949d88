"""The fast OFX reader against ofxparse: same StatementFile on the corpus and tricky shapes."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest

from recon.errors import InputError
from recon.records import Balance, StatementFile
from recon.sources import ofx_fast
from recon.sources.ofx import parse_ofx, parse_ofx_reference, prepare, scan_statements

CORPUS_OFX = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "ofx"
# Corpus files the fast reader may leave to ofxparse (correct, only slower). None today.
FALLS_BACK: frozenset[str] = frozenset()


def _corpus_params() -> list[object]:
    if not CORPUS_OFX.is_dir():
        reason = f"OFX corpus not found at {CORPUS_OFX} (CI checks shared/ out beside the repo)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-corpus")]
    return [pytest.param(path, id=path.name) for path in sorted(CORPUS_OFX.iterdir())]


def outcome(parse: object, data: bytes, name: str) -> StatementFile | str:
    try:
        return parse(data, name)  # type: ignore[operator]
    except InputError:
        return "InputError"


def fast_reader_takes(data: bytes, name: str = "t.ofx") -> bool:
    prepared = prepare(data, name)
    try:
        ofx_fast.read(prepared, scan_statements(prepared))
    except ofx_fast.Unsupported:
        return False
    return True


def both(text: str, encoding: str = "utf-8") -> StatementFile:
    """parse_ofx on the fast path, checked against ofxparse; the result."""
    data = text.encode(encoding)
    assert fast_reader_takes(data), "the fast reader fell back to ofxparse"
    statement = parse_ofx(data, "t.ofx")
    assert statement == parse_ofx_reference(data, "t.ofx")
    return statement


# ---------------------------------------------------------------- corpus


@pytest.mark.parametrize("path", _corpus_params())
def test_corpus_file_reads_the_same_fast_and_with_ofxparse(path: Path) -> None:
    data = path.read_bytes()
    assert outcome(parse_ofx, data, path.name) == outcome(parse_ofx_reference, data, path.name)


@pytest.mark.parametrize("path", _corpus_params())
def test_corpus_file_is_read_by_the_fast_reader_itself(path: Path) -> None:
    assert fast_reader_takes(path.read_bytes(), path.name) or path.name in FALLS_BACK


# ---------------------------------------------------------------- shapes

HEADER = "OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\nENCODING:USASCII\r\nCHARSET:1252\r\n\r\n"
XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n<?OFX OFXHEADER="200" VERSION="211"?>\n'
SIGNON = ("<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS>"
          "<DTSERVER>20240201<LANGUAGE>POR</SONRS></SIGNONMSGSRSV1>")


def sgml_trn(fitid: str, amount: str = "-10.00", memo: str = "TARIFA",
             posted: str = "20240115100000[-03:EST]") -> str:
    return (f"<STMTTRN>\r\n<TRNTYPE>OTHER\r\n<DTPOSTED>{posted}\r\n<TRNAMT>{amount}\r\n"
            f"<FITID>{fitid}\r\n<MEMO>{memo}\r\n</STMTTRN>\r\n")


def statement(*trns: str, kind: str = "STMTRS", account: str = "<BANKID>0341<ACCTID>123",
              ledger: str = "<BALAMT>1.234,56<DTASOF>20240131") -> str:
    wrapper = "BANKACCTFROM" if kind == "STMTRS" else "CCACCTFROM"
    return (f"<{kind}><CURDEF>BRL<{wrapper}>{account}</{wrapper}>\r\n<BANKTRANLIST>\r\n"
            f"<DTSTART>20240101<DTEND>20240131\r\n{''.join(trns)}</BANKTRANLIST>\r\n"
            f"<LEDGERBAL>{ledger}</LEDGERBAL>\r\n</{kind}>\r\n")


def document(*statements: str, header: str = HEADER) -> str:
    return (f"{header}<OFX>\r\n{SIGNON}\r\n<BANKMSGSRSV1><STMTTRNRS><TRNUID>1\r\n"
            f"{''.join(statements)}</STMTTRNRS></BANKMSGSRSV1>\r\n</OFX>\r\n")


def test_xml_with_entities_and_cdata() -> None:
    trn = ("<STMTTRN><TRNTYPE>DEBIT</TRNTYPE><DTPOSTED>20240105120000[-3:BRT]</DTPOSTED>"
           "<TRNAMT>-99.90</TRNAMT><FITID>A&amp;B-1</FITID><NAME><![CDATA[LOJA X & CIA]]></NAME>"
           "<MEMO>PAG &lt;BOLETO&gt; AT&amp;T CAL&#199;ADOS &#xE7; &quot;ok&quot;</MEMO></STMTTRN>")
    text = (f"{XML_HEADER}<OFX><BANKMSGSRSV1><STMTTRNRS><TRNUID>1</TRNUID><STMTRS>"
            "<CURDEF>BRL</CURDEF><BANKACCTFROM><BANKID>260</BANKID><ACCTID>9-1</ACCTID>"
            "</BANKACCTFROM><BANKTRANLIST><DTSTART>20240101</DTSTART><DTEND>20240131</DTEND>"
            f"{trn}</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>")
    [line] = both(text).lines
    assert line.fitid == "A&B-1" and line.amount_cents == -9990
    assert line.memo == 'LOJA X & CIA - PAG <BOLETO> AT&T CALÇADOS ç "ok"'


def test_raw_ampersands_in_sgml_stay_as_written() -> None:
    text = document(statement(sgml_trn("1", memo="COMPRA C&A MODAS"),
                              sgml_trn("2", memo="PAG & CIA; x&y;z")))
    assert [line.memo for line in both(text, "cp1252").lines] == [
        "COMPRA C&A MODAS", "PAG & CIA; x&yz"]  # html.parser drops the ';' of `&y;`, so do we


def test_one_line_file() -> None:
    text = document(statement(sgml_trn("1"), sgml_trn("2", amount="5,00"))).replace("\r\n", "")
    statement_file = both(text)
    assert [(line.source_line, line.amount_cents) for line in statement_file.lines] == [
        (1, -1000), (1, 500)]


def test_multi_line_memo_closed_and_unclosed() -> None:
    closed = sgml_trn("1").replace("<MEMO>TARIFA\r\n", "<MEMO>PAGAMENTO DE\r\n   TITULO</MEMO>\r\n")
    unclosed = sgml_trn("2", memo="TED RECEBIDA\r\n  FULANO DE TAL")
    lines = both(document(statement(closed, unclosed))).lines
    assert [line.memo for line in lines] == ["PAGAMENTO DE TITULO", "TED RECEBIDA FULANO DE TAL"]


def test_several_accounts_bank_and_card() -> None:
    text = document(statement(sgml_trn("a1"), account="<BANKID>001<BRANCHID>1234-5<ACCTID>111-1"),
                    statement(sgml_trn("b1"), sgml_trn("b2"), account="<BANKID>237<ACCTID>222"),
                    statement(sgml_trn("c1", amount="-99.90"), kind="CCSTMTRS",
                              account="<ACCTID>5555-XXXX"))
    statement_file = both(text)
    first, second, card = statement_file.accounts
    assert (first.bank_code, first.branch, first.number) == ("1", "12345", "1111")
    assert (card.bank_code, card.number) == (None, "5555XXXX")
    assert [(line.account, line.fitid) for line in statement_file.lines] == [
        (first, "a1"), (second, "b1"), (second, "b2"), (card, "c1")]
    assert statement_file.balances == tuple(
        Balance(account=account, on=date(2024, 1, 31), cents=123456, kind="closing")
        for account in (first, second, card))


def test_closed_and_unclosed_tags_mixed_several_blocks_per_line() -> None:
    blocks = ("<STMTTRN><TRNTYPE>1<DTPOSTED>20180309000000[-3:BRT]</DTPOSTED><TRNAMT>74,40"
              "<FITID>111</FITID><REFNUM>9<MEMO>Repasse pagamento: 9 de Fulano</STMTTRN>"
              "<STMTTRN><TRNTYPE>0</TRNTYPE><DTPOSTED>20180309<TRNAMT>-1.49</TRNAMT><FITID>112"
              "<CHECKNUM>123456789012345<MEMO>Tarifa repasse: 9</MEMO></STMTTRN>\r\n")
    lines = both(document(statement(blocks))).lines
    assert [(line.fitid, line.amount_cents, line.posted_on) for line in lines] == [
        ("111", 7440, date(2018, 3, 9)), ("112", -149, date(2018, 3, 9))]


def test_lines_ofxparse_discards_are_rejected_with_its_words_on_the_fast_path() -> None:
    no_date = "<STMTTRN><TRNTYPE>OTHER<TRNAMT>-1.00<FITID>9<MEMO>X</STMTTRN>"
    empty_name = "<STMTTRN><TRNTYPE>OTHER<DTPOSTED>20240102<TRNAMT>-2.00<FITID>8<NAME></NAME></STMTTRN>"
    caixa_saldo = sgml_trn("0", amount="   .  ", memo="SALDO DIA")
    statement_file = both(document(statement(
        sgml_trn("1"), no_date, empty_name, sgml_trn("2", amount="$120"), caixa_saldo,
        sgml_trn("3", posted="20240231"), sgml_trn("4", amount="0.005"))))
    assert len(statement_file.lines) == 1
    assert [(r.kind, r.field, r.reason) for r in statement_file.dropped] == [
        ("rejected", "DTPOSTED", "Missing Transaction Date (a required field)"),
        ("rejected", "NAME", "Empty transaction name"),
        ("rejected", "TRNAMT", "Invalid Transaction Amount: '$120 '"),  # its quote of "$120\r\n"
        ("dropped", "MEMO", "balance line, not a transaction"),
        ("rejected", "DTPOSTED", "day is out of range for month"),
        ("rejected", "TRNAMT", "amount has fractions of a centavo")]


def test_statement_warnings_match_ofxparse() -> None:
    text = document(statement(sgml_trn("1"), ledger="<BALAMT></BALAMT><DTASOF>2024")
                    .replace("<CURDEF>BRL", "<CURDEF></CURDEF>"))
    statement_file = both(text)
    assert [(r.kind, r.field) for r in statement_file.dropped] == [
        ("warning", "CURDEF"), ("warning", "BALAMT"), ("warning", "DTASOF")]
    assert statement_file.balances == ()


@pytest.mark.parametrize("amount", ["-1.234,56", "1,234.56", "  -560,00", "null", "1e5", "+7",
                                    "1.2.3", "-0", "12345"])
@pytest.mark.parametrize("posted", ["20240131220000[-3:BRT]", "00000000", "2024013122", "abc"])
def test_odd_values_read_the_same_on_both_paths(amount: str, posted: str) -> None:
    both(document(statement(sgml_trn("1", amount=amount, posted=posted), sgml_trn("2"))))


def test_ledger_balance_is_the_closing_balance_of_its_business_day() -> None:
    text = document(statement(sgml_trn("1"), ledger="<BALAMT>-12,30<DTASOF>20240131220000[-3:BRT]"))
    [balance] = both(text).balances
    assert (balance.on, balance.cents, balance.kind) == (date(2024, 1, 31), -1230, "closing")


# ---------------------------------------------------------------- falling back


@pytest.mark.parametrize("change", [
    pytest.param(lambda t: t.replace("<STMTTRN>", "<!-- old --><STMTTRN>", 1), id="comment"),
    pytest.param(lambda t: t.replace("TARIFA", "A &eacute; B", 1), id="html-entity"),
    pytest.param(lambda t: t.replace("TARIFA", "<![CDATA[A <B>]]>", 1), id="cdata-holding-a-tag"),
    pytest.param(lambda t: t.replace("</STMTTRN>", "", 1), id="unclosed-stmttrn"),
    pytest.param(lambda t: t.replace("<CODE>0", "<CODE>", 1), id="empty-status-code"),
    pytest.param(lambda t: t.replace("<STMTRS>", "<INVSTMTRS>", 1), id="investment"),
])
def test_shapes_the_fast_reader_is_unsure_of_go_to_ofxparse(change: object,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    data = change(document(statement(sgml_trn("1"), sgml_trn("2")))).encode()  # type: ignore[operator]
    assert not fast_reader_takes(data)
    with caplog.at_level(logging.DEBUG, logger="recon.sources.ofx"):
        result = outcome(parse_ofx, data, "t.ofx")
    assert result == outcome(parse_ofx_reference, data, "t.ofx")
    assert any("read by ofxparse" in record.getMessage() for record in caplog.records)


def test_the_fast_path_says_so_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="recon.sources.ofx"):
        parse_ofx(document(statement(sgml_trn("1"))).encode(), "t.ofx")
    assert any("fast reader" in record.getMessage() for record in caplog.records)
