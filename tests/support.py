"""Helpers shared by the tests (imported as `from support import ...`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx

from recon.contaazul.client import ContaAzulClient, RetryPolicy
from recon.contaazul.tokens import TokenFile, Tokens

TEST_SECRET = "client-secret-never-shown"
FAST_RETRIES = RetryPolicy(max_attempts=3, backoff_seconds=0.001, max_delay_seconds=0.01)


def token_response(request: httpx.Request) -> httpx.Response | None:
    """A token endpoint that always grants; None for any other route."""
    if request.url.path != "/oauth2/token":
        return None
    return httpx.Response(200, json={"access_token": "a", "refresh_token": "r2", "expires_in": 3600})


def mock_client(tmp_path: Path, handler: Callable[[httpx.Request], httpx.Response],
                refresh_token: str = "rt-0", **tokens: object) -> ContaAzulClient:
    """A client on an httpx.MockTransport, unpaced, with a fresh token file under tmp_path."""
    token_file = TokenFile(tmp_path / "tokens.json")
    token_file.write(Tokens(refresh_token=refresh_token, **tokens))
    return ContaAzulClient(
        api_url="https://api.test", token_url="https://api.test/oauth2/token", client_id="cid",
        client_secret=TEST_SECRET, token_file=token_file, retry=FAST_RETRIES,
        requests_per_second=0, transport=httpx.MockTransport(handler))


# -- the bundled demo against the stand-in (the `demo` fixture is in conftest.py) -----------

def _demo_window():  # imported lazily: support is also used by tests that need no store
    from recon.demo import default_fixtures, demo_window

    return demo_window(default_fixtures())


WINDOW = _demo_window()
EXPECTED_AUTO = {  # parcela descricao -> amount, the demo's unambiguous matches
    "Mensalidade novembro": "1500.00",
    "Projeto de vitrine - parcela 2/3": "2340.50",
    "Consulta nutricional": "350.00",
    "Conta de luz": "245.37",
    "Clareamento - parcela 1/2": "780.00",
    "Manutenção mensal - novembro": "620.00",  # from the Bradesco CSV
    # paid 10 days late with the 2 % multa: R$ 1.020,00 settles R$ 1.000,00 + multa R$ 20,00
    "Fornecimento de pães - outubro": "1000.00",
    # SISPAG names nobody, but it is the only R$ 800,00 payable, due that very day
    "Aluguel novembro": "800.00",
    # One Itaú cobrança credit of R$ 427,74 split by Itaú's retorno: each boleto at its face
    # value, the R$ 2,90 tariff as taxa, the late one's R$ 3,54 as juros
    "Boleto 7781 - consultoria de vitrine": "250.00",
    "Boleto 7782 - consultoria de vitrine": "180.00",
}


def recon(folder: Path, command: str, *extra: str) -> int:
    """`recon COMMAND --config <folder>/recon.toml ...` through the real CLI entry point."""
    from recon.cli import main

    return main([command, "--config", str(folder / "recon.toml"), *extra])


def recon_run(folder: Path, *extra: str) -> int:
    return recon(folder, "run", "--from", WINDOW.start.isoformat(), "--to", WINDOW.end.isoformat(),
                 *extra)


def writes(server) -> list:
    return [e for e in server.journal
            if e.method in ("POST", "PATCH", "DELETE") and e.path.startswith("/v1/")]


def parcelas_by_description(server) -> dict[str, dict]:
    return {p["descricao"]: p for p in server.snapshot()["parcelas"]}


def make_demo_clean(folder: Path) -> None:
    """The demo inbox down to one clear match on 05/11 (Clínica Sorriso's PIX in the Nubank
    file): a night with nothing for a person to look at."""
    inbox = folder / "inbox"
    for name in ("extrato-santander-corrompido.ofx", "itau-2026-11.ofx",
                 "IEDCBR_20261105_itau.ret"):
        (inbox / name).unlink()
    text = (inbox / "nubank-2026-11.ofx").read_text(encoding="utf-8")
    start = text.index("<STMTTRN>\n<TRNTYPE>DEBIT")  # the debit no parcela explains
    end = text.index("</STMTTRN>", start) + len("</STMTTRN>\n")
    (inbox / "nubank-2026-11.ofx").write_text(text[:start] + text[end:], encoding="utf-8")


# -- CNAB 240 cobrança retorno, built field by field ----------------------------------------
# Segment T positions (1-based start) as the FEBRABAN 240 manual and Santander's own layout
# give them; written out here, apart from the parser's table, so a wrong position there
# shows up as a wrong value in a test.
_T_FEBRABAN = {"agencia": (18, 5), "conta": (24, 12), "nosso_numero": (38, 20),
               "seu_numero": (59, 15), "due_on": (74, 8), "face_cents": (82, 15),
               "payer_type": (133, 1), "payer_document": (134, 15), "payer_name": (149, 40),
               "fee_cents": (199, 15)}
_T_SANTANDER = {"agencia": (18, 4), "conta": (23, 9), "nosso_numero": (41, 13),
                "seu_numero": (55, 15), "due_on": (70, 8), "face_cents": (78, 15),
                "payer_type": (128, 1), "payer_document": (129, 15), "payer_name": (144, 40),
                "fee_cents": (194, 15)}
_U_FIELDS = {"interest_cents": (18, 15), "discount_cents": (33, 15), "rebate_cents": (48, 15),
             "iof_cents": (63, 15), "paid_cents": (78, 15), "net_cents": (93, 15),
             "other_expenses_cents": (108, 15), "other_credits_cents": (123, 15),
             "occurred_on": (138, 8), "credited_on": (146, 8)}
_NUMERIC = ("agencia", "conta", "nosso_numero", "payer_document")
_ZERO_AMOUNTS = {name: 0 for name in ("face_cents", "fee_cents", *_U_FIELDS)
                 if name.endswith("_cents")}


def cnab_record(*fields: tuple[int, str]) -> str:
    """A 240-character record with each text placed at its 1-based start position."""
    chars = [" "] * 240
    for start, text in fields:
        assert start - 1 + len(text) <= 240, (start, text)
        chars[start - 1:start - 1 + len(text)] = text
    return "".join(chars)


def _field(name: str, value: object, width: int) -> str:
    """date -> ddmmaaaa, None -> zeros, int or digits -> zero-padded, other text as given."""
    if isinstance(value, date):
        return value.strftime("%d%m%Y")
    if value is None:
        return "0" * width
    if isinstance(value, int) or (name in _NUMERIC and str(value).isdigit()):
        return f"{int(value):0{width}d}"
    return f"{value:<{width}}"[:width]


def _segment(prefix: str, segment: str, movement: str, layout: dict[str, tuple[int, int]],
             values: dict[str, object]) -> str:
    placed = [(start, _field(name, values[name], width))
              for name, (start, width) in layout.items() if name in values]
    return cnab_record((1, prefix), (14, segment), (16, movement), *placed)


def _payer_type(title: dict) -> str:
    document = str(title.get("payer_document", ""))
    return title.get("payer_type", {11: "1", 14: "2"}.get(len(document), "0"))


def retorno_bytes(titles: list[dict], bank: str = "001", agencia: str = "1234",
                  conta: str = "56789") -> bytes:
    """A CNAB 240 cobrança retorno: header arquivo, one lote (operation T, serviço 01), a T
    and a U segment per title, the trailers; cp1252, CRLF.

    A title's keys are RetornoTitle's field names, all optional: dates as `date`, None or
    raw text ('31022024'), amounts as centavos or raw text. Also `payer_type` (by default
    '1' for an 11-digit document, '2' for 14), `u_movement` (default: the T's) and
    `without_u` to leave the U out. Bank '033' gets Santander's T positions.
    """
    layout = _T_SANTANDER if bank == "033" else _T_FEBRABAN
    lines = [cnab_record((1, bank), (4, "0000"), (8, "0"), (143, "2"), (144, "01022024")),
             cnab_record((1, bank), (4, "0001"), (8, "1"), (9, "T"), (10, "01"), (14, "040"))]
    seq = 0
    for title in titles:
        values = {"agencia": agencia, "conta": conta, "payer_type": _payer_type(title),
                  **_ZERO_AMOUNTS, **title}
        movement = str(title.get("movement", "06"))
        seq += 1
        lines.append(_segment(f"{bank}00013{seq:05d}", "T", movement, layout, values))
        if not title.get("without_u"):
            seq += 1
            lines.append(_segment(f"{bank}00013{seq:05d}", "U",
                                  str(title.get("u_movement", movement)), _U_FIELDS, values))
    lines += [cnab_record((1, bank), (4, "0001"), (8, "5"), (18, f"{seq + 2:06d}")),
              cnab_record((1, bank), (4, "9999"), (8, "9"), (18, "000001"),
                          (24, f"{seq + 4:06d}"))]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")
