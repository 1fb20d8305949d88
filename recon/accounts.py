"""Which Conta Azul conta financeira a statement account belongs to.

An explicit mapping in the config wins (by file-name glob or by bank, branch
and number); otherwise the bank code, branch and number the file carries are
compared with each conta's `codigo_banco`, `agencia` and `numero`, with or
without the check digit. No match, or more than one, rejects the file: a
line settled into the wrong account is worse than a line not settled.
"""

from __future__ import annotations

from fnmatch import fnmatch

from recon.config import AccountMapping
from recon.errors import InputError
from recon.records import BankAccount, ContaFinanceira
from recon.sources.keys import normalize_digits


def resolve_conta(
    file_name: str,
    account: BankAccount,
    contas: list[ContaFinanceira],
    mappings: tuple[AccountMapping, ...],
) -> str:
    explicit = [m for m in mappings if _mapping_applies(m, file_name, account)]
    if len(explicit) == 1:
        return explicit[0].conta_financeira_id
    if len(explicit) > 1:
        raise InputError(
            f"{len(explicit)} [[accounts]] entries in the config apply to this file",
            file=file_name, hint="Make the entries' files/bank_code/branch/number unambiguous.")
    found = [c for c in contas if c.ativo and _same_account(account, c)]
    if len(found) == 1:
        return found[0].id
    raise InputError(
        _no_match_reason(account, found),
        file=file_name,
        hint=("Add an [[accounts]] entry with conta_financeira_id to recon.toml. "
              f"Contas financeiras available: {_describe(contas)}."),
    )


def _mapping_applies(mapping: AccountMapping, file_name: str, account: BankAccount) -> bool:
    if mapping.files and not fnmatch(file_name, mapping.files):
        return False
    identity = (mapping.bank_code, mapping.branch, mapping.number)
    if not mapping.files and not any(identity):
        return False
    return all(
        wanted is None or normalize_digits(wanted) == have
        for wanted, have in zip(identity, (account.bank_code, account.branch, account.number),
                                strict=True)
    )


def _same_account(account: BankAccount, conta: ContaFinanceira) -> bool:
    if not account.number or normalize_digits(conta.numero) is None:
        return False
    if account.bank_code and normalize_digits(conta.codigo_banco) != account.bank_code:
        return False
    if account.branch and conta.agencia and normalize_digits(conta.agencia) != account.branch:
        return False
    return _same_number(account.number, normalize_digits(conta.numero) or "")


def _same_number(left: str, right: str) -> bool:
    """Equal, or equal once the check digit one side carries is dropped."""
    if left == right:
        return True
    longer, shorter = (left, right) if len(left) > len(right) else (right, left)
    return len(longer) == len(shorter) + 1 and longer[:-1].lstrip("0") == shorter.lstrip("0")


def _no_match_reason(account: BankAccount, found: list[ContaFinanceira]) -> str:
    if found:
        names = ", ".join(c.nome for c in found)
        return f"statement account {account.label()} matches several contas financeiras ({names})"
    return f"statement account {account.label()} matches no conta financeira in Conta Azul"


def _describe(contas: list[ContaFinanceira]) -> str:
    if not contas:
        return "none"
    return "; ".join(
        f"{c.nome} (id {c.id}, banco {c.codigo_banco or '?'}, agência {c.agencia or '?'}, "
        f"número {c.numero or '?'})" for c in contas)
