"""Records -> DataFrames in the store's column layout (pure; the store inserts them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from matchers.normalize import line_features
from recon.records import (
    ContaFinanceira,
    Parcela,
    Pessoa,
    Reject,
    RetornoTitle,
    StatementLine,
)


def lines_frame(lines: Iterable[StatementLine], conta_id: str, run_id: str) -> pd.DataFrame:
    rows = [
        (ln.line_key, ln.source_file, ln.source_line, ln.account.bank_code, ln.account.branch,
         ln.account.number, conta_id, ln.posted_on, ln.amount_cents, ln.memo, ln.fitid, run_id)
        for ln in lines
    ]
    frame = pd.DataFrame(rows, columns=[
        "line_key", "file", "source_line", "bank_code", "branch", "account_number",
        "conta_financeira_id", "posted_on", "amount_cents", "memo", "fitid", "first_run_id"])
    features = [line_features(memo) for memo in frame["memo"]]
    frame["counterpart"] = [counterpart for counterpart, _ in features]
    frame["memo_keys"] = [keys for _, keys in features]
    return frame.astype({"amount_cents": "int64"})


def parcelas_frame(parcelas: Iterable[Parcela], run_id: str) -> pd.DataFrame:
    rows = [
        (run_id, p.id, p.kind.value, p.descricao, p.due_on, p.status.value, p.total_cents,
         p.paid_cents, p.open_cents, p.contact_id, p.contact_name, "; ".join(p.categorias))
        for p in parcelas
    ]
    return pd.DataFrame(rows, columns=[
        "run_id", "parcela_id", "kind", "descricao", "due_on", "status", "total_cents",
        "paid_cents", "open_cents", "contact_id", "contact_name", "categorias"])


def contas_frame(contas: Iterable[ContaFinanceira], run_id: str) -> pd.DataFrame:
    rows = [(run_id, c.id, c.nome, c.codigo_banco, c.agencia, c.numero) for c in contas]
    return pd.DataFrame(rows, columns=["run_id", "id", "nome", "codigo_banco", "agencia", "numero"])


def pessoas_frame(pessoas: Iterable[Pessoa], run_id: str) -> pd.DataFrame:
    rows = [(run_id, p.id, p.nome, p.documento) for p in pessoas]
    return pd.DataFrame(rows, columns=["run_id", "id", "nome", "documento"])


def rejects_frame(rejects: Iterable[Reject], run_id: str) -> pd.DataFrame:
    rows = [(run_id, r.file, r.line, r.field, r.value, r.reason, r.hint, r.kind) for r in rejects]
    return pd.DataFrame(rows, columns=[
        "run_id", "file", "line", "field", "value", "reason", "hint", "kind"]).astype(
        {"line": "Int64"})


RETORNO_COLUMNS = [
    "conta_financeira_id", "nosso_numero", "movement", "occurred_on", "file", "source_line",
    "bank_code", "seu_numero", "due_on", "face_cents", "payer_document", "payer_name",
    "fee_cents", "interest_cents", "discount_cents", "rebate_cents", "iof_cents", "paid_cents",
    "net_cents", "other_expenses_cents", "other_credits_cents", "credited_on", "first_run_id"]


def retorno_frame(titles: Sequence[RetornoTitle], conta_ids: Sequence[str], run_id: str
                  ) -> pd.DataFrame:
    """Titles as `retorno_titles` rows, each with its conta financeira; the other columns
    are the titles' own fields, by name."""
    fields = [c for c in RETORNO_COLUMNS if c not in ("conta_financeira_id", "first_run_id")]
    rows = [{"conta_financeira_id": conta, "first_run_id": run_id,
             **{field: getattr(title, field) for field in fields}}
            for title, conta in zip(titles, conta_ids, strict=True)]
    return pd.DataFrame(rows, columns=RETORNO_COLUMNS)
