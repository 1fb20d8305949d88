"""Stand-in parcelas: the contas a receber/pagar search, one parcela's detail, and PATCH."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from recon.contaazul.standin_baixas import baixa_dto
from recon.contaazul.standin_core import (
    ADJUSTMENTS,
    PARCELA_PAYMENT_METHODS,
    ZERO,
    ApiError,
    Filter,
    Query,
    bad_request,
    business_today,
    composition_request,
    conta_ref,
    derive_status,
    find_by_id,
    iso_date,
    money,
    net,
    page_of,
    page_window,
    paid,
    parcela_or_404,
    query_value,
    touch,
    unpaid,
)
from recon.dates import SAO_PAULO, parse_api_datetime

VERSION_CONFLICT = {"code": 409, "message": "Versão informada para o recurso é inválida"}
# Detail status (stored/derived vocabulary) -> (list `status`, list `status_traduzido`).
LIST_STATUS = {
    "PENDENTE": ("PENDING", "EM_ABERTO"),
    "ATRASADO": ("OVERDUE", "ATRASADO"),
    "QUITADO": ("ACQUITTED", "RECEBIDO"),
    "RECEBIDO_PARCIAL": ("PARTIAL", "RECEBIDO_PARCIAL"),
    "RENEGOCIADO": ("RENEGOTIATED", "RENEGOCIADO"),
    "PERDIDO": ("LOST", "PERDIDO"),
}
OPEN_STATUSES = frozenset({"PENDENTE", "ATRASADO", "RECEBIDO_PARCIAL"})
# PATCH parcela: request field -> stored field. Anything else is dropped silently (notes §4.3).
PATCHABLE = {
    "nota": "nota",
    "descricao": "descricao",
    "vencimento": "data_vencimento",
    "data_pagamento_esperado": "data_pagamento_previsto",
    "metodo_pagamento": "metodo_pagamento",
    "nsu": "nsu",
    "composicao_valor": "composicao_valor",
    "id_conta_financeira": "id_conta_financeira",
}
MONEY_FILTER = re.compile(r"^[0-9]+(\.[0-9]{1,2})?$")


# --- searching ---------------------------------------------------------------------------


_SEARCHES: dict[tuple, tuple[list[dict], dict]] = {}  # one run's page requests share a search


def search_parcelas(state: dict, tipo: str, query: Query) -> dict:
    """`.../contas-a-receber/buscar` (RECEITA) and `.../contas-a-pagar/buscar` (DESPESA)."""
    pagina, size = page_window(query, required=True)
    filters = _search_filters(query, tipo)
    today = business_today(state)
    rows, totals = _matching_rows(state, tipo, query, filters, today)
    return {
        "itens_totais": len(rows),
        "itens": [_list_item(state, p, today) for p in page_of(rows, pagina, size)],
        "totais": totals,
    }


def _matching_rows(state: dict, tipo: str, query: Query, filters: list[Filter],
                   today: date) -> tuple[list[dict], dict]:
    """Filtered, sorted rows and totals, reused by the other pages of the same search.

    The key holds every parcela's versao (each write bumps one), so any change
    in the state makes a new search; without this a 20-page pull of 20,000
    parcelas would filter and total them 20 times.
    """
    criteria = tuple(sorted((k, tuple(v)) for k, v in query.items() if k != "pagina"))
    key = (id(state), tipo, criteria, today, tuple(p["versao"] for p in state["parcelas"]))
    if key not in _SEARCHES:
        rows = [
            p for p in state["parcelas"]
            if p["tipo"] == tipo and derive_status(p, today) != "CANCELADO"
            and all(keep(p, today) for keep in filters)
        ]
        rows.sort(key=lambda p: (p["data_vencimento"], p["id"]))
        if len(_SEARCHES) >= 4:  # receber and pagar of one run; older searches are dropped
            _SEARCHES.clear()
        _SEARCHES[key] = (rows, _search_totals(rows, today))
    return _SEARCHES[key]


def _search_filters(query: Query, tipo: str) -> list[Filter]:
    for name in ("data_vencimento_de", "data_vencimento_ate"):
        _date_param(query, name, required=True)
    filters = _range_filter(query, "data_vencimento", "data_vencimento", _date_param)
    filters += _range_filter(query, "data_competencia", "data_competencia", _date_param)
    filters += _range_filter(query, "data_alteracao", "data_alteracao", _datetime_param)
    filters += _status_filter(query.get("status", []))
    filters += _amount_filters(query)
    needle = query_value(query, "descricao")
    if needle:
        filters.append(lambda p, _t: needle.casefold() in p.get("descricao", "").casefold())
    clients = set(query.get("ids_clientes", []))
    if clients and tipo == "RECEITA":  # on contas a pagar the parameter does not exist: ignored
        filters.append(lambda p, _t: p.get("contato_id") in clients)
    return filters


def _date_param(query: Query, name: str, *, required: bool = False) -> date | None:
    text = query_value(query, name)
    if text is None:
        if required:
            raise bad_request(f"O parâmetro '{name}' é obrigatório.")
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        message = f"O valor '{text}' do parâmetro '{name}' não é uma data válida."
        raise bad_request(message) from None


def _datetime_param(query: Query, name: str) -> datetime | None:
    text = query_value(query, name)
    if text is None:
        return None
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        naive = None
    if naive is None or naive.tzinfo is not None:  # a `Z` or an offset is refused (notes §7.5)
        raise bad_request(f"O valor '{text}' do parâmetro '{name}' não é uma data/hora válida.")
    return naive.replace(tzinfo=SAO_PAULO)


def _range_filter(query: Query, prefix: str, field: str, parse: Callable) -> list[Filter]:
    low, high = parse(query, f"{prefix}_de"), parse(query, f"{prefix}_ate")
    if low is not None and high is not None and low > high:
        raise bad_request("A data de início não pode ser posterior à data de fim.")
    read = parse_api_datetime if parse is _datetime_param else date.fromisoformat
    if low is None and high is None:
        return []

    def keep(parcela: dict, _today: date) -> bool:
        value = parcela.get(field)
        if not value:
            return False
        value = read(value)
        return (low is None or low <= value) and (high is None or value <= high)

    return [keep]


def _status_filter(wanted: list[str]) -> list[Filter]:
    allowed = {translated for _, translated in LIST_STATUS.values()}
    for value in wanted:
        if value not in allowed:
            raise bad_request(f"O valor '{value}' do parâmetro 'status' não é válido.")
    if not wanted:
        return []
    return [lambda p, today: LIST_STATUS[derive_status(p, today)][1] in wanted]


def _amount_filters(query: Query) -> list[Filter]:
    filters: list[Filter] = []
    for name, inside in (("valor_de", lambda v, b: v >= b), ("valor_ate", lambda v, b: v <= b)):
        text = query_value(query, name)
        if text is None:
            continue
        if not MONEY_FILTER.match(text):
            raise bad_request(f"O valor '{text}' do parâmetro '{name}' não é válido.")
        bound = Decimal(text)
        filters.append(lambda p, _t, inside=inside, bound=bound: inside(money(p["valor"]), bound))
    return filters


def _list_item(state: dict, parcela: dict, today: date) -> dict:
    english, translated = LIST_STATUS[derive_status(parcela, today)]
    party = "cliente" if parcela["tipo"] == "RECEITA" else "fornecedor"
    return {
        "id": parcela["id"],
        "descricao": parcela.get("descricao", ""),
        "data_vencimento": parcela["data_vencimento"],
        "data_competencia": parcela.get("data_competencia"),
        "data_criacao": parcela.get("data_criacao", parcela.get("data_alteracao")),
        "data_alteracao": parcela.get("data_alteracao"),
        "status": english,
        "status_traduzido": translated,
        "total": money(parcela["valor"]),
        "pago": paid(parcela),
        "nao_pago": unpaid(parcela),
        "categorias": copy.deepcopy(parcela.get("categorias", [])),
        "centros_de_custo": copy.deepcopy(parcela.get("centros_de_custo", [])),
        party: _contact_ref(state, parcela.get("contato_id")),
        "renegociacao": None,
    }


def _search_totals(rows: list[dict], today: date) -> dict:
    # Live `totais` carry per-situation sums (notes §3); the exact split is our reading of it.
    sums = dict.fromkeys(("pago", "vencido", "vence_hoje", "pendente", "aberto", "todos"), ZERO)
    for parcela in rows:
        sums["pago"] += paid(parcela)
        sums["todos"] += money(parcela["valor"])
        if derive_status(parcela, today) not in OPEN_STATUSES:
            continue
        owed, due = unpaid(parcela), date.fromisoformat(parcela["data_vencimento"])
        sums["aberto"] += owed
        sums["vencido" if due < today else "pendente"] += owed
        if due == today:
            sums["vence_hoje"] += owed
    return sums


def _contact_ref(state: dict, contact_id: str | None) -> dict:
    pessoa = find_by_id(state["pessoas"], contact_id)
    return {"id": contact_id, "nome": pessoa.get("nome") if pessoa else None}


# --- one parcela -------------------------------------------------------------------------


def parcela_detail(state: dict, parcela_id: str) -> dict:
    parcela = parcela_or_404(state, parcela_id)
    composition = _parcela_composition(parcela)
    return {
        "id": parcela["id"],
        "versao": parcela["versao"],
        "indice": parcela.get("indice", 1),
        "descricao": parcela.get("descricao", ""),
        "nota": parcela.get("nota", ""),
        "status": derive_status(parcela, business_today(state)),
        "conciliado": bool(parcela.get("conciliado", False)),
        "valor_pago": paid(parcela),
        "nao_pago": unpaid(parcela),
        "valor_total_liquido": composition["valor_liquido"],
        "valor_composicao": composition,
        "data_vencimento": parcela["data_vencimento"],
        "data_pagamento_previsto": parcela.get("data_pagamento_previsto"),
        "data_alteracao": parcela.get("data_alteracao"),
        "baixas": [baixa_dto(state, parcela, b) for b in parcela.get("baixas", [])],
        "evento": {"id": parcela.get("evento_id"), "tipo": parcela["tipo"],
                   "data_competencia": parcela.get("data_competencia")},
        "metodo_pagamento": parcela.get("metodo_pagamento"),
        "nsu": parcela.get("nsu"),
        "id_conta_financeira": parcela.get("id_conta_financeira"),
        "conta_financeira": conta_ref(state, parcela.get("id_conta_financeira")),
    }


def _parcela_composition(parcela: dict) -> dict:
    stored = parcela.get("composicao_valor") or {}
    bruto = money(stored.get("valor_bruto", parcela["valor"]))
    parts = {name: money(stored.get(name) or 0) for name in ADJUSTMENTS}
    return {"valor_bruto": bruto, **parts, "valor_liquido": net(bruto, parts)}


def patch_parcela(state: dict, parcela_id: str, body: object) -> dict:
    """Edits descriptive fields only: a PATCH never records a payment (notes §0.1)."""
    parcela = parcela_or_404(state, parcela_id)
    if not isinstance(body, dict):
        raise bad_request("O corpo da requisição não é um objeto JSON válido.")
    _require_version(parcela, body.get("versao"))
    changes = {name: body[name] for name in PATCHABLE if name in body}
    _check_patch(state, changes)
    for name, value in changes.items():
        parcela[PATCHABLE[name]] = copy.deepcopy(value)
    touch(state, parcela)
    reply = {"id": parcela["id"], "versao": parcela["versao"], **copy.deepcopy(changes)}
    if "id_conta_financeira" in changes:
        reply["conta_financeira"] = conta_ref(state, changes["id_conta_financeira"])
    return reply


def _require_version(parcela: dict, presented: object) -> None:
    integral = isinstance(presented, int | Decimal) and not isinstance(presented, bool)
    if not integral or presented != parcela["versao"]:
        raise ApiError(409, VERSION_CONFLICT)


def _check_patch(state: dict, changes: dict) -> None:
    for name in ("vencimento", "data_pagamento_esperado"):
        if name in changes:
            changes[name] = iso_date(changes[name], name)
    method = changes.get("metodo_pagamento")
    if method is not None and method not in PARCELA_PAYMENT_METHODS:
        raise bad_request(f"O valor '{method}' do campo 'metodo_pagamento' não é válido.")
    if "composicao_valor" in changes:
        changes["composicao_valor"] = composition_request(changes["composicao_valor"])
    conta = changes.get("id_conta_financeira")
    if conta is not None and find_by_id(state["contas_financeiras"], conta) is None:
        raise bad_request(f"Conta financeira '{conta}' não encontrada.")
