"""Rotating refresh tokens against the stand-in: across processes, and expiring mid-run."""

import subprocess
import sys
from pathlib import Path

from recon.contaazul.standin import StandIn
from recon.contaazul.tokens import TokenFile, Tokens

WORKER = Path(__file__).parent / "workers" / "refresh_worker.py"


def small_state(ttl_seconds: float) -> dict:
    return {"clients": {"demo-client": "demo-secret"}, "refresh_tokens": ["rt-0"],
            "access_tokens": {}, "access_token_ttl_seconds": ttl_seconds,
            "contas_financeiras": [], "pessoas": [], "parcelas": []}


def token_calls(server: StandIn) -> list[int]:
    return [e.status for e in server.journal if e.path == "/oauth2/token"]


def test_two_processes_sharing_a_token_file_never_reuse_a_refresh_token(tmp_path):
    token_file = TokenFile(tmp_path / "tokens.json")
    token_file.write(Tokens(refresh_token="rt-0"))
    with StandIn(small_state(ttl_seconds=1.0)) as server:
        workers = [subprocess.Popen([sys.executable, str(WORKER), server.api_url,
                                     str(token_file.path), "40"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(2)]
        outcomes = [w.communicate(timeout=120) for w in workers]
        statuses = token_calls(server)
    for worker, (_, err) in zip(workers, outcomes, strict=True):
        assert worker.returncode == 0, err[-2000:]
    assert statuses and set(statuses) == {200}, statuses  # never invalid_grant
    assert len(statuses) >= 3  # the 1 s tokens really expired and were refreshed mid-run
    assert token_file.read().refresh_token not in ("rt-0", "")
    printed = "".join(out + err for out, err in outcomes)
    assert "access token refreshed" in printed  # the workers did log at debug level
    assert "rt-0" not in printed and token_file.read().refresh_token not in printed
