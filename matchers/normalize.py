"""Bank memos and parcela names reduced to the words that identify a counterpart.

Banks wrap the payer's name in boilerplate ("PIX RECEBIDO -", "TED 237.1234",
"Transferência recebida pelo Pix -") and glue dates and document numbers to
it; comparing names with that noise left in makes every PIX look alike.
"""

from __future__ import annotations

import re
from functools import lru_cache

from recon.sources.keys import fold_text

# Longest first: the first match wins and is removed from the front of the memo.
_BOILERPLATE = [
    r"TRANSFERENCIA (RECEBIDA|ENVIADA) PELO PIX",
    r"TRANSFERENCIA (RECEBIDA|ENVIADA)",
    r"PIX (RECEBIDO|ENVIADO|TRANSF|QRS)( DE| PARA)?",
    r"PIX - (RECEBIDO|ENVIADO)",
    r"TRANSFE(RENCIA)? PIX REM:?",
    r"TED[- ]?(CREDITO EM CONTA|RECEBIDA|TRANSF ELET DISPON REMET\.?)?( \d{3}[.\d]*)?",
    r"DOC[- ]?(CREDITO EM CONTA)?( D)?",
    r"PAGAMENTO DE (BOLETO|TITULO)( EFETUADO)?",
    r"PAGTO ELETRON(ICO)? COBRANCA",
    r"DEB(ITO)? AUTOR(IZADO)?",
    r"RECEBIMENTO( PIX)?",
    r"DEPOSITO",
    r"CREDITO",
]
_PREFIX = re.compile(r"^(?:" + "|".join(_BOILERPLATE) + r")\b[\s:\-]*")
_NOISE = re.compile(
    r"\d{2}/\d{2}(/\d{2,4})?( \d{2}:\d{2})?"  # glued dates and times
    r"|\d{3}\.\d{3}\.\d{3}-\d{2}|\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}"  # formatted CPF/CNPJ
    r"|\d+"  # any other number: agency, account, document
)
_PUNCT = re.compile(r"[^\w ]+")
_SPACES = re.compile(r"\s+")
_COMPANY_SUFFIX = re.compile(r"\b(LTDA|ME|EPP|EIRELI|S\.?A|S/A|CIA)\b\.?")


@lru_cache(maxsize=1 << 16)  # a run scores each memo and name against many candidates
def clean_memo(memo: str) -> str:
    """'PIX RECEBIDO - JOAO DA SILVA 12/03' -> 'JOAO DA SILVA'."""
    text = fold_text(memo)
    text = _PREFIX.sub("", text)
    return _tidy(_NOISE.sub(" ", text))


@lru_cache(maxsize=1 << 16)
def clean_name(name: str | None) -> str:
    """Contact or description text in the same form as clean_memo's output."""
    if not name:
        return ""
    return _tidy(_COMPANY_SUFFIX.sub(" ", fold_text(name)))


def _tidy(text: str) -> str:
    return _SPACES.sub(" ", _PUNCT.sub(" ", text)).strip()
