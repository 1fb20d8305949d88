"""`recon auth`: the login flow against the stand-in's authorize route, import, status."""

import io
import json
import socket
import stat

import httpx
import pytest

from recon.cli import main
from recon.contaazul import oauth
from recon.contaazul.standin import StandIn
from recon.contaazul.tokens import TokenFile
from recon.errors import ContaAzulAuthError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def state() -> dict:
    return {"clients": {"app": "app-secret"}, "refresh_tokens": [], "access_tokens": {},
            "contas_financeiras": [], "pessoas": [], "parcelas": [],
            "empresa": {"razao_social": "Padaria Pão Quente Ltda", "documento": "12345678000190"}}


def browser_that_approves(url: str) -> None:
    """What the person's browser does: log in (auto-approved) and follow the redirect."""
    httpx.get(url, follow_redirects=True, timeout=10)


def test_login_exchanges_the_code_and_stores_tokens_0600(tmp_path):
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    token_file = TokenFile(tmp_path / "tokens.json")
    shown = []
    with StandIn(state()) as server:
        oauth.login(authorize_base=f"{server.base_url}/oauth2/authorize", token_url=server.token_url,
                    client_id="app", client_secret="app-secret", redirect_uri=redirect_uri,
                    token_file=token_file, show_url=lambda url: (shown.append(url),
                                                                 browser_that_approves(url)))
        refresh_token = token_file.read().refresh_token
        assert refresh_token in server.snapshot()["refresh_tokens"]
    assert "scope=openid+profile+aws.cognito.signin.user.admin" in shown[0]
    assert f"redirect_uri={redirect_uri}&" in shown[0]  # literal, as Conta Azul's login page wants
    assert stat.S_IMODE(token_file.path.stat().st_mode) == 0o600


def test_a_redirect_with_another_state_is_refused(tmp_path):
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"

    def forged_redirect(url: str) -> None:
        httpx.get(f"{redirect_uri}?code=stolen&state=not-ours", timeout=10)

    with StandIn(state()) as server, pytest.raises(ContaAzulAuthError, match="state"):
        oauth.login(authorize_base=f"{server.base_url}/oauth2/authorize", token_url=server.token_url,
                    client_id="app", client_secret="app-secret", redirect_uri=redirect_uri,
                    token_file=TokenFile(tmp_path / "t.json"), show_url=forged_redirect)
    assert not (tmp_path / "t.json").exists()


def test_a_redirect_uri_off_loopback_is_refused_before_anything_is_sent(tmp_path):
    with pytest.raises(ContaAzulAuthError, match="127.0.0.1"):
        oauth.login(authorize_base="https://auth.example/login", token_url="https://auth.example/t",
                    client_id="app", client_secret="s", redirect_uri="https://example.com/cb",
                    token_file=TokenFile(tmp_path / "t.json"), show_url=lambda url: None)


def config_folder(tmp_path, server) -> str:
    (tmp_path / "secret").write_text("app-secret")
    (tmp_path / "secret").chmod(0o600)
    (tmp_path / "recon.toml").write_text(
        '[contaazul]\nclient_id = "app"\nclient_secret_file = "secret"\ntoken_file = "tokens.json"\n'
        f'api_url = "{server.api_url}"\ntoken_url = "{server.token_url}"\n')
    return str(tmp_path / "recon.toml")


def test_import_then_status_names_the_company_and_never_the_token(tmp_path, monkeypatch, capsys):
    seeded = state()
    seeded["refresh_tokens"] = ["rt-from-another-machine"]
    with StandIn(seeded) as server:
        config = config_folder(tmp_path, server)
        monkeypatch.setattr("sys.stdin", io.StringIO("rt-from-another-machine\n"))
        assert main(["auth", "import", "--config", config]) == 0
        assert main(["auth", "status", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "Padaria Pão Quente Ltda" in out and "12345678000190" in out
    tokens = json.loads((tmp_path / "tokens.json").read_text())
    for secret in (tokens["access_token"], tokens["refresh_token"], "rt-from-another-machine",
                   "app-secret"):
        assert secret not in out


def test_status_with_a_revoked_token_says_to_log_in_again(tmp_path, monkeypatch, capsys):
    with StandIn(state()) as server:
        config = config_folder(tmp_path, server)
        monkeypatch.setattr("sys.stdin", io.StringIO("never-issued"))
        main(["auth", "import", "--config", config])
        assert main(["auth", "status", "--config", config]) == 1
    err = capsys.readouterr().err
    assert "run `recon auth login` again" in err
    assert "never-issued" not in err
