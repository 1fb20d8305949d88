"""Are the statements complete? Balances the banks state, checked against the lines kept.

Banks state balances (OFX LEDGERBAL, a CSV's running Saldo, CNAB's opening and
closing balances). Between two stated balances of one account the lines kept
must add up to the difference; when they do not, lines are missing (a download
that skipped days) or doubled (an overlap that dedupe could not tell apart).
Separately, days of the run's window that no statement file covers are a gap
even without balances. Pure functions: rows in, findings out.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from recon.money import format_brl


@dataclass(frozen=True, slots=True)
class StatedBalance:
    conta: str
    on: date  # end of this business day
    cents: int
    source: str  # file name, for the message


@dataclass(frozen=True, slots=True)
class Gap:
    conta: str
    start: date
    end: date
    kind: str  # "balance_mismatch" | "not_covered"
    difference_cents: int
    detail: str


def end_of_day_balance(on: date, cents: int, kind: str) -> tuple[date, int]:
    """An opening balance of day d is the closing balance of the day before."""
    return (on - timedelta(days=1), cents) if kind == "opening" else (on, cents)


def balance_gaps(balances: Iterable[StatedBalance],
                 lines: Iterable[tuple[str, date, int]]) -> list[Gap]:
    """Between consecutive stated balances of an account, do the lines add up?"""
    movements: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for conta, posted_on, cents in lines:
        movements[conta][posted_on] += cents
    gaps = []
    for conta, stated in _by_account(balances).items():
        for earlier, later in itertools.pairwise(stated):
            moved = sum(c for d, c in movements[conta].items() if earlier.on < d <= later.on)
            difference = later.cents - earlier.cents - moved
            if difference:
                gaps.append(_mismatch(conta, earlier, later, moved, difference))
    return gaps


def _by_account(balances: Iterable[StatedBalance]) -> dict[str, list[StatedBalance]]:
    """One balance per account and day (files that agree on a day are one statement)."""
    per_day: dict[tuple[str, date], StatedBalance] = {}
    for balance in sorted(balances, key=lambda b: (b.conta, b.on, b.source)):
        per_day.setdefault((balance.conta, balance.on), balance)
    grouped: dict[str, list[StatedBalance]] = defaultdict(list)
    for balance in per_day.values():
        grouped[balance.conta].append(balance)
    return {conta: sorted(items, key=lambda b: b.on) for conta, items in grouped.items()}


def _mismatch(conta: str, earlier: StatedBalance, later: StatedBalance, moved: int,
              difference: int) -> Gap:
    # A positive difference means money the lines do not show (missing lines); a
    # negative one means the lines show more than the bank moved (doubled lines).
    what = "missing" if difference > 0 else "doubled"
    detail = (f"balance {format_brl(earlier.cents)} at the end of {earlier.on:%d/%m/%Y} "
              f"({earlier.source}) plus the lines kept ({format_brl(moved)}) should give "
              f"{format_brl(later.cents)} at the end of {later.on:%d/%m/%Y} ({later.source}); "
              f"{format_brl(difference)} is unaccounted for: lines {what}")
    return Gap(conta, earlier.on + timedelta(days=1), later.on, "balance_mismatch", difference,
               detail)


def coverage_gaps(conta: str, periods: Iterable[tuple[date, date]],
                  window: tuple[date, date]) -> list[Gap]:
    """Days of the window that no statement of the account covers."""
    covered = sorted(periods)
    gaps, cursor = [], window[0]
    for start, end in covered:
        if start > cursor and cursor <= window[1]:
            gaps.append(_uncovered(conta, cursor, min(start - timedelta(days=1), window[1])))
        cursor = max(cursor, end + timedelta(days=1))
    if cursor <= window[1]:
        gaps.append(_uncovered(conta, cursor, window[1]))
    return gaps


def _uncovered(conta: str, start: date, end: date) -> Gap:
    detail = (f"no statement covers {start:%d/%m/%Y} to {end:%d/%m/%Y}: download it, or payments "
              "of those days will show as unpaid parcelas")
    return Gap(conta, start, end, "not_covered", 0, detail)
