"""Client retry, refresh and error mapping, with httpx.MockTransport (no network needed)."""

import asyncio
import json
import stat
import time

import httpx
import pytest
from support import TEST_SECRET, mock_client

from recon.contaazul.tokens import TokenFile, Tokens
from recon.errors import (
    ContaAzulAuthError,
    ContaAzulConflict,
    ContaAzulError,
    ContaAzulTransportError,
)

SECRET = TEST_SECRET


class FakeApi:
    """A scripted server: queue responses per route; records every request."""

    def __init__(self):
        self.requests: list[httpx.Request] = []
        self.scripts: dict[tuple[str, str], list[httpx.Response | Exception]] = {}
        self.refresh_count = 0

    def script(self, method, path, *responses):
        self.scripts.setdefault((method, path), []).extend(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/oauth2/token":
            self.refresh_count += 1
            form = dict(x.split("=") for x in request.content.decode().split("&"))
            if form["refresh_token"] == "revoked":
                return httpx.Response(400, json={"error": "invalid_grant"})
            return httpx.Response(200, json={"access_token": f"at-{self.refresh_count}",
                                             "refresh_token": f"rt-{self.refresh_count}",
                                             "expires_in": 3600})
        queue = self.scripts.get((request.method, request.url.path), [])
        outcome = queue.pop(0) if queue else httpx.Response(200, json={"ok": True})
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def make_client(tmp_path, fake, refresh_token="rt-0", **tokens):
    client = mock_client(tmp_path, fake, refresh_token=refresh_token, **tokens)
    return client, TokenFile(tmp_path / "tokens.json")


def run(coro):
    return asyncio.run(coro)


def test_first_call_refreshes_and_persists_the_rotated_token_0600(tmp_path):
    fake = FakeApi()
    client, token_file = make_client(tmp_path, fake)

    async def go():
        async with client:
            return await client.get("/v1/x")

    assert run(go()) == {"ok": True}
    saved = token_file.read()
    assert saved.refresh_token == "rt-1" and saved.access_token == "at-1"
    assert stat.S_IMODE((tmp_path / "tokens.json").stat().st_mode) == 0o600
    assert fake.requests[1].headers["Authorization"] == "Bearer at-1"


def test_concurrent_calls_refresh_once(tmp_path):
    fake = FakeApi()
    client, _ = make_client(tmp_path, fake)

    async def go():
        async with client:
            await asyncio.gather(*(client.get(f"/v1/{i}") for i in range(10)))

    run(go())
    assert fake.refresh_count == 1


def test_a_401_refreshes_once_and_retries(tmp_path):
    fake = FakeApi()
    fake.script("GET", "/v1/x", httpx.Response(401, json={"code": 401, "message": "The Token has expired."}))
    client, token_file = make_client(tmp_path, fake, access_token="old", expires_at=time.time() + 3600)

    async def go():
        async with client:
            return await client.get("/v1/x")

    assert run(go()) == {"ok": True}
    assert fake.refresh_count == 1
    assert token_file.read().refresh_token == "rt-1"


def test_invalid_grant_says_to_connect_again_and_never_shows_secrets(tmp_path):
    fake = FakeApi()
    client, _ = make_client(tmp_path, fake, refresh_token="revoked")

    async def go():
        async with client:
            await client.get("/v1/x")

    with pytest.raises(ContaAzulAuthError) as caught:
        run(go())
    message = str(caught.value)
    assert "run `recon auth login` again" in message
    assert SECRET not in message and "revoked" not in message


def test_reads_are_retried_on_503_and_transport_errors(tmp_path):
    fake = FakeApi()
    fake.script("GET", "/v1/x", httpx.Response(503), httpx.ConnectError("boom"),
                httpx.Response(200, json={"n": 1}))
    client, _ = make_client(tmp_path, fake)

    async def go():
        async with client:
            return await client.get("/v1/x")

    assert run(go()) == {"n": 1}
    assert sum(r.url.path == "/v1/x" for r in fake.requests) == 3


def test_writes_are_not_retried_on_500_because_they_may_have_landed(tmp_path):
    fake = FakeApi()
    fake.script("POST", "/v1/w", httpx.Response(500, json={"code": 500, "message": "Ocorreu um erro"}))
    client, _ = make_client(tmp_path, fake)

    async def go():
        async with client:
            await client.post("/v1/w", {"a": 1})

    with pytest.raises(ContaAzulError) as caught:
        run(go())
    assert caught.value.status == 500 and "Ocorreu um erro" in str(caught.value)
    assert sum(r.url.path == "/v1/w" for r in fake.requests) == 1


def test_writes_are_retried_on_429_honouring_retry_after(tmp_path):
    fake = FakeApi()
    fake.script("POST", "/v1/w", httpx.Response(429, headers={"Retry-After": "0"}),
                httpx.Response(200, json={"id": "b1"}))
    client, _ = make_client(tmp_path, fake)

    async def go():
        async with client:
            return await client.post("/v1/w", {"a": 1})

    assert run(go()) == {"id": "b1"}


def test_write_transport_error_is_reported_not_retried(tmp_path):
    fake = FakeApi()
    fake.script("POST", "/v1/w", httpx.ReadTimeout("slow"))
    client, _ = make_client(tmp_path, fake)

    async def go():
        async with client:
            await client.post("/v1/w", {"a": 1})

    with pytest.raises(ContaAzulTransportError):
        run(go())
    assert sum(r.url.path == "/v1/w" for r in fake.requests) == 1


def test_409_is_a_conflict_and_html_error_bodies_are_shortened(tmp_path):
    fake = FakeApi()
    fake.script("PATCH", "/v1/p", httpx.Response(409, json={"code": 409, "message": "Versão informada"}))
    fake.script("POST", "/v1/b", httpx.Response(400, text="<html>" + "x" * 1000 + "</html>"))
    client, _ = make_client(tmp_path, fake)

    async def go():
        async with client:
            with pytest.raises(ContaAzulConflict):
                await client.patch("/v1/p", {"versao": 1})
            with pytest.raises(ContaAzulError) as caught:
                await client.post("/v1/b", {})
            return caught.value

    error = run(go())
    assert error.status == 400 and len(error.message) <= 200


def test_json_bodies_carry_decimals_exactly(tmp_path):
    from decimal import Decimal

    fake = FakeApi()
    client, _ = make_client(tmp_path, fake)

    async def go():
        async with client:
            await client.post("/v1/w", {"valor_bruto": Decimal("2340.50")})

    run(go())
    sent = next(r for r in fake.requests if r.url.path == "/v1/w")
    assert b'"valor_bruto": 2340.50' in sent.content
    assert json.loads(sent.content)["valor_bruto"] == 2340.5


def test_pessoas_are_fetched_by_id_in_chunks_with_repeated_keys(tmp_path):
    from recon.contaazul import api

    fake = FakeApi()
    seen_ids: list[list[str]] = []

    def handler(request):
        if request.url.path == "/v1/pessoas":
            ids = request.url.params.get_list("ids")
            seen_ids.append(ids)
            items = [{"id": i, "nome": f"N{i}", "documento": "12.345.678/0001-90"} for i in ids]
            return httpx.Response(200, json={"totalItems": len(items), "items": items})
        return fake(request)

    client = mock_client(tmp_path, handler)
    wanted = [f"id{n:03d}" for n in range(120)] + ["id000"]

    async def go():
        async with client:
            return await api.pessoas_by_ids(client, wanted)

    pessoas = run(go())
    assert sorted(len(chunk) for chunk in seen_ids) == [20, 50, 50]
    assert len(pessoas) == 120 and pessoas[0].documento == "12345678000190"


@pytest.mark.parametrize(
    ("exists", "announced", "expected_requests"),
    [
        (2345, 2345, 3),  # honest total: three pages, asked for at once after the first
        (3000, 3000, 3),  # exact multiple: no extra empty page
        (999, 999, 1),
        (2500, 1500, 3),  # total too low: counting full pages carries on
        (1200, 5000, 5),  # total too high: the empty pages end it
    ],
)
def test_pagination_counts_items_and_survives_wrong_totals(tmp_path, exists, announced, expected_requests):
    from recon.contaazul import api

    fake = FakeApi()
    pages_asked: list[int] = []

    def handler(request):
        if request.url.path == "/v1/list":
            page, size = int(request.url.params["pagina"]), int(request.url.params["tamanho_pagina"])
            pages_asked.append(page)
            chunk = [{"id": n} for n in range((page - 1) * size, min(page * size, exists))]
            return httpx.Response(200, json={"itens_totais": announced, "itens": chunk})
        return fake(request)

    client = mock_client(tmp_path, handler)

    async def go():
        async with client:
            return await api.fetch_pages(client, "/v1/list", {"tamanho_pagina": 1000})

    items = run(go())
    assert sorted(item["id"] for item in items) == list(range(exists))
    assert len(pages_asked) == expected_requests


def test_concurrent_401s_rotate_the_refresh_token_once(tmp_path):
    fake = FakeApi()
    rejected: set[str] = set()

    def handler(request):
        if request.url.path == "/v1/x" and request.headers["Authorization"] == "Bearer old":
            rejected.add(request.url.params.get("n", ""))
            return httpx.Response(401, json={"code": 401, "message": "The Token has expired."})
        return fake(request)

    client, _token_file = make_client(tmp_path, handler, access_token="old",
                                     expires_at=int(time.time()) + 3600)

    async def go():
        async with client:
            await asyncio.gather(*(client.get("/v1/x", params={"n": i}) for i in range(6)))

    run(go())
    assert len(rejected) == 6  # all six went out with the old token and were refused
    assert fake.refresh_count == 1


def test_a_token_endpoint_outage_is_retried_not_taken_for_a_revoked_login(tmp_path):
    fake = FakeApi()
    outages = [httpx.Response(503), httpx.Response(502)]

    def handler(request):
        if request.url.path == "/oauth2/token" and outages:
            return outages.pop(0)
        return fake(request)

    client, token_file = make_client(tmp_path, handler)

    async def go():
        async with client:
            return await client.get("/v1/x")

    assert run(go()) == {"ok": True}
    assert token_file.read().refresh_token == "rt-1"


def test_token_errors_never_echo_the_request(tmp_path):
    page = "<html>Bad gateway. You sent: grant_type=refresh_token&refresh_token=rt-0</html>"

    def handler(request):
        return httpx.Response(400, text=page) if request.url.path == "/oauth2/token" else None

    client, _ = make_client(tmp_path, handler)

    async def go():
        async with client:
            await client.get("/v1/x")

    with pytest.raises(ContaAzulAuthError) as caught:
        run(go())
    assert "rt-0" not in str(caught.value) and "HTTP 400" in str(caught.value)


def test_a_token_file_readable_by_others_is_refused(tmp_path):
    from recon.errors import ConfigError

    token_file = TokenFile(tmp_path / "tokens.json")
    token_file.write(Tokens(refresh_token="rt-0"))
    (tmp_path / "tokens.json").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        token_file.read()
