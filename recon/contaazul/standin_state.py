"""The rules of the Conta Azul stand-in, applied to its state dict: no sockets, no files.

Each public function takes the state (money already Decimal), mutates it in place when the
route writes, and returns the JSON payload to send (None = an empty body). A refusal raises
ApiError carrying the exact status and body the real API gives, per shared/notes/contaazul-api.md.
The HTTP layer (standin.py) holds the lock, checks the Bearer token and persists the state.

The rules live by resource: standin_core (errors, defaults, clock, money, status, paging),
standin_auth (authorize redirect, tokens), standin_cadastros (contas financeiras, pessoas, the
connected company), standin_parcelas (search, detail, PATCH) and standin_baixas. This module
gathers them into the one namespace the routes call through, looked up at call time so a test
can replace a single rule here.
"""

from __future__ import annotations

from recon.contaazul.standin_auth import authorize, grant_tokens, start_authorization
from recon.contaazul.standin_baixas import (
    BAIXA_WRITE_FIELDS,
    create_baixa,
    delete_baixa,
    get_baixa,
    list_baixas,
)
from recon.contaazul.standin_cadastros import (
    connected_company,
    get_pessoa,
    list_contas_financeiras,
    list_pessoas,
)
from recon.contaazul.standin_core import (
    ADJUSTMENTS,
    EXPLICIT_STATUSES,
    HTML_WRAPPED_400,
    PAGE_SIZE_ERROR,
    PAGE_SIZES,
    PARCELA_PAYMENT_METHODS,
    REQUEST_PAYMENT_METHODS,
    ZERO,
    ApiError,
    Filter,
    Query,
    api_timestamp,
    bad_request,
    business_today,
    derive_status,
    page_window,
    paid,
    with_defaults,
)
from recon.contaazul.standin_parcelas import (
    LIST_STATUS,
    MONEY_FILTER,
    OPEN_STATUSES,
    PATCHABLE,
    VERSION_CONFLICT,
    parcela_detail,
    patch_parcela,
    search_parcelas,
)

__all__ = [
    "ADJUSTMENTS", "BAIXA_WRITE_FIELDS", "EXPLICIT_STATUSES", "HTML_WRAPPED_400", "LIST_STATUS",
    "MONEY_FILTER", "OPEN_STATUSES", "PAGE_SIZES", "PAGE_SIZE_ERROR", "PARCELA_PAYMENT_METHODS",
    "PATCHABLE", "REQUEST_PAYMENT_METHODS", "VERSION_CONFLICT", "ZERO", "ApiError", "Filter",
    "Query", "api_timestamp", "authorize", "bad_request", "business_today", "connected_company",
    "create_baixa", "delete_baixa", "derive_status", "get_baixa", "get_pessoa", "grant_tokens",
    "list_baixas", "list_contas_financeiras", "list_pessoas", "page_window", "paid",
    "parcela_detail", "patch_parcela", "search_parcelas", "start_authorization", "with_defaults",
]
