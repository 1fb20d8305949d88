"""The I/O edge of statement sources: files on disk in, parsed statements out.

Parsers are pure (bytes in, records out); this module reads the bytes, picks the
parser by looking at the content (banks name files `extrato.txt`, `download (3)` and
worse, so the extension proves nothing) and keeps going when one file is bad: a
nightly run must reconcile the good statements and report the bad one, not stop.
A CNAB 240 cobrança retorno in the inbox is not a statement but boleto settlements
that explain a statement's batch credits; it is read beside the statements.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from recon.errors import ConfigError, InputError
from recon.records import Reject, RetornoFile, StatementFile
from recon.sources.cnab240 import looks_like_cnab240, parse_cnab240
from recon.sources.cnab_retorno import looks_like_retorno, parse_retorno
from recon.sources.csv_layouts import PRESETS, CsvLayout, layout_from_toml
from recon.sources.csv_reader import looks_like_csv, parse_csv
from recon.sources.ofx import looks_like_ofx, parse_ofx

log = logging.getLogger(__name__)

SUPPORTED_FORMATS = ("OFX/QFX, CNAB 240 (extrato, segment E), bank CSV exports; in the inbox "
                     "also CNAB 240 cobrança retorno (boleto settlements, segments T/U)")


@dataclass(frozen=True)
class SourceOptions:
    """What the config says about reading files: a CSV layout to force, and the user's own."""

    csv_layout: CsvLayout | None = None
    csv_layouts: tuple[CsvLayout, ...] = ()


def source_options(layout_name: str, tables: Mapping[str, Mapping[str, Any]],
                   source: str = "recon.toml") -> SourceOptions:
    """From `[statements] csv_layout` and `[statements.csv_layouts.<name>]` tables."""
    custom = tuple(layout_from_toml({"name": name, **table}, source=source)
                   for name, table in tables.items())
    known = {**PRESETS, **{layout.name: layout for layout in custom}}
    if layout_name and layout_name not in known:
        raise ConfigError(f"unknown CSV layout {layout_name!r}; known: {', '.join(sorted(known))}",
                          key="statements.csv_layout", source=source)
    return SourceOptions(csv_layout=known.get(layout_name) if layout_name else None,
                         csv_layouts=custom)


def _parsers(options: SourceOptions) -> tuple[tuple[Callable[[bytes], bool],
                                                    Callable[[bytes, str], StatementFile]], ...]:
    """(content test, parser) in the order they are tried; CSV last, its test is the loosest."""
    read_csv = partial(parse_csv, layout=options.csv_layout,
                       layouts=[*PRESETS.values(), *options.csv_layouts])
    return ((looks_like_ofx, parse_ofx), (looks_like_cnab240, parse_cnab240),
            (looks_like_csv, read_csv))


@dataclass(frozen=True)
class InboxResult:
    files: tuple[StatementFile, ...]
    rejects: tuple[Reject, ...]  # whole files that could not be read, one Reject each
    retornos: tuple[RetornoFile, ...] = ()  # cobrança retornos, their line rejects inside


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", file=path.name,
                         hint="Check that the file exists and can be read.") from exc


def read_statement(path: Path, options: SourceOptions | None = None) -> StatementFile:
    """Read and parse one statement file; InputError names the file and says what to do.

    A cobrança retorno is refused here (it is no statement); `read_source` reads it.
    """
    return _parse_statement(_read_bytes(path), path.name, options)


def read_source(path: Path, options: SourceOptions | None = None) -> StatementFile | RetornoFile:
    """Read one inbox file: a cobrança retorno, else a statement (InputError if neither)."""
    data = _read_bytes(path)
    if looks_like_retorno(data):  # before the statement parsers: cnab240 would refuse it
        return parse_retorno(data, path.name)
    return _parse_statement(data, path.name, options)


def _parse_statement(data: bytes, name: str, options: SourceOptions | None) -> StatementFile:
    for matches, parse in _parsers(options or SourceOptions()):
        if matches(data):
            return parse(data, name)
    raise InputError(f"unsupported statement format; supported: {SUPPORTED_FORMATS}", file=name,
                     hint="Export the statement from the bank as OFX (also called Money or "
                     "Quicken), CNAB 240 extrato or CSV, and put it in the inbox.")


def read_inbox(folder: Path, options: SourceOptions | None = None) -> InboxResult:
    """Read every regular, non-hidden file in `folder`, by name; bad files become rejects."""
    if not folder.is_dir():
        raise InputError("inbox folder not found" if not folder.exists() else
                         "inbox is not a folder", file=str(folder),
                         hint="Create the folder or point recon at the one holding the bank "
                         "statements.")
    files: list[StatementFile] = []
    retornos: list[RetornoFile] = []
    rejects: list[Reject] = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            source = read_source(path, options)
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
        _log_read(path.name, source)
        if isinstance(source, RetornoFile):
            retornos.append(source)
        else:
            files.append(source)
    return InboxResult(files=tuple(files), rejects=tuple(rejects), retornos=tuple(retornos))


def _log_read(name: str, source: StatementFile | RetornoFile) -> None:
    if isinstance(source, RetornoFile):
        log.info("read %s: cobrança retorno, %d titles, %d liquidated, %d lines rejected", name,
                 len(source.titles), sum(title.liquidated for title in source.titles),
                 len(source.rejects))
    else:
        log.info("read %s: %d lines, %d dropped or rejected", name, len(source.lines),
                 len(source.dropped))
