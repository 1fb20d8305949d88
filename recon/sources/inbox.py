"""The I/O edge of statement sources: files on disk in, parsed statements out.

Parsers are pure (bytes in, records out); this module reads the bytes, picks the
parser by looking at the content (banks name files `extrato.txt`, `download (3)` and
worse, so the extension proves nothing) and keeps going when one file is bad: a
nightly run must reconcile the good statements and report the bad one, not stop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recon.errors import InputError
from recon.records import Reject, StatementFile
from recon.sources.cnab240 import looks_like_cnab240, parse_cnab240
from recon.sources.ofx import looks_like_ofx, parse_ofx

log = logging.getLogger(__name__)

SUPPORTED_FORMATS = "OFX/QFX, CNAB 240 (extrato, segment E)"

# (content test, parser) in the order they are tried; CSV joins last (it is the loosest test).
_PARSERS: tuple[tuple[Callable[[bytes], bool], Callable[[bytes, str], StatementFile]], ...] = (
    (looks_like_ofx, parse_ofx),
    (looks_like_cnab240, parse_cnab240),
)


@dataclass(frozen=True)
class InboxResult:
    files: tuple[StatementFile, ...]
    rejects: tuple[Reject, ...]  # whole files that could not be read, one Reject each


def read_statement(path: Path) -> StatementFile:
    """Read and parse one statement file; InputError names the file and says what to do."""
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", file=name,
                         hint="Check that the file exists and can be read.") from exc
    for matches, parse in _PARSERS:
        if matches(data):
            return parse(data, name)
    raise InputError(f"unsupported statement format; supported: {SUPPORTED_FORMATS}", file=name,
                     hint="Export the statement from the bank as OFX (also called Money or "
                     "Quicken) and put it in the inbox.")


def read_inbox(folder: Path) -> InboxResult:
    """Read every regular, non-hidden file in `folder`, by name; bad files become rejects."""
    if not folder.is_dir():
        raise InputError("inbox folder not found" if not folder.exists() else
                         "inbox is not a folder", file=str(folder),
                         hint="Create the folder or point recon at the one holding the bank "
                         "statements.")
    files: list[StatementFile] = []
    rejects: list[Reject] = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            statement = read_statement(path)
        except InputError as exc:
            log.warning("skipping statement file: %s", exc)  # the error names the file
            rejects.append(Reject(file=path.name, line=exc.line, field=exc.field, value=exc.value,
                                  reason=exc.reason, hint=exc.hint, kind="file"))
            continue
        except Exception as exc:  # a parser bug on one file must not cost the night's run
            log.exception("unexpected error reading %s", path.name)
            rejects.append(Reject(file=path.name, reason=f"unexpected error: {exc!r}",
                                  hint="Report this file to the recon maintainers.",
                                  kind="file"))
            continue
        log.info("read %s: %d lines, %d dropped or rejected", path.name, len(statement.lines),
                 len(statement.dropped))
        files.append(statement)
    return InboxResult(files=tuple(files), rejects=tuple(rejects))
