"""The stand-in in its own process, so the benchmark's client does not share a GIL with it.

Prints `URL <base url>` once serving; on SIGTERM writes its stats and the
number of recon-tagged baixas per parcela to --stats-out and exits.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from recon.contaazul.standin import Faults, StandIn, load_state


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--limit", type=float, required=True, help="requests per second")
    parser.add_argument("--stats-out", type=Path, required=True)
    args = parser.parse_args()
    faults = Faults(rate_limit_per_second=args.limit, rate_limit_per_minute=args.limit * 60)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with StandIn(load_state(args.state), faults=faults) as server:
        print(f"URL {server.base_url}", flush=True)
        stop.wait()
        tagged = {p["id"]: sum(str(b.get("observacao", "")).startswith("recon:") for b in p["baixas"])
                  for p in server.snapshot()["parcelas"]}
        stats = server.stats.as_dict()
        journal = [{"method": e.method, "path": e.path, "changed_check": "data_alteracao_de" in e.query}
                   for e in server.journal]
    args.stats_out.write_text(json.dumps({"stats": {**stats, "statuses": {str(k): v for k, v in
                                                                       stats["statuses"].items()}},
                                          "tagged": tagged, "journal": journal}))
    sys.exit(0)


if __name__ == "__main__":
    main()
