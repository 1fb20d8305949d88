"""Run the matcher alone on a prepared store, in a fresh process, and keep what it decided.

The matching benchmark generates its workload in the process it measures, so its peak RSS
includes the workload (about 2.4 GB at 1M). A nightly run holds no such thing: it opens its
store and matches. This script measures that: `prepare` writes the store once (statement
lines with their import-time features, parcelas, contacts), `run` copies it, runs
`match_run` in a process that has done nothing else, and writes the decisions, allocations
and candidate pairs as Parquet; `compare` says whether two such snapshots are identical,
row by row (how a speed change proves it changed no decision).

    .venv/bin/python benchmarks/engine_snapshot.py prepare 100000 [--dense] [--seed 1] [--no-retorno]
    .venv/bin/python benchmarks/engine_snapshot.py run 100000 [--dense] --out /tmp/snap-a
    .venv/bin/python benchmarks/engine_snapshot.py run-store STORE.duckdb --out /tmp/snap-c
    .venv/bin/python benchmarks/engine_snapshot.py compare /tmp/snap-a /tmp/snap-b
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from benchmarks.matching_data import RUN_ID, generate, peak_rss_mb, reset_peak_rss

CACHE = Path(tempfile.gettempdir()) / "recon-bench-stores"
TABLES = {
    "decisions": "SELECT * EXCLUDE (run_id) FROM decisions ORDER BY line_key, parcela_id",
    "allocations": "SELECT * EXCLUDE (run_id) FROM allocations "
                   "ORDER BY line_key, parcela_id",
    "candidate_pairs": "SELECT * EXCLUDE (run_id) FROM candidate_pairs "
                       "ORDER BY line_key, parcela_id",
}


def store_path(n: int, dense: bool, seed: int, retorno: bool = True) -> Path:
    return CACHE / f"{n}-{'dense' if dense else 'sparse'}-{seed}{'-retorno' if retorno else ''}.duckdb"


def prepare(n: int, dense: bool, seed: int, path: Path | None = None, retorno: bool = True
            ) -> Path:
    """A store holding the workload as the pipeline leaves it before matching (by default
    in a cache shared by later calls with the same parameters)."""
    from benchmarks.matching_quality import import_features, load_workload
    from recon.store import Store

    path = path or store_path(n, dense, seed, retorno)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    workload = generate(n, n, seed=seed, accounts=4, dense=dense)
    lines = import_features(workload.lines)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with Store(partial) as store:
        load_workload(store, replace(workload, lines=lines), RUN_ID, retorno=retorno)
    partial.rename(path)
    return path


def run(n: int, dense: bool, seed: int, out: Path | None, retorno: bool = True) -> dict:
    """match_run on a copy of the prepared store (the prepared one stays as generated)."""
    source = prepare(n, dense, seed, retorno=retorno)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.duckdb"
        shutil.copyfile(source, path)
        result = run_store(path, out)
    return {"lines": n, "dense": dense, "seed": seed, **result}


def run_store(path: Path, out: Path | None) -> dict:
    """match_run on this store, in this process; seconds, peak RSS (MB) and stage seconds,
    and with `out`, the snapshot written there."""
    from matchers.engine import match_run
    from recon.config import load_config
    from recon.memory import tune_process_memory
    from recon.pipeline import match_settings
    from recon.store import Store

    tune_process_memory()  # as the recon command does, before anything is read
    # Defaults, unless a RECON_MATCHING_* variable says otherwise (e.g. a longer batch search).
    settings = match_settings(load_config(None))
    with Store(path) as store:
        gc.collect()
        reset_peak_rss()
        began = time.perf_counter()
        stats = match_run(store, RUN_ID, settings)
        wall = time.perf_counter() - began
        peak = peak_rss_mb()
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            for name, sql in TABLES.items():
                store.query_frame(sql).to_parquet(out / f"{name}.parquet")
    result = {"match_run_s": round(wall, 3), "peak_rss_mb": round(peak), "pairs": stats.pairs,
              "decisions": stats.decisions,
              "stages": {k: round(v, 3) for k, v in stats.seconds.items()}}
    if out is not None:
        (out / "run.json").write_text(json.dumps(result, indent=1))
    return result


def run_isolated(path: Path, out: Path) -> dict:
    """run_store in a fresh Python process: its peak RSS is the matcher's alone, not the
    caller's (which may hold a generated workload of gigabytes)."""
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "run-store", str(path),
                    "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "run.json").read_text())


def compare(a: Path, b: Path) -> list[str]:
    """Differences between two snapshots (empty: the same decisions, allocations and
    candidates, every value equal)."""
    found = []
    for name in TABLES:
        left = pd.read_parquet(a / f"{name}.parquet")
        right = pd.read_parquet(b / f"{name}.parquet")
        if list(left.columns) != list(right.columns) or len(left) != len(right):
            found.append(f"{name}: shape {left.shape} vs {right.shape}")
            continue
        for column in left.columns:
            l, r = left[column], right[column]
            same = (l == r) | (l.isna() & r.isna())
            if not bool(same.all()):
                rows = (~same).sum()
                found.append(f"{name}.{column}: {rows} rows differ, first at "
                             f"{left.loc[~same].index[0]}: {l[~same].iloc[0]!r} vs "
                             f"{r[~same].iloc[0]!r}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("prepare", "run"):
        p = sub.add_parser(name)
        p.add_argument("n", type=int)
        p.add_argument("--dense", action="store_true")
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--no-retorno", dest="retorno", action="store_false",
                       help="no cobrança retornos for the boleto batches (amounts only)")
        if name == "run":
            p.add_argument("--out", type=Path)
    p = sub.add_parser("run-store")
    p.add_argument("path", type=Path)
    p.add_argument("--out", type=Path)
    p = sub.add_parser("compare")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        print(prepare(args.n, args.dense, args.seed, retorno=args.retorno))
    elif args.command == "run":
        print(json.dumps(run(args.n, args.dense, args.seed, args.out, args.retorno), indent=1))
    elif args.command == "run-store":
        print(json.dumps(run_store(args.path, args.out), indent=1))
    else:
        differences = compare(args.a, args.b)
        print("\n".join(differences) or "identical")
        return 1 if differences else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
