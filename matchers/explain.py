"""Sentences from stored decisions: each signal's contribution, the runner-up and the margin.

The engine stores numbers (levels, bits, probability, rival, margin, a reason code); this
module turns one decision into text where it is shown (report, exceptions.csv, `recon
review`), so storing a million decisions never formats a million sentences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from matchers.arithmetic import LateTerms, describe_discount, describe_late
from matchers.model import AMOUNT_LEVELS, KEY_LEVELS, NAME_LEVELS
from recon.money import format_brl

REASONS = {
    "auto": "clear match",
    "below_auto": "probability below the automatic threshold",
    "amount_not_explained": "the amount differs and no fee, interest or discount explains it",
    "ambiguous": "another candidate is nearly as likely",
    "below_review": "best candidate is too unlikely to propose",
    "no_candidate": "no open parcela with this direction, amount and due date",
    "candidates_taken": "every candidate parcela went to a better-matching bank line",
    "name_unverifiable": "the memo names a payer that is not the parcela's contact, or there is "
                         "no contact to compare with",
    "split_payment": "two transfers from the same payer add up to the parcela",
    "batch": "several parcelas add up to this credit net of fees",
    "batch_ambiguous": "several sets of parcelas add up to this credit: pick the right one",
    "policy": "a clear match, held back by a policy in the config",
    "rejected_before": "a person rejected this proposal before",
}


def _bits(value: float) -> str:
    return f"{value:+.1f}"


def signal_phrases(pair: Mapping[str, Any]) -> list[str]:
    """'amount exact (+11.2)', 'date 2 d late (+3.1)', 'name 0.97 (+9.8)', ..."""
    amount = AMOUNT_LEVELS[int(pair["amount_level"])].replace("_", " ")
    lag = int(pair["lag_days"])
    when = "same day" if lag == 0 else f"{abs(lag)} d {'late' if lag > 0 else 'early'}"
    diff = format_brl(int(pair["amount_diff_cents"]))
    phrases = [f"amount {amount} (diff {diff}, {_bits(pair['amount_bits'])})",
               f"date {when} ({_bits(pair['date_bits'])})"]
    name_level = NAME_LEVELS[int(pair["name_level"])]
    if name_level == "no_name":
        phrases.append("memo names nobody (0)")
    else:
        phrases.append(f"name {pair['name_sim']:.2f} ({_bits(pair['name_bits'])})")
    key = KEY_LEVELS[int(pair["key_level"])]
    if key != "no_key":
        phrases.append(f"{key.replace('_', ' ')} ({_bits(pair['key_bits'])})")
    return phrases


def explain_decision(decision: Mapping[str, Any], pair: Mapping[str, Any] | None,
                     rival: Mapping[str, Any] | None = None,
                     allocation: Mapping[str, Any] | None = None,
                     terms: LateTerms | None = None) -> str:
    """One paragraph: why this decision, from its stored numbers."""
    code = decision.get("reason_code") or ""
    text = [REASONS.get(code, code)]
    if decision.get("detail"):
        text.append(str(decision["detail"]))
    if pair is not None:
        text.append(f"p={pair['probability']:.3f}: " + ", ".join(signal_phrases(pair)))
    if allocation is not None:
        split = _split_phrase(allocation, terms or LateTerms())
        if split:
            text.append(split)
    if rival is not None:
        margin = decision.get("margin_bits")
        margin_text = "" if margin is None or (isinstance(margin, float) and math.isnan(margin)) \
            else f", margin {margin:.1f} bits"
        who = (f"parcela {decision['rival_parcela_id']}" if decision.get("rival_parcela_id")
               else f"bank line {decision.get('rival_line_key')} for the same parcela")
        label = "best candidate" if decision.get("decision") == "unmatched" else "runner-up"
        text.append(f"{label}: {who}, p={rival['probability']:.3f}{margin_text}")
    return "; ".join(text)


def _split_phrase(allocation: Mapping[str, Any], terms: LateTerms) -> str:
    kind = allocation.get("kind")
    if kind == "late_fees":
        return describe_late(int(allocation["gross_cents"]), int(allocation["multa_cents"]),
                             int(allocation["juros_cents"]),
                             int(allocation.get("days_late") or 0), terms)
    if kind == "discount":
        return describe_discount(int(allocation["gross_cents"]),
                                 int(allocation["desconto_cents"]))
    if allocation.get("taxa_cents"):
        return (f"{format_brl(int(allocation['gross_cents']))} less fee "
                f"{format_brl(int(allocation['taxa_cents']))}")
    return ""
