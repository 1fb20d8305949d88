"""The review queue: suggestions a person approves or rejects, and what those decisions teach.

Each bank line a run proposes for review gets one numbered item, kept across runs until a
person decides it (or a later run decides the line otherwise). An approval records, per
(line, parcela), the composition to settle; the next run (or `recon approve --apply`)
settles it, and the memo's counterpart becomes an alias of the contact. A rejection is
never proposed again: the matcher drops rejected pairs before scoring, and a proposal that
still includes one (a batch, a split) is withdrawn after matching.
"""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from recon.dates import SAO_PAULO
from recon.errors import ReviewError
from recon.explanations import explain_rows, grouped
from recon.money import format_brl
from recon.settle import record_event
from recon.store import Store

log = logging.getLogger(__name__)

Row = dict[str, Any]
_COMPOSITION = ("amount_cents", "gross_cents", "multa_cents", "juros_cents", "desconto_cents",
                "taxa_cents")


def default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


def _now() -> datetime:
    return datetime.now(tz=SAO_PAULO)


# -- after each run ------------------------------------------------------------------------

def withdraw_rejected(store: Store, run_id: str) -> int:
    """Proposals that still include a pair a person rejected (a batch or a split found again)
    become unmatched; the matcher already dropped rejected pairs from 1:1 candidates."""
    rows = store.query(
        """SELECT DISTINCT d.line_key, a.parcela_id, v.item_id
           FROM decisions d JOIN allocations a USING (run_id, line_key)
           JOIN pair_verdicts v ON v.line_key = a.line_key AND v.parcela_id = a.parcela_id
           WHERE d.run_id = ? AND d.decision IN ('auto', 'review') AND v.verdict = 'reject'""",
        [run_id])
    for row in rows:
        store.execute(
            "UPDATE decisions SET decision = 'unmatched', reason_code = 'rejected_before', "
            "kind = NULL, detail = ? WHERE run_id = ? AND line_key = ?",
            [f"parcela {row['parcela_id']} was rejected for this line (item {row['item_id']})",
             run_id, row["line_key"]])
        store.execute("DELETE FROM allocations WHERE run_id = ? AND line_key = ?",
                      [run_id, row["line_key"]])
    return len({row["line_key"] for row in rows})


def sync_queue(store: Store, run_id: str) -> None:
    """One pending item per line this run proposed for review (numbered once, kept across
    runs); pending items of lines this run decided otherwise are closed."""
    store.execute(
        """UPDATE review_items SET run_id = $run_id
           WHERE status = 'pending' AND line_key IN (
               SELECT line_key FROM decisions WHERE run_id = $run_id AND decision = 'review')""",
        {"run_id": run_id})
    store.execute(
        """INSERT INTO review_items (item_id, line_key, run_id, status, created_at)
           SELECT (SELECT coalesce(max(item_id), 0) FROM review_items)
                      + row_number() OVER (ORDER BY l.posted_on, d.line_key),
                  d.line_key, d.run_id, 'pending', $now
           FROM decisions d JOIN statement_lines l USING (line_key)
           WHERE d.run_id = $run_id AND d.decision = 'review'
             AND d.line_key NOT IN (SELECT line_key FROM review_items WHERE status = 'pending')""",
        {"run_id": run_id, "now": _now()})
    store.execute(
        """UPDATE review_items SET status = 'closed', decided_at = $now,
                  note = 'decided ' || d.decision || ' by run ' || d.run_id
           FROM decisions d
           WHERE d.run_id = $run_id AND d.decision <> 'review'
             AND review_items.line_key = d.line_key AND review_items.status = 'pending'""",
        {"run_id": run_id, "now": _now()})


def lines_to_reconsider(store: Store) -> list[str]:
    """Lines whose item a person rejected after the run that proposed it: the next run looks
    at them again (with the rejected parcela out), whatever its date window."""
    rows = store.query(
        """SELECT i.line_key FROM review_items i JOIN runs r ON r.run_id = i.run_id
           WHERE i.status = 'rejected'
             AND NOT EXISTS (SELECT 1 FROM decisions d JOIN runs later USING (run_id)
                             WHERE d.line_key = i.line_key AND later.started_at > i.decided_at)""")
    return [row["line_key"] for row in rows]


# -- the queue -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Verdict:
    item_id: int
    line_key: str
    parcela_ids: tuple[str, ...]
    verdict: str  # approve | reject
    by: str


def pending_items(store: Store, item_ids: list[int] | None = None) -> list[Row]:
    """Pending items with their bank line, proposal, candidates and the reason for each score."""
    where = "i.status = 'pending'"
    params: list[Any] = []
    if item_ids:
        where += f" AND i.item_id IN ({', '.join('?' for _ in item_ids)})"
        params = list(item_ids)
    items = store.query(
        f"""SELECT i.item_id, i.line_key, i.run_id, i.created_at, l.posted_on, l.amount_cents,
                   l.memo, l.file, l.source_line, d.parcela_id, d.decision, d.kind, d.score,
                   d.runner_up_score, d.margin_bits, d.rival_line_key, d.rival_parcela_id,
                   d.reason_code, d.detail
            FROM review_items i JOIN statement_lines l USING (line_key)
            LEFT JOIN decisions d ON d.run_id = i.run_id AND d.line_key = i.line_key
            WHERE {where} ORDER BY i.item_id""", params)
    if not items:
        return items
    # Proposals and the best five candidates of every listed item, read at once.
    store.replace_temp("listed_items", pd.DataFrame(
        [(i["run_id"], i["line_key"]) for i in items], columns=["run_id", "line_key"],
        dtype=object))
    proposals = grouped(store.query(
        """SELECT a.*, p.descricao, p.contact_name, p.due_on, p.open_cents
           FROM allocations a JOIN listed_items USING (run_id, line_key)
           LEFT JOIN parcelas p ON p.parcela_id = a.parcela_id AND p.run_id = a.run_id
           ORDER BY a.run_id, a.line_key, p.due_on, a.parcela_id"""), "run_id", "line_key")
    candidates = grouped(store.query(
        """SELECT * EXCLUDE (rank) FROM (
               SELECT c.run_id, c.line_key, c.parcela_id, c.probability, c.weight,
                      c.amount_diff_cents, c.lag_days, c.name_sim, p.descricao,
                      p.contact_name, p.due_on, p.open_cents,
                      row_number() OVER (PARTITION BY c.run_id, c.line_key
                                         ORDER BY c.weight DESC, c.parcela_id) AS rank
               FROM candidate_pairs c JOIN listed_items USING (run_id, line_key)
               JOIN parcelas p ON p.parcela_id = c.parcela_id AND p.run_id = c.run_id)
           WHERE rank <= 5 ORDER BY run_id, line_key, rank"""), "run_id", "line_key")
    for item in items:
        key = (item["run_id"], item["line_key"])
        item["proposal"] = proposals.get(key, [])
        item["candidates"] = candidates.get(key, [])
    return explain_rows(store, items)


def _allocations(store: Store, run_id: str, line_key: str) -> list[Row]:
    return store.query(
        """SELECT a.*, p.descricao, p.contact_name, p.due_on, p.open_cents
           FROM allocations a
           LEFT JOIN parcelas p ON p.parcela_id = a.parcela_id AND p.run_id = a.run_id
           WHERE a.run_id = ? AND a.line_key = ? ORDER BY p.due_on, a.parcela_id""",
        [run_id, line_key])


def _pending_item(store: Store, item_id: int) -> Row:
    found = store.query("SELECT * FROM review_items WHERE item_id = ?", [item_id])
    if not found:
        raise ReviewError(f"there is no review item {item_id}; `recon review` lists the pending ones")
    item = found[0]
    if item["status"] != "pending":
        who = f" by {item['decided_by']}" if item.get("decided_by") else ""
        when = f" on {item['decided_at']:%d/%m/%Y %H:%M}" if item.get("decided_at") else ""
        raise ReviewError(f"review item {item_id} is already {item['status']}{who}{when}")
    return item


def approve(store: Store, item_id: int, *, by: str, note: str = "",
            parcela_id: str | None = None) -> Verdict:
    """Approve the item's proposal, or (with `parcela_id`) another candidate that the bank
    line pays exactly. Settled by the next run, or at once by `recon approve --apply`."""
    item = _pending_item(store, item_id)
    allocations = _allocations(store, item["run_id"], item["line_key"])
    if parcela_id is not None and [a["parcela_id"] for a in allocations] != [parcela_id]:
        allocations = [_exact_allocation(store, item, parcela_id)]
    if not allocations:
        raise ReviewError(f"review item {item_id} proposes no parcela; choose one with "
                          "--parcela (see `recon review`) or reject it")
    for allocation in allocations:
        _insert_verdict(store, item, allocation["parcela_id"], "approve", by, note, allocation)
    return _close(store, item, "approved", by, note, tuple(a["parcela_id"] for a in allocations))


def _exact_allocation(store: Store, item: Row, parcela_id: str) -> Row:
    """Another candidate than the proposal, only when the line pays its open amount exactly:
    any difference needs a split (juros, multa, desconto) that a person should make in
    Conta Azul."""
    found = store.query(
        """SELECT p.open_cents, abs(l.amount_cents) AS amount_cents, p.descricao
           FROM candidate_pairs c
           JOIN parcelas p ON p.parcela_id = c.parcela_id AND p.run_id = c.run_id
           JOIN statement_lines l ON l.line_key = c.line_key
           WHERE c.run_id = ? AND c.line_key = ? AND c.parcela_id = ?""",
        [item["run_id"], item["line_key"], parcela_id])
    if not found:
        raise ReviewError(f"parcela {parcela_id} is not a candidate of review item "
                          f"{item['item_id']}; `recon review {item['item_id']}` lists them")
    row = found[0]
    if int(row["amount_cents"]) != int(row["open_cents"]):
        raise ReviewError(
            f"the bank line's {format_brl(int(row['amount_cents']))} is not parcela "
            f"{parcela_id}'s open {format_brl(int(row['open_cents']))}; settle it by hand in "
            "Conta Azul (the difference needs juros, multa or desconto), then reject this item")
    cents = int(row["amount_cents"])
    return {"parcela_id": parcela_id, "amount_cents": cents, "gross_cents": cents,
            "multa_cents": 0, "juros_cents": 0, "desconto_cents": 0, "taxa_cents": 0}


def reject(store: Store, item_id: int, *, by: str, note: str = "",
           parcela_id: str | None = None) -> Verdict:
    """Reject the item's proposal (or one parcela of it): that pair is never proposed again."""
    item = _pending_item(store, item_id)
    proposed = [a["parcela_id"] for a in _allocations(store, item["run_id"], item["line_key"])]
    if parcela_id is not None:
        proposed = [parcela_id]
    if not proposed:
        raise ReviewError(f"review item {item_id} proposes no parcela; there is nothing to reject")
    for pid in proposed:
        _insert_verdict(store, item, pid, "reject", by, note, None)
    return _close(store, item, "rejected", by, note, tuple(proposed))


def reject_pair(store: Store, line_key: str, parcela_id: str, *, by: str, note: str) -> None:
    """A pair rejected outside the queue (an undone match): never proposed again."""
    item = {"item_id": None, "line_key": line_key, "run_id": None}
    _insert_verdict(store, item, parcela_id, "reject", by, note, None)


def _insert_verdict(store: Store, item: Row, parcela_id: str, verdict: str, by: str, note: str,
                    allocation: Row | None) -> None:
    composition = [None if allocation is None else allocation.get(name) for name in _COMPOSITION]
    expected = store.query(
        "SELECT open_cents FROM parcelas WHERE run_id = ? AND parcela_id = ?",
        [item["run_id"], parcela_id])
    store.execute(
        """INSERT INTO review_verdicts (item_id, line_key, parcela_id, verdict, decided_by,
               decided_at, run_id, note, amount_cents, gross_cents, multa_cents, juros_cents,
               desconto_cents, taxa_cents, expected_open_cents)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [item["item_id"], item["line_key"], parcela_id, verdict, by, _now(), item["run_id"],
         note or None, *composition, expected[0]["open_cents"] if expected else None])


def _close(store: Store, item: Row, status: str, by: str, note: str,
           parcela_ids: tuple[str, ...]) -> Verdict:
    store.execute(
        "UPDATE review_items SET status = ?, decided_by = ?, decided_at = ?, note = ? "
        "WHERE item_id = ?", [status, by, _now(), note or None, item["item_id"]])
    for pid in parcela_ids:
        record_event(store, f"user:{by}", status, note, line_key=item["line_key"], parcela_id=pid,
                     item_id=item["item_id"], run_id=item["run_id"])
    log.info("review item %s %s by %s", item["item_id"], status, by)
    return Verdict(item["item_id"], item["line_key"], parcela_ids,
                   "approve" if status == "approved" else "reject", by)
