"""Helpers shared by the tests (imported as `from support import ...`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from recon.contaazul.client import ContaAzulClient, RetryPolicy
from recon.contaazul.tokens import TokenFile, Tokens

TEST_SECRET = "client-secret-never-shown"
FAST_RETRIES = RetryPolicy(max_attempts=3, backoff_seconds=0.001, max_delay_seconds=0.01)


def token_response(request: httpx.Request) -> httpx.Response | None:
    """A token endpoint that always grants; None for any other route."""
    if request.url.path != "/oauth2/token":
        return None
    return httpx.Response(200, json={"access_token": "a", "refresh_token": "r2", "expires_in": 3600})


def mock_client(tmp_path: Path, handler: Callable[[httpx.Request], httpx.Response],
                refresh_token: str = "rt-0", **tokens: object) -> ContaAzulClient:
    """A client on an httpx.MockTransport, unpaced, with a fresh token file under tmp_path."""
    token_file = TokenFile(tmp_path / "tokens.json")
    token_file.write(Tokens(refresh_token=refresh_token, **tokens))
    return ContaAzulClient(
        api_url="https://api.test", token_url="https://api.test/oauth2/token", client_id="cid",
        client_secret=TEST_SECRET, token_file=token_file, retry=FAST_RETRIES,
        requests_per_second=0, transport=httpx.MockTransport(handler))
