"""CNAB 240 extrato para conciliação bancária (segment E): bytes in, a StatementFile out.

Layout in shared/notes/statements.md §5; positions below are 1-based and inclusive as in
the FEBRABAN manual (`cut(line, 143, 150)` is "143-150"). One file holds one or more
lotes, one account each: header lote (type 1: account, opening balance), detalhes (type 3,
segment E: one movement each), trailer lote (type 5: closing balance, totals).

Account identity: bank = the lote's code (1-3), branch = agência 53-57 *without* its DV
(58), number = conta 59-70 *with* its DV (71): "000002726711" + "0" -> "27267110", the
digits Conta Azul's numero "2726711-0" normalizes to (recon.accounts also matches a
number without its DV). Itaú leaves 58 and 71 blank and puts the conta's DAC in 72, so
a blank 71 falls back to 72.

Bank variants, all read with the same positions: Itaú lays out the company block 18-52
differently (not read) and leaves data contábil blank (not read); Caixa sends tipo
complemento 00 (not read); Bradesco writes `O`, Itaú a digit, at byte 15 (only byte 14,
the segment, is read). Text is decoded one byte per character (cp1252, else latin-1;
UTF-8 only when that is what keeps every record at 240), so positions are byte positions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from recon.errors import InputError
from recon.money import format_brl
from recon.records import Balance, BankAccount, Reject, StatementFile, StatementLine
from recon.sources import keys
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

log = logging.getLogger(__name__)

FORMAT = "cnab240"
HINT_FILE = ("Download the extrato para conciliação (CNAB 240 segment E) again from the bank, "
             "or export an OFX for the same period.")
_HINT_LINE = ("Check this movement on the bank's site or app; if it is real, download the "
              "extrato again or enter it by hand.")
_HINT_BALANCE = ("The bank's balances and its lines disagree (a line missing from the file, or "
                 "a partial extrato); the lines are still read, but compare with the bank's site.")
RETORNO_REASON = ("this is a CNAB 240 cobrança retorno (boleto settlements, segments T/U), not a "
                  "bank statement (extrato, segment E)")
RETORNO_HINT = ("Put the retorno in the inbox, which reads it as boleto settlements; for the "
                "statement, export the extrato para conciliação (CNAB 240 segment E) or an OFX.")
_OPERATIONS = {"C": "pagamentos (lançamento a crédito)", "D": "débitos", "E": "extrato",
               "R": "cobrança remessa", "T": "cobrança retorno"}
_SERVICES = {"01": "cobrança", "03": "boleto de pagamento eletrônico", "04": "conciliação "
             "bancária", "20": "pagamento a fornecedores", "22": "pagamento de tributos",
             "30": "pagamento de salários", "98": "pagamentos diversos"}


def looks_like_cnab240(data: bytes) -> bool:
    """The first record is a 240-character CNAB header arquivo: bank code, lote 0000, type 0."""
    records = split_records(decode(data))
    return bool(records) and is_header_arquivo(records[0][1])


# --- values ---
def _signed_cents(digits: str, sign: str) -> int | None:
    """18 digits with 2 implied decimals, and D/C -> signed centavos; else None."""
    if not DIGITS.fullmatch(digits) or sign not in ("D", "C"):
        return None
    return -int(digits) if sign == "D" else int(digits)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _account(line: str) -> BankAccount:
    conta = cut(line, 59, 70).strip()
    check = cut(line, 71, 71).strip() or cut(line, 72, 72).strip()
    number = conta + check if conta.strip("0") else None
    return keys.bank_account(cut(line, 1, 3), cut(line, 53, 57), number)


# --- lotes ---
@dataclass(slots=True)
class _Lote:
    line: int
    account: BankAccount
    version: str
    opening: Balance | None
    moved: int = 0
    debits: int = 0
    credits: int = 0

    def count(self, cents: int) -> None:
        """Add a movement to the sums the trailer lote is checked against."""
        self.moved += cents
        if cents < 0:
            self.debits -= cents
        else:
            self.credits += cents


def _check_kind(records: list[tuple[int, str]], filename: str) -> None:
    """Refuse anything that is not an extrato before reading a line of it."""
    readable = [line for _, line in records if len(line) >= 16]  # even a cut-short record
    headers = [(cut(line, 9, 9), cut(line, 10, 11)) for line in readable if line[7] == "1"]
    if is_cobranca_retorno(records):
        raise InputError(RETORNO_REASON, file=filename, hint=RETORNO_HINT)
    if not headers:
        raise InputError("the CNAB 240 file has no lote header (record type 1), so no account "
                         "can be read", file=filename, hint=HINT_FILE)
    for operation, service in headers:
        if (operation, service) != ("E", "04"):
            what = (f"operation {operation!r} ({_OPERATIONS.get(operation, 'unknown')}), serviço "
                    f"{service!r} ({_SERVICES.get(service, 'unknown')})")
            raise InputError(f"this CNAB 240 file is not a bank statement: its lote is {what}; "
                             "an extrato is operation E, serviço 04, segment E", file=filename,
                             hint=HINT_FILE)


def _balance(line: str, no: int, account: BankAccount, kind: str, filename: str
             ) -> Balance | Reject:
    name = "saldo inicial" if kind == "opening" else "saldo final"
    on = ddmmyyyy(cut(line, 143, 150))
    cents = _signed_cents(cut(line, 151, 168), cut(line, 169, 169))
    if on is not None and cents is not None:
        return Balance(account=account, on=on, cents=cents, kind=kind)
    field, value = (("data " + name, cut(line, 143, 150)) if on is None
                    else (name, cut(line, 151, 169)))
    return Reject(file=filename, line=no, field=field, value=value, kind="warning",
                  reason=f"the {name} cannot be read, so this lote's balances are not checked",
                  hint="The lines are still read.")


def _memo(historico: str, documento: str, line: str) -> str:
    """Histórico; the documento too when it reads as words (not a bare document number)."""
    words = " " in documento and sum(ch.isalpha() for ch in documento) >= 3
    if historico and words:
        return f"{historico} - {documento}"
    return historico or (documento if words else "") or (
        f"categoria {cut(line, 170, 172)} histórico {cut(line, 173, 176).strip()}")


def _detail(line: str, no: int, lote: _Lote, filename: str) -> StatementLine | Reject:
    def rejected(field: str, value: str, reason: str) -> Reject:
        return Reject(file=filename, line=no, field=field, value=value, reason=reason,
                      hint=_HINT_LINE, kind="rejected")

    if line[13] != "E":
        return rejected("segmento", line[13], "only segment E lines are movements of an extrato")
    raw_date = cut(line, 143, 150)
    posted_on = ddmmyyyy(raw_date)
    if posted_on is None:
        return rejected("data lançamento", raw_date, "the posting date is not a valid ddmmaaaa date")
    digits, sign = cut(line, 151, 168), cut(line, 169, 169)
    if not DIGITS.fullmatch(digits):
        return rejected("valor", digits, "the amount is not 18 digits (2 implied decimals)")
    cents = _signed_cents(digits, sign)
    if cents is None:
        return rejected("tipo lançamento", sign, "the D/C flag is neither D (débito) nor C (crédito)")
    documento = _squash(cut(line, 202, 240))
    return StatementLine(source_file=filename, source_line=no, account=lote.account,
                         posted_on=posted_on, amount_cents=cents,
                         memo=_memo(_squash(cut(line, 177, 201)), documento, line),
                         fitid=documento if documento.strip("0") else None, line_key="",
                         raw_date=raw_date)


def _close(lote: _Lote, line: str, no: int, filename: str) -> list[Balance | Reject]:
    """The trailer lote: closing balance, and the checks it allows."""
    out: list[Balance | Reject] = []
    closing = _balance(line, no, lote.account, "closing", filename)
    out.append(closing)
    opening = lote.opening
    if isinstance(closing, Balance) and opening and opening.cents + lote.moved != closing.cents:
        out.append(Reject(
            file=filename, line=no, field="saldo final", value=format_brl(closing.cents),
            kind="warning", hint=_HINT_BALANCE,
            reason=(f"the balances do not add up: opening {format_brl(opening.cents)} + "
                    f"movements {format_brl(lote.moved)} != closing {format_brl(closing.cents)}")))
    totals = {"total débitos": (cut(line, 177, 194), lote.debits),
              "total créditos": (cut(line, 195, 212), lote.credits)}
    if all(DIGITS.fullmatch(text) for text, _ in totals.values()) and any(
            int(text) for text, _ in totals.values()):  # all zeros: the bank does not fill them
        out += [Reject(file=filename, line=no, field=field, value=format_brl(int(text)),
                       kind="warning", hint=_HINT_BALANCE,
                       reason=f"the trailer's {field} differ from the lines read "
                              f"({format_brl(read)})")
                for field, (text, read) in totals.items() if int(text) != read]
    return out


def _no_trailer(lote: _Lote, filename: str) -> Reject:
    return Reject(file=filename, line=lote.line, field="trailer lote", kind="warning",
                  reason="this lote has no trailer (record type 5): no closing balance",
                  hint="The file may be truncated; " + HINT_FILE)


# --- the file ---
def parse_cnab240(data: bytes, filename: str) -> StatementFile:
    """Read one CNAB 240 extrato's bytes. Raises InputError when nothing in it can be used."""
    records = split_records(decode(data))
    first = _file_header(records, filename)
    _check_kind(records, filename)
    walk = _Walk(filename)
    walk.read(records[1:])
    return _statement_file(walk, cut(first, 1, 3), filename)


def _file_header(records: list[tuple[int, str]], filename: str) -> str:
    """The header arquivo (record type 0) every CNAB 240 file opens with."""
    if not records:
        raise InputError("the file is empty", file=filename, hint=HINT_FILE)
    first_no, first = records[0]
    if len(first) != RECORD or first[7] != "0":
        raise InputError(f"not a CNAB 240 file: line {first_no} has {len(first)} characters and "
                         "is not a file header (240 characters, record type 0)", file=filename,
                         line=first_no, hint=HINT_FILE)
    return first


class _Walk:
    """Walks the records after the header arquivo, lote by lote, collecting the movements,
    balances and rejects in file order."""

    def __init__(self, filename: str):
        self.filename = filename
        self.lotes: list[_Lote] = []
        self.current: _Lote | None = None  # the lote whose trailer is still to come
        self.kept: list[StatementLine] = []
        self.rejects: list[Reject] = []
        self.balances: list[Balance] = []
        self.has_trailer = False

    def read(self, records: list[tuple[int, str]]) -> None:
        for no, line in records:
            self._record(no, line)
        if self.current is not None:
            self.rejects.append(_no_trailer(self.current, self.filename))
        if not self.has_trailer:
            self.rejects.append(Reject(file=self.filename, field="trailer arquivo",
                                       kind="warning",
                                       reason="the file has no trailer (record type 9)",
                                       hint="The file may be truncated; " + HINT_FILE))

    def _record(self, no: int, line: str) -> None:
        kind = line[7:8]
        if len(line) != RECORD:
            self._wrong_length(no, line, kind)
        elif kind == "1":
            self._open_lote(no, line)
        elif kind == "3":
            self._movement(no, line)
        elif kind == "5" and self.current is not None:
            self._note(_close(self.current, line, no, self.filename))
            self.current = None
        elif kind == "9":
            self.has_trailer = True
        elif kind == "0":
            raise InputError("a second file header (record type 0): two files joined into one",
                             file=self.filename, line=no, hint="Read each bank file on its own.")
        else:
            what = "a lote trailer without its header" if kind == "5" else f"record type {kind!r}"
            self.rejects.append(Reject(file=self.filename, line=no, field="tipo de registro",
                                       value=kind, kind="warning",
                                       reason=f"{what} is not read", hint=HINT_FILE))

    def _wrong_length(self, no: int, line: str, kind: str) -> None:
        """A short or long header breaks every position after it; a detail costs one line."""
        if kind in ("0", "1"):
            raise InputError(f"the header on line {no} has {len(line)} characters, not 240, "
                             "so the file's structure cannot be trusted", file=self.filename,
                             line=no, hint=HINT_FILE)
        self.rejects.append(Reject(file=self.filename, line=no, field="tamanho do registro",
                                   value=str(len(line)), hint=_HINT_LINE, kind="rejected",
                                   reason=f"line {no} has {len(line)} characters; CNAB 240 "
                                          "records have 240"))

    def _open_lote(self, no: int, line: str) -> None:
        if self.current is not None:
            self.rejects.append(_no_trailer(self.current, self.filename))
        account = _account(line)
        opening = _balance(line, no, account, "opening", self.filename)
        self._note([opening])
        self.current = _Lote(no, account, cut(line, 14, 16),
                             opening if isinstance(opening, Balance) else None)
        self.lotes.append(self.current)

    def _movement(self, no: int, line: str) -> None:
        if self.current is None:
            raise InputError("a detail record comes before any lote header (record type 1)",
                             file=self.filename, line=no, hint=HINT_FILE)
        outcome = _detail(line, no, self.current, self.filename)
        if isinstance(outcome, Reject):
            self.rejects.append(outcome)
            return
        self.kept.append(outcome)
        self.current.count(outcome.amount_cents)

    def _note(self, items: list[Balance | Reject]) -> None:
        self.balances.extend(item for item in items if isinstance(item, Balance))
        self.rejects.extend(item for item in items if isinstance(item, Reject))


def _keyed(kept: list[StatementLine]) -> tuple[StatementLine, ...]:
    """The lines with their line keys, which are only known once every line is read."""
    fingerprints = keys.statement_fingerprints(
        (k.account, k.posted_on, k.amount_cents, k.memo, k.fitid) for k in kept)
    keyed = zip(kept, keys.assign_line_keys(fingerprints), strict=True)
    return tuple(replace(line, line_key=key) for line, key in keyed)


def _statement_file(walk: _Walk, bank: str, filename: str) -> StatementFile:
    lines = _keyed(walk.kept)
    dates = [line.posted_on for line in lines] or [b.on for b in walk.balances]
    versions = dict.fromkeys(lote.version for lote in walk.lotes)
    log.info("%s: %d lines kept, %d dropped or rejected, %d lotes", filename, len(lines),
             len(walk.rejects), len(walk.lotes))
    return StatementFile(
        path=filename, format=FORMAT,
        accounts=tuple(dict.fromkeys(lote.account for lote in walk.lotes)),
        lines=lines, dropped=tuple(walk.rejects),
        period=(min(dates), max(dates)) if dates else None,
        balances=tuple(walk.balances), bank=bank,
        layout="segmento E " + "/".join(f"v{v}" for v in versions))
