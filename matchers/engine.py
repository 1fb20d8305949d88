"""Matching for one run: stage inputs, block, score, assign globally, decide, store.

1. Stage the run's lines and open parcelas as `m_lines` / `m_parc` (normalised names,
   block tokens, keys, term frequencies) in the store.
2. Key and exact-amount passes; score; lines without a confident pair then go through the
   band (late fees, discounts, rounding) and partial passes.
3. Global one-to-one assignment over every scored pair (matchers.assign).
4. Zones per assigned pair (matchers.decide), then the many-to-one and one-to-many passes
   on what is left: batch credits net of fees (matchers.batches) and splits.
5. Candidates with every signal, decisions with their explanation, and allocations (what
   each baixa would carry: valor_bruto, multa, juros, desconto, taxa) go back to the store.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matchers.arithmetic import LateTerms, explain
from matchers.assign import assign, lexsorted, line_weight_order, runner_up
from matchers.batch_stage import batch_decisions, fees_from_history
from matchers.batches import BatchSettings, KnownFees
from matchers.candidates import (
    Blocking,
    aliases_sql,
    band_pass_sql,
    exact_pass_sql,
    key_codes_sql,
    key_pass_sql,
    partial_pass_sql,
    rejected_pairs_sql,
    shared_key_codes_sql,
)
from matchers.decide import Outcome, Zones, decide, splits
from matchers.model import (
    Model,
    date_level,
    m_from_history,
    prior_bits,
    probability,
    u_from_sample,
    unmatched_share,
)
from matchers.normalize import (
    block_token,
    clean_names,
    document_keys,
    line_features,
    number_keys,
)
from matchers.retorno import TITLE_COLUMNS, retorno_decisions
from matchers.scoring import (
    COMBINATION_COLUMNS,
    MIN_UNIVERSE,
    BitCodes,
    TermFrequencies,
    Vocab,
    coded_weights,
    em,
    joined_tables,
    line_posterior,
    sample_u_levels,
    score,
    tf_columns,
    with_columns,
)
from recon.records import LEDGER_HOLDS, LEDGER_SETTLED, LIQUIDATION_MOVEMENTS
from recon.store import Store

log = logging.getLogger(__name__)
U_SAMPLE_PAIRS = 50_000


@dataclass(frozen=True, slots=True)
class MatchSettings:
    blocking: Blocking = field(default_factory=Blocking)
    zones: Zones = field(default_factory=Zones)
    terms: LateTerms = field(default_factory=LateTerms)
    batches: bool = True
    # The subset-sum search for batch credits stops after this long; lines it did not reach
    # are reported as not searched, never guessed.
    batch_search_seconds: float = 5.0


@dataclass
class MatchStats:
    lines: int = 0
    parcelas: int = 0
    pairs: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


class _Clock:
    def __init__(self, stats: MatchStats):
        self.stats, self.last = stats, time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.stats.seconds[stage] = self.stats.seconds.get(stage, 0.0) + now - self.last
        self.last = now


def match_run(store: Store, run_id: str, settings: MatchSettings | None = None) -> MatchStats:
    settings = settings or MatchSettings()
    stats = MatchStats()
    clock = _Clock(stats)
    lines, parcelas = stage_inputs(store, run_id)
    stats.lines, stats.parcelas = len(lines), len(parcelas)
    clock.lap("stage")
    vocab = Vocab.of(pd.factorize(lines["counterpart"])[1], pd.factorize(parcelas["name"])[1])
    model = build_model(store, lines, parcelas, settings, vocab)
    sides = pair_sides(store, lines, parcelas, vocab)
    clock.lap("model")
    pairs = candidate_pairs(store, settings, model, vocab, clock, sides)
    stats.pairs = len(pairs)
    lid, pid, weight = (pairs[c].to_numpy() for c in ("lid", "pid", "weight"))
    earlier_or_later = other_period(pairs)
    pairs = with_columns(pairs, {"probability": line_posterior(
        lid, weight, model.unmatched, rivals=~earlier_or_later)})
    chosen = assign(lid, pid, weight)
    best_other, rival = runner_up(lid, pid, weight, chosen, excluded=earlier_or_later)
    clock.lap("assign")
    # The candidates are final: DuckDB writes them on the other core while numpy decides.
    with store.inserting_aside("candidate_pairs",
                               candidates_table(run_id, pairs, lines, parcelas)):
        outcome = decide(lines, parcelas, pairs, chosen, best_other, rival, settings.zones,
                         settings.terms, model)
        outcome = splits(outcome, lines, parcelas, pairs)
        clock.lap("decide")
        outcome, titles = retorno_decisions(outcome, lines, parcelas,
                                            retorno_inputs(store, lines))
        store.insert_frame("retorno_results", retorno_results(run_id, titles))
        clock.lap("retorno")
        if settings.batches:
            outcome = batch_decisions(outcome, lines, parcelas, BatchSettings(
                time_budget_s=settings.batch_search_seconds), confirmed_fees(store))
            clock.lap("batches")
    clock.lap("candidates_stored")
    store_outcome(store, run_id, outcome)
    clock.lap("store")
    stats.decisions = outcome.decisions["decision"].value_counts().to_dict()
    log.info("run %s: %d lines, %d parcelas, %d candidate pairs, %s; %s", run_id, stats.lines,
             stats.parcelas, stats.pairs, stats.decisions,
             ", ".join(f"{k} {v:.2f}s" for k, v in stats.seconds.items()))
    return stats


# -- 1. staging ---------------------------------------------------------------------------

# The run's lines and open parcelas (those the ledger holds are someone else's now), in key
# order: the ids every later tie-break relies on.
LINE_ROWS_SQL = """
    SELECT l.line_key, l.conta_financeira_id AS conta, l.posted_on, l.amount_cents, l.memo,
           coalesce(l.counterpart, '') AS counterpart,
           coalesce(len(list_filter(l.memo_keys, lambda k: k LIKE 'doc:%')) > 0, false)
               AS has_document,
           coalesce(l.memo_keys, []) AS keys
    FROM run_lines r JOIN statement_lines l USING (line_key)
    WHERE r.run_id = $run_id
      AND l.line_key NOT IN (SELECT line_key FROM settlements WHERE state IN $holds)
    ORDER BY l.line_key"""
PARCELA_ROWS_SQL = """
    SELECT p.parcela_id, p.kind, p.due_on, p.open_cents, p.descricao, p.contact_id,
           p.contact_name, s.documento
    FROM parcelas p
    LEFT JOIN (SELECT id, any_value(documento) AS documento FROM pessoas
               WHERE run_id = $run_id GROUP BY id) s ON s.id = p.contact_id
    WHERE p.run_id = $run_id AND p.open_cents > 0
      AND p.parcela_id NOT IN (SELECT parcela_id FROM settlements WHERE state IN $holds)
    ORDER BY p.parcela_id"""
# What blocking reads of each side, besides the key lists, with the types it reads them as.
M_LINES = {"lid": pa.int64(), "line_key": pa.string(), "dir": pa.int8(), "amt": pa.int64(),
           "day": pa.int64(), "btok": pa.string()}
M_PARC = {"pid": pa.int64(), "parcela_id": pa.string(), "dir": pa.int8(), "open": pa.int64(),
          "due": pa.int64(), "btok": pa.string()}


def stage_inputs(store: Store, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`m_lines` and `m_parc` in the store, and their frames (without the key lists: those
    stay in DuckDB, where the key pass and the pair features use them). Rows come out of
    DuckDB as Arrow, and only what blocking reads goes back in, as Arrow: no string column
    is converted to Python objects, and none makes a round trip it does not need."""
    params = {"run_id": run_id, "holds": list(LEDGER_HOLDS)}
    backfill_line_features(store, run_id)
    line_rows = store.query_arrow(LINE_ROWS_SQL, params)
    parcela_rows = store.query_arrow(PARCELA_ROWS_SQL, params)
    lines, parcelas = line_inputs(line_rows), parcela_inputs(parcela_rows)
    lines["tf_name"] = name_prefix_tf(lines, parcelas)
    store.replace_temp("m_lines", pa.table({
        **_arrow(lines, M_LINES), "keys": line_rows.column("keys")}))
    store.replace_temp("m_parc", pa.table({
        **_arrow(parcelas, M_PARC), "keys": with_document(
            number_keys(parcela_rows.column("descricao")),
            pa.array(parcelas["document"], pa.string(), from_pandas=True))}))
    store.execute(f"CREATE OR REPLACE TEMP TABLE m_alias AS {aliases_sql()}")
    store.execute(f"CREATE OR REPLACE TEMP TABLE m_rejected AS {rejected_pairs_sql()}")
    return lines, parcelas


def _arrow(frame: pd.DataFrame, types: dict[str, pa.DataType]) -> dict[str, pa.Array]:
    """Columns of a frame as Arrow (its own buffers, for Arrow-backed strings)."""
    return {c: pa.array(frame[c], type=t, from_pandas=True) for c, t in types.items()}


def with_document(numbers: pa.ListArray, document: pa.Array) -> pa.ListArray:
    """Each row's list of numbers followed by its document key when it has one (SQL's
    `numbers || [document]`), built in Arrow: in DuckDB it was one more copy of every
    parcela's row."""
    count = pc.list_value_length(numbers).to_numpy(zero_copy_only=False).astype(np.int64)
    has = document.is_valid().to_numpy(zero_copy_only=False)
    offsets = np.r_[0, np.cumsum(count + has)]
    flat = numbers.flatten()
    row = pc.list_parent_indices(numbers).to_numpy()
    # Where each value goes: a row's numbers from its new start, then its document.
    source = np.empty(offsets[-1], np.int64)
    source[offsets[row] + np.arange(len(flat)) - np.r_[0, np.cumsum(count)][row]] = \
        np.arange(len(flat))
    source[offsets[:-1][has] + count[has]] = len(flat) + np.arange(int(has.sum()))
    values = pa.concat_arrays([flat, document.filter(pa.array(has))]).take(pa.array(source))
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


# The liquidated titles of cobrança retornos credited while the run's lines were posted.
RETORNO_ROWS_SQL = f"""
    SELECT conta_financeira_id AS conta, file, source_line, nosso_numero, due_on,
           face_cents, coalesce(payer_document, '') AS payer_document,
           coalesce(payer_name, '') AS payer_name, fee_cents, interest_cents, discount_cents,
           rebate_cents, paid_cents, net_cents,
           coalesce(occurred_on, credited_on) AS occurred_on, credited_on
    FROM retorno_titles
    WHERE movement IN {LIQUIDATION_MOVEMENTS!r} AND credited_on BETWEEN $first AND $last
      AND due_on IS NOT NULL
    ORDER BY conta_financeira_id, credited_on, file, source_line"""


def retorno_inputs(store: Store, lines: pd.DataFrame) -> pd.DataFrame:
    """retorno.TITLE_COLUMNS of the titles that may explain the run's credits (dates as day
    numbers, as the lines have them)."""
    if lines.empty:
        return pd.DataFrame(columns=TITLE_COLUMNS)
    first, last = (np.datetime64(int(d), "D").item() for d in (lines["day"].min(),
                                                              lines["day"].max()))
    rows = store.query_arrow(RETORNO_ROWS_SQL, {"first": first, "last": last})
    frame = rows.drop_columns(["due_on", "occurred_on", "credited_on"]).to_pandas()
    for date_column, day in (("due_on", "due"), ("occurred_on", "occurred"),
                             ("credited_on", "credited")):
        frame[day] = _days(rows.column(date_column))
    return frame[TITLE_COLUMNS]


def retorno_results(run_id: str, titles: pd.DataFrame) -> pd.DataFrame:
    """retorno.RESULT_COLUMNS as the store keeps them (dates as dates)."""
    return pd.DataFrame({
        "run_id": run_id, "conta_financeira_id": titles["conta"], "file": titles["file"],
        "source_line": titles["source_line"], "nosso_numero": titles["nosso_numero"],
        "due_on": titles["due"].to_numpy(np.int64).astype("datetime64[D]"),
        "face_cents": titles["face_cents"], "payer_name": titles["payer_name"],
        "paid_cents": titles["paid_cents"], "net_cents": titles["net_cents"],
        "credited_on": titles["credited"].to_numpy(np.int64).astype("datetime64[D]"),
        "line_key": titles["line_key"], "parcela_id": titles["parcela_id"],
        "status": titles["status"]})


def backfill_line_features(store: Store, run_id: str) -> None:
    """Lines imported before counterparts and keys were computed at import get them now,
    once, and keep them."""
    missing = store.query_frame(
        """SELECT l.line_key, l.memo FROM run_lines r JOIN statement_lines l USING (line_key)
           WHERE r.run_id = $run_id AND (l.counterpart IS NULL OR l.memo_keys IS NULL)""",
        {"run_id": run_id})
    if missing.empty:
        return
    features = [line_features(memo) for memo in missing["memo"]]
    store.replace_temp("m_backfill", missing.assign(
        counterpart=[c for c, _ in features], memo_keys=[k for _, k in features]))
    store.execute(
        """UPDATE statement_lines SET counterpart = b.counterpart, memo_keys = b.memo_keys
           FROM m_backfill b WHERE statement_lines.line_key = b.line_key""")


def line_inputs(rows: pa.Table) -> pd.DataFrame:
    """Dense ids, direction (0 credit / receber, 1 debit / pagar), absolute centavos, day
    numbers, the memo's counterpart (computed at import) and its block token."""
    # Factorized as they come (Arrow strings hash natively), not as a million Python objects.
    counterpart = _strings(rows, "counterpart")
    codes, values = pd.factorize(counterpart)
    tokens = np.array([block_token(v) for v in values.tolist()], object)
    amount = rows.column("amount_cents").to_numpy()
    day = _days(rows.column("posted_on"))
    return pd.DataFrame({
        "lid": np.arange(len(amount), dtype=np.int64), "line_key": _strings(rows, "line_key"),
        "dir": (amount < 0).astype(np.int8), "amt": np.abs(amount), "day": day,
        "conta": _strings(rows, "conta"), "counterpart": counterpart, "cp": codes,
        "btok": spread(tokens, codes),
        "has_document": rows.column("has_document").to_numpy().astype(bool),
        "memo": _strings(rows, "memo"), "posted_on": _dates(day)})


def parcela_inputs(rows: pa.Table) -> pd.DataFrame:
    """Dense ids, direction, centavos, days, the contact's cleaned name and block token, its
    CPF/CNPJ as a key when valid, and term frequencies. Names and documents repeat across a
    contact's parcelas: each distinct one is cleaned once."""
    codes, values = pd.factorize(_strings(rows, "contact_name").fillna(""))
    names = np.array(clean_names(values.tolist()).to_pylist(), object)
    tokens = np.array([block_token(v) for v in names], object)
    doc_codes, doc_values = pd.factorize(_strings(rows, "documento"))
    documents = document_keys(doc_values.tolist())
    due = _days(rows.column("due_on"))
    out = pd.DataFrame({
        "pid": np.arange(rows.num_rows, dtype=np.int64),
        "parcela_id": _strings(rows, "parcela_id"),
        "dir": pc.fill_null(pc.equal(rows.column("kind"), "pagar"), False).to_numpy()
        .astype(np.int8),
        "open": rows.column("open_cents").to_numpy().astype(np.int64), "due": due,
        "name": spread(names, codes), "btok": spread(tokens, codes),
        # Codes of the cleaned names in order of first appearance, as factorizing every
        # parcela's name would give, from the few distinct ones.
        "nm": pd.factorize(names)[0][codes], "contact_id": _strings(rows, "contact_id"),
        "contact": pd.factorize(_strings(rows, "contact_id"))[0],  # -1 where no contact
        "document": spread(documents, doc_codes),  # code -1: no document
        "descricao": _strings(rows, "descricao"), "due_on": _dates(due)})
    out["has_document"] = out["document"].notna().to_numpy()
    return tf_columns(out)


def _strings(rows: pa.Table, column: str) -> pd.Series:
    """A string column as pandas' Arrow-backed strings, on the same buffers."""
    return pd.Series(pd.array(rows.column(column), dtype="str"), copy=False)


def _days(column: pa.ChunkedArray) -> np.ndarray:
    """Days since 1970-01-01 of a DATE column: Arrow's date32 is that number already."""
    return column.cast(pa.int32()).to_numpy().astype(np.int64)


def _dates(days: np.ndarray) -> np.ndarray:
    """Day numbers as the datetime64[us] a DATE column becomes in pandas."""
    return days.astype("datetime64[D]").astype("datetime64[us]")


def spread(values: np.ndarray, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """values[codes] as pandas strings (code -1: missing): the few distinct values converted
    once and taken by position by Arrow, instead of a million Python objects converted one
    by one (and 6x faster than pandas' take with a fill)."""
    taken = pa.array(values, pa.string(), from_pandas=True).take(pa.array(codes, mask=codes < 0))
    return pd.array(taken, dtype="str")


def name_prefix_tf(lines: pd.DataFrame, parcelas: pd.DataFrame) -> np.ndarray:
    """Per line, the share of same-direction parcelas whose contact name starts with the
    memo's counterpart: how often that name agrees by chance. A full name is on one
    contact's parcelas; a bank's 10-character cut ('MARIA SILV') is on many. Searched once
    per distinct name and counterpart (the codes `nm` and `cp` already number them), with
    each name's count of parcelas."""
    out = np.zeros(len(lines))
    nm, cp = parcelas["nm"].to_numpy(), lines["cp"].to_numpy()
    names = np.asarray(_code_values(parcelas["name"], nm), str)
    counterparts = np.asarray(_code_values(lines["counterpart"], cp), str)
    for direction in (0, 1):
        side = parcelas["dir"].to_numpy() == direction
        rows = np.flatnonzero(lines["dir"].to_numpy() == direction)
        if not side.any() or len(rows) == 0:
            continue
        per_name = np.bincount(nm[side], minlength=len(names))
        present = np.flatnonzero(per_name)
        order = present[np.argsort(names[present])]
        at_or_after = np.r_[0, np.cumsum(per_name[order])]
        wanted_codes = np.flatnonzero(np.bincount(cp[rows], minlength=len(counterparts)))
        count = np.zeros(len(counterparts), np.int64)
        count[wanted_codes] = _prefix_counts(names[order], at_or_after, counterparts[wanted_codes])
        out[rows] = count[cp[rows]] / max(int(side.sum()), MIN_UNIVERSE)
    return out


def _code_values(column: pd.Series, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The value of each code of a factorized column (codes 0..k-1, -1 for missing), from
    the first row carrying it: pd.factorize's uniques without factorizing again."""
    coded = np.flatnonzero(codes >= 0)
    first = np.full(codes.max(initial=-1) + 1, len(codes))
    np.minimum.at(first, codes[coded], coded)
    return column.array.take(first)


def _prefix_counts(names: np.ndarray, at_or_after: np.ndarray, wanted: np.ndarray
                   ) -> np.ndarray:
    """How many parcelas carry a name (sorted, with the running count of parcelas before
    each) starting with each wanted string; none for the empty one. The wanted go in
    ascending order: each search then starts where the last ended."""
    order = np.argsort(wanted)
    low, high = np.empty(len(wanted), np.int64), np.empty(len(wanted), np.int64)
    low[order] = np.searchsorted(names, wanted[order], side="left")
    high[order] = np.searchsorted(names, np.char.add(wanted[order], "\uffff"), side="left")
    return np.where(wanted == "", 0, at_or_after[high] - at_or_after[low])


# -- 2. model and candidates --------------------------------------------------------------

def build_model(store: Store, lines: pd.DataFrame, parcelas: pd.DataFrame,
                settings: MatchSettings, vocab: Vocab) -> Model:
    sample = sample_u_levels(lines, parcelas, settings.terms, settings.blocking.band_pct,
                             U_SAMPLE_PAIRS, vocab)
    m, history = m_from_history(confirmed_levels(store))
    log.debug("m from the priors and %d confirmed matches", history)
    shape = [np.bincount(side["dir"].to_numpy(), minlength=2) for side in (lines, parcelas)]
    return Model(m=m, u=u_from_sample(sample), history=history, prior_bits=prior_bits(*shape),
                 unmatched=unmatched_share(*shape))


def confirmed_levels(store: Store) -> dict[str, np.ndarray] | None:
    """Comparison levels of pairs Conta Azul confirmed (settled by us) or a person approved."""
    frame = store.query_frame(
        """SELECT DISTINCT ON (c.line_key, c.parcela_id)
                  c.amount_level, c.lag_days, c.name_level, c.key_level
           FROM candidate_pairs c JOIN settlements s USING (line_key, parcela_id)
           WHERE s.state IN $settled""", {"settled": list(LEDGER_SETTLED)})
    if frame.empty:
        return None
    # The date level from the lag, not as stored: pairs stored before the early levels were
    # split keep their meaning.
    return {"amount": frame["amount_level"].to_numpy(np.int8),
            "date": date_level(frame["lag_days"].to_numpy(np.int64)),
            "name": frame["name_level"].to_numpy(np.int8),
            "key": frame["key_level"].to_numpy(np.int8)}


def confirmed_fees(store: Store) -> KnownFees:
    """Boleto tariffs and card MDRs of the batches Conta Azul confirmed, newest first."""
    return fees_from_history(store.query_frame(
        """SELECT s.conta_financeira_id AS conta, l.memo, s.gross_cents, s.taxa_cents
           FROM settlements s JOIN statement_lines l USING (line_key)
           WHERE s.state IN $settled AND s.taxa_cents > 0 AND s.gross_cents > 0
           ORDER BY s.updated_at DESC, s.line_key, s.parcela_id""",
        {"settled": list(LEDGER_SETTLED)}))


SCORING_INPUTS = ["nm", "same_document", "same_number", "line_has_document", "known_alias"]
TF_PARCELA = ["tf_amount", "tf_amount_others", "tf_contact", "tf_unit", "cent_density"]
# The candidate pairs' columns, as the bound gives them and as they are when there are none.
EMPTY_PAIRS = {
    "lid": np.int64, "pid": np.int64, "amt": np.int64, "open": np.int64, "lag": np.int64,
    "cp": np.int64, "contact": np.int64, "has_counterpart": bool,
    "has_name": bool, "name_sim": float,
    **{f"{s}_level": np.int8 for s in ("amount", "date", "name", "key")},
    **{f"{s}_bits": float for s in ("amount", "date", "name", "key")},
    "weight": float, "probability": float}


def candidate_pairs(store: Store, settings: MatchSettings, model: Model, vocab: Vocab,
                    clock: _Clock, sides: Sides) -> pd.DataFrame:
    b = settings.blocking
    first, first_codes = _scored_pass(store, [key_pass_sql(b), exact_pass_sql(b)], settings,
                                      model, vocab, sides, clock=clock, stage="exact")
    # A pair's own probability picks the confident lines, and nothing after: the bound
    # works out each kept pair's under EM's m, so scoring keeps none per pair (100 MB of
    # 12M pairs held through the band pass at dense 1M, the run's peak).
    confident = first.loc[probability(first["weight"].to_numpy())
                          >= settings.zones.auto_probability, "lid"]
    lids = sorted_unique(store.query_arrays("SELECT lid FROM m_lines")["lid"])
    store.replace_temp("m_residue", pd.DataFrame({"lid": lids[~np.isin(
        lids, confident.to_numpy(), kind="table")]}))
    second, second_codes = _scored_pass(
        store, [band_pass_sql(b, "m_residue", settings.terms), partial_pass_sql(b, "m_residue")],
        settings, model, vocab, sides, exclude=first[["lid", "pid"]], clock=clock,
        stage="band", needs_evidence=True)
    passes = [(f, c) for f, c in ((first, first_codes), (second, second_codes)) if not f.empty]
    del first, second  # `passes` holds the only references: _bounded lets them go
    if not passes:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in EMPTY_PAIRS.items()})
    return _bounded(passes, model, b.max_candidates, clock, sides)


def _bounded(passes: list[tuple[pd.DataFrame, BitCodes]], model: Model, max_candidates: int,
             clock: _Clock, sides: Sides) -> pd.DataFrame:
    """The passes' pairs, one after the other, with EM's bits, weight and probability: the
    best `max_candidates` of each line by weight (all a decision needs), in the order of
    line_weight_order.

    EM and the bound per line read a few columns of every pair: those are stacked. The
    rest are taken from each pass's arrays for the pairs kept in the end only: stacking
    every column copied all of them once more. `passes` is emptied, so the frames go as
    soon as their columns are read."""
    tables, offsets = joined_tables([codes for _, codes in passes])
    # Each pass's arrays, not its frame: stacking lets each array go once it is copied.
    # Held for the kept pairs only: what the sides give is gathered again for those, and
    # the bits and probability are worked out for them under EM's m (at dense 1M, 22M
    # pairs scored, 8M kept).
    arrays = [{c: f[c].to_numpy() for c in f.columns} for f, _ in passes]
    passes.clear()
    # Pairs no amount level fits (a key printed at an unrelated amount) are not candidates.
    keep = [a["amount_level"] >= 0 for a in arrays]
    ranked = stacked(arrays, RANKING_COLUMNS, keep,
                     [{COMBINATION_COLUMNS[s]: o for s, o in offset.items()} for offset in offsets])
    rest = arrays  # what stacking left: taken for the kept pairs only
    kept = [np.flatnonzero(k) for k in keep]
    del keep
    # The run's own data sharpens m (u comes from random pairs).
    model, weight = em(ranked, model, tables)
    clock.lap("em")
    # From here each stacked column goes once it is taken for the kept pairs: what is let
    # go is reused by the next one taken (at dense 1M, 22M pairs' columns held to the end
    # of the bound were its peak).
    every = {c: ranked[c].to_numpy() for c in ranked.columns}
    del ranked
    rows = best_per_line(every["lid"], weight, every["pid"], max_candidates)
    picks = _picks(kept, rows)
    top = {"lid": every.pop("lid")[rows], "pid": every.pop("pid")[rows]}
    weight = weight[rows]
    bits = coded_weights(replace(tables, index={
        s: every.pop(c)[rows] for s, c in COMBINATION_COLUMNS.items()}), model)
    top |= {c: every.pop(c)[rows] for c in list(every) if c != "weight"}
    del every
    top |= {"weight": weight, "probability": probability(weight),
            **{f"{s}_bits": b for s, b in bits.items()}, **side_columns(sides, top["lid"], top["pid"])}
    out = frame_of({c: top[c] if c in top else _picked(rest, picks, c, len(rows))
                    for c in EMPTY_PAIRS})
    clock.lap("top")
    return out


def best_per_line(lid: np.ndarray, weight: np.ndarray, pid: np.ndarray, most: int
                  ) -> np.ndarray:
    """Rows of the `most` best pairs of each line, in the order of line_weight_order."""
    order = line_weight_order(lid, weight, pid)
    ordered = lid[order]
    first = np.r_[0, np.flatnonzero(ordered[1:] != ordered[:-1]) + 1]
    del ordered
    rank = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)]))
    return order[rank < most]


# What EM and the bound on candidates per line read of every pair.
RANKING_COLUMNS = ["lid", "pid", *(f"{s}_level" for s in ("amount", "date", "name", "key")),
                   *COMBINATION_COLUMNS.values(), "weight"]


def _picks(kept: list[np.ndarray], rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Where rows of the stacked kept pairs of the passes come from: per pass, the
    positions in `rows` of its pairs, and their rows in the pass's arrays."""
    ends = np.cumsum([len(k) for k in kept])
    which = np.searchsorted(ends, rows, side="right")
    picks = []
    for i, of_pass in enumerate(kept):
        at = np.flatnonzero(which == i)
        picks.append((at, of_pass[rows[at] - (ends[i] - len(of_pass))]))
    return picks


def _picked(arrays: list[dict[str, np.ndarray]], picks: list[tuple[np.ndarray, np.ndarray]],
            column: str, size: int) -> np.ndarray:
    out = np.empty(size, arrays[0][column].dtype)
    for of_pass, (at, source) in zip(arrays, picks, strict=True):
        out[at] = of_pass[column][source]
    return out


def _scored_pass(store: Store, sqls: list[str], settings: MatchSettings, model: Model,
                 vocab: Vocab, sides: Sides, exclude: pd.DataFrame | None = None, *,
                 clock: _Clock, stage: str, needs_evidence: bool = False
                 ) -> tuple[pd.DataFrame, BitCodes | None]:
    union = " UNION ALL ".join(f"({sql})" for sql in sqls)
    # Fetched straight from the query, repeats included: sorting them in numpy drops the
    # repeats, and the rejected and already scored pairs, faster than a table of pairs
    # DuckDB would write and delete from.
    ids = store.query_arrays(f"SELECT lid, pid FROM ({union})")
    clock.lap(f"{stage}_block")
    code = _ordered_pairs(ids["lid"], ids["pid"], sides)
    del ids
    seen = None if exclude is None else np.sort(sides.pair_code(exclude["lid"].to_numpy(),
                                                                 exclude["pid"].to_numpy()))
    code = code[~(_in_sorted(code, sides.rejected) | _in_sorted(code, seen))]
    lid, pid = sides.pair_ids(code)
    del code
    same_document, same_number = sides.keys.shared(lid, pid)
    if needs_evidence:
        keep = _some_evidence(sides, lid, pid, same_document | same_number, settings.terms)
        lid, pid = lid[keep], pid[keep]
        same_document, same_number = same_document[keep], same_number[keep]
    frame = pair_features(sides, lid, pid, same_document, same_number)
    clock.lap(f"{stage}_features")
    if frame.empty:
        return frame.assign(amount_level=pd.Series(dtype=np.int8),
                            weight=pd.Series(dtype=float)), None
    scored = score(frame, model, settings.terms, settings.blocking.band_pct, vocab,
                   TermFrequencies({c: sides.parcela[c] for c in TF_PARCELA},
                                   {"tf_name": sides.line["tf_name"]}))
    clock.lap(f"{stage}_score")
    # Inputs of scoring are not needed further: a narrower frame is cheaper to sort and copy.
    # The late/discount parts are not kept per pair: decide works them out again for the
    # few it allocates (explain is row by row), and 4 columns fewer of millions of pairs
    # is memory each later copy does not touch. What the sides give is gathered again for
    # the pairs the candidate bound keeps (42 bytes a pair: 900 MB at dense 1M).
    return scored.frame.drop(columns=[*SCORING_INPUTS, *SIDE_COLUMNS]), scored.codes


@dataclass(frozen=True)
class KeyIndex:
    """The keys pairs can share (codes of candidates.shared_key_codes_sql), each side's by
    row (CSR: a row's codes are code[start[row]:start[row + 1]]). Which pairs share one is
    found among the pairs both of whose sides print such a key, by comparing their codes:
    not a join of every pair with both sides' keys, nor a search per pair."""

    line_start: np.ndarray  # n_lines + 1
    line_code: np.ndarray
    parcela_start: np.ndarray  # n_parcelas + 1
    parcela_code: np.ndarray
    document: np.ndarray  # per code: a CPF/CNPJ ('doc:'), else another number ('num:')

    def shared(self, lid: np.ndarray, pid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """same_document and same_number per pair."""
        same_document, same_number = np.zeros(len(lid), bool), np.zeros(len(lid), bool)
        line_count = np.diff(self.line_start)[lid]
        pair = np.flatnonzero(line_count)
        parcela_count = np.diff(self.parcela_start)[pid[pair]]
        both = parcela_count > 0
        pair, line_count, parcela_count = pair[both], line_count[pair[both]], parcela_count[both]
        # Each pair once per (line code, parcela code): most print one key a side.
        combinations = line_count * parcela_count
        pair_of = np.repeat(np.arange(len(pair)), combinations)
        k = np.arange(len(pair_of)) - np.repeat(np.cumsum(combinations) - combinations,
                                                combinations)
        of_parcela = parcela_count[pair_of]
        line_code = self.line_code[self.line_start[lid[pair]][pair_of] + k // of_parcela]
        parcela_code = self.parcela_code[self.parcela_start[pid[pair]][pair_of] + k % of_parcela]
        found = line_code == parcela_code
        document = self.document[line_code[found]]
        at = pair[pair_of[found]]
        same_document[at[document]] = True
        same_number[at[~document]] = True
        return same_document, same_number


def key_index(store: Store, n_lines: int, n_parcelas: int) -> KeyIndex:
    store.execute(f"CREATE OR REPLACE TEMP TABLE m_key_codes AS {shared_key_codes_sql()}")
    document = store.query_arrays("SELECT document FROM m_key_codes ORDER BY code")["document"]
    width = max(len(document), 1)
    starts, codes = [], []
    for side, rows in (("m_lines", n_lines), ("m_parc", n_parcelas)):
        found = store.query_arrays(key_codes_sql(side, "m_key_codes"))
        # Each row's distinct codes, grouped by row.
        packed = sorted_unique(found["id"].astype(np.int64) * width + found["code"])
        starts.append(np.searchsorted(packed // width, np.arange(rows + 1)))
        codes.append(packed % width)
    return KeyIndex(line_start=starts[0], line_code=codes[0], parcela_start=starts[1],
                    parcela_code=codes[1], document=np.asarray(document, bool))


@dataclass(frozen=True)
class Sides:
    """What a pair's features need from its line and its parcela, as arrays indexed by lid
    and by pid: a pair's features are gathers by id, not a join that fetches strings and
    floats back from DuckDB per pair."""

    line: dict[str, np.ndarray]
    parcela: dict[str, np.ndarray]
    aliases: np.ndarray  # sorted alias_code of (memo counterpart, contact) pairs confirmed
    keys: KeyIndex
    rejected: np.ndarray  # sorted pair_code of the pairs a person rejected

    def alias_code(self, cp: np.ndarray, contact: np.ndarray) -> np.ndarray:
        return cp * (len(self.parcela["open"]) + 1) + contact

    def pair_code(self, lid: np.ndarray, pid: np.ndarray) -> np.ndarray:
        """One integer per pair, ordered as (lid, pid)."""
        return lid.astype(np.int64) * len(self.parcela["open"]) + pid

    def pair_ids(self, code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        width = len(self.parcela["open"])
        return code // width, code % width


def pair_sides(store: Store, lines: pd.DataFrame, parcelas: pd.DataFrame,
               vocab: Vocab) -> Sides:
    """The arrays of Sides. Block tokens become codes shared by both sides, and the known
    aliases of `m_alias` (strings) codes of counterpart and contact, so pairs compare
    integers."""
    # A line's block token follows its counterpart (`cp`), a parcela's its cleaned name
    # (`nm`): the few distinct ones are coded together, not two million-row columns.
    cp, nm = lines["cp"].to_numpy(), parcelas["nm"].to_numpy()
    line_tokens, parcela_tokens = _code_values(lines["btok"], cp), _code_values(
        parcelas["btok"], nm)
    shared = pd.factorize(pd.concat([pd.Series(line_tokens), pd.Series(parcela_tokens)],
                                    ignore_index=True))[0]
    line_token, parcela_token = shared[:len(line_tokens)][cp], shared[len(line_tokens):][nm]
    has_token = np.asarray(line_tokens != "", bool)[cp]
    line = {"amt": lines["amt"].to_numpy(np.int64), "day": lines["day"].to_numpy(np.int64),
            "cp": lines["cp"].to_numpy(np.int64), "tf_name": lines["tf_name"].to_numpy(float),
            "has_counterpart": (lines["counterpart"] != "").to_numpy(bool),
            "has_document": lines["has_document"].to_numpy(bool),
            "token": np.where(has_token, line_token, -1)}
    parcela = {"open": parcelas["open"].to_numpy(np.int64),
               "due": parcelas["due"].to_numpy(np.int64),
               "nm": parcelas["nm"].to_numpy(np.int64),
               "contact": parcelas["contact"].to_numpy(np.int64),
               "has_name": (parcelas["name"] != "").to_numpy(bool),
               "has_document": parcelas["has_document"].to_numpy(bool),
               "token": parcela_token,
               **{c: parcelas[c].to_numpy(float) for c in TF_PARCELA}}
    alias = store.query_frame("SELECT counterpart, contact_id FROM m_alias")
    alias_cp = pd.Index(vocab.counterparts).get_indexer(alias["counterpart"])
    contact = pd.Index(_code_values(parcelas["contact_id"], parcela["contact"])).get_indexer(
        alias["contact_id"])
    known = (alias_cp >= 0) & (contact >= 0)
    keys = key_index(store, len(lines), len(parcelas))
    sides = Sides(line, parcela, np.zeros(0, np.int64), keys, np.zeros(0, np.int64))
    rejected = store.query_arrays("SELECT lid, pid FROM m_rejected")
    return Sides(line, parcela, sorted_unique(sides.alias_code(alias_cp[known], contact[known])),
                 keys, sorted_unique(sides.pair_code(rejected["lid"], rejected["pid"])))


def _ordered_pairs(lid: np.ndarray, pid: np.ndarray, sides: Sides) -> np.ndarray:
    """Codes of the distinct pairs, sorted by (lid, pid): the order every later tie-break
    relies on."""
    return sorted_unique(sides.pair_code(lid, pid))


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique by a sort: numpy 2's default hashes first and took 60x longer here."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def _in_sorted(values: np.ndarray, ordered: np.ndarray | None) -> np.ndarray:
    """Whether each value is in `ordered` (sorted): a binary search per value, no hash."""
    if ordered is None or len(ordered) == 0:
        return np.zeros(len(values), bool)
    at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    return ordered[at] == values


def pair_features(sides: Sides, lid: np.ndarray, pid: np.ndarray, same_document: np.ndarray,
                  same_number: np.ndarray) -> pd.DataFrame:
    """What scoring needs per pair: numbers and codes, no strings. Term frequencies are not
    among them: scoring gathers them for the few pairs whose u uses them."""
    line, parcela = sides.line, sides.parcela
    gathered = side_columns(sides, lid, pid)
    return frame_of({
        "lid": lid, "pid": pid, **gathered, "nm": parcela["nm"][pid],
        "same_document": same_document, "same_number": same_number,
        "line_has_document": line["has_document"][lid] & parcela["has_document"][pid],
        "known_alias": _known_alias(sides, gathered["cp"], gathered["contact"])})


# The columns of a pair that are its sides' values, gathered by lid and pid.
SIDE_COLUMNS = ["amt", "open", "lag", "cp", "contact", "has_counterpart", "has_name"]


def side_columns(sides: Sides, lid: np.ndarray, pid: np.ndarray) -> dict[str, np.ndarray]:
    line, parcela = sides.line, sides.parcela
    return {"amt": line["amt"][lid], "open": parcela["open"][pid],
            "lag": line["day"][lid] - parcela["due"][pid], "cp": line["cp"][lid],
            "contact": parcela["contact"][pid], "has_counterpart": line["has_counterpart"][lid],
            "has_name": parcela["has_name"][pid]}


def _known_alias(sides: Sides, cp: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """Pairs whose memo counterpart was confirmed before for the parcela's contact. Most
    runs know few aliases or none: then no pair needs its code looked up."""
    if len(sides.aliases) == 0:
        return np.zeros(len(cp), bool)
    return (contact >= 0) & np.isin(sides.alias_code(cp, contact), sides.aliases)


def frame_of(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """A frame over these arrays, one block per column. pandas would otherwise copy them
    into one 2-D block per dtype, and then copy that block again each time scoring sets a
    column of it or a concat joins two such frames."""
    return pd.DataFrame(columns, copy=False)


def stacked(passes: list[dict[str, np.ndarray]], names: list[str], keep: list[np.ndarray],
            offsets: list[dict[str, int]]) -> pd.DataFrame:
    """The kept rows of the columns `names` of the passes' pairs, one pass after the other,
    each pass's values of a column in `offsets` shifted by its offset there. Each column's
    kept rows are written once, into the stacked array (pandas' concat of equal block
    layouts took 0.2-0.5 s for 800k pairs and a boolean .loc as long again; a mask, then a
    concatenate, copied every value twice), and the passes' arrays of it are let go (popped)
    as soon as it is: the next column stacked reuses their memory."""
    sizes = [int(np.count_nonzero(k)) for k in keep]
    ends = np.cumsum(sizes)
    columns = {}
    for c in names:
        out = np.empty(int(ends[-1]), passes[0][c].dtype)
        for columns_of, kept, offset, end, size in zip(passes, keep, offsets, ends, sizes,
                                                       strict=True):
            part = out[end - size:end]
            np.compress(kept, columns_of.pop(c), out=part)
            if offset.get(c, 0):
                part += np.asarray(offset[c], part.dtype)
        columns[c] = out
    return frame_of(columns)


def _some_evidence(sides: Sides, lid: np.ndarray, pid: np.ndarray, same_key: np.ndarray,
                   terms: LateTerms) -> np.ndarray:
    """Inexact-amount pairs worth scoring: the arithmetic explains the amount, or a key or
    the payer's name token is shared. The rest (a different payer at a nearby amount) could
    never be proposed, and scoring their names is most of the band pass's cost."""
    line, parcela = sides.line, sides.parcela
    token = line["token"][lid]
    found = explain(line["amt"][lid], parcela["open"][pid],
                    line["day"][lid] - parcela["due"][pid], terms)
    return (found.late | found.discount | same_key
            | ((token >= 0) & (token == parcela["token"][pid])))


SERIES_GAP_DAYS = 5


def other_period(pairs: pd.DataFrame) -> np.ndarray:
    """Pairs that are another period's occurrence of a recurring payment: the same contact
    and amount has an open parcela at least SERIES_GAP_DAYS nearer the line's date (or a
    line naming the parcela's contact paid the same amount nearer its due date). A weekly
    supplier's payment pays this week's parcela, not last week's left open, so such pairs
    are not rivals when judging how clear a match is (they still compete in assignment)."""
    distance = np.abs(pairs["lag"].to_numpy())
    flagged = np.zeros(len(pairs), bool)
    strong_name = pairs["name_level"].to_numpy() <= 1
    contact = pairs["contact"].to_numpy()
    for keys, known in (((pairs["open"], contact, pairs["lid"]), contact >= 0),
                        ((pairs["amt"], pairs["pid"]), strong_name)):
        # Only known pairs are flagged, and their groups hold no other pair (the contact
        # or the strong name is part of the key): the groups of the known pairs alone.
        rows = np.flatnonzero(known)
        nearest = group_min(distance[rows], *(np.asarray(k)[rows] for k in keys))
        flagged[rows] |= distance[rows] >= nearest + SERIES_GAP_DAYS
    return flagged


def group_min(values: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """Per row, the least value among the rows equal in every key (integer keys, the last
    one primary): runs of a sort by the keys, reduced. Hashing the keys into group codes
    and np.minimum.at took 5 s for 4M pairs."""
    if len(values) == 0:
        return values
    order = lexsorted(*keys)
    changes = np.zeros(len(order), bool)
    for key in keys:
        ordered = key[order]
        changes[1:] |= ordered[1:] != ordered[:-1]
    run = np.cumsum(changes)
    least = np.minimum.reduceat(values[order], np.flatnonzero(np.r_[True, changes[1:]]))
    out = np.empty_like(least, shape=len(values))
    out[order] = least[run]
    return out


# -- 5. storing ---------------------------------------------------------------------------

CANDIDATE_COLUMNS = ["line_key", "parcela_id", "amount_diff_cents", "lag_days", "name_sim",
                     "amount_level", "date_level", "name_level", "key_level", "amount_bits",
                     "date_bits", "name_bits", "key_bits", "weight", "probability"]


def candidates_table(run_id: str, pairs: pd.DataFrame, lines: pd.DataFrame,
                     parcelas: pd.DataFrame) -> pa.Table:
    """The candidate_pairs rows of the run's pairs, as Arrow. Keys by position: each side's
    keys (the staged frames', in id order, already Arrow) taken per pair by Arrow; the pairs
    go in as they are, not through a temp table and two joins."""
    line_key = pa.array(lines["line_key"].array)
    parcela_id = pa.array(parcelas["parcela_id"].array)
    lid, pid = pairs["lid"].to_numpy(), pairs["pid"].to_numpy()
    values = {"amount_diff_cents": (pairs["amt"] - pairs["open"]).to_numpy(),
              "lag_days": pairs["lag"].to_numpy(), **{c: pairs[c].to_numpy()
                                                      for c in CANDIDATE_COLUMNS[4:]}}
    return pa.table({
        "run_id": pa.DictionaryArray.from_arrays(np.zeros(len(pairs), np.int8), [run_id]),
        "line_key": line_key.take(lid), "parcela_id": parcela_id.take(pid),
        # from_pandas: NaN goes in as NULL, as DuckDB reads it from a pandas frame
        **{c: pa.array(v, from_pandas=True) for c, v in values.items()}})


def store_outcome(store: Store, run_id: str, outcome: Outcome) -> None:
    store.insert_frame("decisions", outcome.decisions.assign(run_id=run_id))
    store.insert_frame("allocations", outcome.allocations.assign(run_id=run_id))
