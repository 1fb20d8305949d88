"""The Conta Azul stand-in, exercised over real sockets with httpx."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from recon.contaazul import standin as standin_module
from recon.contaazul import standin_state
from recon.contaazul.standin import Faults, StandIn, load_state
from recon.money import dumps_json

EVENTS = "/v1/financeiro/eventos-financeiros"
RECEBER = f"{EVENTS}/contas-a-receber/buscar"
PAGAR = f"{EVENTS}/contas-a-pagar/buscar"
WINDOW = {"pagina": 1, "tamanho_pagina": 10,
          "data_vencimento_de": "2026-10-01", "data_vencimento_ate": "2026-12-31"}

CONTA = "c0000000-0000-4000-8000-000000000001"
CLIENTE = "a0000000-0000-4000-8000-000000000001"
OPEN = "p0000000-0000-4000-8000-000000000001"  # due after "today": PENDENTE
LATE = "p0000000-0000-4000-8000-000000000002"  # due before "today": ATRASADO
PAID = "p0000000-0000-4000-8000-000000000003"  # one full baixa: QUITADO
CANCELLED = "p0000000-0000-4000-8000-000000000004"
BILL = "p0000000-0000-4000-8000-000000000005"  # a DESPESA
PAID_BAIXA = "b0000000-0000-4000-8000-000000000001"


def parcela(pid: str, valor: str, due: str, *, tipo: str = "RECEITA", **extra: object) -> dict:
    return {
        "id": pid, "evento_id": "e" + pid[1:], "tipo": tipo, "descricao": f"Fatura {pid[-1]}",
        "data_vencimento": due, "data_competencia": "2026-11-01", "valor": Decimal(valor),
        "contato_id": CLIENTE if tipo == "RECEITA" else None, "versao": 1, "nota": "",
        "status": "PENDENTE", "data_alteracao": "2026-11-01T10:22:47.97218", "baixas": [],
        "categorias": [{"id": "cat-1", "nome": "Vendas"}], "conciliado": False, **extra,
    }


def make_state() -> dict:
    full_baixa = {
        "id": PAID_BAIXA, "versao": 1, "data_pagamento": "2026-11-02",
        "composicao_valor": {"valor_bruto": Decimal("250.00"), "multa": 0, "juros": 0,
                             "desconto": 0, "taxa": 0},
        "conta_financeira": CONTA, "metodo_pagamento": "PIX_PAGAMENTO_INSTANTANEO",
        "observacao": "seed", "nsu": None, "atualizado_em": "2026-11-02T09:00:00",
    }
    return {
        "today": "2026-11-10",
        "clients": {"demo-client": "demo-secret"},
        "refresh_tokens": ["rt-seed"],
        "auth_codes": ["code-seed"],
        "access_tokens": {"tok-valid": "2099-01-01T00:00:00+00:00",
                          "tok-expired": "2020-01-01T00:00:00+00:00"},
        "access_token_ttl_seconds": 3600,
        "contas_financeiras": [{
            "id": CONTA, "nome": "Itaú PJ", "banco": "ITAU", "codigo_banco": 341,
            "agencia": "1234", "numero": "56789-0", "tipo": "CONTA_CORRENTE", "ativo": True,
            "conta_padrao": True, "possui_config_boleto_bancario": False}],
        "pessoas": [{
            "id": CLIENTE, "nome": "Padaria Pão Quente Ltda", "documento": "12345678000199",
            "email": "financeiro@padaria.example", "tipo_pessoa": "Jurídica",
            "perfis": ["Cliente"], "ativo": True}],
        "parcelas": [
            parcela(OPEN, "1500.00", "2026-11-20"),
            parcela(LATE, "99.90", "2026-11-03"),
            parcela(PAID, "250.00", "2026-11-01", status="QUITADO", baixas=[full_baixa]),
            parcela(CANCELLED, "10.00", "2026-11-05", status="CANCELADO"),
            parcela(BILL, "700.00", "2026-11-15", tipo="DESPESA"),
        ],
    }


@pytest.fixture
def server() -> Iterator[StandIn]:
    with StandIn(make_state()) as running:
        yield running


@pytest.fixture
def api(server: StandIn) -> Iterator[httpx.Client]:
    headers = {"Authorization": "Bearer tok-valid"}
    with httpx.Client(base_url=server.api_url, headers=headers, timeout=5) as client:
        yield client


def body(response: httpx.Response) -> object:
    return json.loads(response.text, parse_float=Decimal)


def refresh(server: StandIn, refresh_token: str) -> httpx.Response:
    return httpx.post(server.token_url, auth=("demo-client", "demo-secret"),
                      data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def search(api: httpx.Client, path: str = RECEBER, **params: object) -> httpx.Response:
    return api.get(path, params={**WINDOW, **params})


def settle(api: httpx.Client, pid: str, amount: str, **fields: object) -> httpx.Response:
    payload = {"data_pagamento": "2026-11-09", "conta_financeira": CONTA,
               "composicao_valor": {"valor_bruto": Decimal(amount)}, **fields}
    return api.post(f"{EVENTS}/parcelas/{pid}/baixa", content=dumps_json(payload),
                    headers={"Content-Type": "application/json"})


def detail(api: httpx.Client, pid: str) -> dict:
    response = api.get(f"{EVENTS}/parcelas/{pid}")
    assert response.status_code == 200
    return body(response)  # type: ignore[return-value]


# --- OAuth ---------------------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token_and_the_old_one_is_dead(server: StandIn) -> None:
    first = refresh(server, "rt-seed")
    assert first.status_code == 200
    tokens = first.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["refresh_token"] != "rt-seed"

    reused = refresh(server, "rt-seed")
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    second = refresh(server, tokens["refresh_token"])
    assert second.status_code == 200
    fresh = httpx.get(f"{server.api_url}/v1/conta-financeira",
                      headers={"Authorization": f"Bearer {second.json()['access_token']}"})
    assert fresh.status_code == 200


def test_client_credentials_in_the_body_are_accepted_and_wrong_ones_refused(
    server: StandIn,
) -> None:
    wrong = httpx.post(server.token_url, auth=("demo-client", "nope"),
                       data={"grant_type": "refresh_token", "refresh_token": "rt-seed"})
    assert wrong.status_code == 401 and wrong.json() == {"error": "invalid_client"}
    in_body = httpx.post(server.token_url, data={
        "grant_type": "refresh_token", "refresh_token": "rt-seed",
        "client_id": "demo-client", "client_secret": "demo-secret"})
    assert in_body.status_code == 200


def test_authorization_code_is_single_use(server: StandIn) -> None:
    form = {"grant_type": "authorization_code", "code": "code-seed", "redirect_uri": "http://x"}
    auth = ("demo-client", "demo-secret")
    assert httpx.post(server.token_url, auth=auth, data=form).status_code == 200
    again = httpx.post(server.token_url, auth=auth, data=form)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_api_refuses_missing_unknown_and_expired_tokens(server: StandIn) -> None:
    url = f"{server.api_url}/v1/conta-financeira"
    assert httpx.get(url).json() == {"code": 401, "message": "Unauthorized"}
    unknown = httpx.get(url, headers={"Authorization": "Bearer made-up"})
    assert unknown.status_code == 401
    expired = httpx.get(url, headers={"Authorization": "Bearer tok-expired"})
    assert expired.status_code == 401
    assert expired.json() == {"code": 401, "message": "The Token has expired."}


def test_token_issued_with_zero_ttl_is_already_expired() -> None:
    state = make_state() | {"access_token_ttl_seconds": 0}
    with StandIn(state) as server:
        token = refresh(server, "rt-seed").json()["access_token"]
        response = httpx.get(f"{server.api_url}/v1/conta-financeira",
                             headers={"Authorization": f"Bearer {token}"})
    assert response.json()["message"] == "The Token has expired."


# --- searching -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["1", "25", "abc"])
def test_page_size_outside_the_enum_is_refused(api: httpx.Client, size: str) -> None:
    response = search(api, tamanho_pagina=size)
    assert response.status_code == 400
    assert response.json()["error"].startswith("O tamanho da página deve ser")


def test_due_window_is_required_and_ordered(api: httpx.Client) -> None:
    missing = api.get(RECEBER, params={"pagina": 1, "tamanho_pagina": 10})
    assert missing.status_code == 400 and missing.json()["code"] == 400
    backwards = search(api, data_vencimento_de="2026-12-01", data_vencimento_ate="2026-11-01")
    assert backwards.status_code == 400
    assert backwards.json()["message"] == (
        "A data de início não pode ser posterior à data de fim.")


def test_search_lists_receitas_with_both_status_vocabularies(api: httpx.Client) -> None:
    result = body(search(api))
    by_id = {item["id"]: item for item in result["itens"]}
    assert list(by_id) == [PAID, LATE, OPEN]  # by due date; CANCELADO and the DESPESA absent
    assert (by_id[OPEN]["status"], by_id[OPEN]["status_traduzido"]) == ("PENDING", "EM_ABERTO")
    assert (by_id[LATE]["status"], by_id[LATE]["status_traduzido"]) == ("OVERDUE", "ATRASADO")
    assert (by_id[PAID]["status"], by_id[PAID]["status_traduzido"]) == ("ACQUITTED", "RECEBIDO")
    assert by_id[OPEN]["cliente"] == {"id": CLIENTE, "nome": "Padaria Pão Quente Ltda"}
    assert by_id[PAID]["pago"] == Decimal("250.00") and by_id[PAID]["nao_pago"] == 0
    assert result["totais"]["vencido"] == Decimal("99.90")
    assert result["totais"]["aberto"] == Decimal("1599.90")


def test_search_filters_by_status_value_description_and_client(api: httpx.Client) -> None:
    def ids(**params: object) -> list[str]:
        return [item["id"] for item in body(search(api, **params))["itens"]]

    assert ids(status=["EM_ABERTO", "ATRASADO"]) == [LATE, OPEN]
    assert ids(status="RECEBIDO") == [PAID]
    assert ids(valor_de="100", valor_ate="1000.00") == [PAID]
    assert ids(descricao="fatura 2") == [LATE]
    assert ids(ids_clientes="a0000000-0000-4000-8000-00000000ffff") == []
    assert ids(nome_errado="x") == [PAID, LATE, OPEN]  # unknown parameters are ignored
    assert search(api, status="PENDING").status_code == 400


def test_contas_a_pagar_use_fornecedor_with_null_contact(api: httpx.Client) -> None:
    (item,) = body(search(api, PAGAR))["itens"]
    assert item["id"] == BILL
    assert item["fornecedor"] == {"id": None, "nome": None} and "cliente" not in item


def test_pagination_counts_every_match_and_slices_pages() -> None:
    state = make_state()
    state["parcelas"] += [parcela(f"q{n:035d}", "1.00", "2026-11-25") for n in range(12)]
    with StandIn(state) as server, httpx.Client(
        base_url=server.api_url, headers={"Authorization": "Bearer tok-valid"}
    ) as api:
        pages = [body(search(api, pagina=n)) for n in (1, 2, 3)]
    assert [page["itens_totais"] for page in pages] == [15, 15, 15]
    assert [len(page["itens"]) for page in pages] == [10, 5, 0]
    seen = [item["id"] for page in pages for item in page["itens"]]
    assert len(set(seen)) == 15


# --- PATCH parcela -------------------------------------------------------------------------


def test_patch_without_or_with_stale_versao_conflicts(api: httpx.Client) -> None:
    url = f"{EVENTS}/parcelas/{OPEN}"
    conflict = {"code": 409, "message": "Versão informada para o recurso é inválida"}
    missing = api.patch(url, json={"nota": "x"})
    assert missing.status_code == 409 and missing.json() == conflict
    assert api.patch(url, json={"versao": 1, "nota": "first"}).status_code == 200
    stale = api.patch(url, json={"versao": 1, "nota": "second"})
    assert stale.status_code == 409 and stale.json() == conflict


def test_patch_edits_fields_but_never_settles(api: httpx.Client) -> None:
    response = api.patch(f"{EVENTS}/parcelas/{OPEN}", json={
        "versao": 1, "nota": "conciliado pelo recon", "valor": 0, "data_pagamento": "2026-11-09",
        "composicao_valor": {"valor_bruto": 1500}})
    assert response.status_code == 200
    reply = response.json()
    assert reply["versao"] == 2 and reply["nota"] == "conciliado pelo recon"
    assert "valor" not in reply and "data_pagamento" not in reply  # dropped silently
    after = detail(api, OPEN)
    assert after["status"] == "PENDENTE" and after["valor_pago"] == 0 and after["baixas"] == []
    assert after["versao"] == 2 and after["nota"] == "conciliado pelo recon"


# --- baixas --------------------------------------------------------------------------------


def test_partial_then_full_baixa_settles_and_bumps_versao(api: httpx.Client) -> None:
    first = settle(api, OPEN, "500.00", metodo_pagamento="PIX_PAGAMENTO_INSTANTANEO",
                   observacao="recon run 7 line 3")
    assert first.status_code == 200
    created = body(first)
    assert created["versao"] == 1 and created["conta_financeira"] == CONTA
    assert created["composicao_valor"]["valor_bruto"] == Decimal("500.00")
    partial = detail(api, OPEN)
    assert (partial["status"], partial["versao"]) == ("RECEBIDO_PARCIAL", 2)
    assert partial["nao_pago"] == Decimal("1000.00")

    assert settle(api, OPEN, "1000.00").status_code == 200
    settled = detail(api, OPEN)
    assert (settled["status"], settled["versao"]) == ("QUITADO", 3)
    listed = {i["id"]: i for i in body(search(api))["itens"]}
    assert listed[OPEN]["status"] == "ACQUITTED"


def test_baixas_read_back_with_the_read_names(api: httpx.Client) -> None:
    created = body(settle(api, LATE, "99.90", nsu="NSU-1"))
    listed = api.get(f"{EVENTS}/parcelas/{LATE}/baixa")
    assert listed.status_code == 200
    (baixa,) = body(listed)
    assert baixa["id"] == created["id"]
    assert "composicao_valor" not in baixa
    assert baixa["valor_composicao"]["valor_bruto"] == Decimal("99.90")
    assert baixa["valor_composicao"]["valor_liquido"] == Decimal("99.90")
    assert baixa["conta_financeira"] == {"id": CONTA, "nome": "Itaú PJ"}
    assert (baixa["id_parcela"], baixa["tipo_evento_financeiro"]) == (LATE, "RECEITA")
    assert baixa["id_reconciliacao"] is None and baixa["nsu"] == "NSU-1"
    assert body(api.get(f"{EVENTS}/parcelas/baixa/{created['id']}")) == baixa


def test_money_goes_out_as_exact_json_numbers(api: httpx.Client) -> None:
    text = api.get(f"{EVENTS}/parcelas/{LATE}").text
    assert '"valor_composicao": {"valor_bruto": 99.90,' in text


def test_delete_baixa_answers_empty_and_restores_the_status(api: httpx.Client) -> None:
    assert detail(api, PAID)["status"] == "QUITADO"
    deleted = api.delete(f"{EVENTS}/parcelas/baixa/{PAID_BAIXA}")
    assert deleted.status_code == 200 and deleted.content == b""
    restored = detail(api, PAID)
    assert (restored["status"], restored["versao"]) == ("ATRASADO", 2)
    gone = api.get(f"{EVENTS}/parcelas/baixa/{PAID_BAIXA}")
    assert gone.status_code == 404 and gone.content == b""


@pytest.mark.parametrize("short", ["PIX", "TED", "BOLETO"])
def test_short_payment_method_names_are_refused(api: httpx.Client, short: str) -> None:
    response = settle(api, OPEN, "1.00", metodo_pagamento=short)
    assert response.status_code == 400 and response.json()["code"] == 400
    assert detail(api, OPEN)["versao"] == 1


@pytest.mark.parametrize("missing", ["data_pagamento", "conta_financeira", "composicao_valor"])
def test_missing_required_baixa_field_gets_the_html_wrapped_400(
    api: httpx.Client, missing: str
) -> None:
    payload = {"data_pagamento": "2026-11-09", "conta_financeira": CONTA,
               "composicao_valor": {"valor_bruto": 1}}
    del payload[missing]
    response = api.post(f"{EVENTS}/parcelas/{OPEN}/baixa", json=payload)
    assert response.status_code == 400
    assert response.json()["message"].startswith("Unexpected character ('<'")


def test_baixa_refused_on_cancelled_parcela_and_unknown_conta(api: httpx.Client) -> None:
    assert settle(api, CANCELLED, "10.00").status_code == 400
    unknown_conta = settle(api, OPEN, "1.00", conta_financeira=CLIENTE)
    assert unknown_conta.status_code == 400


def test_unknown_ids_and_routes_are_404_with_empty_body(api: httpx.Client) -> None:
    for path in (f"{EVENTS}/parcelas/{CLIENTE}", f"{EVENTS}/parcelas/{CLIENTE}/baixa",
                 "/v1/pessoas/nobody", "/v1/nao-existe", f"{EVENTS}/{OPEN}"):
        response = api.get(path)
        assert (response.status_code, response.content) == (404, b""), path


# --- pessoas and contas financeiras --------------------------------------------------------


def test_pessoas_envelope_is_camel_case_with_null_items(api: httpx.Client) -> None:
    found = api.get("/v1/pessoas", params={"documentos": "12345678000199"}).json()
    assert found["totalItems"] == 1 and found["items"][0]["id"] == CLIENTE
    assert api.get("/v1/pessoas", params={"busca": "nobody"}).json() == {
        "totalItems": 0, "items": None}
    assert api.get(f"/v1/pessoas/{CLIENTE}").json()["nome"] == "Padaria Pão Quente Ltda"


def test_contas_financeiras_list(api: httpx.Client) -> None:
    listed = api.get("/v1/conta-financeira", params={"pagina": 1, "tamanho_pagina": 10}).json()
    assert listed["itens_totais"] == 1 and listed["itens"][0]["codigo_banco"] == 341
    bad = api.get("/v1/conta-financeira", params={"tamanho_pagina": 7})
    assert bad.status_code == 400


# --- state file, journal, faults -----------------------------------------------------------


def test_state_file_is_written_back_atomically_and_reloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    path.write_text(standin_module.render_state(make_state()), encoding="utf-8")
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace
    monkeypatch.setattr(standin_module.os, "replace",
                        lambda src, dst: (replaced.append((src, dst)), real_replace(src, dst)))
    with StandIn(state_path=path) as server, httpx.Client(
        base_url=server.api_url, headers={"Authorization": "Bearer tok-valid"}
    ) as api:
        assert settle(api, OPEN, "1500.00").status_code == 200
    assert replaced and replaced[-1][1] == path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temp file left
    saved = load_state(path)
    (opened,) = [p for p in saved["parcelas"] if p["id"] == OPEN]
    assert opened["versao"] == 2 and opened["status"] == "QUITADO"
    assert opened["baixas"][0]["composicao_valor"]["valor_bruto"] == Decimal("1500.00")
    with StandIn(state_path=path) as again, httpx.Client(
        base_url=again.api_url, headers={"Authorization": "Bearer tok-valid"}
    ) as api:
        assert detail(api, OPEN)["status"] == "QUITADO"


def test_rotated_refresh_token_is_persisted(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(standin_module.render_state(make_state()), encoding="utf-8")
    with StandIn(state_path=path) as server:
        new_token = refresh(server, "rt-seed").json()["refresh_token"]
    assert load_state(path)["refresh_tokens"] == [new_token]


def test_journal_records_requests_in_order_without_secrets(
    server: StandIn, api: httpx.Client
) -> None:
    refresh(server, "rt-seed")
    search(api, status=["EM_ABERTO", "ATRASADO"])
    settle(api, OPEN, "1.00")
    token, searched, written = server.journal
    assert (token.method, token.path, token.status) == ("POST", "/oauth2/token", 200)
    assert token.body == {"grant_type": "refresh_token", "refresh_token": "<redacted>"}
    assert searched.query["status"] == ["EM_ABERTO", "ATRASADO"]
    assert (written.method, written.status) == ("POST", 200)
    assert written.body["composicao_valor"] == {"valor_bruto": Decimal("1.00")}


def test_rate_limit_fault_answers_429_with_retry_after() -> None:
    with StandIn(make_state(), faults=Faults(rate_limit_per_second=2)) as server, httpx.Client(
        base_url=server.api_url, headers={"Authorization": "Bearer tok-valid"}
    ) as api:
        statuses = [api.get("/v1/conta-financeira") for _ in range(4)]
    assert [r.status_code for r in statuses[:2]] == [200, 200]
    limited = statuses[2]
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert [entry.status for entry in server.journal] == [200, 200, 429, 429]


def test_fail_next_fault_gives_500_without_touching_state() -> None:
    faults = Faults(fail_next={"create_baixa": 1})
    with StandIn(make_state(), faults=faults) as server, httpx.Client(
        base_url=server.api_url, headers={"Authorization": "Bearer tok-valid"}
    ) as api:
        failed = settle(api, OPEN, "1500.00")
        assert failed.status_code == 500 and failed.json()["code"] == 500
        assert detail(api, OPEN)["baixas"] == []
        assert settle(api, OPEN, "1500.00").status_code == 200


def test_internal_error_becomes_the_api_500(
    api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(standin_state, "parcela_detail", explode)
    response = api.get(f"{EVENTS}/parcelas/{OPEN}")
    assert response.status_code == 500
    assert response.json()["message"].startswith("Ocorreu um erro inesperado")


def test_constructor_needs_exactly_one_state_source(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        StandIn()
    with pytest.raises(ValueError):
        StandIn(make_state(), state_path=tmp_path / "x.json")
