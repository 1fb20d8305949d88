"""Write-back: plan, then apply; a baixa per confirmed match and a PATCH recording it, exactly once.

A run first writes its whole plan to the ledger (`settlements`, one `intent` row per baixa
with its composition), then applies it. Conta Azul has no idempotency key, so each write is
committed before the HTTP call (`sent`) and after it (`confirmed` with the baixa id and the
new versao, then `annotated`). Each baixa carries our tag in `observacao` and `nsu`; a write
whose outcome is unknown (timeout, 5xx, a kill) is resolved by reading the parcela's baixas
for that tag before anything is sent again. Every move is also an `events` row (the audit).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from recon.aio import gather_all
from recon.contaazul import api
from recon.contaazul.client import ContaAzulClient
from recon.dates import SAO_PAULO
from recon.errors import ContaAzulConflict, ContaAzulError, ContaAzulTransportError
from recon.money import format_brl, from_cents
from recon.progress import Progress, Silent
from recon.records import LEDGER_PLANNED, LEDGER_UNRESOLVED, BankAccount, ParcelaDetail
from recon.sources.keys import fold_text
from recon.store import Store

log = logging.getLogger(__name__)

TAG_PREFIX = "recon:"
PENDING_STATES = LEDGER_UNRESOLVED
REPLANNABLE_STATES = ("failed", "abandoned", "undone")  # no baixa of ours exists for these rows
# A row that says our baixa exists, or may exist, is never walked back to a state that
# would let the pair be planned (and posted) again.
ALLOWED_MOVES: dict[str, frozenset[str]] = {
    "intent": frozenset({"sent", "confirmed", "skipped", "failed", "abandoned"}),
    "sent": frozenset({"confirmed", "unknown", "failed", "abandoned"}),
    "unknown": frozenset({"confirmed", "abandoned"}),
    "confirmed": frozenset({"annotated", "undoing"}),
    "annotated": frozenset({"undoing"}),
    "undoing": frozenset({"undone", "confirmed", "annotated"}),
    "undone": frozenset(),
    "skipped": frozenset(),
    "failed": frozenset(),
    "abandoned": frozenset(),
}

_METHODS = (  # first match wins; values from the baixa request enum
    (re.compile(r"\bPIX\b"), "PIX_PAGAMENTO_INSTANTANEO"),
    (re.compile(r"\b(TED|DOC|TEV|TRANSF\w*)\b"), "TRANSFERENCIA_BANCARIA"),
    (re.compile(r"\b(BOLETO|TITULO|TIT|COBRANCA|COB)\b"), "BOLETO_BANCARIO"),
    (re.compile(r"\b(DEP|DEPOSITO)\b"), "DEPOSITO_BANCARIO"),
    (re.compile(r"\bCHEQUE\b"), "CHEQUE"),
)


@dataclass(frozen=True, slots=True)
class PlannedBaixa:
    line_key: str
    parcela_id: str
    run_id: str
    amount_cents: int
    data_pagamento: date
    conta_financeira_id: str
    metodo_pagamento: str | None
    memo: str
    bank_label: str
    # How the amount paid splits (amount = gross + multa + juros - desconto - taxa); gross is
    # what the baixa settles of the parcela. None: the whole amount is principal.
    gross_cents: int | None = None
    multa_cents: int = 0
    juros_cents: int = 0
    desconto_cents: int = 0
    taxa_cents: int = 0
    source: str = "auto"  # auto: a rule decided; approved: a person did (item_id)
    item_id: int | None = None
    expected_open_cents: int | None = None  # the parcela's open amount when it was matched

    @property
    def settles_cents(self) -> int:
        return self.amount_cents if self.gross_cents is None else self.gross_cents

    @property
    def tag(self) -> str:
        return f"{TAG_PREFIX}{self.line_key}"


def payment_method(memo: str) -> str | None:
    """The baixa's metodo_pagamento, read from the bank memo; None when it does not say."""
    folded = fold_text(memo)
    for pattern, method in _METHODS:
        if pattern.search(folded):
            return method
    return None


_PLAN_COLUMNS = """a.line_key, a.parcela_id, a.amount_cents, a.gross_cents, a.multa_cents,
    a.juros_cents, a.desconto_cents, a.taxa_cents, l.posted_on AS data_pagamento,
    l.conta_financeira_id, l.memo, l.bank_code, l.branch, l.account_number"""


def plan_auto_settlements(store: Store, run_id: str) -> list[PlannedBaixa]:
    """One baixa per allocation of an automatic decision, with the amount's composition."""
    rows = store.query(
        f"""SELECT {_PLAN_COLUMNS}, p.open_cents AS expected_open_cents
           FROM decisions d JOIN allocations a USING (run_id, line_key)
           JOIN statement_lines l USING (line_key)
           LEFT JOIN parcelas p ON p.parcela_id = a.parcela_id AND p.run_id = a.run_id
           WHERE d.run_id = $run_id AND d.decision = 'auto'
           ORDER BY l.posted_on, a.line_key, a.parcela_id""",
        {"run_id": run_id},
    )
    return [_plan(row, run_id, "auto") for row in rows]


def plan_approved_settlements(store: Store, run_id: str) -> list[PlannedBaixa]:
    """One baixa per pair a person approved that has no live ledger row yet."""
    rows = store.query(
        f"""SELECT {_PLAN_COLUMNS}, a.expected_open_cents, a.item_id
           FROM review_verdicts a JOIN statement_lines l USING (line_key)
           JOIN pair_verdicts v ON v.line_key = a.line_key AND v.parcela_id = a.parcela_id
                                AND v.decided_at = a.decided_at  -- the verdict that stands
           WHERE a.verdict = 'approve' AND v.verdict = 'approve'
             AND NOT EXISTS (SELECT 1 FROM settlements s
                             WHERE s.line_key = a.line_key AND s.parcela_id = a.parcela_id
                               AND s.state NOT IN {REPLANNABLE_STATES!r})
           ORDER BY l.posted_on, a.line_key, a.parcela_id""")
    return [_plan(row, run_id, "approved") for row in rows]


def _plan(row: dict[str, Any], run_id: str, source: str) -> PlannedBaixa:
    """A plan from a row of a decision's allocation or of the ledger (joined with its
    statement line). Ledger rows keep the payment method they were planned with; ledger rows
    of older versions lack the composition: their whole amount was principal."""
    def cents(name: str) -> int:
        return int(row.get(name) or 0)

    expected = row.get("expected_open_cents")
    method = row["metodo_pagamento"] if "metodo_pagamento" in row else payment_method(row["memo"])
    return PlannedBaixa(
        line_key=row["line_key"], parcela_id=row["parcela_id"], run_id=run_id,
        amount_cents=int(row["amount_cents"]), data_pagamento=row["data_pagamento"],
        conta_financeira_id=row["conta_financeira_id"], metodo_pagamento=method,
        memo=row["memo"],
        bank_label=BankAccount(row["bank_code"], row["branch"], row["account_number"]).label(),
        gross_cents=None if row.get("gross_cents") is None else int(row["gross_cents"]),
        multa_cents=cents("multa_cents"), juros_cents=cents("juros_cents"),
        desconto_cents=cents("desconto_cents"), taxa_cents=cents("taxa_cents"),
        source=source, item_id=row.get("item_id"),
        expected_open_cents=None if expected is None else int(expected),
    )


def ledger_plans(store: Store, states: tuple[str, ...]) -> list[tuple[dict[str, Any], PlannedBaixa]]:
    """Ledger rows in these states with the plans they were written from, in one query
    (a plan of many thousand baixas is read back at once, not a line at a time)."""
    marks = ", ".join("?" for _ in states)
    rows = store.query(
        f"""SELECT s.*, l.memo, l.bank_code, l.branch, l.account_number
            FROM settlements s JOIN statement_lines l USING (line_key)
            WHERE s.state IN ({marks}) ORDER BY s.updated_at""", list(states))
    return [(row, _plan(row, row["run_id"], row.get("source") or "auto")) for row in rows]


def write_plan(store: Store, plans: list[PlannedBaixa], actor: str = "recon") -> list[PlannedBaixa]:
    """Commit every intended baixa before anything is sent; returns those newly planned."""
    ledger = Ledger(store, actor)
    return [plan for plan in plans if ledger.record_intent(plan)]


def planned(store: Store) -> list[PlannedBaixa]:
    """Every baixa planned and not yet sent, whichever run planned it."""
    return [plan for _, plan in ledger_plans(store, LEDGER_PLANNED)]


def baixa_body(plan: PlannedBaixa) -> dict[str, Any]:
    body: dict[str, Any] = {
        "data_pagamento": plan.data_pagamento.isoformat(),
        "composicao_valor": composition(plan),
        "conta_financeira": plan.conta_financeira_id,
        "observacao": f"{plan.tag} run:{plan.run_id}",
        "nsu": plan.tag,
    }
    if plan.metodo_pagamento:
        body["metodo_pagamento"] = plan.metodo_pagamento
    return body


def composition(plan: PlannedBaixa) -> dict[str, Any]:
    """`composicao_valor`: the principal settled, and only the parts that are not zero."""
    parts = {"valor_bruto": from_cents(plan.settles_cents)}
    for name, cents in (("multa", plan.multa_cents), ("juros", plan.juros_cents),
                        ("desconto", plan.desconto_cents), ("taxa", plan.taxa_cents)):
        if cents:
            parts[name] = from_cents(cents)
    return parts


def reconciliation_note(existing: str, plan: PlannedBaixa) -> str:
    line = (
        f"[recon] Conciliado com extrato: conta {plan.bank_label}, "
        f"{plan.data_pagamento.strftime('%d/%m/%Y')}, {format_brl(plan.amount_cents)}, "
        f"linha {plan.line_key}, run {plan.run_id}"
    )
    return f"{existing.rstrip()}\n{line}" if existing.strip() else line


def strip_reconciliation_note(nota: str, line_key: str) -> str:
    """The nota without the line `reconciliation_note` added for this bank line (undo)."""
    kept = [text for text in nota.split("\n")
            if not (text.startswith("[recon]") and f"linha {line_key}," in text)]
    return "\n".join(kept)


class Ledger:
    """The settlements table: one row per (statement line, parcela), moved through its states.

    Every move is committed at once and also appended to `events`, with who moved it.
    """

    def __init__(self, store: Store, actor: str = "recon"):
        self._store = store
        self.actor = actor

    def record_intent(self, plan: PlannedBaixa) -> bool:
        """Committed before any call for this pair; False if a live row already exists."""
        current = self.state_of(plan)
        if current is not None and current not in REPLANNABLE_STATES:
            log.info("parcela %s: ledger row already %s; not planned again", plan.parcela_id,
                     current)
            return False
        self._store.execute(
            """INSERT OR REPLACE INTO settlements (line_key, parcela_id, run_id, state, tag,
                   amount_cents, data_pagamento, conta_financeira_id, metodo_pagamento,
                   baixa_id, versao_after, error, updated_at, source, item_id,
                   expected_open_cents, gross_cents, multa_cents, juros_cents, desconto_cents,
                   taxa_cents)
               VALUES (?, ?, ?, 'intent', ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?, ?, ?, ?, ?, ?,
                       ?, ?)""",
            [plan.line_key, plan.parcela_id, plan.run_id, plan.tag, plan.amount_cents,
             plan.data_pagamento, plan.conta_financeira_id, plan.metodo_pagamento, _now(),
             plan.source, plan.item_id, plan.expected_open_cents, plan.settles_cents,
             plan.multa_cents, plan.juros_cents, plan.desconto_cents, plan.taxa_cents],
        )
        self._event(plan, "intent", f"{plan.source}: {format_brl(plan.amount_cents)} "
                                    f"({composition_text(plan)})", run_id=plan.run_id)
        return True

    def state_of(self, plan_or_row: PlannedBaixa | dict[str, Any]) -> str | None:
        rows = self._store.query(
            "SELECT state FROM settlements WHERE line_key = ? AND parcela_id = ?",
            list(_key(plan_or_row)))
        return rows[0]["state"] if rows else None

    def move(self, plan_or_row: PlannedBaixa | dict[str, Any], state: str, **fields: Any) -> bool:
        """Move a row on; a move the state machine forbids only records the error."""
        key = _key(plan_or_row)
        current = self.state_of(plan_or_row)
        if current is not None and state != current and state not in ALLOWED_MOVES[current]:
            log.warning("parcela %s: ledger refuses %s -> %s", key[1], current, state)
            self.note(plan_or_row, str(fields.get("error") or f"refused move to {state}"))
            return False
        assignments = ", ".join(f"{name} = ?" for name in fields)
        sets = f"state = ?, updated_at = ?{', ' + assignments if assignments else ''}"
        self._store.execute(
            f"UPDATE settlements SET {sets} WHERE line_key = ? AND parcela_id = ?",
            [state, _now(), *fields.values(), *key],
        )
        detail = ", ".join(f"{name} {value}" for name, value in fields.items() if value is not None)
        self._event(plan_or_row, state, detail)
        return True

    def note(self, plan_or_row: PlannedBaixa | dict[str, Any], error: str) -> None:
        """Record what went wrong without changing what the row says about Conta Azul."""
        self._store.execute(
            "UPDATE settlements SET error = ?, updated_at = ? WHERE line_key = ? AND parcela_id = ?",
            [error, _now(), *_key(plan_or_row)])
        self._event(plan_or_row, "error", error)

    def _event(self, plan_or_row: PlannedBaixa | dict[str, Any], event: str, detail: str,
               run_id: str | None = None) -> None:
        line_key, parcela_id = _key(plan_or_row)
        planned_by = (plan_or_row.run_id if isinstance(plan_or_row, PlannedBaixa)
                      else plan_or_row.get("run_id"))
        record_event(self._store, self.actor, event, detail, run_id=run_id or planned_by,
                     line_key=line_key, parcela_id=parcela_id)


def record_event(store: Store, actor: str, event: str, detail: str = "", *,
                 run_id: str | None = None, line_key: str | None = None,
                 parcela_id: str | None = None, item_id: int | None = None) -> None:
    """Append to the audit trail (`recon history` reads it)."""
    store.execute(
        "INSERT INTO events (happened_at, run_id, actor, line_key, parcela_id, item_id, event, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [_now(), run_id, actor, line_key, parcela_id, item_id, event, detail])


def composition_text(plan: PlannedBaixa) -> str:
    return ", ".join(f"{name} {value}" for name, value in composition(plan).items())


def _key(plan_or_row: PlannedBaixa | dict[str, Any]) -> tuple[str, str]:
    if isinstance(plan_or_row, PlannedBaixa):
        return plan_or_row.line_key, plan_or_row.parcela_id
    return plan_or_row["line_key"], plan_or_row["parcela_id"]


def _now() -> datetime:
    return datetime.now(tz=SAO_PAULO)


def find_tagged(detail_baixas: Any, tag: str) -> str | None:
    for baixa in detail_baixas:
        if tag in (baixa.observacao or "") or baixa.nsu == tag:
            return baixa.id
    return None


@dataclass(frozen=True, slots=True)
class SettleOptions:
    """How write-back runs.

    With `annotate` (the default) each parcela costs a read (for its versao),
    the baixa and the PATCH of its nota. Without it the baixa alone records the
    reconciliation (its observacao carries the tag and run), and instead of a
    read per parcela one search every `recheck_every` writes lists what changed
    in Conta Azul since the pull, so a parcela settled meanwhile is still seen.
    Without a pull time (plans left by an earlier run, approvals applied at once)
    every parcela is read before its baixa.
    """

    annotate: bool = True
    recheck_every: int = 20
    concurrency: int = 4  # parcelas settled at once; the client's limiter paces the requests
    pulled_since: datetime | None = None  # São Paulo time the pull started
    due_window: tuple[date, date] | None = None


async def apply_plan(store: Store, client: ContaAzulClient, plans: list[PlannedBaixa],
                     options: SettleOptions | None = None, actor: str = "recon",
                     progress: Progress | None = None) -> None:
    """Settle the planned matches (rows at `intent`), several parcelas at a time.

    Failures are recorded on the ledger row, never raised.
    """
    opts = options or SettleOptions()
    steps = progress or Silent()
    ledger = Ledger(store, actor)
    slots = asyncio.Semaphore(max(1, opts.concurrency))
    read_each = opts.annotate or opts.pulled_since is None
    batch_size = len(plans) if read_each else max(1, opts.recheck_every)
    for start in range(0, len(plans), max(1, batch_size)):
        batch = _one_per_parcela(plans[start:start + batch_size])
        for group in batch:
            changed = None if read_each else await _changed_since_pull(client, opts)
            await gather_all(*(_settle_guarded(ledger, client, plan, changed, opts, slots, steps)
                               for plan in group))


def _one_per_parcela(plans: list[PlannedBaixa]) -> list[list[PlannedBaixa]]:
    """Groups in which each parcela appears once: two baixas on one parcela (an approved split)
    go one after the other, so the second sees what the first left open."""
    groups: list[list[PlannedBaixa]] = []
    seen: list[set[str]] = []
    for plan in plans:
        for group, ids in zip(groups, seen, strict=True):
            if plan.parcela_id not in ids:
                group.append(plan)
                ids.add(plan.parcela_id)
                break
        else:
            groups.append([plan])
            seen.append({plan.parcela_id})
    return groups


async def _settle_guarded(ledger: Ledger, client: ContaAzulClient, plan: PlannedBaixa,
                          changed: set[str] | None, opts: SettleOptions,
                          slots: asyncio.Semaphore, progress: Progress) -> None:
    async with slots:
        await _settle_planned(ledger, client, plan, changed, opts)
        progress.advance()


async def _settle_planned(ledger: Ledger, client: ContaAzulClient, plan: PlannedBaixa,
                          changed: set[str] | None, opts: SettleOptions) -> None:
    if ledger.state_of(plan) != "intent":
        return  # already sent, settled or dropped by another path
    try:
        if changed is None or plan.parcela_id in changed:
            await _settle_one(ledger, client, plan, annotate_after=opts.annotate)
        else:
            await _post_baixa(ledger, client, plan)
    except ContaAzulError as exc:
        log.warning("parcela %s: %s", plan.parcela_id, exc)
        _record_failure(ledger, plan, exc)


def _record_failure(ledger: Ledger, plan: PlannedBaixa, exc: ContaAzulError) -> None:
    """Only a definite refusal is a failure that may be re-planned.

    Before the POST (`intent`) an unclear error leaves the plan to be tried again; after it
    (`sent`, `unknown`, `confirmed`) an unclear error may hide a baixa that landed: those
    keep their state, with the error noted, and the next run resolves them by the tag.
    """
    state = ledger.state_of(plan)
    if state in ("intent", "sent") and not may_have_landed(exc):
        ledger.move(plan, "failed", error=str(exc))
    else:
        ledger.note(plan, str(exc))


async def _changed_since_pull(client: ContaAzulClient, opts: SettleOptions) -> set[str]:
    if opts.pulled_since is None or opts.due_window is None:
        raise ValueError("settling without annotation needs pulled_since and due_window")
    return await api.changed_parcela_ids(client, opts.pulled_since, *opts.due_window)


async def _settle_one(ledger: Ledger, client: ContaAzulClient, plan: PlannedBaixa,
                      annotate_after: bool = True) -> None:
    detail = await api.parcela_detail(client, plan.parcela_id)
    already = find_tagged(detail.baixas, plan.tag)
    if already:  # an earlier, abandoned attempt landed after all
        ledger.move(plan, "confirmed", baixa_id=already, versao_after=detail.versao)
    else:
        refusal = _refuse_if_changed(detail, plan)
        if refusal:
            ledger.move(plan, "skipped", error=refusal)
            return
        # Every baixa bumps the parcela's versao by one (observed on the real API).
        baixa_id = await _post_baixa(ledger, client, plan, versao_after=detail.versao + 1)
        if baixa_id is None or not annotate_after:
            return
        await annotate(ledger, client, plan, known=replace(detail, versao=detail.versao + 1))
        return
    if annotate_after:
        await annotate(ledger, client, plan)


def _refuse_if_changed(detail: ParcelaDetail, plan: PlannedBaixa) -> str:
    """Settle only what was matched.

    A baixa that settles the parcela in full needs the open amount to be what the match
    settles (a person may have recorded a partial payment meanwhile). A part payment a person
    approved (a split, a partial) needs the parcela to still owe at least that much.
    """
    if not detail.status.is_open:
        return f"parcela is {detail.status.value} in Conta Azul now; left alone"
    in_full = plan.expected_open_cents is None or plan.settles_cents >= plan.expected_open_cents
    if in_full and detail.open_cents != plan.settles_cents:
        return (f"parcela's open amount is {format_brl(detail.open_cents)} now, not the "
                f"{format_brl(plan.settles_cents)} matched; left alone")
    if not in_full and detail.open_cents < plan.settles_cents:
        return (f"parcela's open amount is {format_brl(detail.open_cents)} now, less than the "
                f"{format_brl(plan.settles_cents)} approved; left alone")
    return ""


async def _post_baixa(ledger: Ledger, client: ContaAzulClient, plan: PlannedBaixa,
                      versao_after: int | None = None) -> str | None:
    # Committed before the call: a kill from here on leaves `sent`, which the next run
    # resolves by looking for the tag before anything is sent again.
    if not ledger.move(plan, "sent"):
        return None
    try:
        baixa = await api.create_baixa(client, plan.parcela_id, baixa_body(plan))
    except ContaAzulError as exc:
        if not may_have_landed(exc):
            raise
        # The POST may have been applied: look for our tag before deciding anything.
        ledger.move(plan, "unknown", error=str(exc))
        found = find_tagged(await api.baixas_of(client, plan.parcela_id), plan.tag)
        if not found:
            return None  # left `unknown`: the next run resolves it before sending again
        ledger.move(plan, "confirmed", baixa_id=found, error=None)
        return found
    ledger.move(plan, "confirmed", baixa_id=baixa.id, versao_after=versao_after)
    return baixa.id


def may_have_landed(exc: ContaAzulError) -> bool:
    """Could the request have been applied? No answer, a 5xx, or a success we could not read."""
    status = exc.status
    return (isinstance(exc, ContaAzulTransportError) or status is None or status >= 500
            or 200 <= status < 300)


async def annotate(
    ledger: Ledger, client: ContaAzulClient, plan: PlannedBaixa, known: ParcelaDetail | None = None
) -> None:
    """PATCH the parcela's nota with the reconciliation; one re-read and retry on 409.

    `known` is the parcela as we last saw it, with the versao our baixa moved it to:
    it saves a read on the happy path, and a 409 tells us when it was out of date.
    """
    for attempt in (1, 2):
        detail = known if known is not None and attempt == 1 else await api.parcela_detail(
            client, plan.parcela_id)
        if plan.line_key in detail.nota:
            ledger.move(plan, "annotated", versao_after=detail.versao)
            return
        try:
            versao = await api.patch_parcela(
                client, plan.parcela_id, detail.versao,
                {"nota": reconciliation_note(detail.nota, plan)})
        except ContaAzulConflict:
            if attempt == 2:
                raise
            continue
        ledger.move(plan, "annotated", versao_after=versao, error=None)
        return


async def resolve_pending(store: Store, client: ContaAzulClient, *, annotate_confirmed: bool = True) -> int:
    """Finish what an earlier run left half done, before anything new is planned.

    Rows `sent` or `unknown` are settled by our tag or abandoned (and re-planned by the
    matching or the approval that made them); confirmed rows get their nota.
    """
    ledger = Ledger(store)
    resolved = 0
    states = PENDING_STATES + (("confirmed",) if annotate_confirmed else ())
    for row, plan in ledger_plans(store, states):
        try:
            if row["state"] in PENDING_STATES:
                found = find_tagged(await api.baixas_of(client, plan.parcela_id), plan.tag)
                if not found:
                    ledger.move(row, "abandoned", error="not found in Conta Azul; will be re-planned")
                    continue
                ledger.move(row, "confirmed", baixa_id=found, error=None)
            if annotate_confirmed:
                await annotate(ledger, client, plan)
            resolved += 1
        except ContaAzulError as exc:
            log.warning("could not resolve settlement of parcela %s: %s", plan.parcela_id, exc)
    return resolved
