"""The many-to-one pass inside a run: credit lines left unmatched that look like a batch
(boleto cobrança credited net of tariffs, a card acquirer's payout net of MDR) against the
receivable parcelas nobody took. Found batches are proposed for review with their
allocations (each parcela's gross, the fee as `taxa`, the net); never settled automatically.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matchers.batch_text import BOLETO, CARD, batch_kind
from matchers.batches import BatchSettings, KnownFees, find_batches
from matchers.decide import Outcome, decision_frame, is_in, rows_of_lines


def batch_decisions(outcome: Outcome, lines: pd.DataFrame, parcelas: pd.DataFrame,
                    settings: BatchSettings | None = None, known: KnownFees | None = None
                    ) -> Outcome:
    # Positions, not string membership tests over every line of the run.
    unmatched = outcome.decisions["decision"].to_numpy() == "unmatched"
    residue = lines[unmatched[rows_of_lines(outcome.decisions, lines)] & (lines["dir"] == 0)]
    taken = is_in(parcelas["parcela_id"], outcome.allocations["parcela_id"])
    pool = parcelas[(parcelas["dir"] == 0).to_numpy() & ~taken]
    if residue.empty or pool.empty:
        return outcome
    found = find_batches(
        pd.DataFrame({"line_key": residue["line_key"], "conta_financeira_id": residue["conta"],
                      "posted_on": residue["posted_on"].astype("datetime64[ns]"),
                      "amount_cents": residue["amt"].astype(np.int64), "memo": residue["memo"]}),
        pd.DataFrame({"parcela_id": pool["parcela_id"],
                      "due_on": pool["due_on"].astype("datetime64[ns]"),
                      "open_cents": pool["open"].astype(np.int64),
                      "descricao": pool["descricao"], "contact_name": pool["name"]}),
        settings or BatchSettings(), known or KnownFees())
    outcome = _with_search_notes(outcome, found.skipped)
    if found.allocations.empty:
        return outcome
    groups = found.groups
    first = found.allocations.groupby("line_key")["parcela_id"].first()
    decided = decision_frame(
        groups["line_key"].to_numpy(object), "review",
        np.where(groups["alternatives"].to_numpy() > 0, "batch_ambiguous", "batch"),
        parcela_id=groups["line_key"].map(first).to_numpy(object),
        kind=groups["kind"].to_numpy(), detail=groups["explanation"].to_numpy(object))
    a = found.allocations
    return outcome.replacing(decided, pd.DataFrame({
        "line_key": a["line_key"], "parcela_id": a["parcela_id"], "kind": a["kind"],
        "amount_cents": a["net_cents"], "gross_cents": a["gross_cents"], "multa_cents": 0,
        "juros_cents": 0, "desconto_cents": 0, "taxa_cents": a["fee_cents"], "days_late": 0}))


RECENT_TITLES = 50  # a fee is read from this many latest settled titles: banks reprice


def fees_from_history(settled: pd.DataFrame) -> KnownFees:
    """Fees of batches Conta Azul confirmed (a person approved them, recon settled them):
    each account's boleto tariff (the taxa most of its latest titles carried) and each
    acquirer and product's MDR (the latest titles' taxa over their gross, in basis
    points). `settled`: conta, memo, gross_cents, taxa_cents, newest first. A run then
    needs no other batch line to agree on a fee it already knows: a company whose bank
    credits one cobrança a day gets its batch proposed from the second day on."""
    if settled.empty:
        return KnownFees()
    facts = pd.DataFrame([batch_kind(memo) or (None, None, None) for memo in settled["memo"]],
                         columns=["kind", "acquirer", "product"], index=settled.index)
    settled = settled.join(facts)
    tariffs = {}
    for conta, rows in settled[settled["kind"] == BOLETO].groupby("conta", sort=True):
        tariffs[str(conta)] = int(rows["taxa_cents"].head(RECENT_TITLES).mode().min())
    mdrs = {}
    cards = settled[settled["kind"] == CARD].dropna(subset=["product"])
    for (acquirer, product), rows in cards.groupby(["acquirer", "product"], sort=True):
        recent = rows.head(RECENT_TITLES)
        mdrs[(acquirer, product)] = round(
            10_000 * int(recent["taxa_cents"].sum()) / int(recent["gross_cents"].sum()))
    return KnownFees(boleto_tariff_cents=tariffs, mdr_bp=mdrs)


def _with_search_notes(outcome: Outcome, skipped: pd.DataFrame) -> Outcome:
    """An unmatched credit that looked like a batch says why none was proposed (no subset
    fits, several do, or the search ran out of time): 'no candidate' alone would mislead."""
    if skipped.empty:
        return outcome
    why = pd.Series(skipped["reason"].to_numpy(), index=pd.Index(skipped["line_key"]))
    decisions = outcome.decisions.copy()
    notes = decisions["line_key"].map(why)
    noted = notes.notna().to_numpy() & (decisions["decision"] == "unmatched").to_numpy()
    decisions.loc[noted, "detail"] = "batch search: " + notes[noted].astype(str)
    return Outcome(decisions, outcome.allocations)
