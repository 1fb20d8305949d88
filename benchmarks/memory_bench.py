"""What getting memory from the kernel costs here, with recon's process settings
(recon.memory: no transparent huge pages, malloc keeps freed memory) and with the system's
(RECON_MEMORY=system): new numpy arrays written, dropped and written again, and match_run on a
prepared store; runs alternating, each in a process of its own.

    .venv/bin/python benchmarks/memory_bench.py [--gb 1.2] [--lines 100000] [--dense] [--runs 3]
    .venv/bin/python benchmarks/memory_bench.py --gb 1 --gaps 0 0 5 15

`--lines 0` skips the matcher runs (the store is prepared once by engine_snapshot.py).
`--gaps` measures instead whether memory another process freed is cheap to touch again: a
child writes `--gb` of new arrays after each idle gap (seconds), the one before it having
freed as much on exit. On a VM whose balloon driver reports free pages to the host, it is
cheap only for a few seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SNAPSHOT = Path(__file__).resolve().with_name("engine_snapshot.py")
ARRAY_BYTES = 7_800_000 * 8  # one int64 column of the 1M run's pairs


def touch(gb: float) -> tuple[float, float]:
    """Seconds to allocate and write `gb` of new arrays, then, once they are dropped, the
    same again (as each stage of a run drops its temporaries and the next makes its own)."""
    from recon.memory import tune_process_memory

    tune_process_memory()  # a no-op under RECON_MEMORY=system
    import numpy as np

    seconds = []
    for _ in range(2):
        began = time.perf_counter()
        kept = []
        for _ in range(max(1, round(gb * 1e9 / ARRAY_BYTES))):
            array = np.empty(ARRAY_BYTES // 8, np.int64)
            array[:] = 1
            kept.append(array)
        seconds.append(time.perf_counter() - began)
        del kept
    return seconds[0], seconds[1]


def huge_faults() -> int | None:
    """The kernel's count of huge pages faulted in so far (all processes)."""
    try:
        for line in Path("/proc/vmstat").read_text().splitlines():
            if line.startswith("thp_fault_alloc "):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def in_child(args: list[str], system: bool) -> tuple[str, int | None]:
    """A child's stdout, and how many huge pages were faulted in while it ran."""
    env = {**os.environ, "RECON_MEMORY": "system" if system else "recon"}
    before = huge_faults()
    out = subprocess.run([sys.executable, *args], env=env, check=True, capture_output=True,
                         text=True).stdout
    after = huge_faults()
    return out, None if before is None or after is None else after - before


def setting(system: bool) -> str:
    return "system's (RECON_MEMORY=system)" if system else "recon's"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.2)
    parser.add_argument("--lines", type=int, default=100_000, help="0: no matcher runs")
    parser.add_argument("--dense", action="store_true", help="the dense ledger's store")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gaps", type=float, nargs="+",
                        help="idle seconds before each child writing --gb of new arrays")
    parser.add_argument("--touch-only", type=float, help=argparse.SUPPRESS)  # the child
    args = parser.parse_args(argv)
    if args.touch_only is not None:
        print(" ".join(f"{t:.3f}" for t in touch(args.touch_only)))
        return 0
    if args.gaps:
        print("| idle before | GB of new arrays | seconds (first, again) |\n|---|---|---|")
        for gap in args.gaps:
            time.sleep(gap)
            out, _ = in_child([__file__, "--touch-only", str(args.gb)], system=False)
            first, again = (float(t) for t in out.split())
            print(f"| {gap:g} s | {args.gb} | {first:.2f}, {again:.2f} |", flush=True)
        return 0
    print("| what | memory settings | seconds | huge pages faulted |\n|---|---|---|---|")
    for _ in range(args.runs):
        for system in (True, False):
            out, faults = in_child([__file__, "--touch-only", str(args.gb)], system)
            first, again = (float(t) for t in out.split())
            print(f"| {args.gb} GB of new arrays, then again | {setting(system)} | "
                  f"{first:.2f}, {again:.2f} | {faults} |", flush=True)
    if args.lines:
        from benchmarks.engine_snapshot import prepare

        source = prepare(args.lines, dense=args.dense, seed=1)
        label = f"{args.lines:,} lines {'dense' if args.dense else 'sparse'}"
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.runs):
                for system in (True, False):
                    store = Path(tmp) / "run.duckdb"
                    shutil.copyfile(source, store)
                    out, faults = in_child([str(SNAPSHOT), "run-store", str(store)], system)
                    result = json.loads(out)
                    print(f"| match_run, {label} | {setting(system)} | "
                          f"{result['match_run_s']:.2f} (peak {result['peak_rss_mb']:,} MB) "
                          f"| {faults} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
