"""What both OFX readers share: the prepared text, the raw blocks, the bank's values.

Preparing decodes by sniffing (the header's CHARSET lies too often to trust) and swaps
everything before `<OFX>` for one canonical header, so ofxparse only ever sees clean UTF-8.
Scanning finds each statement and `<STMTTRN>` block in the decoded text with its line in
the original file, because ofxparse keeps neither the line nor the bank's own date text.
The value helpers read amounts, dates and memos the same way whichever reader found them
(recon.sources.ofx_fast, or ofxparse in recon.sources.ofx); the `ofxparse_*` and
`soup_text` helpers say what ofxparse makes of a text, for the fast reader to say the
same. `Entry` and `ReadStatement` are what a reader hands to the record building.
"""

from __future__ import annotations

import codecs
import html.entities
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from recon.errors import InputError
from recon.money import to_cents
from recon.records import BankAccount
from recon.sources import keys

HINT_FILE = "Download the statement again from the bank as OFX (also called Money or Quicken)."

_CANONICAL_HEADER = (
    "OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\nSECURITY:NONE\r\nENCODING:UTF-8\r\n"
    "CHARSET:NONE\r\nCOMPRESSION:NONE\r\nOLDFILEUID:NONE\r\nNEWFILEUID:NONE\r\n\r\n"
)
_OFX_ROOT = re.compile(r"<OFX\s*>", re.IGNORECASE)
_OFX_MARKERS = re.compile(r"OFXHEADER\s*:|<\?OFX\b|<OFX\s*>", re.IGNORECASE)
_FIRST_LINE = re.compile(r"[\r\n]*([^\r\n]*)")
_STATEMENT_OPEN = re.compile(r"<(STMTRS|CCSTMTRS|INVSTMTRS)\s*>", re.IGNORECASE)
_TRN_OPEN = re.compile(r"<STMTTRN\s*>", re.IGNORECASE)
_TRN_END = re.compile(r"</STMTTRN\s*>|</BANKTRANLIST\s*>|<STMTTRN\s*>", re.IGNORECASE)
_LEDGERBAL = re.compile(r"<LEDGERBAL\s*>", re.IGNORECASE)
_LEDGERBAL_END = re.compile(r"</LEDGERBAL\s*>|<STMTTRN\s*>", re.IGNORECASE)

_AMOUNT_TEXT = re.compile(r"[+-]?[\d.,]*\d[\d.,]*")
# The shape nearly every bank writes: whole centavos without thousands separators, read
# as an int (exactly what parse_amount + to_cents would give, ten times faster).
_PLAIN_AMOUNT = re.compile(r"\s*([+-]?)(\d+)(?:[.,](\d\d?))?\s*")
_ENTITY = re.compile(r"&(#[0-9]+;|#[xX][0-9a-fA-F]+;|#|[A-Za-z][-.A-Za-z0-9]*;?)?")
_HTML_ENTITIES = frozenset(name.rstrip(";") for name in html.entities.html5)
_PLAIN_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_ESCAPED_LATIN1 = re.compile(r"\\([C-F][0-9A-F])")  # Inter writes CERTID\C3O for CERTIDÃO
_BALANCE_MEMO = re.compile(r"^(?:SALDO|S A L D O)\b")  # matched on keys.fold_text(memo)
_SIMPLE_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})(?:([0-9]{2})([0-9]{2})([0-9]{2})"
                          r"(?:\.[0-9]{1,6})?)?(?:\[[-+]?[0-9]{1,2}(?:\.[0-9]+)?:[A-Za-z]*\])?")


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
    start: int = -1  # offset of <STMTTRN> in Prepared.text
    stop: int = -1  # offset where the block ends (its terminator, when there is one)
    closed: bool = False  # ended by its own </STMTTRN>

    def value(self, tag: str) -> str | None:
        return tag_value(self.text, tag)


@dataclass(frozen=True, slots=True)
class RawStatement:
    kind: str  # STMTRS | CCSTMTRS | INVSTMTRS
    start: int
    line: int
    text: str
    trns: tuple[RawTrn, ...]
    text_start: int = -1  # offset of `text` in Prepared.text
    end: int = -1  # offset after </STMTRS> (or where the statement was cut off)
    closed: bool = False  # ended by its own closing tag


def tag_value(text: str, tag: str) -> str | None:
    """Text right after <TAG>, on its first line: closed or unclosed SGML alike."""
    found = re.search(rf"<{tag}\s*>([^<]*)", text, re.IGNORECASE)
    return None if found is None else first_line(found.group(1))


def first_line(segment: str) -> str:
    return _FIRST_LINE.match(segment).group(1)  # type: ignore[union-attr]  # always matches


class _LineCounter:
    """Line of an offset, counted forward from the last one asked (offsets only grow).

    A list of every line start costs more than the whole fast read on large files, and
    counting from the last offset is linear overall. Breaks are CRLF, LF or a lone CR.
    """

    def __init__(self, text: str) -> None:
        self.text, self.offset, self.line = text, 0, 1
        self.lone_cr = text.count("\r") != text.count("\r\n")

    def at(self, offset: int) -> int:
        text, last = self.text, self.offset
        self.line += text.count("\n", last, offset)
        if self.lone_cr:
            self.line += text.count("\r", last, offset) - text.count("\r\n", last, offset)
        self.offset = offset
        return self.line


def scan_statements(prepared: Prepared) -> list[RawStatement]:
    text = prepared.text
    lines = _LineCounter(text)
    opens = list(_STATEMENT_OPEN.finditer(text, prepared.body_start))
    statements = []
    for index, opening in enumerate(opens):
        kind = opening.group(1).upper()
        end = opens[index + 1].start() if index + 1 < len(opens) else len(text)
        closing = re.compile(rf"</{kind}\s*>", re.IGNORECASE).search(text, opening.end(), end)
        text_end = closing.start() if closing else end
        line = lines.at(opening.start())
        trns = []
        for trn in _TRN_OPEN.finditer(text, opening.end(), text_end):
            stop = _TRN_END.search(text, trn.end(), text_end)
            cut = stop.start() if stop else text_end
            closed = stop is not None and stop.group()[:3].upper() == "</S"  # not </BANKTRANLIST>
            trns.append(RawTrn(lines.at(trn.start()), text[trn.end() : cut], trn.start(), cut,
                               closed))
        statements.append(RawStatement(kind, opening.start(), line, text[opening.end() : text_end],
                                       tuple(trns), opening.end(),
                                       closing.end() if closing else end, closing is not None))
    return statements


# --- the bank's values ---
def parse_amount(text: str | None) -> Decimal | None:
    """`-560,00`, `  -560,00`, `-1.234,56`, `1,234.56`, `1.5`, `+12`, `-0` -> Decimal; else None.

    The last of two separators, or a single one used once, is the decimal point: the
    reading ofxparse makes too, so both agree on every line kept.
    """
    if text is None:
        return None
    cleaned = re.sub(r"\s+", "", text)
    if not _AMOUNT_TEXT.fullmatch(cleaned):
        return None
    sign = "-" if cleaned[0] == "-" else ""
    digits = cleaned.lstrip("+-")
    if "," in digits and "." in digits:
        point = "," if digits.rfind(",") > digits.rfind(".") else "."
        digits = digits.replace("." if point == "," else ",", "")
    elif digits.count(",") + digits.count(".") > 1:
        digits = digits.replace(",", "").replace(".", "")  # thousands only: 1.234.567
    return Decimal(sign + digits.replace(",", "."))


def amount_cents(text: str | None) -> int | str:
    """The bank's TRNAMT/BALAMT text as exact centavos, or why it cannot be used."""
    plain = _PLAIN_AMOUNT.fullmatch(text) if text is not None else None
    if plain is not None:
        sign, whole, fraction = plain.groups()
        cents = int(whole) * 100 + (int(fraction.ljust(2, "0")) if fraction else 0)
        return -cents if sign == "-" else cents
    amount = parse_amount(text)
    if amount is None:
        return "amount is not a number"
    try:
        return to_cents(amount)
    except ValueError:
        return "amount has fractions of a centavo"


@lru_cache(maxsize=4096)  # a statement repeats a few dozen dates thousands of times
def business_date(raw: str | None) -> date | None:
    head = (raw or "").strip()[:8]
    if len(head) != 8 or not head.isdigit():
        return None
    try:
        return date(int(head[:4]), int(head[4:6]), int(head[6:]))
    except ValueError:
        return None


def squash(text: str | None) -> str:
    return " ".join((text or "").split())


def _unescape_latin1(text: str) -> str:
    return _ESCAPED_LATIN1.sub(lambda m: chr(int(m.group(1), 16)), text) if "\\" in text else text


def build_memo(name: str | None, memo: str | None) -> str:
    """MEMO, else NAME; both when they say different things (Sicoob: NAME = counterparty)."""
    name, memo = squash(_unescape_latin1(name or "")), squash(_unescape_latin1(memo or ""))
    if not name or not memo:
        return memo or name
    folded_name, folded_memo = keys.fold_text(name), keys.fold_text(memo)
    if folded_name in folded_memo:
        return memo
    if folded_memo in folded_name:
        return name
    return f"{name} - {memo}"


def is_balance_line(memo: str) -> bool:
    # Folding costs more than the rest of a line: an ASCII first letter other than S
    # cannot fold into SALDO (memos arrive squashed, so that letter is not a space).
    if memo[:1].isascii() and memo[:1] not in "Ss":
        return False
    return bool(_BALANCE_MEMO.match(keys.fold_text(memo)))


def ledger_balance(raw: RawStatement) -> tuple[str | None, str | None]:
    """BALAMT and DTASOF of the statement's LEDGERBAL, as the bank wrote them.

    Searched outside the transaction list first: it follows the list, which can hold
    hundreds of thousands of blocks, and a LEDGERBAL inside a STMTTRN means nothing.
    """
    text, skip = raw.text, 0
    if raw.trns and raw.trns[-1].stop >= 0:
        skip = raw.trns[-1].stop - raw.text_start
    found = _LEDGERBAL.search(text, skip) or _LEDGERBAL.search(text, 0, max(skip, 0))
    if found is None:
        return None, None
    end = _LEDGERBAL_END.search(text, found.end())
    block = text[found.end() : end.start() if end else len(text)]
    return tag_value(block, "BALAMT"), tag_value(block, "DTASOF")


# --- how ofxparse reads a value (for the fast reader, which must say the same) ---
@lru_cache(maxsize=4096)
def ofxparse_date_error(text: str) -> str | None:
    """What ofxparse's parseOfxDateTime says about a (stripped) date text; None if it reads it.

    Its ValueError message, the reason ofxparse gives when it discards a transaction."""
    simple = _SIMPLE_DATE.fullmatch(text)
    if simple is not None and _plain_date(simple):
        return None
    try:
        _ofxparse_datetime(text)
    except ValueError as exc:
        return str(exc)
    # Anything else (an overflow) propagates: ofxparse would crash on the file too.
    return None


def _plain_date(match: re.Match[str]) -> bool:
    year, month, day, hour, minute, second = (int(g or 0) for g in match.groups())
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return 1900 <= year <= 2999


def _ofxparse_datetime(text: str) -> datetime | None:
    # OfxParser.parseOfxDateTime's steps, so its errors are the same (custom format: none).
    # It does this arithmetic in binary floats; Decimal gives the same whole minutes and
    # microseconds for every offset and fraction an OFX date can carry.
    found = re.search(r"\[(?P<tz>[-+]?\d+\.?\d*)\:\w*\]$", text)
    offset = timedelta(minutes=int(Decimal(found.group("tz")) * 60) if found else 0)
    found = re.search(r"^[0-9]*\.([0-9]{0,5})", text)
    fraction = timedelta(microseconds=int(Decimal("0." + found.group(1)) * 1_000_000)
                         if found else 0)
    try:
        return datetime.strptime(text[:14], "%Y%m%d%H%M%S") - offset + fraction
    except ValueError:
        if text[:8] == "00000000":
            return None
        return datetime.strptime(text[:8], "%Y%m%d") - offset + fraction


def ofxparse_decimal(text: str) -> Decimal:
    # OfxParser.toDecimal's steps; raises InvalidOperation where it does.
    number = text.strip()
    if re.search(r".*\..*,", number):
        number = number.replace(".", "")
    if re.search(r".*,.*\.", number):
        number = number.replace(",", "")
    if "." not in number and "," in number:
        number = number.replace(",", ".")
    return Decimal(number.replace(" ", "").replace("+", ""))


def ofxparse_reads_decimal(text: str) -> bool:
    try:
        ofxparse_decimal(text)
    except InvalidOperation:
        return False
    return True


def soup_text(text: str) -> str | None:
    """What html.parser, as BeautifulSoup drives it inside ofxparse, makes of a text:
    entities decoded, raw `&` kept; None where that is not certain (HTML entity names,
    control characters and the like, which no bank statement needs)."""
    try:
        return _ENTITY.sub(_entity, text)
    except ValueError:
        return None


def _entity(match: re.Match[str]) -> str:
    ref = match.group(1)
    if ref is None:
        return "&"  # a bare & (SGML files write them raw)
    if ref[0] == "#":
        code = -1 if ref == "#" else int(ref[2:-1], 16) if ref[1] in "xX" else int(ref[1:-1])
        # bs4 gives these as they are; controls, C1 (read as cp1252) and the rest vary.
        if 32 <= code < 127 or 160 <= code < 0xD800:
            return chr(code)
        raise ValueError(ref)
    name = ref.rstrip(";")
    if name in _PLAIN_ENTITIES:
        return _PLAIN_ENTITIES[name]
    if name in _HTML_ENTITIES:
        raise ValueError(ref)
    return "&" + name  # html.parser keeps an unknown name and drops its ';'


# --- what a reader hands over ---
@dataclass(frozen=True, slots=True)
class Entry:
    """One STMTTRN as a reader saw it, before it becomes a line or a Reject."""

    raw: RawTrn | None  # None: the reader saw a transaction the raw scan did not
    memo: str
    kept: bool = False  # the reader accepted it (else: discarded, or never seen)
    fitid: str | None = None
    error: str | None = None  # why the reader discarded it
    amount_text: str | None = None  # TRNAMT and DTPOSTED as the bank wrote them
    date_text: str | None = None


@dataclass(frozen=True, slots=True)
class ReadStatement:
    account: BankAccount
    raw: RawStatement | None
    warnings: tuple[str, ...]  # statement-level problems, in ofxparse's words
    entries: tuple[Entry, ...]
