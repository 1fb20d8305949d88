"""Connecting a company: the OAuth authorization-code flow, refresh-token import, status.

The person running `recon auth login` logs in to Conta Azul in a browser;
Conta Azul redirects to a listener on 127.0.0.1 with a one-time code (valid
3 minutes), which is exchanged for tokens with the client's Basic auth. The
`state` parameter ties the redirect to this login, so a stray or forged
redirect is refused.
"""

from __future__ import annotations

import html
import logging
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

import httpx

from recon.contaazul.client import sanitize_url, token_error_message
from recon.contaazul.tokens import TokenFile, Tokens, tokens_from_response
from recon.errors import ContaAzulAuthError, ContaAzulTransportError

log = logging.getLogger(__name__)

SCOPE = "openid profile aws.cognito.signin.user.admin"  # the only scope Conta Azul has
CODE_LIFETIME_SECONDS = 180


def authorize_url(authorize_base: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Scopes joined with '+' and redirect_uri sent literally: Conta Azul's login page
    misreads them percent-encoded (andersonrocha/contaazul-sdk-net 0.2.1/0.2.2)."""
    scope = SCOPE.replace(" ", "+")
    return (f"{authorize_base}?response_type=code&client_id={client_id}"
            f"&redirect_uri={redirect_uri}&state={state}&scope={scope}")


@dataclass(frozen=True, slots=True)
class Redirect:
    code: str | None
    state: str | None
    error: str | None


class RedirectCatcher:
    """A one-shot HTTP listener on the loopback address of the redirect URI."""

    def __init__(self, redirect_uri: str):
        parts = urlsplit(redirect_uri)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise ContaAzulAuthError(
                f"redirect URI {redirect_uri} is not on 127.0.0.1; register a loopback redirect "
                "URI for the app, or use `recon auth import` on a headless server")
        self._path = parts.path or "/"
        self._received: Redirect | None = None
        self._done = threading.Event()
        self._server = HTTPServer(("127.0.0.1", parts.port or 80), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> Redirect:
        if not self._done.wait(timeout):
            raise ContaAzulAuthError(
                f"no redirect from Conta Azul within {int(timeout)} s; run `recon auth login` again")
        assert self._received is not None
        return self._received

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != catcher._path:
                    self.send_error(404)
                    return
                query = parse_qs(parts.query)
                first = {key: values[0] for key, values in query.items()}
                catcher._received = Redirect(first.get("code"), first.get("state"),
                                             first.get("error_description") or first.get("error"))
                self._reply(catcher._received)
                catcher._done.set()

            def _reply(self, received: Redirect) -> None:
                message = ("recon is connected. You can close this tab." if received.code
                           else f"Login failed: {html.escape(received.error or 'no code')}")
                body = f"<!DOCTYPE html><html><body><p>{message}</p></body></html>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # the URL holds the code
                log.debug("redirect listener: request received")

        return Handler


def exchange_code(token_url: str, client_id: str, client_secret: str, code: str,
                  redirect_uri: str, transport: httpx.BaseTransport | None = None) -> Tokens:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    return _token_request(token_url, client_id, client_secret, data, transport)


def _token_request(token_url: str, client_id: str, client_secret: str, data: dict[str, str],
                   transport: httpx.BaseTransport | None) -> Tokens:
    try:
        with httpx.Client(transport=transport, timeout=30) as http:
            response = http.post(token_url, data=data, auth=(client_id, client_secret))
    except httpx.TransportError as exc:
        raise ContaAzulTransportError(f"token endpoint did not answer ({type(exc).__name__})",
                                      method="POST", url=sanitize_url(token_url)) from None
    if response.status_code != 200:
        raise ContaAzulAuthError(
            f"{token_error_message(response)}. Run `recon auth login` again.", method="POST",
            url=sanitize_url(token_url), status=response.status_code)
    return tokens_from_response(response.json())


def login(*, authorize_base: str, token_url: str, client_id: str, client_secret: str,
          redirect_uri: str, token_file: TokenFile, show_url, timeout: float = CODE_LIFETIME_SECONDS,
          transport: httpx.BaseTransport | None = None) -> Tokens:
    """Run the whole flow; `show_url(url)` tells the person where to log in."""
    state = secrets.token_urlsafe(24)
    with RedirectCatcher(redirect_uri) as catcher:
        show_url(authorize_url(authorize_base, client_id, redirect_uri, state))
        redirect = catcher.wait(timeout)
    if redirect.state != state:
        raise ContaAzulAuthError("the redirect's state does not match this login; refused "
                                 "(run `recon auth login` again)")
    if not redirect.code:
        raise ContaAzulAuthError(f"Conta Azul refused the login: {redirect.error or 'no code'}")
    tokens = exchange_code(token_url, client_id, client_secret, redirect.code, redirect_uri, transport)
    with token_file.locked():
        token_file.write(tokens)
    return tokens


def import_refresh_token(token_file: TokenFile, refresh_token: str) -> None:
    """For headless servers: a refresh token obtained elsewhere; the next call refreshes it."""
    token = refresh_token.strip()
    if not token or any(ch.isspace() for ch in token):
        raise ContaAzulAuthError("expected one refresh token on standard input")
    with token_file.locked():
        token_file.write(Tokens(refresh_token=token))
