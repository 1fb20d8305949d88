"""Bank CSV layouts as data: one frozen CsvLayout per export format, no per-bank code.

Every Brazilian bank writes its own CSV (shared/notes/statements.md §4), but the
differences are few and regular: which header row, which separator and decimal mark,
which date format, how the sign is written (a signed column, separate credit/debit
columns, or an amount plus a C/D letter), which rows are balances or footers, and where
the preamble names the account. A layout states exactly those facts and the reader
(recon.sources.csv_reader) interprets them, so supporting a new bank, or a bank's new
export, is a new table here or in the user's recon.toml, never a new code path.

Column names and markers are compared in header_key form (accents, case and spaces
folded), so `Data Lançamento`, `DATA LANCAMENTO` and `Data  lançamento` are one name.
A marker ending in `*` matches any cell that starts with it; otherwise the whole folded
cell must equal it (`TOTAL` must not swallow a continuation row `TOTAL ATACADO LTDA`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from recon.errors import ConfigError
from recon.sources.keys import fold_text


@lru_cache(maxsize=4096)  # column names and markers are looked up again on every row
def header_key(text: str) -> str:
    """The form header cells, column names and markers are compared in."""
    return fold_text(text).replace(" ", "")


class Markers:
    """Layout markers, folded once; `*` at the end makes a prefix marker."""

    def __init__(self, markers: tuple[str, ...]):
        folded = [header_key(marker) for marker in markers]
        self.exact = frozenset(f for f in folded if not f.endswith("*"))
        self.prefixes = tuple(f[:-1] for f in folded if f.endswith("*"))

    def match(self, cell: str) -> bool:
        if not self.exact and not self.prefixes:
            return False
        folded = header_key(cell)
        return folded in self.exact or folded.startswith(self.prefixes)


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """One bank's CSV export. Column names are header texts (any accents/case)."""

    name: str
    bank: str | None
    bank_code: str | None
    header_markers: tuple[str, ...]  # cells that together identify the header row
    date_column: str
    description_columns: tuple[str, ...]  # joined with " - " into the memo
    amount_column: str | None = None  # signed, unless a direction column says otherwise
    credit_column: str | None = None  # unsigned credit / debit pair (Bradesco, C6)
    debit_column: str | None = None
    direction_column: str | None = None  # C/D letter or Entrada/Saída beside amount_column
    credit_values: tuple[str, ...] = ("C",)
    debit_values: tuple[str, ...] = ("D",)
    direction_required: bool = True  # False: an empty letter keeps the amount's own sign
    amount_negated: bool = False  # card bills: purchases are positive
    balance_column: str | None = None  # running saldo: closing balance of each day
    document_column: str | None = None  # bank's id of the movement, kept as fitid
    columns: tuple[str, ...] = ()  # headerless files: the column names, by position
    delimiters: tuple[str, ...] = (";",)
    decimal: str = ","
    thousands: str = "."
    date_formats: tuple[str, ...] = ("%d/%m/%Y",)
    continuation_rows: bool = False  # undated rows without amount extend the memo above
    stop_markers: tuple[str, ...] = ()  # an undated row starting with one ends the statement
    balance_row_markers: tuple[str, ...] = ()  # closing balance rows (saldo do dia)
    opening_row_markers: tuple[str, ...] = ()  # opening balance rows (saldo anterior)
    summary_balances: tuple[tuple[str, str], ...] = ()  # preamble (cell, "opening"|"closing")
    account_pattern: str | None = None  # regex, groups branch/number, on the folded preamble
    encodings: tuple[str, ...] = ("utf-8", "cp1252")
    is_card: bool = False

    @property
    def headerless(self) -> bool:
        return not self.header_markers


_SALDO_ANTERIOR = ("SALDO ANTERIOR*", "SALDO ANT*")
_PRESET_LIST = (
    CsvLayout(
        name="nubank", bank="Nubank", bank_code="260",
        header_markers=("Data", "Valor", "Identificador", "Descrição"),
        date_column="Data", description_columns=("Descrição",), amount_column="Valor",
        document_column="Identificador", delimiters=(",",), decimal=".", thousands="",
    ),
    CsvLayout(
        name="nubank_cartao", bank="Nubank", bank_code="260", is_card=True,
        header_markers=("date", "title", "amount"),
        date_column="date", description_columns=("title",), amount_column="amount",
        amount_negated=True, delimiters=(",",), decimal=".", thousands="",
        date_formats=("%Y-%m-%d",),
    ),
    CsvLayout(
        name="inter", bank="Inter", bank_code="077",
        header_markers=("Data Lançamento", "Descrição", "Valor", "Saldo"),
        date_column="Data Lançamento", description_columns=("Descrição",),
        amount_column="Valor", balance_column="Saldo",
        account_pattern=r"CONTA\W*(?P<number>\d[\d.-]*)",
    ),
    CsvLayout(
        name="itau", bank="Itaú", bank_code="341",
        header_markers=("data", "lançamento", "ag./origem", "valor (R$)"),
        date_column="data", description_columns=("lançamento",), amount_column="valor (R$)",
        balance_column="saldos (R$)", encodings=("utf-8", "cp1252"),
        stop_markers=("lançamentos futuros*", "saídas futuras*", "entradas futuras*"),
        opening_row_markers=(*_SALDO_ANTERIOR, "PREVIOUS BALANCE*"),
        balance_row_markers=("SALDO*", "TOTAL BALANCE*"),
        account_pattern=r"AGENCIA:?\W*(?P<branch>\d+)\W.*?CONTA:?\W*(?P<number>\d[\d.-]*)",
    ),
    CsvLayout(
        name="itau_legacy", bank="Itaú", bank_code="341", header_markers=(),
        columns=("data", "lançamento", "valor"),
        date_column="data", description_columns=("lançamento",), amount_column="valor",
        opening_row_markers=_SALDO_ANTERIOR, balance_row_markers=("SALDO*",),
    ),
    CsvLayout(
        name="bb_legacy", bank="Banco do Brasil", bank_code="001",
        header_markers=("Data", "Dependencia Origem", "Histórico", "Data do Balancete", "Valor"),
        date_column="Data", description_columns=("Histórico",), amount_column="Valor",
        document_column="Número do documento", delimiters=(",",), decimal=".", thousands="",
        encodings=("utf-8", "latin-1"),
        opening_row_markers=("Saldo Anterior*",), balance_row_markers=("S A L D O*", "Saldo*"),
    ),
    CsvLayout(
        name="bb", bank="Banco do Brasil", bank_code="001",
        header_markers=("Data", "Lançamento", "Detalhes", "Valor"),
        date_column="Data", description_columns=("Lançamento", "Detalhes"),
        amount_column="Valor", direction_column="Tipo Lançamento", direction_required=False,
        credit_values=("Entrada",), debit_values=("Saída",), document_column="Nº documento",
        delimiters=(",",), encodings=("utf-8", "latin-1"),
        opening_row_markers=("Saldo Anterior*",), balance_row_markers=("S A L D O*", "Saldo*"),
    ),
    CsvLayout(
        name="bradesco", bank="Bradesco", bank_code="237",
        header_markers=("Data", "Histórico", "Docto.", "Crédito (R$)", "Débito (R$)"),
        date_column="Data", description_columns=("Histórico",), credit_column="Crédito (R$)",
        debit_column="Débito (R$)", balance_column="Saldo (R$)", document_column="Docto.",
        date_formats=("%d/%m/%Y", "%d/%m/%y"), continuation_rows=True,
        encodings=("utf-8", "cp1252"),
        stop_markers=("Total", "Últimos Lançamentos*", "Filtro de resultados*",
                      "Os dados acima*", "Saldos Invest*"),
        opening_row_markers=(*_SALDO_ANTERIOR, "COD. LANC. 0"),
        balance_row_markers=("SALDO*",),
        account_pattern=r"\bAG:\W*(?P<branch>\d+)\W+CONTA:\W*(?P<number>\d[\d.-]*)",
    ),
    CsvLayout(
        name="santander", bank="Santander", bank_code="033",
        header_markers=("Data", "Histórico", "Documento", "Valor (R$)"),
        date_column="Data", description_columns=("Histórico",), amount_column="Valor (R$)",
        balance_column="Saldo (R$)", document_column="Documento", continuation_rows=True,
        encodings=("utf-8", "latin-1"),
        opening_row_markers=_SALDO_ANTERIOR, balance_row_markers=("SALDO*",),
        account_pattern=r"AGENCIA\W*(?P<branch>\d+)\W+CONTA\W*(?P<number>\d[\d.-]*)",
    ),
    CsvLayout(
        name="caixa", bank="Caixa", bank_code="104",
        header_markers=("Conta", "Data_Mov", "Nr_Doc", "Historico", "Valor", "Deb_Cred"),
        date_column="Data_Mov", description_columns=("Historico",), amount_column="Valor",
        direction_column="Deb_Cred", document_column="Nr_Doc", decimal=".", thousands="",
        date_formats=("%Y%m%d",), encodings=("utf-8", "cp1252"),
        opening_row_markers=_SALDO_ANTERIOR, balance_row_markers=("SALDO*",),
    ),
    CsvLayout(
        name="c6", bank="C6 Bank", bank_code="336",
        header_markers=("Data Lançamento", "Data Contábil", "Título", "Entrada(R$)", "Saída(R$)"),
        date_column="Data Lançamento", description_columns=("Título", "Descrição"),
        credit_column="Entrada(R$)", debit_column="Saída(R$)", balance_column="Saldo do Dia(R$)",
        delimiters=(",",), decimal=".", thousands="",
        account_pattern=r"AGENCIA:\W*(?P<branch>\d+)\W+CONTA:\W*(?P<number>\d[\d.-]*)",
    ),
    CsvLayout(
        name="c6_cartao", bank="C6 Bank", bank_code="336", is_card=True,
        header_markers=("Data de Compra", "Descrição", "Parcela", "Valor (em R$)"),
        date_column="Data de Compra", description_columns=("Descrição",),
        amount_column="Valor (em R$)", amount_negated=True, decimal=".", thousands="",
    ),
    CsvLayout(
        name="mercadopago", bank="Mercado Pago", bank_code="323",
        header_markers=("RELEASE_DATE", "TRANSACTION_TYPE", "TRANSACTION_NET_AMOUNT"),
        date_column="RELEASE_DATE", description_columns=("TRANSACTION_TYPE",),
        amount_column="TRANSACTION_NET_AMOUNT", balance_column="PARTIAL_BALANCE",
        document_column="REFERENCE_ID", date_formats=("%d-%m-%Y", "%Y-%m-%d"),
        summary_balances=(("INITIAL_BALANCE", "opening"), ("FINAL_BALANCE", "closing")),
    ),
)
PRESETS: dict[str, CsvLayout] = {layout.name: layout for layout in _PRESET_LIST}


# --- user layouts from recon.toml ---
_FIELDS = {f.name: f for f in fields(CsvLayout)}
_TUPLES = frozenset(n for n, f in _FIELDS.items() if str(f.type).startswith("tuple"))
_BOOLS = frozenset(n for n, f in _FIELDS.items() if f.type == "bool")
# Singular spellings a person writes for one value.
_ALIASES = {"delimiter": "delimiters", "description_column": "description_columns",
            "date_format": "date_formats", "encoding": "encodings"}
_REQUIRED = ("name", "date_column", "description_columns")


def layout_from_toml(table: dict[str, Any], *, source: str = "recon.toml") -> CsvLayout:
    """A CsvLayout from a `[statements.csv_layouts.<name>]` table; `extends` starts from a preset.

    Raises ConfigError (a ValueError) naming the key at fault.
    """
    values = dict(table)
    base = _base_layout(values.pop("extends", None), source)
    for alias, canonical in _ALIASES.items():
        if alias in values:
            values[canonical] = values.pop(alias)
    for key in values:
        if key not in _FIELDS:
            raise ConfigError(f"unknown CSV layout key {key!r}; known keys: "
                              + ", ".join(sorted([*_FIELDS, *_ALIASES, "extends"])),
                              key=key, source=source)
    converted = {key: _convert(key, value, source) for key, value in values.items()}
    if base is not None:
        layout = replace(base, **converted)
    else:
        missing = [key for key in _REQUIRED if key not in converted]
        if missing:
            raise ConfigError(f"CSV layout needs {', '.join(missing)}", key=missing[0],
                              source=source)
        converted.setdefault("bank", None)
        converted.setdefault("bank_code", None)
        converted.setdefault("header_markers", ())
        layout = CsvLayout(**converted)
    _validate(layout, source)
    return layout


def _base_layout(name: Any, source: str) -> CsvLayout | None:
    if name is None:
        return None
    if name not in PRESETS:
        raise ConfigError(f"extends {name!r}: no such preset; presets: {', '.join(PRESETS)}",
                          key="extends", source=source)
    return PRESETS[name]


def _convert(key: str, value: Any, source: str) -> Any:
    if key == "summary_balances":
        if not isinstance(value, dict | list):
            raise ConfigError("summary_balances must map a cell to opening/closing",
                              key=key, source=source)
        pairs = value.items() if isinstance(value, dict) else value
        return tuple((str(cell), str(kind)) for cell, kind in pairs)
    if key in _TUPLES:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
            raise ConfigError("must be a string or a list of strings", key=key, source=source)
        return tuple(items)
    if key in _BOOLS:
        if not isinstance(value, bool):
            raise ConfigError("must be true or false", key=key, source=source)
        return value
    if key == "bank_code" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # `bank_code = 341` reads as naturally as "341"
    if value is not None and not isinstance(value, str):
        raise ConfigError("must be a string", key=key, source=source)
    return value


def _validate(layout: CsvLayout, source: str) -> None:
    def fail(message: str, key: str) -> None:
        raise ConfigError(f"CSV layout {layout.name!r}: {message}", key=key, source=source)

    styles = [layout.amount_column is not None,
              layout.credit_column is not None and layout.debit_column is not None]
    if sum(styles) != 1 or (layout.credit_column is None) != (layout.debit_column is None):
        fail("give amount_column, or credit_column and debit_column (not both)", "amount_column")
    if layout.direction_column and not layout.amount_column:
        fail("direction_column goes with amount_column", "direction_column")
    if layout.headerless and not layout.columns:
        fail("give header_markers, or columns for a file without a header row",
             "header_markers")
    if layout.decimal not in {",", "."} or layout.thousands not in {",", ".", ""} \
            or layout.decimal == layout.thousands:
        fail("decimal must be ',' or '.', thousands another one or ''", "decimal")
    if not layout.delimiters or any(len(d) != 1 for d in layout.delimiters):
        fail("delimiters must be single characters", "delimiters")
    for fmt in layout.date_formats:
        try:
            datetime.strptime(datetime(2024, 1, 31).strftime(fmt), fmt)
        except ValueError:
            fail(f"date format {fmt!r} cannot be read back", "date_formats")
    if any(kind not in {"opening", "closing"} for _, kind in layout.summary_balances):
        fail("summary_balances kinds are 'opening' or 'closing'", "summary_balances")
    if layout.account_pattern:
        try:
            re.compile(layout.account_pattern)
        except re.error as exc:
            fail(f"account_pattern is not a regular expression ({exc})", "account_pattern")
