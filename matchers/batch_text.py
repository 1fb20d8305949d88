"""What a bank memo or a parcela's text says about how money is paid (boleto batch or card
payout; acquirer, product, brand): pure text classification, kept apart from the batch
search in matchers/batches.py, which uses it to pick its lines and trim its candidate pools.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np
import pandas as pd

BOLETO, CARD = "boleto_batch", "card_payout"
CREDITO, DEBITO = "credito", "debito"
PRODUCTS = (CREDITO, DEBITO)
ACQUIRERS = ("Cielo", "Rede", "Stone", "Getnet", "PagSeguro", "Mercado Pago")
BRANDS = ("VISA", "MASTER", "ELO", "AMEX", "HIPER", "DINERS")


# --- Bank memos ------------------------------------------------------------------------------

_ANY_BATCH = re.compile(r"COBRANCA|COB COMPE|BOLETO|TITULO|CIELO|REDE|STONE|GETNET|PAG|MERCADO")
ANY_BATCH_UPPER = "COBRAN|COB COMPE|BOLETO|T[IÍ]TULO|CIELO|REDE|STONE|GETNET|PAG|MERCADO"
_TRANSFER = re.compile(r"\bPIX\b|\bTED\b|\bDOC\b|\bTRANSF")  # a PIX *from* Stone is no payout
# Anticipations carry a rate per day anticipated on top of the MDR; debits from acquirers
# (rent, chargebacks) are no sales. Neither fits the fee model, so neither is guessed.
_NOT_A_PAYOUT = re.compile(
    r"ANTECIP|P/ ?ORDEM|DEBITO AUTOMATICO|ALUGUEL|TARIFA|ESTORNO|CHARGEBACK|CANCELAMENTO")
# BB's bare "COBRANCA" is one boleto credited gross: a 1:1 line, so it is left out on purpose.
_BOLETO_BATCH = re.compile(
    r"\b(?:CRED(?:ITO)?|LIQ(?:UIDO|UIDACAO)?|CR)\.? (?:DE )?COBRANCA\b"
    r"|\bCOB COMPE\b"
    r"|\b(?:DEPOSITO|CREDITO|RECEBIMENTO)S? (?:RECEBIDOS? )?(?:POR|DE) BOLETOS?\b"
    r"|\bBOLETOS? RECEBIDOS?\b"
    r"|\bLIQUIDACAO (?:DE )?(?:BOLETOS|TITULOS)\b")
_BRAND_WORDS = r"VISA|MAST(?:ER(?:CARD)?)?|ELO|HIPER(?:CARD)?|AMEX|DINERS|MAESTRO|CABAL|JCB"
_LINE_ACQUIRERS = tuple((name, re.compile(pattern)) for name, pattern in (
    ("Cielo", r"\bCIELO\b"),
    # Never bare REDE: Caixa prints "REDE COMPARTILHADA" and "REDE SHOP" (§6.3).
    ("Rede", rf"\bREDECARD\b|^(?:RECEBIMENTO )?REDE (?:{_BRAND_WORDS})\b"),
    ("Stone", r"\bSTONE\b"),
    ("Getnet", r"\bGETNET\b"),
    ("PagSeguro", r"\bPAG ?SEGURO\b|\bPAGBANK VENDAS?\b"),
    ("Mercado Pago", r"\bMERCADO ?PAGO\b")))
_DEBIT_WORDS = re.compile(r"\bDEB(?:ITO)?\b|\bDEBIT\b|\bDB ?\d|\bMAESTRO\b|\bELECTR(?:ON)?\b")
_CREDIT_WORDS = re.compile(r"\bCRED(?:ITO)?\b|\bCREDIT\b|\bCD ?\d")
_BRAND_PATTERNS = tuple(re.compile(p) for p in (
    r"\bVISA\b|\bELECTR(?:ON)?\b", r"\bMAST(?:ER\w*)?\b|\bMAESTRO\b", r"\bELO\b",
    r"\bAMEX\b|\bAMERICAN EXPRESS\b", r"\bHIPER(?:CARD)?\b", r"\bDINERS\b"))


def batch_kind(memo: str) -> tuple[str, str | None, str | None] | None:
    """What a credit's memo says it batches.

    Returns ('boleto_batch', None, None), ('card_payout', acquirer, 'credito'|'debito'|None)
    (None when the memo does not name the product, as Mercado Pago's does not), or None.
    """
    facts = memo_facts(memo) if isinstance(memo, str) else None
    return None if facts is None else facts[:3]


def _fold(text: str) -> str:
    """Upper case, accents dropped, spaces collapsed; ASCII only, which the patterns are."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(ascii_text.upper().split())


def says_cobranca(memos: pd.Series) -> np.ndarray:
    """Whether each memo names a boleto cobrança credit: 'CRED COBRANCA SIMPLES', 'COB
    COMPE', 'Depósito Recebido por Boleto', and BB's bare 'COBRANÇA' too (one boleto
    credited gross, which batch_kind leaves out as no batch). A credit the statement calls
    something else that equals a cobrança retorno to the centavo is a coincidence worth a
    person's look, not a baixa."""
    named = {memo: _COBRANCA_CREDIT.search(_fold(memo)) is not None
             for memo in pd.unique(memos.to_numpy(object))}
    return np.array([named[memo] for memo in memos], bool)


_COBRANCA_CREDIT = re.compile(r"\bCOBRANCA\b|\bCOB COMPE\b|\bBOLETOS?\b|\bTITULOS?\b")


@lru_cache(maxsize=1 << 14)  # statements repeat the same few batch memos all year
def memo_facts(memo: str) -> tuple[str, str | None, str | None, int] | None:
    text = _fold(memo)
    if not _ANY_BATCH.search(text) or _TRANSFER.search(text):
        return None
    if _BOLETO_BATCH.search(text):
        return BOLETO, None, None, -1
    acquirer = next((name for name, pattern in _LINE_ACQUIRERS if pattern.search(text)), None)
    if acquirer is None or _NOT_A_PAYOUT.search(text):
        return None
    return CARD, acquirer, _memo_product(text, acquirer), _brand(text)


def _memo_product(text: str, acquirer: str) -> str | None:
    debit, credit = bool(_DEBIT_WORDS.search(text)), bool(_CREDIT_WORDS.search(text))
    if debit != credit:
        return DEBITO if debit else CREDITO
    # Getnet names only the debit products ("GETNET-VISA" is credit, "GETNET-MAESTRO" debit).
    return CREDITO if acquirer == "Getnet" and not debit else None


def _brand(text: str) -> int:
    found = [i for i, pattern in enumerate(_BRAND_PATTERNS) if pattern.search(text)]
    return found[0] if len(found) == 1 else -1


# --- What a parcela's text says about how it is paid ----------------------------------------
# Run over whole columns as plain regular expressions, which pandas hands to Arrow when
# pyarrow is installed; `\b` would send them back to Python, so word edges are spelled out.
# The text is upper-cased, accents kept.

def _word(pattern: str) -> str:
    edge = "[^0-9A-ZÀ-Ý]"
    return f"(?:^|{edge})(?:{pattern})(?:{edge}|$)"


_P_ANY = ("BOLETO|CART|CARD|MAQUININHA|CIELO|REDE|STONE|GETNET|PAG|MERCADO|VISA|ELECTR|MAST"
          "|MAESTRO|ELO|AMEX|AMERICAN|HIPER|DINERS|CR[EÉ]DITO|D[EÉ]BITO")
_P_BOLETO = _word("BOLETOS?")  # not COBRANÇA: "cobrança" is any billing, not the channel
_P_CARD = _word("CART(?:AO|ÃO|OES|ÕES)|CARD|MAQUININHA")
_P_ACQUIRER_ANY = "CIELO|REDE|STONE|GETNET|PAG ?SEGURO|PAGBANK|MERCADO ?PAGO"
_P_ACQUIRERS = tuple(_word(p) for p in (
    "CIELO", "REDE(?:CARD)?", "STONE", "GETNET", "PAG ?SEGURO|PAGBANK", "MERCADO ?PAGO"))
_P_PRODUCTS = (_word("CR[EÉ]DITO"), _word("D[EÉ]BITO"))
_P_BRANDS = tuple(_word(p) for p in (
    "VISA|ELECTRON?|ELECTR", "MAST(?:ER[A-Z]*)?|MAESTRO", "ELO", "AMEX|AMERICAN EXPRESS",
    "HIPER(?:CARD)?", "DINERS"))
_REDE = ACQUIRERS.index("Rede")
HINT_COLUMNS = ("boleto", "card", "acquirer", "product", "brand")  # -1: not named


def parcela_hints(parcelas: pd.DataFrame) -> np.ndarray:
    """One row per parcela: (boleto, card, acquirer, product, brand) named in its text.

    The contact may name an acquirer too (sales registered to "Cielo S.A."), but a brand
    or a product in a person's name says nothing. Each distinct description and contact
    is read once: a ledger repeats them ("Assinatura Plus", a contact's every parcela).
    """
    codes, texts = pd.factorize(parcelas["descricao"])
    hints = np.tile(np.array([0, 0, -1, -1, -1], np.int16), (len(texts) + 1, 1))  # last: none
    text = upper(pd.Series(texts))
    rows = np.flatnonzero(has(text, _P_ANY))
    hints[rows] = _description_hints(text.iloc[rows])
    hints = hints[codes]
    codes, contacts = pd.factorize(parcelas["contact_name"])
    contact = upper(pd.Series(contacts))
    named = np.full(len(contacts) + 1, -1, np.int16)  # last: no contact
    rows = np.flatnonzero(has(contact, _P_ACQUIRER_ANY))
    named[rows] = _named_acquirer(contact.iloc[rows], with_rede=False)
    named = named[codes]
    hints[:, 2] = np.where(hints[:, 2] >= 0, hints[:, 2], named)
    hints[:, 1] |= named >= 0
    return hints


def upper(texts: pd.Series) -> pd.Series:
    return texts.astype("str").str.upper().reset_index(drop=True)


def has(texts: pd.Series, pattern: str) -> np.ndarray:
    return texts.str.contains(pattern, regex=True, na=False).to_numpy(bool)


def _description_hints(text: pd.Series) -> np.ndarray:
    out = np.tile(np.array([0, 0, -1, -1, -1], np.int16), (len(text), 1))
    out[:, 0] = has(text, _P_BOLETO)
    acquirer = _named_acquirer(text, with_rede=True)
    card = has(text, _P_CARD) | ((acquirer >= 0) & (acquirer != _REDE))
    # "rede" alone is a network, a chain, a hammock: the acquirer only beside a card word
    acquirer[(acquirer == _REDE) & ~card] = -1
    card |= acquirer >= 0
    out[:, 1], out[:, 2] = card, acquirer
    rows = np.flatnonzero(card)
    out[rows, 3] = _only_one(text.iloc[rows], _P_PRODUCTS)
    out[rows, 4] = _only_one(text.iloc[rows], _P_BRANDS)
    return out


def _named_acquirer(text: pd.Series, with_rede: bool) -> np.ndarray:
    patterns = [p if with_rede or i != _REDE else "$^" for i, p in enumerate(_P_ACQUIRERS)]
    return _only_one(text, patterns)


def _only_one(text: pd.Series, patterns) -> np.ndarray:
    """Index of the one pattern the text matches; -1 for none or several."""
    if len(text) == 0:
        return np.zeros(0, np.int16)
    found = np.stack([has(text, p) for p in patterns], 1)
    return np.where(found.sum(1) == 1, found.argmax(1), -1).astype(np.int16)
