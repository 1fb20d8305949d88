"""Headline counts of a run, read from the store (used by the CLI, the report and exit codes)."""

from __future__ import annotations

from recon.store import Store

_COUNTS_SQL = """
SELECT
  (SELECT count(*) FROM statement_files WHERE run_id = $r AND status = 'ok') AS files_read,
  (SELECT count(*) FROM statement_files WHERE run_id = $r AND status = 'rejected') AS files_rejected,
  (SELECT count(*) FROM rejects WHERE run_id = $r AND kind = 'rejected') AS lines_rejected,
  (SELECT count(*) FROM rejects WHERE run_id = $r AND kind = 'dropped') AS lines_dropped,
  (SELECT count(*) FROM run_lines WHERE run_id = $r) AS lines,
  (SELECT count(*) FROM decisions WHERE run_id = $r AND decision = 'auto') AS auto,
  (SELECT count(*) FROM decisions WHERE run_id = $r AND decision = 'review') AS review,
  (SELECT count(*) FROM decisions WHERE run_id = $r AND decision = 'unmatched') AS unmatched,
  (SELECT count(*) FROM settlements WHERE run_id = $r AND state IN ('annotated', 'confirmed'))
      AS settled,
  (SELECT count(*) FROM settlements
      WHERE (run_id = $r AND state IN ('failed', 'skipped')) OR state IN ('intent', 'sent', 'unknown', 'undoing'))
      AS write_errors,
  (SELECT count(*) FROM statement_gaps WHERE run_id = $r) AS statement_gaps,
  (SELECT coalesce(sum(lines_read - lines_new), 0) FROM statement_files
      WHERE run_id = $r AND status = 'ok') AS lines_deduplicated
"""


def run_counts(store: Store, run_id: str) -> dict[str, int]:
    row = store.query(_COUNTS_SQL, {"r": run_id})[0]
    return {key: int(value) for key, value in row.items()}
