"""How well the current matcher does on a labelled workload: the baseline for the next engine.

Generates a workload (benchmarks/matching_data.py), loads it into a temporary DuckDB store as one
run, runs `matchers.engine.match_run` with the default settings, and scores its decisions
against the truth: precision and recall of `auto` on the 1:1 kinds, wrong automatic
settlements with examples, review rate, outcomes per kind, candidates per line, wall time and
peak memory of match_run. Run:

    .venv/bin/python benchmarks/matching_quality.py [--parcelas 10000] [--lines N] [--seed 1]
        [--accounts 4] [--dense]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make `benchmarks.` importable like in tests
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.matching_data import (
    ONE_TO_ONE_KINDS,
    RUN_ID,
    Workload,
    generate,
    peak_rss_mb,
    reset_peak_rss,
    retorno_titles,
)
from matchers.engine import MatchStats, match_run
from matchers.normalize import line_features
from recon.config import load_config
from recon.load import RETORNO_COLUMNS
from recon.memory import tune_process_memory
from recon.pipeline import match_settings
from recon.store import Store

OUTCOMES = ("auto_right", "auto_wrong", "review_right", "review_wrong", "unmatched")


@dataclass(frozen=True)
class AutoScore:
    autos: int  # automatic decisions on lines of the kinds scored
    right: int  # of those, the parcela the truth names
    eligible: int  # lines of those kinds: what a perfect engine would settle

    @property
    def precision(self) -> float:
        return self.right / self.autos if self.autos else float("nan")

    @property
    def recall(self) -> float:
        return self.right / self.eligible if self.eligible else float("nan")


def line_outcomes(decisions: pd.DataFrame, truth: pd.DataFrame,
                  allocations: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per decided line: its kind, the decision, whether what was proposed is what the
    truth says (`right`: the same set of parcelas, so a batch is right only when complete),
    and the truth kind of the (first) parcela proposed."""
    kinds = truth.dropna(subset=["line_key"]).drop_duplicates("line_key")[["line_key", "kind"]]
    paid = truth.dropna(subset=["line_key", "parcela_id"])
    true_sets = paid.groupby("line_key")["parcela_id"].agg(frozenset)
    if allocations is None:  # one parcela per decision
        allocations = decisions.dropna(subset=["parcela_id"])[["line_key", "parcela_id"]]
    proposed = allocations.groupby("line_key")["parcela_id"].agg(frozenset)
    parcela_kind = (truth.dropna(subset=["parcela_id"]).drop_duplicates("parcela_id")
                    .set_index("parcela_id")["kind"])
    kept = [c for c in ("line_key", "parcela_id", "decision", "score") if c in decisions]
    out = decisions[kept].merge(
        kinds, on="line_key", how="left", validate="1:1")
    mine = out["line_key"].map(proposed)
    out["right"] = [isinstance(m, frozenset) and m == t
                    for m, t in zip(mine, out["line_key"].map(true_sets), strict=True)]
    out.loc[out["decision"] == "unmatched", "right"] = False
    out["chosen_kind"] = out["parcela_id"].map(parcela_kind)
    return out


def auto_score(outcomes: pd.DataFrame, kinds=ONE_TO_ONE_KINDS) -> AutoScore:
    scored = outcomes[outcomes["kind"].isin(kinds)]
    autos = scored[scored["decision"] == "auto"]
    return AutoScore(autos=len(autos), right=int(autos["right"].sum()), eligible=len(scored))


def wrong_autos(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Automatic settlements of a parcela the truth does not pair with the line (any kind)."""
    return outcomes[(outcomes["decision"] == "auto") & ~outcomes["right"]]


def review_rate(outcomes: pd.DataFrame) -> float:
    return float((outcomes["decision"] == "review").mean()) if len(outcomes) else float("nan")


def kind_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Lines per kind by outcome: auto or review on a right or wrong parcela, or unmatched."""
    verdict = np.where(outcomes["decision"] == "unmatched", "unmatched",
                       outcomes["decision"] + np.where(outcomes["right"], "_right", "_wrong"))
    table = pd.crosstab(outcomes["kind"], verdict).reindex(columns=list(OUTCOMES), fill_value=0)
    return table.assign(lines=table.sum(axis=1))[["lines", *OUTCOMES]].rename_axis(columns=None)


CALIBRATION_EDGES = (0.0, 0.3, 0.5, 0.7, 0.9, 0.95, 0.98, 0.99, 0.999, 1.0)


def calibration_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Proposals (auto and review) by the probability the engine gave them: how many, their
    mean probability, and the share that were right. A calibrated probability is about as
    often right as it says."""
    proposed = outcomes[(outcomes["decision"] != "unmatched") & outcomes["score"].notna()]
    # The last band takes 1.0 itself (60 bits and more round to it).
    band = pd.cut(proposed["score"], [*CALIBRATION_EDGES[:-1], np.nextafter(1.0, 2.0)],
                  right=False)
    return (proposed.groupby(band, observed=True)
            .agg(proposals=("right", "size"), mean_probability=("score", "mean"),
                 right=("right", "mean"))
            .rename_axis("probability"))


def candidate_stats(per_line: np.ndarray) -> dict[str, float]:
    """Candidate parcelas per bank line (lines with none count as 0)."""
    if len(per_line) == 0:
        return {"mean": 0.0, "p99": 0.0, "max": 0, "pairs": 0, "none": 0}
    return {"mean": float(per_line.mean()), "p99": float(np.percentile(per_line, 99)),
            "max": int(per_line.max()), "pairs": int(per_line.sum()),
            "none": int((per_line == 0).sum())}


def import_features(lines: pd.DataFrame) -> pd.DataFrame:
    """What statement import computes once per line (counterpart and keys), as recon.load does."""
    memos = pd.Series(lines["memo"].unique())
    features = dict(zip(memos, memos.map(line_features), strict=True))
    found = lines["memo"].map(features)
    return lines.assign(counterpart=found.str[0], memo_keys=found.str[1])


def load_workload(store: Store, workload: Workload, run_id: str, *, retorno: bool = True
                  ) -> None:
    """The run's inputs as the pipeline leaves them just before matching; with `retorno`,
    the cobrança retornos of the boleto batches too (as if the company's bank sent them)."""
    store.insert_frame("statement_lines", workload.lines.assign(first_run_id=run_id))
    store.insert_frame("parcelas", workload.parcelas.assign(run_id=run_id))
    store.insert_frame("pessoas", workload.contacts.assign(run_id=run_id))
    store.insert_frame("run_lines", pd.DataFrame({"run_id": run_id,
                                                  "line_key": workload.lines["line_key"]}))
    if retorno:
        store.insert_frame("retorno_titles", retorno_titles(workload)[RETORNO_COLUMNS])


@dataclass(frozen=True)
class EngineRun:
    decisions: pd.DataFrame
    allocations: pd.DataFrame
    seconds: float
    peak_mb: float
    stats: MatchStats


def run_engine(store: Store, run_id: str) -> EngineRun:
    """Decisions and allocations, wall seconds and peak RSS (MB) of match_run alone."""
    # Defaults, unless a RECON_MATCHING_* variable says otherwise (e.g. a longer batch search).
    settings = match_settings(load_config(None))
    gc.collect()
    reset_peak_rss()
    began = time.perf_counter()
    stats = match_run(store, run_id, settings)
    wall = time.perf_counter() - began
    peak = peak_rss_mb()
    decisions = store.query_frame(
        "SELECT line_key, parcela_id, decision, kind, reason_code, score FROM decisions "
        "WHERE run_id = $run_id", {"run_id": run_id})
    allocations = store.query_frame(
        "SELECT * FROM allocations WHERE run_id = $run_id", {"run_id": run_id})
    return EngineRun(decisions, allocations, wall, peak, stats)


def candidates_per_line(store: Store, run_id: str) -> np.ndarray:
    frame = store.query_frame(
        """SELECT r.line_key, count(c.parcela_id) AS n FROM run_lines r
           LEFT JOIN candidate_pairs c ON c.run_id = r.run_id AND c.line_key = r.line_key
           WHERE r.run_id = $run_id GROUP BY r.line_key""", {"run_id": run_id})
    return frame["n"].to_numpy()


def brl(cents: float) -> str:
    text = f"{abs(cents) / 100:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return f"{'-' if cents < 0 else ''}R$ {text}"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "n/a"


def wrong_examples(wrong: pd.DataFrame, workload: Workload, limit: int) -> list[str]:
    """A few wrong settlements, each with the line, the parcela taken and the right one."""
    lines = workload.lines.set_index("line_key")
    parcelas = workload.parcelas.set_index("parcela_id")
    paid = workload.truth.dropna(subset=["line_key", "parcela_id"])
    truth = paid.groupby("line_key")["parcela_id"]
    rows = []
    for row in wrong.sort_values("line_key").head(limit).itertuples(index=False):
        line, taken = lines.loc[row.line_key], parcelas.loc[row.parcela_id]
        right = ", ".join(truth.get_group(row.line_key)) if row.line_key in truth.groups else "none"
        rows.append(f"  {row.line_key} {row.kind:<12} {brl(line.amount_cents)} "
                    f"{line.posted_on:%Y-%m-%d} {line.memo[:48]!r}\n"
                    f"      -> {row.parcela_id} ({row.chosen_kind}, {taken.contact_name}, "
                    f"{brl(taken.open_cents)} due {taken.due_on:%Y-%m-%d}); truth: {right}")
    return rows


def report(args, workload: Workload, outcomes: pd.DataFrame, timings: dict[str, float],
           per_line: np.ndarray) -> str:
    score, wrong = auto_score(outcomes), wrong_autos(outcomes)
    counts, cand = outcomes["decision"].value_counts(), candidate_stats(per_line)
    n = len(outcomes)
    guesses = outcomes[(outcomes["kind"] == "ambiguous") & (outcomes["decision"] == "auto")]
    out = [
        (f"workload: {args.parcelas:,} parcelas x {args.lines:,} lines, seed {args.seed}, "
         f"{'dense' if args.dense else 'sparse'}, {args.accounts} accounts; generated in "
         f"{timings['generate']:.2f} s, loaded in {timings['load']:.2f} s"),
        (f"match_run: {timings['match']:.2f} s wall, peak RSS {timings['peak_mb']:,.0f} MB "
         f"during match_run (generating and loading: {timings['peak_before_mb']:,.0f} MB); "
         "stages " + ", ".join(f"{k} {v:.2f}" for k, v in timings["stages"].items())),
        (f"import-time normalisation (once per line, at statement import): "
         f"{timings['normalise']:.2f} s"),
        (f"candidates per line: mean {cand['mean']:.1f}, p99 {cand['p99']:.0f}, "
         f"max {cand['max']:,}; {cand['pairs']:,} pairs; {cand['none']:,} lines with none"),
        "decisions: " + ", ".join(f"{d} {counts.get(d, 0):,} ({_pct(counts.get(d, 0), n)})"
                                  for d in ("auto", "review", "unmatched")),
        (f"auto on 1:1 kinds ({' '.join(ONE_TO_ONE_KINDS)}): precision {score.precision:.4f} "
         f"({score.right:,} of {score.autos:,}), recall {score.recall:.4f} "
         f"({score.right:,} of {score.eligible:,})"),
        (f"wrong automatic settlements: {len(wrong):,} of {counts.get('auto', 0):,} autos; "
         f"autos on ambiguous lines (guesses): {len(guesses):,}, "
         f"{int(guesses['right'].sum()):,} of them happen to be right"),
    ]
    if len(wrong):
        pairs = (wrong["kind"] + " -> " + wrong["chosen_kind"].fillna("?")).value_counts()
        out.append("  line kind -> kind of the parcela taken: "
                   + ", ".join(f"{k} {v:,}" for k, v in pairs.items()))
        out += wrong_examples(wrong, workload, args.examples)
    out += ["outcomes per kind (right = a parcela the truth pairs with the line):",
            kind_table(outcomes).to_string()]
    if "score" in outcomes:
        out += ["calibration of what was proposed (auto and review):",
                calibration_table(outcomes).to_string(float_format="{:.4f}".format)]
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcelas", type=int, default=10_000)
    parser.add_argument("--lines", type=int, help="bank lines (default: as many as parcelas)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--dense", action="store_true", help="one 365-day ledger at every size")
    parser.add_argument("--examples", type=int, default=5, help="wrong settlements to show")
    parser.add_argument("--no-retorno", dest="retorno", action="store_false",
                        help="no cobrança retornos for the boleto batches (amounts only)")
    args = parser.parse_args(argv)
    args.lines = args.lines or args.parcelas
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tune_process_memory()  # as the recon command does
    timings: dict[str, float] = {}
    began = time.perf_counter()
    workload = generate(args.parcelas, args.lines, seed=args.seed, accounts=args.accounts,
                        dense=args.dense)
    timings["generate"] = time.perf_counter() - began
    began = time.perf_counter()
    workload = replace(workload, lines=import_features(workload.lines))
    timings["normalise"] = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.duckdb") as store:
        began = time.perf_counter()
        load_workload(store, workload, RUN_ID, retorno=args.retorno)
        timings["load"] = time.perf_counter() - began
        timings["peak_before_mb"] = peak_rss_mb()  # run_engine resets the high-water mark
        engine = run_engine(store, RUN_ID)
        timings["match"], timings["peak_mb"] = engine.seconds, engine.peak_mb
        timings["stages"] = engine.stats.seconds
        per_line = candidates_per_line(store, RUN_ID)
    outcomes = line_outcomes(engine.decisions, workload.truth, engine.allocations)
    print(report(args, workload, outcomes, timings, per_line))


if __name__ == "__main__":
    main()
