"""Bank CSV, the preamble: what the rows above the header state about the statement.

Some banks write the account, the period or summary balances before the header row;
what the bank wrote in the file beats what the caller assumes, so recon.sources.csv_reader
asks this module first. Every reading is optional: a layout without the pattern, or a
preamble without the text, gives the caller's account, the movements' dates, no balances.
"""

from __future__ import annotations

import re
from datetime import date

from recon.records import BankAccount
from recon.sources import keys
from recon.sources.csv_layouts import header_key
from recon.sources.csv_text import Row, Sheet, parse_br_amount, parse_date

_PERIOD = re.compile(r"(\d{2}/\d{2}/\d{4})\s*(?:A|E|ATE|-)\s*(\d{2}/\d{2}/\d{4})")


def _preamble_text(sheet: Sheet, preamble: list[Row]) -> str:
    return keys.fold_text(" ".join(sheet.delimiter.join(row.cells) for row in preamble))


def preamble_account(sheet: Sheet, preamble: list[Row], given: BankAccount | None
                     ) -> BankAccount:
    layout = sheet.layout
    if layout.account_pattern and preamble:
        found = re.search(layout.account_pattern, _preamble_text(sheet, preamble), re.IGNORECASE)
        if found:
            groups = found.groupdict()
            return keys.bank_account(layout.bank_code, groups.get("branch"), groups.get("number"))
    return given if given is not None else keys.bank_account(layout.bank_code, None, None)


def statement_period(sheet: Sheet, preamble: list[Row], posted: list[date]
                     ) -> tuple[date, date] | None:
    """The movements' dates, widened to the period the preamble states, if it states one."""
    dates = list(posted)
    stated = _PERIOD.search(_preamble_text(sheet, preamble)) if preamble else None
    if stated:
        dates += [d for text in stated.groups() if (d := parse_date(text, ("%d/%m/%Y",)))]
    return (min(dates), max(dates)) if dates else None


def summary_balances(sheet: Sheet, preamble: list[Row]) -> list[tuple[str, int]]:
    """Balances a preamble states as a header cell over a value (Mercado Pago)."""
    found = []
    for name, kind in sheet.layout.summary_balances:
        for i, row in enumerate(preamble):
            names = [header_key(cell) for cell in row.cells]
            if header_key(name) not in names:
                continue
            column = names.index(header_key(name))
            below = next((r for r in preamble[i + 1:] if not r.blank), None)
            text = below.cells[column] if below and column < len(below.cells) else ""
            cents = parse_br_amount(text, sheet.layout.decimal, sheet.layout.thousands)
            if cents is not None:
                found.append((kind, cents))
            break
    return found
