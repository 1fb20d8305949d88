"""Undo: delete the baixas recon created, restore the parcela's nota, record the reversal.

Refused, with the reason, where the parcela changed in Conta Azul since recon settled it
(its versao moved): a person's later work is never undone by a machine. An undone pair is
recorded as rejected, so the next nightly run does not settle it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from recon.contaazul import api
from recon.contaazul.client import ContaAzulClient
from recon.errors import ContaAzulConflict, ContaAzulError, ReviewError
from recon.records import LEDGER_SETTLED, Baixa, ParcelaDetail
from recon.review import reject_pair
from recon.settle import Ledger, may_have_landed, strip_reconciliation_note
from recon.store import Store

log = logging.getLogger(__name__)

UNDOABLE = (*LEDGER_SETTLED, "undoing")


@dataclass
class UndoResult:
    undone: list[dict[str, Any]] = field(default_factory=list)
    refused: list[tuple[dict[str, Any], str]] = field(default_factory=list)


def undo_targets(store: Store, *, run_id: str | None = None, line_key: str | None = None,
                 parcela_id: str | None = None) -> list[dict[str, Any]]:
    """The settled ledger rows of a run, a bank line or a parcela."""
    filters = {"run_id": run_id, "line_key": line_key, "parcela_id": parcela_id}
    chosen = {name: value for name, value in filters.items() if value}
    if not chosen:
        raise ReviewError("say what to undo: a RUN_ID, --line or --parcela")
    where = " AND ".join(f"{name} = ${name}" for name in chosen)
    rows = store.query(
        f"""SELECT * FROM settlements WHERE {where} AND state IN {UNDOABLE!r}
            ORDER BY updated_at""", chosen)
    if not rows:
        states = store.query(f"SELECT state, count(*) AS n FROM settlements WHERE {where} "
                             "GROUP BY state ORDER BY state", chosen)
        found = ", ".join(f"{r['n']} {r['state']}" for r in states) or "no baixa at all"
        what = ", ".join(f"{name} {value}" for name, value in chosen.items())
        raise ReviewError(f"nothing to undo for {what}: recon wrote {found}")
    return rows


async def undo(store: Store, client: ContaAzulClient, rows: list[dict[str, Any]], *,
               by: str) -> UndoResult:
    ledger = Ledger(store, actor=f"user:{by}")
    result = UndoResult()
    for row in rows:
        try:
            refusal = await _undo_one(store, ledger, client, row, by)
        except ContaAzulError as exc:
            refusal = f"Conta Azul failed: {exc}; run the undo again"
            ledger.note(row, refusal)
        if refusal:
            result.refused.append((row, refusal))
        else:
            result.undone.append(row)
    return result


async def _undo_one(store: Store, ledger: Ledger, client: ContaAzulClient,
                    row: dict[str, Any], by: str) -> str:
    detail = await api.parcela_detail(client, row["parcela_id"])
    ours = _our_baixa(detail, row)
    if row["state"] != "undoing":
        refusal = _changed_since(detail, row, ours)
        if refusal:
            return refusal
        ledger.move(row, "undoing")  # committed before the DELETE: a kill is finished by a rerun
    if ours is not None:
        try:
            await api.delete_baixa(client, ours.id)
        except ContaAzulError as exc:
            if exc.status == 404:
                pass  # gone already (a rerun after a DELETE whose answer was lost)
            elif may_have_landed(exc):
                raise
            else:
                ledger.move(row, row["state"] if row["state"] != "undoing" else "confirmed",
                            error=str(exc))
                return f"Conta Azul refused to delete baixa {ours.id}: {exc}"
    # A kill from here on leaves `undoing` with the baixa gone: a rerun restores the nota.
    await _restore_nota(client, row["parcela_id"], row["line_key"])
    reject_pair(store, row["line_key"], row["parcela_id"], by=by,
                note=f"undone (run {row['run_id']})")
    ledger.move(row, "undone", error=None if ours else "our baixa was already gone")
    return ""


def _our_baixa(detail: ParcelaDetail, row: dict[str, Any]) -> Baixa | None:
    tag = row["tag"]
    return next((b for b in detail.baixas
                 if b.id == row["baixa_id"] or b.nsu == tag or tag in (b.observacao or "")), None)


def _changed_since(detail: ParcelaDetail, row: dict[str, Any], ours: Baixa | None) -> str:
    """A person's work after ours is never undone by a machine.

    With the parcela annotated, its versao tells; settled without annotation (lean mode) the
    versao after our baixa was never read, so any baixa besides ours is taken as a change.
    """
    versao_after = row.get("versao_after")
    if versao_after is not None and detail.versao != versao_after:
        return (f"parcela {row['parcela_id']} changed in Conta Azul since recon settled it "
                f"(versao {detail.versao}, recon left {versao_after}); undo it by hand there")
    others = [b for b in detail.baixas if ours is None or b.id != ours.id]
    if versao_after is None and others:
        return (f"parcela {row['parcela_id']} has {len(others)} other baixa(s) besides recon's "
                "and recon cannot tell whether they came after; undo it by hand there")
    return ""


async def _restore_nota(client: ContaAzulClient, parcela_id: str, line_key: str) -> None:
    """The nota as it was, minus our line; one re-read and retry on 409."""
    for attempt in (1, 2):
        detail = await api.parcela_detail(client, parcela_id)
        restored = strip_reconciliation_note(detail.nota, line_key)
        if restored == detail.nota:
            return
        try:
            await api.patch_parcela(client, parcela_id, detail.versao, {"nota": restored})
            return
        except ContaAzulConflict:
            if attempt == 2:
                raise
