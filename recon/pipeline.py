"""One run: pull (concurrently), load, match, settle, report.

Structural failures (auth refused, store unusable, Conta Azul unreachable)
fail the run; a bad statement file is recorded and the run goes on.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx

from matchers.arithmetic import LateTerms
from matchers.candidates import Blocking
from matchers.decide import Zones
from matchers.engine import MatchSettings, match_run
from recon import load
from recon.aio import gather_all
from recon.config import Config
from recon.contaazul import api
from recon.contaazul.client import ContaAzulClient, RetryPolicy
from recon.contaazul.tokens import TokenFile
from recon.dates import SAO_PAULO
from recon.errors import ReconError
from recon.ingest import load_statements, record_gaps
from recon.lock import locked_store
from recon.policy import hold_back
from recon.progress import Progress, Silent
from recon.records import (
    LEDGER_HOLDS,
    ContaFinanceira,
    Parcela,
    ParcelaKind,
    Pessoa,
)
from recon.review import lines_to_reconsider, sync_queue, withdraw_rejected
from recon.settle import (
    PlannedBaixa,
    SettleOptions,
    apply_plan,
    plan_approved_settlements,
    plan_auto_settlements,
    planned,
    resolve_pending,
    write_plan,
)
from recon.sources.inbox import SourceOptions, read_inbox, source_options
from recon.store import Store
from recon.summary import run_counts

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_EXCEPTIONS = 3
EXIT_LOCKED = 4

# Conta Azul's clock and ours may differ a little; look back a bit further than the pull.
PULL_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class RunWindow:
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ReconError(f"--from {self.start} is after --to {self.end}")


@dataclass
class RunResult:
    run_id: str
    window: RunWindow
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    report_path: Path | None = None
    csv_path: Path | None = None

    @property
    def exit_code(self) -> int:
        exceptions = sum(self.counts.get(k, 0) for k in (
            "review", "unmatched", "files_rejected", "lines_rejected", "write_errors",
            "statement_gaps"))
        return EXIT_EXCEPTIONS if exceptions else EXIT_OK


def new_run_id(now: datetime | None = None) -> str:
    moment = (now or datetime.now(tz=SAO_PAULO)).astimezone(SAO_PAULO)
    return f"{moment:%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"


def match_settings(config: Config) -> MatchSettings:
    return MatchSettings(
        blocking=Blocking(
            late_days=config.get("matching.due_window_before_days"),
            early_days=config.get("matching.due_window_after_days"),
            band_pct=config.get("matching.amount_tolerance_pct"),
            hot_block=config.get("matching.hot_block"),
            max_candidates=config.get("matching.max_candidates"),
        ),
        zones=Zones(
            auto_probability=config.get("matching.auto_probability"),
            review_probability=config.get("matching.review_probability"),
            min_margin_bits=config.get("matching.min_margin_bits"),
        ),
        terms=LateTerms(
            multa_bp=round(config.get("matching.multa_pct") * 100),
            juros_month_bp=round(config.get("matching.juros_month_pct") * 100),
        ),
        batch_search_seconds=config.get("matching.batch_search_seconds"),
    )


def build_client(config: Config, transport: httpx.AsyncBaseTransport | None = None) -> ContaAzulClient:
    return ContaAzulClient(
        api_url=config.get("contaazul.api_url"),
        token_url=config.get("contaazul.token_url"),
        client_id=config.get("contaazul.client_id"),
        client_secret=config.client_secret(),
        token_file=TokenFile(config.path("contaazul.token_file")),
        timeout=config.get("contaazul.timeout_seconds"),
        max_concurrency=config.get("contaazul.max_concurrency"),
        requests_per_second=config.get("contaazul.requests_per_second"),
        requests_per_minute=config.get("contaazul.requests_per_minute"),
        retry=RetryPolicy(
            max_attempts=config.get("contaazul.retry_attempts"),
            backoff_seconds=config.get("contaazul.retry_backoff_seconds"),
            max_delay_seconds=config.get("contaazul.retry_max_delay_seconds")),
        transport=transport,
    )


def run(config: Config, window: RunWindow, *, dry_run: bool = False,
        progress: Progress | None = None) -> RunResult:
    return asyncio.run(run_async(config, window, dry_run=dry_run, progress=progress))


async def run_async(config: Config, window: RunWindow, *, dry_run: bool = False,
                    progress: Progress | None = None) -> RunResult:
    from reports.build import write_reports  # reports depend on the store, not the reverse

    steps = progress or Silent()
    result = RunResult(run_id=new_run_id(), window=window, dry_run=dry_run)
    async with operation(config, result, "run") as store:
        async with build_client(config) as client:
            options = SettleOptions(
                annotate=config.get("settle.annotate_parcela"),
                concurrency=config.get("contaazul.max_concurrency"),
                pulled_since=datetime.now(tz=SAO_PAULO) - PULL_CLOCK_SKEW,
                due_window=due_window(config, result.window))
            steps.stage("pulling")
            await _pull_and_load(store, client, config, result)
            if not dry_run:
                # What earlier runs and people decided comes first, and holds its lines.
                await resolve_pending(store, client, annotate_confirmed=options.annotate)
                write_plan(store, plan_approved_settlements(store, result.run_id))
            steps.stage("matching")
            _select_run_lines(store, result)
            match_run(store, result.run_id, match_settings(config))
            withdraw_rejected(store, result.run_id)
            hold_back(store, result.run_id, config.policy)
            sync_queue(store, result.run_id)
            if not dry_run:
                write_plan(store, plan_auto_settlements(store, result.run_id))
                await apply_planned(store, client, options, result.run_id, steps)
        steps.stage("reporting")
        result.counts.update(run_counts(store, result.run_id))
        result.report_path, result.csv_path = write_reports(
            store, result.run_id, config.path("report.dir"), config.get("report.language"),
            config.get("report.max_rows"))
        steps.finish()
    return result


async def apply_planned(store: Store, client: ContaAzulClient, options: SettleOptions,
                        run_id: str | None = None, progress: Progress | None = None) -> None:
    """Apply every planned baixa. Only this run's automatic ones were matched against this
    run's pull; the rest (earlier runs' leftovers, approvals, pairs abandoned before) read
    their parcela first, whatever settle.annotate_parcela says."""
    plans = planned(store)
    # A pair abandoned before (a POST whose outcome was never seen) is read first too: if
    # that POST landed after all, the read finds our tag instead of sending a second baixa.
    abandoned = {(r["line_key"], r["parcela_id"]) for r in store.query(
        "SELECT DISTINCT line_key, parcela_id FROM events WHERE event = 'abandoned'")}
    is_fresh = [p.run_id == run_id and p.source == "auto"
                and (p.line_key, p.parcela_id) not in abandoned for p in plans]
    fresh: list[PlannedBaixa] = [p for p, new in zip(plans, is_fresh, strict=True) if new]
    others = [p for p, new in zip(plans, is_fresh, strict=True) if not new]
    steps = progress or Silent()
    steps.stage("settling", total=len(plans))
    await apply_plan(store, client, others, replace(options, pulled_since=None), progress=steps)
    await apply_plan(store, client, fresh, options, progress=steps)


@asynccontextmanager
async def operation(config: Config, result: RunResult, command: str) -> AsyncIterator[Store]:
    """The company's lock and store for one command, recorded in `runs` from start to end:
    the runs table must never say `running` for a dead run."""
    with locked_store(config, f"recon {command}") as store:
        _start_run(store, result, command)
        try:
            yield store
        except Exception as exc:
            _finish_run(store, result, status="failed", exit_code=EXIT_FAILED,
                        error=str(exc) if isinstance(exc, ReconError) else repr(exc))
            raise
        _finish_run(store, result, status="succeeded", exit_code=result.exit_code)


def catch_up_window(config: Config, yesterday: date) -> RunWindow:
    """The days no successful run has covered yet, up to yesterday: a nightly run after missed
    nights catches up on all of them at once, and a rerun covers yesterday again (idempotent:
    settled lines are held). Never more than `schedule.max_catch_up_days`."""
    limit = config.get("schedule.max_catch_up_days")
    with locked_store(config, "recon run (catch-up)") as store:
        rows = store.query(
            """SELECT max(window_to) AS last FROM runs
               WHERE status = 'succeeded' AND NOT dry_run AND coalesce(command, 'run') = 'run'""")
    last = rows[0]["last"]
    start = yesterday if last is None or last >= yesterday else last + timedelta(days=1)
    earliest = yesterday - timedelta(days=max(1, limit) - 1)
    if start < earliest:
        log.warning("last successful run covered up to %s; catching up from %s only "
                    "(schedule.max_catch_up_days = %d): run `recon run --from %s --to %s` for "
                    "the days before", last, earliest, limit, start, earliest - timedelta(days=1))
        start = earliest
    return RunWindow(start, yesterday)


def settle_options(config: Config) -> SettleOptions:
    """For work outside a run's pull (resume, approve --apply): every parcela is read first."""
    return SettleOptions(annotate=config.get("settle.annotate_parcela"),
                         concurrency=config.get("contaazul.max_concurrency"))


async def resume_async(config: Config, command: str = "resume") -> RunResult:
    """Finish what killed runs left (sent, unknown, planned) and settle approved items, with
    no pull and no matching."""
    today = datetime.now(tz=SAO_PAULO).date()
    result = RunResult(run_id=new_run_id(), window=RunWindow(today, today), dry_run=False)
    async with operation(config, result, command) as store, build_client(config) as client:
        options = settle_options(config)
        await resolve_pending(store, client, annotate_confirmed=options.annotate)
        write_plan(store, plan_approved_settlements(store, result.run_id))
        await apply_planned(store, client, options)
        result.counts.update(_operation_counts(store, result.run_id))
    return result


def _operation_counts(store: Store, run_id: str) -> dict[str, int]:
    rows = store.query(
        """SELECT count(*) FILTER (WHERE state IN ('confirmed', 'annotated')) AS settled,
                  count(*) FILTER (WHERE state IN ('sent', 'unknown', 'intent', 'failed',
                                                   'skipped')) AS write_errors
           FROM settlements WHERE run_id = ?""", [run_id])
    return {key: int(value or 0) for key, value in rows[0].items()}


def statement_options(config: Config) -> SourceOptions:
    return source_options(config.get("statements.csv_layout"), config.csv_layout_tables,
                          config.source)


def due_window(config: Config, window: RunWindow) -> tuple[date, date]:
    """Due dates of the parcelas a bank line in the window may pay (the API requires one)."""
    before = timedelta(days=config.get("matching.due_window_before_days"))
    after = timedelta(days=config.get("matching.due_window_after_days"))
    return window.start - before, window.end + after


async def _pull_and_load(store: Store, client: ContaAzulClient, config: Config, result: RunResult) -> None:
    due_from, due_to = due_window(config, result.window)
    inbox, contas, (receber, clientes), (pagar, fornecedores) = await gather_all(
        asyncio.to_thread(read_inbox, config.path("statements.inbox"), statement_options(config)),
        api.contas_financeiras(client),
        _parcelas_and_contacts(client, ParcelaKind.RECEBER, due_from, due_to),
        _parcelas_and_contacts(client, ParcelaKind.PAGAR, due_from, due_to),
    )
    _load_erp(store, result.run_id, contas, receber + pagar, clientes + fornecedores)
    load_statements(store, result.run_id, inbox, contas, config)
    record_gaps(store, result.run_id, (result.window.start, result.window.end))


async def _parcelas_and_contacts(
    client: ContaAzulClient, kind: ParcelaKind, due_from: date, due_to: date
) -> tuple[list[Parcela], list[Pessoa]]:
    """Open parcelas, then the CPF/CNPJ of their contacts (PIX and TED memos carry them)."""
    parcelas = await api.open_parcelas(client, kind, due_from, due_to)
    contact_ids = [p.contact_id for p in parcelas if p.contact_id]
    return parcelas, await api.pessoas_by_ids(client, contact_ids)


def _load_erp(store: Store, run_id: str, contas: list[ContaFinanceira], parcelas: list[Parcela],
              pessoas: list[Pessoa]) -> None:
    store.insert_frame("contas", load.contas_frame(contas, run_id))
    store.insert_frame("pessoas", load.pessoas_frame({p.id: p for p in pessoas}.values(), run_id))
    store.insert_frame("parcelas", load.parcelas_frame(parcelas, run_id))


def _select_run_lines(store: Store, result: RunResult) -> None:
    """This run matches every unsettled line of the window, whichever file brought it, the
    lines a person rejected a proposal for since (with the rejected parcela out), and the
    credits of earlier days a cobrança retorno read in this run was credited (a retorno
    often comes a day or two after the statement that carried its credit; a later day is a
    later run's)."""
    store.execute(
        f"""INSERT INTO run_lines
           SELECT ?, line_key FROM statement_lines l
           WHERE (posted_on BETWEEN ? AND ? OR line_key IN (SELECT unnest(?::VARCHAR[]))
                  OR (amount_cents > 0 AND posted_on < ? AND EXISTS (
                      SELECT 1 FROM retorno_titles t
                      WHERE t.first_run_id = ? AND t.conta_financeira_id = l.conta_financeira_id
                        AND t.credited_on = l.posted_on)))
             AND line_key NOT IN (
                 SELECT line_key FROM settlements WHERE state IN {LEDGER_HOLDS!r})""",
        [result.run_id, result.window.start, result.window.end, lines_to_reconsider(store),
         result.window.start, result.run_id],
    )


def _start_run(store: Store, result: RunResult, command: str = "run") -> None:
    store.execute(
        "INSERT INTO runs (run_id, started_at, window_from, window_to, dry_run, status, command) "
        "VALUES (?, ?, ?, ?, ?, 'running', ?)",
        [result.run_id, datetime.now(tz=SAO_PAULO), result.window.start, result.window.end,
         result.dry_run, command],
    )


def _finish_run(store: Store, result: RunResult, *, status: str, exit_code: int,
                error: str | None = None) -> None:
    store.execute(
        "UPDATE runs SET finished_at = ?, status = ?, exit_code = ?, error = ?, report_path = ? "
        "WHERE run_id = ?",
        [datetime.now(tz=SAO_PAULO), status, exit_code, error,
         str(result.report_path) if result.report_path else None, result.run_id],
    )
