"""Stand-in OAuth: the authorize redirect, the token endpoint, and the Bearer check.

Authorization codes (`auth_codes`) are stored as {code, client_id, redirect_uri, expires_at}
by GET /oauth2/authorize; a bare string in a state file is a pre-seeded code, for fixtures,
bound to no client or redirect_uri and never expiring. Every refresh moves the presented token
from `refresh_tokens` to `rotated_refresh_tokens` (old -> its successor), so a token used a
second time is recognised as reuse and its chain can be followed to the live token.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from recon.contaazul.standin_core import ApiError, Query

CODE_LIFETIME = timedelta(seconds=180)  # notes §1: codes live 3 minutes
REFRESH_TOKEN_REUSED = {"error": "invalid_grant",
                        "error_description": "Refresh token has been used"}


def start_authorization(state: dict, query: Query) -> str:
    """GET /oauth2/authorize, approved at once as if the person had logged in: the Location
    to redirect to, carrying a fresh single-use code and the caller's `state`."""
    client_id, redirect_uri = _param(query, "client_id"), _param(query, "redirect_uri")
    if not client_id or client_id not in state["clients"]:
        raise ApiError(400, {"error": "invalid_request",
                             "error_description": "Unknown client_id."})
    if not redirect_uri:
        raise ApiError(400, {"error": "invalid_request",
                             "error_description": "Missing redirect_uri."})
    if _param(query, "response_type") != "code":
        raise ApiError(400, {"error": "unsupported_response_type"})
    now = datetime.now(UTC)
    codes = [c for c in state["auth_codes"] if not _expired(c, now)]  # keep the file small
    code = secrets.token_urlsafe(24)
    codes.append({"code": code, "client_id": client_id, "redirect_uri": redirect_uri,
                  "expires_at": (now + CODE_LIFETIME).isoformat()})
    state["auth_codes"] = codes
    params = {"code": code}
    if (caller_state := _param(query, "state")) is not None:
        params["state"] = caller_state
    # The redirect_uri is used exactly as registered and sent (notes §1): only appended to.
    return redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(params)


def grant_tokens(
    state: dict, form: dict[str, str], authorization: str | None, *,
    revoke_family_on_reuse: bool = False,
) -> dict:
    """POST /oauth2/token: single-use refresh tokens and codes, rotated on every grant."""
    client_id = _authenticated_client(state, form, authorization)
    grant = form.get("grant_type")
    if grant == "refresh_token":
        presented = form.get("refresh_token") or ""
        _use_refresh_token(state, presented, revoke_family_on_reuse)
        tokens = _issue_tokens(state)
        state["rotated_refresh_tokens"][presented] = tokens["refresh_token"]
        return tokens
    if grant == "authorization_code":
        _use_code(state, client_id, form)
        return _issue_tokens(state)
    raise ApiError(400, {"error": "unsupported_grant_type"})


def _authenticated_client(state: dict, form: dict[str, str], authorization: str | None) -> str:
    client_id, client_secret = _client_credentials(form, authorization)
    expected = state["clients"].get(client_id)
    if expected is None or not secrets.compare_digest(
        str(expected).encode(), client_secret.encode()
    ):
        raise ApiError(401, {"error": "invalid_client"})
    return client_id


def _client_credentials(form: dict[str, str], authorization: str | None) -> tuple[str, str]:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        client_id, _, client_secret = decoded.partition(":")
        return client_id, client_secret
    return form.get("client_id", ""), form.get("client_secret", "")


def _use_refresh_token(state: dict, presented: str, revoke_family: bool) -> None:
    if presented and presented in state["refresh_tokens"]:
        state["refresh_tokens"].remove(presented)
        return
    rotated = state["rotated_refresh_tokens"]
    if presented and presented in rotated:
        # Reuse means two parties hold the chain (a stolen token, or two racing refreshes);
        # strict servers then kill the live token too, so the company must log in again.
        if revoke_family:
            live = _end_of_chain(rotated, presented)
            if live in state["refresh_tokens"]:
                state["refresh_tokens"].remove(live)
        raise ApiError(400, REFRESH_TOKEN_REUSED)
    raise _invalid_grant("Invalid, expired or used refresh token.")


def _end_of_chain(rotated: dict[str, str], token: str) -> str:
    seen: set[str] = set()
    while token in rotated and token not in seen:  # `seen` guards a hand-edited state file
        seen.add(token)
        token = rotated[token]
    return token


def _use_code(state: dict, client_id: str, form: dict[str, str]) -> None:
    presented = form.get("code")
    entry = next((c for c in state["auth_codes"] if _code_value(c) == presented), None)
    if not presented or entry is None:
        raise _invalid_grant("Invalid, expired or used authorization code.")
    if isinstance(entry, dict):
        if _expired(entry, datetime.now(UTC)):
            state["auth_codes"].remove(entry)
            raise _invalid_grant("Invalid, expired or used authorization code.")
        # A mismatch is refused without spending the code: the rightful exchange may follow.
        if entry.get("client_id") != client_id:
            raise _invalid_grant("The code was issued to another client.")
        if entry.get("redirect_uri") != form.get("redirect_uri"):
            raise _invalid_grant("redirect_uri does not match the authorization request.")
    state["auth_codes"].remove(entry)


def _code_value(entry: object) -> object:
    return entry.get("code") if isinstance(entry, dict) else entry


def _expired(entry: object, now: datetime) -> bool:
    if not isinstance(entry, dict) or not entry.get("expires_at"):
        return False  # a seeded code never expires
    return _utc(entry["expires_at"]) <= now


def _invalid_grant(description: str) -> ApiError:
    return ApiError(400, {"error": "invalid_grant", "error_description": description})


def _issue_tokens(state: dict) -> dict:
    # A fractional TTL (tests that watch tokens expire mid-run) is honoured, not truncated.
    ttl = state["access_token_ttl_seconds"]
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    # Decimal keeps a fractional test TTL (1.5 s) exact down to the microsecond.
    expiry = datetime.now(UTC) + timedelta(microseconds=int(Decimal(str(ttl)) * 1_000_000))
    state["access_tokens"][access] = expiry.isoformat()
    state["refresh_tokens"].append(refresh)
    expires_in = int(ttl) if ttl == int(ttl) else ttl
    return {"access_token": access, "expires_in": expires_in, "refresh_token": refresh,
            "token_type": "Bearer"}


def authorize(state: dict, authorization: str | None) -> None:
    """Every /v1 route: a known Bearer token that has not expired."""
    scheme, _, token = (authorization or "").partition(" ")
    expiry = state["access_tokens"].get(token.strip()) if scheme.lower() == "bearer" else None
    if expiry is None:
        raise ApiError(401, {"code": 401, "message": "Unauthorized"})
    if _utc(expiry) <= datetime.now(UTC):
        raise ApiError(401, {"code": 401, "message": "The Token has expired."})


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _param(query: Query, name: str) -> str | None:
    """First value as sent (not stripped): redirect_uri and state must round-trip exactly."""
    values = query.get(name)
    return values[0] if values else None
