"""`recon demo`: the real pipeline on bundled fixtures against the stand-in on loopback.

Each demo starts from a fresh copy of fixtures/demo in the output folder, so
it can be run again and again; the stand-in writes its state back to that
copy, which shows the baixas and notes the run made.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

from recon.config import load_config
from recon.contaazul.standin import StandIn, load_state
from recon.contaazul.tokens import TokenFile, Tokens
from recon.pipeline import RunResult, RunWindow, run

STATE_FILE = "contaazul_state.json"


def default_fixtures() -> Path:
    return Path(__file__).resolve().parents[1] / "fixtures" / "demo"


def prepare_demo_folder(out: Path, fixtures: Path) -> Path:
    """Fresh copy of the fixtures plus the 0600 secret and token files a real install would have."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(fixtures, out)
    state = load_state(out / STATE_FILE)
    _client_id, client_secret = next(iter(state["clients"].items()))
    write_private(out / "client_secret", client_secret)
    TokenFile(out / "tokens.json").write(Tokens(refresh_token=state["refresh_tokens"][0]))
    return out / STATE_FILE


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def demo_window(fixtures: Path) -> RunWindow:
    window = json.loads((fixtures / "demo.json").read_text(encoding="utf-8"))
    return RunWindow(date.fromisoformat(window["from"]), date.fromisoformat(window["to"]))


def run_demo(out: Path, fixtures: Path | None = None) -> tuple[RunResult, Path]:
    source = fixtures or default_fixtures()
    state_path = prepare_demo_folder(out, source)
    with StandIn(state_path=state_path) as server:
        environ = {
            **os.environ,
            "RECON_CONTAAZUL_API_URL": server.api_url,
            "RECON_CONTAAZUL_TOKEN_URL": server.token_url,
        }
        config = load_config(out / "recon.toml", environ=environ)
        result = run(config, demo_window(source))
    return result, state_path
