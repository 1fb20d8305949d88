"""Stable identities for statement lines and bank accounts.

Brazilian FITIDs are not unique (BB builds them from date and amount, Caixa
sends `0` for fees), so a line's key is a fingerprint of what the bank says
about it plus its occurrence index: two identical R$ 8,50 lines on one day
stay two lines, and the same line downloaded twice gets the same key.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from datetime import date

from recon.records import BankAccount

_SPACES = re.compile(r"\s+")


def normalize_digits(value: str | None) -> str | None:
    """'0341' -> '341', '12.345-6' -> '123456', '' -> None. Letters are kept (some accounts are UUIDs)."""
    if value is None:
        return None
    cleaned = re.sub(r"[\s.\-/]", "", value.strip())
    if not cleaned:
        return None
    if cleaned.isdigit():
        return cleaned.lstrip("0") or "0"
    return cleaned.upper()


def bank_account(bank_code: str | None, branch: str | None, number: str | None) -> BankAccount:
    return BankAccount(normalize_digits(bank_code), normalize_digits(branch), normalize_digits(number))


class _CombiningMarks(dict):
    """str.translate table dropping combining marks, filled as characters are met: the
    per-character Python test it replaces was most of the cost of folding a name."""

    def __missing__(self, point: int) -> int | None:
        self[point] = None if unicodedata.combining(chr(point)) else point
        return self[point]


_COMBINING = _CombiningMarks()


def fold_text(text: str) -> str:
    """Upper case, accents removed, whitespace collapsed: the form memos are compared in."""
    stripped = text if text.isascii() else unicodedata.normalize("NFKD", text).translate(
        _COMBINING)
    return _SPACES.sub(" ", stripped).strip().upper()


def line_fingerprint(
    account: BankAccount, posted_on: date, amount_cents: int, memo: str, fitid: str | None
) -> str:
    parts = [
        account.bank_code or "",
        account.branch or "",
        account.number or "",
        posted_on.isoformat(),
        str(amount_cents),
        fold_text(memo),
        (fitid or "").strip(),
    ]
    return "|".join(parts)


def trusted_fitids(fitids: Iterable[str | None]) -> bool:
    """Whether a statement's FITIDs identify its lines on their own.

    Only opaque identifiers qualify: all present, unique in the statement, and not
    bare numbers (BB builds FITIDs from date and amount, Itaú from date and a
    sequence, Caixa sends 0, Santander the document number). Nubank's UUIDs and
    Bradesco's composite strings qualify, and then a re-export that reworded a
    memo still dedupes.
    """
    values = [(f or "").strip() for f in fitids]
    return (bool(values) and all(len(v) >= 8 and not v.isdigit() for v in values)
            and len(set(values)) == len(values))


def statement_fingerprints(
    rows: Iterable[tuple[BankAccount, date, int, str, str | None]],
) -> list[str]:
    """Fingerprints of a statement's lines: by FITID where the account's FITIDs are trusted."""
    rows = list(rows)
    trusted = {account for account in {r[0] for r in rows}
               if trusted_fitids(r[4] for r in rows if r[0] == account)}
    return [f"{account.bank_code}|{account.branch}|{account.number}|fitid|{fitid.strip()}"
            if account in trusted and fitid else
            line_fingerprint(account, posted_on, cents, memo, fitid)
            for account, posted_on, cents, memo, fitid in rows]


def assign_line_keys(fingerprints: Iterable[str]) -> list[str]:
    """One key per fingerprint, numbering repeats in order of appearance."""
    seen: Counter[str] = Counter()
    keys = []
    for fingerprint in fingerprints:
        occurrence = seen[fingerprint]
        seen[fingerprint] += 1
        digest = hashlib.sha256(f"{fingerprint}#{occurrence}".encode()).hexdigest()
        keys.append(digest[:24])
    return keys
