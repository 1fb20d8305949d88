"""The Conta Azul endpoints recon uses, with their exact parameter names.

The API silently ignores unknown query parameters (a typo returns the whole
unfiltered list), so every name here is checked by a test against the
OpenAPI files in shared/specs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from recon.aio import gather_all
from recon.contaazul.client import ContaAzulClient
from recon.contaazul.mapping import (
    baixa_from_json,
    conta_from_json,
    list_items,
    parcela_detail_from_json,
    parcela_from_json,
    pessoa_from_json,
)
from recon.dates import SAO_PAULO
from recon.errors import ContaAzulError
from recon.records import Baixa, ContaFinanceira, Parcela, ParcelaDetail, ParcelaKind, Pessoa

PAGE_SIZES = (10, 20, 50, 100, 200, 500, 1000)  # anything else is a 400
PAGE_SIZE = 1000

CONTAS_PATH = "/v1/conta-financeira"
PESSOAS_PATH = "/v1/pessoas"
CONNECTED_COMPANY_PATH = "/v1/pessoas/conta-conectada"
BUSCAR_PATHS = {
    ParcelaKind.RECEBER: "/v1/financeiro/eventos-financeiros/contas-a-receber/buscar",
    ParcelaKind.PAGAR: "/v1/financeiro/eventos-financeiros/contas-a-pagar/buscar",
}
PARCELA_PATH = "/v1/financeiro/eventos-financeiros/parcelas/{id}"
BAIXAS_OF_PARCELA_PATH = "/v1/financeiro/eventos-financeiros/parcelas/{id}/baixa"
BAIXA_PATH = "/v1/financeiro/eventos-financeiros/parcelas/baixa/{id}"

# `status` filter values that still need a payment (status_traduzido vocabulary).
OPEN_STATUSES = ("EM_ABERTO", "ATRASADO", "RECEBIDO_PARCIAL")


def buscar_params(due_from: date, due_to: date, page: int, statuses: Sequence[str] = (),
                  changed_since: datetime | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "pagina": page,
        "tamanho_pagina": PAGE_SIZE,
        "data_vencimento_de": due_from.isoformat(),
        "data_vencimento_ate": due_to.isoformat(),
    }
    if statuses:
        params["status"] = list(statuses)  # httpx sends a list as repeated keys, as the API wants
    if changed_since is not None:
        # São Paulo wall time without an offset: a Z or an offset is a 400
        params["data_alteracao_de"] = (changed_since.astimezone(SAO_PAULO).replace(tzinfo=None)
                                       .isoformat(timespec="seconds"))
    return params


async def fetch_pages(client: ContaAzulClient, path: str, params: dict[str, Any]) -> list[Any]:
    """All items of a paginated list.

    The first page's total tells how many pages there are, and those are asked
    for at once (the shared limiter paces them); then counting the items
    received decides whether to go on page by page, because some endpoints
    were seen to miscount their totals.
    """
    size = int(params["tamanho_pagina"])
    first = await client.get(path, params={**params, "pagina": 1})
    items = list_items(first)
    total = _total(first)
    if len(items) < size:
        return items
    announced = -(-total // size) if total else 1
    rest = await gather_all(*(client.get(path, params={**params, "pagina": page})
                              for page in range(2, announced + 1)))
    for document in rest:
        items.extend(list_items(document))
    page = announced
    last_count = len(list_items(rest[-1])) if rest else len(items)
    # A full last page means more may follow, unless the count matches the total exactly.
    while last_count == size and (total is None or len(items) != total):
        page += 1
        extra = list_items(await client.get(path, params={**params, "pagina": page}))
        items.extend(extra)
        last_count = len(extra)
        if not extra:
            break
    return items


def _total(document: Any) -> int | None:
    if isinstance(document, dict):
        for key in ("itens_totais", "totalItems"):
            if document.get(key) is not None:
                return int(document[key])
    return None


async def contas_financeiras(client: ContaAzulClient) -> list[ContaFinanceira]:
    items = await fetch_pages(client, CONTAS_PATH, {"tamanho_pagina": PAGE_SIZE})
    return [conta_from_json(item) for item in items]


async def open_parcelas(
    client: ContaAzulClient, kind: ParcelaKind, due_from: date, due_to: date
) -> list[Parcela]:
    params = buscar_params(due_from, due_to, 1, OPEN_STATUSES)
    items = await fetch_pages(client, BUSCAR_PATHS[kind], params)
    return [parcela_from_json(item, kind) for item in items]


PESSOAS_PER_REQUEST = 50  # ids go in the query string as repeated keys; keep URLs short


def pessoas_params(ids: Sequence[str]) -> dict[str, Any]:
    return {"ids": list(ids), "pagina": 1, "tamanho_pagina": PAGE_SIZE}


async def pessoas_by_ids(client: ContaAzulClient, ids: Sequence[str]) -> list[Pessoa]:
    """The contacts of the parcelas pulled, in chunks fetched concurrently under the limiter."""
    unique = sorted(set(ids))
    chunks = [unique[i:i + PESSOAS_PER_REQUEST] for i in range(0, len(unique), PESSOAS_PER_REQUEST)]
    pages = await gather_all(*(fetch_pages(client, PESSOAS_PATH, pessoas_params(c)) for c in chunks))
    return [pessoa_from_json(item) for page in pages for item in page]


async def connected_company(client: ContaAzulClient) -> dict[str, Any]:
    """{id_empresa, documento, razao_social, nome_fantasia, ...} of the token's company."""
    document = await client.get(CONNECTED_COMPANY_PATH)
    return document if isinstance(document, dict) else {}


async def changed_parcela_ids(
    client: ContaAzulClient, since: datetime, due_from: date, due_to: date
) -> set[str]:
    """Ids of parcelas (any status, both kinds) changed in Conta Azul since `since`."""
    params = buscar_params(due_from, due_to, 1, changed_since=since)
    pages = await gather_all(*(fetch_pages(client, path, params) for path in BUSCAR_PATHS.values()))
    return {str(item["id"]) for page in pages for item in page}


async def parcela_detail(client: ContaAzulClient, parcela_id: str) -> ParcelaDetail:
    return parcela_detail_from_json(await client.get(PARCELA_PATH.format(id=parcela_id)))


async def baixas_of(client: ContaAzulClient, parcela_id: str) -> list[Baixa]:
    document = await client.get(BAIXAS_OF_PARCELA_PATH.format(id=parcela_id))
    return [baixa_from_json(item) for item in list_items(document)]


async def create_baixa(client: ContaAzulClient, parcela_id: str, body: dict[str, Any]) -> Baixa:
    path = BAIXAS_OF_PARCELA_PATH.format(id=parcela_id)
    document = await client.post(path, body)
    if not isinstance(document, dict) or not document.get("id"):
        # Accepted but unreadable: the caller treats it as unclear and looks for its tag.
        raise ContaAzulError("the baixa was answered without an id", method="POST", url=path,
                             status=200)
    return baixa_from_json(document)


async def patch_parcela(
    client: ContaAzulClient, parcela_id: str, versao: int, changes: dict[str, Any]
) -> int:
    """PATCH with the current versao; returns the new versao."""
    document = await client.patch(PARCELA_PATH.format(id=parcela_id), {**changes, "versao": versao})
    return int(document.get("versao", versao + 1)) if isinstance(document, dict) else versao + 1


async def delete_baixa(client: ContaAzulClient, baixa_id: str) -> None:
    await client.delete(BAIXA_PATH.format(id=baixa_id))
