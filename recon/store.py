"""The DuckDB store: one file per company, the only place SQL is executed.

Statement lines are kept once by their line key (re-downloads add nothing);
parcelas and decisions are kept per run so every report can be rebuilt; the
settlements table is the write-ahead ledger of everything sent to Conta Azul.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from recon.errors import StoreError

log = logging.getLogger(__name__)
# DuckDB's own default is 80 % of the machine's memory, and it keeps what it has read
# cached up to that, beside the matcher's arrays: on a customer's small server that is how
# a nightly job gets killed. Past the limit DuckDB spills to <store>.tmp. 1 GB was too
# little for the band pass of a dense 1M-line backfill (Out of Memory); 2 GB ran it.
DEFAULT_MEMORY_LIMIT = "2GB"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR PRIMARY KEY, started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ,
        window_from DATE NOT NULL, window_to DATE NOT NULL, dry_run BOOLEAN NOT NULL,
        status VARCHAR NOT NULL, exit_code INTEGER, error VARCHAR, report_path VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS statement_files (
        run_id VARCHAR NOT NULL, file VARCHAR NOT NULL, format VARCHAR, accounts VARCHAR,
        conta_financeira_id VARCHAR, lines_read INTEGER, lines_new INTEGER,
        lines_dropped INTEGER, lines_rejected INTEGER, status VARCHAR NOT NULL, reason VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS statement_lines (
        line_key VARCHAR PRIMARY KEY, file VARCHAR NOT NULL, source_line INTEGER,
        bank_code VARCHAR, branch VARCHAR, account_number VARCHAR,
        conta_financeira_id VARCHAR NOT NULL, posted_on DATE NOT NULL,
        amount_cents BIGINT NOT NULL, memo VARCHAR NOT NULL, fitid VARCHAR,
        first_run_id VARCHAR NOT NULL)""",
    # Computed once at import (matchers.normalize.line_features), not on every run.
    "ALTER TABLE statement_lines ADD COLUMN IF NOT EXISTS counterpart VARCHAR",
    "ALTER TABLE statement_lines ADD COLUMN IF NOT EXISTS memo_keys VARCHAR[]",
    """CREATE TABLE IF NOT EXISTS coverage (
        conta_financeira_id VARCHAR NOT NULL, file VARCHAR NOT NULL, period_start DATE NOT NULL,
        period_end DATE NOT NULL, first_run_id VARCHAR NOT NULL,
        PRIMARY KEY (conta_financeira_id, file, period_start, period_end))""",
    """CREATE TABLE IF NOT EXISTS balances (
        conta_financeira_id VARCHAR NOT NULL, on_date DATE NOT NULL, cents BIGINT NOT NULL,
        file VARCHAR NOT NULL, first_run_id VARCHAR NOT NULL,
        PRIMARY KEY (conta_financeira_id, on_date, file))""",
    """CREATE TABLE IF NOT EXISTS statement_gaps (
        run_id VARCHAR NOT NULL, conta_financeira_id VARCHAR NOT NULL, start_date DATE NOT NULL,
        end_date DATE NOT NULL, kind VARCHAR NOT NULL, difference_cents BIGINT NOT NULL,
        detail VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS run_lines (
        run_id VARCHAR NOT NULL, line_key VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS rejects (
        run_id VARCHAR NOT NULL, file VARCHAR NOT NULL, line INTEGER, field VARCHAR,
        value VARCHAR, reason VARCHAR NOT NULL, hint VARCHAR, kind VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS contas (
        run_id VARCHAR NOT NULL, id VARCHAR NOT NULL, nome VARCHAR, codigo_banco VARCHAR,
        agencia VARCHAR, numero VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS pessoas (
        run_id VARCHAR NOT NULL, id VARCHAR NOT NULL, nome VARCHAR, documento VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS parcelas (
        run_id VARCHAR NOT NULL, parcela_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
        descricao VARCHAR, due_on DATE NOT NULL, status VARCHAR NOT NULL,
        total_cents BIGINT NOT NULL, paid_cents BIGINT NOT NULL, open_cents BIGINT NOT NULL,
        contact_id VARCHAR, contact_name VARCHAR)""",
    # Boleto titles a bank's cobrança retorno says it liquidated or otherwise moved, kept
    # across runs (a retorno may arrive a day after its credit's statement), once per
    # (account, nosso número, movement, day).
    """CREATE TABLE IF NOT EXISTS retorno_titles (
        conta_financeira_id VARCHAR NOT NULL, nosso_numero VARCHAR NOT NULL,
        movement VARCHAR NOT NULL, occurred_on DATE, file VARCHAR NOT NULL,
        source_line INTEGER NOT NULL, bank_code VARCHAR NOT NULL, seu_numero VARCHAR,
        due_on DATE, face_cents BIGINT NOT NULL, payer_document VARCHAR, payer_name VARCHAR,
        fee_cents BIGINT NOT NULL, interest_cents BIGINT NOT NULL,
        discount_cents BIGINT NOT NULL, rebate_cents BIGINT NOT NULL, iof_cents BIGINT NOT NULL,
        paid_cents BIGINT NOT NULL, net_cents BIGINT NOT NULL,
        other_expenses_cents BIGINT NOT NULL, other_credits_cents BIGINT NOT NULL,
        credited_on DATE, first_run_id VARCHAR NOT NULL,
        UNIQUE (conta_financeira_id, nosso_numero, movement, occurred_on))""",
    # What each run made of each liquidated title it read: the credit line and the parcela
    # it was tied to, or why not (matched | no_credit | no_parcela).
    """CREATE TABLE IF NOT EXISTS retorno_results (
        run_id VARCHAR NOT NULL, conta_financeira_id VARCHAR NOT NULL, file VARCHAR NOT NULL,
        source_line INTEGER NOT NULL, nosso_numero VARCHAR NOT NULL, due_on DATE,
        face_cents BIGINT NOT NULL, payer_name VARCHAR, paid_cents BIGINT NOT NULL,
        net_cents BIGINT NOT NULL, credited_on DATE, line_key VARCHAR, parcela_id VARCHAR,
        status VARCHAR NOT NULL)""",
    # One row per candidate pair scored: each signal's comparison level and its weight in
    # bits (log2 m/u), so every decision can be explained from what was stored.
    """CREATE TABLE IF NOT EXISTS candidate_pairs (
        run_id VARCHAR NOT NULL, line_key VARCHAR NOT NULL, parcela_id VARCHAR NOT NULL,
        amount_diff_cents BIGINT NOT NULL, lag_days INTEGER NOT NULL, name_sim DOUBLE,
        amount_level TINYINT NOT NULL, date_level TINYINT NOT NULL, name_level TINYINT NOT NULL,
        key_level TINYINT NOT NULL, amount_bits DOUBLE NOT NULL, date_bits DOUBLE NOT NULL,
        name_bits DOUBLE NOT NULL, key_bits DOUBLE NOT NULL, weight DOUBLE NOT NULL,
        probability DOUBLE NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS decisions (
        run_id VARCHAR NOT NULL, line_key VARCHAR NOT NULL, parcela_id VARCHAR,
        decision VARCHAR NOT NULL, score DOUBLE, runner_up_score DOUBLE, reason VARCHAR)""",
    "ALTER TABLE decisions ADD COLUMN IF NOT EXISTS kind VARCHAR",
    "ALTER TABLE decisions ADD COLUMN IF NOT EXISTS margin_bits DOUBLE",
    "ALTER TABLE decisions ADD COLUMN IF NOT EXISTS rival_line_key VARCHAR",
    "ALTER TABLE decisions ADD COLUMN IF NOT EXISTS rival_parcela_id VARCHAR",
    "ALTER TABLE decisions ADD COLUMN IF NOT EXISTS reason_code VARCHAR",
    "ALTER TABLE decisions ADD COLUMN IF NOT EXISTS detail VARCHAR",
    # What each proposed (line, parcela) baixa carries; the parts add up to amount_cents:
    # gross + multa + juros - desconto - taxa = amount_cents.
    """CREATE TABLE IF NOT EXISTS allocations (
        run_id VARCHAR NOT NULL, line_key VARCHAR NOT NULL, parcela_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL, amount_cents BIGINT NOT NULL, gross_cents BIGINT NOT NULL,
        multa_cents BIGINT NOT NULL, juros_cents BIGINT NOT NULL,
        desconto_cents BIGINT NOT NULL, taxa_cents BIGINT NOT NULL, days_late INTEGER)""",
    """CREATE TABLE IF NOT EXISTS settlements (
        line_key VARCHAR NOT NULL, parcela_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
        state VARCHAR NOT NULL, tag VARCHAR NOT NULL, amount_cents BIGINT NOT NULL,
        data_pagamento DATE NOT NULL, conta_financeira_id VARCHAR NOT NULL,
        metodo_pagamento VARCHAR, baixa_id VARCHAR, versao_after BIGINT, error VARCHAR,
        updated_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (line_key, parcela_id))""",
    # The plan: what each intended baixa carries, written before anything is sent, so a
    # killed run's successor can finish it exactly as decided.
    "ALTER TABLE settlements ADD COLUMN IF NOT EXISTS source VARCHAR",  # auto | approved
    "ALTER TABLE settlements ADD COLUMN IF NOT EXISTS item_id INTEGER",
    "ALTER TABLE settlements ADD COLUMN IF NOT EXISTS expected_open_cents BIGINT",
    "ALTER TABLE settlements ADD COLUMN IF NOT EXISTS gross_cents BIGINT",
    "ALTER TABLE settlements ADD COLUMN IF NOT EXISTS multa_cents BIGINT",
    "ALTER TABLE settlements ADD COLUMN IF NOT EXISTS juros_cents BIGINT",
    "ALTER TABLE settlements ADD COLUMN IF NOT EXISTS desconto_cents BIGINT",
    "ALTER TABLE settlements ADD COLUMN IF NOT EXISTS taxa_cents BIGINT",
    "ALTER TABLE parcelas ADD COLUMN IF NOT EXISTS categorias VARCHAR",
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS command VARCHAR",
    # Audit: every state a ledger row, a review item or an undo went through, who moved it
    # and what Conta Azul answered. Append-only.
    """CREATE TABLE IF NOT EXISTS events (
        happened_at TIMESTAMPTZ NOT NULL, run_id VARCHAR, actor VARCHAR NOT NULL, line_key VARCHAR,
        parcela_id VARCHAR, item_id INTEGER, event VARCHAR NOT NULL, detail VARCHAR)""",
    # The review queue: one item per bank line a person must decide, numbered once.
    """CREATE TABLE IF NOT EXISTS review_items (
        item_id INTEGER PRIMARY KEY, line_key VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
        status VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL, decided_by VARCHAR,
        decided_at TIMESTAMPTZ, note VARCHAR)""",
    # What people decided, per (line, parcela): approved pairs carry the composition to settle;
    # rejected pairs are never proposed again.
    """CREATE TABLE IF NOT EXISTS review_verdicts (
        item_id INTEGER, line_key VARCHAR NOT NULL, parcela_id VARCHAR NOT NULL,
        verdict VARCHAR NOT NULL, decided_by VARCHAR NOT NULL, decided_at TIMESTAMPTZ NOT NULL,
        run_id VARCHAR, note VARCHAR, amount_cents BIGINT, gross_cents BIGINT,
        multa_cents BIGINT, juros_cents BIGINT, desconto_cents BIGINT, taxa_cents BIGINT,
        expected_open_cents BIGINT)""",
    # What stands for each (line, parcela): the latest verdict, the one the matcher, the
    # planner and the alias learning all obey (a rejection after an approval, as undo
    # records, wins; and the reverse).
    """CREATE OR REPLACE VIEW pair_verdicts AS
        SELECT line_key, parcela_id, arg_max(verdict, decided_at) AS verdict,
               arg_max(item_id, decided_at) AS item_id, arg_max(run_id, decided_at) AS run_id,
               max(decided_at) AS decided_at
        FROM review_verdicts GROUP BY line_key, parcela_id""",
)


class Store:
    """A DuckDB file. Every statement goes through `execute`, `query` or `insert_frame`."""

    def __init__(self, path: Path, memory_limit: str = DEFAULT_MEMORY_LIMIT):
        self.path, self.memory_limit = path, memory_limit
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(str(path))
        except (duckdb.Error, OSError) as exc:
            raise StoreError(
                f"cannot open the store {path}: {exc}. Is another recon run using it?"
            ) from exc
        try:
            quoted = memory_limit.replace("'", "''")
            self._con.execute(f"SET memory_limit = '{quoted}'").fetchall()
        except duckdb.Error as exc:
            self._con.close()
            raise StoreError(
                f"store.memory_limit {memory_limit!r} is not a size DuckDB understands ({exc}); "
                "write it like 1GB or 512MB") from exc
        for statement in SCHEMA:
            self._con.execute(statement).fetchall()

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> None:
        # Drain the result: DuckDB refuses new work while a result is pending.
        self._run(sql, params).fetchall()

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        cursor = self._run(sql, params)
        names = [column[0] for column in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def query_frame(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> pd.DataFrame:
        return self._run(sql, params).df()

    def query_arrays(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
                     ) -> dict[str, np.ndarray]:
        """Columns as numpy arrays: no DataFrame, no per-row Python objects for numbers."""
        return self._run(sql, params).fetchnumpy()

    def query_arrow(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> pa.Table:
        """Columns as Arrow: strings stay in Arrow buffers (a pandas frame of them built from
        `.df()` costs several times the query), lists stay lists, dates stay day numbers."""
        log.log(5, "SQL %s", sql)
        try:
            # A relation, not a cursor: a cursor's Arrow result is one more copy of the rows.
            return self._con.sql(sql, params=params or None).to_arrow_table()
        except duckdb.Error as exc:
            raise self._refused(exc) from exc

    def _run(self, sql: str, params: Sequence[Any] | dict[str, Any],
             con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        log.log(5, "SQL %s", sql)
        try:
            return (con or self._con).execute(sql, params)
        except duckdb.Error as exc:
            raise self._refused(exc) from exc

    def insert_frame(self, table: str, frame: pd.DataFrame | pa.Table, *,
                     ignore_existing: bool = False) -> int:
        """Insert a frame (pandas or Arrow) by column name; with ignore_existing, rows whose
        key exists are kept as they were."""
        return self._insert(self._con, table, frame, ignore_existing)

    @contextmanager
    def inserting_aside(self, table: str, frame: pa.Table) -> Iterator[None]:
        """Insert an Arrow table into `table` on a second connection to this store while the
        block runs. DuckDB scans Arrow and appends without holding the GIL, so the insert
        uses the core the caller's Python leaves idle. Leaving the block waits for it, and
        raises the insert's StoreError if it failed (the block's own error comes first).
        The second connection sees no temp table of this one: `frame` must hold it all."""
        connection = self._con.cursor()
        try:
            with ThreadPoolExecutor(1, thread_name_prefix=f"insert-{table}") as pool:
                done = pool.submit(self._insert, connection, table, frame, False)
                yield
                done.result()
        finally:
            connection.close()

    def _insert(self, con: duckdb.DuckDBPyConnection, table: str,
                frame: pd.DataFrame | pa.Table, ignore_existing: bool) -> int:
        if len(frame) == 0:
            return 0
        columns = ", ".join(frame.column_names if isinstance(frame, pa.Table) else frame.columns)
        verb = "INSERT OR IGNORE" if ignore_existing else "INSERT"
        con.register("incoming_frame", frame)
        try:
            # Through _run: a refusal (a full disk, the memory limit) says what it is. DuckDB
            # answers with the rows it inserted (those ignored not counted): no count(*) of
            # the whole table before and after.
            rows = self._run(f"{verb} INTO {table} ({columns}) SELECT {columns} FROM incoming_frame",
                             (), con).fetchall()
        finally:
            con.unregister("incoming_frame")
        return int(rows[0][0])

    def replace_temp(self, name: str, frame: pd.DataFrame | pa.Table) -> None:
        """A connection-local table holding `frame` (pandas or Arrow), replacing any of that
        name."""
        self._con.register("incoming_frame", frame)
        try:
            self._run(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM incoming_frame",
                      ()).fetchall()
        finally:
            self._con.unregister("incoming_frame")

    def _refused(self, exc: duckdb.Error) -> StoreError:
        if isinstance(exc, duckdb.OutOfMemoryException):
            return StoreError(
                f"the store {self.path} ran out of the memory store.memory_limit allows "
                f"({self.memory_limit}): raise it, e.g. RECON_STORE_MEMORY_LIMIT=4GB, and run "
                f"again ({exc})")
        return StoreError(f"the store {self.path} refused a statement: {exc}")
