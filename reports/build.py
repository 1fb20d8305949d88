"""Write a run's report.html and exceptions.csv under the report folder."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from recon.store import Store
from reports.context import build_context
from reports.exports import exception_rows, to_csv
from reports.render import render_html

log = logging.getLogger(__name__)


def write_reports(store: Store, run_id: str, report_dir: Path) -> tuple[Path, Path]:
    context = build_context(store, run_id)
    folder = report_dir / run_id
    html_path = folder / "report.html"
    csv_path = folder / "exceptions.csv"
    _write_atomically(html_path, render_html(context))
    _write_atomically(csv_path, to_csv(exception_rows(context)))
    log.info("report written to %s", html_path)
    return html_path, csv_path


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
