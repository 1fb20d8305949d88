"""Helpers shared by the tests (imported as `from support import ...`)."""

from __future__ import annotations

from collections.abc import Callable
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
    for name in ("extrato-santander-corrompido.ofx", "itau-2026-11.ofx"):
        (inbox / name).unlink()
    text = (inbox / "nubank-2026-11.ofx").read_text(encoding="utf-8")
    start = text.index("<STMTTRN>\n<TRNTYPE>DEBIT")  # the debit no parcela explains
    end = text.index("</STMTTRN>", start) + len("</STMTTRN>\n")
    (inbox / "nubank-2026-11.ofx").write_text(text[:start] + text[end:], encoding="utf-8")
