"""The stand-in's routing table: which rule answers which method and path.

Every action calls through the standin_state namespace at request time (not a bound
function), so replacing a rule there, as the tests do, changes what the server answers.
An action gets the state, the path's captured ids, the request and the server's Faults (only
the token grant reads them), and returns the JSON payload of a 200, or a Redirect for a 302.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING

from recon.contaazul import standin_state as rules

if TYPE_CHECKING:
    from recon.contaazul.standin_faults import Faults


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: object | None


@dataclass(frozen=True)
class Reply:
    status: int
    body: object | None = None  # None: empty body; str: raw text; else JSON
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Redirect:
    """What an action returns to answer 302 with this Location instead of 200."""

    location: str


Action = Callable[[dict, tuple[str, ...], Request, "Faults"], object]


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
    _route("GET", "/oauth2/authorize", "authorize",
           lambda s, a, r, _: Redirect(rules.start_authorization(s, r.query)),
           writes=True, needs_bearer=False),
    _route("POST", "/oauth2/token", "token", lambda s, a, r, f: rules.grant_tokens(
        s, r.body if isinstance(r.body, dict) else {}, r.headers.get("Authorization"),
        revoke_family_on_reuse=f.revoke_family_on_reuse),
        writes=True, needs_bearer=False),
    _route("GET", "/v1/conta-financeira", "list_contas",
           lambda s, a, r, _: rules.list_contas_financeiras(s, r.query)),
    _route("GET", f"{EVENTS}/contas-a-receber/buscar", "search_receber",
           lambda s, a, r, _: rules.search_parcelas(s, "RECEITA", r.query)),
    _route("GET", f"{EVENTS}/contas-a-pagar/buscar", "search_pagar",
           lambda s, a, r, _: rules.search_parcelas(s, "DESPESA", r.query)),
    _route("GET", f"{EVENTS}/parcelas/baixa/{ID}", "get_baixa",
           lambda s, a, r, _: rules.get_baixa(s, a[0])),
    _route("DELETE", f"{EVENTS}/parcelas/baixa/{ID}", "delete_baixa",
           lambda s, a, r, _: rules.delete_baixa(s, a[0]), writes=True),
    _route("GET", f"{EVENTS}/parcelas/{ID}/baixa", "list_baixas",
           lambda s, a, r, _: rules.list_baixas(s, a[0])),
    _route("POST", f"{EVENTS}/parcelas/{ID}/baixa", "create_baixa",
           lambda s, a, r, _: rules.create_baixa(s, a[0], r.body), writes=True),
    _route("GET", f"{EVENTS}/parcelas/{ID}", "get_parcela",
           lambda s, a, r, _: rules.parcela_detail(s, a[0])),
    _route("PATCH", f"{EVENTS}/parcelas/{ID}", "patch_parcela",
           lambda s, a, r, _: rules.patch_parcela(s, a[0], r.body), writes=True),
    _route("GET", "/v1/pessoas/conta-conectada", "conta_conectada",  # before /v1/pessoas/{id}
           lambda s, a, r, _: rules.connected_company(s)),
    _route("GET", "/v1/pessoas", "list_pessoas",
           lambda s, a, r, _: rules.list_pessoas(s, r.query)),
    _route("GET", f"/v1/pessoas/{ID}", "get_pessoa",
           lambda s, a, r, _: rules.get_pessoa(s, a[0])),
)


def match_route(method: str, path: str) -> tuple[Route, tuple[str, ...]] | None:
    for route in ROUTES:
        found = route.pattern.fullmatch(path)
        if found and route.method == method:
            return route, found.groups()
    return None
