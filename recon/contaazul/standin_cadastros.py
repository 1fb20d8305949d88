"""Stand-in registers (cadastros) the pipeline only reads: contas financeiras and pessoas."""

from __future__ import annotations

import copy

from recon.contaazul.standin_core import (
    ApiError,
    Query,
    find_by_id,
    page_of,
    page_window,
    query_value,
)


def list_contas_financeiras(state: dict, query: Query) -> dict:
    pagina, size = page_window(query, required=False)
    rows = sorted(state["contas_financeiras"], key=lambda c: (c.get("nome", ""), c["id"]))
    if query_value(query, "apenas_ativo") == "true":
        rows = [c for c in rows if c.get("ativo", True)]
    active = sum(1 for c in rows if c.get("ativo", True))
    return {
        "itens_totais": len(rows),
        "itens": copy.deepcopy(page_of(rows, pagina, size)),
        "totais": {"ativo": active, "inativo": len(rows) - active, "todos": len(rows)},
    }


def list_pessoas(state: dict, query: Query) -> dict:
    """camelCase envelope; `items` is null, not [], when the page is empty (notes §3)."""
    pagina, size = page_window(query, required=False)
    ids = set(query.get("ids", []))
    documents = {_digits(d) for d in query.get("documentos", [])}
    needle = (query_value(query, "busca") or "").casefold()
    rows = [
        p for p in state["pessoas"]
        if (not ids or p["id"] in ids)
        and (not documents or _digits(p.get("documento") or "") in documents)
        and (not needle or any(needle in str(p.get(f) or "").casefold()
                               for f in ("nome", "documento", "email")))
    ]
    rows.sort(key=lambda p: (p.get("nome", ""), p["id"]))
    page = copy.deepcopy(page_of(rows, pagina, size))
    return {"totalItems": len(rows), "items": page or None}


# The company behind every token when the state names none: one stand-in, one company.
DEFAULT_EMPRESA = {
    "id_empresa": "e0000000-0000-4000-8000-00000000000e",
    "documento": "11222333000181",
    "razao_social": "Empresa Demonstração Ltda",
    "nome_fantasia": "Empresa Demo",
    "data_fundacao": "2015-03-01",
    "email": "financeiro@empresa-demo.example",
}


def connected_company(state: dict) -> dict:
    """GET /v1/pessoas/conta-conectada: the state's "empresa", its missing keys defaulted."""
    return {**DEFAULT_EMPRESA, **copy.deepcopy(state.get("empresa") or {})}


def get_pessoa(state: dict, pessoa_id: str) -> dict:
    pessoa = find_by_id(state["pessoas"], pessoa_id)
    if pessoa is None:
        raise ApiError(404)
    return copy.deepcopy(pessoa)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())
