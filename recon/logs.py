"""Where log records go: stderr at the level asked for (`-v`, `-q`), and a rotating file.

The file keeps INFO and up whatever the console shows, so a quiet cron job still leaves the
night's story on disk. Nothing logged carries a secret (URLs are sanitized, headers never
logged), and httpx's own request lines stay off: they would only repeat ours.
"""

from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def console_level(verbosity: int) -> int:
    """-q, -qq: errors only; default: warnings; -v: info; -vv: debug; -qqq: nothing."""
    return {-2: logging.ERROR, -1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        verbosity, logging.DEBUG if verbosity > 1 else logging.CRITICAL)


def configure_logging(verbosity: int, log_file: Path | None = None, *,
                      max_bytes: int = 5_000_000, backups: int = 5) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(console_level(verbosity))
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = RotatingFileHandler(log_file, maxBytes=max_bytes, backupCount=backups,
                                      encoding="utf-8")
        to_file.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
        handlers.append(to_file)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(min(handler.level for handler in handlers))
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
