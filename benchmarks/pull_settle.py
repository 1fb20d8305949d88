"""Pull 20,000 parcelas and settle 500 against the stand-in limited to 10 requests/s.

Reports requests made, 429s received, wall time against the floor
(requests / limit) and requests per settled parcela. Run:

    .venv/bin/python benchmarks/pull_settle.py [--parcelas 20000] [--paid 500] [--lean]

--lean turns off the PATCH of each parcela's nota (settle.annotate_parcela = false).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recon.config import load_config
from recon.contaazul.scenario import build_scenario, write_scenario
from recon.pipeline import RunWindow, run

SERVER_LIMIT = 10.0  # requests per second, what the real API allows per connected company
CLIENT_RATE = 9.5  # our pacing: just under the limit, so jitter on the wire never trips it


def main() -> None:
    args = parse_args()
    scenario = build_scenario(args.parcelas, args.paid, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        state_path = write_scenario(folder, scenario)
        stats_path = folder / "stats.json"
        server = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("standin_process.py")), "--state",
             str(state_path), "--limit", str(SERVER_LIMIT), "--stats-out", str(stats_path)],
            stdout=subprocess.PIPE, text=True)
        try:
            base_url = server.stdout.readline().split()[1]
            config = load_config(folder / "recon.toml", environ=client_environ(base_url, args.lean))
            began = time.perf_counter()
            result = run(config, RunWindow(*scenario.window))
            wall = time.perf_counter() - began
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        report(args, json.loads(stats_path.read_text()), result.counts, wall, scenario)


def client_environ(base_url: str, lean: bool) -> dict[str, str]:
    return {**os.environ,
            "RECON_CONTAAZUL_API_URL": base_url,
            "RECON_CONTAAZUL_TOKEN_URL": f"{base_url}/oauth2/token",
            "RECON_CONTAAZUL_REQUESTS_PER_SECOND": str(CLIENT_RATE),
            "RECON_CONTAAZUL_REQUESTS_PER_MINUTE": str(CLIENT_RATE * 60),
            "RECON_SETTLE_ANNOTATE_PARCELA": "false" if lean else "true"}


def report(args, server: dict, counts: dict, wall: float, scenario) -> None:
    journal = server["journal"]
    statuses = server["stats"]["statuses"]
    api_requests = [e for e in journal if e["path"].startswith("/v1/")]
    write_phase = [e for e in api_requests if "/parcelas/" in e["path"] or e["changed_check"]]
    exactly_once = all(server["tagged"][pid] == 1 for pid in scenario.paid)
    floor = len(api_requests) / SERVER_LIMIT
    settled = counts.get("settled", 0)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"scenario: {args.parcelas} parcelas, {args.paid} paid, annotate={not args.lean}")
    print(f"API requests: {len(api_requests)} (+{len(journal) - len(api_requests)} token); "
          f"429s: {statuses.get('429', 0)}; 5xx: {sum(n for s, n in statuses.items() if int(s) >= 500)}")
    print(f"wall: {wall:.1f} s; floor (API requests / {SERVER_LIMIT:g} per s): {floor:.1f} s; "
          f"wall/floor {wall / floor:.3f}")
    print(f"settled: {settled} of {args.paid}; exactly once: {exactly_once}; "
          f"requests per settled parcela: {len(write_phase) / max(1, settled):.2f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcelas", type=int, default=20_000)
    parser.add_argument("--paid", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lean", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":
    main()
