"""A stored decision explained from the store: its pair's signals, the split of the amount,
the runner-up. Shared by the report and `recon review`."""

from __future__ import annotations

from typing import Any

from matchers.explain import explain_decision
from recon.store import Store

Row = dict[str, Any]


def stored_pair(store: Store, run_id: str, line_key: str, parcela_id: str | None) -> Row | None:
    if not parcela_id:
        return None
    found = store.query(
        "SELECT * FROM candidate_pairs WHERE run_id = ? AND line_key = ? AND parcela_id = ?",
        [run_id, line_key, parcela_id])
    return found[0] if found else None


def explain_stored(store: Store, run_id: str, decision: Row, language: str = "en") -> str:
    """The sentence for one decision row (a `decisions` row, or one with the same columns)."""
    pair = stored_pair(store, run_id, decision["line_key"], decision.get("parcela_id"))
    rival = None
    if decision.get("rival_parcela_id") or decision.get("rival_line_key"):
        rival = stored_pair(store, run_id, decision.get("rival_line_key") or decision["line_key"],
                            decision.get("rival_parcela_id") or decision.get("parcela_id"))
    allocation = None
    if decision.get("parcela_id"):
        found = store.query(
            "SELECT * FROM allocations WHERE run_id = ? AND line_key = ? AND parcela_id = ?",
            [run_id, decision["line_key"], decision["parcela_id"]])
        allocation = found[0] if found else None
    return explain_decision(decision, pair, rival, allocation, language=language)
