"""Pull 20,000 parcelas and settle 500 against the stand-in limited to 10 requests/s.

Reports requests made, 429s received, wall time against the floor
(requests / limit) and requests per settled parcela. Run:

    .venv/bin/python benchmarks/pull_settle.py [--parcelas 20000] [--paid 500] [--lean]

--lean turns off the PATCH of each parcela's nota (settle.annotate_parcela = false).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections import Counter
from pathlib import Path

from recon.config import load_config
from recon.contaazul.scenario import build_scenario, write_scenario
from recon.contaazul.standin import Faults, StandIn
from recon.pipeline import RunWindow, run

SERVER_LIMIT = 10.0  # requests per second, what the real API allows per connected company
CLIENT_RATE = 9.5  # our pacing: just under the limit, so jitter on the wire never trips it


def main() -> None:
    args = parse_args()
    scenario = build_scenario(args.parcelas, args.paid, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        state_path = write_scenario(folder, scenario)
        faults = Faults(rate_limit_per_second=SERVER_LIMIT, rate_limit_per_minute=SERVER_LIMIT * 60)
        with StandIn(state_path=state_path, faults=faults) as server:
            environ = {**os.environ,
                       "RECON_CONTAAZUL_API_URL": server.api_url,
                       "RECON_CONTAAZUL_TOKEN_URL": server.token_url,
                       "RECON_CONTAAZUL_REQUESTS_PER_SECOND": str(CLIENT_RATE),
                       "RECON_CONTAAZUL_REQUESTS_PER_MINUTE": str(CLIENT_RATE * 60),
                       "RECON_SETTLE_ANNOTATE_PARCELA": "false" if args.lean else "true"}
            config = load_config(folder / "recon.toml", environ=environ)
            began = time.perf_counter()
            result = run(config, RunWindow(*scenario.window))
            wall = time.perf_counter() - began
            report(args, server, result.counts, wall, scenario)


def report(args, server: StandIn, counts: dict, wall: float, scenario) -> None:
    journal = list(server.journal)
    statuses = Counter(e.status for e in journal)
    writes_phase = [e for e in journal if "/parcelas/" in e.path or "data_alteracao_de" in e.query]
    baixas = {p["id"]: len(p["baixas"]) for p in server.snapshot()["parcelas"]}
    exactly_once = all(baixas[pid] == 1 for pid in scenario.paid)
    floor = len(journal) / SERVER_LIMIT
    print(f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"scenario: {args.parcelas} parcelas, {args.paid} paid, lean={args.lean}")
    print(f"requests: {len(journal)} (429s: {statuses.get(429, 0)}, 5xx: "
          f"{sum(n for s, n in statuses.items() if s >= 500)})")
    print(f"wall: {wall:.1f} s; floor (requests / {SERVER_LIMIT:g} per s): {floor:.1f} s; "
          f"ratio {wall / floor:.3f}")
    print(f"settled: {counts.get('settled')} of {args.paid}; exactly once: {exactly_once}; "
          f"requests per settled parcela: {len(writes_phase) / max(1, counts.get('settled', 0)):.2f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcelas", type=int, default=20_000)
    parser.add_argument("--paid", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lean", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":
    main()
