"""Conta Azul JSON -> recon records. Pure and tolerant of the API's many shapes.

The same idea comes under several names (`itens`/`items`, `valor_composicao`/
`composicao_valor`, `centros_custo`/`centros_de_custo`) and statuses come in
three vocabularies; all of that is absorbed here and nowhere else.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from recon.dates import parse_api_date, parse_api_datetime
from recon.money import CENT, to_cents
from recon.records import (
    Baixa,
    ContaFinanceira,
    Parcela,
    ParcelaDetail,
    ParcelaKind,
    ParcelaStatus,
    Pessoa,
)

_STATUS_WORDS: dict[str, ParcelaStatus] = {
    # status_traduzido (list) and filter vocabulary
    "EM_ABERTO": ParcelaStatus.OPEN,
    "ATRASADO": ParcelaStatus.OVERDUE,
    "RECEBIDO": ParcelaStatus.SETTLED,
    "RECEBIDO_PARCIAL": ParcelaStatus.PARTIAL,
    "RENEGOCIADO": ParcelaStatus.RENEGOTIATED,
    "PERDIDO": ParcelaStatus.LOST,
    # parcela detail vocabulary
    "PENDENTE": ParcelaStatus.OPEN,
    "QUITADO": ParcelaStatus.SETTLED,
    "CANCELADO": ParcelaStatus.CANCELLED,
    # English list codes (only OVERDUE and ACQUITTED were seen live)
    "PENDING": ParcelaStatus.OPEN,
    "OPEN": ParcelaStatus.OPEN,
    "OVERDUE": ParcelaStatus.OVERDUE,
    "ACQUITTED": ParcelaStatus.SETTLED,
    "PARTIAL": ParcelaStatus.PARTIAL,
    "PARTIALLY_ACQUITTED": ParcelaStatus.PARTIAL,
    "RENEGOTIATED": ParcelaStatus.RENEGOTIATED,
    "LOST": ParcelaStatus.LOST,
    "CANCELLED": ParcelaStatus.CANCELLED,
    "CANCELED": ParcelaStatus.CANCELLED,
}


def normalize_status(*candidates: Any) -> ParcelaStatus:
    """The first vocabulary word we know, from the most specific field to the least."""
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip().upper() in _STATUS_WORDS:
            return _STATUS_WORDS[candidate.strip().upper()]
    return ParcelaStatus.UNKNOWN


def list_items(document: Any) -> list[Any]:
    """`itens`, `items` (possibly null) or a bare array."""
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key in ("itens", "items"):
            if key in document:
                return list(document[key] or [])
    return []


def cents(value: Any) -> int:
    """API money (a JSON double, read as Decimal) -> centavos.

    The API stores doubles, so a value like 33.330000000000005 can come back;
    rounding to the centavo here is correct, unlike for bank files.
    """
    if value is None or value == "":
        return 0
    amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    return to_cents(amount.quantize(CENT, rounding=ROUND_HALF_EVEN))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _opt_text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def conta_from_json(item: dict[str, Any]) -> ContaFinanceira:
    return ContaFinanceira(
        id=str(item["id"]),
        nome=_text(item.get("nome")),
        banco=_opt_text(item.get("banco")),
        codigo_banco=_opt_text(item.get("codigo_banco")),
        agencia=_opt_text(item.get("agencia")),
        numero=_opt_text(item.get("numero")),
        tipo=_opt_text(item.get("tipo")),
        ativo=bool(item.get("ativo", True)),
    )


def parcela_from_json(item: dict[str, Any], kind: ParcelaKind) -> Parcela:
    contact = item.get("cliente") or item.get("fornecedor") or {}
    total = cents(item.get("total"))
    paid = cents(item.get("pago"))
    open_amount = item.get("nao_pago")
    due = parse_api_date(item.get("data_vencimento"))
    if due is None:
        raise ValueError(f"parcela {item.get('id')} has no data_vencimento")
    return Parcela(
        id=str(item["id"]),
        kind=kind,
        descricao=_text(item.get("descricao")),
        due_on=due,
        status=normalize_status(item.get("status_traduzido"), item.get("status")),
        total_cents=total,
        paid_cents=paid,
        open_cents=cents(open_amount) if open_amount is not None else total - paid,
        contact_id=_opt_text(contact.get("id")),
        contact_name=_opt_text(contact.get("nome")),
        changed_at=parse_api_datetime(item.get("data_alteracao")),
        categorias=tuple(_text(c.get("nome")) for c in item.get("categorias") or ()
                         if isinstance(c, dict) and c.get("nome")),
    )


def pessoa_from_json(item: dict[str, Any]) -> Pessoa:
    document = "".join(ch for ch in _text(item.get("documento") or item.get("cpf") or item.get("cnpj"))
                       if ch.isdigit())
    return Pessoa(id=str(item["id"]), nome=_text(item.get("nome")), documento=document or None)


def baixa_from_json(item: dict[str, Any]) -> Baixa:
    composition = item.get("valor_composicao") or item.get("composicao_valor") or {}
    return Baixa(
        id=str(item["id"]),
        data_pagamento=parse_api_date(item.get("data_pagamento")),
        valor_cents=cents(composition.get("valor_bruto")),
        observacao=_text(item.get("observacao")),
        nsu=_text(item.get("nsu")),
    )


def parcela_detail_from_json(item: dict[str, Any]) -> ParcelaDetail:
    return ParcelaDetail(
        id=str(item["id"]),
        versao=int(item.get("versao") or 0),
        status=normalize_status(item.get("status")),
        open_cents=cents(item.get("nao_pago")),
        nota=_text(item.get("nota")),
        baixas=tuple(baixa_from_json(b) for b in item.get("baixas") or []),
    )
