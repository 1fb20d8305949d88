import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from recon.contaazul import api
from recon.contaazul.mapping import (
    baixa_from_json,
    cents,
    list_items,
    normalize_status,
    parcela_detail_from_json,
    parcela_from_json,
)
from recon.records import ParcelaKind, ParcelaStatus


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("EM_ABERTO", "PENDING"), ParcelaStatus.OPEN),
        ((None, "OVERDUE"), ParcelaStatus.OVERDUE),
        (("RECEBIDO", "ACQUITTED"), ParcelaStatus.SETTLED),
        (("QUITADO",), ParcelaStatus.SETTLED),
        (("PENDENTE",), ParcelaStatus.OPEN),
        (("RECEBIDO_PARCIAL",), ParcelaStatus.PARTIAL),
        (("CANCELADO",), ParcelaStatus.CANCELLED),
        (("something new",), ParcelaStatus.UNKNOWN),
    ],
)
def test_three_status_vocabularies_become_one(words, expected):
    assert normalize_status(*words) is expected


def test_list_envelopes_in_every_shape():
    assert list_items({"itens": [1, 2]}) == [1, 2]
    assert list_items({"totalItems": 0, "items": None}) == []
    assert list_items([{"id": 1}]) == [{"id": 1}]


def test_money_from_api_doubles_is_rounded_to_the_centavo():
    raw = json.loads('{"v": 33.330000000000005, "w": 781201.79}', parse_float=Decimal)
    assert cents(raw["v"]) == 3333
    assert cents(raw["w"]) == 78120179
    assert cents(None) == 0


def test_buscar_item_maps_to_a_parcela():
    item = json.loads(
        """{"id": "p1", "descricao": "Mensalidade", "data_vencimento": "2026-11-03",
            "status": "OVERDUE", "status_traduzido": "ATRASADO", "total": 1500.0, "pago": 500.5,
            "nao_pago": 999.5, "fornecedor": {"id": null, "nome": null},
            "data_alteracao": "2024-11-08T10:22:47.97218", "centros_de_custo": []}""",
        parse_float=Decimal,
    )
    parcela = parcela_from_json(item, ParcelaKind.PAGAR)
    assert parcela.due_on == date(2026, 11, 3)
    assert parcela.status is ParcelaStatus.OVERDUE
    assert (parcela.total_cents, parcela.paid_cents, parcela.open_cents) == (150000, 50050, 99950)
    assert parcela.contact_id is None and parcela.contact_name is None


def test_baixa_read_shape_and_write_shape_both_map():
    read = baixa_from_json({"id": "b1", "valor_composicao": {"valor_bruto": Decimal("10.5")},
                            "observacao": "recon:abc", "nsu": "recon:abc", "data_pagamento": "2026-11-03"})
    write = baixa_from_json({"id": "b2", "composicao_valor": {"valor_bruto": Decimal("10.5")}})
    assert read.valor_cents == write.valor_cents == 1050
    detail = parcela_detail_from_json({"id": "p", "versao": 3, "status": "QUITADO", "baixas": None})
    assert detail.versao == 3 and detail.status is ParcelaStatus.SETTLED and detail.baixas == ()


def _path_block(spec_text: str, path: str) -> str:
    """The YAML text under one path of an OpenAPI file (no YAML library needed)."""
    lines = spec_text.splitlines()
    start = lines.index(f"  {path}:")
    block = []
    for line in lines[start + 1:]:
        if re.match(r"^  \S", line):
            break
        block.append(line)
    return "\n".join(block)


def _spec_parameters(spec_text: str, path: str) -> set[str]:
    return set(re.findall(r"^\s+- name: (\w+)", _path_block(spec_text, path), re.MULTILINE))


def test_every_query_parameter_we_send_is_declared_in_the_spec(shared_dir):
    """The API silently ignores unknown parameters, so a typo would return everything."""
    spec = (shared_dir / "specs" / "contaazul-financial-openapi.yml").read_text(encoding="utf-8")
    sent = set(api.buscar_params(date(2026, 1, 1), date(2026, 1, 31), 1, api.OPEN_STATUSES,
                                 changed_since=datetime(2026, 1, 2, 3, 4, tzinfo=UTC)))
    assert "data_alteracao_de" in sent and "status" in sent
    for kind, path in api.BUSCAR_PATHS.items():
        declared = _spec_parameters(spec, path)
        assert sent <= declared, f"{kind}: {sorted(sent - declared)} not in the spec of {path}"
    assert {"pagina", "tamanho_pagina"} <= _spec_parameters(spec, api.CONTAS_PATH)


def test_status_filter_values_and_page_size_come_from_the_spec_enums(shared_dir):
    spec = (shared_dir / "specs" / "contaazul-financial-openapi.yml").read_text(encoding="utf-8")
    for path in api.BUSCAR_PATHS.values():
        block = _path_block(spec, path)
        for status in api.OPEN_STATUSES:
            assert f"- {status}" in block
        page_sizes = re.search(r"name: tamanho_pagina.*?enum:\n((?:\s+- \d+\n)+)", block, re.DOTALL)
        assert page_sizes, path
        assert set(re.findall(r"\d+", page_sizes.group(1))) == {str(n) for n in api.PAGE_SIZES}
    assert api.PAGE_SIZE in api.PAGE_SIZES


def test_paths_we_call_exist_in_the_specs(shared_dir):
    financial = (shared_dir / "specs" / "contaazul-financial-openapi.yml").read_text(encoding="utf-8")
    baixas = (shared_dir / "specs" / "contaazul-acquittance-openapi.yml").read_text(encoding="utf-8")
    assert f"  {api.PARCELA_PATH}:" in financial
    assert f"  {api.BAIXAS_OF_PARCELA_PATH.replace('{id}', '{parcela_id}')}:" in baixas
    assert f"  {api.BAIXA_PATH.replace('{id}', '{baixa_id}')}:" in baixas


def test_changed_since_is_sent_as_sao_paulo_wall_time_without_an_offset():
    params = api.buscar_params(date(2026, 1, 1), date(2026, 1, 31), 1,
                               changed_since=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert params["data_alteracao_de"] == "2026-01-02T00:04:05"
    assert "status" not in params  # every status: a parcela settled meanwhile must show
