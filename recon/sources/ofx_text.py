"""OFX text passes 1 and 3 (see recon.sources.ofx): prepare the bytes, scan the raw blocks.

Preparing decodes by sniffing (the header's CHARSET lies too often to trust) and swaps
everything before `<OFX>` for one canonical header, so ofxparse only ever sees clean UTF-8.
Scanning finds each statement and `<STMTTRN>` block in the decoded text with its line in
the original file, because ofxparse keeps neither the line nor the bank's own date text.
"""

from __future__ import annotations

import codecs
import re
from bisect import bisect_right
from dataclasses import dataclass

from recon.errors import InputError

HINT_FILE = "Download the statement again from the bank as OFX (also called Money or Quicken)."

_CANONICAL_HEADER = (
    "OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\nSECURITY:NONE\r\nENCODING:UTF-8\r\n"
    "CHARSET:NONE\r\nCOMPRESSION:NONE\r\nOLDFILEUID:NONE\r\nNEWFILEUID:NONE\r\n\r\n"
)
_OFX_ROOT = re.compile(r"<OFX\s*>", re.I)
_OFX_MARKERS = re.compile(r"OFXHEADER\s*:|<\?OFX\b|<OFX\s*>", re.I)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_STATEMENT_OPEN = re.compile(r"<(STMTRS|CCSTMTRS|INVSTMTRS)\s*>", re.I)
_TRN_OPEN = re.compile(r"<STMTTRN\s*>", re.I)
_TRN_END = re.compile(r"</STMTTRN\s*>|</BANKTRANLIST\s*>|<STMTTRN\s*>", re.I)


# --- preparing the text ---
@dataclass(frozen=True, slots=True)
class Prepared:
    text: str  # the whole file, decoded: line numbers refer to it
    body_start: int  # offset of <OFX>
    encoding: str


def looks_like_ofx(data: bytes) -> bool:
    """Whether the content (not the file name) says OFX/QFX: a header or the <OFX> root."""
    head, _ = _decode(data[:16384])
    return bool(_OFX_MARKERS.search(head))


def preprocess_ofx(data: bytes, filename: str) -> bytes:
    """The UTF-8 bytes handed to ofxparse: canonical header + the file from <OFX> on."""
    return for_ofxparse(prepare(data, filename))


def _decode(data: bytes) -> tuple[str, str]:
    # A BOM is the only encoding signal trusted: headers and XML declarations lie.
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"
    elif len(data) >= 8 and data[1:64:2].count(0) > 16:
        return data.decode("utf-16-le", errors="replace"), "utf-16-le"
    elif len(data) >= 8 and data[0:64:2].count(0) > 16:
        return data.decode("utf-16-be", errors="replace"), "utf-16-be"
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"  # cp1252 with its 5 undefined bytes


def prepare(data: bytes, filename: str) -> Prepared:
    text, encoding = _decode(data)
    if not text.strip(" \t\r\n\ufeff\x00"):
        raise InputError("the file is empty", file=filename, hint=HINT_FILE)
    root = _OFX_ROOT.search(text)
    if root is None:
        raise InputError("not an OFX statement: there is no <OFX> element", file=filename,
                         hint=HINT_FILE)
    return Prepared(text, root.start(), encoding)


def for_ofxparse(prepared: Prepared) -> bytes:
    return (_CANONICAL_HEADER + prepared.text[prepared.body_start :]).encode("utf-8")


# --- raw scan ---
@dataclass(frozen=True, slots=True)
class RawTrn:
    line: int  # 1-based line of <STMTTRN> in the original file
    text: str  # the block, up to </STMTTRN> or the next <STMTTRN>

    def value(self, tag: str) -> str | None:
        return tag_value(self.text, tag)


@dataclass(frozen=True, slots=True)
class RawStatement:
    kind: str  # STMTRS | CCSTMTRS | INVSTMTRS
    start: int
    line: int
    text: str
    trns: tuple[RawTrn, ...]


def tag_value(text: str, tag: str) -> str | None:
    """Text right after <TAG>, on its first line: closed or unclosed SGML alike."""
    found = re.search(rf"<{tag}\s*>([^<]*)", text, re.I)
    if found is None:
        return None
    return _LINE_BREAK.split(found.group(1).lstrip("\r\n"), maxsplit=1)[0]


def scan_statements(prepared: Prepared) -> list[RawStatement]:
    text = prepared.text
    line_starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]

    def line_of(offset: int) -> int:
        return bisect_right(line_starts, offset)

    opens = list(_STATEMENT_OPEN.finditer(text, prepared.body_start))
    statements = []
    for index, opening in enumerate(opens):
        kind = opening.group(1).upper()
        end = opens[index + 1].start() if index + 1 < len(opens) else len(text)
        closing = re.compile(rf"</{kind}\s*>", re.I).search(text, opening.end(), end)
        end = closing.start() if closing else end
        trns = []
        for trn in _TRN_OPEN.finditer(text, opening.end(), end):
            stop = _TRN_END.search(text, trn.end(), end)
            block = text[trn.end() : stop.start() if stop else end]
            trns.append(RawTrn(line_of(trn.start()), block))
        body = text[opening.end() : end]
        statements.append(RawStatement(kind, opening.start(), line_of(opening.start()),
                                       body, tuple(trns)))
    return statements
