"""How many of the benchmark's 'careful person' lines a careful person could really settle
without hesitation: the ceiling of the careful-recall target on a workload.

The generator labels a line `clean`, `collision` or `weekly` when it pays one named parcela
at its exact amount. In a dense ledger that label over-promises: a bank cuts names to 10-20
characters ('PIX QRS PEDRO ANDR'), and among a million open parcelas another contact whose
name starts the same way may owe the same R$ 99,90 due as close to the payment date. This
script counts, for a sample of those lines, the open parcelas a person reading the statement
could not tell from the right one: the same direction and amount, a contact name the memo's
counterpart is a cut of (or equal to), due no further from the payment than the right parcela
(another contact's: plus `--slack` days). A line with such a rival is a coin toss for anyone;
the engine sends it to review, as it should.

    .venv/bin/python benchmarks/careful_ceiling.py [--sizes 100000 1000000] [--dense]
        [--sample 5000] [--slack 3] [--seed 1]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make `benchmarks.` importable like in tests
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.matching_data import day_numbers, each_workload, sampling_parser
from matchers.normalize import clean_names, line_features

EXACT_KINDS = ("clean", "collision", "weekly")  # careful kinds paid at the exact amount
KEY_CHARS = 8  # names are joined on their first characters, then compared whole


def careful_lines(workload, sample: int, rng: np.random.Generator) -> pd.DataFrame:
    """A sample of the exact-amount careful lines: counterpart, direction, amount and day, the
    parcela they pay and its contact, and how many days lie between the two."""
    truth = workload.truth[workload.truth["kind"].isin(EXACT_KINDS)].dropna(
        subset=["line_key", "parcela_id"])
    if len(truth) > sample:
        truth = truth.iloc[np.sort(rng.choice(len(truth), sample, replace=False))]
    lines = workload.lines.set_index("line_key").loc[truth["line_key"]]
    paid = workload.parcelas.set_index("parcela_id").loc[truth["parcela_id"]]
    day = day_numbers(lines["posted_on"])
    return pd.DataFrame({
        "kind": truth["kind"].to_numpy(), "parcela_id": truth["parcela_id"].to_numpy(),
        "counterpart": [line_features(m)[0] for m in lines["memo"].tolist()],
        "amount": np.abs(lines["amount_cents"].to_numpy()), "day": day,
        "receber": lines["amount_cents"].to_numpy() > 0,
        "contact": paid["contact_id"].to_numpy(object),
        "true_distance": np.abs(day - day_numbers(paid["due_on"]))})


def rivals(lines: pd.DataFrame, parcelas: pd.DataFrame, slack: int) -> np.ndarray:
    """Per line, the other open parcelas as plausible as its own (see the module doc)."""
    names = np.asarray(clean_names(parcelas["contact_name"].tolist()).to_pylist(), object)
    side = pd.DataFrame({"parcela": parcelas["parcela_id"].to_numpy(), "name": names,
                         "other_contact": parcelas["contact_id"].to_numpy(object),
                         "amount": parcelas["open_cents"].to_numpy(),
                         "receber": (parcelas["kind"] == "receber").to_numpy(),
                         "due": day_numbers(parcelas["due_on"])})
    side = side[side["name"].notna() & (side["name"] != "")]
    side["key"] = side["name"].str[:KEY_CHARS]
    mine = lines.reset_index(names="line").assign(key=lines["counterpart"].str[:KEY_CHARS])
    mine = mine[mine["counterpart"].str.len() >= KEY_CHARS]
    both = mine.merge(side, on=["receber", "amount", "key"])
    cut = [n.startswith(c) for n, c in zip(both["name"], both["counterpart"], strict=True)]
    # The payer's own other weeks or months are told apart by which is nearest (as the
    # engine does too); another contact's parcela a few days further is no help.
    someone_else = (both["other_contact"] != both["contact"]).to_numpy()
    distance = np.abs(both["day"] - both["due"]).to_numpy()
    close = distance <= both["true_distance"].to_numpy() + np.where(someone_else, slack, 0)
    found = both[np.asarray(cut, bool) & close & (both["parcela"] != both["parcela_id"]).to_numpy()]
    out = np.full(len(lines), -1)  # -1: the memo names too little to tell (under 8 chars)
    out[mine["line"].to_numpy()] = 0
    counts = found.groupby("line").size()
    out[counts.index.to_numpy()] = counts.to_numpy()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = sampling_parser(__doc__, [100_000, 1_000_000], 5_000)
    parser.add_argument("--slack", type=int, default=3)
    args = parser.parse_args(argv)
    for name, workload in each_workload(args, [
            "workload", "kind", "lines sampled", "with a rival as plausible",
            "memo too short to tell"]):
        lines = careful_lines(workload, args.sample, np.random.default_rng(args.seed))
        lines["rivals"] = rivals(lines.reset_index(drop=True), workload.parcelas, args.slack)
        for kind, rows in [*lines.groupby("kind"), ("all", lines)]:
            told = rows[rows["rivals"] >= 0]
            print(f"| {name} | {kind} | {len(rows):,} | {(told['rivals'] > 0).mean():.1%} | "
                  f"{(rows['rivals'] < 0).mean():.1%} |", flush=True)


if __name__ == "__main__":
    main()
