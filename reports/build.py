"""Write a run's report.html, exceptions.csv and exceptions.json under the report folder."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from recon.store import Store
from reports.context import MAX_ROWS, build_context
from reports.exports import exception_rows, to_csv, to_json
from reports.render import render_html

log = logging.getLogger(__name__)


def write_reports(store: Store, run_id: str, report_dir: Path, language: str = "pt",
                  max_rows: int = MAX_ROWS) -> tuple[Path, Path]:
    context = build_context(store, run_id, language, max_rows)
    folder = report_dir / run_id
    html_path = folder / "report.html"
    csv_path = folder / "exceptions.csv"
    rows = exception_rows(context)
    _write_atomically(html_path, render_html(context))
    _write_atomically(csv_path, to_csv(rows))
    _write_atomically(folder / "exceptions.json", to_json(rows, run_id))
    log.info("report written to %s", html_path)
    return html_path, csv_path


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
