"""Everything a report shows about one run, read from the store into plain rows."""

from __future__ import annotations

from typing import Any

from recon.explanations import explain_rows, grouped
from recon.store import Store
from recon.summary import run_counts

Row = dict[str, Any]


PARTIAL_KINDS = ("partial", "split")  # money arrived, but not what the parcela asks for
HISTORY_RUNS = 14  # runs shown in the auto-match-rate chart
MAX_ROWS = 500  # rows the page shows per section (report.max_rows)


def build_context(store: Store, run_id: str, language: str = "pt",
                  max_rows: int = MAX_ROWS) -> dict[str, Any]:
    run = store.query("SELECT * FROM runs WHERE run_id = ?", [run_id])[0]
    suggestions = _review(store, run_id, language)
    return {
        "run": run,
        "language": language,
        "max_rows": max_rows,
        "counts": run_counts(store, run_id),
        "amounts": _amounts(store, run_id),
        "files": store.query("SELECT * FROM statement_files WHERE run_id = ? ORDER BY file", [run_id]),
        "settled": _settled(store, run_id, language, max_rows),
        "review": [r for r in suggestions if r.get("kind") not in PARTIAL_KINDS],
        "partials": [r for r in suggestions if r.get("kind") in PARTIAL_KINDS],
        "unmatched_lines": _unmatched_lines(store, run_id, language),
        "unpaid_parcelas": _unpaid_parcelas(store, run_id),
        "retorno_titles": store.query(
            "SELECT * FROM retorno_results WHERE run_id = ? AND status <> 'matched' "
            "ORDER BY credited_on, file, source_line", [run_id]),
        "auto_rate_history": _auto_rate_history(store, run_id),
        "unexplained_by_account": _unexplained_by_account(store, run_id),
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


def _settled(store: Store, run_id: str, language: str, shown: int) -> list[Row]:
    # One row per baixa: a batch credit settles several parcelas, each with its own amount
    # (signed as the line is) and state.
    rows = store.query(
        """SELECT d.* EXCLUDE (parcela_id), coalesce(a.parcela_id, d.parcela_id) AS parcela_id,
                  l.posted_on, CASE WHEN a.amount_cents IS NULL THEN l.amount_cents
                                    ELSE sign(l.amount_cents) * a.amount_cents END
                      AS amount_cents,
                  l.memo, l.file, s.baixa_id, s.state, p.descricao, p.contact_name
           FROM decisions d JOIN statement_lines l USING (line_key)
           LEFT JOIN allocations a ON a.run_id = d.run_id AND a.line_key = d.line_key
           LEFT JOIN settlements s ON s.line_key = d.line_key
                                  AND s.parcela_id = coalesce(a.parcela_id, d.parcela_id)
           LEFT JOIN parcelas p ON p.parcela_id = coalesce(a.parcela_id, d.parcela_id)
                               AND p.run_id = d.run_id
           WHERE d.run_id = ? AND d.decision = 'auto'
           ORDER BY l.posted_on, l.line_key, p.parcela_id""", [run_id])
    # Only the rows the page shows are explained: no export carries settled lines.
    explain_rows(store, rows[:shown], language)
    return rows


def _review(store: Store, run_id: str, language: str) -> list[Row]:
    lines = store.query(
        """SELECT d.*, l.posted_on, l.amount_cents, l.memo, l.file, l.source_line, i.item_id
           FROM decisions d JOIN statement_lines l USING (line_key)
           LEFT JOIN review_items i ON i.line_key = d.line_key AND i.status = 'pending'
           WHERE d.run_id = ? AND d.decision = 'review' ORDER BY l.posted_on, d.line_key""",
        [run_id])
    # Each line's best three candidates (its proposal first) and its allocations, read for
    # every line to review at once.
    candidates = grouped(store.query(
        """SELECT * EXCLUDE (rank) FROM (
               SELECT c.*, p.descricao, p.contact_name, p.due_on, p.open_cents,
                      row_number() OVER (
                          PARTITION BY c.line_key
                          ORDER BY (c.parcela_id IS NOT DISTINCT FROM d.parcela_id) DESC,
                                   c.weight DESC, c.parcela_id) AS rank
               FROM decisions d
               JOIN candidate_pairs c ON c.run_id = d.run_id AND c.line_key = d.line_key
               JOIN parcelas p ON p.parcela_id = c.parcela_id AND p.run_id = c.run_id
               WHERE d.run_id = ? AND d.decision = 'review')
           WHERE rank <= 3 ORDER BY line_key, rank""", [run_id]), "line_key")
    allocations = grouped(store.query(
        """SELECT a.*, p.descricao, p.contact_name, p.due_on FROM allocations a
           JOIN decisions d ON d.run_id = a.run_id AND d.line_key = a.line_key
           LEFT JOIN parcelas p ON p.parcela_id = a.parcela_id AND p.run_id = a.run_id
           WHERE a.run_id = ? AND d.decision = 'review'
           ORDER BY a.line_key, p.due_on, a.parcela_id""", [run_id]), "line_key")
    for line in lines:
        line["candidates"] = candidates.get((line["line_key"],), [])
        line["allocations"] = allocations.get((line["line_key"],), [])
    return explain_rows(store, lines, language)


def _unmatched_lines(store: Store, run_id: str, language: str) -> list[Row]:
    rows = store.query(
        """SELECT d.*, l.posted_on, l.amount_cents, l.memo, l.file, l.source_line
           FROM decisions d JOIN statement_lines l USING (line_key)
           WHERE d.run_id = ? AND d.decision = 'unmatched' ORDER BY l.posted_on, l.line_key""",
        [run_id])
    return explain_rows(store, rows, language)


def _unpaid_parcelas(store: Store, run_id: str) -> list[Row]:
    """Parcelas due by the end of the run's window (overdue ones included, as far back as the
    pull reached) that no bank line was matched or proposed to, oldest first."""
    return store.query(
        """SELECT p.*, r.window_to - p.due_on AS days_overdue
           FROM parcelas p JOIN runs r ON r.run_id = p.run_id
           WHERE p.run_id = ? AND p.open_cents > 0 AND p.due_on <= r.window_to
             AND p.parcela_id NOT IN (
                 SELECT parcela_id FROM decisions WHERE run_id = p.run_id AND parcela_id IS NOT NULL)
             AND p.parcela_id NOT IN (
                 SELECT parcela_id FROM allocations WHERE run_id = p.run_id)
             AND p.parcela_id NOT IN (
                 SELECT parcela_id FROM settlements WHERE state IN ('confirmed', 'annotated'))
           ORDER BY p.due_on, p.parcela_id""", [run_id])


def _amounts(store: Store, run_id: str) -> Row:
    """Headline money: what was read, settled, left to review and left unexplained."""
    return store.query(
        """SELECT coalesce(sum(abs(l.amount_cents)), 0) AS lines_cents,
                  coalesce(sum(abs(l.amount_cents)) FILTER (WHERE d.decision = 'auto'), 0)
                      AS auto_cents,
                  coalesce(sum(abs(l.amount_cents)) FILTER (WHERE d.decision = 'review'), 0)
                      AS review_cents,
                  coalesce(sum(abs(l.amount_cents)) FILTER (WHERE d.decision = 'unmatched'), 0)
                      AS unmatched_cents
           FROM run_lines r JOIN statement_lines l USING (line_key)
           LEFT JOIN decisions d ON d.run_id = r.run_id AND d.line_key = r.line_key
           WHERE r.run_id = ?""", [run_id])[0]


def _auto_rate_history(store: Store, run_id: str) -> list[Row]:
    """Share of bank lines settled automatically, for this run and the runs before it."""
    return store.query(
        f"""SELECT run_id, window_to, auto, lines FROM (
               SELECT r.run_id, r.window_to, r.started_at,
                      (SELECT count(*) FROM decisions d
                       WHERE d.run_id = r.run_id AND d.decision = 'auto') AS auto,
                      (SELECT count(*) FROM run_lines l WHERE l.run_id = r.run_id) AS lines
               FROM runs r
               WHERE coalesce(r.command, 'run') = 'run' AND r.status <> 'failed'
                 AND r.started_at <= (SELECT started_at FROM runs WHERE run_id = ?)
               ORDER BY r.started_at DESC LIMIT {HISTORY_RUNS})
           WHERE lines > 0 ORDER BY started_at""", [run_id])


def _unexplained_by_account(store: Store, run_id: str) -> list[Row]:
    """Bank money no parcela explains yet (to review or unmatched), per account."""
    return store.query(
        """SELECT coalesce(c.nome, l.conta_financeira_id) AS conta,
                  sum(abs(l.amount_cents)) AS cents, count(*) AS lines
           FROM decisions d JOIN statement_lines l USING (line_key)
           LEFT JOIN (SELECT id, any_value(nome) AS nome FROM contas WHERE run_id = ?
                      GROUP BY id) c ON c.id = l.conta_financeira_id
           WHERE d.run_id = ? AND d.decision IN ('review', 'unmatched')
           GROUP BY ALL ORDER BY cents DESC""", [run_id, run_id])
