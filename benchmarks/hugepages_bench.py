"""What transparent huge pages cost here: fresh numpy arrays touched with them and without, and
match_run on a prepared store with them (RECON_HUGEPAGES=keep) and without (recon's default),
runs alternating, each in a process of its own.

    .venv/bin/python benchmarks/hugepages_bench.py [--gb 1.2] [--lines 100000] [--runs 3]

`--lines 0` skips the matcher runs (the store is prepared once by engine_snapshot.py).
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


def touch(gb: float) -> float:
    """Seconds to allocate and write `gb` of new arrays, in this process."""
    from recon.hugepages import disable_transparent_huge_pages

    disable_transparent_huge_pages()  # a no-op under RECON_HUGEPAGES=keep
    import numpy as np

    began = time.perf_counter()
    kept = []
    for _ in range(max(1, round(gb * 1e9 / ARRAY_BYTES))):
        array = np.empty(ARRAY_BYTES // 8, np.int64)
        array[:] = 1
        kept.append(array)
    return time.perf_counter() - began


def huge_faults() -> int | None:
    """The kernel's count of huge pages faulted in so far (all processes)."""
    try:
        for line in Path("/proc/vmstat").read_text().splitlines():
            if line.startswith("thp_fault_alloc "):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def in_child(args: list[str], keep: bool) -> tuple[str, int | None]:
    """A child's stdout, and how many huge pages were faulted in while it ran."""
    env = {**os.environ, "RECON_HUGEPAGES": "keep" if keep else "off"}
    before = huge_faults()
    out = subprocess.run([sys.executable, *args], env=env, check=True, capture_output=True,
                         text=True).stdout
    after = huge_faults()
    return out, None if before is None or after is None else after - before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.2)
    parser.add_argument("--lines", type=int, default=100_000, help="0: no matcher runs")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--touch-only", type=float, help=argparse.SUPPRESS)  # the child
    args = parser.parse_args(argv)
    if args.touch_only is not None:
        print(f"{touch(args.touch_only):.3f}")
        return 0
    print("| what | huge pages | seconds | huge pages faulted |\n|---|---|---|---|")
    for _ in range(args.runs):
        for keep in (True, False):
            out, faults = in_child([__file__, "--touch-only", str(args.gb)], keep)
            print(f"| {args.gb} GB of new arrays | {'on' if keep else 'off'} | "
                  f"{float(out):.2f} | {faults} |", flush=True)
    if args.lines:
        from benchmarks.engine_snapshot import prepare

        source = prepare(args.lines, dense=False, seed=1)
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.runs):
                for keep in (True, False):
                    store = Path(tmp) / "run.duckdb"
                    shutil.copyfile(source, store)
                    out, faults = in_child([str(SNAPSHOT), "run-store", str(store)], keep)
                    result = json.loads(out)
                    print(f"| match_run, {args.lines:,} lines sparse | "
                          f"{'on' if keep else 'off'} | {result['match_run_s']:.2f} "
                          f"(peak {result['peak_rss_mb']:,} MB) | {faults} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
