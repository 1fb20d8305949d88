"""Every statement file of ../shared/corpus through the inbox, as a nightly run would read it.

Each file is read (a statement, or a cobrança retorno's boleto titles), or refused with a
message that names it and says what to do. For one file per bank and per quirk, the first line is checked against
values read off the raw file by hand (not computed with our parser).
"""

from datetime import date
from pathlib import Path

import pytest

from recon.errors import InputError
from recon.records import RetornoFile
from recon.sources.inbox import read_source, read_statement

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
FILES = sorted(p for p in CORPUS.glob("*/*") if p.is_file()) if CORPUS.is_dir() else []

REFUSED = {  # file -> what the refusal must say
    "ofxparse_multiple_accounts.ofx": "no transaction list",
}
RETORNOS = {"dattos_bb_cobranca_retorno_1.ret", "dattos_bb_cobranca_retorno_2.ret",
            "trustcode_santander_cobranca.ret"}  # read as boleto titles, not statements

# file -> (lines kept, first line's date, amount in centavos, memo), from the raw files
FIRST_LINES = {
    "annacruz_bb_cp1252.ofx": (81, date(2010, 8, 26), -83630, "CHEQUE COMPENSADO"),
    "adelar_itau_extrato.ofx": (48, date(2016, 8, 2), -60000, "INT TED D 131231"),
    "adelar_caixa_extrato.ofx": (4, date(2015, 7, 1), -3736, "DEB.JUROS"),
    "adelar_santander_extrato.ofx": (24, date(2016, 8, 1), -56000, "CHEQUE EMITIDO/DEBITADO"),
    "annacruz_bradesco_comma.ofx": (6, date(2015, 7, 30), -53086, "PAGTO ELETRONICO TRIBUTO"),
    "operand_inter.ofx": (4, date(2021, 1, 29), 500000, "TRANSFERENCIA A CREDITO 00010 0012345678"),
    "fabiopf_gerencianet_torture.ofx": (20, date(2018, 3, 9), 7440,
                                        "Repasse pagamento: 17223405 de XXXXXXXX"),
    "asgrim_bb_two_stmtrs_cp1252.ofx": (36, date(2017, 3, 1), 1331836, "TED-CRÉDITO EM CONTA"),
    "stmtparser_bradesco_cc.ofx": (10, date(2024, 9, 2), 500000,
                                   "Transfe Pix Rem: CLIENTE CLIENTE s de 01/09"),
    "annacruz_santander_padded_comma.ofx": (4, date(2017, 9, 1), -1176, "TARIFA REGISTRO TITULO"),
    "ofxgo_no_newlines.qfx": (1, date(2020, 12, 1), -1234, "AE Visa Card AE EPAY - XXXXX1234"),
    "marcodpt_extrato_E_itau.txt": (9, date(2022, 12, 14), 179371, "ANTONIO E VERA INFORMATIC"),
    "marcodpt_extrato_E_caixa.txt": (9, date(2022, 12, 14), 179371, "ANTONIO E VERA INFORMATIC"),
}


def test_the_corpus_is_there():
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} not present (CI checks shared/ out beside the repo)")
    assert len(FILES) == 51


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_file_is_read_or_refused_clearly(path: Path):
    try:
        statement = read_source(path)
    except InputError as exc:
        assert path.name in REFUSED, f"unexpected refusal: {exc}"
        assert REFUSED[path.name] in exc.reason
        assert str(exc).startswith(path.name) and exc.hint
        return
    assert path.name not in REFUSED, "should have been refused"
    assert isinstance(statement, RetornoFile) == (path.name in RETORNOS)
    if isinstance(statement, RetornoFile):
        assert statement.titles and not statement.rejects
        return
    for line in statement.lines:
        assert line.memo == line.memo.strip() and "  " not in line.memo
        assert line.line_key and line.posted_on.year >= 2000
    assert len({line.line_key for line in statement.lines}) == len(statement.lines)
    for reject in statement.dropped:
        assert reject.reason and reject.file == path.name


@pytest.mark.parametrize("name", sorted(FIRST_LINES))
def test_one_file_per_bank_and_quirk_reads_as_the_bank_wrote_it(name: str):
    path = next((p for p in FILES if p.name == name), None)
    if path is None:
        pytest.skip(f"{name} not in {CORPUS}")
    count, posted_on, cents, memo = FIRST_LINES[name]
    statement = read_statement(path)
    first = statement.lines[0]
    assert len(statement.lines) == count
    assert (first.posted_on, first.amount_cents, first.memo) == (posted_on, cents, memo)


def test_utf8_accents_under_a_cp1252_header_are_not_mojibake():
    path = CORPUS / "ofx" / "adelar_itau_accents_utf8_body.ofx"
    if not path.exists():
        pytest.skip("corpus not present")
    assert read_statement(path).lines[0].memo == "ççççåADáéñ"
