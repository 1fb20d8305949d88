"""Bank CSV statements: bytes in, a StatementFile out (pure: no file I/O).

The reader knows no bank. A CsvLayout (recon.sources.csv_layouts) says which header,
columns, separators and markers a bank uses; recon.sources.csv_text decodes the bytes,
splits rows and finds the layout and its header row; this module applies the layout to
each data row, in file order:

* after a stop marker (Itaú's future entries, Bradesco's footer) nothing is read;
* balance rows (SALDO ANTERIOR, Saldo do dia, S A L D O ...) are dropped as movements
  and kept as Balance records, as is the last running saldo of each day;
* an undated row either continues the memo above (Bradesco, Santander complements) or
  is a heading; an undated row with an amount is an error, not a continuation;
* everything else is a movement, or a Reject naming the column and value at fault.

The account comes from the preamble when the layout can read it there (what the bank
wrote in the file beats what the caller assumes; recon.sources.csv_preamble), else from
the caller.
Line keys are the same fingerprints OFX lines get (recon.sources.keys), with the
bank's document/identifier column as the FITID hint.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from recon.errors import InputError
from recon.records import Balance, BankAccount, Reject, StatementFile, StatementLine
from recon.sources import keys
from recon.sources.csv_layouts import PRESETS, CsvLayout, Markers, header_key
from recon.sources.csv_preamble import preamble_account, statement_period, summary_balances
from recon.sources.csv_text import (  # noqa: F401  (parse_br_amount, looks_like_csv: API)
    HINT_LAYOUT,
    Row,
    Sheet,
    decode,
    detect,
    looks_like_csv,
    parse_br_amount,
    parse_date,
    read_rows,
    sheet_for,
)

log = logging.getLogger(__name__)

FORMAT = "csv"
_HINT_ROW = ("Check this movement on the bank's site or app; if it is real, download the "
             "statement again or enter it by hand.")


def _squash(text: str) -> str:
    return " ".join(text.split())


def _readable(layout: CsvLayout) -> str:
    """`%d/%m/%Y` as a person writes it: dd/mm/yyyy."""
    codes = {"%d": "dd", "%m": "mm", "%Y": "yyyy", "%y": "yy", "%H": "hh", "%M": "mm"}
    formats = []
    for fmt in layout.date_formats:
        for code, text in codes.items():
            fmt = fmt.replace(code, text)
        formats.append(fmt)
    return " or ".join(formats)


# --- rows ---
class _RowError(Exception):
    def __init__(self, field: str | None, value: str | None, reason: str):
        super().__init__(reason)
        self.field, self.value, self.reason = field, value, reason


@dataclass(slots=True)
class _Draft:  # a movement before its line key is known (continuation rows extend memo)
    line: int
    posted_on: date
    cents: int
    memo: str
    fitid: str | None
    raw_date: str
    balance: int | None


@dataclass(frozen=True, slots=True)
class _BalanceRow:
    kind: str  # opening | closing
    on: date | None  # as written; None when undated (BB writes 00/00/0000)
    cents: int
    after: int  # number of movements read before it


class _Reader:
    """Walks the data rows of one sheet, collecting drafts, rejects and balance rows."""

    def __init__(self, sheet: Sheet, filename: str):
        self.sheet, self.layout, self.filename = sheet, sheet.layout, filename
        self.index = {header_key(name): i for i, name in reversed(list(enumerate(sheet.names)))}
        self.drafts: list[_Draft] = []
        self.rejects: list[Reject] = []
        self.balance_rows: list[_BalanceRow] = []
        self.last: _Draft | None = None  # the movement a continuation row would extend
        self.stopped_by: str | None = None
        self.stops = Markers(self.layout.stop_markers)
        self.opening = Markers(self.layout.opening_row_markers)
        self.closing = Markers(self.layout.balance_row_markers)
        missing = [name for name in self._required() if header_key(name) not in self.index]
        if missing:
            raise InputError(f"CSV layout {self.layout.name!r} needs the column(s) "
                             f"{', '.join(missing)}, not in the header", file=filename,
                             line=None, hint=HINT_LAYOUT)

    def _required(self) -> list[str]:
        layout = self.layout
        names = [layout.date_column, layout.description_columns[0], layout.amount_column,
                 layout.credit_column, layout.debit_column]
        if layout.direction_required:
            names.append(layout.direction_column)
        return [name for name in names if name]

    def cell(self, cells: list[str], name: str | None) -> str:
        i = self.index.get(header_key(name)) if name else None
        return cells[i].strip() if i is not None and i < len(cells) else ""

    def label(self, name: str | None) -> str | None:
        i = self.index.get(header_key(name)) if name else None
        return self.sheet.names[i] if i is not None else name

    def reject(self, row: Row, error: _RowError, kind: str = "rejected") -> None:
        hint = _HINT_ROW if kind == "rejected" else ""
        self.rejects.append(Reject(file=self.filename, line=row.line, field=error.field,
                                   value=error.value, reason=error.reason, hint=hint, kind=kind))

    def read(self, rows: list[Row]) -> None:
        for row in rows:
            if row.blank:
                continue
            if self.stopped_by is not None:
                self.reject(row, _RowError(None, _squash(" ".join(row.cells)),
                                           f"after {self.stopped_by!r}: not part of the "
                                           "statement"), kind="dropped")
                continue
            try:
                self._row(row)
            except _RowError as error:
                self.last = None
                self.reject(row, error)

    def _row(self, row: Row) -> None:
        cells, layout = row.cells, self.layout
        date_text = self.cell(cells, layout.date_column)
        posted = parse_date(date_text, layout.date_formats)
        first = next((c.strip() for c in cells if c.strip()), "")
        if posted is None and self.stops.match(first):
            self.stopped_by = first
            self.reject(row, _RowError(None, first, "end of the statement"), kind="dropped")
        elif (kind := self._balance_kind(cells)) is not None:
            self._balance_row(row, kind, posted)
        elif posted is None:
            self._undated(row, date_text)
        else:
            self._movement(row, posted, date_text)

    def _check_width(self, cells: list[str]) -> None:
        extra = [c for c in cells[len(self.sheet.names):] if c.strip()]
        if extra:
            raise _RowError(None, _squash(self.layout.delimiters[0].join(cells)),
                            f"row has {len(cells)} cells where the header has "
                            f"{len(self.sheet.names)} (a value with an unquoted separator?)")

    def _memo(self, cells: list[str]) -> str:
        parts = [_squash(self.cell(cells, name)) for name in self.layout.description_columns]
        return " - ".join(dict.fromkeys(part for part in parts if part))

    def _balance_kind(self, cells: list[str]) -> str | None:
        layout = self.layout
        texts = [self.cell(cells, n) for n in (*layout.description_columns,
                                               layout.document_column) if n]
        for kind, markers in (("opening", self.opening), ("closing", self.closing)):
            if any(markers.match(text) for text in texts if text):
                return kind
        return None

    def _balance_row(self, row: Row, kind: str, posted: date | None) -> None:
        self.last = None
        memo = self._memo(row.cells)
        self.reject(row, _RowError(self.label(self.layout.description_columns[0]), memo,
                                   "balance row, not a transaction"), kind="dropped")
        try:
            cents = self._saldo(row.cells)
            if cents is None:
                cents = self._amount(row.cells)
        except _RowError:
            return  # a balance row without a readable value proves nothing; already dropped
        self.balance_rows.append(_BalanceRow(kind, posted, cents, len(self.drafts)))

    def _undated(self, row: Row, date_text: str) -> None:
        layout, cells = self.layout, row.cells
        field = self.label(layout.date_column)
        if date_text:
            raise _RowError(field, date_text, f"not a date (expected {_readable(layout)})")
        has_amount = any(self.cell(cells, n) for n in (layout.amount_column,
                                                       layout.credit_column, layout.debit_column))
        text = _squash(" ".join(self.cell(cells, n) for n in layout.description_columns))
        if has_amount:
            raise _RowError(field, "", "movement without a date")
        if layout.continuation_rows and text and self.last is not None:
            self.last.memo = f"{self.last.memo} {text}".strip()
            return
        reason = ("continuation row with no movement above it"
                  if layout.continuation_rows and text
                  else "row without date or amount: a heading or note, not a movement")
        self.reject(row, _RowError(None, text or None, reason), kind="dropped")

    def _movement(self, row: Row, posted: date, date_text: str) -> None:
        self._check_width(row.cells)
        cents = self._amount(row.cells)
        try:
            balance = self._saldo(row.cells)
        except _RowError as error:
            balance = None
            error.reason += "; the movement is kept, its running balance is not"
            self.reject(row, error, kind="warning")
        fitid = self.cell(row.cells, self.layout.document_column) or None
        self.last = _Draft(row.line, posted, cents, self._memo(row.cells), fitid, date_text,
                           balance)
        self.drafts.append(self.last)

    def _number(self, cells: list[str], name: str | None) -> int | None:
        """The column's amount; None when empty; _RowError when it is not a number."""
        text = self.cell(cells, name)
        if not text:
            return None
        cents = parse_br_amount(text, self.layout.decimal, self.layout.thousands)
        if cents is None:
            raise _RowError(self.label(name), text, "not an amount in centavos")
        return cents

    def _saldo(self, cells: list[str]) -> int | None:
        return self._number(cells, self.layout.balance_column)

    def _amount(self, cells: list[str]) -> int:
        layout = self.layout
        if layout.amount_column is None:
            cents = self._credit_debit(cells)
        else:
            value = self._number(cells, layout.amount_column)
            if value is None:
                raise _RowError(self.label(layout.amount_column), "", "no amount")
            cents = self._directed(cells, value) if layout.direction_column else value
        return -cents if layout.amount_negated else cents

    def _credit_debit(self, cells: list[str]) -> int:
        layout = self.layout
        credit = self._number(cells, layout.credit_column)
        debit = self._number(cells, layout.debit_column)
        if credit and debit:
            both = " | ".join(self.cell(cells, n) for n in (layout.credit_column,
                                                             layout.debit_column))
            raise _RowError(self.label(layout.credit_column), both,
                            "both credit and debit are filled")
        if credit is None and debit is None:
            raise _RowError(self.label(layout.credit_column), "", "no amount in credit or debit")
        return abs(credit) if credit else -abs(debit or 0)

    def _directed(self, cells: list[str], value: int) -> int:
        layout = self.layout
        letter = self.cell(cells, layout.direction_column)
        folded = header_key(letter)
        if folded in {header_key(v) for v in layout.credit_values}:
            return abs(value)
        if folded in {header_key(v) for v in layout.debit_values}:
            return -abs(value)
        if not letter and not layout.direction_required:
            return value
        allowed = "/".join((*layout.credit_values, *layout.debit_values))
        raise _RowError(self.label(layout.direction_column), letter,
                        f"not a credit/debit mark (expected {allowed})")


# --- the file ---
def parse_csv(data: bytes, filename: str, *, layout: CsvLayout | None = None,
              account: BankAccount | None = None,
              layouts: Iterable[CsvLayout] | None = None) -> StatementFile:
    """Read one bank CSV's bytes with `layout`, or the one of `layouts` (default: PRESETS)
    whose header is in the file. Raises InputError when the file cannot be used at all."""
    text, encoding = decode(data, layout.encodings if layout else ("utf-8", "cp1252"))
    if not text.strip():
        raise InputError("the file is empty", file=filename,
                         hint="Download the statement (extrato) again from the bank.")
    if layout is not None:
        sheet = sheet_for(text, layout, filename)
    else:
        sheet = detect(text, list(layouts or PRESETS.values()), filename)
        again, again_encoding = decode(data, sheet.layout.encodings)
        if again != text:  # the layout prefers another code page: read it that way
            text, encoding = again, again_encoding
            sheet = sheet_for(text, sheet.layout, filename)
    rows = _all_rows(text, sheet, filename)
    preamble = rows[:max(sheet.header_at, 0)]
    reader = _Reader(sheet, filename)
    reader.read(rows[sheet.header_at + 1:])
    bank_account = preamble_account(sheet, preamble, account)
    summary = summary_balances(sheet, preamble)
    balances, conflicts = _balances(reader, summary, bank_account, filename)
    lines = _lines(reader.drafts, bank_account, filename)
    posted = [draft.posted_on for draft in reader.drafts]
    log.info("%s: %s layout, %d lines kept, %d dropped or rejected (%s)", filename,
             sheet.layout.name, len(lines), len(reader.rejects) + len(conflicts), encoding)
    return StatementFile(path=filename, format=FORMAT, accounts=(bank_account,), lines=lines,
                         dropped=tuple(reader.rejects + conflicts),
                         period=statement_period(sheet, preamble, posted), balances=balances,
                         bank=sheet.layout.bank, layout=sheet.layout.name)


def _all_rows(text: str, sheet: Sheet, filename: str) -> list[Row]:
    try:
        return read_rows(text, sheet.delimiter)
    except csv.Error as exc:  # a runaway quote swallowing the file past the field size limit
        raise InputError(f"the CSV cannot be read ({exc})", file=filename,
                         hint="Download the statement again; do not edit it in a spreadsheet "
                         "before importing it.") from exc


def _lines(drafts: list[_Draft], account: BankAccount, filename: str
           ) -> tuple[StatementLine, ...]:
    fingerprints = keys.statement_fingerprints(
        (account, d.posted_on, d.cents, d.memo, d.fitid) for d in drafts)
    return tuple(
        StatementLine(source_file=filename, source_line=d.line, account=account,
                      posted_on=d.posted_on, amount_cents=d.cents, memo=d.memo, fitid=d.fitid,
                      line_key=key, raw_date=d.raw_date)
        for d, key in zip(drafts, keys.assign_line_keys(fingerprints), strict=True))


def _balances(reader: _Reader, summary: list[tuple[str, int]], account: BankAccount,
              filename: str) -> tuple[tuple[Balance, ...], list[Reject]]:
    """Every balance the file states, once; balances that disagree on a day prove nothing."""
    stated: dict[tuple[date, str], set[int]] = {}
    dates = [draft.posted_on for draft in reader.drafts]
    found = [_dated(row, reader.drafts) + (row.cents,) for row in reader.balance_rows]
    if dates:
        found += [(min(dates) if kind == "opening" else max(dates), kind, cents)
                  for kind, cents in summary]
    found += [(on, "closing", cents) for on, cents in _running_closings(reader.drafts).items()]
    for on, kind, cents in found:
        if on is not None:
            stated.setdefault((on, kind), set()).add(cents)
    balances, conflicts = [], []
    for (on, kind), values in sorted(stated.items(), key=lambda i: (i[0][0], i[0][1] != "opening")):
        if len(values) == 1:
            balances.append(Balance(account, on, values.pop(), kind))
            continue
        conflicts.append(Reject(file=filename, field="saldo", value=on.isoformat(), kind="warning",
                                reason=f"the file states different {kind} balances for this day "
                                f"({', '.join(str(v) for v in sorted(values))} centavos)",
                                hint="The lines are read; this day's balance is not used."))
    return tuple(balances), conflicts


def _dated(row: _BalanceRow, drafts: list[_Draft]) -> tuple[date | None, str]:
    """Saldo anterior opens the next day with movements; an undated closing row closes the
    day of the movement above it (BB dates its balance rows 00/00/0000)."""
    if row.kind == "opening":
        later = [d.posted_on for d in drafts if row.on is None or d.posted_on >= row.on]
        return (min(later), "opening") if later else (row.on, "closing")
    if row.on is not None:
        return row.on, "closing"
    return (drafts[row.after - 1].posted_on if row.after else None), "closing"


def _running_closings(drafts: list[_Draft]) -> dict[date, int]:
    """The running saldo after each day's last movement (newest-first files read backwards)."""
    with_balance = [d for d in drafts if d.balance is not None]
    if not with_balance:
        return {}
    newest_first = drafts[0].posted_on > drafts[-1].posted_on
    closings: dict[date, int] = {}
    for draft in reversed(with_balance) if newest_first else with_balance:
        closings[draft.posted_on] = draft.balance  # type: ignore[assignment]
    return closings
