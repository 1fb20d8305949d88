"""The stand-in's routing table: which rule answers which method and path.

Every action calls through the standin_state namespace at request time (not a bound
function), so replacing a rule there, as the tests do, changes what the server answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message

from recon.contaazul import standin_state as rules


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: object | None


Action = Callable[[dict, tuple[str, ...], Request], object]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    name: str  # what Faults.fail_next counts by
    action: Action
    writes: bool = False
    needs_bearer: bool = True


def _route(method: str, path: str, name: str, action: Action, **flags: bool) -> Route:
    return Route(method, re.compile(path), name, action, **flags)


EVENTS = "/v1/financeiro/eventos-financeiros"
ID = "([^/]+)"
ROUTES = (
    _route("POST", "/oauth2/token", "token", lambda s, a, r: rules.grant_tokens(
        s, r.body if isinstance(r.body, dict) else {}, r.headers.get("Authorization")),
        writes=True, needs_bearer=False),
    _route("GET", "/v1/conta-financeira", "list_contas",
           lambda s, a, r: rules.list_contas_financeiras(s, r.query)),
    _route("GET", f"{EVENTS}/contas-a-receber/buscar", "search_receber",
           lambda s, a, r: rules.search_parcelas(s, "RECEITA", r.query)),
    _route("GET", f"{EVENTS}/contas-a-pagar/buscar", "search_pagar",
           lambda s, a, r: rules.search_parcelas(s, "DESPESA", r.query)),
    _route("GET", f"{EVENTS}/parcelas/baixa/{ID}", "get_baixa",
           lambda s, a, r: rules.get_baixa(s, a[0])),
    _route("DELETE", f"{EVENTS}/parcelas/baixa/{ID}", "delete_baixa",
           lambda s, a, r: rules.delete_baixa(s, a[0]), writes=True),
    _route("GET", f"{EVENTS}/parcelas/{ID}/baixa", "list_baixas",
           lambda s, a, r: rules.list_baixas(s, a[0])),
    _route("POST", f"{EVENTS}/parcelas/{ID}/baixa", "create_baixa",
           lambda s, a, r: rules.create_baixa(s, a[0], r.body), writes=True),
    _route("GET", f"{EVENTS}/parcelas/{ID}", "get_parcela",
           lambda s, a, r: rules.parcela_detail(s, a[0])),
    _route("PATCH", f"{EVENTS}/parcelas/{ID}", "patch_parcela",
           lambda s, a, r: rules.patch_parcela(s, a[0], r.body), writes=True),
    _route("GET", "/v1/pessoas", "list_pessoas", lambda s, a, r: rules.list_pessoas(s, r.query)),
    _route("GET", f"/v1/pessoas/{ID}", "get_pessoa", lambda s, a, r: rules.get_pessoa(s, a[0])),
)


def match_route(method: str, path: str) -> tuple[Route, tuple[str, ...]] | None:
    for route in ROUTES:
        found = route.pattern.fullmatch(path)
        if found and route.method == method:
            return route, found.groups()
    return None
