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
ofxparse objects never leave this module. Passes 1 and 3 work on text alone and live in
recon.sources.ofx_text; this module runs ofxparse, pairs and builds the records.
"""

from __future__ import annotations

import html
import io
import logging
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from ofxparse import OfxParser
from ofxparse.ofxparse import AccountType

from recon.errors import InputError
from recon.money import to_cents
from recon.records import BankAccount, Reject, StatementFile, StatementLine
from recon.sources import keys

# Re-exported: the inbox and the tests reach the text pass through this module.
from recon.sources.ofx_text import (  # noqa: F401
    HINT_FILE,
    Prepared,
    RawStatement,
    RawTrn,
    for_ofxparse,
    looks_like_ofx,
    prepare,
    preprocess_ofx,
    scan_statements,
    tag_value,
)

log = logging.getLogger(__name__)

FORMAT = "ofx"
# Fields a statement-level Reject (an ofxparse warning) can name; every other Reject
# of a StatementFile stands for one STMTTRN of the file.
STATEMENT_FIELDS = frozenset({"BALAMT", "DTASOF", "DTSTART", "DTEND", "CURDEF", "STMTRS"})

_BANKTRANLIST = re.compile(r"<BANKTRANLIST\s*>", re.I)
_AMOUNT_TEXT = re.compile(r"[+-]?[\d.,]*\d[\d.,]*")
_ESCAPED_LATIN1 = re.compile(r"\\([C-F][0-9A-F])")  # Inter writes CERTID\C3O for CERTIDÃO
_BALANCE_MEMO = re.compile(r"^(?:SALDO|S A L D O)\b")  # matched on keys.fold_text(memo)

_HINT_LINE = ("Check this movement on the bank's site or app; if it is real, download the "
              "statement again or enter it by hand.")
# ofxparse's own messages, mapped to the tag they are about (first match wins).
_MESSAGE_FIELDS = {"transaction type": "TRNTYPE", "transaction name": "NAME", "transaction amount":
                   "TRNAMT", "fit id": "FITID", "industry code": "SIC", "merchant category": "SIC",
                   "check": "CHECKNUM", "user date": "DTUSER"}
_WARNING_FIELDS = {"balance amount": "BALAMT", "balance date": "DTASOF", "start date": "DTSTART",
                   "end date": "DTEND", "currency": "CURDEF"}


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
def _no_transaction_list_reason(prepared: Prepared) -> str:
    """A statement with balances only is an export choice; one without even those is broken."""
    text = prepared.text.upper()
    if "<LEDGERBAL>" in text or "<BALAMT>" in text:
        return "the file has balances but no transaction list (BANKTRANLIST)"
    if not text.rstrip().endswith("</OFX>"):
        return "the file is incomplete: it ends before its transaction list (truncated download?)"
    return "the file has no transaction list (BANKTRANLIST)"


def parse_ofx(data: bytes, filename: str) -> StatementFile:
    """Read one OFX/QFX file's bytes. Raises InputError when nothing in it can be used."""
    prepared = prepare(data, filename)
    document = _run_ofxparse(prepared, filename)
    raw_statements = scan_statements(prepared)
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


def _run_ofxparse(prepared: Prepared, filename: str) -> Any:
    try:
        with warnings.catch_warnings():
            # bs4 deprecation noise raised from inside ofxparse; nothing we can act on.
            warnings.simplefilter("ignore", DeprecationWarning)
            return OfxParser.parse(io.BytesIO(for_ofxparse(prepared)), fail_fast=False)
    except Exception as exc:  # ofxparse raises bare IndexError/AttributeError on bad structure
        raise InputError(f"the OFX structure cannot be read ({type(exc).__name__}: {exc})",
                         file=filename, hint=HINT_FILE) from exc


def _paired_accounts(document: Any, raws: list[RawStatement], filename: str
                     ) -> list[tuple[Any, RawStatement | None]]:
    """ofxparse lists bank statements, then card ones; pair each with its raw block by kind."""
    pairs: list[tuple[Any, RawStatement | None]] = []
    for account_type, kind in ((AccountType.Bank, "STMTRS"), (AccountType.CreditCard, "CCSTMTRS")):
        ofx_accounts = [a for a in document.accounts if a.type == account_type]
        raw_of_kind = [raw for raw in raws if raw.kind == kind]
        pairs += [(account, raw_of_kind[i] if i < len(raw_of_kind) else None)
                  for i, account in enumerate(ofx_accounts)]
    if not pairs:
        raise InputError("no bank or credit-card statement in the file", file=filename,
                         hint="Only bank and card statements are read (not investments). "
                         + HINT_FILE)
    # Document order, so lines and keys follow the file as the bank wrote it.
    return sorted(pairs, key=lambda pair: pair[1].start if pair[1] else sys.maxsize)


def _bank_account(ofx_account: Any) -> BankAccount:
    is_card = ofx_account.type == AccountType.CreditCard
    bank = None if is_card else (ofx_account.routing_number or None)
    return keys.bank_account(bank, ofx_account.branch_id or None, ofx_account.account_id or None)


def _judge(entry: _Entry, account: BankAccount, filename: str) -> StatementLine | Reject:
    """One STMTTRN -> a line (keyed later, over the whole file), or a dropped/rejected one."""
    raw, txn, discarded = entry.raw, entry.kept, entry.discarded
    memo = _entry_memo(entry)
    if memo and _is_balance_line(memo):
        return Reject(file=filename, line=raw.line if raw else None, field="MEMO", value=memo,
                      kind="dropped", reason="balance line, not a transaction")
    reject = partial(_rejected, raw, filename)
    if discarded is not None:
        message = _one_line(str(discarded.get("error", "")))
        return reject(_field_at_fault(message, raw), message or "the OFX reader discarded it")
    if raw is None:
        return reject("FITID", "transaction not found in the file text, so its bank date "
                      "cannot be read", value=txn.id)
    if txn is None:
        return reject("STMTTRN", "the OFX reader skipped this transaction", value=memo or None)
    return _statement_line(raw, txn, account, memo, filename)


def _entry_memo(entry: _Entry) -> str:
    if entry.kept is not None:
        return _memo(entry.kept.payee, entry.kept.memo)
    # A discarded STMTTRN only survives as ofxparse's BeautifulSoup tag.
    tag = entry.discarded.get("content") if entry.discarded else None
    return _memo(_tag_text(tag, "name"), _tag_text(tag, "memo"))


def _rejected(raw: RawTrn | None, filename: str, field: str, reason: str,
              value: str | None = None) -> Reject:
    """A rejected STMTTRN; unless told otherwise, the value shown is the bank's own text."""
    if value is None and raw is not None:
        value = raw.value(field)
    return Reject(file=filename, line=raw.line if raw else None, field=field, value=value,
                  reason=reason, hint=_HINT_LINE, kind="rejected")


def _statement_line(raw: RawTrn, txn: Any, account: BankAccount, memo: str, filename: str
                    ) -> StatementLine | Reject:
    """A paired STMTTRN whose amount and date are read from the bank's text, not ofxparse's."""
    reject = partial(_rejected, raw, filename)
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


def _field_at_fault(message: str, raw: RawTrn | None) -> str:
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


def _period(accounts: list[tuple[Any, RawStatement | None]]) -> tuple[date, date] | None:
    raws = [raw for _, raw in accounts if raw is not None]
    starts = [d for raw in raws if (d := _business_date(tag_value(raw.text, "DTSTART")))]
    ends = [d for raw in raws if (d := _business_date(tag_value(raw.text, "DTEND")))]
    return (min(starts), max(ends)) if starts and ends else None
