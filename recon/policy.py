"""Approval policies: which automatic matches may settle without a person.

The matcher decides how sure it is; the company decides what it lets a machine write.
An automatic match a policy holds back goes to review, and the report says which policy.

    [policy]
    auto_max_amount = "5000.00"   # no automatic baixa for a bank line above this
    max_lag_days = 45             # nor when it arrived more than this many days from the due date
    never_contacts = ["Banco XPTO SA", "12.345.678/0001-90"]   # names, CPF/CNPJ or contact ids
    never_categories = ["Empréstimos"]

    [[policy.limits]]             # tighter limits for one account and/or direction
    conta_financeira_id = "..."   # optional
    direction = "pagar"           # optional: receber | pagar
    auto_max_amount = "1000.00"
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from recon.errors import ConfigError
from recon.money import format_brl, to_cents
from recon.sources.keys import fold_text
from recon.store import Store

log = logging.getLogger(__name__)

DIRECTIONS = ("receber", "pagar")
_TOP_KEYS = {"auto_max_amount", "max_lag_days", "never_contacts", "never_categories", "limits"}
_LIMIT_KEYS = {"conta_financeira_id", "direction", "auto_max_amount"}


@dataclass(frozen=True, slots=True)
class AmountLimit:
    max_cents: int
    conta_financeira_id: str | None = None  # None: every account
    direction: str | None = None  # receber | pagar | None: both

    def applies(self, conta: str, kind: str) -> bool:
        return (self.conta_financeira_id in (None, conta)) and (self.direction in (None, kind))

    def label(self) -> str:
        scope = " ".join(part for part in (
            f"account {self.conta_financeira_id}" if self.conta_financeira_id else "",
            f"contas a {self.direction}" if self.direction else "") if part)
        return f"auto_max_amount {format_brl(self.max_cents)}" + (f" ({scope})" if scope else "")


@dataclass(frozen=True, slots=True)
class Policy:
    limits: tuple[AmountLimit, ...] = ()
    max_lag_days: int | None = None
    never_contacts: tuple[str, ...] = ()  # folded names, digits-only documents, or ids
    never_categories: tuple[str, ...] = ()  # folded names

    @property
    def is_empty(self) -> bool:
        return not (self.limits or self.max_lag_days is not None or self.never_contacts
                    or self.never_categories)


@dataclass(frozen=True, slots=True)
class AutoMatch:
    """What a policy looks at in one automatic allocation."""

    amount_cents: int  # the bank line's amount, positive
    conta_financeira_id: str
    kind: str  # receber | pagar
    posted_on: date
    due_on: date
    contact_id: str | None
    contact_name: str | None
    documento: str | None
    categorias: tuple[str, ...]


def parse_policy(table: Mapping[str, Any], source: str) -> Policy:
    """The [policy] table of the config; every mistake named with its key."""
    _no_unknown(table, _TOP_KEYS, "policy", source)
    limits = []
    if "auto_max_amount" in table:
        limits.append(AmountLimit(_cents(table["auto_max_amount"], "policy.auto_max_amount", source)))
    for index, entry in enumerate(table.get("limits", [])):
        key = f"policy.limits[{index}]"
        if not isinstance(entry, Mapping) or "auto_max_amount" not in entry:
            raise ConfigError("each [[policy.limits]] needs auto_max_amount", key=key, source=source)
        _no_unknown(entry, _LIMIT_KEYS, key, source)
        direction = entry.get("direction")
        if direction is not None and direction not in DIRECTIONS:
            raise ConfigError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}",
                              key=f"{key}.direction", source=source)
        conta = entry.get("conta_financeira_id")
        limits.append(AmountLimit(_cents(entry["auto_max_amount"], f"{key}.auto_max_amount", source),
                                  None if conta is None else str(conta), direction))
    lag = table.get("max_lag_days")
    if lag is not None and (not isinstance(lag, int) or lag < 0):
        raise ConfigError(f"{lag!r} is not a number of days", key="policy.max_lag_days", source=source)
    return Policy(limits=tuple(limits), max_lag_days=lag,
                  never_contacts=tuple(_contact_key(c) for c in _strings(table, "never_contacts", source)),
                  never_categories=tuple(fold_text(c) for c in _strings(table, "never_categories", source)))


def _no_unknown(table: Mapping[str, Any], known: set[str], where: str, source: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigError("unknown setting (typo?)", key=f"{where}.{key}", source=source)


def _cents(raw: Any, key: str, source: str) -> int:
    try:
        return to_cents(str(raw))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{raw!r} is not an amount in reais like \"5000.00\"", key=key,
                          source=source) from exc


def _strings(table: Mapping[str, Any], key: str, source: str) -> list[str]:
    values = table.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError("expected a list of strings", key=f"policy.{key}", source=source)
    return values


def _contact_key(text: str) -> str:
    digits = "".join(ch for ch in text if ch.isdigit())
    looks_like_document = len(digits) in (11, 14) and not any(ch.isalpha() for ch in text)
    return digits if looks_like_document else fold_text(text)


def hold_reason(policy: Policy, match: AutoMatch) -> str:
    """Which policy keeps this match from settling on its own ('' when none does)."""
    for limit in policy.limits:
        if limit.applies(match.conta_financeira_id, match.kind) and match.amount_cents > limit.max_cents:
            return f"{format_brl(match.amount_cents)} is above {limit.label()}"
    lag = abs((match.posted_on - match.due_on).days)
    if policy.max_lag_days is not None and lag > policy.max_lag_days:
        return f"paid {lag} days from the due date, beyond max_lag_days {policy.max_lag_days}"
    names = {match.contact_id or "", fold_text(match.contact_name or ""), match.documento or ""}
    if policy.never_contacts and names & set(policy.never_contacts):
        return f"contact {match.contact_name or match.contact_id} is in never_contacts"
    category = next((c for c in match.categorias if fold_text(c) in policy.never_categories), None)
    if category:
        return f"category {category} is in never_categories"
    return ""


def hold_back(store: Store, run_id: str, policy: Policy) -> int:
    """Turn the run's automatic decisions a policy forbids into review items; returns how many."""
    if policy.is_empty:
        return 0
    held: dict[str, str] = {}
    for row in store.query(
        """SELECT d.line_key, abs(l.amount_cents) AS amount_cents, l.conta_financeira_id,
                  l.posted_on, p.kind, p.due_on, p.contact_id, p.contact_name, p.categorias,
                  (SELECT any_value(documento) FROM pessoas s
                   WHERE s.run_id = p.run_id AND s.id = p.contact_id) AS documento
           FROM decisions d JOIN allocations a USING (run_id, line_key)
           JOIN statement_lines l USING (line_key)
           JOIN parcelas p ON p.parcela_id = a.parcela_id AND p.run_id = a.run_id
           WHERE d.run_id = ? AND d.decision = 'auto'
           ORDER BY d.line_key, a.parcela_id""", [run_id]):
        reason = hold_reason(policy, AutoMatch(
            amount_cents=int(row["amount_cents"]), conta_financeira_id=row["conta_financeira_id"],
            kind=row["kind"], posted_on=row["posted_on"], due_on=row["due_on"],
            contact_id=row["contact_id"], contact_name=row["contact_name"],
            documento=row["documento"],
            categorias=tuple(c for c in (row["categorias"] or "").split("; ") if c)))
        if reason and row["line_key"] not in held:
            held[row["line_key"]] = reason
    for line_key, reason in held.items():
        store.execute(
            "UPDATE decisions SET decision = 'review', reason_code = 'policy', detail = ? "
            "WHERE run_id = ? AND line_key = ?", [f"held by policy: {reason}", run_id, line_key])
    if held:
        log.info("run %s: %d automatic matches held back by policy", run_id, len(held))
    return len(held)
