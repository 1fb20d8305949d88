"""Stand-in OAuth: the token endpoint and the Bearer check in front of every /v1 route."""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import UTC, datetime, timedelta

from recon.contaazul.standin_core import ApiError


def grant_tokens(state: dict, form: dict[str, str], authorization: str | None) -> dict:
    """POST /oauth2/token: single-use refresh tokens and codes, rotated on every grant."""
    client_id, client_secret = _client_credentials(form, authorization)
    expected = state["clients"].get(client_id)
    if expected is None or not secrets.compare_digest(
        str(expected).encode(), client_secret.encode()
    ):
        raise ApiError(401, {"error": "invalid_client"})
    grant = form.get("grant_type")
    if grant == "refresh_token":
        _consume(state["refresh_tokens"], form.get("refresh_token"), "refresh token")
    elif grant == "authorization_code":
        _consume(state["auth_codes"], form.get("code"), "authorization code")
    else:
        raise ApiError(400, {"error": "unsupported_grant_type"})
    return _issue_tokens(state)


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


def _consume(valid: list[str], presented: str | None, what: str) -> None:
    if not presented or presented not in valid:
        raise ApiError(
            400,
            {"error": "invalid_grant", "error_description": f"Invalid, expired or used {what}."},
        )
    valid.remove(presented)


def _issue_tokens(state: dict) -> dict:
    ttl = int(state["access_token_ttl_seconds"])
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expiry = datetime.now(UTC) + timedelta(seconds=ttl)
    state["access_tokens"][access] = expiry.isoformat()
    state["refresh_tokens"].append(refresh)
    return {"access_token": access, "expires_in": ttl, "refresh_token": refresh,
            "token_type": "Bearer"}


def authorize(state: dict, authorization: str | None) -> None:
    """Every /v1 route: a known Bearer token that has not expired."""
    scheme, _, token = (authorization or "").partition(" ")
    expiry = state["access_tokens"].get(token.strip()) if scheme.lower() == "bearer" else None
    if expiry is None:
        raise ApiError(401, {"code": 401, "message": "Unauthorized"})
    moment = datetime.fromisoformat(expiry)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment <= datetime.now(UTC):
        raise ApiError(401, {"code": 401, "message": "The Token has expired."})
