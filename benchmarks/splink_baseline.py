"""A Splink (DuckDB) baseline on the labelled matching workload, to compare F1 and speed with.

The model follows splink's own bank-transactions example (docs/demos/examples/duckdb/
transactions in moj-analytical-services/splink): a link_only job between bank lines and
parcelas, amount / date / text comparisons, u from random sampling and m from unsupervised
EM (no labels, as a real user would start), then a greedy one-to-one assignment. One fixed
configuration for every size. Needs the `bench` extra (`pip install -e '.[bench]'`). Run:

    .venv/bin/python benchmarks/splink_baseline.py [--parcelas 10000] [--lines N] [--seed 1]
        [--accounts 4] [--dense] [--threads 2] [--threshold 0.01]

`pair_metrics` is pure and splink-free, so our own matcher's benchmark can score its pairs
the same way.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make `benchmarks.` importable like in tests
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.matching_data import Workload, generate, peak_rss_mb, reset_peak_rss

# Truth kinds reported on their own: the 1:1 cases a matcher is expected to settle.
REPORTED_KINDS = ("clean", "collision", "weekly", "late", "discount")
# The prior is 1/N, so a lone true pair with a weak field (late, discounted, partial) scores
# well under 0.5; 0.01 is the cut performance.md's splink runs used (F1 .837 vs .799 at 10k).
DEFAULT_THRESHOLD = 0.01
BANK, ERP = "bank", "erp"  # dataset names: they are also the source_dataset values splink adds

# Words banks wrap around the counterpart's name (PIX/TED phrasing, bank names, agência/conta).
# A user reads a few statements and writes this list; without it the memo's first words are
# the bank's, and neither a memo-prefix block nor a string distance sees the name.
BANK_WORDS = (
    "PIX", "TED", "DOC", "QRS", "TRANSF", "TRANSFE", "TRANSFERENCIA", "REM", "REMET", "ELET",
    "ELETRON", "DISPON", "RECEBIDO", "RECEBIDA", "ENVIADO", "ENVIADA", "PELO", "PAGTO",
    "PAGAMENTO", "BOLETO", "EFETUADO", "COBRANCA", "SISPAG", "CC", "PARA", "PJ", "DE",
    "ITAU", "UNIBANCO", "BCO", "BRADESCO", "AGENCIA", "CONTA")


@dataclass(frozen=True)
class SplinkResult:
    pairs: pd.DataFrame  # line_key, parcela_id, match_probability: one-to-one
    seconds: float  # prepare + train + predict + assign; workload generation excluded
    candidate_pairs: int  # pairs the blocking rules emitted and predict scored
    peak_rss_mb: float


# ---------------------------------------------------------------------------------------------
# Scoring: pure, no splink


def pair_metrics(predicted: pd.DataFrame, truth: pd.DataFrame, kinds=None) -> dict:
    """Pairwise precision / recall / F1 of (line_key, parcela_id) pairs against every true pair
    in `truth` (rows with both ids). With `kinds`, only true pairs of those truth kinds count,
    and only predicted pairs whose line is of those kinds (so another kind's lines neither
    help nor hurt)."""
    true = truth.dropna(subset=["line_key", "parcela_id"])
    if kinds is not None:
        true = true[true["kind"].isin(kinds)]
        lines = truth.loc[truth["kind"].isin(kinds), "line_key"].dropna()
        predicted = predicted[predicted["line_key"].isin(lines)]
    true_set = set(zip(true["line_key"], true["parcela_id"]))
    predicted_set = set(zip(predicted["line_key"], predicted["parcela_id"]))
    tp = len(true_set & predicted_set)
    n_pred, n_true = len(predicted_set), len(true_set)
    return {"precision": tp / n_pred if n_pred else float("nan"),
            "recall": tp / n_true if n_true else float("nan"),
            # 2tp / (pred + true) is the harmonic mean, and stays defined when tp is 0
            "f1": 2 * tp / (n_pred + n_true) if n_pred + n_true else float("nan"),
            "tp": tp, "predicted": n_pred, "true": n_true}


def greedy_one_to_one(scored: pd.DataFrame) -> pd.DataFrame:
    """Best pair first (probability descending, ties by line_key then parcela_id); a line and
    a parcela are each used at most once."""
    ordered = scored.sort_values(["match_probability", "line_key", "parcela_id"],
                                 ascending=[False, True, True], kind="mergesort")
    line_code = pd.factorize(ordered["line_key"])[0]
    parcela_code = pd.factorize(ordered["parcela_id"])[0]
    line_used = np.zeros(line_code.max() + 1 if len(line_code) else 0, bool)
    parcela_used = np.zeros(parcela_code.max() + 1 if len(parcela_code) else 0, bool)
    keep = np.zeros(len(ordered), bool)
    for i, (line, parcela) in enumerate(zip(line_code.tolist(), parcela_code.tolist())):
        if not (line_used[line] or parcela_used[parcela]):
            line_used[line] = parcela_used[parcela] = keep[i] = True
    return ordered[keep].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# The splink run


def run_splink(workload: Workload, *, threads: int = 2,
               threshold: float = DEFAULT_THRESHOLD) -> SplinkResult:
    from splink import DuckDBAPI, Linker  # imported here: pair_metrics needs no bench extra

    reset_peak_rss()
    began = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    _prepare(con, workload)
    db_api = DuckDBAPI(connection=con)
    linker = Linker([db_api.register("bank_side", dataset_display_name=BANK),
                     db_api.register("erp_side", dataset_display_name=ERP)],
                    _settings(len(workload.parcelas)), log_level=logging.WARNING)
    _train(linker)
    # Blocked pairs computed first so they can be counted; predict reuses them from the cache.
    blocked = linker.inference.compute_blocked_pairs_for_predict()
    candidates = con.sql(f"SELECT count(*) FROM {blocked.physical_name}").fetchall()[0][0]
    predictions = linker.inference.predict(threshold_match_probability=threshold,
                                           warning_mode="never")
    pairs = greedy_one_to_one(_oriented(con, predictions.physical_name))
    seconds = time.perf_counter() - began
    rss = peak_rss_mb()
    con.close()
    return SplinkResult(pairs=pairs, seconds=seconds, candidate_pairs=int(candidates),
                        peak_rss_mb=rss)


def _normalised(column: str) -> str:
    """SQL for the text both sides are compared on: upper, accents off, digits and punctuation
    off, bank words off; NULL when nothing is left (a fee line, a parcela with no contact)."""
    words = ", ".join(f"'{w}'" for w in BANK_WORDS)
    tokens = (f"string_split(regexp_replace(strip_accents(upper({column})), '[^A-Z]+', ' ', 'g'),"
              f" ' ')")
    kept = f"list_filter({tokens}, lambda w: length(w) > 1 AND NOT list_contains([{words}], w))"
    return f"nullif(array_to_string({kept}, ' '), '')"


def _prepare(con, workload: Workload) -> None:
    """Both sides in one layout (splink links tables with the same columns). `day` is days
    since 1970; week, month and amount buckets come in two grids each, the second shifted by
    half a step, so a pair near a boundary of one grid still shares a block in the other (the
    example's trick with `round((amount+1)/2)` and `transaction_date + 15`)."""
    lines = workload.lines[["line_key", "posted_on", "amount_cents", "memo"]]
    parcelas = workload.parcelas[["parcela_id", "kind", "due_on", "open_cents", "contact_name"]]
    con.register("lines_in", lines)
    con.register("parcelas_in", parcelas)
    sides = {"bank_side": (f"line_key AS unique_id, '{BANK}' AS side, "
                           "CASE WHEN amount_cents > 0 THEN 'C' ELSE 'D' END AS direction, "
                           "abs(amount_cents)::DOUBLE AS amount, posted_on::DATE AS d, "
                           f"{_normalised('memo')} AS name FROM lines_in"),
             "erp_side": (f"parcela_id AS unique_id, '{ERP}' AS side, "
                          "CASE WHEN kind = 'receber' THEN 'C' ELSE 'D' END AS direction, "
                          "open_cents::DOUBLE AS amount, due_on::DATE AS d, "
                          f"{_normalised('contact_name')} AS name FROM parcelas_in")}
    for table, body in sides.items():
        con.execute(f"""
            CREATE TABLE {table} AS
            SELECT * EXCLUDE (d),
                   d - DATE '1970-01-01' AS day,
                   (d - DATE '1970-01-01') // 7 AS week_a,  -- Thursday to Wednesday
                   (d - DATE '1970-01-01' + 3) // 7 AS week_b,  -- Monday to Sunday
                   strftime(d, '%Y%m') AS month_a,
                   strftime(d + 15, '%Y%m') AS month_b,
                   round(ln(greatest(amount, 1)) * 20) AS amount_a,  -- ~5 % log buckets
                   round(ln(greatest(amount, 1)) * 20 + 0.5) AS amount_b,
                   substr(name, 1, 8) AS name_prefix
            FROM (SELECT {body})""")
    con.unregister("lines_in")
    con.unregister("parcelas_in")


# Days the bank line is after the parcela's due date, whichever side splink puts on the left.
LAG = f"(CASE WHEN side_l = '{BANK}' THEN day_l - day_r ELSE day_r - day_l END)"


def _settings(n_parcelas: int):
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator

    amount = {"output_column_name": "amount", "comparison_description": "Amount % difference",
              "comparison_levels": [cll.NullLevel("amount"), cll.ExactMatchLevel("amount"),
                                    *[cll.PercentageDifferenceLevel("amount", p)
                                      for p in (0.01, 0.03, 0.1, 0.3)],
                                    cll.ElseLevel()]}
    # One-sided like the example (money arrives after it is due), with a small allowance
    # for early payment; the widest level reaches back 10 days, where discounts are paid.
    date_levels = [(-1, 1), (-3, 4), (-5, 10), (-10, 30)]
    date = {"output_column_name": "day", "comparison_description": "Bank date minus due date",
            "comparison_levels": [cll.NullLevel("day"),
                                  *[{"sql_condition": f"{LAG} BETWEEN {lo} AND {hi}",
                                     "label_for_charts": f"{lo}..{hi} days"}
                                    for lo, hi in date_levels],
                                  cll.ElseLevel()]}
    same_direction = "l.direction = r.direction"
    blocking = [
        # Rounded amount + same week; exact amount within a week window is a subset of these
        # two, so it needs no rule of its own. Then memo prefix + same month, for the lines
        # whose amount moved (late, discount, partial).
        f"{same_direction} AND l.amount_a = r.amount_a AND l.week_a = r.week_a",
        f"{same_direction} AND l.amount_b = r.amount_b AND l.week_b = r.week_b",
        f"{same_direction} AND l.name_prefix = r.name_prefix AND l.month_a = r.month_a",
        f"{same_direction} AND l.name_prefix = r.name_prefix AND l.month_b = r.month_b",
    ]
    return SettingsCreator(
        link_type="link_only",
        probability_two_random_records_match=1 / max(n_parcelas, 1),
        blocking_rules_to_generate_predictions=blocking,
        comparisons=[amount, cl.JaroWinklerAtThresholds("name", [0.9, 0.8, 0.7]), date],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False)


def _train(linker) -> None:
    """u from random pairs; m by EM twice, each time blocked on one field so the others are
    estimated (the example's `block_on("memo")` then `block_on("amount")`)."""
    from splink import block_on

    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    # The model has no term-frequency adjustments, so EM over agreement-pattern counts gives
    # the same estimates as over every pair, and iterates in milliseconds instead of seconds.
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("direction", "name"), estimate_without_term_frequencies=True)
    # A hot amount (R$ 99,90 plans) makes this block quadratic in density: sample it down.
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("direction", "amount"), estimate_without_term_frequencies=True, max_pairs=1e6)


def _oriented(con, predictions: str) -> pd.DataFrame:
    """Predictions as (line_key, parcela_id, match_probability), whichever side was left."""
    return con.sql(f"""
        SELECT CASE WHEN source_dataset_l = '{BANK}' THEN unique_id_l ELSE unique_id_r END
                   AS line_key,
               CASE WHEN source_dataset_l = '{BANK}' THEN unique_id_r ELSE unique_id_l END
                   AS parcela_id,
               match_probability
        FROM {predictions}""").df()


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description="Splink baseline on the labelled workload.")
    parser.add_argument("--parcelas", type=int, default=10_000)
    parser.add_argument("--lines", type=int, help="defaults to --parcelas")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--dense", action="store_true", help="one 365-day ledger at every size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    args = parser.parse_args()
    workload = generate(args.parcelas, args.lines or args.parcelas, seed=args.seed,
                        accounts=args.accounts, dense=args.dense)
    cpu = time.process_time()  # all threads: tells a busy machine from a slow run
    result = run_splink(workload, threads=args.threads, threshold=args.threshold)
    cpu = time.process_time() - cpu
    n_lines = len(workload.lines)
    print(f"splink {args.parcelas:,} parcelas x {n_lines:,} lines "
          f"({'dense' if args.dense else 'sparse'}, threshold {args.threshold}): "
          f"{result.seconds:.2f} s ({cpu:.2f} s CPU), {result.candidate_pairs:,} candidate pairs "
          f"({result.candidate_pairs / max(n_lines, 1):.1f}/line), "
          f"peak RSS {result.peak_rss_mb:,.0f} MB, {len(result.pairs):,} pairs kept")
    rows = {"all true pairs": pair_metrics(result.pairs, workload.truth)}
    rows |= {kind: pair_metrics(result.pairs, workload.truth, [kind]) for kind in REPORTED_KINDS}
    table = pd.DataFrame.from_dict(rows, orient="index")  # keeps the counts integers
    print(table.to_string(float_format="{:.3f}".format))


if __name__ == "__main__":
    main()
