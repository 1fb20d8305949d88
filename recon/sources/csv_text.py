"""Bank CSV, the text passes: decoding, rows, values, and which layout a file is in.

recon.sources.csv_reader turns rows into records; this module does everything that
needs no record type, as recon.sources.ofx_text does for OFX:

* Decode by sniffing: a BOM, else strict UTF-8, else the layout's legacy code page
  (Itaú, Bradesco and Caixa export cp1252/latin-1; Nubank and C6 UTF-8); latin-1 last,
  as it reads any byte.
* Rows come from the csv module (quoted `;` and multi-line fields are legal), each with
  the physical line it starts on, so every Reject can be found with a text editor.
* The header row is found by its content, never by line number: preambles vary in
  length between exports of the same bank. Without a named layout, the layouts whose
  markers all appear in one row are the candidates, and exactly one must match:
  reading Santander's signed `Valor` as Caixa's unsigned one would be silently wrong.
* Amounts go from text to integer centavos without float; a value that cannot be read
  exactly is None (the caller rejects it), never rounded.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from itertools import islice

from recon.errors import InputError
from recon.money import to_cents
from recon.sources.csv_layouts import CsvLayout, header_key

_SCAN_ROWS = 60  # header rows sit within the first lines; preambles are under 15 lines
_DEFAULT_ENCODINGS = ("utf-8", "cp1252")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_AMOUNT = re.compile(r"(?P<lead>[-+]?)(?:R\$)?(?P<lead2>[-+]?)(?P<body>\d[\d.,]*)"
                     r"(?P<trail>[-+DC]?)", re.IGNORECASE)
HINT_LAYOUT = ("Declare the layout in recon.toml ([statements.csv_layouts.<name>]) or export "
                "the statement as OFX, then name it: [statements] csv_layout = \"<name>\".")


# --- values ---
def parse_br_amount(text: str, decimal: str = ",", thousands: str = ".") -> int | None:
    """pt-BR money text -> centavos, or None when it is not exactly an amount.

    Reads `1.234,56`, `-1.234,56`, `1.234,56-`, `(1.234,56)`, `R$ 1.234,56`, `966,1`,
    `1.234,56 D` / `C`, and `1234.56` when `decimal` is "." or the lone separator cannot
    be a thousands mark (`999.99`: BB's own tools write dots under a comma layout).
    """
    cleaned = re.sub(r"\s+", "", text.replace("\u00a0", " "))
    negative = cleaned.startswith("(") and cleaned.endswith(")")
    if negative:
        cleaned = cleaned[1:-1]
    match = _AMOUNT.fullmatch(cleaned)
    if not match:
        return None
    signs = [s.upper() for s in (match["lead"], match["lead2"], match["trail"]) if s]
    if len(signs) + negative > 1:
        return None  # `-(1,00)` or `-1,00 D`: two signs, no safe reading
    number = _canonical_number(match["body"], decimal, thousands)
    if number is None:
        return None
    try:
        cents = to_cents(Decimal(number))
    except (ValueError, InvalidOperation):
        return None
    return -cents if negative or signs in (["-"], ["D"]) else cents


def _canonical_number(body: str, decimal: str, thousands: str) -> str | None:
    """`1.234,56` -> `1234.56`; None when the separators do not form one number."""
    other = "." if decimal == "," else ","
    if decimal not in body and body.count(other) == 1 \
            and not re.fullmatch(r"\d{1,3}[.,]\d{3}", body):
        decimal, thousands = other, ""  # a lone separator before 1-2 or 4+ digits is decimal
    whole, point, fraction = body.partition(decimal)
    if point and not fraction.isdigit():
        return None
    if thousands and thousands in whole:
        if not re.fullmatch(rf"\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+", whole):
            return None
        whole = whole.replace(thousands, "")
    if not whole.isdigit():
        return None
    return f"{whole}.{fraction}" if point else whole


def parse_date(text: str, formats: Iterable[str]) -> date | None:
    """The bank's own date (a time after it, `10:00` or `T10:00`, is ignored)."""
    raw = text.strip()
    if not raw:
        return None
    for candidate in dict.fromkeys((raw, re.split(r"[ T]", raw, maxsplit=1)[0])):
        for fmt in formats:
            try:
                return datetime.strptime(candidate, fmt).date()
            except ValueError:
                continue
    return None


# --- text ---
def decode(data: bytes, encodings: Iterable[str]) -> tuple[str, str]:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace"), codec
    for encoding in (*encodings, "latin-1"):  # latin-1 decodes any byte: the last resort
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Row:
    line: int  # physical line where the row starts (1-based)
    cells: list[str]

    @property
    def blank(self) -> bool:
        return not any(cell.strip() for cell in self.cells)


def read_rows(text: str, delimiter: str, limit: int | None = None, *,
              partial: bool = False) -> list[Row]:
    """CSV rows with their first physical line. Unreadable quoting raises csv.Error naming
    the line, or with `partial` ends the rows there (enough to look for a header)."""
    # Some exporters escape quotes C-style (`\"`) instead of doubling them (RFC 4180).
    source = io.StringIO(text.replace('\\"', '""'), newline="")
    reader = csv.reader(source, delimiter=delimiter)
    rows, start = [], 1
    try:
        for cells in islice(reader, limit):
            rows.append(Row(start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        if not partial:
            raise csv.Error(f"line {start}: {exc}") from exc
    return rows


def looks_like_csv(data: bytes) -> bool:
    """Text with delimiter-separated lines, and neither OFX, XML/HTML, PDF nor CNAB 240."""
    head = data[:8192]
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False  # binary: xls, zip, pdf streams
    text, _ = decode(head, _DEFAULT_ENCODINGS)
    upper = text.lstrip().upper()
    if upper.startswith(("<", "%PDF")) or "OFXHEADER" in upper or "<OFX" in upper:
        return False  # OFX; banks' "xls" downloads that are really HTML
    lines = [line for line in text.splitlines()[:30] if line.strip()]
    if lines and all(len(line) >= 200 and line[:3].isdigit() for line in lines[:3]):
        return False  # CNAB 240: fixed-width 240-character records, bank code first
    return any(line.count(";") >= 1 or line.count(",") >= 2 or line.count("|") >= 2
               for line in lines)


# --- finding the layout and its header ---
@dataclass(frozen=True, slots=True)
class Sheet:
    layout: CsvLayout
    delimiter: str
    header_at: int  # index of the header row; -1 for headerless layouts
    names: tuple[str, ...]  # header cells as written (or the layout's columns)


def _head(text: str, delimiter: str) -> list[Row]:
    return read_rows(text, delimiter, _SCAN_ROWS, partial=True)


def _find_header(heads: dict[str, list[Row]], layout: CsvLayout) -> Sheet | None:
    wanted = {header_key(marker) for marker in layout.header_markers}
    for delimiter in layout.delimiters:
        for index, row in enumerate(heads[delimiter]):
            if wanted <= {header_key(cell) for cell in row.cells}:
                return Sheet(layout, delimiter, index, tuple(c.strip() for c in row.cells))
    return None


def _fits_headerless(heads: dict[str, list[Row]], layout: CsvLayout) -> Sheet | None:
    """A file without header fits when its first row has the layout's shape and values."""
    names = {header_key(name): i for i, name in enumerate(layout.columns)}
    amount = names.get(header_key(layout.amount_column or ""))
    for delimiter in layout.delimiters:
        first = next((row for row in heads[delimiter] if not row.blank), None)
        if first is None:
            continue
        cells = list(first.cells)
        while cells and not cells[-1].strip():
            cells.pop()
        date_cell = cells[names[header_key(layout.date_column)]] \
            if len(cells) == len(layout.columns) else ""
        if parse_date(date_cell, layout.date_formats) and amount is not None \
                and parse_br_amount(cells[amount], layout.decimal, layout.thousands) is not None:
            return Sheet(layout, delimiter, -1, layout.columns)
    return None


def detect(text: str, layouts: list[CsvLayout], filename: str) -> Sheet:
    delimiters = {d for layout in layouts for d in layout.delimiters}
    heads = {d: _head(text, d) for d in sorted(delimiters)}
    found = [s for l in layouts if not l.headerless and (s := _find_header(heads, l))]
    if not found:
        found = [s for l in layouts if l.headerless and (s := _fits_headerless(heads, l))]
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(sheet.layout.name for sheet in found)
        raise InputError(f"several CSV layouts match this file ({names})", file=filename,
                         hint=f"Name the layout in config: [statements] csv_layout = "
                         f"\"{found[0].layout.name}\" (one of {names}).")
    presets = ", ".join(layout.name for layout in layouts)
    raise InputError(f"no known CSV layout matches this file's header (layouts tried: "
                     f"{presets})", file=filename, hint=HINT_LAYOUT)


def sheet_for(text: str, layout: CsvLayout, filename: str) -> Sheet:
    heads = {d: _head(text, d) for d in layout.delimiters}
    if layout.headerless:
        return Sheet(layout, layout.delimiters[0], -1, layout.columns)
    sheet = _find_header(heads, layout)
    if sheet is None:
        raise InputError(f"the header row of CSV layout {layout.name!r} is not in the file "
                         f"(looked for the cells {', '.join(layout.header_markers)})",
                         file=filename, hint="Check [statements] csv_layout in recon.toml, "
                         "or remove it to let recon detect the layout.")
    return sheet

