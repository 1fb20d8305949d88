"""The issue-5 benchmark in one command: quality, speed and memory of the matcher at each size,
and Splink on the same data in the same run.

For each workload (benchmarks/matching_data.py, labelled): generate, normalise memos as
statement import does (timed apart: it happens once per line, not per run), load a fresh
DuckDB store, run `match_run` in a process of its own (timed, peak RSS: the matcher's alone,
not this process's, which holds the generated workload), and score against the truth:

- wrong automatic settlements and the precision of `auto` (every kind);
- recall of `auto` on the lines a careful person settles without hesitation (clean,
  collision, weekly, late, discount: one parcela, nameable, amount exact or explained);
  partial payments and splits are meant for review, ambiguous lines for nobody;
- batch credits (boleto batches, card payouts) proposed with exactly the right parcelas;
- pairwise precision / recall / F1 of everything proposed (auto + review allocations), the
  measure Splink's one-to-one links are scored on (benchmarks/splink_baseline.pair_metrics).

    .venv/bin/python benchmarks/matching_bench.py [--sizes 10000 100000 1000000]
        [--dense 100000 1000000] [--splink-up-to 100000] [--markdown]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from benchmarks.engine_snapshot import run_isolated
from benchmarks.matching_data import RUN_ID, generate, peak_rss_mb, reset_peak_rss
from benchmarks.matching_quality import (
    candidate_stats,
    import_features,
    line_outcomes,
    load_workload,
    wrong_autos,
)
from benchmarks.splink_baseline import pair_metrics
from recon.store import Store

CAREFUL_KINDS = ("clean", "collision", "weekly", "late", "discount")
BATCH_KINDS = ("boleto_batch", "card_payout")


@dataclass(frozen=True)
class Row:
    label: str
    lines: int
    normalise_s: float
    match_s: float
    peak_mb: float
    candidates_mean: float
    candidates_max: int
    autos: int
    wrong_autos: int
    careful_recall: float
    batches_right: float
    f1: float
    precision: float
    recall: float
    splink: dict | None
    stages: dict[str, float]


def measure(n: int, *, dense: bool, seed: int, splink: bool, retorno: bool = True) -> Row:
    workload = generate(n, n, seed=seed, accounts=4, dense=dense)
    began = time.perf_counter()
    workload = replace(workload, lines=import_features(workload.lines))
    normalise_s = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp:
        path, snapshot = Path(tmp) / "bench.duckdb", Path(tmp) / "snapshot"
        with Store(path) as store:
            load_workload(store, workload, RUN_ID, retorno=retorno)
        # The matcher runs in a process of its own, as a nightly run does: this one holds
        # the generated workload (GBs at 1M), which is no part of the matcher's memory.
        engine = run_isolated(path, snapshot)
        decisions, allocations, candidates = (pd.read_parquet(snapshot / f"{t}.parquet") for t in (
            "decisions", "allocations", "candidate_pairs"))
    per_line = candidates.groupby("line_key").size().reindex(
        workload.lines["line_key"], fill_value=0).to_numpy()
    outcomes = line_outcomes(decisions, workload.truth, allocations)
    careful = outcomes[outcomes["kind"].isin(CAREFUL_KINDS)]
    batches = outcomes[outcomes["kind"].isin(BATCH_KINDS)]
    proposed = decisions.loc[decisions["decision"] != "unmatched", "line_key"]
    pairs = allocations[allocations["line_key"].isin(proposed)]
    ours = pair_metrics(pairs[["line_key", "parcela_id"]], workload.truth)
    stats = candidate_stats(per_line)
    splink_row = _splink(workload) if splink else None
    return Row(
        label=f"{n:,} x {n:,} {'dense' if dense else 'sparse'}", lines=n,
        normalise_s=normalise_s, match_s=engine["match_run_s"], peak_mb=engine["peak_rss_mb"],
        candidates_mean=stats["mean"], candidates_max=stats["max"],
        autos=int((outcomes["decision"] == "auto").sum()),
        wrong_autos=len(wrong_autos(outcomes)),
        careful_recall=float(((careful["decision"] == "auto") & careful["right"]).mean()),
        batches_right=float(batches["right"].mean()) if len(batches) else float("nan"),
        f1=ours["f1"], precision=ours["precision"], recall=ours["recall"], splink=splink_row,
        stages=engine["stages"])


def _splink(workload) -> dict:  # type: ignore[no-untyped-def]
    from benchmarks.splink_baseline import run_splink

    gc.collect()
    reset_peak_rss()
    result = run_splink(workload)
    metrics = pair_metrics(result.pairs[["line_key", "parcela_id"]], workload.truth)
    return {"seconds": result.seconds, "peak_mb": result.peak_rss_mb,
            "candidates": result.candidate_pairs, **metrics}


def text(row: Row) -> str:
    out = [(f"{row.label}: match_run {row.match_s:.2f} s, peak RSS {row.peak_mb:,.0f} MB, "
            f"import-time normalisation {row.normalise_s:.2f} s; candidates/line mean "
            f"{row.candidates_mean:.1f} max {row.candidates_max}"),
           (f"  auto {row.autos:,}, wrong {row.wrong_autos}; careful-person recall "
            f"{row.careful_recall:.2%}; batches with the right parcelas {row.batches_right:.1%}"),
           f"  proposals (auto+review) P/R/F1 {row.precision:.3f}/{row.recall:.3f}/{row.f1:.3f}"]
    if row.splink:
        s = row.splink
        out.append(f"  splink: {s['seconds']:.2f} s, {s['peak_mb']:,.0f} MB, "
                   f"{s['candidates']:,} pairs, P/R/F1 "
                   f"{s['precision']:.3f}/{s['recall']:.3f}/{s['f1']:.3f}")
    return "\n".join(out)


def markdown(rows: list[Row]) -> str:
    head = ("| workload | match_run s | peak MB | cand/line (max) | autos | wrong | careful recall "
            "| batches right | F1 (P/R) | Splink s | Splink F1 (P/R) |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|")
    body = []
    for r in rows:
        s = r.splink
        splink = (f"{s['seconds']:.1f} | {s['f1']:.3f} ({s['precision']:.3f}/{s['recall']:.3f})"
                  if s else "not run | not run")
        body.append(f"| {r.label} | {r.match_s:.2f} | {r.peak_mb:,.0f} | {r.candidates_mean:.1f} "
                    f"({r.candidates_max}) | {r.autos:,} | {r.wrong_autos} | "
                    f"{r.careful_recall:.1%} | {r.batches_right:.1%} | "
                    f"{r.f1:.3f} ({r.precision:.3f}/{r.recall:.3f}) | {splink} |")
    return "\n".join([head, *body])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dense", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--splink-up-to", type=int, default=100_000,
                        help="largest size Splink runs at (1M did not finish in 10 min here)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--no-retorno", dest="retorno", action="store_false",
                        help="no cobrança retornos for the boleto batches (amounts only)")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}", flush=True)
    rows = []
    for n, dense in [(n, False) for n in args.sizes] + [(n, True) for n in args.dense]:
        gc.collect()
        row = measure(n, dense=dense, seed=args.seed, splink=n <= args.splink_up_to,
                      retorno=args.retorno)
        rows.append(row)
        print(text(row), flush=True)
        del row
    if args.markdown:
        print(markdown(rows))
    print(f"process peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
