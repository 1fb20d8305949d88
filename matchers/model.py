"""Fellegi-Sunter match weights: each signal a comparison level, each level log2(m/u).

For a candidate pair, every signal (amount, date lag, name, exact key) falls in one level.
`m` is how often true matches fall in that level, `u` how often unrelated pairs do; the
pair's weight is the prior log-odds plus the sum of log2(m/u) over the signals, and its
probability 2^W / (1 + 2^W). This is the model Splink uses; here it runs on numpy arrays.

- `u` is estimated from the run's own data: level shares among random same-direction pairs
  of its lines and parcelas, with a floor so that a level never seen among random pairs does
  not become infinitely strong. Two levels take a term-frequency `u` per value instead, as
  Splink's TF adjustment does: an exact amount shared by many parcelas (a R$ 99,90 plan) is
  weak evidence, a unique one strong; a name shared by many parcelas (a weekly supplier)
  says less about which parcela than a name on one.
- `m` starts from the priors below (how Brazilian payments behave: most on the day or a few
  days late, most at the exact amount) and moves towards what confirmed matches of the
  company show as they accumulate (`m_from_history`).

2^W / (1 + 2^W) is a pair's probability alone; EM weighs pairs by it. What a decision reads
is the line's (`scoring.line_posterior`): the pair against the line's other candidates, each
with its own evidence, and against the line paying nothing (`Model.unmatched`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# Levels per signal, in order; the index is what the candidate frame stores.
AMOUNT_LEVELS = ("exact", "late_fees", "discount", "close", "partial")
DATE_LEVELS = ("same_day", "1-3_late", "4-7_late", "8-15_late", "16-31_late", "32+_late",
               "1-3_early", "4-15_early", "16+_early")
NAME_LEVELS = ("name>=0.97", "name>=0.90", "name>=0.80", "name>=0.60", "name<0.60", "no_name")
KEY_LEVELS = ("same_document", "same_number", "known_alias", "other_document", "no_key")
SIGNALS = {"amount": AMOUNT_LEVELS, "date": DATE_LEVELS, "name": NAME_LEVELS, "key": KEY_LEVELS}
NULL_LEVELS = {"name": NAME_LEVELS.index("no_name"), "key": KEY_LEVELS.index("no_key")}

# Priors for m: shares among true matches. Each sums to 1 over the levels that can occur.
DEFAULT_M: dict[str, tuple[float, ...]] = {
    "amount": (0.80, 0.07, 0.03, 0.04, 0.06),
    "date": (0.35, 0.30, 0.12, 0.07, 0.04, 0.02, 0.07, 0.025, 0.005),
    "name": (0.55, 0.15, 0.08, 0.04, 0.05, 0.13),
    "key": (0.15, 0.05, 0.10, 0.02, 0.68),
}
# The date of a discounted payment, given that its amount is a discount: the arithmetic only
# explains payments made on or before the due date, and those are not spread like random
# pairs' lags: boletos "com desconto até o vencimento" are paid on the day or in the days
# before it, seldom weeks ahead. Estimated with the other m (EM, history) from discounted
# pairs only; against u among random pairs on or before the due date.
DISCOUNT_DATE = "date|discount"
DEFAULT_M[DISCOUNT_DATE] = (0.30, 0, 0, 0, 0, 0, 0.30, 0.35, 0.05)
ON_OR_BEFORE_DUE = ("same_day", "1-3_early", "4-15_early", "16+_early")
# Cuts for the WRatio-or-prefix scorer: the same name (or a bank's cut of it) scores 100,
# reordered words 95, one character off in a 10-character cut 90; a shared surname alone
# ('NATALIA CAMPOS LOPES' vs 'DISTRIBUIDORA CAMPOS FERNANDES') reaches about 85.
NAME_CUTS = (0.97, 0.90, 0.80, 0.60)
DATE_EDGES = (0, 3, 7, 15, 31)  # days late closing each late level
EARLY_EDGES = (-3, -15)  # days early opening each early level
U_FLOOR_PAIRS = 1_000_000  # a level never seen among random pairs counts as 1 in this many
MATCHED_SHARE = 0.8  # lines expected to pay a parcela, as a share of the smaller side
HISTORY_PSEUDOCOUNT = 200  # confirmed matches needed before history outweighs the priors


def date_level(lag_days: np.ndarray) -> np.ndarray:
    """Bank date minus due date, in days -> DATE_LEVELS index."""
    late = np.searchsorted(np.array(DATE_EDGES), lag_days, side="left")  # 0 for lag 0
    early = np.select([lag_days >= edge for edge in EARLY_EDGES],
                      [DATE_LEVELS.index("1-3_early"), DATE_LEVELS.index("4-15_early")],
                      DATE_LEVELS.index("16+_early"))
    return np.where(lag_days >= 0, late, early).astype(np.int8)


def name_level(similarity: np.ndarray) -> np.ndarray:
    """Similarity in [0, 1], NaN where the memo names nobody -> NAME_LEVELS index."""
    level = np.full(len(similarity), len(NAME_CUTS), np.int8)
    for i, cut in reversed(list(enumerate(NAME_CUTS))):
        level[similarity >= cut] = i
    level[np.isnan(similarity)] = NULL_LEVELS["name"]
    return level


@dataclass(frozen=True)
class Model:
    """log2(m/u) tables per signal, the prior, and the per-pair TF overrides' m."""

    m: Mapping[str, np.ndarray]
    u: Mapping[str, np.ndarray]
    prior_bits: float
    history: int = 0  # confirmed matches that shaped m
    unmatched: float = 1 - MATCHED_SHARE  # prior chance that a line pays no parcela

    def bits(self, signal: str, levels: np.ndarray, u_override: np.ndarray | None = None
             ) -> np.ndarray:
        m, u = np.asarray(self.m[signal]), np.asarray(self.u[signal])
        if signal == "date":
            m, u = _weeks_ahead_as_one(m), _weeks_ahead_as_one(u)
        m = m[levels]
        u = u[levels] if u_override is None else u_override
        out = np.log2(m / u)
        if signal in NULL_LEVELS:
            out[levels == NULL_LEVELS[signal]] = 0.0  # missing evidence is no evidence
        return out


def _weeks_ahead_as_one(shares: np.ndarray) -> np.ndarray:
    """Shares with the early levels past three days pooled. Only a discount's date (its own
    signal) tells a week early from months early: for any other payment a parcela due next
    week is a rival (the weekly supplier's), and measured against random pairs' lags a week
    early would weigh for it, as a day late does."""
    pooled = [DATE_LEVELS.index("4-15_early"), DATE_LEVELS.index("16+_early")]
    out = shares.copy()
    out[pooled] = shares[pooled].sum()
    return out


def probability(weight_bits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp2(-np.clip(weight_bits, -60, 60)))


def expected_matches(lines_per_direction: Sequence[int], parcelas_per_direction: Sequence[int]
                     ) -> float:
    """Matches a run of this shape is expected to hold: most lines pay one parcela of their
    direction, some (tarifas, strangers' transfers) none."""
    return max(1.0, MATCHED_SHARE * sum(min(n, m) for n, m in zip(lines_per_direction,
                                                                  parcelas_per_direction)))


def prior_bits(lines_per_direction: Sequence[int], parcelas_per_direction: Sequence[int]
               ) -> float:
    """log2 odds that a random same-direction (line, parcela) pair is a match: about one
    parcela per line among those of its direction (Splink's 1/N for one-to-one linkage).
    Per direction, as u is sampled: counting credit lines against contas a pagar too put
    the prior about a bit too low (0.9 bit with 65 % receber), and every pair with it."""
    pairs = sum(n * m for n, m in zip(lines_per_direction, parcelas_per_direction))
    p = min(expected_matches(lines_per_direction, parcelas_per_direction) / max(pairs, 1), 0.5)
    return np.log2(p / (1 - p)).item()  # log-odds in bits, not money


def unmatched_share(lines_per_direction: Sequence[int], parcelas_per_direction: Sequence[int]
                    ) -> float:
    """The prior chance that a line pays none of the run's parcelas."""
    lines = max(sum(lines_per_direction), 1)
    return max(1.0 - expected_matches(lines_per_direction, parcelas_per_direction) / lines, 0.01)


def u_from_sample(levels: Mapping[str, np.ndarray], floor_pairs: int = U_FLOOR_PAIRS
                  ) -> dict[str, np.ndarray]:
    """Level shares among random pairs, floored so unseen levels stay finite; for the date
    given a discount, shares among those on or before the due date."""
    u = {}
    for signal, names in SIGNALS.items():
        counts = np.bincount(levels[signal], minlength=len(names)).astype(float)
        share = counts / max(counts.sum(), 1.0)
        u[signal] = np.maximum(share, 1.0 / floor_pairs)
    before = np.isin(np.arange(len(DATE_LEVELS)), [DATE_LEVELS.index(n) for n in ON_OR_BEFORE_DUE])
    u[DISCOUNT_DATE] = np.where(before, u["date"] / u["date"][before].sum(), 1.0)
    return u


def observed(levels: Mapping[str, np.ndarray], signal: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The levels a signal's m is counted from, and which pairs they are (None: all): the
    date given a discount counts the discounted pairs' dates only."""
    if signal == DISCOUNT_DATE:
        rows = levels["amount"] == AMOUNT_LEVELS.index("discount")
        return levels["date"][rows], rows
    return levels[signal], None


def m_from_history(levels: Mapping[str, np.ndarray] | None) -> tuple[dict[str, np.ndarray], int]:
    """Priors blended with level counts of confirmed matches (Dirichlet-style)."""
    history = 0 if levels is None else len(levels["amount"])
    m = {}
    for signal, prior in DEFAULT_M.items():
        counts = np.zeros(len(prior))
        if history:
            counts = np.bincount(observed(levels, signal)[0], minlength=len(prior)).astype(float)
        m[signal] = ((np.asarray(prior) * HISTORY_PSEUDOCOUNT + counts)
                     / (HISTORY_PSEUDOCOUNT + counts.sum()))
        m[signal] = np.maximum(m[signal], 1e-4)
    return m, history


def tf_u(counts: np.ndarray, total: int) -> np.ndarray:
    """Term-frequency u: the share of parcelas carrying this value, at least one of them."""
    return np.maximum(counts, 1) / max(total, 1)
