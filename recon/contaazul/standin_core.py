"""What every Conta Azul stand-in rule shares: errors, state defaults, clock, money, status.

Also the query-parameter basics, the id lookups and the write helpers (version bump, date and
amount validation) that more than one resource uses. The resources themselves live in
standin_auth, standin_cadastros, standin_parcelas and standin_baixas; standin_state gathers them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from recon.dates import SAO_PAULO, today_sao_paulo
from recon.money import CENT, to_cents

Query = dict[str, list[str]]
Filter = Callable[[dict, date], bool]

PAGE_SIZES = (10, 20, 50, 100, 200, 500, 1000)
PAGE_SIZE_ERROR = {
    "error": "O tamanho da página deve ser um dos seguintes valores: "
    "10, 20, 50, 100, 200, 500 ou 1000"
}
# A baixa with a missing required field gets a 400 that wraps an HTML page instead of a
# validation message (notes §4.5). We reproduce it as JSON whose message is Jackson's complaint.
HTML_WRAPPED_400 = {
    "code": 400,
    "message": "Unexpected character ('<' (code 60)): expected a valid value (JSON String, "
    "Number, Array, Object or token 'null', 'true' or 'false')\n at [Source: (String)"
    '"<html><head><title>400 Bad Request</title></head><body><h1>Bad Request</h1></body>'
    '</html>"; line: 1, column: 2]',
}
EXPLICIT_STATUSES = frozenset({"RENEGOCIADO", "PERDIDO", "CANCELADO"})  # stored; never derived
REQUEST_PAYMENT_METHODS = frozenset(
    ["DINHEIRO", "CARTAO_CREDITO", "BOLETO_BANCARIO", "CARTAO_CREDITO_VIA_LINK", "CHEQUE", "CARTAO_DEBITO", "TRANSFERENCIA_BANCARIA", "OUTRO", "CARTEIRA_DIGITAL", "CASHBACK", "CREDITO_LOJA", "CREDITO_VIRTUAL", "DEPOSITO_BANCARIO", "PIX_PAGAMENTO_INSTANTANEO"]
)
PARCELA_PAYMENT_METHODS = REQUEST_PAYMENT_METHODS | frozenset(
    ["PROGRAMA_FIDELIDADE", "SEM_PAGAMENTO", "VALE_ALIMENTACAO", "VALE_COMBUSTIVEL", "VALE_PRESENTE", "VALE_REFEICAO", "PIX_COBRANCA", "DEBITO_AUTOMATICO"]
)
ADJUSTMENTS = ("multa", "juros", "desconto", "taxa")
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
    for key in ("clients", "access_tokens", "rotated_refresh_tokens"):
        state.setdefault(key, {})
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


def money(value: object) -> Decimal:
    return Decimal(str(value) if isinstance(value, float) else value).quantize(CENT)


def net(bruto: Decimal, parts: dict[str, Decimal]) -> Decimal:
    # How the API derives valor_liquido is undocumented (notes §8); this is the obvious guess.
    return bruto + parts["multa"] + parts["juros"] - parts["desconto"] - parts["taxa"]


def paid(parcela: dict) -> Decimal:
    """A parcela is paid by the sum of its baixas' valor_bruto."""
    return sum(
        (money(b["composicao_valor"]["valor_bruto"]) for b in parcela.get("baixas", [])), ZERO
    )


def unpaid(parcela: dict) -> Decimal:
    return max(money(parcela["valor"]) - paid(parcela), ZERO)


def derive_status(parcela: dict, today: date) -> str:
    """Detail vocabulary. Stored RENEGOCIADO/PERDIDO/CANCELADO win; the rest follows payments."""
    stored = parcela.get("status")
    if stored in EXPLICIT_STATUSES:
        return stored
    received = paid(parcela)
    if received >= money(parcela["valor"]):
        return "QUITADO"
    if received > 0:
        return "RECEBIDO_PARCIAL"
    if date.fromisoformat(parcela["data_vencimento"]) < today:
        return "ATRASADO"
    return "PENDENTE"


# --- query parameters --------------------------------------------------------------------


def query_value(query: Query, name: str) -> str | None:
    """First value of a parameter; a blank value counts as absent."""
    values = query.get(name) or [""]
    return values[0].strip() or None


def page_window(query: Query, *, required: bool) -> tuple[int, int]:
    pagina, size = query_value(query, "pagina"), query_value(query, "tamanho_pagina")
    if required and (pagina is None or size is None):
        raise bad_request("Os parâmetros 'pagina' e 'tamanho_pagina' são obrigatórios.")
    if size is not None and (not size.isdigit() or int(size) not in PAGE_SIZES):
        raise ApiError(400, PAGE_SIZE_ERROR)
    if pagina is not None and (not pagina.isdigit() or int(pagina) < 1):
        raise bad_request("O parâmetro 'pagina' deve ser um número maior ou igual a 1.")
    return int(pagina or 1), int(size or 10)


def page_of(rows: list, pagina: int, size: int) -> list:
    start = (pagina - 1) * size
    return rows[start : start + size]


# --- lookups -----------------------------------------------------------------------------


_INDEXES: dict[int, tuple[int, dict[str, dict]]] = {}  # id(list) -> (length, id -> row)


def find_by_id(rows: list[dict], wanted: str | None) -> dict | None:
    """Indexed lookup: benchmarks hold 20,000 parcelas, and a scan per request would dominate.

    The index is rebuilt whenever the list's length changes, and a hit is checked
    against the row itself, so a row replaced in place is never returned stale.
    """
    if wanted is None:
        return None
    length, index = _INDEXES.get(id(rows), (-1, {}))
    if length != len(rows):
        index = {row["id"]: row for row in rows}
        _INDEXES[id(rows)] = (len(rows), index)
    row = index.get(wanted)
    if row is not None and row["id"] == wanted:
        return row
    return next((r for r in rows if r["id"] == wanted), None)


def parcela_or_404(state: dict, parcela_id: str) -> dict:
    found = find_by_id(state["parcelas"], parcela_id)
    if found is None:
        raise ApiError(404)
    return found


def conta_ref(state: dict, conta_id: str | None) -> dict | None:
    if conta_id is None:
        return None
    conta = find_by_id(state["contas_financeiras"], conta_id)
    return {"id": conta_id, "nome": conta.get("nome") if conta else None}


# --- writes ------------------------------------------------------------------------------


def touch(state: dict, parcela: dict) -> None:
    """Every write bumps versao and data_alteracao; the stored status is refreshed for readers."""
    parcela["versao"] += 1
    parcela["data_alteracao"] = api_timestamp()
    if parcela.get("status") not in EXPLICIT_STATUSES:
        parcela["status"] = derive_status(parcela, business_today(state))


def iso_date(value: object, name: str) -> str:
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
    amount = money(value)
    if amount < 0:
        raise bad_request(f"O campo '{name}' deve ser maior ou igual a zero.")
    return amount


def composition_request(composition: object) -> dict:
    """A `composicao_valor` as written by PATCH parcela and POST baixa, validated."""
    if not isinstance(composition, dict) or composition.get("valor_bruto") is None:
        raise ApiError(400, HTML_WRAPPED_400)
    parts = {name: _amount(composition.get(name) or 0, name) for name in ADJUSTMENTS}
    return {"valor_bruto": _amount(composition["valor_bruto"], "valor_bruto"), **parts}
