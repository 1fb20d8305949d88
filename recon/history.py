"""The audit trail, read back: per run, per parcela, per bank line.

What was decided (by which rule or person), what was written to Conta Azul, and what it
answered, in the order it happened. Everything comes from the store: `runs`, `decisions`,
`review_verdicts` and the append-only `events` the ledger writes on every move.
"""

from __future__ import annotations

from typing import Any

from recon.store import Store

Row = dict[str, Any]


def recent_runs(store: Store, limit: int = 20) -> list[Row]:
    return store.query(
        """SELECT r.run_id, coalesce(r.command, 'run') AS command, r.started_at, r.finished_at,
                  r.status, r.window_from, r.window_to, r.dry_run, r.error,
                  (SELECT count(*) FROM decisions d WHERE d.run_id = r.run_id
                                                      AND d.decision = 'auto') AS auto,
                  (SELECT count(*) FROM decisions d WHERE d.run_id = r.run_id
                                                      AND d.decision = 'review') AS review,
                  (SELECT count(*) FROM decisions d WHERE d.run_id = r.run_id
                                                      AND d.decision = 'unmatched') AS unmatched,
                  (SELECT count(*) FROM events e WHERE e.run_id = r.run_id
                                                   AND e.event = 'confirmed') AS baixas
           FROM runs r ORDER BY r.started_at DESC LIMIT ?""", [limit])


def decisions_of(store: Store, *, run_id: str | None = None, line_key: str | None = None,
                 parcela_id: str | None = None) -> list[Row]:
    """Decisions, and for a parcela also the batch/split allocations that named it."""
    where, params = _filter(run_id=run_id, line_key=line_key)
    if parcela_id:
        where.append("(d.parcela_id = $parcela_id OR EXISTS (SELECT 1 FROM allocations a "
                     "WHERE a.run_id = d.run_id AND a.line_key = d.line_key "
                     "AND a.parcela_id = $parcela_id))")
        params["parcela_id"] = parcela_id
    return store.query(
        f"""SELECT r.started_at, d.run_id, d.line_key, d.parcela_id, d.decision, d.kind,
                   d.score, d.reason_code, d.detail, l.posted_on, l.amount_cents, l.memo
            FROM decisions d JOIN runs r USING (run_id) JOIN statement_lines l USING (line_key)
            WHERE {' AND '.join(where) or 'true'}
            ORDER BY r.started_at, d.line_key""", params)


def events_of(store: Store, *, run_id: str | None = None, line_key: str | None = None,
              parcela_id: str | None = None) -> list[Row]:
    where, params = _filter(run_id=run_id, line_key=line_key, parcela_id=parcela_id, alias="e")
    return store.query(
        f"""SELECT e.happened_at, e.run_id, e.actor, e.line_key, e.parcela_id, e.item_id,
                   e.event, e.detail
            FROM events e WHERE {' AND '.join(where) or 'true'}
            ORDER BY e.happened_at""", params)


def _filter(alias: str = "d", **values: str | None) -> tuple[list[str], dict[str, Any]]:
    chosen = {name: value for name, value in values.items() if value}
    return [f"{alias}.{name} = ${name}" for name in chosen], chosen
