"""OFX source: the shared corpus of real bank files, plus small inline edge cases."""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from ofxparse import OfxParser

from recon.errors import InputError
from recon.money import to_cents
from recon.records import StatementFile
from recon.sources.inbox import read_inbox, read_statement
from recon.sources.ofx import STATEMENT_FIELDS, parse_ofx, preprocess_ofx

CORPUS_OFX = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "ofx"


def _corpus_params() -> list[object]:
    if not CORPUS_OFX.is_dir():
        reason = f"OFX corpus not found at {CORPUS_OFX} (CI checks shared/ out beside the repo)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-corpus")]
    return [pytest.param(path, id=path.name) for path in sorted(CORPUS_OFX.iterdir())]


HEADER_1252 = (
    "OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\nSECURITY:NONE\r\nENCODING:USASCII\r\n"
    "CHARSET:1252\r\nCOMPRESSION:NONE\r\nOLDFILEUID:NONE\r\nNEWFILEUID:NONE\r\n\r\n"
)


def trn(amount: str = "-10.00", memo: str = "TARIFA", *, posted: str = "20240115120000[-3:BRT]",
        fitid: str = "1", trntype: str = "OTHER", name: str | None = None) -> str:
    name_tag = f"<NAME>{name}\r\n" if name is not None else ""
    return (f"<STMTTRN>\r\n<TRNTYPE>{trntype}\r\n<DTPOSTED>{posted}\r\n<TRNAMT>{amount}\r\n"
            f"<FITID>{fitid}\r\n{name_tag}<MEMO>{memo}\r\n</STMTTRN>\r\n")


def stmtrs(*trns: str, bankid: str = "0341", branch: str = "0001", acctid: str = "12345-6") -> str:
    return (f"<STMTRS>\r\n<CURDEF>BRL\r\n<BANKACCTFROM>\r\n<BANKID>{bankid}\r\n"
            f"<BRANCHID>{branch}\r\n<ACCTID>{acctid}\r\n<ACCTTYPE>CHECKING\r\n</BANKACCTFROM>\r\n"
            f"<BANKTRANLIST>\r\n<DTSTART>20240101\r\n<DTEND>20240131\r\n{''.join(trns)}"
            "</BANKTRANLIST>\r\n<LEDGERBAL>\r\n<BALAMT>0.00\r\n<DTASOF>20240131\r\n</LEDGERBAL>\r\n"
            "</STMTRS>\r\n")


def ofx(*statements: str, header: str = HEADER_1252) -> str:
    body = "".join(statements) or stmtrs()
    return (f"{header}<OFX>\r\n<BANKMSGSRSV1>\r\n<STMTTRNRS>\r\n<TRNUID>1\r\n{body}"
            "</STMTTRNRS>\r\n</BANKMSGSRSV1>\r\n</OFX>\r\n")


def parse_text(text: str, encoding: str = "ascii") -> StatementFile:
    return parse_ofx(text.encode(encoding), "test.ofx")


# ---------------------------------------------------------------- corpus


@pytest.mark.parametrize("path", _corpus_params())
def test_corpus_file_parses_or_is_refused_naming_the_file(path: Path) -> None:
    try:
        statement = parse_ofx(path.read_bytes(), path.name)
    except InputError as exc:
        assert path.name in str(exc)
        assert exc.hint
        return
    assert statement.path == path.name and statement.format == "ofx"
    assert statement.accounts
    assert all(line.source_file == path.name for line in statement.lines)
    assert all(line.account in statement.accounts for line in statement.lines)
    assert len({line.line_key for line in statement.lines}) == len(statement.lines)
    assert all(line.raw_date[:8] == line.posted_on.strftime("%Y%m%d") for line in statement.lines)
    assert all(reject.file == path.name and reject.reason for reject in statement.dropped)


@pytest.mark.parametrize("path", _corpus_params())
def test_corpus_counts_and_amounts_agree_with_ofxparse(path: Path) -> None:
    data = path.read_bytes()
    try:
        document = OfxParser.parse(io.BytesIO(preprocess_ofx(data, path.name)), fail_fast=False)
    except Exception as exc:  # noqa: BLE001 - only files ofxparse itself can read are compared
        pytest.skip(f"ofxparse cannot read {path.name} even after pre-processing: {exc!r}")
    in_file = len(re.findall(rb"<STMTTRN\s*>", data, re.IGNORECASE))
    try:
        statement = parse_ofx(data, path.name)
    except InputError:
        assert in_file == 0, "a file with transactions that ofxparse reads must not be refused"
        return
    line_rejects = [r for r in statement.dropped if r.field not in STATEMENT_FIELDS]
    assert len(statement.lines) + len(line_rejects) == in_file

    theirs: Counter[tuple[str, int]] = Counter()
    for account in document.accounts:
        for txn in account.statement.transactions:
            try:
                theirs[(txn.id, to_cents(txn.amount))] += 1
            except ValueError:
                continue  # fractions of a centavo: we reject those lines, see below
    ours = Counter((line.fitid or "", line.amount_cents) for line in statement.lines)
    assert ours <= theirs


# ---------------------------------------------------------------- dates


def test_late_evening_brt_stays_on_the_bank_date() -> None:
    posted = "20240131220000[-3:BRT]"
    assert OfxParser.parseOfxDateTime(posted).date() == date(2024, 2, 1)  # the trap
    [line] = parse_text(ofx(stmtrs(trn(posted=posted)))).lines
    assert line.posted_on == date(2024, 1, 31)
    assert line.raw_date == posted


def test_invalid_date_is_rejected_naming_the_field() -> None:
    statement = parse_text(ofx(stmtrs(trn(posted="20240231"), trn(fitid="2"))))
    assert len(statement.lines) == 1
    [reject] = statement.dropped
    assert (reject.field, reject.value, reject.kind) == ("DTPOSTED", "20240231", "rejected")


# ---------------------------------------------------------------- encodings and headers


def test_utf8_body_under_charset_1252_keeps_its_accents() -> None:
    memo = "TED-CRÉDITO EM CONTA ÁGUA ÍNDIO"  # Á and Í are bytes cp1252 cannot even decode
    [line] = parse_text(ofx(stmtrs(trn(memo=memo))), "utf-8").lines
    assert line.memo == memo


def test_cp1252_body_decodes() -> None:
    [line] = parse_text(ofx(stmtrs(trn(memo="COMPRA COM CARTÃO"))), "cp1252").lines
    assert line.memo == "COMPRA COM CARTÃO"


def test_bom_and_leading_blank_lines_are_skipped_and_lines_still_point_at_the_file() -> None:
    text = "\r\n\r\n" + ofx(stmtrs(trn(memo="DÉBITO")))
    data = b"\xef\xbb\xbf" + text.encode("utf-8")
    [line] = parse_ofx(data, "bom.ofx").lines
    assert line.memo == "DÉBITO"
    expected = next(i for i, row in enumerate(text.splitlines(), 1) if row == "<STMTTRN>")
    assert line.source_line == expected


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="no-header"),
        pytest.param(HEADER_1252.replace("\r\n", "", 9), id="one-line-header"),
        pytest.param('<?xml version="1.0" encoding="utf-16"?>\n<?OFX OFXHEADER="200" '
                     'VERSION="211"?>\n', id="ofx2-xml-header-lying-about-utf16"),
        pytest.param("OFXHEADER:100\nENCODING:ISO-8859-1\nCHARSET:NONE\n", id="odd-charset"),
    ],
)
def test_header_variants_are_all_read(header: str) -> None:
    [line] = parse_text(ofx(stmtrs(trn(amount="-12,34")), header=header)).lines
    assert line.amount_cents == -1234


def test_utf16_with_bom_is_decoded() -> None:
    [line] = parse_ofx(ofx(stmtrs(trn(memo="DÉB AUTORIZADO"))).encode("utf-16"), "u16.ofx").lines
    assert line.memo == "DÉB AUTORIZADO"


def test_non_ofx_content_is_an_input_error_naming_the_file() -> None:
    with pytest.raises(InputError, match="extrato.csv"):
        parse_ofx(b"Data;Valor\n01/01/2024;10,00\n", "extrato.csv")
    with pytest.raises(InputError, match="empty"):
        parse_ofx(b"  \r\n", "vazio.ofx")


def test_zero_transactions_is_a_valid_statement() -> None:
    statement = parse_text(ofx(stmtrs()))
    assert statement.lines == () and statement.dropped == ()
    assert statement.period == (date(2024, 1, 1), date(2024, 1, 31))


# ---------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("text", "cents"),
    [("-560,00", -56000), ("           -560,00", -56000), ("-1.234,56", -123456),
     ("1,234.56", 123456), ("1.5", 150), ("-136.9", -13690), ("-0", 0), ("+12", 1200)],
)
def test_amount_formats_become_exact_centavos(text: str, cents: int) -> None:
    [line] = parse_text(ofx(stmtrs(trn(amount=text)))).lines
    assert line.amount_cents == cents


def test_unusable_amount_is_rejected_with_field_and_value() -> None:
    text = ofx(stmtrs(trn(amount="   .  ", memo="DEB CESTA"), trn(fitid="2")))
    statement = parse_text(text)
    assert len(statement.lines) == 1
    [reject] = statement.dropped
    assert (reject.kind, reject.field) == ("rejected", "TRNAMT")
    assert reject.value is not None and reject.value.strip() == "."
    assert reject.line == text.splitlines().index("<STMTTRN>") + 1 and reject.hint


def test_amount_sign_comes_from_trnamt_not_trntype() -> None:
    statement = parse_text(ofx(stmtrs(trn(amount="100.00", trntype="DEBIT"),
                                      trn(amount="-5.00", trntype="CREDIT", fitid="2"))))
    assert [line.amount_cents for line in statement.lines] == [10000, -500]


# ---------------------------------------------------------------- memos and balance lines


def test_balance_pseudo_lines_are_dropped_and_counted() -> None:
    balances = ["SALDO ANTERIOR", "S A L D O", "Saldo do dia", "SALDO FINAL", "Saldo Anterior"]
    trns = [trn(amount="1096.94", memo=memo, fitid=str(i), trntype="DEBIT")
            for i, memo in enumerate(balances)]
    trns.append(trn(amount="0.00", memo="Saldo Anterior", fitid=""))  # BB: empty FITID too
    statement = parse_text(ofx(stmtrs(trn(memo="PIX TRANSF FULANO", fitid="x"), *trns)))
    assert [line.memo for line in statement.lines] == ["PIX TRANSF FULANO"]
    assert len(statement.dropped) == len(balances) + 1
    assert {(r.kind, r.reason) for r in statement.dropped} == {
        ("dropped", "balance line, not a transaction")
    }


@pytest.mark.parametrize(
    ("name", "memo", "expected"),
    [
        (None, "PAGAMENTO DE\r\n   TITULO  Aluguel", "PAGAMENTO DE TITULO Aluguel"),
        ("Recebimento Pix FULANO", "PIX RECEBIDO - OUTRA IF",
         "Recebimento Pix FULANO - PIX RECEBIDO - OUTRA IF"),
        ("ALDI STORE", "ALDI STORE GEELONG", "ALDI STORE GEELONG"),
        ("AMAZON MKTPLACE PMTS", "", "AMAZON MKTPLACE PMTS"),
        (None, "CUSTAS CERTID\\C3O", "CUSTAS CERTIDÃO"),
    ],
)
def test_memo_comes_from_memo_and_name(name: str | None, memo: str, expected: str) -> None:
    [line] = parse_text(ofx(stmtrs(trn(memo=memo, name=name))), "utf-8").lines
    assert line.memo == expected


def test_line_discarded_by_ofxparse_is_reported_with_its_line() -> None:
    missing_date = "<STMTTRN>\r\n<TRNTYPE>OTHER\r\n<TRNAMT>-1.00\r\n<FITID>9\r\n</STMTTRN>\r\n"
    text = ofx(stmtrs(trn(), missing_date))
    statement = parse_text(text)
    assert len(statement.lines) == 1
    [reject] = statement.dropped
    assert reject.field == "DTPOSTED" and reject.kind == "rejected"
    assert reject.line == [i for i, row in enumerate(text.splitlines(), 1) if row == "<STMTTRN>"][1]


def test_a_block_ofxparse_never_saw_is_reported_and_does_not_shift_the_dates() -> None:
    hidden = "<!-- old export: " + trn(fitid="z", posted="20230101") + " -->\r\n"
    late, early = trn(fitid="a", posted="20240131220000[-3:BRT]"), trn(fitid="b", posted="20240105")
    statement = parse_text(ofx(stmtrs(hidden, late, early)))
    assert [(line.fitid, line.posted_on) for line in statement.lines] == [
        ("a", date(2024, 1, 31)), ("b", date(2024, 1, 5))]
    [reject] = statement.dropped
    assert reject.field == "STMTTRN" and reject.line is not None


# ---------------------------------------------------------------- accounts and keys


def test_several_accounts_in_one_file() -> None:
    card = ("<CREDITCARDMSGSRSV1>\r\n<CCSTMTTRNRS>\r\n<CCSTMTRS>\r\n<CURDEF>BRL\r\n<CCACCTFROM>\r\n"
            "<ACCTID>5555-XXXX\r\n</CCACCTFROM>\r\n<BANKTRANLIST>\r\n"
            + trn(amount="-99.90", memo="LOJA", fitid="c1")
            + "</BANKTRANLIST>\r\n</CCSTMTRS>\r\n</CCSTMTTRNRS>\r\n</CREDITCARDMSGSRSV1>\r\n")
    text = ofx(stmtrs(trn(fitid="a1"), acctid="111-1"), stmtrs(trn(fitid="b1"), trn(fitid="b2"),
                                                               bankid="001", acctid="222-2"))
    text = text.replace("</BANKMSGSRSV1>\r\n", "</BANKMSGSRSV1>\r\n" + card)
    statement = parse_text(text)
    first, second, card_account = statement.accounts
    assert (first.bank_code, first.number) == ("341", "1111")
    assert (second.bank_code, second.number) == ("1", "2222")
    assert card_account.bank_code is None and card_account.number == "5555XXXX"
    owners = [(line.account, line.fitid) for line in statement.lines]
    assert owners == [(first, "a1"), (second, "b1"), (second, "b2"), (card_account, "c1")]


def test_identical_lines_get_distinct_keys_that_survive_a_reparse() -> None:
    data = ofx(stmtrs(trn(amount="-8.50", memo="TARIFA PIX"), trn(amount="-8.50",
                                                                 memo="TARIFA PIX"))).encode()
    first = [line.line_key for line in parse_ofx(data, "a.ofx").lines]
    again = [line.line_key for line in parse_ofx(data, "renamed.ofx").lines]
    assert len(set(first)) == 2
    assert first == again


# ---------------------------------------------------------------- inbox


def test_inbox_reads_the_good_file_and_reports_the_bad_one(tmp_path: Path) -> None:
    (tmp_path / "a_extrato.ofx").write_bytes(ofx(stmtrs(trn())).encode())
    (tmp_path / "b_extrato.ofx").write_bytes(b"Data;Valor\n01/01/2024;10,00\n")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")
    (tmp_path / "old").mkdir()
    result = read_inbox(tmp_path)
    assert [f.path for f in result.files] == ["a_extrato.ofx"]
    [reject] = result.rejects
    assert reject.file == "b_extrato.ofx" and reject.kind == "file"
    # read as a CSV, whose header no layout knows: the hint says how to declare one
    assert "CSV layout" in reject.reason and "csv_layout" in reject.hint


def test_read_statement_detects_ofx_by_content(tmp_path: Path) -> None:
    path = tmp_path / "download (3).txt"
    path.write_bytes(ofx(stmtrs(trn())).encode())
    assert len(read_statement(path).lines) == 1


def test_missing_inbox_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="inbox") as caught:
        read_inbox(tmp_path / "nope")
    assert caught.value.hint


def test_opaque_unique_fitids_identify_lines_even_if_the_memo_is_reworded() -> None:
    first = ofx(stmtrs(trn(fitid="6a1f3c2e-0b7d-4f55", memo="Pix recebido - ANA")))
    reworded = ofx(stmtrs(trn(fitid="6a1f3c2e-0b7d-4f55", memo="Transferência recebida - ANA S")))
    [a] = parse_ofx(first.encode(), "a.ofx").lines
    [b] = parse_ofx(reworded.encode(), "b.ofx").lines
    assert a.line_key == b.line_key


def test_numeric_fitids_are_not_trusted_alone() -> None:
    # BB-style FITIDs built from date and amount repeat for same-day same-amount lines
    data = ofx(stmtrs(trn(fitid="20151103023955", memo="PIX A") + trn(fitid="20151103023955", memo="PIX B")))
    keys_ = [line.line_key for line in parse_ofx(data.encode(), "bb.ofx").lines]
    assert len(set(keys_)) == 2
