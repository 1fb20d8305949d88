"""The stand-in's injected faults, OAuth login flow and counters, over real sockets with httpx."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from test_standin import CLIENTE, CONTA, EVENTS, OPEN, make_state, refresh, settle

from recon.contaazul import standin as standin_module
from recon.contaazul.standin import Faults, StandIn, load_state

CONTAS = "/v1/conta-financeira"
PARCELA = f"{EVENTS}/parcelas/{OPEN}"
CLIENT_AUTH = ("demo-client", "demo-secret")
REDIRECT = "http://127.0.0.1:8123/callback"
REUSED = {"error": "invalid_grant", "error_description": "Refresh token has been used"}


@contextmanager
def serving(state: dict | None = None, **faults: object) -> Iterator[tuple[StandIn, httpx.Client]]:
    """A stand-in with these faults and a client holding the state's valid Bearer token."""
    with StandIn(state or make_state(), faults=Faults(**faults)) as server, httpx.Client(
        base_url=server.api_url, headers={"Authorization": "Bearer tok-valid"}, timeout=5
    ) as api:
        yield server, api


def statuses(api: httpx.Client, count: int, path: str = PARCELA) -> list[int]:
    return [api.get(path).status_code for _ in range(count)]


# --- random read errors --------------------------------------------------------------------


def test_read_errors_hit_a_seeded_fraction_of_reads_and_leave_state_alone() -> None:
    with serving(read_error_rate=0.5, seed=7) as (server, api):
        before = server.snapshot()
        replies = [api.get(PARCELA) for _ in range(40)]
        assert server.snapshot() == before
    codes = [r.status_code for r in replies]
    assert 200 in codes and set(codes) <= {200, 500, 502, 503, 504}
    assert 8 <= sum(code != 200 for code in codes) <= 32
    for reply in replies:
        if reply.status_code in (500, 503):
            assert reply.json() == {"code": reply.status_code, "message": (
                "Ocorreu um erro inesperado no servidor. Tente novamente mais tarde.")}
        elif reply.status_code in (502, 504):
            assert reply.content == b""
    assert server.stats.as_dict()["statuses"] == {
        code: codes.count(code) for code in set(codes)}


def test_the_same_seed_gives_the_same_read_errors() -> None:
    runs = []
    for _ in range(2):
        with serving(read_error_rate=0.3, seed=42) as (_server, api):
            runs.append(statuses(api, 30))
    assert runs[0] == runs[1] and set(runs[0]) != {200}


def test_read_errors_spare_writes_and_the_token_endpoint() -> None:
    with serving(read_error_rate=1.0, seed=1) as (server, api):
        assert settle(api, OPEN, "10.00").status_code == 200
        assert refresh(server, "rt-seed").status_code == 200
        assert api.get(PARCELA).status_code in (500, 502, 503, 504)


# --- ambiguous writes ----------------------------------------------------------------------


def test_ambiguous_write_lands_but_answers_504_empty(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(standin_module.render_state(make_state()), encoding="utf-8")
    faults = Faults(ambiguous_write_rate=1.0, seed=3)
    with StandIn(state_path=path, faults=faults) as server, httpx.Client(
        base_url=server.api_url, headers={"Authorization": "Bearer tok-valid"}
    ) as api:
        response = settle(api, OPEN, "1500.00", nsu="NSU-9")
        assert (response.status_code, response.content) == (504, b"")
        landed = api.get(f"{PARCELA}/baixa").json()
        # Once flaked in CI with two baixas after one logged POST: say what was there.
        assert [b["nsu"] for b in landed] == ["NSU-9"], (landed, server.journal)
        assert api.get(PARCELA).json()["status"] == "QUITADO"
        refused = settle(api, OPEN, "1.00", metodo_pagamento="PIX")  # a 400 stays a 400
        assert refused.status_code == 400
    assert server.stats.ambiguous_writes == 1
    (saved,) = [p for p in load_state(path)["parcelas"] if p["id"] == OPEN]
    assert [b["nsu"] for b in saved["baixas"]] == ["NSU-9"]


def test_ambiguous_writes_hit_only_a_fraction_of_baixas() -> None:
    with serving(ambiguous_write_rate=0.5, seed=11) as (server, api):
        codes = [settle(api, OPEN, "1.00").status_code for _ in range(20)]
        stored = len(api.get(f"{PARCELA}/baixa").json())
        patched = api.patch(PARCELA, json={"versao": 21, "nota": "x"})
    assert set(codes) == {200, 504} and stored == 20
    assert server.stats.ambiguous_writes == codes.count(504)
    assert patched.status_code == 200  # only POST baixa is ever ambiguous


# --- latency -------------------------------------------------------------------------------


def test_latency_delays_each_answer_without_serialising_requests() -> None:
    with serving(latency_seconds=0.5) as (server, api):
        started = time.monotonic()
        assert api.get(CONTAS).status_code == 200
        assert time.monotonic() - started >= 0.5

        results: list[int] = []

        def fetch() -> None:
            with httpx.Client(base_url=server.api_url, timeout=5,
                              headers={"Authorization": "Bearer tok-valid"}) as own:
                results.append(own.get(PARCELA).status_code)

        threads = [threading.Thread(target=fetch) for _ in range(4)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    assert results == [200] * 4
    # Four 0.5 s sleeps overlapped, not queued behind a lock (2 s): a second of slack for a
    # loaded machine starting threads.
    assert 0.5 <= elapsed < 1.5


# --- rate limits ---------------------------------------------------------------------------


def test_per_second_window_slides() -> None:
    with serving(rate_limit_per_second=3) as (server, api):
        first = statuses(api, 4, CONTAS)
        limited = api.get(CONTAS)
        time.sleep(1.05)
        after = statuses(api, 3, CONTAS)
        assert refresh(server, "rt-seed").status_code == 200  # /oauth2 is not limited
    assert first == [200, 200, 200, 429] and after == [200, 200, 200]
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert limited.json() == {"code": 429, "message": "Too Many Requests"}


def test_per_minute_window_asks_to_wait_until_a_slot_frees() -> None:
    with serving(rate_limit_per_minute=3, rate_limit_per_second=10) as (server, api):
        assert statuses(api, 3, CONTAS) == [200, 200, 200]
        limited = api.get(CONTAS)
    assert limited.status_code == 429 and limited.json()["code"] == 429
    assert 55 <= int(limited.headers["Retry-After"]) <= 60
    assert server.stats.statuses[429] == 1


def test_storm_answers_429_to_everything_inside_its_window() -> None:
    # Margins of half a second or more around the window: on a loaded machine a request
    # can take a few hundred milliseconds (a 0.4 s window once left a negative sleep).
    with serving(rate_limit_storm=(0.5, 1.5)) as (server, api):
        started = time.monotonic()  # a hair after the server's own start
        before = api.get(CONTAS)
        time.sleep(max(0.0, 0.6 - (time.monotonic() - started)))
        during = [api.get(path) for path in (CONTAS, PARCELA, "/v1/pessoas")]
        token = refresh(server, "rt-seed")
        time.sleep(max(0.0, 2.5 - (time.monotonic() - started)))
        after = api.get(CONTAS)
    assert before.status_code == 200 and after.status_code == 200
    assert [r.status_code for r in during] == [429, 429, 429]
    assert {r.headers["Retry-After"] for r in during} == {"1"}
    assert token.status_code == 200


def test_a_storm_from_the_first_request_waits_for_the_client_however_late_it_comes() -> None:
    with serving(rate_limit_storm=(0.0, 0.3), storm_from_first_request=True) as (server, api):
        time.sleep(0.5)  # longer than the storm: timed from the server's start, it would be over
        first = api.get(CONTAS)
        time.sleep(0.4)
        after = api.get(CONTAS)
    assert first.status_code == 429 and after.status_code == 200
    assert server.stats.statuses[429] == 1


@pytest.mark.parametrize("bad", [
    {"read_error_rate": 1.5}, {"ambiguous_write_rate": -0.1}, {"latency_seconds": -1},
    {"rate_limit_per_second": 0}, {"rate_limit_storm": (-1.0, 2.0)},
])
def test_faults_refuse_nonsense(bad: dict) -> None:
    with pytest.raises(ValueError):
        Faults(**bad)


# --- tokens --------------------------------------------------------------------------------


def test_access_token_expires_mid_run() -> None:
    state = make_state() | {"access_token_ttl_seconds": 1}
    with StandIn(state) as server, httpx.Client(base_url=server.api_url) as api:
        token = refresh(server, "rt-seed").json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert api.get(CONTAS, headers=headers).status_code == 200
        time.sleep(1.05)
        expired = api.get(CONTAS, headers=headers)
    assert expired.status_code == 401
    assert expired.json() == {"code": 401, "message": "The Token has expired."}


def test_fractional_ttl_is_honoured() -> None:
    state = make_state() | {"access_token_ttl_seconds": 1.5}
    with StandIn(state) as server:
        tokens = refresh(server, "rt-seed").json()
        expiry = datetime.fromisoformat(server.snapshot()["access_tokens"][tokens["access_token"]])
    assert tokens["expires_in"] == 1.5
    assert 1.0 < (expiry - datetime.now(UTC)).total_seconds() <= 1.5


def test_reused_refresh_token_is_refused_and_the_chain_survives() -> None:
    with serving() as (server, _api):
        first = refresh(server, "rt-seed").json()["refresh_token"]
        reused = refresh(server, "rt-seed")
        assert (reused.status_code, reused.json()) == (400, REUSED)
        assert refresh(server, first).status_code == 200
        made_up = refresh(server, "never-issued")
    assert made_up.status_code == 400 and made_up.json()["error"] == "invalid_grant"
    assert made_up.json() != REUSED
    counts = server.stats.as_dict()
    assert (counts["refreshes"], counts["invalid_grants"]) == (2, 2)


def test_reuse_revokes_the_live_token_of_the_chain_when_asked() -> None:
    state = make_state() | {"refresh_tokens": ["rt-seed", "rt-other-company"]}
    with serving(state, revoke_family_on_reuse=True) as (server, _api):
        first = refresh(server, "rt-seed").json()["refresh_token"]
        live = refresh(server, first).json()["refresh_token"]
        reused = refresh(server, "rt-seed")  # two hops behind the live token
        assert (reused.status_code, reused.json()) == (400, REUSED)
        revoked = refresh(server, live)
        assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"
        assert refresh(server, "rt-other-company").status_code == 200  # other chains live on
    assert live not in server.snapshot()["refresh_tokens"]


# --- authorization-code login --------------------------------------------------------------


def authorize(server: StandIn, client_id: str = "demo-client", redirect_uri: str = REDIRECT,
              state: str = "xyz-123") -> httpx.Response:
    """The URL as `recon auth login` builds it: redirect_uri literal, scopes joined by '+'."""
    url = (f"{server.base_url}/oauth2/authorize?response_type=code&client_id={client_id}"
           f"&redirect_uri={redirect_uri}&state={state}"
           "&scope=openid+profile+aws.cognito.signin.user.admin")
    return httpx.get(url, follow_redirects=False)


def exchange(server: StandIn, code: str, redirect_uri: str = REDIRECT,
             auth: tuple[str, str] = CLIENT_AUTH) -> httpx.Response:
    return httpx.post(server.token_url, auth=auth, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})


def test_authorize_redirects_with_a_code_that_works_once() -> None:
    with serving() as (server, _api):
        response = authorize(server)
        assert response.status_code == 302 and response.content == b""
        location = response.headers["Location"]
        assert location.startswith(f"{REDIRECT}?code=")
        params = parse_qs(urlsplit(location).query)
        code = params["code"][0]
        assert params["state"] == ["xyz-123"]

        wrong_uri = exchange(server, code, redirect_uri="http://127.0.0.1:9999/callback")
        assert wrong_uri.status_code == 400 and wrong_uri.json()["error"] == "invalid_grant"
        granted = exchange(server, code)
        assert granted.status_code == 200
        again = exchange(server, code)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        fresh = httpx.get(f"{server.api_url}{CONTAS}",
                          headers={"Authorization": f"Bearer {granted.json()['access_token']}"})
        assert fresh.status_code == 200
    assert [e.status for e in server.journal if e.path == "/oauth2/authorize"] == [302]


def test_authorize_refuses_unknown_clients_and_keeps_a_redirect_query() -> None:
    state = make_state()
    state["clients"]["other-client"] = "other-secret"
    with serving(state) as (server, _api):
        assert authorize(server, client_id="nobody").status_code == 400
        with_query = authorize(server, redirect_uri="http://127.0.0.1:8123/cb?tenant=7")
        location = with_query.headers["Location"]
        assert location.startswith("http://127.0.0.1:8123/cb?tenant=7&code=")
        code = parse_qs(urlsplit(location).query)["code"][0]
        stolen = exchange(server, code, "http://127.0.0.1:8123/cb?tenant=7",
                          auth=("other-client", "other-secret"))
        assert stolen.status_code == 400
        assert exchange(server, code, "http://127.0.0.1:8123/cb?tenant=7").status_code == 200


def test_authorization_codes_expire() -> None:
    state = make_state() | {"auth_codes": [{
        "code": "old-code", "client_id": "demo-client", "redirect_uri": REDIRECT,
        "expires_at": "2020-01-01T00:00:00+00:00"}]}
    with serving(state) as (server, _api):
        expired = exchange(server, "old-code")
        assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"
        code = parse_qs(urlsplit(authorize(server).headers["Location"]).query)["code"][0]
        (entry,) = server.snapshot()["auth_codes"]  # the expired one was dropped
    remaining = datetime.fromisoformat(entry["expires_at"]) - datetime.now(UTC)
    assert entry["code"] == code and 170 < remaining.total_seconds() <= 180


# --- connected company and counters --------------------------------------------------------


def test_conta_conectada_has_the_company_shape() -> None:
    with serving() as (_server, api):
        default = api.get("/v1/pessoas/conta-conectada")
        assert httpx.get(f"{api.base_url}/v1/pessoas/conta-conectada").status_code == 401
    assert default.status_code == 200
    assert set(default.json()) == {"id_empresa", "documento", "razao_social", "nome_fantasia",
                                   "data_fundacao", "email"}
    assert default.json()["data_fundacao"] == "2015-03-01"

    empresa = {"id_empresa": CLIENTE, "documento": "98765432000110",
               "razao_social": "Padaria Pão Quente Ltda", "nome_fantasia": "Pão Quente",
               "data_fundacao": "2019-07-15", "email": "dono@padaria.example"}
    with serving(make_state() | {"empresa": empresa}) as (_server, api):
        assert api.get("/v1/pessoas/conta-conectada").json() == empresa


def test_stats_count_requests_statuses_and_grants() -> None:
    with serving(fail_next={"list_contas": 1}) as (server, api):
        api.get(CONTAS)
        api.get(CONTAS)
        api.get("/v1/nao-existe")
        refresh(server, "rt-seed")
        refresh(server, "rt-seed")
        settle(api, OPEN, "1.00", conta_financeira=CONTA)
    assert server.stats.as_dict() == {
        "requests": 6, "statuses": {500: 1, 200: 3, 404: 1, 400: 1},
        "refreshes": 1, "invalid_grants": 1, "ambiguous_writes": 0}
