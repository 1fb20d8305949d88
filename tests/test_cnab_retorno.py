"""CNAB 240 cobrança retorno (segments T/U): the shared corpus, plus files built field by field."""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from support import retorno_bytes

from recon.errors import InputError
from recon.records import RetornoTitle
from recon.sources.cnab240 import parse_cnab240
from recon.sources.cnab_retorno import looks_like_retorno, parse_retorno
from recon.sources.inbox import read_inbox

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"
BB_1, BB_2 = "dattos_bb_cobranca_retorno_1.ret", "dattos_bb_cobranca_retorno_2.ret"
SANTANDER = "trustcode_santander_cobranca.ret"


def _corpus(name: str) -> bytes:
    path = SHARED / "cnab240" / name
    if not path.is_file():
        pytest.skip(f"corpus not found at {path.parent} (shared/ sits beside the repo)")
    return path.read_bytes()


# --- the corpus ---
# file -> (bank, titles, liquidated), counted off the raw files (T segments, movement 06/17)
COUNTS = {BB_1: ("001", 22, 13), BB_2: ("001", 44, 24), SANTANDER: ("033", 1, 1)}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_corpus_retorno_is_read_whole(name: str) -> None:
    data = _corpus(name)
    bank, titles, liquidated = COUNTS[name]
    assert looks_like_retorno(data)
    parsed = parse_retorno(data, name)
    assert (parsed.path, parsed.bank_code, parsed.rejects) == (name, bank, ())
    assert len(parsed.titles) == titles
    assert sum(title.liquidated for title in parsed.titles) == liquidated
    assert all(title.file == name and title.bank_code == bank for title in parsed.titles)
    assert all(title.credited_on is not None for title in parsed.titles if title.liquidated)


def test_bb_first_title_reads_as_the_bank_wrote_it() -> None:
    # Lines 3 (T) and 4 (U) of the file, read by eye.
    first = parse_retorno(_corpus(BB_1), BB_1).titles[0]
    assert first == RetornoTitle(
        file=BB_1, source_line=3, bank_code="001", agencia="2906", conta="7777", movement="06",
        nosso_numero="28144850870013512", seu_numero="0870013512", due_on=date(2018, 12, 15),
        face_cents=6000, payer_document="", payer_name="", fee_cents=290, interest_cents=300,
        discount_cents=0, rebate_cents=0, iof_cents=0, paid_cents=6300, net_cents=6010,
        other_expenses_cents=0, other_credits_cents=0, occurred_on=date(2018, 12, 27),
        credited_on=date(2018, 12, 28))
    assert first.liquidated


@pytest.mark.parametrize("name", [BB_1, BB_2])
def test_bb_credits_the_amount_paid_less_the_tariff(name: str) -> None:
    liquidated = [t for t in parse_retorno(_corpus(name), name).titles if t.liquidated]
    assert liquidated
    for title in liquidated:
        assert title.paid_cents - title.fee_cents == title.net_cents, title.source_line
        assert title.face_cents + title.interest_cents - title.discount_cents == title.paid_cents


def test_bb_entries_are_not_liquidations_and_have_no_credit_date() -> None:
    titles = parse_retorno(_corpus(BB_2), BB_2).titles
    entries = [title for title in titles if title.movement == "02"]
    assert len(entries) == 12
    assert all(not t.liquidated and t.credited_on is None and t.paid_cents == t.net_cents == 0
               for t in entries)
    assert (entries[0].source_line, entries[0].nosso_numero, entries[0].seu_numero,
            entries[0].due_on, entries[0].face_cents, entries[0].occurred_on) == (
        3, "30618560910043339", "0910043339", date(2018, 12, 28), 9000, date(2018, 12, 27))


def test_santander_reads_with_its_own_t_positions() -> None:
    # Santander's T: agência 18-21, conta 23-31, nosso número 41-53, vencimento 70-77,
    # valor 78-92, tarifa 194-208; the U says paid 43,50, credited 05/08/2011.
    [title] = parse_retorno(_corpus(SANTANDER), SANTANDER).titles
    assert (title.movement, title.liquidated, title.nosso_numero, title.seu_numero) == (
        "17", True, "60", "")
    assert (title.agencia, title.conta) == ("2260", "13000401")
    assert (title.due_on, title.face_cents, title.fee_cents) == (date(2011, 8, 4), 4350, 264)
    assert (title.paid_cents, title.net_cents) == (4350, 4350)  # the tariff is not netted
    assert (title.occurred_on, title.credited_on) == (date(2011, 8, 4), date(2011, 8, 5))


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_cnab240_still_refuses_a_retorno_and_points_to_the_inbox(name: str) -> None:
    with pytest.raises(InputError, match="cobrança retorno") as caught:
        parse_cnab240(_corpus(name), name)
    assert "inbox" in caught.value.hint


@pytest.mark.parametrize("name", ["marcodpt_extrato_E_bb.txt", "marcodpt_extrato_E_itau.txt"])
def test_an_extrato_is_not_a_retorno(name: str) -> None:
    data = _corpus(name)
    assert not looks_like_retorno(data)
    with pytest.raises(InputError, match="not a cobrança retorno") as caught:
        parse_retorno(data, name)
    assert caught.value.file == name and caught.value.hint


# --- files built field by field ---
WITH_INTEREST = {"movement": "06", "nosso_numero": "00000000000000012345", "seu_numero": "NF-881/1",
                 "due_on": date(2024, 1, 20), "face_cents": 100000,
                 "payer_document": "01234567890", "payer_name": "MARIA DA SILVA",
                 "fee_cents": 350, "interest_cents": 2150, "iof_cents": 12,
                 "other_expenses_cents": 40, "other_credits_cents": 7, "paid_cents": 102150,
                 "net_cents": 101800, "occurred_on": date(2024, 1, 30),
                 "credited_on": date(2024, 1, 31)}
WITH_DISCOUNT = {"movement": "17", "nosso_numero": "987", "seu_numero": "PED 42",
                 "due_on": date(2024, 2, 5), "face_cents": 50000,
                 "payer_document": "12345678000199", "payer_name": "ACME  COMERCIO LTDA ",
                 "fee_cents": 250, "discount_cents": 2500, "rebate_cents": 1000,
                 "paid_cents": 46500, "net_cents": 46250, "occurred_on": date(2024, 1, 30),
                 "credited_on": date(2024, 2, 1)}


def _expected(line: int, title: dict, **fields: object) -> RetornoTitle:
    amounts = {name: title.get(name, 0) for name in RetornoTitle.__slots__
               if name.endswith("_cents")}
    built = RetornoTitle(
        file="ret.txt", source_line=line, bank_code="001", agencia="1234", conta="56789",
        movement=title["movement"], nosso_numero=title["nosso_numero"].lstrip("0"),
        seu_numero=title["seu_numero"], due_on=title["due_on"],
        payer_document=title["payer_document"], payer_name=title["payer_name"].strip(),
        occurred_on=title["occurred_on"], credited_on=title["credited_on"], **amounts)
    return replace(built, **fields)


def test_built_retorno_every_field() -> None:
    parsed = parse_retorno(retorno_bytes([WITH_INTEREST, WITH_DISCOUNT]), "ret.txt")
    assert parsed.rejects == ()
    assert parsed.titles == (_expected(3, WITH_INTEREST),
                             _expected(5, WITH_DISCOUNT, payer_name="ACME COMERCIO LTDA"))
    assert all(title.liquidated for title in parsed.titles)


def test_santander_built_with_its_positions() -> None:
    data = retorno_bytes([WITH_INTEREST], bank="033", agencia="0042", conta="13000401")
    [title] = parse_retorno(data, "ret.txt").titles
    assert title == replace(_expected(3, WITH_INTEREST), bank_code="033", agencia="42",
                            conta="13000401", nosso_numero="12345")


def test_blank_payer_and_zero_dates() -> None:
    entry = {"movement": "02", "nosso_numero": "5", "face_cents": 1000, "payer_name": "0" * 40,
             "payer_document": "000000000000000", "payer_type": "2", "credited_on": None}
    [title] = parse_retorno(retorno_bytes([entry]), "ret.txt").titles
    assert (title.payer_name, title.payer_document, title.due_on, title.credited_on) == (
        "", "", None, None)
    assert not title.liquidated


def test_t_without_u_is_rejected_and_the_next_title_kept() -> None:
    data = retorno_bytes([{**WITH_INTEREST, "without_u": True}, WITH_DISCOUNT])
    parsed = parse_retorno(data, "ret.txt")
    assert [t.nosso_numero for t in parsed.titles] == ["987"]
    [reject] = parsed.rejects
    assert (reject.file, reject.line, reject.field, reject.kind) == (
        "ret.txt", 3, "segmento U", "rejected")
    assert "12345" in reject.reason and "no U segment" in reject.reason and reject.hint


def test_bad_date_is_rejected_with_its_line_and_value() -> None:
    data = retorno_bytes([{**WITH_INTEREST, "credited_on": "31022024"}, WITH_DISCOUNT])
    parsed = parse_retorno(data, "ret.txt")
    assert [t.nosso_numero for t in parsed.titles] == ["987"]
    [reject] = parsed.rejects
    assert (reject.line, reject.field, reject.value) == (4, "data do crédito", "31022024")
    assert "line 3" in reject.reason and "12345" in reject.reason


def test_bad_t_amount_costs_its_title_only() -> None:
    data = retorno_bytes([WITH_INTEREST, {**WITH_DISCOUNT, "face_cents": "0000000005OO00"}])
    parsed = parse_retorno(data, "ret.txt")
    assert [t.nosso_numero for t in parsed.titles] == ["12345"]
    [reject] = parsed.rejects  # its U is not reported again
    assert (reject.line, reject.field, reject.value) == (5, "valor nominal", "0000000005OO00 ")


def test_u_without_t_and_mismatched_movement() -> None:
    lines = retorno_bytes([WITH_INTEREST, {**WITH_DISCOUNT, "u_movement": "02"}]).split(b"\r\n")
    del lines[2]  # the first T
    parsed = parse_retorno(b"\r\n".join(lines), "ret.txt")
    assert parsed.titles == ()
    assert [(r.line, r.field, r.value) for r in parsed.rejects] == [
        (3, "segmento U", "0010001300002U"), (5, "código de movimento", "02")]


def test_not_cnab_at_all() -> None:
    with pytest.raises(InputError, match="not a CNAB 240 file"):
        parse_retorno(b"OFXHEADER:100\r\n<OFX></OFX>\r\n", "x.ofx")
    with pytest.raises(InputError, match="empty"):
        parse_retorno(b"\r\n", "x.ret")
    assert not looks_like_retorno(b"")


# --- the inbox ---
def test_inbox_reads_statements_and_retornos_apart(tmp_path: Path, caplog) -> None:
    ofx = SHARED / "ofx" / "operand_inter.ofx"
    if not ofx.is_file():
        pytest.skip("corpus not present")
    shutil.copy(ofx, tmp_path / "extrato.ofx")
    (tmp_path / "cobranca.ret").write_bytes(_corpus(BB_1))
    (tmp_path / "built.txt").write_bytes(
        retorno_bytes([WITH_INTEREST, {**WITH_DISCOUNT, "without_u": True}]))
    with caplog.at_level(logging.INFO, logger="recon.sources.inbox"):
        result = read_inbox(tmp_path)
    assert [f.path for f in result.files] == ["extrato.ofx"] and result.files[0].lines
    assert [r.path for r in result.retornos] == ["built.txt", "cobranca.ret"]
    assert result.rejects == ()
    assert [len(r.titles) for r in result.retornos] == [1, 22]
    assert "built.txt: cobrança retorno, 1 titles, 1 liquidated, 1 lines rejected" in caplog.text


def test_inbox_rejects_a_broken_retorno_as_a_file(tmp_path: Path) -> None:
    lines = retorno_bytes([WITH_INTEREST]).split(b"\r\n")
    (tmp_path / "joined.ret").write_bytes(b"\r\n".join([*lines[:3], lines[0], *lines[3:]]))
    result = read_inbox(tmp_path)
    assert (result.files, result.retornos) == ((), ())
    [reject] = result.rejects
    assert (reject.file, reject.kind, reject.line) == ("joined.ret", "file", 4)
    assert "second file header" in reject.reason
