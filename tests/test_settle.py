"""Write-back details that are hard to provoke through the stand-in: the 409 path, the tags."""

import asyncio
import json
from dataclasses import replace
from datetime import UTC, date

import httpx
import pytest
from support import mock_client, token_response

from recon.settle import PlannedBaixa, annotate, baixa_body, payment_method, reconciliation_note

PLAN = PlannedBaixa(line_key="abc123", parcela_id="p1", run_id="run1", amount_cents=245037,
                    data_pagamento=date(2026, 11, 4), conta_financeira_id="c1",
                    metodo_pagamento="BOLETO_BANCARIO", memo="PAGAMENTO DE TITULO LIGHT",
                    bank_label="341/1234/567890")


def lean_options():
    """Settling without annotation: one search of what changed since a pull on 07/11."""
    from datetime import datetime

    from recon.settle import SettleOptions

    return SettleOptions(annotate=False, pulled_since=datetime(2026, 11, 7, tzinfo=UTC),
                         due_window=(date(2026, 9, 1), date(2026, 11, 30)))


class RecordingLedger:
    def __init__(self):
        self.moves = []

    def move(self, plan, state, **fields):
        self.moves.append((state, fields))


@pytest.mark.parametrize(("memo", "method"), [
    ("PIX TRANSF  JOAO SI05/11", "PIX_PAGAMENTO_INSTANTANEO"),
    ("TED 237.1234COMERCIAL ALVES", "TRANSFERENCIA_BANCARIA"),
    ("Transferência recebida - 05/11 1234 56789 NOME", "TRANSFERENCIA_BANCARIA"),
    ("PAGAMENTO DE TÍTULO", "BOLETO_BANCARIO"),
    ("TAR PACOTE ITAU NOV", None),
])
def test_payment_method_from_memo_uses_the_exact_enum(memo, method):
    assert payment_method(memo) == method


def test_baixa_body_is_tagged_and_exact():
    body = baixa_body(PLAN)
    assert body["nsu"] == "recon:abc123" and body["observacao"].startswith("recon:abc123")
    assert str(body["composicao_valor"]["valor_bruto"]) == "2450.37"
    assert body["data_pagamento"] == "2026-11-04" and body["conta_financeira"] == "c1"


def test_note_keeps_what_a_person_wrote():
    note = reconciliation_note("Cliente pediu recibo", PLAN)
    assert note.startswith("Cliente pediu recibo\n[recon]")
    assert "04/11/2026" in note and "R$ 2.450,37" in note and "abc123" in note


def test_patch_conflict_rereads_the_versao_and_retries_once(tmp_path):
    versions = iter([4, 5])
    patches = []

    def handler(request: httpx.Request) -> httpx.Response:
        if (granted := token_response(request)) is not None:
            return granted
        if request.method == "GET":
            return httpx.Response(200, json={"id": "p1", "versao": next(versions), "status": "QUITADO",
                                             "nota": "", "baixas": []})
        patches.append(json.loads(request.content))
        if len(patches) == 1:
            return httpx.Response(409, json={"code": 409, "message": "Versão informada para o recurso é inválida"})
        return httpx.Response(200, json={"versao": 6})

    client = mock_client(tmp_path, handler)
    ledger = RecordingLedger()

    async def go():
        async with client:
            await annotate(ledger, client, PLAN)

    asyncio.run(go())
    assert [p["versao"] for p in patches] == [4, 5]
    assert ledger.moves[-1] == ("annotated", {"versao_after": 6, "error": None})


SETTLED_BY_HAND = {"id": "p1", "versao": 3, "status": "QUITADO", "nao_pago": 0, "nota": "",
                   "baixas": [{"id": "b0", "observacao": "pago no caixa",
                               "valor_composicao": {"valor_bruto": 2450.37}}]}
PARTLY_PAID_BY_HAND = {"id": "p1", "versao": 3, "status": "RECEBIDO_PARCIAL", "nao_pago": 1000.00,
                       "nota": "", "baixas": []}


@pytest.mark.parametrize(("detail", "reason"), [
    (SETTLED_BY_HAND, "settled"),
    (PARTLY_PAID_BY_HAND, "R$ 1.000,00"),  # a partial payment recorded meanwhile
], ids=["settled", "partly-paid"])
def test_a_parcela_changed_between_matching_and_writing_is_skipped_without_a_post(
        tmp_path, detail, reason):
    from recon.settle import _settle_one

    posts = []

    def handler(request: httpx.Request) -> httpx.Response:
        if (granted := token_response(request)) is not None:
            return granted
        if request.method == "POST":
            posts.append(request)
        return httpx.Response(200, json=detail)

    client = mock_client(tmp_path, handler)
    ledger = RecordingLedger()

    async def go():
        async with client:
            await _settle_one(ledger, client, PLAN)

    asyncio.run(go())
    assert posts == []
    state, fields = ledger.moves[-1]
    assert state == "skipped" and reason in fields["error"]


def test_lean_mode_reads_a_parcela_only_when_it_changed_since_the_pull(tmp_path):

    from recon.settle import apply_plan, write_plan
    from recon.store import Store

    requests = []
    other = replace(PLAN, line_key="def456", parcela_id="p2")

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append((request.method, request.url.path))
        if (granted := token_response(request)) is not None:
            return granted
        if request.url.path.endswith("/buscar"):
            changed = [{"id": "p1"}] if "receber" in request.url.path else []
            return httpx.Response(200, json={"itens_totais": len(changed), "itens": changed})
        if request.method == "GET":  # p1 was settled by a person after the pull
            return httpx.Response(200, json={"id": "p1", "versao": 3, "status": "QUITADO",
                                             "nao_pago": 0, "nota": "", "baixas": []})
        return httpx.Response(200, json={"id": "b-new", "versao": 1})

    client = mock_client(tmp_path, handler)
    options = lean_options()

    async def go():
        async with client:
            with Store(tmp_path / "s.duckdb") as store:
                write_plan(store, [PLAN, other])
                await apply_plan(store, client, [PLAN, other], options)
                return {r["parcela_id"]: r["state"] for r in store.query("SELECT * FROM settlements")}

    states = asyncio.run(go())
    assert states == {"p1": "skipped", "p2": "confirmed"}
    posts = [path for method, path in requests if method == "POST" and "/v1/" in path]
    assert posts == ["/v1/financeiro/eventos-financeiros/parcelas/p2/baixa"]


def test_the_ledger_never_walks_a_row_back_to_a_replannable_state(tmp_path):
    from recon.settle import Ledger
    from recon.store import Store

    with Store(tmp_path / "s.duckdb") as store:
        ledger = Ledger(store)
        assert ledger.record_intent(PLAN)
        ledger.move(PLAN, "sent")
        ledger.move(PLAN, "unknown", error="timeout")
        ledger.move(PLAN, "failed", error="lookup failed too")  # refused: the baixa may exist
        assert ledger.state_of(PLAN) == "unknown"
        assert not ledger.record_intent(PLAN)  # a live row is never planned over
        ledger.move(PLAN, "confirmed", baixa_id="b1")
        ledger.move(PLAN, "failed", error="PATCH refused")
        [row] = store.query("SELECT state, baixa_id, error FROM settlements")
        assert row == {"state": "confirmed", "baixa_id": "b1", "error": "PATCH refused"}


def test_a_pair_abandoned_before_is_read_first_even_in_lean_mode(tmp_path):
    """The POST whose answer was lost may land after our lookup: when the pair is planned
    again, the parcela is read and our tag found, so no second baixa is sent."""

    from recon.pipeline import apply_planned
    from recon.settle import record_event, write_plan
    from recon.store import Store

    requests = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append((request.method, request.url.path))
        if (granted := token_response(request)) is not None:
            return granted
        if request.url.path.endswith("/buscar"):
            return httpx.Response(200, json={"itens_totais": 0, "itens": []})
        return httpx.Response(200, json={  # the late baixa, with our tag
            "id": "p1", "versao": 3, "status": "QUITADO", "nao_pago": 0, "nota": "",
            "baixas": [{"id": "b-late", "observacao": "recon:abc123 run:run0",
                        "nsu": "recon:abc123", "data_pagamento": "2026-11-04",
                        "valor_composicao": {"valor_bruto": "2450.37"}}]})

    client = mock_client(tmp_path, handler)
    options = lean_options()

    async def go():
        async with client:
            with Store(tmp_path / "s.duckdb") as store:
                store.execute(
                    """INSERT INTO statement_lines (line_key, file, bank_code, branch,
                           account_number, conta_financeira_id, posted_on, amount_cents, memo,
                           first_run_id)
                       VALUES ('abc123', 'itau.ofx', '341', '1234', '567890', 'c1', ?, -245037,
                               'PAGAMENTO DE TITULO LIGHT', 'run0')""", [PLAN.data_pagamento])
                record_event(store, "recon", "abandoned", line_key="abc123", parcela_id="p1")
                write_plan(store, [PLAN])
                await apply_planned(store, client, options, run_id=PLAN.run_id)
                return store.query("SELECT state, baixa_id FROM settlements")

    [row] = asyncio.run(go())
    assert row == {"state": "confirmed", "baixa_id": "b-late"}
    assert not any(method == "POST" and "/v1/" in path for method, path in requests)
