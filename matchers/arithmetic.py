"""Brazilian payment arithmetic: what a late or early payment of a parcela should amount to.

A boleto or invoice paid late carries a multa (a one-off percentage, 2 % is the legal
ceiling in consumer relations) and juros pro rata die (1 % a.m. is usual: P x 1 % x days / 30).
One paid early may carry a discount of a round percentage. When the bank amount is exactly
what that arithmetic gives, the difference is explained and the baixa can carry it as
`multa`, `juros` or `desconto` instead of leaving it to a person.

The bank's date is not always the payment date: a boleto paid on day d is credited on d+1 or
d+2, so the days late are tried as the bank lag and one or two days fewer. Rounding differs
between issuers, so each part may be a centavo off.

Everything is vectorised over candidate pairs (numpy int64 centavos), never float money.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recon.money import format_brl

COMPENSATION_DAYS = (0, 1, 2)  # bank date minus payment date tried, in this order
ROUNDING_SLACK_CENTS = 1


@dataclass(frozen=True, slots=True)
class LateTerms:
    """The company's charges for late and early payment, in basis points (1 % = 100)."""

    multa_bp: int = 200
    juros_month_bp: int = 100
    discount_bp: tuple[int, ...] = (50, 100, 150, 200, 250, 300, 400, 500, 1000)


@dataclass(frozen=True, slots=True)
class Explained:
    """Per pair: whether the amount is explained, and its parts in centavos."""

    late: np.ndarray  # bool
    discount: np.ndarray  # bool
    multa: np.ndarray
    juros: np.ndarray
    desconto: np.ndarray
    days_late: np.ndarray  # days of juros charged (0 where not late)


def _pct(cents: np.ndarray, bp: int | np.ndarray) -> np.ndarray:
    """cents x bp / 10000, rounded half up, in integers."""
    return (cents * bp + 5_000) // 10_000


def explain(paid: np.ndarray, open_cents: np.ndarray, lag_days: np.ndarray,
            terms: LateTerms) -> Explained:
    """Which paid amounts are the open amount plus multa and juros, or minus a discount."""
    n = len(paid)
    extra = paid - open_cents
    out = Explained(late=np.zeros(n, bool), discount=np.zeros(n, bool),
                    multa=np.zeros(n, np.int64), juros=np.zeros(n, np.int64),
                    desconto=np.zeros(n, np.int64), days_late=np.zeros(n, np.int64))
    # Only a payment above the open amount at least a day late can carry charges, and only
    # one below it, not late, a discount: most pairs (exact amounts) are neither, and the
    # arithmetic below runs on the few that can be.
    rows = np.flatnonzero((extra > 0) & (lag_days >= 1))
    late = _late(extra[rows], open_cents[rows], lag_days[rows], terms)
    out.late[rows], out.multa[rows], out.juros[rows], out.days_late[rows] = late
    rows = np.flatnonzero((lag_days <= 0) & (extra < 0))
    out.discount[rows], out.desconto[rows] = _discount(extra[rows], open_cents[rows], terms)
    return out


def _late(extra: np.ndarray, open_cents: np.ndarray, lag_days: np.ndarray, terms: LateTerms
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Late, multa, juros and days of juros, for payments above the open amount."""
    n = len(extra)
    late, multa, juros, days = np.zeros(n, bool), np.zeros(n, np.int64), np.zeros(n, np.int64), \
        np.zeros(n, np.int64)
    # Variants tried in order: both charges, multa only, juros only (companies differ).
    variants = ((terms.multa_bp, terms.juros_month_bp), (terms.multa_bp, 0),
                (0, terms.juros_month_bp))
    for shift in COMPENSATION_DAYS:
        late_days = lag_days - shift
        for multa_bp, juros_bp in variants:
            m = _pct(open_cents, multa_bp) if multa_bp else np.zeros(n, np.int64)
            j = (open_cents * juros_bp * np.maximum(late_days, 0) + 150_000) // 300_000
            slack = ROUNDING_SLACK_CENTS * ((m > 0).astype(np.int64) + (j > 0))
            hit = (~late & (late_days >= 1) & (extra > 0) & (m + j > 0)
                   & (np.abs(extra - m - j) <= slack))
            late |= hit
            multa[hit], juros[hit], days[hit] = m[hit], (extra - m)[hit], late_days[hit]
    return late, multa, juros, days


def _discount(extra: np.ndarray, open_cents: np.ndarray, terms: LateTerms
              ) -> tuple[np.ndarray, np.ndarray]:
    """Discounted and the discount, for payments below the open amount, not late."""
    discount, desconto = np.zeros(len(extra), bool), np.zeros(len(extra), np.int64)
    for bp in terms.discount_bp:
        hit = ~discount & (np.abs(-extra - _pct(open_cents, bp)) <= ROUNDING_SLACK_CENTS)
        discount |= hit
        desconto[hit] = -extra[hit]
    return discount, desconto


def describe_late(open_cents: int, multa: int, juros: int, days: int, terms: LateTerms,
                  language: str = "en") -> str:
    """'R$ 12,34 over R$ 500,00 = multa 2 % (R$ 10,00) + juros 1 % a.m. x 7 dias (R$ 2,34)'."""
    parts = []
    if multa:
        parts.append(f"multa {terms.multa_bp / 100:g} % ({format_brl(multa)})")
    if juros:
        parts.append(f"juros {terms.juros_month_bp / 100:g} % a.m. x {days} dias "
                     f"({format_brl(juros)})")
    over = "sobre" if language == "pt" else "over"
    return f"{format_brl(multa + juros)} {over} {format_brl(open_cents)} = " + " + ".join(parts)


def describe_discount(open_cents: int, desconto: int, language: str = "en") -> str:
    share = desconto * 10_000 // max(open_cents, 1)
    if language == "pt":
        return (f"pagamento antecipado: desconto {format_brl(desconto)} "
                f"({share / 100:g} % de {format_brl(open_cents)})")
    return (f"early payment: desconto {format_brl(desconto)} "
            f"({share / 100:g} % of {format_brl(open_cents)})")
