"""Parsed statements into the store: account mapping, dedupe, coverage, balances, gaps.

A file whose account maps to no conta financeira is rejected whole (a line
settled into the wrong account is worse than one not settled). Lines are kept
once by their key, so an overlapping download adds nothing twice; what each
file covered and the balances it stated are kept across runs, which is what
lets a later run say that the statements of an account have a hole.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from recon import load
from recon.accounts import resolve_conta
from recon.config import Config
from recon.continuity import StatedBalance, balance_gaps, coverage_gaps, end_of_day_balance
from recon.errors import InputError
from recon.records import (
    BankAccount,
    ContaFinanceira,
    Reject,
    RetornoFile,
    RetornoTitle,
    StatementFile,
)
from recon.sources.inbox import InboxResult
from recon.store import Store


def load_statements(store: Store, run_id: str, inbox: InboxResult,
                    contas: list[ContaFinanceira], config: Config) -> None:
    rejects: list[Reject] = list(inbox.rejects)
    for reject in inbox.rejects:
        _record_file(store, run_id, reject.file, None, "rejected", reason=reject.reason)
    for statement in inbox.files:
        rejects.extend(statement.dropped)
        try:
            conta_ids = contas_of(statement, contas, config)
        except InputError as exc:
            rejects.append(Reject(file=exc.file, reason=exc.reason, hint=exc.hint, kind="file"))
            _record_file(store, run_id, statement.path, statement, "rejected", reason=str(exc))
            continue
        new = sum(_load_account(store, run_id, statement, account, conta_id)
                  for account, conta_id in conta_ids.items())
        _record_file(store, run_id, statement.path, statement, "ok", lines_new=new)
    for retorno in inbox.retornos:
        rejects.extend(retorno.rejects)
        try:
            load_retorno(store, run_id, retorno, contas, config)
        except InputError as exc:
            rejects.append(Reject(file=exc.file, reason=exc.reason, hint=exc.hint, kind="file"))
            _record_retorno(store, run_id, retorno, "rejected", reason=str(exc))
    store.insert_frame("rejects", load.rejects_frame(rejects, run_id))


def load_retorno(store: Store, run_id: str, retorno: RetornoFile,
                 contas: list[ContaFinanceira], config: Config) -> None:
    """A cobrança retorno's titles, kept against the conta financeira its account maps to,
    as a statement's lines are (a retorno of an unknown account is refused whole: its
    titles would explain another account's credits)."""
    name = Path(retorno.path).name
    accounts = [_retorno_account(t) for t in retorno.titles]
    conta_ids = {account: resolve_conta(name, account, contas, config.accounts)
                 for account in set(accounts)}
    new = store.insert_frame("retorno_titles", load.retorno_frame(
        retorno.titles, [conta_ids[a] for a in accounts], run_id), ignore_existing=True)
    _record_retorno(store, run_id, retorno, "ok", lines_new=new)


def _retorno_account(title: RetornoTitle) -> BankAccount:
    return BankAccount(title.bank_code, title.agencia or None, title.conta or None)


def _record_retorno(store: Store, run_id: str, retorno: RetornoFile, status: str, *,
                    reason: str | None = None, lines_new: int = 0) -> None:
    accounts = sorted({_retorno_account(t).label() for t in retorno.titles})
    _file_row(store, run_id, retorno.path, "cnab240-retorno", ", ".join(accounts),
              len(retorno.titles), lines_new, 0, len(retorno.rejects), status, reason)


def contas_of(statement: StatementFile, contas: list[ContaFinanceira],
              config: Config) -> dict[BankAccount, str]:
    name = Path(statement.path).name
    accounts = statement.accounts or tuple({ln.account for ln in statement.lines})
    return {account: resolve_conta(name, account, contas, config.accounts) for account in accounts}


def _load_account(store: Store, run_id: str, statement: StatementFile, account: BankAccount,
                  conta_id: str) -> int:
    lines = [ln for ln in statement.lines if ln.account == account]
    new = store.insert_frame("statement_lines", load.lines_frame(lines, conta_id, run_id),
                             ignore_existing=True)
    name = Path(statement.path).name
    dates = [ln.posted_on for ln in lines]
    period = statement.period or ((min(dates), max(dates)) if dates else None)
    if period:
        store.execute("INSERT OR IGNORE INTO coverage VALUES (?, ?, ?, ?, ?)",
                      [conta_id, name, period[0], period[1], run_id])
    for balance in statement.balances:
        # A balance dated after the period (OFX DTASOF is often the download time) may
        # include movements the file does not carry: it cannot prove continuity.
        if balance.account == account and (period is None or balance.on <= period[1]):
            on, cents = end_of_day_balance(balance.on, balance.cents, balance.kind)
            store.execute("INSERT OR IGNORE INTO balances VALUES (?, ?, ?, ?, ?)",
                          [conta_id, on, cents, name, run_id])
    return new


def _record_file(store: Store, run_id: str, path: str, statement: StatementFile | None,
                 status: str, *, reason: str | None = None, lines_new: int = 0) -> None:
    dropped = [d for d in statement.dropped if d.kind == "dropped"] if statement else []
    rejected = [d for d in statement.dropped if d.kind == "rejected"] if statement else []
    _file_row(store, run_id, path, statement.format if statement else None,
              ", ".join(a.label() for a in statement.accounts) if statement else None,
              len(statement.lines) if statement else 0, lines_new, len(dropped),
              len(rejected), status, reason)


def _file_row(store: Store, run_id: str, path: str, file_format: str | None,
              accounts: str | None, read: int, new: int, dropped: int, rejected: int,
              status: str, reason: str | None) -> None:
    """One `statement_files` row: what a file was, held and brought, and how it went."""
    store.execute(
        "INSERT INTO statement_files VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?)",
        [run_id, Path(path).name, file_format, accounts, read, new, dropped, rejected,
         status, reason])


def record_gaps(store: Store, run_id: str, window: tuple[date, date]) -> int:
    """Check every account that has statements; store what does not add up or is not covered."""
    balances = [StatedBalance(r["conta_financeira_id"], r["on_date"], int(r["cents"]), r["file"])
                for r in store.query("SELECT * FROM balances")]
    lines = [(r["conta_financeira_id"], r["posted_on"], int(r["amount_cents"])) for r in store.query(
        "SELECT conta_financeira_id, posted_on, amount_cents FROM statement_lines")]
    gaps = balance_gaps(balances, lines)
    periods: dict[str, list[tuple[date, date]]] = {}
    for row in store.query("SELECT * FROM coverage"):
        periods.setdefault(row["conta_financeira_id"], []).append(
            (row["period_start"], row["period_end"]))
    for conta, covered in periods.items():
        gaps += coverage_gaps(conta, covered, window)
    for gap in gaps:
        store.execute("INSERT INTO statement_gaps VALUES (?, ?, ?, ?, ?, ?, ?)",
                      [run_id, gap.conta, gap.start, gap.end, gap.kind, gap.difference_cents,
                       gap.detail])
    return len(gaps)
