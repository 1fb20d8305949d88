"""What the CNAB 240 readers share: decoding, records, positions, dates, the file's kind.

recon.sources.cnab240 reads the extrato (segment E) and recon.sources.cnab_retorno the
cobrança retorno (segments T/U); both cut the same 240-character records the same way.
Positions are 1-based and inclusive, as in the FEBRABAN manual: `cut(line, 143, 150)`
is "143-150". Text is decoded one byte per character (cp1252, else latin-1; UTF-8 only
when that is what keeps every record at 240), so positions are byte positions.
"""

from __future__ import annotations

import re
from datetime import date

RECORD = 240
DIGITS = re.compile(r"[0-9]+")  # str.isdigit() also takes '²', which latin-1 text can hold
_NEWLINE = re.compile(r"\r\n|\r|\n")
_BLANK = " \t\x1a"  # \x1a: the DOS end-of-file mark some bank systems still append


def cut(line: str, start: int, end: int) -> str:
    return line[start - 1:end]


def split_records(text: str) -> list[tuple[int, str]]:
    """(1-based line number, record) for every non-blank line; spaces past 240 are dropped.

    A file with no line breaks at all (some bank systems write one long string) is cut
    into 240-character records.
    """
    raw = _NEWLINE.split(text)
    filled = [(n, line) for n, line in enumerate(raw, 1) if line.strip(_BLANK)]
    if len(filled) == 1 and len(filled[0][1]) > RECORD and len(filled[0][1]) % RECORD == 0:
        flat = filled[0][1]
        return [(i + 1, flat[i * RECORD:(i + 1) * RECORD]) for i in range(len(flat) // RECORD)]
    return [(n, line[:RECORD] if not line[RECORD:].strip(_BLANK) else line) for n, line in filled]


def decode(data: bytes) -> str:
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if text.isascii() or all(len(line) == RECORD for _, line in split_records(text)):
            return text
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def is_header_arquivo(line: str) -> bool:
    """A 240-character CNAB header arquivo: bank code, lote 0000, record type 0."""
    return len(line) == RECORD and bool(DIGITS.fullmatch(line[:3])) and line[3:8] == "00000"


def is_cobranca_retorno(records: list[tuple[int, str]]) -> bool:
    """Segments T/U, or a lote header of operation T (cobrança retorno), serviço 01."""
    readable = [line for _, line in records if len(line) >= 16]  # even a cut-short record
    return any((line[7] == "3" and line[13] in ("T", "U"))
               or (line[7] == "1" and (cut(line, 9, 9), cut(line, 10, 11)) == ("T", "01"))
               for line in readable)


def ddmmyyyy(text: str) -> date | None:
    """ddmmaaaa -> date; anything else (blank, zeros, 31/02) -> None."""
    if len(text) != 8 or not DIGITS.fullmatch(text):
        return None
    try:
        return date(int(text[4:]), int(text[2:4]), int(text[:2]))
    except ValueError:
        return None
