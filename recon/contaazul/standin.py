"""A stand-in for the Conta Azul API: a real HTTP server on 127.0.0.1 for the demo and e2e tests.

It behaves like the production API as recorded in shared/notes/contaazul-api.md (not like the
OpenAPI specs where they disagree): rotating refresh tokens, 401 bodies, the strict page-size
enum, required due-date window, English `status` vs `status_traduzido`, PATCH that never
settles, `versao` conflicts (409), baixas written as `composicao_valor` + conta uuid and read
back as `valor_composicao` + conta object, DELETE baixa answering 200 with an empty body,
`{"totalItems", "items": null}` for pessoas, 404 with an empty body for unknown ids and routes.

    python -m recon.contaazul.standin --state demo-state.json [--port 8765]

State file (JSON; money is JSON numbers, read with parse_float=Decimal and never turned into
float). With `state_path`, every write is saved back atomically (temp file + os.replace), one
record per line, so a person can inspect it while the server runs:

    clients                   {"<client_id>": "<client_secret>"}
    refresh_tokens            ["<token>", ...]  currently valid; single use, rotated on refresh
    rotated_refresh_tokens    {"<used token>": "<its successor>"}  for reuse detection
    auth_codes                [{code, client_id, redirect_uri, expires_at}, ...]  single use,
                              180 s, made by GET /oauth2/authorize; a bare "<code>" string is a
                              seeded code bound to nothing that never expires
    access_tokens             {"<token>": "<expiry, ISO 8601 UTC>"}  issued tokens
    access_token_ttl_seconds  3600 (a fraction such as 1.5 is honoured)
    today                     optional "YYYY-MM-DD"; else the real São Paulo date
    empresa                   optional {id_empresa, documento, razao_social, nome_fantasia,
                                data_fundacao, email} for /v1/pessoas/conta-conectada
    contas_financeiras        [{id, nome, banco, codigo_banco, agencia, numero, tipo, ativo,
                                conta_padrao, possui_config_boleto_bancario}]
    pessoas                   [{id, nome, documento, email, tipo_pessoa, perfis, ativo}]
    parcelas                  [{id, evento_id, tipo RECEITA|DESPESA, descricao, data_vencimento,
                                data_competencia, valor, contato_id, versao, nota, status,
                                data_alteracao, baixas, categorias, conciliado}]
        A parcela's status is derived: PENDENTE, ATRASADO (due before today), RECEBIDO_PARCIAL,
        QUITADO (sum of its baixas' valor_bruto >= valor). A stored RENEGOCIADO, PERDIDO or
        CANCELADO wins. Stored baixas keep the write shape: {id, versao, data_pagamento,
        composicao_valor{valor_bruto, multa, juros, desconto, taxa}, conta_financeira (uuid),
        metodo_pagamento, observacao, nsu, atualizado_em}.

A baixa with a missing required field answers 400 `{"code": 400, "message": "Unexpected
character ('<' ..."}`: the real API wraps an HTML page; we keep that message in JSON.

GET /oauth2/authorize approves at once (the person "logs in" instantly) and answers 302 to
`redirect_uri?code=...&state=...`, for `recon auth login` against the stand-in.

Faults (all off by default, standin_faults.Faults) are decided by one FaultInjector per server:
429s (storm, per-second and per-minute sliding windows), `fail_next`, random 5xx on reads,
baixas that land but answer 504, latency. `StandIn.stats` counts what was answered. Route names
for `Faults.fail_next` (the table is standin_routes.ROUTES): authorize, token, list_contas,
search_receber, search_pagar, get_parcela, patch_parcela, create_baixa, list_baixas, get_baixa,
delete_baixa, conta_conectada, list_pessoas, get_pessoa.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import os
import socket
import tempfile
import threading
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, urlsplit

from recon.contaazul import standin_state as rules
from recon.contaazul.standin_faults import INTERNAL_ERROR, FaultInjector, Faults, Stats
from recon.contaazul.standin_routes import Redirect, Reply, Request, Route, match_route
from recon.money import dumps_json

__all__ = ["Faults", "JournalEntry", "Reply", "StandIn", "Stats", "load_state", "main",
           "render_state"]

logger = logging.getLogger(__name__)

SECRET_FORM_FIELDS = frozenset({"client_secret", "refresh_token", "code"})
BAD_REQUEST = Reply(400, {"code": 400, "message": "Requisição inválida."})


@dataclass(frozen=True)
class JournalEntry:
    method: str
    path: str
    query: dict[str, list[str]]
    body: object | None  # parsed JSON, or the form dict with secrets redacted
    status: int


def load_state(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"), parse_float=Decimal)


def render_state(state: dict) -> str:
    """One record per line so a person can read and diff the file; numbers stay exact."""
    entries = (f"  {dumps_json(key)}: {_render_value(value)}" for key, value in state.items())
    return "{\n" + ",\n".join(entries) + "\n}\n"


def _render_value(value: object) -> str:
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(f"    {dumps_json(item)}" for item in value) + "\n  ]"
    if isinstance(value, dict) and value:
        entries = (f"    {dumps_json(k)}: {dumps_json(v)}" for k, v in value.items())
        return "{\n" + ",\n".join(entries) + "\n  }"
    return dumps_json(value)


def _write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


class StandIn:
    """The stand-in server. Use as a context manager, or start() / stop()."""

    def __init__(
        self,
        state: dict | None = None,
        *,
        state_path: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
    ):
        if (state is None) == (state_path is None):
            raise ValueError("give exactly one of state or state_path")
        self._state_path = Path(state_path) if state_path is not None else None
        # The dumps/loads round trip deep-copies and turns any float a caller slipped in into
        # Decimal, so the rules only ever see exact money.
        loaded = load_state(self._state_path) if self._state_path else json.loads(
            dumps_json(state), parse_float=Decimal)
        self._state = rules.with_defaults(loaded)
        self._lock = threading.Lock()
        self._address = (host, port)
        self._faults = FaultInjector(faults or Faults())
        self.stats = Stats()
        self.journal: list[JournalEntry] = []
        self._journal_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> StandIn:
        if self._server is not None:
            raise RuntimeError("the stand-in is already running")
        self._server = _Server(self._address, self)
        self._faults.server_started()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="contaazul-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.close_open_connections()  # keep-alive clients must not reach a stopped server
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("start the stand-in before asking for its URL")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return self.base_url

    @property
    def faults(self) -> Faults:
        """Fixed for the server's life: the injector's counters and windows start from it."""
        return self._faults.faults

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    def snapshot(self) -> dict:
        with self._lock:
            return copy.deepcopy(self._state)

    # --- one request ---------------------------------------------------------------------

    def _serve(self, request: Request) -> Reply:
        reply = self._dispatch(request)
        # Journal before answering: a client that got its reply must find the entry.
        self._record(request, reply)
        self._faults.delay()  # the "network": no lock is held while sleeping
        return reply

    def _dispatch(self, request: Request) -> Reply:
        found = match_route(request.method, request.path)
        if found is None:
            return Reply(404)
        route, args = found
        injected = self._faults.before(route)
        if injected is not None:
            return injected
        try:
            payload = self._apply(route, args, request)
        except rules.ApiError as refusal:
            return Reply(refusal.status, refusal.body)
        except Exception:
            logger.exception("stand-in: %s %s failed", request.method, request.path)
            return Reply(500, INTERNAL_ERROR)
        if isinstance(payload, Redirect):
            return Reply(302, None, {"Location": payload.location})
        if self._faults.lands_ambiguously(route):
            self.stats.add("ambiguous_writes")
            return Reply(504)  # stored and saved, but the client never learns it
        return Reply(200, payload)

    def _apply(self, route: Route, args: tuple[str, ...], request: Request) -> object:
        with self._lock:
            try:
                if route.needs_bearer:
                    rules.authorize(self._state, request.headers.get("Authorization"))
                return route.action(self._state, args, request, self.faults)
            finally:
                # Also after a refusal: refusing a reused refresh token may revoke another.
                if route.writes:
                    self._persist()

    def _persist(self) -> None:
        if self._state_path is not None:
            _write_atomically(self._state_path, render_state(self._state))

    def _record(self, request: Request, reply: Reply) -> None:
        body = request.body
        is_token = request.path == "/oauth2/token"
        if isinstance(body, dict) and is_token:
            body = {k: "<redacted>" if k in SECRET_FORM_FIELDS else v for k, v in body.items()}
        entry = JournalEntry(request.method, request.path, request.query, body, reply.status)
        with self._journal_lock:
            self.journal.append(entry)
        self.stats.count_reply(reply.status)
        if is_token and isinstance(request.body, dict):
            self._count_grant(request.body.get("grant_type"), reply)
        logger.info("stand-in: %s %s -> %d", request.method, request.path, reply.status)

    def _count_grant(self, grant_type: object, reply: Reply) -> None:
        if reply.status == 200 and grant_type == "refresh_token":
            self.stats.add("refreshes")
        elif isinstance(reply.body, dict) and reply.body.get("error") == "invalid_grant":
            self.stats.add("invalid_grants")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], standin: StandIn):
        super().__init__(address, _Handler)
        self.standin = standin
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request, client_address):  # type: ignore[no-untyped-def]
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[no-untyped-def]
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address):  # type: ignore[no-untyped-def]
        # Clients hanging up mid-request are routine here; keep them out of stderr.
        logger.debug("stand-in: connection error from %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects; every reply sets a length
    timeout = 60  # an idle keep-alive connection does not pin a thread forever
    disable_nagle_algorithm = True  # headers and body go out as two writes; avoid a 40 ms stall
    server: _Server

    def do_GET(self) -> None:
        standin = self.server.standin
        try:
            request = self._read_request()
        except ValueError:  # a Content-Length that is not a number
            standin.stats.count_reply(BAD_REQUEST.status)
            self._send(BAD_REQUEST)
            return
        self._send(standin._serve(request))

    do_POST = do_PATCH = do_DELETE = do_PUT = do_GET

    def _read_request(self) -> Request:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        return Request(
            method=self.command,
            path=parts.path.rstrip("/") or "/",
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=self.headers,
            body=_parse_body(raw, self.headers.get_content_type()),
        )

    def _send(self, reply: Reply) -> None:
        payload, content_type = _encode(reply.body)
        self.send_response(reply.status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("stand-in: " + format, *args)


def _parse_body(raw: bytes, content_type: str) -> object | None:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if content_type == "application/x-www-form-urlencoded":
        return {key: values[0] for key, values in parse_qs(text, keep_blank_values=True).items()}
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError:
        return text  # the rules refuse non-objects with the API's own 400


def _encode(body: object | None) -> tuple[bytes, str]:
    if body is None:
        return b"", ""
    if isinstance(body, str):
        return body.encode("utf-8"), "text/html; charset=utf-8"
    return dumps_json(body).encode("utf-8"), "application/json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recon.contaazul.standin",
        description="Serve a stand-in Conta Azul API from a JSON state file until Ctrl-C.")
    parser.add_argument("--state", type=Path, required=True, help="state file (written back)")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.state.is_file():
        print(f"state file not found: {args.state}")
        return 2
    with StandIn(state_path=args.state, host=args.host, port=args.port) as standin:
        print(f"Conta Azul stand-in serving {args.state} at {standin.base_url}", flush=True)
        print(f"token URL: {standin.token_url}   (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
