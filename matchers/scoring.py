"""One score per signal, then a weighted combination in [0, 1].

Weights favour the amount and the counterpart's name: an exact amount on the
right day with no name evidence scores 0.6 and goes to a human, because in a
company with recurring prices the amount alone does not say who paid.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz

from matchers.normalize import clean_memo, clean_name

WEIGHTS = {"amount": 0.45, "date": 0.15, "name": 0.40}
MIN_PARTIAL_LENGTH = 5  # partial_ratio on shorter strings finds a "match" in almost anything


@dataclass(frozen=True, slots=True)
class Scores:
    amount: float
    date: float
    name: float

    @property
    def total(self) -> float:
        return round(
            WEIGHTS["amount"] * self.amount + WEIGHTS["date"] * self.date + WEIGHTS["name"] * self.name,
            6,
        )


def amount_score(diff_cents: int, open_cents: int, tolerance_pct: float) -> float:
    """1 for the exact amount; at most 0.5 for anything merely close."""
    if diff_cents == 0:
        return 1.0
    allowed = open_cents * tolerance_pct / 100
    if allowed <= 0:
        return 0.0
    return max(0.0, 1.0 - abs(diff_cents) / allowed) * 0.5


def date_score(lag_days: int) -> float:
    """Bank date minus due date: on the day 1.0, a week away 0.5, a month 0.19."""
    return 1.0 / (1.0 + abs(lag_days) / 7.0)


def name_score(memo: str, contact_name: str | None, descricao: str | None) -> float:
    """Best similarity of the memo's counterpart with the contact name or the description.

    Banks truncate names ("PIX TRANSF  JOAO SI12/03"), so a partial match of the
    shorter text inside the longer counts, but only from a minimum length.
    """
    memo_name = clean_memo(memo)
    if not memo_name:
        return 0.0
    best = 0.0
    for other in (clean_name(contact_name), clean_name(descricao)):
        if not other:
            continue
        score = fuzz.token_set_ratio(memo_name, other)
        if min(len(memo_name), len(other)) >= MIN_PARTIAL_LENGTH:
            score = max(score, fuzz.partial_ratio(memo_name, other))
        best = max(best, score / 100.0)
    return best
