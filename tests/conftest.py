from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def shared_dir() -> Path:
    """../shared beside the repo (reference data: read in tests, never shipped)."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present (CI and developers have it beside the repo)")
    return SHARED


@pytest.fixture
def demo(tmp_path, monkeypatch):
    """A fresh demo folder with the stand-in serving its state; yields (folder, server)."""
    from recon.contaazul.standin import StandIn
    from recon.demo import default_fixtures, prepare_demo_folder

    state_path = prepare_demo_folder(tmp_path / "demo", default_fixtures())
    with StandIn(state_path=state_path) as server:
        monkeypatch.setenv("RECON_CONTAAZUL_API_URL", server.api_url)
        monkeypatch.setenv("RECON_CONTAAZUL_TOKEN_URL", server.token_url)
        monkeypatch.delenv("RECON_CONTAAZUL_CLIENT_SECRET", raising=False)
        # The real API budget (8/s) would only slow the tests down on loopback.
        monkeypatch.setenv("RECON_CONTAAZUL_REQUESTS_PER_SECOND", "1000")
        yield tmp_path / "demo", server
