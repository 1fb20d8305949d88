"""Money at the edges: Decimal in, integer centavos inside, never float."""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

CENT = Decimal("0.01")


def to_cents(value: Decimal | int | str) -> int:
    """Exact reais -> centavos. Refuses anything with more than 2 decimals of value."""
    if isinstance(value, float):  # pragma: no cover - guarded by type, kept for safety
        raise TypeError("money must not be float; parse JSON with parse_float=Decimal")
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    quantized = amount.quantize(CENT, rounding=ROUND_HALF_EVEN)
    if quantized != amount:
        raise ValueError(f"amount has fractions of a centavo: {value!r}")
    return int(quantized * 100)


def from_cents(cents: int) -> Decimal:
    """Centavos -> Decimal reais with exactly two places."""
    return (Decimal(cents) / 100).quantize(CENT)


def format_brl(cents: int) -> str:
    """R$ 1.234,56 (negative as -R$ 1.234,56)."""
    sign = "-" if cents < 0 else ""
    reais, centavos = divmod(abs(cents), 100)
    grouped = f"{reais:,}".replace(",", ".")
    return f"{sign}R$ {grouped},{centavos:02d}"


def dumps_json(payload: object) -> str:
    """JSON text with every Decimal written as an exact number literal (no float on the way)."""
    marker = "\u0000dec:"

    def swap(node: object) -> object:
        if isinstance(node, Decimal):
            return f"{marker}{node}"
        if isinstance(node, dict):
            return {key: swap(value) for key, value in node.items()}
        if isinstance(node, list | tuple):
            return [swap(value) for value in node]
        return node

    text = json.dumps(swap(payload), ensure_ascii=False)
    return re.sub(r'"\\u0000dec:(-?[0-9.]+)"', r"\1", text)
