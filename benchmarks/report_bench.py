"""How long the report takes after a large run (a backfill of a year, an accounting firm's
first import): the matcher's output on the labelled workload, then `write_reports` (HTML,
exceptions.csv, exceptions.json), timed.

    .venv/bin/python benchmarks/report_bench.py [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.engine_snapshot import prepare
from benchmarks.matching_data import RUN_ID, peak_rss_mb, reset_peak_rss
from matchers.engine import match_run
from recon.store import Store
from reports.build import write_reports


def matched_store(store: Store) -> None:
    """The prepared workload matched under a `runs` row covering its dates, as a run leaves
    its store before writing the report."""
    window = store.query("SELECT min(posted_on) AS a, max(posted_on) AS b FROM statement_lines")[0]
    store.execute(
        "INSERT INTO runs (run_id, started_at, window_from, window_to, dry_run, status) "
        "VALUES (?, now(), ?, ?, false, 'succeeded')", [RUN_ID, window["a"], window["b"]])
    match_run(store, RUN_ID)


def measure(n: int, dense: bool = False, seed: int = 1) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.duckdb"
        shutil.copyfile(prepare(n, dense, seed), path)
        with Store(path) as store:
            matched_store(store)
            reset_peak_rss()
            began = time.perf_counter()
            write_reports(store, RUN_ID, Path(tmp) / "report")
            seconds = time.perf_counter() - began
        sizes = {p.name: p.stat().st_size for p in (Path(tmp) / "report" / RUN_ID).iterdir()}
    return {"lines": n, "dense": dense, "report_s": round(seconds, 2),
            "peak_rss_mb": round(peak_rss_mb()), "bytes": sizes}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args(argv)
    for n in args.sizes:
        print(measure(n), flush=True)


if __name__ == "__main__":
    main()
