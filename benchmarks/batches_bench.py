"""How well and how fast the many-to-one pass (matchers/batches.py) finds batched credits.

Builds the labelled workload of benchmarks/matching_data.py, removes every parcela a 1:1 kind
pays (as if the 1:1 pass had settled them; unpaid, decoy, ambiguous and batched ones stay),
and runs `find_batches` on the boleto-batch and card-payout lines plus the bank-only credits,
with no fee known up front (unless --known). Prints the time of the pass, then per kind:
lines whose proposed set is exactly the true set, wrong sets, lines with no proposal, split
into unique proposals and proposals with alternatives; the fees learned against the true
ones; why lines were skipped. Run:

    .venv/bin/python benchmarks/batches_bench.py [--sizes 10000 100000 1000000] [--seed 1]
        [--accounts 4] [--dense] [--blind] [--known] [--repeat 1]

--blind blanks every parcela's descricao, so no parcela names its channel ("Boleto",
"Venda cartão ... - Cielo"): the pass then has only amounts and dates, as with an ERP whose
descriptions say nothing. --known passes the true fees as confirmed history, which leaves
only the search to measure.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

if __package__ in (None, ""):  # run as a script: make `benchmarks.` importable like in tests
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.matching_data import (
    ACQUIRERS,
    ONE_TO_ONE_KINDS,
    Workload,
    generate,
    peak_rss_mb,
    reset_peak_rss,
)
from matchers.batches import BatchResult, BatchSettings, KnownFees, find_batches

BATCH_KINDS = ("boleto_batch", "card_payout")
PARCELA_COLUMNS = ["parcela_id", "kind", "due_on", "open_cents", "descricao", "contact_name"]
LINE_COLUMNS = ["line_key", "conta_financeira_id", "posted_on", "amount_cents", "memo"]


def residual_inputs(workload: Workload, blind: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the batch pass sees after the 1:1 pass: residual parcelas, batch and bank-only
    credit lines."""
    truth = workload.truth
    settled = truth.loc[truth["kind"].isin(ONE_TO_ONE_KINDS), "parcela_id"].dropna()
    parcelas = workload.parcelas.loc[~workload.parcelas["parcela_id"].isin(settled),
                                     PARCELA_COLUMNS].reset_index(drop=True)
    if blind:
        parcelas["descricao"] = None
    wanted = truth.loc[truth["kind"].isin((*BATCH_KINDS, "bank_only")), "line_key"].dropna()
    lines = workload.lines[workload.lines["line_key"].isin(wanted)
                           & (workload.lines["amount_cents"] > 0)]
    return lines[LINE_COLUMNS].reset_index(drop=True), parcelas


def score(workload: Workload, result: BatchResult) -> pd.DataFrame:
    """Per kind and uniqueness: right sets, wrong sets, lines with no proposal."""
    truth = workload.truth.dropna(subset=["line_key"])
    kind = truth.drop_duplicates("line_key").set_index("line_key")["kind"]
    true_sets = (truth[truth["kind"].isin(BATCH_KINDS)].groupby("line_key")["parcela_id"]
                 .agg(frozenset))
    proposed = result.allocations.groupby("line_key")["parcela_id"].agg(frozenset)
    groups = result.groups.set_index("line_key")
    rows = []
    for line_key, chosen in proposed.items():
        right = true_sets.get(line_key) == chosen
        unique = groups.at[line_key, "alternatives"] == 0
        rows.append((kind[line_key], "unique" if unique else "with alternatives",
                     "right" if right else "wrong"))
    missed = true_sets.index.difference(proposed.index)
    rows += [(kind[k], "no proposal", "missed") for k in missed]
    frame = pd.DataFrame(rows, columns=["kind", "proposal", "outcome"])
    table = frame.groupby(["kind", "proposal", "outcome"]).size().unstack(fill_value=0)
    return table.reindex(columns=["right", "wrong", "missed"], fill_value=0)


def true_fees(workload: Workload) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    truth = workload.truth
    boleto = truth[truth["kind"].eq("boleto_batch")].merge(
        workload.lines[["line_key", "conta_financeira_id"]], on="line_key")
    tariffs = boleto.groupby("conta_financeira_id")["fee_cents"].first().to_dict()
    mdr = {(a[0], p): bp for a in ACQUIRERS for p, bp in (("credito", a[1]), ("debito", a[2]))}
    return tariffs, mdr


def fee_report(workload: Workload, learned: KnownFees) -> str:
    tariffs, mdr = true_fees(workload)
    right_t = sum(learned.boleto_tariff_cents.get(a) == t for a, t in tariffs.items())
    wrong_t = sum(a in tariffs and tariffs[a] != t for a, t in learned.boleto_tariff_cents.items())
    right_m = sum(learned.mdr_bp.get(k) == bp for k, bp in mdr.items())
    wrong_m = sum(k in mdr and mdr[k] != bp for k, bp in learned.mdr_bp.items())
    return (f"tariffs learned right {right_t}/{len(tariffs)}, wrong {wrong_t}; "
            f"MDRs right {right_m}/{len(mdr)}, wrong {wrong_m}")


def run(n: int, args: argparse.Namespace) -> None:
    began = time.perf_counter()
    workload = generate(n, n, seed=args.seed, accounts=args.accounts, dense=args.dense)
    lines, parcelas = residual_inputs(workload, args.blind)
    built = time.perf_counter() - began
    known = KnownFees(*true_fees(workload)) if args.known else KnownFees()
    reset_peak_rss()
    took = float("inf")
    for _ in range(args.repeat):  # best of n: the pass is deterministic, the machine is not
        began = time.perf_counter()
        result = find_batches(lines, parcelas, BatchSettings(), known)
        took = min(took, time.perf_counter() - began)
    table = score(workload, result)
    total = int(table.to_numpy().sum())
    right, wrong = int(table["right"].sum()), int(table["wrong"].sum())
    wrong_unique = int(table.xs("unique", level="proposal")["wrong"].sum()) if (
        "unique" in table.index.get_level_values("proposal")) else 0
    stray = len(set(result.groups["line_key"]) - set(
        workload.truth.loc[workload.truth["kind"].isin(BATCH_KINDS), "line_key"]))
    print(f"\n{n:>9,} parcelas x {n:,} lines ({'dense' if args.dense else 'sparse'}"
          f"{', blind' if args.blind else ''}{', fees known' if args.known else ''}): "
          f"{len(lines):,} credit lines in, "
          f"{len(parcelas):,} residual parcelas (workload {built:.1f} s)")
    print(f"find_batches {took:.3f} s (best of {args.repeat}), peak RSS {peak_rss_mb():,.0f} MB")
    print(f"batch lines {total:,}: right sets {right:,} ({right / max(total, 1):.1%}), "
          f"wrong {wrong:,} (unique and wrong: {wrong_unique}), proposals on non-batch "
          f"lines {stray}")
    print(fee_report(workload, result.learned))
    print(table.to_string())
    reasons = result.skipped["reason"].str.split(":").str[0].value_counts()
    if len(reasons):
        print("skipped: " + ", ".join(f"{r} {c}" for r, c in reasons.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description="Quality and speed of the batch pass.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--dense", action="store_true", help="one 365-day ledger at every size")
    parser.add_argument("--blind", action="store_true", help="blank every parcela's descricao")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time the pass n times, keep the best")
    parser.add_argument("--known", action="store_true",
                        help="pass the true tariffs and MDRs as KnownFees (confirmed history)")
    args = parser.parse_args()
    for n in args.sizes:
        run(n, args)


if __name__ == "__main__":
    main()
