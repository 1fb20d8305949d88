"""`recon auth login | import | status`: connect a company and check the connection."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import webbrowser
from datetime import datetime
from pathlib import Path

from recon.config import Config, load_config
from recon.contaazul import api, oauth
from recon.contaazul.tokens import TokenFile
from recon.dates import SAO_PAULO


def add_auth(commands: argparse._SubParsersAction) -> None:
    auth = commands.add_parser("auth", help="connect a Conta Azul company and check the connection")
    actions = auth.add_subparsers(dest="auth_command", required=True, metavar="ACTION")
    login = actions.add_parser(
        "login", help="log in through the browser (authorization-code flow)",
        epilog="example: recon auth login --config recon.toml")
    login.add_argument("--no-browser", action="store_true", help="only print the URL")
    login.set_defaults(handler=_login)
    imported = actions.add_parser(
        "import", help="store a refresh token read from standard input (headless servers)",
        epilog="example: recon auth import --config recon.toml < refresh_token.txt")
    imported.set_defaults(handler=_import)
    status = actions.add_parser(
        "status", help="which company is connected and when the access token expires",
        epilog="example: recon auth status --config recon.toml")
    status.set_defaults(handler=_status)
    for action in (login, imported, status):
        action.add_argument("--config", type=Path, default=Path("recon.toml"), help="TOML config file")


def _token_file(config: Config) -> TokenFile:
    return TokenFile(config.path("contaazul.token_file"))


def _login(args: argparse.Namespace) -> int:
    config = load_config(args.config)

    def show(url: str) -> None:
        print(f"Open this address, log in with the company's Conta Azul user, and approve:\n  {url}")
        if not args.no_browser:
            webbrowser.open(url)

    oauth.login(
        authorize_base=config.get("contaazul.authorize_url"),
        token_url=config.get("contaazul.token_url"), client_id=config.get("contaazul.client_id"),
        client_secret=config.client_secret(), redirect_uri=config.get("contaazul.redirect_uri"),
        token_file=_token_file(config), show_url=show)
    print(f"connected; tokens stored in {config.path('contaazul.token_file')} (mode 0600)")
    return 0


def _import(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    oauth.import_refresh_token(_token_file(config), sys.stdin.read())
    print(f"refresh token stored in {config.path('contaazul.token_file')} (mode 0600); "
          "check it with `recon auth status`")
    return 0


def _status(args: argparse.Namespace) -> int:
    from recon.pipeline import build_client

    config = load_config(args.config)

    async def ask() -> dict:
        async with build_client(config) as client:
            return await api.connected_company(client)

    company = asyncio.run(ask())
    tokens = _token_file(config).read()
    expires = datetime.fromtimestamp(tokens.expires_at, tz=SAO_PAULO)
    minutes = max(0, int((tokens.expires_at - time.time()) // 60))
    print(f"connected company: {company.get('razao_social') or company.get('nome_fantasia')} "
          f"(CNPJ {company.get('documento') or '?'})")
    print(f"access token valid until {expires:%d/%m/%Y %H:%M} São Paulo ({minutes} min)")
    return 0
