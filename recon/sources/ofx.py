"""OFX/QFX statements: bytes in, a StatementFile out (pure: no file I/O).

Brazilian banks write OFX loosely (shared/notes/statements.md §0, §2, §3), so the work
is split in passes over the same text:

1. Prepare: decode by sniffing (BOM, then strict UTF-8, then cp1252: the header's
   CHARSET is wrong too often to trust) and replace everything before `<OFX>` with a
   canonical `ENCODING:UTF-8 / CHARSET:NONE` header. That one move fixes missing,
   run-together, one-line and XML headers and leading blank lines alike.
2. A raw scan finds each statement and `<STMTTRN>` block, its line in the original file
   and the bank's own DTPOSTED text. ofxparse moves `...220000[-3:BRT]` to the next day
   in UTC; the business date is the first 8 characters the bank wrote.
3. A reader says what each block holds: accounts, FITID, NAME, MEMO, and what it
   discarded or warned about. The fast reader (recon.sources.ofx_fast) reads the raw
   blocks directly and gives exactly what ofxparse would; when a file has a shape it
   cannot be sure of, it says so and ofxparse (lenient, `fail_fast=False`) reads it
   instead, its transactions paired with the raw blocks in document order, checked by
   FITID, amount and date. `parse_ofx_reference` always uses ofxparse, for comparison.
4. One record building for both: amount and date come from the bank's text, balance
   pseudo-lines are dropped, bad lines become visible Rejects, never guesses.

ofxparse objects never leave this module; the text passes live in recon.sources.ofx_text.
"""

from __future__ import annotations

import html
import io
import logging
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

from ofxparse import OfxParser
from ofxparse.ofxparse import AccountType

from recon.errors import InputError
from recon.records import Balance, BankAccount, Reject, StatementFile, StatementLine
from recon.sources import keys, ofx_fast

# Re-exported: the inbox and the tests reach the text pass through this module.
from recon.sources.ofx_text import (  # noqa: F401
    HINT_FILE,
    Entry,
    Prepared,
    RawStatement,
    RawTrn,
    ReadStatement,
    amount_cents,
    build_memo,
    business_date,
    for_ofxparse,
    is_balance_line,
    ledger_balance,
    looks_like_ofx,
    parse_amount,
    prepare,
    preprocess_ofx,
    scan_statements,
    squash,
    tag_value,
)

log = logging.getLogger(__name__)

FORMAT = "ofx"
# Fields a statement-level Reject (a reader's warning) can name; every other Reject
# of a StatementFile stands for one STMTTRN of the file.
STATEMENT_FIELDS = frozenset({"BALAMT", "DTASOF", "DTSTART", "DTEND", "CURDEF", "STMTRS"})

_BANKTRANLIST = re.compile(r"<BANKTRANLIST\s*>", re.IGNORECASE)
_HINT_LINE = ("Check this movement on the bank's site or app; if it is real, download the "
              "statement again or enter it by hand.")
# ofxparse's own messages, mapped to the tag they are about (first match wins).
_MESSAGE_FIELDS = {"transaction type": "TRNTYPE", "transaction name": "NAME", "transaction amount":
                   "TRNAMT", "fit id": "FITID", "industry code": "SIC", "merchant category": "SIC",
                   "check": "CHECKNUM", "user date": "DTUSER"}
_WARNING_FIELDS = {"balance amount": "BALAMT", "balance date": "DTASOF", "start date": "DTSTART",
                   "end date": "DTEND", "currency": "CURDEF"}


def parse_ofx(data: bytes, filename: str) -> StatementFile:
    """Read one OFX/QFX file's bytes. Raises InputError when nothing in it can be used."""
    prepared = prepare(data, filename)
    raws = scan_statements(prepared)
    try:
        statements = ofx_fast.read(prepared, raws)
        log.debug("%s: read by the fast reader", filename)
    except ofx_fast.Unsupported as why:
        log.debug("%s: read by ofxparse, the fast reader cannot be sure: %s", filename, why)
        statements = _read_with_ofxparse(prepared, raws, filename)
    return _build(prepared, filename, statements)


def parse_ofx_reference(data: bytes, filename: str) -> StatementFile:
    """parse_ofx as ofxparse reads the file: slow, and what the fast reader is held to."""
    prepared = prepare(data, filename)
    return _build(prepared, filename,
                  _read_with_ofxparse(prepared, scan_statements(prepared), filename))


# --- the ofxparse reader ---
def _ofxparse_datetime(raw: str | None) -> datetime | None:
    try:
        return OfxParser.parseOfxDateTime((raw or "").strip())
    except (ValueError, TypeError):
        return None


def _clean(value: str | None) -> str | None:
    return None if value is None else html.unescape(value).strip()


def _tag_text(tag: Any, name: str) -> str | None:
    """First text child of `name` inside a BeautifulSoup tag (ofxparse's discarded content)."""
    child = tag.find(name) if tag is not None else None
    if child is None:
        return None
    first = child.contents[0] if child.contents else ""
    return str(first).strip() if isinstance(first, str) else ""


@dataclass(frozen=True, slots=True)
class _Pair:
    raw: RawTrn | None
    kept: Any = None  # ofxparse Transaction
    discarded: dict[str, Any] | None = None


def _kept_matches(raw: RawTrn, txn: Any) -> bool:
    amount = parse_amount(raw.value("TRNAMT"))
    return (
        _clean(raw.value("FITID")) == (txn.id or "")
        and (amount is None or amount == txn.amount)
        and _ofxparse_datetime(raw.value("DTPOSTED")) == txn.date
    )


def _discarded_matches(raw: RawTrn, entry: dict[str, Any]) -> bool:
    tag = entry.get("content")
    return all(
        _clean(raw.value(field)) == _tag_text(tag, field.lower())
        for field in ("FITID", "TRNAMT", "DTPOSTED")
    )


def _find(items: Sequence[Any], start: int, matches: Callable[[Any], bool]) -> int | None:
    return next((i for i in range(start, len(items)) if matches(items[i])), None)


def _align(raws: Sequence[RawTrn], kept: Sequence[Any], discarded: Sequence[dict[str, Any]]
           ) -> list[_Pair]:
    """Merge ofxparse's kept and discarded lists back into the file's STMTTRN order.

    ofxparse walks the STMTTRNs in order, so the next raw block is normally the next
    kept or the next discarded one; a look-ahead resynchronizes if the two ever diverge,
    and whatever is left unpaired on either side is reported, never paired by guess.
    """
    pairs: list[_Pair] = []
    k = d = 0
    for raw in raws:
        if k < len(kept) and _kept_matches(raw, kept[k]):
            pairs.append(_Pair(raw, kept=kept[k]))
            k += 1
        elif d < len(discarded) and _discarded_matches(raw, discarded[d]):
            pairs.append(_Pair(raw, discarded=discarded[d]))
            d += 1
        elif (j := _find(kept, k, partial(_kept_matches, raw))) is not None:
            pairs += [_Pair(None, kept=txn) for txn in kept[k:j]]
            pairs.append(_Pair(raw, kept=kept[j]))
            k = j + 1
        elif (j := _find(discarded, d, partial(_discarded_matches, raw))) is not None:
            pairs += [_Pair(None, discarded=entry) for entry in discarded[d:j]]
            pairs.append(_Pair(raw, discarded=discarded[j]))
            d = j + 1
        else:
            pairs.append(_Pair(raw))
    pairs += [_Pair(None, kept=txn) for txn in kept[k:]]
    pairs += [_Pair(None, discarded=entry) for entry in discarded[d:]]
    return pairs


def _entry(pair: _Pair) -> Entry:
    raw, txn, discarded = pair.raw, pair.kept, pair.discarded
    if txn is not None:
        return Entry(raw, build_memo(txn.payee, txn.memo), kept=True, fitid=txn.id,
                     amount_text=raw.value("TRNAMT") if raw else None,
                     date_text=raw.value("DTPOSTED") if raw else None)
    if discarded is not None:
        # A discarded STMTTRN only survives as ofxparse's BeautifulSoup tag.
        tag = discarded.get("content")
        return Entry(raw, build_memo(_tag_text(tag, "name"), _tag_text(tag, "memo")),
                     error=str(discarded.get("error", "")))
    return Entry(raw, "")


def _read_with_ofxparse(prepared: Prepared, raws: list[RawStatement], filename: str
                        ) -> list[ReadStatement]:
    document = _run_ofxparse(prepared, filename)
    statements = []
    for ofx_account, raw in _paired_accounts(document, raws):
        statement = ofx_account.statement
        pairs = _align(raw.trns if raw else (), statement.transactions,
                       statement.discarded_entries)
        statements.append(ReadStatement(_bank_account(ofx_account), raw,
                                        tuple(str(text) for text in statement.warnings),
                                        tuple(_entry(pair) for pair in pairs)))
    return statements


def _run_ofxparse(prepared: Prepared, filename: str) -> Any:
    try:
        with warnings.catch_warnings():
            # bs4 deprecation noise raised from inside ofxparse; nothing we can act on.
            warnings.simplefilter("ignore", DeprecationWarning)
            return OfxParser.parse(io.BytesIO(for_ofxparse(prepared)), fail_fast=False)
    except Exception as exc:  # ofxparse raises bare IndexError/AttributeError on bad structure
        raise InputError(f"the OFX structure cannot be read ({type(exc).__name__}: {exc})",
                         file=filename, hint=HINT_FILE) from exc


def _paired_accounts(document: Any, raws: list[RawStatement]
                     ) -> list[tuple[Any, RawStatement | None]]:
    """ofxparse lists bank statements, then card ones; pair each with its raw block by kind."""
    pairs: list[tuple[Any, RawStatement | None]] = []
    for account_type, kind in ((AccountType.Bank, "STMTRS"), (AccountType.CreditCard, "CCSTMTRS")):
        ofx_accounts = [a for a in document.accounts if a.type == account_type]
        raw_of_kind = [raw for raw in raws if raw.kind == kind]
        pairs += [(account, raw_of_kind[i] if i < len(raw_of_kind) else None)
                  for i, account in enumerate(ofx_accounts)]
    # Document order, so lines and keys follow the file as the bank wrote it.
    return sorted(pairs, key=lambda pair: pair[1].start if pair[1] else sys.maxsize)


def _bank_account(ofx_account: Any) -> BankAccount:
    is_card = ofx_account.type == AccountType.CreditCard
    bank = None if is_card else (ofx_account.routing_number or None)
    return keys.bank_account(bank, ofx_account.branch_id or None, ofx_account.account_id or None)


# --- building the records, whichever reader read the file ---
def _build(prepared: Prepared, filename: str, statements: list[ReadStatement]) -> StatementFile:
    if not statements:
        raise InputError("no bank or credit-card statement in the file", file=filename,
                         hint="Only bank and card statements are read (not investments). "
                         + HINT_FILE)
    if not any(_BANKTRANLIST.search(s.raw.text) for s in statements if s.raw is not None):
        raise InputError(_no_transaction_list_reason(prepared), file=filename,
                         hint="Download the statement (extrato) for a period again from the bank.")
    kept: list[StatementLine] = []
    rejects: list[Reject] = []
    for statement in statements:
        line = statement.raw.line if statement.raw else None
        rejects += [_warning_reject(text, filename, line) for text in statement.warnings]
        for entry in statement.entries:
            outcome = _judge(entry, statement.account, filename)
            (kept if type(outcome) is StatementLine else rejects).append(outcome)  # type: ignore[arg-type]
    lines = _keyed(kept)
    log.info("%s: %d lines kept, %d dropped or rejected (%s)", filename, len(lines), len(rejects),
             prepared.encoding)
    balances = tuple(b for s in statements if (b := _closing_balance(s)) is not None)
    return StatementFile(path=filename, format=FORMAT, accounts=tuple(s.account for s in statements),
                         lines=lines, dropped=tuple(rejects), period=_period(statements),
                         balances=balances)


def _no_transaction_list_reason(prepared: Prepared) -> str:
    """A statement with balances only is an export choice; one without even those is broken."""
    text = prepared.text.upper()
    if "<LEDGERBAL>" in text or "<BALAMT>" in text:
        return "the file has balances but no transaction list (BANKTRANLIST)"
    if not text.rstrip().endswith("</OFX>"):
        return "the file is incomplete: it ends before its transaction list (truncated download?)"
    return "the file has no transaction list (BANKTRANLIST)"


def _keyed(kept: list[StatementLine]) -> tuple[StatementLine, ...]:
    fingerprints = keys.statement_fingerprints(
        (k.account, k.posted_on, k.amount_cents, k.memo, k.fitid) for k in kept)
    # A new record rather than dataclasses.replace, which costs twice as much per line.
    return tuple(StatementLine(k.source_file, k.source_line, k.account, k.posted_on,
                               k.amount_cents, k.memo, k.fitid, key, k.raw_date)
                 for k, key in zip(kept, keys.assign_line_keys(fingerprints), strict=True))


def _one_line(message: str) -> str:
    # ofxparse glues the whole statement into some messages ("... for <stmtrs>...").
    head = squash(message.split("<", 1)[0])
    return re.sub(r"\s+for$", "", head).rstrip(" :.") or squash(message)


def _judge(entry: Entry, account: BankAccount, filename: str) -> StatementLine | Reject:
    """One STMTTRN -> a line (keyed later, over the whole file), or a dropped/rejected one."""
    raw, memo = entry.raw, entry.memo
    if memo and is_balance_line(memo):
        return Reject(file=filename, line=raw.line if raw else None, field="MEMO", value=memo,
                      kind="dropped", reason="balance line, not a transaction")
    if entry.error is not None:
        message = _one_line(entry.error)
        return _rejected(raw, filename, _field_at_fault(message, raw),
                         message or "the OFX reader discarded it")
    if raw is None:
        return _rejected(raw, filename, "FITID", "transaction not found in the file text, so "
                         "its bank date cannot be read", value=entry.fitid)
    if not entry.kept:
        return _rejected(raw, filename, "STMTTRN", "the OFX reader skipped this transaction",
                         value=memo or None)
    return _statement_line(entry, raw, account, filename)


def _rejected(raw: RawTrn | None, filename: str, field: str, reason: str,
              value: str | None = None) -> Reject:
    """A rejected STMTTRN; unless told otherwise, the value shown is the bank's own text."""
    if value is None and raw is not None:
        value = raw.value(field)
    return Reject(file=filename, line=raw.line if raw else None, field=field, value=value,
                  reason=reason, hint=_HINT_LINE, kind="rejected")


def _statement_line(entry: Entry, raw: RawTrn, account: BankAccount, filename: str
                    ) -> StatementLine | Reject:
    """A kept STMTTRN whose amount and date are read from the bank's text, not a library's."""
    cents = amount_cents(entry.amount_text)
    if type(cents) is str:
        return _rejected(raw, filename, "TRNAMT", cents)
    posted_on = business_date(entry.date_text)
    if posted_on is None:
        return _rejected(raw, filename, "DTPOSTED", "posting date is not a valid yyyymmdd date")
    return StatementLine(filename, raw.line, account, posted_on, cents,  # type: ignore[arg-type]
                         entry.memo, (entry.fitid or "").strip() or None, "",
                         (entry.date_text or "").strip())


def _field_at_fault(message: str, raw: RawTrn | None) -> str:
    lowered = message.lower()
    for needle, field in _MESSAGE_FIELDS.items():
        if needle in lowered:
            return field
    # "Invalid Transaction Date" is also what ofxparse says for an empty TRNAMT, and bad
    # dates arrive as bare strptime messages: look at the text itself.
    if raw is not None and parse_amount(raw.value("TRNAMT")) is None:
        return "TRNAMT"
    if raw is not None and business_date(raw.value("DTPOSTED")) is not None:
        return "DTUSER"
    return "DTPOSTED"


def _warning_reject(text: str, filename: str, line: int | None) -> Reject:
    message = _one_line(str(text))
    lowered = message.lower()
    field = next((f for needle, f in _WARNING_FIELDS.items() if needle in lowered), "STMTRS")
    return Reject(file=filename, line=line, field=field, reason=message, kind="warning",
                  hint="The statement's header data is incomplete; its lines are still read.")


def _period(statements: list[ReadStatement]) -> tuple[date, date] | None:
    raws = [s.raw for s in statements if s.raw is not None]
    starts = [d for raw in raws if (d := business_date(tag_value(raw.text, "DTSTART")))]
    ends = [d for raw in raws if (d := business_date(tag_value(raw.text, "DTEND")))]
    return (min(starts), max(ends)) if starts and ends else None


def _closing_balance(statement: ReadStatement) -> Balance | None:
    """LEDGERBAL as the closing balance of its DTASOF business day, when both are readable."""
    if statement.raw is None:
        return None
    amount_text, as_of = ledger_balance(statement.raw)
    cents, on = amount_cents(amount_text), business_date(as_of)
    if type(cents) is not int or on is None:
        return None
    return Balance(account=statement.account, on=on, cents=cents, kind="closing")  # type: ignore[arg-type]
