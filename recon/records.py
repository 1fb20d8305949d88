"""The typed records that cross module boundaries.

Parsers and API mappers produce these; nothing from ofxparse or raw JSON
leaks past its own module. Money is integer centavos, dates are São Paulo
business dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

# States of a row of the write-ahead ledger (the `settlements` table):
#   intent -> sent -> confirmed -> annotated      the happy path, each committed in turn
#   sent -> unknown                               the POST's outcome is not known (504, kill)
#   sent|unknown -> confirmed | abandoned         decided by looking for our tag
#   intent -> skipped | failed                    the parcela changed, or Conta Azul refused
#   confirmed|annotated -> undoing -> undone      `recon undo`
LEDGER_PLANNED = ("intent",)  # planned, nothing sent yet: safe to send
LEDGER_SETTLED = ("confirmed", "annotated")  # a baixa of ours exists in Conta Azul
LEDGER_UNRESOLVED = ("sent", "unknown")  # a baixa of ours may exist: find out before anything
# A line or parcela with a row in one of these states is never matched again: either it is
# planned or settled, or whether it is cannot yet be told, or a person settled it meanwhile
# (skipped), or an undo is half done.
LEDGER_HOLDS = (*LEDGER_PLANNED, *LEDGER_SETTLED, *LEDGER_UNRESOLVED, "skipped", "undoing")

class Direction(StrEnum):
    CREDIT = "credit"  # money in: matches contas a receber
    DEBIT = "debit"  # money out: matches contas a pagar


class ParcelaKind(StrEnum):
    RECEBER = "receber"
    PAGAR = "pagar"

    @property
    def direction(self) -> Direction:
        return Direction.CREDIT if self is ParcelaKind.RECEBER else Direction.DEBIT


class ParcelaStatus(StrEnum):
    """One vocabulary for the three the API speaks (list `status`, `status_traduzido`, detail)."""

    OPEN = "open"
    OVERDUE = "overdue"
    PARTIAL = "partial"
    SETTLED = "settled"
    RENEGOTIATED = "renegotiated"
    LOST = "lost"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def is_open(self) -> bool:
        return self in (ParcelaStatus.OPEN, ParcelaStatus.OVERDUE, ParcelaStatus.PARTIAL)


@dataclass(frozen=True, slots=True)
class BankAccount:
    """A bank account as a statement names it, normalized (no leading zeros, no punctuation)."""

    bank_code: str | None
    branch: str | None
    number: str | None

    def label(self) -> str:
        parts = [self.bank_code or "?", self.branch or "?", self.number or "?"]
        return "/".join(parts)


@dataclass(frozen=True, slots=True)
class StatementLine:
    source_file: str
    source_line: int | None  # 1-based line of the transaction in its file, where known
    account: BankAccount
    posted_on: date  # business date in São Paulo, taken from the bank's own local date
    amount_cents: int  # signed: positive = credit, negative = debit
    memo: str
    fitid: str | None
    line_key: str  # stable across re-downloads of the same statement
    raw_date: str = ""

    @property
    def direction(self) -> Direction:
        return Direction.CREDIT if self.amount_cents > 0 else Direction.DEBIT


@dataclass(frozen=True, slots=True)
class Reject:
    """Something read and not used: a whole file, or one line of it, with the reason."""

    file: str
    reason: str
    line: int | None = None
    field: str | None = None
    value: str | None = None
    hint: str = ""
    # rejected: a line not used | dropped: a balance pseudo-line | warning: header data
    # missing, nothing lost | file: the whole file not used
    kind: str = "rejected"


@dataclass(frozen=True, slots=True)
class Balance:
    """A balance the bank states: at the end of business day `on` (closing), or before the
    first movement of `on` (opening). Used to prove a statement has no gap."""

    account: BankAccount
    on: date
    cents: int
    kind: str  # "opening" | "closing"


@dataclass(frozen=True, slots=True)
class StatementFile:
    """One parsed statement file: its lines, what was dropped, and what it is."""

    path: str
    format: str  # "ofx" | "csv" | "cnab240"
    accounts: tuple[BankAccount, ...]
    lines: tuple[StatementLine, ...]
    dropped: tuple[Reject, ...] = ()
    period: tuple[date, date] | None = None
    balances: tuple[Balance, ...] = ()
    bank: str | None = None  # bank name or code as detected ("Itaú", "341", ...)
    layout: str | None = None  # CSV layout or CNAB variant used


# Códigos de movimento retorno that mean the bank received the money for the title.
LIQUIDATION_MOVEMENTS = ("06", "17")  # liquidação; liquidação após baixa (or not registered)


@dataclass(frozen=True, slots=True)
class RetornoTitle:
    """One title of a cobrança retorno: a T segment and the U segment after it."""

    file: str
    source_line: int  # 1-based line of the T segment in its file
    bank_code: str  # '001', '033', ...
    agencia: str  # digits, no leading zeros, without DV ('' when blank/zeros)
    conta: str  # digits, no leading zeros, without DV ('' when blank/zeros)
    movement: str  # código de movimento retorno: '06' liquidação, '02' entrada confirmada, ...
    nosso_numero: str  # the bank's title number, stripped of blanks and leading zeros
    seu_numero: str  # número do documento de cobrança (the company's), stripped
    due_on: date | None  # None: zeros (à vista / contra-apresentação)
    face_cents: int  # valor nominal do título
    payer_document: str  # CPF (11 digits) or CNPJ (14) as tipo de inscrição says; '' if none
    payer_name: str  # '' when blank or all zeros
    fee_cents: int  # valor da tarifa / custas (T)
    interest_cents: int  # juros / multa / encargos (U)
    discount_cents: int  # desconto concedido (U)
    rebate_cents: int  # abatimento (U)
    iof_cents: int  # (U)
    paid_cents: int  # valor pago pelo pagador (U)
    net_cents: int  # valor líquido a ser creditado (U)
    other_expenses_cents: int  # outras despesas (U)
    other_credits_cents: int  # outros créditos (U)
    occurred_on: date | None  # data da ocorrência (U)
    credited_on: date | None  # data da efetivação do crédito (U); None when zeros

    @property
    def liquidated(self) -> bool:
        return self.movement in LIQUIDATION_MOVEMENTS


@dataclass(frozen=True, slots=True)
class RetornoFile:
    """One parsed cobrança retorno: the titles the bank reports on, and the lines not read."""

    path: str
    bank_code: str
    titles: tuple[RetornoTitle, ...]
    rejects: tuple[Reject, ...]  # lines that could not be read (file, line, field, value)


@dataclass(frozen=True, slots=True)
class ContaFinanceira:
    id: str
    nome: str
    banco: str | None
    codigo_banco: str | None
    agencia: str | None
    numero: str | None
    tipo: str | None
    ativo: bool = True


@dataclass(frozen=True, slots=True)
class Pessoa:
    """A contact, for the CPF/CNPJ that PIX and TED memos carry."""

    id: str
    nome: str
    documento: str | None  # digits only


@dataclass(frozen=True, slots=True)
class Parcela:
    id: str
    kind: ParcelaKind
    descricao: str
    due_on: date
    status: ParcelaStatus
    total_cents: int
    paid_cents: int
    open_cents: int
    contact_id: str | None
    contact_name: str | None
    changed_at: datetime | None = None
    categorias: tuple[str, ...] = ()  # category names, for the never-auto policy


@dataclass(frozen=True, slots=True)
class ParcelaDetail:
    """What GET parcela adds to the list item: the version and the baixas already made."""

    id: str
    versao: int
    status: ParcelaStatus
    open_cents: int
    nota: str
    baixas: tuple[Baixa, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Baixa:
    id: str
    data_pagamento: date | None
    valor_cents: int
    observacao: str
    nsu: str
