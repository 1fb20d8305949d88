"""Everything a report shows about one run, read from the store into plain rows."""

from __future__ import annotations

from typing import Any

from recon.explanations import explain_stored
from recon.store import Store
from recon.summary import run_counts

Row = dict[str, Any]


def build_context(store: Store, run_id: str) -> dict[str, Any]:
    run = store.query("SELECT * FROM runs WHERE run_id = ?", [run_id])[0]
    review = _review(store, run_id)
    return {
        "run": run,
        "counts": run_counts(store, run_id),
        "files": store.query("SELECT * FROM statement_files WHERE run_id = ? ORDER BY file", [run_id]),
        "settled": _settled(store, run_id),
        "review": review,
        "unmatched_lines": _unmatched_lines(store, run_id),
        "unpaid_parcelas": _unpaid_parcelas(store, run_id),
        "rejects": store.query(
            "SELECT * FROM rejects WHERE run_id = ? AND kind IN ('file', 'rejected', 'warning') "
            "ORDER BY file, kind = 'file' DESC, line",
            [run_id]),
        "gaps": store.query(
            """SELECT g.*, coalesce(c.nome, g.conta_financeira_id) AS conta FROM statement_gaps g
               LEFT JOIN contas c ON c.id = g.conta_financeira_id AND c.run_id = g.run_id
               WHERE g.run_id = ? ORDER BY conta, g.start_date""", [run_id]),
        "dropped": store.query(
            "SELECT file, count(*) AS n FROM rejects WHERE run_id = ? AND kind = 'dropped' "
            "GROUP BY file ORDER BY file", [run_id]),
        "write_errors": store.query(
            """SELECT s.*, l.memo, l.posted_on, p.descricao FROM settlements s
               JOIN statement_lines l USING (line_key)
               LEFT JOIN parcelas p ON p.parcela_id = s.parcela_id AND p.run_id = s.run_id
               -- unresolved rows of any run stay on every report until they are resolved
               WHERE (s.run_id = ? AND s.state IN ('failed', 'skipped'))
                  OR s.state IN ('intent', 'sent', 'unknown', 'undoing')
               ORDER BY l.posted_on""", [run_id]),
    }


def _settled(store: Store, run_id: str) -> list[Row]:
    rows = store.query(
        """SELECT d.*, l.posted_on, l.amount_cents, l.memo, l.file, s.baixa_id, s.state,
                  p.descricao, p.contact_name
           FROM decisions d JOIN statement_lines l USING (line_key)
           LEFT JOIN settlements s ON s.line_key = d.line_key AND s.parcela_id = d.parcela_id
           LEFT JOIN parcelas p ON p.parcela_id = d.parcela_id AND p.run_id = d.run_id
           WHERE d.run_id = ? AND d.decision = 'auto'
           ORDER BY l.posted_on, l.line_key""", [run_id])
    return _explained(store, run_id, rows)


def _review(store: Store, run_id: str) -> list[Row]:
    lines = store.query(
        """SELECT d.*, l.posted_on, l.amount_cents, l.memo, l.file, l.source_line, i.item_id
           FROM decisions d JOIN statement_lines l USING (line_key)
           LEFT JOIN review_items i ON i.line_key = d.line_key AND i.status = 'pending'
           WHERE d.run_id = ? AND d.decision = 'review' ORDER BY l.posted_on, d.line_key""",
        [run_id])
    for line in lines:
        line["candidates"] = store.query(
            """SELECT c.*, p.descricao, p.contact_name, p.due_on, p.open_cents
               FROM candidate_pairs c
               JOIN parcelas p ON p.parcela_id = c.parcela_id AND p.run_id = c.run_id
               WHERE c.run_id = ? AND c.line_key = ?
               ORDER BY (c.parcela_id = ?) DESC, c.weight DESC, c.parcela_id LIMIT 3""",
            [run_id, line["line_key"], line["parcela_id"]])
        line["allocations"] = store.query(
            """SELECT a.*, p.descricao, p.contact_name, p.due_on FROM allocations a
               LEFT JOIN parcelas p ON p.parcela_id = a.parcela_id AND p.run_id = a.run_id
               WHERE a.run_id = ? AND a.line_key = ? ORDER BY p.due_on, a.parcela_id""",
            [run_id, line["line_key"]])
    return _explained(store, run_id, lines)


def _unmatched_lines(store: Store, run_id: str) -> list[Row]:
    rows = store.query(
        """SELECT d.*, l.posted_on, l.amount_cents, l.memo, l.file, l.source_line
           FROM decisions d JOIN statement_lines l USING (line_key)
           WHERE d.run_id = ? AND d.decision = 'unmatched' ORDER BY l.posted_on, l.line_key""",
        [run_id])
    return _explained(store, run_id, rows)


def _explained(store: Store, run_id: str, rows: list[Row]) -> list[Row]:
    """Each decision's `reason`: its signals, the split of the amount, the runner-up."""
    for row in rows:
        row["reason"] = explain_stored(store, run_id, row)
    return rows


def _unpaid_parcelas(store: Store, run_id: str) -> list[Row]:
    """Parcelas due inside the run's window that no bank line was matched or proposed to."""
    return store.query(
        """SELECT p.* FROM parcelas p JOIN runs r ON r.run_id = p.run_id
           WHERE p.run_id = ? AND p.open_cents > 0
             AND p.due_on BETWEEN r.window_from AND r.window_to
             AND p.parcela_id NOT IN (
                 SELECT parcela_id FROM decisions WHERE run_id = p.run_id AND parcela_id IS NOT NULL)
           ORDER BY p.due_on, p.parcela_id""", [run_id])
