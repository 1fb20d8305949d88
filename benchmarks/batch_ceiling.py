"""How many batched credits any amount-and-date matcher could name: the ceiling of the
batch target on a workload, measured apart from the engine.

A batch credit (boletos net of a tariff, a card payout net of MDR) is identified by its
amount only when exactly one set of candidate parcelas adds up to it. This script gives the
matcher every advantage an engine could have: the true fee (tariff or MDR, rounded as the
acquirer does), the true number of titles, and a pool already cut to the parcelas whose
description names the line's channel (the same acquirer, and the product and brand where
the memo names them), due in the engine's lag window. It then counts, exactly (dynamic
programming over (titles, centavos)), the subsets of that pool of the true size whose net
amounts add up to the credit. Where more than one does, no engine working from amounts and
dates can tell which titles were paid: the line needs the bank's return file (CNAB retorno)
or a person.

    .venv/bin/python benchmarks/batch_ceiling.py [--sizes 10000 100000 1000000] [--dense]
        [--sample 200] [--seed 1]
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make `benchmarks.` importable like in tests
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.matching_data import ACQUIRERS, day_numbers, each_workload, sampling_parser
from matchers.batch_text import DEBITO, memo_facts
from matchers.batches import BatchSettings

BRAND_WORDS = {"Visa": 0, "Mastercard": 1, "Elo": 2}  # the generator's brands, in its order
_SALE = re.compile(r"^Venda cartão (\w+) (crédito|débito) - (.+)$")
MAX_TARGET_CENTS = 5_000_000  # a credit above R$ 50.000 is left out (the table is per centavo)


@dataclass(frozen=True)
class Ceiling:
    kind: str
    lines: int  # lines sampled
    pool_median: float  # channel candidates in the window
    unique: int  # lines whose true set is the only one of its size that fits
    fits_median: float  # subsets of the true size that fit, per line
    by_chance: float  # lines right if one fitting set of the true size is proposed at random


def count_fits(values: np.ndarray, size: int, target: int) -> float:
    """Subsets of exactly `size` of these positive values adding up to `target` (as a float:
    counts can pass 2^63 in large pools)."""
    ways = np.zeros((size + 1, target + 1))
    ways[0, 0] = 1.0
    for v in values[(values > 0) & (values <= target)]:
        ways[1:, v:] += ways[:-1, :target + 1 - v].copy()
    return float(ways[size, target])


def batch_lines(workload, kind: str) -> pd.DataFrame:
    """Per batch line of this kind: its true size and fee per title, amount, day and memo."""
    truth = workload.truth[workload.truth["kind"] == kind]
    per_line = truth.groupby("line_key").agg(size=("parcela_id", "size"),
                                             fee=("fee_cents", "first"))
    lines = workload.lines.set_index("line_key").loc[per_line.index]
    per_line["amount"] = lines["amount_cents"].to_numpy()
    per_line["day"] = day_numbers(lines["posted_on"])
    per_line["memo"] = lines["memo"].to_numpy()
    return per_line


def receivable_channels(parcelas: pd.DataFrame) -> pd.DataFrame:
    """Per contas-a-receber parcela: its channel as its description names it (boleto, or a
    card sale's brand, product and acquirer), open amount and due day."""
    parcelas = parcelas[parcelas["kind"] == "receber"]
    text = parcelas["descricao"].fillna("")
    sale = text.str.extract(_SALE)
    return pd.DataFrame({
        "boleto": text.str.startswith("Boleto").to_numpy(),
        "brand": sale[0].map(BRAND_WORDS).to_numpy(),
        "debit": (sale[1] == "débito").to_numpy(),
        "acquirer": sale[2].to_numpy(object),
        "open": parcelas["open_cents"].to_numpy(np.int64),
        "due": day_numbers(parcelas["due_on"])})


def measure(workload, par: pd.DataFrame, kind: str, sample: int, rng: np.random.Generator
            ) -> Ceiling:
    """`par`: receivable_channels of the workload's parcelas."""
    settings = BatchSettings()
    lines = batch_lines(workload, kind)
    lines = lines[lines["amount"] <= MAX_TARGET_CENTS]
    if len(lines) > sample:
        lines = lines.iloc[np.sort(rng.choice(len(lines), sample, replace=False))]
    mdr = {a[0]: (a[1], a[2]) for a in ACQUIRERS}
    lo, hi = (settings.boleto_credit_lag_days if kind == "boleto_batch"
              else settings.card_payout_lag_days)
    pools, unique, fits = [], 0, []
    for row in lines.itertuples():
        window = par[(par["due"] >= row.day - hi) & (par["due"] <= row.day - lo)]
        if kind == "boleto_batch":
            pool = window[window["boleto"]]
            net = pool["open"].to_numpy() - row.fee
        else:
            _, acquirer, product, brand = memo_facts(row.memo)
            pool = window[window["acquirer"] == acquirer]
            if product is not None:
                pool = pool[pool["debit"] == (product == DEBITO)]
            if brand >= 0:
                pool = pool[pool["brand"] == brand]
            bp = np.where(pool["debit"].to_numpy(), mdr[acquirer][1], mdr[acquirer][0])
            net = pool["open"].to_numpy() - (pool["open"].to_numpy() * bp + 5_000) // 10_000
        found = count_fits(net.astype(np.int64), int(row.size), int(row.amount))
        pools.append(len(pool))
        fits.append(found)
        unique += found == 1
    return Ceiling(kind, len(fits), float(np.median(pools)) if pools else 0.0, unique,
                   float(np.median(fits)) if fits else 0.0,
                   # A line whose true set is not in its pool (none fits) is right by no chance.
                   float(np.sum(np.where(np.asarray(fits) > 0,
                                         1.0 / np.maximum(fits, 1.0), 0.0))))


def main(argv: list[str] | None = None) -> None:
    args = sampling_parser(__doc__, [10_000, 100_000, 1_000_000], 200).parse_args(argv)
    for name, workload in each_workload(args, [
            "workload", "kind", "lines sampled", "pool (median)", "unique fit of its size",
            "fits (median)", "right if one fit is picked at random"]):
        par = receivable_channels(workload.parcelas)
        for kind in ("boleto_batch", "card_payout"):
            c = measure(workload, par, kind, args.sample, np.random.default_rng(args.seed))
            share = c.unique / c.lines if c.lines else 0.0
            print(f"| {name} | {kind} | {c.lines} | {c.pool_median:.0f} | {c.unique} "
                  f"({share:.0%}) | {c.fits_median:.0f} | "
                  f"{c.by_chance / max(c.lines, 1):.0%} |", flush=True)


if __name__ == "__main__":
    main()
