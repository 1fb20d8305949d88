"""The fast OFX reader: the raw blocks read directly, exactly as ofxparse would read them.

ofxparse (BeautifulSoup over a pre-pass that closes unclosed tags) costs about a
millisecond per transaction; tokenizing the same text with one regex costs a few
microseconds. This reader reports what ofxparse would, so parse_ofx returns the very
same StatementFile either way (tests/test_ofx_fast.py holds it to that on the corpus):

- a tag's value is what BeautifulSoup's `tag.contents[0]` holds: the text from the tag
  to the next `<`, entities decoded as html.parser decodes them, or the CDATA section
  right after an empty tag; an empty tag has no value, as ofxparse sees it;
- fields are looked up where BeautifulSoup's `find()` looks: first occurrence, in
  document order, inside the statement or the STMTTRN;
- a transaction ofxparse would discard is discarded here with ofxparse's own message,
  its checks made in ofxparse's order; statement warnings (empty CURDEF, BALAMT, DTASOF,
  bad DTSTART ...) likewise.

Where that emulation is not certain (comments, unclosed blocks, a `<` that is not a plain
tag, HTML entities, an empty tag that later tags would nest into, header data ofxparse
would crash on ...), `read` raises Unsupported and recon.sources.ofx falls back to
ofxparse: being unsure costs a slower read, never a different result.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Final

from recon.records import BankAccount
from recon.sources import keys
from recon.sources.ofx_text import (
    Entry,
    Prepared,
    RawStatement,
    RawTrn,
    ReadStatement,
    build_memo,
    first_line,
    ofxparse_date_error,
    ofxparse_decimal,
    ofxparse_reads_decimal,
    parse_amount,
    soup_text,
)


class Unsupported(Exception):
    """The file has a shape the fast reader cannot promise to read as ofxparse does."""


Token = tuple[str, str, str]  # ("" or "/", tag name, text up to the next "<"); CDATA: ("!", ...)
_MISSING: Final = object()  # the tag is not there at all (None: it is there, but empty)

_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9_.]*)>([^<]*)")
_TOKEN_OR_CDATA = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9_.]*)>([^<]*)"
                             r"|<!\[CDATA\[([^<\]]*)\]\]>([^<]*)")
_CLOSING = re.compile(r"</([A-Za-z0-9_.]+)>")  # what ofxparse's pre-pass counts as closed
_INTEGER = re.compile(r"[+-]?[0-9]+")
_SIMPLE_AMOUNT = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]{1,2})?")

# html.parser reads the content of these as raw text: the tags inside would vanish.
_RAW_TEXT_TAGS = frozenset({"SCRIPT", "STYLE", "TEXTAREA", "TITLE", "XMP", "PLAINTEXT"})
# Header aggregates ofxparse reads with no error handling (a crash), or accounts it makes
# out of them: never inside a statement, and checked where they are (_check_header).
_HEADER_TAGS = frozenset({"STATUS", "CODE", "SEVERITY", "MESSAGE", "TRNUID", "ORG", "FID", "FI",
                          "SONRS", "STMTTRNRS", "CCSTMTTRNRS", "ACCTINFORS"}) | _RAW_TEXT_TAGS
_NOT_IN_TRANSACTION = _HEADER_TAGS | {"LEDGERBAL", "AVAILBAL"}
_STATEMENT_FIELDS = ("CURDEF", "ACCTID", "BANKID", "BRANCHID", "ACCTTYPE", "DTSTART", "DTEND")
_READ_IN_TRANSACTION = ("TRNTYPE", "NAME", "MEMO", "TRNAMT", "DTPOSTED", "DTUSER", "FITID", "SIC",
                        "CHECKNUM")


def read(prepared: Prepared, raws: list[RawStatement]) -> list[ReadStatement]:
    """Every bank and card statement of the file, as ofxparse would read it."""
    doc = _Doc(prepared)
    bounds = [prepared.body_start] + [at for raw in raws for at in (raw.start, raw.end)]
    bounds.append(len(prepared.text))
    statements = [_statement(doc, raw) for raw in raws]
    for start, end in zip(bounds[::2], bounds[1::2], strict=True):
        _check_header(doc, _tokens(prepared.text[start:end]))
    return statements


class _Doc:
    """The text, and the tags ofxparse's pre-pass leaves open (computed only if needed)."""

    def __init__(self, prepared: Prepared) -> None:
        self.text, self.body_start = prepared.text, prepared.body_start
        self._closed: frozenset[str] | None = None

    def closed_somewhere(self, name: str) -> bool:
        if self._closed is None:
            found = _CLOSING.findall(self.text, self.body_start)
            self._closed = frozenset(tag.upper() for tag in found)
        return name in self._closed

    def expect(self, offset: int, tag: str) -> None:
        """html.parser takes `<STMTTRN >` as a tag, ofxparse's pre-pass does not."""
        if not self.text.startswith(tag, offset) and \
                self.text[offset : offset + len(tag)].upper() != tag:
            raise Unsupported(f"{tag} is not written plainly at offset {offset}")


# --- tokens and values ---
def _tokens(text: str) -> list[Token]:
    if "<!" in text:  # CDATA (comments and declarations fail the count below)
        tokens = [(m[1], m[2], m[3]) if m[4] is None else ("!", m[4], m[5])
                  for m in _TOKEN_OR_CDATA.finditer(text)]
    else:
        tokens = _TOKEN.findall(text)
    if len(tokens) != text.count("<"):
        raise Unsupported("a '<' that does not start a plain tag")
    return tokens


def _first_open(tokens: list[Token]) -> dict[str, int]:
    first: dict[str, int] = {}
    for index, (slash, name, _) in enumerate(tokens):
        if not slash:
            first.setdefault(name.upper(), index)
    return first


def _value(doc: _Doc, tokens: list[Token], index: int, closed_after: bool) -> str | None:
    """BeautifulSoup's `contents[0]` of the open tag tokens[index]; None when it is empty.

    `closed_after`: the region's next tag after its last token is a closing one.
    """
    text = tokens[index][2]
    if text:
        decoded = soup_text(text) if "&" in text else text
        if decoded is None:
            raise Unsupported("an HTML entity or an unusual character reference")
        return decoded
    following = tokens[index + 1] if index + 1 < len(tokens) else None
    if following is not None and following[0] == "!":
        return following[1]  # CDATA, never decoded
    name = tokens[index][1].upper()
    if following is not None and following[0] == "/" and following[1].upper() == name:
        return None
    if not doc.closed_somewhere(name):
        return None  # the pre-pass closes it right here
    if following is None and closed_after:
        return None
    raise Unsupported(f"<{name}> is empty and left open: the next tags would nest inside it")


def _stripped(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _date_error(text: str) -> str | None:
    try:
        return ofxparse_date_error(text)
    except ArithmeticError as exc:  # an overflow: ofxparse would crash on the file
        raise Unsupported(f"date {text!r}: {exc}") from exc


# --- transactions ---
def _transaction(doc: _Doc, trn: RawTrn, tokens: list[Token], values: dict[str, object]) -> Entry:
    """`values`: each tag's text, first occurrence. That is ofxparse's value for nearly
    every block; the others (entities, CDATA, empty tags) are read with care first."""
    if "&" in trn.text or "<!" in trn.text or "" in values.values():
        values = _careful_values(doc, tokens, values.keys())
    get = values.get
    name, memo = get("NAME", _MISSING), get("MEMO", _MISSING)
    amount, posted, fitid = get("TRNAMT", _MISSING), get("DTPOSTED", _MISSING), get("FITID", _MISSING)
    for found in (amount, posted, fitid):
        # The raw block (what ofxparse's view is paired with) reads the first line only,
        # after any leading line breaks: all of the value must be on that line.
        if isinstance(found, str) and ("\n" in (line := found.lstrip("\r\n").rstrip())
                                       or "\r" in line):
            raise Unsupported(f"line {trn.line}: FITID, TRNAMT or DTPOSTED spans lines")
    text = build_memo(_stripped(name), _stripped(memo))
    error = (get("TRNTYPE", _MISSING) is None and "Empty transaction type"
             or name is None and "Empty transaction name"
             or _amount_problem(amount)
             or _date_problem(posted, get("DTUSER", _MISSING))
             or fitid is _MISSING and "Missing FIT id (a required field)"
             or fitid is None and "Empty FIT id (a required field)"
             or get("SIC", _MISSING) is None and "Empty transaction Standard Industry Code (SIC)"
             or get("CHECKNUM", _MISSING) is None and "Empty Check (or other reference) number")
    if error:
        return Entry(trn, text, error=error)
    return Entry(trn, text, kept=True, fitid=fitid.strip(),  # type: ignore[attr-defined]
                 amount_text=amount.strip(), date_text=posted.strip())  # type: ignore[attr-defined]


def _careful_values(doc: _Doc, tokens: list[Token], present: Iterable[str]) -> dict[str, object]:
    """The values ofxparse reads (None: empty tag), for a block that needs _value's care."""
    first = _first_open(tokens)
    values: dict[str, object] = {}
    for tag in present:
        if tag in _READ_IN_TRANSACTION or tag in _STATEMENT_FIELDS:
            values[tag] = found = _value(doc, tokens, first[tag], closed_after=True)
            if tag in ("FITID", "TRNAMT", "DTPOSTED"):
                _agrees_with_raw(tokens[first[tag]][2], found, tag)
    return values


def _agrees_with_raw(text: str, found: str | None, tag: str) -> None:
    """FITID, TRNAMT and DTPOSTED are also read from the raw block (HTML-unescaped) to
    pair ofxparse's view with it, and TRNAMT and DTPOSTED from the bank's text: all must
    be the same text."""
    if found is None:
        return  # empty: the raw block reads "" as well
    if not text:
        raise Unsupported(f"<{tag}> holds CDATA")
    if "&" in text and (tag != "FITID" or html.unescape(first_line(text)).strip() != found.strip()):
        raise Unsupported(f"<{tag}> holds an entity")


def _amount_problem(amount: object) -> str | None:
    """ofxparse's complaint about TRNAMT; Unsupported if it would read another amount
    than parse_amount does (entities aside, the value is the bank's text)."""
    if amount is _MISSING:
        return "Missing Transaction Amount (a required field)"
    if amount is None:
        return "Invalid Transaction Date"  # sic: ofxparse's words for an empty TRNAMT
    if _SIMPLE_AMOUNT.fullmatch(text := amount.strip()):  # type: ignore[attr-defined]
        return None
    try:
        theirs: Decimal | int = ofxparse_decimal(text)
    except InvalidOperation:
        if text not in ("null", "-null"):
            return f"Invalid Transaction Amount: '{amount}'"
        theirs = 0
    ours = parse_amount(text)
    if ours is not None and ours != theirs:
        raise Unsupported(f"TRNAMT {text!r} read as {ours} here, {theirs} by ofxparse")
    return None


def _date_problem(posted: object, user: object) -> str | None:
    if posted is _MISSING:
        return "Missing Transaction Date (a required field)"
    if posted is None:
        return "Invalid Transaction Date"
    if (problem := _date_error(posted.strip())) is not None:  # type: ignore[attr-defined]
        return problem
    if user is None:
        return "Invalid Transaction User Date"
    return None if user is _MISSING else _date_error(user.strip())  # type: ignore[attr-defined]


def _check_pairing(entries: list[Entry]) -> None:
    """ofxparse's reader pairs a raw block with the next kept transaction first: a
    discarded block carrying that transaction's FITID would take its place there."""
    next_fitid = None
    for entry in reversed(entries):
        if entry.kept:
            next_fitid = entry.fitid
        elif next_fitid is not None and entry.raw is not None:
            raw_fitid = entry.raw.value("FITID")
            if raw_fitid is not None and html.unescape(raw_fitid).strip() == next_fitid:
                raise Unsupported(f"a discarded transaction shares FITID {next_fitid!r}")


# --- statements ---
class _Region:
    """The tags of a stretch of a statement outside its STMTTRN blocks."""

    def __init__(self, doc: _Doc, tokens: list[Token], closed_after: bool) -> None:
        self.doc, self.tokens, self.closed_after = doc, tokens, closed_after
        self.first = _first_open(tokens)
        if not _HEADER_TAGS.isdisjoint(self.first):
            raise Unsupported("header tags inside a statement")

    def value(self, tag: str) -> object:
        index = self.first.get(tag)
        return _MISSING if index is None else _value(self.doc, self.tokens, index,
                                                      self.closed_after)

    def inside(self, tag: str) -> _Region | None:
        """The region of the aggregate <tag> ... </tag>, if there is one."""
        index = self.first.get(tag)
        if index is None:
            return None
        end = _closing(self.tokens, index, tag)
        return _Region(self.doc, self.tokens[index + 1 : end], closed_after=True)


def _statement(doc: _Doc, raw: RawStatement) -> ReadStatement:
    if raw.kind == "INVSTMTRS" or not raw.closed:
        raise Unsupported(f"<{raw.kind}> is an investment statement or is never closed")
    closing = raw.text_start + len(raw.text)
    doc.expect(raw.start, f"<{raw.kind}>")
    doc.expect(closing, f"</{raw.kind}>")
    if raw.end != closing + len(raw.kind) + 3:
        raise Unsupported(f"</{raw.kind} > is not written plainly")
    head_end = raw.trns[0].start if raw.trns else closing
    regions = [_Region(doc, _tokens(doc.text[raw.text_start : head_end]), not raw.trns)]
    if raw.trns:
        regions.append(_Region(doc, _tokens(doc.text[raw.trns[-1].stop + 10 : closing]), True))
    found = {tag: regions[0].value(tag) for tag in _STATEMENT_FIELDS if tag in regions[0].first}
    wanted = set(_STATEMENT_FIELDS) - found.keys()
    entries = _entries(doc, raw, found, wanted)
    found.update((tag, regions[-1].value(tag)) for tag in wanted if tag in regions[-1].first)
    warnings = _statement_warnings(found)
    for tag in ("LEDGERBAL", "AVAILBAL"):  # ofxparse calls both "ledger"
        balance = next((r for region in regions if (r := region.inside(tag))), None)
        warnings += _balance_warnings(balance) if balance else []
    return ReadStatement(_account(raw.kind, found), raw, tuple(warnings), tuple(entries))


def _entries(doc: _Doc, raw: RawStatement, found: dict[str, object], wanted: set[str]
             ) -> list[Entry]:
    """Each STMTTRN; statement fields not found before the list are taken from the first
    block holding them, as BeautifulSoup's find() would (ACCTID of a BANKACCTTO ...)."""
    entries, text = [], doc.text
    previous_end = raw.trns[0].start if raw.trns else 0  # the head is checked elsewhere
    for trn in raw.trns:
        if not trn.closed or text.find("<", previous_end, trn.start) != -1:
            raise Unsupported(f"line {trn.line}: STMTTRN never closed, or tags between blocks")
        doc.expect(trn.start, "<STMTTRN>")
        doc.expect(trn.stop, "</STMTTRN>")
        previous_end = trn.stop + 10
        tokens = _tokens(trn.text)
        # Reversed, so that the first occurrence of a tag is the one kept.
        values = {name.upper(): value for slash, name, value in reversed(tokens) if not slash}
        if not _NOT_IN_TRANSACTION.isdisjoint(values):
            raise Unsupported(f"line {trn.line}: statement or header tags inside a STMTTRN")
        if wanted and not wanted.isdisjoint(values):
            careful = _careful_values(doc, tokens, wanted & values.keys())
            found.update(careful)
            wanted -= careful.keys()
        entries.append(_transaction(doc, trn, tokens, values))
    _check_pairing(entries)
    return entries


def _statement_warnings(found: dict[str, object]) -> list[str]:
    """ofxparse's warnings about DTSTART, DTEND and CURDEF (its words, DTEND's included)."""
    start, end = found.get("DTSTART", _MISSING), found.get("DTEND", _MISSING)
    return [message for problem, message in (
        (start is None, "Statement start date was empty"),
        (_bad_date(start), "Statement start date was not allowed"),
        (end is None, "Statement start date was empty"),
        (_bad_date(end), "Statement start date was not formatted correctly"),
        (found.get("CURDEF", _MISSING) is None, "Currency definition was empty")) if problem]


def _balance_warnings(balance: _Region) -> list[str]:
    amount, as_of = balance.value("BALAMT"), balance.value("DTASOF")
    return [message for problem, message in (
        (amount is None or isinstance(amount, str) and not ofxparse_reads_decimal(amount),
         "ledger balance amount was empty"),
        (as_of is None, "ledger balance date was empty"),
        (_bad_date(as_of), "ledger balance date was not allowed")) if problem]


def _bad_date(value: object) -> bool:
    return isinstance(value, str) and _date_error(value.strip()) is not None


def _account(kind: str, found: dict[str, object]) -> BankAccount:
    bank = None if kind == "CCSTMTRS" else _stripped(found.get("BANKID")) or None
    return keys.bank_account(bank, _stripped(found.get("BRANCHID")) or None,
                             _stripped(found.get("ACCTID")) or None)


# --- outside the statements ---
def _check_header(doc: _Doc, tokens: list[Token]) -> None:
    """ofxparse reads SONRS, STATUS, TRNUID and FI with no error handling: where it would
    crash on them (and the file be refused), or make accounts out of ACCTINFORS, leave
    the file to it."""
    for index, (slash, name, text) in enumerate(tokens):
        name = name.upper()
        if slash:
            continue
        if name == "ACCTINFORS" or name in _RAW_TEXT_TAGS:
            raise Unsupported(f"<{name}>")
        if name in ("STATUS", "SONRS"):
            _check_aggregate(tokens, index, name)
        if name in ("CODE", "SEVERITY", "MESSAGE", "TRNUID", "ORG", "FID") and (
                not text or "&" in text or name == "CODE" and not _INTEGER.fullmatch(text.strip())):
            raise Unsupported(f"<{name}> is empty or unusual")


def _check_aggregate(tokens: list[Token], index: int, name: str) -> None:
    needed = {"CODE", "SEVERITY"} if name == "STATUS" else {"CODE"}
    inner = tokens[index + 1 : _closing(tokens, index, name)]
    if needed - {tag.upper() for slash, tag, _ in inner if not slash}:
        raise Unsupported(f"<{name}> without {sorted(needed)}")


def _closing(tokens: list[Token], index: int, name: str) -> int:
    """Index of the </name> closing tokens[index]; an aggregate nested in one of its own
    name (BeautifulSoup nests them) or never closed is left to ofxparse."""
    for end in range(index + 1, len(tokens)):
        if tokens[end][1].upper() == name and tokens[end][0] != "!":
            if tokens[end][0] != "/":
                break
            return end
    raise Unsupported(f"<{name}> nested in itself or never closed")
