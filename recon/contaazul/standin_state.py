"""The rules of the Conta Azul stand-in, applied to its state dict: no sockets, no files.

Each public function takes the state (money already Decimal), mutates it in place when the
route writes, and returns the JSON payload to send (None = an empty body). A refusal raises
ApiError carrying the exact status and body the real API gives, per shared/notes/contaazul-api.md.
The HTTP layer (standin.py) holds the lock, checks the Bearer token and persists the state.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from recon.dates import SAO_PAULO, parse_api_datetime, today_sao_paulo
from recon.money import CENT, to_cents

Query = dict[str, list[str]]
Filter = Callable[[dict, date], bool]

PAGE_SIZES = (10, 20, 50, 100, 200, 500, 1000)
PAGE_SIZE_ERROR = {
    "error": "O tamanho da página deve ser um dos seguintes valores: "
    "10, 20, 50, 100, 200, 500 ou 1000"
}
VERSION_CONFLICT = {"code": 409, "message": "Versão informada para o recurso é inválida"}
# A baixa with a missing required field gets a 400 that wraps an HTML page instead of a
# validation message (notes §4.5). We reproduce it as JSON whose message is Jackson's complaint.
HTML_WRAPPED_400 = {
    "code": 400,
    "message": "Unexpected character ('<' (code 60)): expected a valid value (JSON String, "
    "Number, Array, Object or token 'null', 'true' or 'false')\n at [Source: (String)"
    '"<html><head><title>400 Bad Request</title></head><body><h1>Bad Request</h1></body>'
    '</html>"; line: 1, column: 2]',
}

# Detail status (stored/derived vocabulary) -> (list `status`, list `status_traduzido`).
LIST_STATUS = {
    "PENDENTE": ("PENDING", "EM_ABERTO"),
    "ATRASADO": ("OVERDUE", "ATRASADO"),
    "QUITADO": ("ACQUITTED", "RECEBIDO"),
    "RECEBIDO_PARCIAL": ("PARTIAL", "RECEBIDO_PARCIAL"),
    "RENEGOCIADO": ("RENEGOTIATED", "RENEGOCIADO"),
    "PERDIDO": ("LOST", "PERDIDO"),
}
EXPLICIT_STATUSES = frozenset({"RENEGOCIADO", "PERDIDO", "CANCELADO"})  # stored; never derived
OPEN_STATUSES = frozenset({"PENDENTE", "ATRASADO", "RECEBIDO_PARCIAL"})
REQUEST_PAYMENT_METHODS = frozenset(
    "DINHEIRO CARTAO_CREDITO BOLETO_BANCARIO CARTAO_CREDITO_VIA_LINK CHEQUE CARTAO_DEBITO "
    "TRANSFERENCIA_BANCARIA OUTRO CARTEIRA_DIGITAL CASHBACK CREDITO_LOJA CREDITO_VIRTUAL "
    "DEPOSITO_BANCARIO PIX_PAGAMENTO_INSTANTANEO".split()
)
PARCELA_PAYMENT_METHODS = REQUEST_PAYMENT_METHODS | frozenset(
    "PROGRAMA_FIDELIDADE SEM_PAGAMENTO VALE_ALIMENTACAO VALE_COMBUSTIVEL VALE_PRESENTE "
    "VALE_REFEICAO PIX_COBRANCA DEBITO_AUTOMATICO".split()
)
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
ADJUSTMENTS = ("multa", "juros", "desconto", "taxa")
MONEY_FILTER = re.compile(r"^[0-9]+(\.[0-9]{1,2})?$")
ZERO = Decimal("0.00")


class ApiError(Exception):
    """A refusal with the status and body (None = empty) the real API answers."""

    def __init__(self, status: int, body: object | None = None):
        super().__init__(status)
        self.status = status
        self.body = body


def bad_request(message: str) -> ApiError:
    return ApiError(400, {"code": 400, "message": message})


def with_defaults(state: dict) -> dict:
    """Fill the optional keys so the rules can index them directly."""
    for key in ("refresh_tokens", "contas_financeiras", "pessoas", "parcelas", "auth_codes"):
        state.setdefault(key, [])
    state.setdefault("clients", {})
    state.setdefault("access_tokens", {})
    state.setdefault("access_token_ttl_seconds", 3600)
    return state


# --- clock and money ---------------------------------------------------------------------


def business_today(state: dict) -> date:
    """The state's "today" (for reproducible tests and demos), else the real São Paulo date."""
    fixed = state.get("today")
    return date.fromisoformat(fixed) if fixed else today_sao_paulo()


def api_timestamp(moment: datetime | None = None) -> str:
    """São Paulo time without zone and with trailing fraction zeros cut, as the API writes it."""
    local = (moment or datetime.now(SAO_PAULO)).astimezone(SAO_PAULO)
    fraction = f"{local.microsecond:06d}".rstrip("0")
    whole = local.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{fraction}" if fraction else whole


def _money(value: object) -> Decimal:
    return Decimal(str(value) if isinstance(value, float) else value).quantize(CENT)


def _net(bruto: Decimal, parts: dict[str, Decimal]) -> Decimal:
    # How the API derives valor_liquido is undocumented (notes §8); this is the obvious guess.
    return bruto + parts["multa"] + parts["juros"] - parts["desconto"] - parts["taxa"]


def paid(parcela: dict) -> Decimal:
    """A parcela is paid by the sum of its baixas' valor_bruto."""
    return sum(
        (_money(b["composicao_valor"]["valor_bruto"]) for b in parcela.get("baixas", [])), ZERO
    )


def _unpaid(parcela: dict) -> Decimal:
    return max(_money(parcela["valor"]) - paid(parcela), ZERO)


def derive_status(parcela: dict, today: date) -> str:
    """Detail vocabulary. Stored RENEGOCIADO/PERDIDO/CANCELADO win; the rest follows payments."""
    stored = parcela.get("status")
    if stored in EXPLICIT_STATUSES:
        return stored
    received = paid(parcela)
    if received >= _money(parcela["valor"]):
        return "QUITADO"
    if received > 0:
        return "RECEBIDO_PARCIAL"
    if date.fromisoformat(parcela["data_vencimento"]) < today:
        return "ATRASADO"
    return "PENDENTE"


# --- OAuth -------------------------------------------------------------------------------


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


# --- query parameters --------------------------------------------------------------------


def _one(query: Query, name: str) -> str | None:
    """First value of a parameter; a blank value counts as absent."""
    values = query.get(name) or [""]
    return values[0].strip() or None


def page_window(query: Query, *, required: bool) -> tuple[int, int]:
    pagina, size = _one(query, "pagina"), _one(query, "tamanho_pagina")
    if required and (pagina is None or size is None):
        raise bad_request("Os parâmetros 'pagina' e 'tamanho_pagina' são obrigatórios.")
    if size is not None and (not size.isdigit() or int(size) not in PAGE_SIZES):
        raise ApiError(400, PAGE_SIZE_ERROR)
    if pagina is not None and (not pagina.isdigit() or int(pagina) < 1):
        raise bad_request("O parâmetro 'pagina' deve ser um número maior ou igual a 1.")
    return int(pagina or 1), int(size or 10)


def _page(rows: list, pagina: int, size: int) -> list:
    start = (pagina - 1) * size
    return rows[start : start + size]


def _date_param(query: Query, name: str, *, required: bool = False) -> date | None:
    text = _one(query, name)
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
    text = _one(query, name)
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


# --- listing and searching ---------------------------------------------------------------


def list_contas_financeiras(state: dict, query: Query) -> dict:
    pagina, size = page_window(query, required=False)
    rows = sorted(state["contas_financeiras"], key=lambda c: (c.get("nome", ""), c["id"]))
    if _one(query, "apenas_ativo") == "true":
        rows = [c for c in rows if c.get("ativo", True)]
    active = sum(1 for c in rows if c.get("ativo", True))
    return {
        "itens_totais": len(rows),
        "itens": copy.deepcopy(_page(rows, pagina, size)),
        "totais": {"ativo": active, "inativo": len(rows) - active, "todos": len(rows)},
    }


def search_parcelas(state: dict, tipo: str, query: Query) -> dict:
    """`.../contas-a-receber/buscar` (RECEITA) and `.../contas-a-pagar/buscar` (DESPESA)."""
    pagina, size = page_window(query, required=True)
    filters = _search_filters(query, tipo)
    today = business_today(state)
    rows = [
        p for p in state["parcelas"]
        if p["tipo"] == tipo and derive_status(p, today) != "CANCELADO"
        and all(keep(p, today) for keep in filters)
    ]
    rows.sort(key=lambda p: (p["data_vencimento"], p["id"]))
    return {
        "itens_totais": len(rows),
        "itens": [_list_item(state, p, today) for p in _page(rows, pagina, size)],
        "totais": _search_totals(rows, today),
    }


def _search_filters(query: Query, tipo: str) -> list[Filter]:
    for name in ("data_vencimento_de", "data_vencimento_ate"):
        _date_param(query, name, required=True)
    filters = _range_filter(query, "data_vencimento", "data_vencimento", _date_param)
    filters += _range_filter(query, "data_competencia", "data_competencia", _date_param)
    filters += _range_filter(query, "data_alteracao", "data_alteracao", _datetime_param)
    filters += _status_filter(query.get("status", []))
    filters += _amount_filters(query)
    needle = _one(query, "descricao")
    if needle:
        filters.append(lambda p, _t: needle.casefold() in p.get("descricao", "").casefold())
    clients = set(query.get("ids_clientes", []))
    if clients and tipo == "RECEITA":  # on contas a pagar the parameter does not exist: ignored
        filters.append(lambda p, _t: p.get("contato_id") in clients)
    return filters


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
        text = _one(query, name)
        if text is None:
            continue
        if not MONEY_FILTER.match(text):
            raise bad_request(f"O valor '{text}' do parâmetro '{name}' não é válido.")
        bound = Decimal(text)
        filters.append(lambda p, _t, inside=inside, bound=bound: inside(_money(p["valor"]), bound))
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
        "total": _money(parcela["valor"]),
        "pago": paid(parcela),
        "nao_pago": _unpaid(parcela),
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
        sums["todos"] += _money(parcela["valor"])
        if derive_status(parcela, today) not in OPEN_STATUSES:
            continue
        owed, due = _unpaid(parcela), date.fromisoformat(parcela["data_vencimento"])
        sums["aberto"] += owed
        sums["vencido" if due < today else "pendente"] += owed
        if due == today:
            sums["vence_hoje"] += owed
    return sums


def _contact_ref(state: dict, contact_id: str | None) -> dict:
    pessoa = _find(state["pessoas"], contact_id)
    return {"id": contact_id, "nome": pessoa.get("nome") if pessoa else None}


def _conta_ref(state: dict, conta_id: str | None) -> dict | None:
    if conta_id is None:
        return None
    conta = _find(state["contas_financeiras"], conta_id)
    return {"id": conta_id, "nome": conta.get("nome") if conta else None}


def _find(rows: list[dict], wanted: str | None) -> dict | None:
    return next((row for row in rows if wanted is not None and row["id"] == wanted), None)


# --- one parcela -------------------------------------------------------------------------


def _parcela(state: dict, parcela_id: str) -> dict:
    found = _find(state["parcelas"], parcela_id)
    if found is None:
        raise ApiError(404)
    return found


def parcela_detail(state: dict, parcela_id: str) -> dict:
    parcela = _parcela(state, parcela_id)
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
        "nao_pago": _unpaid(parcela),
        "valor_total_liquido": composition["valor_liquido"],
        "valor_composicao": composition,
        "data_vencimento": parcela["data_vencimento"],
        "data_pagamento_previsto": parcela.get("data_pagamento_previsto"),
        "data_alteracao": parcela.get("data_alteracao"),
        "baixas": [_baixa_dto(state, parcela, b) for b in parcela.get("baixas", [])],
        "evento": {"id": parcela.get("evento_id"), "tipo": parcela["tipo"],
                   "data_competencia": parcela.get("data_competencia")},
        "metodo_pagamento": parcela.get("metodo_pagamento"),
        "nsu": parcela.get("nsu"),
        "id_conta_financeira": parcela.get("id_conta_financeira"),
        "conta_financeira": _conta_ref(state, parcela.get("id_conta_financeira")),
    }


def _parcela_composition(parcela: dict) -> dict:
    stored = parcela.get("composicao_valor") or {}
    bruto = _money(stored.get("valor_bruto", parcela["valor"]))
    parts = {name: _money(stored.get(name) or 0) for name in ADJUSTMENTS}
    return {"valor_bruto": bruto, **parts, "valor_liquido": _net(bruto, parts)}


def patch_parcela(state: dict, parcela_id: str, body: object) -> dict:
    """Edits descriptive fields only: a PATCH never records a payment (notes §0.1)."""
    parcela = _parcela(state, parcela_id)
    if not isinstance(body, dict):
        raise bad_request("O corpo da requisição não é um objeto JSON válido.")
    _require_version(parcela, body.get("versao"))
    changes = {name: body[name] for name in PATCHABLE if name in body}
    _check_patch(state, changes)
    for name, value in changes.items():
        parcela[PATCHABLE[name]] = copy.deepcopy(value)
    _touch(state, parcela)
    reply = {"id": parcela["id"], "versao": parcela["versao"], **copy.deepcopy(changes)}
    if "id_conta_financeira" in changes:
        reply["conta_financeira"] = _conta_ref(state, changes["id_conta_financeira"])
    return reply


def _require_version(parcela: dict, presented: object) -> None:
    integral = isinstance(presented, int | Decimal) and not isinstance(presented, bool)
    if not integral or presented != parcela["versao"]:
        raise ApiError(409, VERSION_CONFLICT)


def _check_patch(state: dict, changes: dict) -> None:
    for name in ("vencimento", "data_pagamento_esperado"):
        if name in changes:
            changes[name] = _iso_date(changes[name], name)
    method = changes.get("metodo_pagamento")
    if method is not None and method not in PARCELA_PAYMENT_METHODS:
        raise bad_request(f"O valor '{method}' do campo 'metodo_pagamento' não é válido.")
    if "composicao_valor" in changes:
        changes["composicao_valor"] = _composition_request(changes["composicao_valor"])
    conta = changes.get("id_conta_financeira")
    if conta is not None and _find(state["contas_financeiras"], conta) is None:
        raise bad_request(f"Conta financeira '{conta}' não encontrada.")


def _touch(state: dict, parcela: dict) -> None:
    """Every write bumps versao and data_alteracao; the stored status is refreshed for readers."""
    parcela["versao"] += 1
    parcela["data_alteracao"] = api_timestamp()
    if parcela.get("status") not in EXPLICIT_STATUSES:
        parcela["status"] = derive_status(parcela, business_today(state))


def _iso_date(value: object, name: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        message = f"O valor '{value}' do campo '{name}' não é uma data válida."
        raise bad_request(message) from None


def _amount(value: object, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise bad_request(f"O campo '{name}' deve ser um número.")
    try:
        to_cents(value)  # refuses fractions of a centavo
    except (ValueError, InvalidOperation):
        raise bad_request(f"O campo '{name}' aceita no máximo duas casas decimais.") from None
    amount = _money(value)
    if amount < 0:
        raise bad_request(f"O campo '{name}' deve ser maior ou igual a zero.")
    return amount


def _composition_request(composition: object) -> dict:
    if not isinstance(composition, dict) or composition.get("valor_bruto") is None:
        raise ApiError(400, HTML_WRAPPED_400)
    parts = {name: _amount(composition.get(name) or 0, name) for name in ADJUSTMENTS}
    return {"valor_bruto": _amount(composition["valor_bruto"], "valor_bruto"), **parts}


# --- baixas ------------------------------------------------------------------------------

BAIXA_WRITE_FIELDS = ("id", "versao", "data_pagamento", "composicao_valor", "conta_financeira",
                      "metodo_pagamento", "observacao", "nsu")


def create_baixa(state: dict, parcela_id: str, body: object) -> dict:
    """Settles (part of) a parcela. No idempotency key: the same body twice pays twice, and
    nothing stops a payment beyond the amount due (the real limit is undocumented)."""
    parcela = _parcela(state, parcela_id)
    fields = _baixa_request(state, body)
    status = derive_status(parcela, business_today(state))
    if status in EXPLICIT_STATUSES:
        raise bad_request(f"Não é possível registrar baixa em uma parcela com status {status}.")
    baixa = {"id": str(uuid.uuid4()), "versao": 1, **fields, "atualizado_em": api_timestamp()}
    parcela.setdefault("baixas", []).append(baixa)
    _touch(state, parcela)
    return {name: copy.deepcopy(baixa[name]) for name in BAIXA_WRITE_FIELDS}


def _baixa_request(state: dict, body: object) -> dict:
    required = ("data_pagamento", "composicao_valor", "conta_financeira")
    if not isinstance(body, dict) or any(body.get(name) in (None, "") for name in required):
        raise ApiError(400, HTML_WRAPPED_400)
    composition = _composition_request(body["composicao_valor"])
    conta = body["conta_financeira"]
    if _find(state["contas_financeiras"], conta) is None:
        raise bad_request(f"Conta financeira '{conta}' não encontrada.")
    method = body.get("metodo_pagamento")
    if method is not None and method not in REQUEST_PAYMENT_METHODS:
        raise bad_request(f"O valor '{method}' do campo 'metodo_pagamento' não é válido.")
    return {
        "data_pagamento": _iso_date(body["data_pagamento"], "data_pagamento"),
        "composicao_valor": composition,
        "conta_financeira": conta,
        "metodo_pagamento": method,
        "observacao": body.get("observacao"),
        "nsu": body.get("nsu"),
    }


def _baixa_dto(state: dict, parcela: dict, baixa: dict) -> dict:
    """The read shape: `valor_composicao` and a conta object, unlike the write shape."""
    written = baixa["composicao_valor"]
    bruto = _money(written["valor_bruto"])
    parts = {name: _money(written.get(name) or 0) for name in ADJUSTMENTS}
    return {
        "id": baixa["id"],
        "versao": baixa["versao"],
        "data_pagamento": baixa["data_pagamento"],
        "valor_composicao": {"valor_bruto": bruto, **parts, "valor_liquido": _net(bruto, parts)},
        "conta_financeira": _conta_ref(state, baixa["conta_financeira"]),
        "metodo_pagamento": baixa.get("metodo_pagamento"),
        "observacao": baixa.get("observacao"),
        "nsu": baixa.get("nsu"),
        "id_parcela": parcela["id"],
        "tipo_evento_financeiro": parcela["tipo"],
        "id_reconciliacao": None,
        "atualizado_em": baixa.get("atualizado_em"),
    }


def list_baixas(state: dict, parcela_id: str) -> list[dict]:
    parcela = _parcela(state, parcela_id)
    return [_baixa_dto(state, parcela, b) for b in parcela.get("baixas", [])]


def _locate_baixa(state: dict, baixa_id: str) -> tuple[dict, dict]:
    for parcela in state["parcelas"]:
        for baixa in parcela.get("baixas", []):
            if baixa["id"] == baixa_id:
                return parcela, baixa
    raise ApiError(404)


def get_baixa(state: dict, baixa_id: str) -> dict:
    parcela, baixa = _locate_baixa(state, baixa_id)
    return _baixa_dto(state, parcela, baixa)


def delete_baixa(state: dict, baixa_id: str) -> None:
    """The only undo of a settlement; the parcela's status follows its remaining baixas."""
    parcela, baixa = _locate_baixa(state, baixa_id)
    parcela["baixas"].remove(baixa)
    _touch(state, parcela)


# --- pessoas -----------------------------------------------------------------------------


def list_pessoas(state: dict, query: Query) -> dict:
    """camelCase envelope; `items` is null, not [], when the page is empty (notes §3)."""
    pagina, size = page_window(query, required=False)
    ids = set(query.get("ids", []))
    documents = {_digits(d) for d in query.get("documentos", [])}
    needle = (_one(query, "busca") or "").casefold()
    rows = [
        p for p in state["pessoas"]
        if (not ids or p["id"] in ids)
        and (not documents or _digits(p.get("documento") or "") in documents)
        and (not needle or any(needle in str(p.get(f) or "").casefold()
                               for f in ("nome", "documento", "email")))
    ]
    rows.sort(key=lambda p: (p.get("nome", ""), p["id"]))
    page = copy.deepcopy(_page(rows, pagina, size))
    return {"totalItems": len(rows), "items": page or None}


def get_pessoa(state: dict, pessoa_id: str) -> dict:
    pessoa = _find(state["pessoas"], pessoa_id)
    if pessoa is None:
        raise ApiError(404)
    return copy.deepcopy(pessoa)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())
