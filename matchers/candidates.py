"""Candidate pairs by blocking, as SQL built by pure functions (run by the store).

A bank line only meets parcelas of its own direction (credits with contas a
receber, debits with contas a pagar), whose open amount is within the
tolerance, and whose due date falls in a one-sided window around the bank
date: payments mostly arrive after the due date, rarely long before it.
Only exact amounts can settle automatically, so inexact candidates are
capped per line (closest amount first): they only feed the review queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from recon.records import LEDGER_HOLDS


@dataclass(frozen=True, slots=True)
class Blocking:
    due_window_before_days: int
    due_window_after_days: int
    amount_tolerance_pct: float
    max_inexact_per_line: int = 25


def candidates_sql(blocking: Blocking) -> str:
    """Pairs for one run ($run_id), with what the scorer needs. Parameters are named."""
    return f"""
        SELECT l.line_key, p.parcela_id,
               abs(l.amount_cents) - p.open_cents AS amount_diff_cents,
               p.open_cents,
               date_diff('day', p.due_on, l.posted_on) AS lag_days,
               l.memo, p.contact_name, p.descricao
        FROM run_lines r
        JOIN statement_lines l ON l.line_key = r.line_key
        JOIN parcelas p ON p.run_id = r.run_id
         AND p.kind = CASE WHEN l.amount_cents > 0 THEN 'receber' ELSE 'pagar' END
         AND p.open_cents > 0
         AND abs(abs(l.amount_cents) - p.open_cents) * 100
             <= p.open_cents * {Decimal(str(blocking.amount_tolerance_pct))}
         AND p.due_on BETWEEN l.posted_on - INTERVAL {int(blocking.due_window_before_days)} DAY
                          AND l.posted_on + INTERVAL {int(blocking.due_window_after_days)} DAY
        WHERE r.run_id = $run_id
          AND p.parcela_id NOT IN (
              SELECT parcela_id FROM settlements WHERE state IN {LEDGER_HOLDS!r})
        -- Exact amounts are all kept; of the merely close ones only the closest few per
        -- line, so a large ledger with dense amounts cannot flood the scorer.
        QUALIFY amount_diff_cents = 0
             OR row_number() OVER (
                    PARTITION BY l.line_key, amount_diff_cents = 0
                    ORDER BY abs(amount_diff_cents) / p.open_cents, abs(lag_days), p.parcela_id
                ) <= {int(blocking.max_inexact_per_line)}
        ORDER BY l.line_key, p.parcela_id
    """
