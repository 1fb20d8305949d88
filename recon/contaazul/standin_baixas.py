"""Stand-in baixas (settlements of a parcela): create, list, get and delete.

Stored baixas keep the write shape (`composicao_valor` + conta uuid); reads answer the read
shape (`valor_composicao` + conta object), as the real API does.
"""

from __future__ import annotations

import copy
import uuid

from recon.contaazul.standin_core import (
    ADJUSTMENTS,
    EXPLICIT_STATUSES,
    HTML_WRAPPED_400,
    REQUEST_PAYMENT_METHODS,
    ApiError,
    api_timestamp,
    bad_request,
    business_today,
    composition_request,
    conta_ref,
    derive_status,
    find_by_id,
    iso_date,
    money,
    net,
    parcela_or_404,
    touch,
)

BAIXA_WRITE_FIELDS = ("id", "versao", "data_pagamento", "composicao_valor", "conta_financeira",
                      "metodo_pagamento", "observacao", "nsu")


def create_baixa(state: dict, parcela_id: str, body: object) -> dict:
    """Settles (part of) a parcela. No idempotency key: the same body twice pays twice, and
    nothing stops a payment beyond the amount due (the real limit is undocumented)."""
    parcela = parcela_or_404(state, parcela_id)
    fields = _baixa_request(state, body)
    status = derive_status(parcela, business_today(state))
    if status in EXPLICIT_STATUSES:
        raise bad_request(f"Não é possível registrar baixa em uma parcela com status {status}.")
    baixa = {"id": str(uuid.uuid4()), "versao": 1, **fields, "atualizado_em": api_timestamp()}
    parcela.setdefault("baixas", []).append(baixa)
    touch(state, parcela)
    return {name: copy.deepcopy(baixa[name]) for name in BAIXA_WRITE_FIELDS}


def _baixa_request(state: dict, body: object) -> dict:
    required = ("data_pagamento", "composicao_valor", "conta_financeira")
    if not isinstance(body, dict) or any(body.get(name) in (None, "") for name in required):
        raise ApiError(400, HTML_WRAPPED_400)
    composition = composition_request(body["composicao_valor"])
    conta = body["conta_financeira"]
    if find_by_id(state["contas_financeiras"], conta) is None:
        raise bad_request(f"Conta financeira '{conta}' não encontrada.")
    method = body.get("metodo_pagamento")
    if method is not None and method not in REQUEST_PAYMENT_METHODS:
        raise bad_request(f"O valor '{method}' do campo 'metodo_pagamento' não é válido.")
    return {
        "data_pagamento": iso_date(body["data_pagamento"], "data_pagamento"),
        "composicao_valor": composition,
        "conta_financeira": conta,
        "metodo_pagamento": method,
        "observacao": body.get("observacao"),
        "nsu": body.get("nsu"),
    }


def baixa_dto(state: dict, parcela: dict, baixa: dict) -> dict:
    """The read shape: `valor_composicao` and a conta object, unlike the write shape."""
    written = baixa["composicao_valor"]
    bruto = money(written["valor_bruto"])
    parts = {name: money(written.get(name) or 0) for name in ADJUSTMENTS}
    return {
        "id": baixa["id"],
        "versao": baixa["versao"],
        "data_pagamento": baixa["data_pagamento"],
        "valor_composicao": {"valor_bruto": bruto, **parts, "valor_liquido": net(bruto, parts)},
        "conta_financeira": conta_ref(state, baixa["conta_financeira"]),
        "metodo_pagamento": baixa.get("metodo_pagamento"),
        "observacao": baixa.get("observacao"),
        "nsu": baixa.get("nsu"),
        "id_parcela": parcela["id"],
        "tipo_evento_financeiro": parcela["tipo"],
        "id_reconciliacao": None,
        "atualizado_em": baixa.get("atualizado_em"),
    }


def list_baixas(state: dict, parcela_id: str) -> list[dict]:
    parcela = parcela_or_404(state, parcela_id)
    return [baixa_dto(state, parcela, b) for b in parcela.get("baixas", [])]


def _locate_baixa(state: dict, baixa_id: str) -> tuple[dict, dict]:
    for parcela in state["parcelas"]:
        for baixa in parcela.get("baixas", []):
            if baixa["id"] == baixa_id:
                return parcela, baixa
    raise ApiError(404)


def get_baixa(state: dict, baixa_id: str) -> dict:
    parcela, baixa = _locate_baixa(state, baixa_id)
    return baixa_dto(state, parcela, baixa)


def delete_baixa(state: dict, baixa_id: str) -> None:
    """The only undo of a settlement; the parcela's status follows its remaining baixas."""
    parcela, baixa = _locate_baixa(state, baixa_id)
    parcela["baixas"].remove(baixa)
    touch(state, parcela)
