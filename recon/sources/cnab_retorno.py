"""CNAB 240 cobrança retorno (boleto settlements, segments T/U): bytes in, a RetornoFile out.

The bank's retorno lists what happened to each boleto title: entered, liquidated, written
off. A title is a segment T (which title: nosso número, seu número, due date, face value,
payer, tariff) and the segment U right after it (what was paid: interest, discount,
amount paid, net credited, credit date). The liquidations let the matcher split the
bank's daily "líquido de cobrança" credit into the titles it pays.

Positions are 1-based and inclusive (FEBRABAN 240 v08-v10). Segment U is the same in
every bank; segment T is not: Santander (033) packs agência, conta and nosso número
differently, so T positions are a declaration per layout. Whether the tariff is netted
from the credit differs by bank (BB: paid - tariff = net; Santander credits the amount
paid), so the figures are read as the bank wrote them and never cross-checked.

A line that cannot be read costs its title, never the file: it becomes a Reject naming
the line, field and value. Only a file that is not a retorno at all raises InputError.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from recon.errors import InputError
from recon.records import Reject, RetornoFile, RetornoTitle
from recon.sources.cnab_text import (
    DIGITS,
    RECORD,
    cut,
    ddmmyyyy,
    decode,
    is_cobranca_retorno,
    is_header_arquivo,
    split_records,
)

HINT_FILE = ("Download the cobrança retorno (CNAB 240, segments T and U) again from the bank's "
             "cobrança site.")
_HINT_TITLE = ("Look the title up by its nosso número on the bank's cobrança site; download the "
               "retorno again, or settle the title by hand.")

_Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class _TLayout:
    """Where segment T keeps each field (first and last position)."""

    agencia: _Span  # without its DV
    conta: _Span  # without its DV
    nosso_numero: _Span
    seu_numero: _Span
    due_on: _Span
    face: _Span
    payer_type: int  # tipo de inscrição: 1 CPF, 2 CNPJ, 0 none
    payer_document: _Span
    payer_name: _Span
    fee: _Span


_FEBRABAN_T = _TLayout(agencia=(18, 22), conta=(24, 35), nosso_numero=(38, 57),
                       seu_numero=(59, 73), due_on=(74, 81), face=(82, 96), payer_type=133,
                       payer_document=(134, 148), payer_name=(149, 188), fee=(199, 213))
# Santander's own T (checked against a Santander retorno: due 04/08/2011, face 43,50 =
# the U's amount paid): a 4-digit agência, a 9-digit conta, blanks 33-40, a 13-digit nosso
# número, and everything after it 4 to 5 positions earlier than FEBRABAN's.
_SANTANDER_T = _TLayout(agencia=(18, 21), conta=(23, 31), nosso_numero=(41, 53),
                        seu_numero=(55, 69), due_on=(70, 77), face=(78, 92), payer_type=128,
                        payer_document=(129, 143), payer_name=(144, 183), fee=(194, 208))
_T_LAYOUTS = {"033": _SANTANDER_T}

_U_MONEY = (("interest_cents", "juros/multa/encargos", (18, 32)),
            ("discount_cents", "desconto", (33, 47)), ("rebate_cents", "abatimento", (48, 62)),
            ("iof_cents", "IOF", (63, 77)), ("paid_cents", "valor pago", (78, 92)),
            ("net_cents", "valor líquido", (93, 107)),
            ("other_expenses_cents", "outras despesas", (108, 122)),
            ("other_credits_cents", "outros créditos", (123, 137)))
_DOCUMENT_DIGITS = {"1": 11, "2": 14}  # tipo de inscrição -> CPF, CNPJ


class _FieldError(Exception):
    def __init__(self, field: str, value: str, reason: str):
        super().__init__(reason)
        self.field, self.value, self.reason = field, value, reason


# --- values ---
def _money(line: str, field: str, span: _Span) -> int:
    text = cut(line, *span)
    if not DIGITS.fullmatch(text):
        raise _FieldError(field, text, f"the amount is not {span[1] - span[0] + 1} digits "
                                       "(2 implied decimals)")
    return int(text)


def _date(line: str, field: str, span: _Span) -> date | None:
    """ddmmaaaa; blank or zeros is None (no due date, not yet credited)."""
    text = cut(line, *span)
    if not text.strip(" 0"):
        return None
    on = ddmmyyyy(text)
    if on is None:
        raise _FieldError(field, text, "not a valid ddmmaaaa date")
    return on


def _number(line: str, span: _Span) -> str:
    return cut(line, *span).strip().lstrip("0")


def _document(kind: str, text: str) -> str:
    """The CPF or CNPJ at its own length (a CPF may start with 0); '' when none is given."""
    width = _DOCUMENT_DIGITS.get(kind)
    digits = text.strip()
    if width is None or not DIGITS.fullmatch(digits) or not int(digits):
        return ""  # the payer only helps matching; a bad one must not cost the title
    return digits.lstrip("0").zfill(width)


def _movement(line: str) -> str:
    code = cut(line, 16, 17)
    if not DIGITS.fullmatch(code):
        raise _FieldError("código de movimento", code, "the movement code is not 2 digits")
    return code


# --- segments ---
def _read_t(line: str, layout: _TLayout) -> dict[str, Any]:
    name = " ".join(cut(line, *layout.payer_name).split())
    return {
        "bank_code": cut(line, 1, 3), "movement": _movement(line),
        "agencia": _number(line, layout.agencia), "conta": _number(line, layout.conta),
        "nosso_numero": _number(line, layout.nosso_numero),
        "seu_numero": cut(line, *layout.seu_numero).strip(),
        "due_on": _date(line, "vencimento", layout.due_on),
        "face_cents": _money(line, "valor nominal", layout.face),
        "payer_document": _document(cut(line, layout.payer_type, layout.payer_type),
                                    cut(line, *layout.payer_document)),
        "payer_name": name if name.strip("0") else "",
        "fee_cents": _money(line, "valor da tarifa", layout.fee),
    }


def _read_u(line: str, movement: str) -> dict[str, Any]:
    code = cut(line, 16, 17)
    if code.strip() and code != movement:
        raise _FieldError("código de movimento", code,
                          f"the U segment's movement differs from its T segment's ({movement})")
    values = {name: _money(line, field, span) for name, field, span in _U_MONEY}
    return {**values, "occurred_on": _date(line, "data da ocorrência", (138, 145)),
            "credited_on": _date(line, "data do crédito", (146, 153))}


def _follows(t_line: str, u_line: str) -> bool:
    """The U is the T's own: same bank and lote, the next sequence number."""
    t_seq, u_seq = cut(t_line, 9, 13), cut(u_line, 9, 13)
    return (cut(t_line, 1, 7) == cut(u_line, 1, 7) and bool(DIGITS.fullmatch(t_seq))
            and bool(DIGITS.fullmatch(u_seq)) and int(u_seq) == int(t_seq) + 1)


@dataclass(slots=True)
class _PendingT:
    no: int
    line: str
    values: dict[str, Any] | None  # None: the T could not be read (already rejected)


class _Walk:
    """Pairs each T with the U after it, in file order, collecting titles and rejects."""

    def __init__(self, filename: str, layout: _TLayout):
        self.filename, self.layout = filename, layout
        self.titles: list[RetornoTitle] = []
        self.rejects: list[Reject] = []
        self.pending: _PendingT | None = None  # the T whose U is still to come

    def read(self, records: list[tuple[int, str]]) -> None:
        for no, line in records:
            self._record(no, line)
        self._no_u()

    def _record(self, no: int, line: str) -> None:
        kind, segment = line[7:8], line[13:14]
        if kind == "0":
            raise InputError("a second file header (record type 0): two files joined into one",
                             file=self.filename, line=no, hint="Read each bank file on its own.")
        if kind in ("1", "5", "9"):
            self._no_u()  # a lote ends: a T still waiting never gets its U
        elif kind == "3" and len(line) != RECORD and segment in ("T", "U", ""):
            self._reject(no, "tamanho do registro", str(len(line)),
                         f"line {no} has {len(line)} characters; CNAB 240 records have 240")
        elif kind == "3" and segment == "T":
            self._t(no, line)
        elif kind == "3" and segment == "U":
            self._u(no, line)
        # anything else (segment Y: sacador, PIX) carries nothing the matcher uses

    def _t(self, no: int, line: str) -> None:
        self._no_u()
        try:
            values = _read_t(line, self.layout)
        except _FieldError as error:
            self._reject(no, error.field, error.value, f"{error.reason}; this title is not read")
            values = None
        self.pending = _PendingT(no, line, values)

    def _u(self, no: int, line: str) -> None:
        pending = self.pending
        if pending is None or not _follows(pending.line, line):
            self._no_u()
            self._reject(no, "segmento U", cut(line, 1, 14),
                         "a U segment without its T segment (same lote, sequence number one "
                         "before)")
            return
        self.pending = None
        if pending.values is None:
            return  # the T's reject already stands for the title
        try:
            values = _read_u(line, pending.values["movement"])
        except _FieldError as error:
            self._reject(no, error.field, error.value,
                         f"{error.reason}; the title of line {pending.no} (nosso número "
                         f"{pending.values['nosso_numero'] or '?'}) is not read")
            return
        self.titles.append(RetornoTitle(file=self.filename, source_line=pending.no,
                                        **pending.values, **values))

    def _no_u(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None and pending.values is not None:
            self._reject(pending.no, "segmento U", cut(pending.line, 1, 14),
                         f"the T segment of nosso número {pending.values['nosso_numero'] or '?'} "
                         "has no U segment after it (amount paid, credit date), so the title "
                         "is not read")

    def _reject(self, no: int, field: str, value: str, reason: str) -> None:
        self.rejects.append(Reject(file=self.filename, line=no, field=field, value=value,
                                   reason=reason, hint=_HINT_TITLE, kind="rejected"))


# --- the file ---
def looks_like_retorno(data: bytes) -> bool:
    """A CNAB 240 file whose lotes are cobrança retorno (segments T/U)."""
    records = split_records(decode(data))
    return bool(records) and is_header_arquivo(records[0][1]) and is_cobranca_retorno(records)


def parse_retorno(data: bytes, filename: str) -> RetornoFile:
    """Read one cobrança retorno's bytes.

    Raises:
      InputError: the file is empty, not CNAB 240, or not a cobrança retorno.
    """
    records = split_records(decode(data))
    if not records:
        raise InputError("the file is empty", file=filename, hint=HINT_FILE)
    first_no, first = records[0]
    if not is_header_arquivo(first):
        raise InputError(f"not a CNAB 240 file: line {first_no} is not a file header (240 "
                         "characters, record type 0)", file=filename, line=first_no,
                         hint=HINT_FILE)
    if not is_cobranca_retorno(records):
        raise InputError("this CNAB 240 file is not a cobrança retorno: it has no segment T or "
                         "U and no lote of operation T", file=filename, hint=HINT_FILE)
    bank = cut(first, 1, 3)
    walk = _Walk(filename, _T_LAYOUTS.get(bank, _FEBRABAN_T))
    walk.read(records[1:])
    return RetornoFile(path=filename, bank_code=bank, titles=tuple(walk.titles),
                       rejects=tuple(walk.rejects))
