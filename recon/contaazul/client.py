"""HTTP layer for Conta Azul: auth, pacing, retries and error mapping in one place.

Reads are retried on transport errors, 429 and 5xx with capped exponential
backoff (honouring Retry-After). Writes are retried only on 429, because the
API has no idempotency key: a POST that timed out may have been applied, and
only the caller (which tags its writes) can find out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Self
from urllib.parse import urlsplit

import httpx

from recon.contaazul.pacing import RateLimiter
from recon.contaazul.tokens import TokenFile, Tokens, tokens_from_response
from recon.errors import (
    ContaAzulAuthError,
    ContaAzulConflict,
    ContaAzulError,
    ContaAzulRateLimited,
    ContaAzulTransportError,
)
from recon.money import dumps_json

log = logging.getLogger(__name__)

RETRYABLE_READ_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_seconds: float = 0.5
    max_delay_seconds: float = 8.0

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                # delay-seconds is a whole number (RFC 9110); an HTTP-date falls back to backoff
                return min(int(retry_after), self.max_delay_seconds)
            except ValueError:
                pass
        base = min(self.backoff_seconds * (4 ** (attempt - 1)), self.max_delay_seconds)
        return base * random.uniform(0.8, 1.2)


def sanitize_url(url: str) -> str:
    """Scheme, host and path only: query strings may carry codes or tokens."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def error_message(response: httpx.Response) -> str:
    """Conta Azul error bodies come in several shapes: message, error, or raw text/HTML."""
    text = response.text.strip()
    if not text:
        return response.reason_phrase or "empty response"
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return text[:200]
    if isinstance(body, dict):
        for key in ("message", "error_description", "error"):
            if body.get(key):
                return str(body[key])
    return text[:200]


def token_error_message(response: httpx.Response) -> str:
    """Only the OAuth error fields: a proxy's error page could echo the form, and the form
    carries the refresh token or the authorization code."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and (body.get("error") or body.get("error_description")):
        text = ": ".join(str(body[k]) for k in ("error", "error_description") if body.get(k))
    else:
        text = f"HTTP {response.status_code}"
    if isinstance(body, dict) and body.get("error") == "invalid_grant":
        text += ". The refresh token is no longer valid: run `recon auth login` again."
    return text


class ContaAzulClient:
    """One connected company. Use as `async with ContaAzulClient(...) as client`."""

    def __init__(
        self,
        *,
        api_url: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        token_file: TokenFile,
        timeout: float = 30.0,
        max_concurrency: int = 4,
        requests_per_second: float = 8.0,
        requests_per_minute: float = 480.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self._api_url = api_url.rstrip("/")
        self._token_url = token_url
        self._client_auth = httpx.BasicAuth(client_id, client_secret)
        self._token_file = token_file
        self._tokens: Tokens | None = None
        self._refresh_lock = asyncio.Lock()
        self._auth_failure: ContaAzulAuthError | None = None
        self._limiter = RateLimiter(requests_per_second, requests_per_minute)
        self._slots = asyncio.Semaphore(max_concurrency)
        self._retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._http.aclose()

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self._call("GET", path, params=params)

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        return await self._call("POST", path, body=body)

    async def patch(self, path: str, body: dict[str, Any]) -> Any:
        return await self._call("PATCH", path, body=body)

    async def delete(self, path: str) -> Any:
        return await self._call("DELETE", path)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        url = f"{self._api_url}{path}"
        is_read = method == "GET"
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            try:
                response, used = await self._send_once(method, url, params, body)
            except httpx.TransportError as exc:
                if is_read and attempt < self._retry.max_attempts:
                    await asyncio.sleep(self._retry.delay(attempt, None))
                    continue
                raise ContaAzulTransportError(
                    f"no answer ({type(exc).__name__}); check the network and retry",
                    method=method, url=sanitize_url(url),
                ) from None
            if response.status_code == 401 and not refreshed:
                refreshed = True
                await self._refresh(stale=used)
                attempt -= 1  # a refresh is not a retry of the request
                continue
            retryable = response.status_code == 429 or (
                is_read and response.status_code in RETRYABLE_READ_STATUSES
            )
            if retryable and attempt < self._retry.max_attempts:
                delay = self._retry.delay(attempt, response.headers.get("Retry-After"))
                log.info("%s %s -> %s, retry %d in %.1fs", method, sanitize_url(url),
                         response.status_code, attempt, delay)
                await asyncio.sleep(delay)
                continue
            return self._decode(method, url, response)

    async def _send_once(
        self, method: str, url: str, params: dict[str, Any] | None, body: dict[str, Any] | None
    ) -> tuple[httpx.Response, Tokens]:
        tokens = await self._current_tokens()
        headers = {"Authorization": f"Bearer {tokens.access_token}", "Accept": "application/json"}
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = dumps_json(body).encode("utf-8")
        async with self._slots:
            await self._limiter.wait()
            response = await self._http.request(
                method, url, params=params, content=content, headers=headers
            )
        log.info('HTTP %s %s "%d"', method, sanitize_url(url), response.status_code)
        return response, tokens

    def _decode(self, method: str, url: str, response: httpx.Response) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            if not response.content.strip():
                return None
            try:
                return json.loads(response.content, parse_float=Decimal)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ContaAzulError("the answer is not JSON", method=method,
                                     url=sanitize_url(url), status=status) from None
        context = {"method": method, "url": sanitize_url(url), "status": status}
        message = error_message(response)
        if status in (401, 403):
            raise ContaAzulAuthError(message, **context)
        if status == 409:
            raise ContaAzulConflict(message, **context)
        if status == 429:
            raise ContaAzulRateLimited(message, **context)
        raise ContaAzulError(message, **context)

    async def _current_tokens(self) -> Tokens:
        if self._tokens is None:
            self._tokens = self._token_file.read()
        if not self._tokens.access_is_fresh():
            await self._refresh(stale=self._tokens)
        assert self._tokens is not None
        return self._tokens

    async def _refresh(self, stale: Tokens) -> None:
        """Single-flight across tasks (a lock) and processes (a file lock).

        `stale` is the token the caller saw fail or expire: if someone has already
        replaced it, there is nothing to do. Refreshing twice would rotate the
        refresh token twice, and every rotation is a chance to lose it.
        """
        async with self._refresh_lock:
            if self._auth_failure is not None:
                raise self._auth_failure  # a refused refresh token will not work the next time
            if self._tokens is not None and self._tokens != stale and self._tokens.access_is_fresh():
                return  # another task refreshed while we waited
            async with self._token_file.locked_async():
                on_disk = self._token_file.read()
                if on_disk != stale and on_disk.access_is_fresh():
                    self._tokens = on_disk  # another process refreshed first
                    return
                fresh = await self._exchange_refresh_token(on_disk.refresh_token)
                self._token_file.write(fresh)  # on disk before anything uses it
                self._tokens = fresh

    async def _exchange_refresh_token(self, refresh_token: str) -> Tokens:
        """One refresh, retried on no answer, 429 and 5xx; a refusal is final and remembered."""
        url = sanitize_url(self._token_url)
        for attempt in range(1, self._retry.max_attempts + 1):
            try:
                response = await self._http.post(
                    self._token_url, auth=self._client_auth,
                    data={"grant_type": "refresh_token", "refresh_token": refresh_token})
            except httpx.TransportError as exc:
                failure: ContaAzulError = ContaAzulTransportError(
                    f"token endpoint did not answer ({type(exc).__name__})", method="POST", url=url)
            else:
                if response.status_code == 200:
                    log.info("access token refreshed; new refresh token stored")
                    return tokens_from_response(response.json())
                if response.status_code != 429 and response.status_code < 500:
                    self._auth_failure = ContaAzulAuthError(
                        token_error_message(response), method="POST", url=url,
                        status=response.status_code)
                    raise self._auth_failure
                failure = ContaAzulError(token_error_message(response), method="POST", url=url,
                                         status=response.status_code)
            if attempt < self._retry.max_attempts:
                await asyncio.sleep(self._retry.delay(attempt, None))
        raise failure
