"""OFX/QFX statements: bytes in, a StatementFile out (pure: no file I/O).

Brazilian banks write OFX loosely (shared/notes/statements.md §0, §2, §3), so the work
is split in three passes over the same text:

1. Prepare: decode by sniffing (BOM, then strict UTF-8, then cp1252: the header's
   CHARSET is wrong too often to trust) and replace everything before `<OFX>` with a
   canonical `ENCODING:UTF-8 / CHARSET:NONE` header. That one move fixes missing,
   run-together, one-line and XML headers and leading blank lines alike; ofxparse
   only ever sees clean UTF-8.
2. ofxparse (lenient, `fail_fast=False`) reads the structure: accounts, FITID, NAME,
   MEMO, amounts, and what it discarded or warned about.
3. A raw scan of the same text finds each `<STMTTRN>` block, its line in the original
   file and the bank's own DTPOSTED text. ofxparse moves `...220000[-3:BRT]` to the
   next day in UTC; the business date is the first 8 characters the bank wrote.

Raw blocks and ofxparse transactions are paired in document order, checked by FITID,
amount and date; anything that does not pair becomes a visible Reject, never a guess.
ofxparse objects never leave this module.
"""

from __future__ import annotations

import codecs
import html
import io
import logging
import re
import sys
import warnings
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import partial
from decimal import Decimal
from typing import Any

from ofxparse import OfxParser
from ofxparse.ofxparse import AccountType

from recon.errors import InputError
from recon.money import to_cents
from recon.records import BankAccount, Reject, StatementFile, StatementLine
from recon.sources import keys

log = logging.getLogger(__name__)

FORMAT = "ofx"
# Fields a statement-level Reject (an ofxparse warning) can name; every other Reject
# of a StatementFile stands for one STMTTRN of the file.
STATEMENT_FIELDS = frozenset({"BALAMT", "DTASOF", "DTSTART", "DTEND", "CURDEF", "STMTRS"})

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
_BANKTRANLIST = re.compile(r"<BANKTRANLIST\s*>", re.I)
_AMOUNT_TEXT = re.compile(r"[+-]?[\d.,]*\d[\d.,]*")
_ESCAPED_LATIN1 = re.compile(r"\\([C-F][0-9A-F])")  # Inter writes CERTID\C3O for CERTIDÃO
_BALANCE_MEMO = re.compile(r"^(?:SALDO|S A L D O)\b")  # matched on keys.fold_text(memo)

_HINT_LINE = ("Check this movement on the bank's site or app; if it is real, download the "
              "statement again or enter it by hand.")
_HINT_FILE = "Download the statement again from the bank as OFX (also called Money or Quicken)."
# ofxparse's own messages, mapped to the tag they are about (first match wins).
_MESSAGE_FIELDS = {"transaction type": "TRNTYPE", "transaction name": "NAME", "transaction amount":
                   "TRNAMT", "fit id": "FITID", "industry code": "SIC", "merchant category": "SIC",
                   "check": "CHECKNUM", "user date": "DTUSER"}
_WARNING_FIELDS = {"balance amount": "BALAMT", "balance date": "DTASOF", "start date": "DTSTART",
                   "end date": "DTEND", "currency": "CURDEF"}


# --- preparing the text ---
@dataclass(frozen=True, slots=True)
class _Prepared:
    text: str  # the whole file, decoded: line numbers refer to it
    body_start: int  # offset of <OFX>
    encoding: str


def looks_like_ofx(data: bytes) -> bool:
    """Whether the content (not the file name) says OFX/QFX: a header or the <OFX> root."""
    head, _ = _decode(data[:16384])
    return bool(_OFX_MARKERS.search(head))


def preprocess_ofx(data: bytes, filename: str) -> bytes:
    """The UTF-8 bytes handed to ofxparse: canonical header + the file from <OFX> on."""
    return _for_ofxparse(_prepare(data, filename))


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


def _prepare(data: bytes, filename: str) -> _Prepared:
    text, encoding = _decode(data)
    if not text.strip(" \t\r\n\ufeff\x00"):
        raise InputError("the file is empty", file=filename, hint=_HINT_FILE)
    root = _OFX_ROOT.search(text)
    if root is None:
        raise InputError("not an OFX statement: there is no <OFX> element", file=filename,
                         hint=_HINT_FILE)
    return _Prepared(text, root.start(), encoding)


def _for_ofxparse(prepared: _Prepared) -> bytes:
    return (_CANONICAL_HEADER + prepared.text[prepared.body_start :]).encode("utf-8")


# --- raw scan ---
@dataclass(frozen=True, slots=True)
class _RawTrn:
    line: int  # 1-based line of <STMTTRN> in the original file
    text: str  # the block, up to </STMTTRN> or the next <STMTTRN>

    def value(self, tag: str) -> str | None:
        return _tag_value(self.text, tag)


@dataclass(frozen=True, slots=True)
class _RawStatement:
    kind: str  # STMTRS | CCSTMTRS | INVSTMTRS
    start: int
    line: int
    text: str
    trns: tuple[_RawTrn, ...]


def _tag_value(text: str, tag: str) -> str | None:
    """Text right after <TAG>, on its first line: closed or unclosed SGML alike."""
    found = re.search(rf"<{tag}\s*>([^<]*)", text, re.I)
    if found is None:
        return None
    return _LINE_BREAK.split(found.group(1).lstrip("\r\n"), maxsplit=1)[0]


def _scan_statements(prepared: _Prepared) -> list[_RawStatement]:
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
            trns.append(_RawTrn(line_of(trn.start()), block))
        body = text[opening.end() : end]
        statements.append(_RawStatement(kind, opening.start(), line_of(opening.start()),
                                        body, tuple(trns)))
    return statements


# --- values ---
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


def _business_date(raw: str | None) -> date | None:
    head = (raw or "").strip()[:8]
    if len(head) != 8 or not head.isdigit():
        return None
    try:
        return date(int(head[:4]), int(head[4:6]), int(head[6:]))
    except ValueError:
        return None


def _ofxparse_datetime(raw: str | None) -> datetime | None:
    try:
        return OfxParser.parseOfxDateTime((raw or "").strip())
    except (ValueError, TypeError):
        return None


def _clean(value: str | None) -> str | None:
    return None if value is None else html.unescape(value).strip()


def _squash(text: str | None) -> str:
    return " ".join((text or "").split())


def _memo(name: str | None, memo: str | None) -> str:
    """MEMO, else NAME; both when they say different things (Sicoob: NAME = counterparty)."""
    name, memo = (_squash(_ESCAPED_LATIN1.sub(lambda m: chr(int(m.group(1), 16)), t or ""))
                  for t in (name, memo))
    if not name or not memo:
        return memo or name
    folded_name, folded_memo = keys.fold_text(name), keys.fold_text(memo)
    if folded_name in folded_memo:
        return memo
    if folded_memo in folded_name:
        return name
    return f"{name} - {memo}"


def _is_balance_line(memo: str) -> bool:
    return bool(_BALANCE_MEMO.match(keys.fold_text(memo)))


def _tag_text(tag: Any, name: str) -> str | None:
    """First text child of `name` inside a BeautifulSoup tag (ofxparse's discarded content)."""
    child = tag.find(name) if tag is not None else None
    if child is None:
        return None
    first = child.contents[0] if child.contents else ""
    return str(first).strip() if isinstance(first, str) else ""


def _one_line(message: str) -> str:
    # ofxparse glues the whole statement into some messages ("... for <stmtrs>...").
    head = _squash(message.split("<", 1)[0])
    return re.sub(r"\s+for$", "", head).rstrip(" :.") or _squash(message)


# --- pairing ---
@dataclass(frozen=True, slots=True)
class _Entry:
    raw: _RawTrn | None
    kept: Any = None  # ofxparse Transaction
    discarded: dict[str, Any] | None = None


def _kept_matches(raw: _RawTrn, txn: Any) -> bool:
    amount = parse_amount(raw.value("TRNAMT"))
    return (
        _clean(raw.value("FITID")) == (txn.id or "")
        and (amount is None or amount == txn.amount)
        and _ofxparse_datetime(raw.value("DTPOSTED")) == txn.date
    )


def _discarded_matches(raw: _RawTrn, entry: dict[str, Any]) -> bool:
    tag = entry.get("content")
    return all(
        _clean(raw.value(field)) == _tag_text(tag, field.lower())
        for field in ("FITID", "TRNAMT", "DTPOSTED")
    )


def _find(items: Sequence[Any], start: int, matches: Callable[[Any], bool]) -> int | None:
    return next((i for i in range(start, len(items)) if matches(items[i])), None)


def _align(raws: Sequence[_RawTrn], kept: Sequence[Any], discarded: Sequence[dict[str, Any]]
           ) -> list[_Entry]:
    """Merge ofxparse's kept and discarded lists back into the file's STMTTRN order.

    ofxparse walks the STMTTRNs in order, so the next raw block is normally the next
    kept or the next discarded one; a look-ahead resynchronizes if the two ever diverge,
    and whatever is left unpaired on either side is reported, never paired by guess.
    """
    entries: list[_Entry] = []
    k = d = 0
    for raw in raws:
        if k < len(kept) and _kept_matches(raw, kept[k]):
            entries.append(_Entry(raw, kept=kept[k]))
            k += 1
        elif d < len(discarded) and _discarded_matches(raw, discarded[d]):
            entries.append(_Entry(raw, discarded=discarded[d]))
            d += 1
        elif (j := _find(kept, k, partial(_kept_matches, raw))) is not None:
            entries += [_Entry(None, kept=txn) for txn in kept[k:j]]
            entries.append(_Entry(raw, kept=kept[j]))
            k = j + 1
        elif (j := _find(discarded, d, partial(_discarded_matches, raw))) is not None:
            entries += [_Entry(None, discarded=entry) for entry in discarded[d:j]]
            entries.append(_Entry(raw, discarded=discarded[j]))
            d = j + 1
        else:
            entries.append(_Entry(raw))
    entries += [_Entry(None, kept=txn) for txn in kept[k:]]
    entries += [_Entry(None, discarded=entry) for entry in discarded[d:]]
    return entries


# --- building records ---
def _no_transaction_list_reason(prepared: _Prepared) -> str:
    """A statement with balances only is an export choice; one without even those is broken."""
    text = prepared.text.upper()
    if "<LEDGERBAL>" in text or "<BALAMT>" in text:
        return "the file has balances but no transaction list (BANKTRANLIST)"
    if not text.rstrip().endswith("</OFX>"):
        return "the file is incomplete: it ends before its transaction list (truncated download?)"
    return "the file has no transaction list (BANKTRANLIST)"


def parse_ofx(data: bytes, filename: str) -> StatementFile:
    """Read one OFX/QFX file's bytes. Raises InputError when nothing in it can be used."""
    prepared = _prepare(data, filename)
    document = _run_ofxparse(prepared, filename)
    raw_statements = _scan_statements(prepared)
    accounts = _paired_accounts(document, raw_statements, filename)
    if not any(_BANKTRANLIST.search(raw.text) for _, raw in accounts if raw is not None):
        raise InputError(_no_transaction_list_reason(prepared), file=filename,
                         hint="Download the statement (extrato) for a period again from the bank.")

    bank_accounts: list[BankAccount] = []
    kept: list[StatementLine] = []
    rejects: list[Reject] = []
    for ofx_account, raw in accounts:
        account = _bank_account(ofx_account)
        bank_accounts.append(account)
        statement = ofx_account.statement
        line = raw.line if raw else None
        rejects += [_warning_reject(text, filename, line) for text in statement.warnings]
        raw_trns = raw.trns if raw else ()
        for entry in _align(raw_trns, statement.transactions, statement.discarded_entries):
            outcome = _judge(entry, account, filename)
            if isinstance(outcome, StatementLine):
                kept.append(outcome)
            else:
                rejects.append(outcome)

    fingerprints = [keys.line_fingerprint(k.account, k.posted_on, k.amount_cents, k.memo, k.fitid)
                    for k in kept]
    keyed = zip(kept, keys.assign_line_keys(fingerprints), strict=True)
    lines = tuple(replace(line, line_key=key) for line, key in keyed)
    log.info("%s: %d lines kept, %d dropped or rejected (%s)", filename, len(lines), len(rejects),
             prepared.encoding)
    return StatementFile(path=filename, format=FORMAT, accounts=tuple(bank_accounts), lines=lines,
                         dropped=tuple(rejects), period=_period(accounts))


def _run_ofxparse(prepared: _Prepared, filename: str) -> Any:
    try:
        with warnings.catch_warnings():
            # bs4 deprecation noise raised from inside ofxparse; nothing we can act on.
            warnings.simplefilter("ignore", DeprecationWarning)
            return OfxParser.parse(io.BytesIO(_for_ofxparse(prepared)), fail_fast=False)
    except Exception as exc:  # ofxparse raises bare IndexError/AttributeError on bad structure
        raise InputError(f"the OFX structure cannot be read ({type(exc).__name__}: {exc})",
                         file=filename, hint=_HINT_FILE) from exc


def _paired_accounts(document: Any, raws: list[_RawStatement], filename: str
                     ) -> list[tuple[Any, _RawStatement | None]]:
    """ofxparse lists bank statements, then card ones; pair each with its raw block by kind."""
    pairs: list[tuple[Any, _RawStatement | None]] = []
    for account_type, kind in ((AccountType.Bank, "STMTRS"), (AccountType.CreditCard, "CCSTMTRS")):
        ofx_accounts = [a for a in document.accounts if a.type == account_type]
        raw_of_kind = [raw for raw in raws if raw.kind == kind]
        pairs += [(account, raw_of_kind[i] if i < len(raw_of_kind) else None)
                  for i, account in enumerate(ofx_accounts)]
    if not pairs:
        raise InputError("no bank or credit-card statement in the file", file=filename,
                         hint="Only bank and card statements are read (not investments). "
                         + _HINT_FILE)
    # Document order, so lines and keys follow the file as the bank wrote it.
    return sorted(pairs, key=lambda pair: pair[1].start if pair[1] else sys.maxsize)


def _bank_account(ofx_account: Any) -> BankAccount:
    is_card = ofx_account.type == AccountType.CreditCard
    bank = None if is_card else (ofx_account.routing_number or None)
    return keys.bank_account(bank, ofx_account.branch_id or None, ofx_account.account_id or None)


def _judge(entry: _Entry, account: BankAccount, filename: str) -> StatementLine | Reject:
    """One STMTTRN -> a line (keyed later, over the whole file), or a dropped/rejected one."""
    raw, txn, discarded = entry.raw, entry.kept, entry.discarded
    line = raw.line if raw else None
    if txn is not None:
        memo = _memo(txn.payee, txn.memo)
    else:
        tag = discarded.get("content") if discarded else None
        memo = _memo(_tag_text(tag, "name"), _tag_text(tag, "memo"))
    if memo and _is_balance_line(memo):
        return Reject(file=filename, line=line, field="MEMO", value=memo, kind="dropped",
                      reason="balance line, not a transaction")

    def reject(field: str, reason: str, value: str | None = None) -> Reject:
        if value is None and raw is not None:
            value = raw.value(field)
        return Reject(file=filename, line=line, field=field, value=value, reason=reason,
                      hint=_HINT_LINE, kind="rejected")

    if discarded is not None:
        message = _one_line(str(discarded.get("error", "")))
        return reject(_field_at_fault(message, raw), message or "the OFX reader discarded it")
    if raw is None:
        return reject("FITID", "transaction not found in the file text, so its bank date "
                      "cannot be read", value=txn.id)
    if txn is None:
        return reject("STMTTRN", "the OFX reader skipped this transaction", value=memo or None)

    amount = parse_amount(raw.value("TRNAMT"))
    if amount is None:
        return reject("TRNAMT", "amount is not a number")
    try:
        cents = to_cents(amount)
    except ValueError:
        return reject("TRNAMT", "amount has fractions of a centavo")
    posted_on = _business_date(raw.value("DTPOSTED"))
    if posted_on is None:
        return reject("DTPOSTED", "posting date is not a valid yyyymmdd date")
    return StatementLine(source_file=filename, source_line=raw.line, account=account,
                         posted_on=posted_on, amount_cents=cents, memo=memo,
                         fitid=(txn.id or "").strip() or None, line_key="",
                         raw_date=(raw.value("DTPOSTED") or "").strip())


def _field_at_fault(message: str, raw: _RawTrn | None) -> str:
    lowered = message.lower()
    for needle, field in _MESSAGE_FIELDS.items():
        if needle in lowered:
            return field
    # "Invalid Transaction Date" is also what ofxparse says for an empty TRNAMT, and bad
    # dates arrive as bare strptime messages: look at the text itself.
    if raw is not None and parse_amount(raw.value("TRNAMT")) is None:
        return "TRNAMT"
    if raw is not None and _business_date(raw.value("DTPOSTED")) is not None:
        return "DTUSER"
    return "DTPOSTED"


def _warning_reject(text: str, filename: str, line: int | None) -> Reject:
    message = _one_line(str(text))
    lowered = message.lower()
    field = next((f for needle, f in _WARNING_FIELDS.items() if needle in lowered), "STMTRS")
    return Reject(file=filename, line=line, field=field, reason=message, kind="warning",
                  hint="The statement's header data is incomplete; its lines are still read.")


def _period(accounts: list[tuple[Any, _RawStatement | None]]) -> tuple[date, date] | None:
    raws = [raw for _, raw in accounts if raw is not None]
    starts = [d for raw in raws if (d := _business_date(_tag_value(raw.text, "DTSTART")))]
    ends = [d for raw in raws if (d := _business_date(_tag_value(raw.text, "DTEND")))]
    return (min(starts), max(ends)) if starts and ends else None
