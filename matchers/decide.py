"""Decision zones for assigned pairs, one-to-many splits, and what each baixa would carry.

A pair settles automatically only when its probability is high, its amount is exact or
fully explained (multa + juros, an early-payment discount), and it leads every rival (the
line's other parcelas, the parcela's other lines) by `min_margin_bits`: twenty R$ 99,90
subscriptions due the same day go to a person unless the names tell them apart. Everything
else above the review floor is proposed for review; the rest is unmatched.

Decisions are stored as columns (probability, rival, margin, a reason code) next to the
per-signal bits of `candidate_pairs`; `matchers.explain` turns them into sentences where
they are shown, so a million automatic decisions do not cost a million formatted strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matchers.arithmetic import LateTerms, explain
from matchers.assign import line_weight_order
from matchers.model import AMOUNT_LEVELS, KEY_LEVELS, NAME_LEVELS, Model

AUTO_AMOUNT_LEVELS = tuple(AMOUNT_LEVELS.index(n) for n in ("exact", "late_fees", "discount"))
PAIR_KIND = {AMOUNT_LEVELS.index("exact"): "one_to_one",
             AMOUNT_LEVELS.index("late_fees"): "late_fees",
             AMOUNT_LEVELS.index("discount"): "discount",
             AMOUNT_LEVELS.index("close"): "close_amount",
             AMOUNT_LEVELS.index("partial"): "partial"}
KIND_NAMES = np.array([PAIR_KIND[level] for level in range(len(AMOUNT_LEVELS))], object)
DECISION_COLUMNS = ["line_key", "parcela_id", "decision", "kind", "score", "runner_up_score",
                    "margin_bits", "rival_line_key", "rival_parcela_id", "reason_code", "detail"]
ALLOCATION_COLUMNS = ["line_key", "parcela_id", "kind", "amount_cents", "gross_cents",
                      "multa_cents", "juros_cents", "desconto_cents", "taxa_cents", "days_late"]


@dataclass(frozen=True, slots=True)
class Zones:
    auto_probability: float = 0.99
    review_probability: float = 0.30
    min_margin_bits: float = 4.0  # the best pair at least 2^4 = 16 times likelier than a rival


@dataclass
class Outcome:
    decisions: pd.DataFrame  # DECISION_COLUMNS, one row per line
    allocations: pd.DataFrame  # ALLOCATION_COLUMNS, one row per (line, parcela) proposed

    def replacing(self, decisions: pd.DataFrame, allocations: pd.DataFrame) -> Outcome:
        """These lines decided anew (a later pass found them a split or a batch)."""
        lines = decisions["line_key"]
        replaced = is_in(self.decisions["line_key"], lines)
        kept = self.decisions[~replaced]
        kept_allocations = self.allocations[~is_in(self.allocations["line_key"], lines)]
        merged = pd.concat([kept, decisions], ignore_index=True)
        return Outcome(
            _in_key_order(merged, self.decisions["line_key"], replaced, lines),
            pd.concat([kept_allocations, allocations[ALLOCATION_COLUMNS]], ignore_index=True))


def _in_key_order(merged: pd.DataFrame, before: pd.Series, replaced: np.ndarray,
                  lines: pd.Series) -> pd.DataFrame:
    """merged (the kept decisions, then the new ones) sorted by line_key. When the decisions
    were in key order, one per line, and each new one replaces one of them, each row goes
    where its line's row was: an integer sort, not one of a million strings (1 s)."""
    keys = pa.array(lines, pa.large_string())
    if not (strictly_increasing(before) and len(pc.unique(keys)) == len(keys)
            and int(replaced.sum()) == len(keys)):
        return merged.sort_values("line_key", ignore_index=True)
    place = np.empty(len(keys), np.int64)
    place[pc.sort_indices(keys).to_numpy()] = np.flatnonzero(replaced)
    return merged.take(np.argsort(np.r_[np.flatnonzero(~replaced), place])).reset_index(
        drop=True)


def strictly_increasing(keys: pd.Series) -> bool:
    """Are these string keys sorted and distinct (one comparison of neighbours in Arrow)?"""
    keys = pa.array(keys, pa.large_string())
    return len(keys) < 2 or bool(pc.all(pc.greater(keys.slice(1), keys.slice(0, len(keys) - 1)))
                                 .as_py())


def is_in(values: pd.Series, wanted: pd.Series) -> np.ndarray:
    """values.isin(wanted) for columns of string keys, by Arrow's hash lookup: pandas'
    isin, and an Index's get_indexer, made a Python object of every key (3 s at 1M)."""
    values, wanted = pa.array(values, pa.large_string()), pa.array(wanted, pa.large_string())
    return pc.is_in(values, value_set=wanted).to_numpy(zero_copy_only=False)


def rows_of_lines(decisions: pd.DataFrame, lines: pd.DataFrame) -> np.ndarray:
    """Per line, the position of its decision. Decisions come one per line in the lines'
    order (line_key), which one comparison of the two key columns confirms; otherwise the
    keys are looked up."""
    keys = decisions["line_key"]
    if len(keys) == len(lines) and bool((keys.array == lines["line_key"].array).all()):
        return np.arange(len(lines))
    return pd.Index(keys).get_indexer(lines["line_key"])


def decision_frame(line_key, decision, reason_code, **columns) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Decision rows with every column; columns not given are empty."""
    empty = {"score": np.nan, "runner_up_score": np.nan}
    data = {c: columns.get(c, empty.get(c)) for c in DECISION_COLUMNS}
    if not isinstance(line_key, pd.api.extensions.ExtensionArray):  # else keys as they are
        line_key = np.asarray(line_key, object)
    data.update(line_key=line_key, decision=decision, reason_code=reason_code)
    return pd.DataFrame(data, index=pd.RangeIndex(len(data["line_key"])))[DECISION_COLUMNS]


def decide(lines: pd.DataFrame, parcelas: pd.DataFrame, pairs: pd.DataFrame,
           chosen: np.ndarray, best_other: np.ndarray, rival: np.ndarray, zones: Zones,
           terms: LateTerms, model: Model) -> Outcome:
    # Keys stay Arrow strings, taken by position: a million of them as Python objects, and
    # back, took seconds.
    line_key, parcela_id = lines["line_key"].array, parcelas["parcela_id"].array
    lid, pid = pairs["lid"].to_numpy(), pairs["pid"].to_numpy()
    weight, prob = pairs["weight"].to_numpy(), pairs["probability"].to_numpy()
    level = pairs["amount_level"].to_numpy()[chosen]
    p = prob[chosen]
    margin = weight[chosen] - best_other
    # A memo that names someone, against a parcela with no contact to compare the name with:
    # the name is unknown, not absent evidence, and a person should look.
    # So is a memo naming someone other than the contact (a relative or a stranger paying):
    # automatic settlement needs the name to agree, or the memo to name nobody.
    # A CPF/CNPJ or a counterpart confirmed before for this contact vouches for the payer.
    name_level = pairs["name_level"].to_numpy()[chosen]
    vouched = np.isin(pairs["key_level"].to_numpy()[chosen],
                      [KEY_LEVELS.index("same_document"), KEY_LEVELS.index("known_alias")])
    unverifiable = ~vouched & (
        (pairs["has_counterpart"].to_numpy(bool)[chosen]
         & ~pairs["has_name"].to_numpy(bool)[chosen])
        | ~np.isin(name_level, [NAME_LEVELS.index("name>=0.97"), NAME_LEVELS.index("name>=0.90"),
                                NAME_LEVELS.index("no_name")]))
    zone, code = _zones(p, margin, level, zones, unverifiable)
    rival_prob = np.where(rival >= 0, prob[np.maximum(rival, 0)], np.nan)
    # The rival's line and parcela, where they are not the chosen pair's own (-1: none).
    rival_lid = np.where(rival >= 0, lid[np.maximum(rival, 0)], -1)
    rival_pid = np.where(rival >= 0, pid[np.maximum(rival, 0)], -1)
    decided = decision_frame(
        line_key.take(lid[chosen]), zone, code, parcela_id=parcela_id.take(pid[chosen]),
        kind=KIND_NAMES[level], score=p, runner_up_score=rival_prob,
        margin_bits=np.where(np.isfinite(margin), margin, None),
        rival_line_key=line_key.take(np.where(rival_lid == lid[chosen], -1, rival_lid),
                                     allow_fill=True),
        rival_parcela_id=parcela_id.take(np.where(rival_pid == pid[chosen], -1, rival_pid),
                                         allow_fill=True))
    decided.loc[zone == "unmatched", ["parcela_id", "kind"]] = None
    undecided = np.ones(len(lines), bool)
    undecided[lid[chosen]] = False
    undecided = np.flatnonzero(undecided)
    rest = _undecided(undecided, lid, pid, weight, line_key, parcela_id)
    decisions = pd.concat([decided, rest], ignore_index=True)
    # In line order, which is key order when the lines come sorted (as the engine stages
    # them): an integer sort instead of one of a million strings.
    decisions = (decisions.take(np.argsort(np.r_[lid[chosen], undecided])).reset_index(
        drop=True) if strictly_increasing(lines["line_key"])
        else decisions.sort_values("line_key", ignore_index=True))
    allocations = _allocations(pairs.iloc[chosen[zone != "unmatched"]], line_key, parcela_id,
                               terms)
    return Outcome(decisions, allocations)


def _undecided(undecided: np.ndarray, lid: np.ndarray, pid: np.ndarray, weight: np.ndarray,
               line_key: pd.api.extensions.ExtensionArray,
               parcela_id: pd.api.extensions.ExtensionArray) -> pd.DataFrame:
    """Lines the assignment left alone; the best candidate each had is kept as its rival,
    so the report can show what was closest and why it was not enough."""
    order = by_line_then_weight(lid, weight, pid)
    first = order[np.r_[True, lid[order][1:] != lid[order][:-1]]] if len(order) else order
    best_of_line = np.full(len(line_key), -1)
    best_of_line[lid[first]] = first
    best = best_of_line[undecided]
    has_pairs = best >= 0
    best_pair = np.maximum(best, 0)
    positive = has_pairs & (weight[best_pair] > 0) if len(weight) else has_pairs
    return decision_frame(
        line_key.take(undecided), "unmatched",
        np.select([positive, has_pairs], ["candidates_taken", "below_review"], "no_candidate"),
        rival_parcela_id=parcela_id.take(np.where(has_pairs, pid[best_pair], -1)
                                         if len(pid) else np.full(len(undecided), -1),
                                         allow_fill=True))


def by_line_then_weight(lid: np.ndarray, weight: np.ndarray, pid: np.ndarray) -> np.ndarray:
    """np.lexsort((pid, -weight, lid)); the engine's candidates already come in that order,
    checked in one pass, so the sort of millions of pairs is only paid when they do not."""
    same = lid[1:] == lid[:-1]
    ordered = bool(np.all(lid[1:] >= lid[:-1]) and np.all(
        ~same | (weight[1:] < weight[:-1]) | ((weight[1:] == weight[:-1]) & (pid[1:] > pid[:-1]))))
    return np.arange(len(lid)) if ordered else line_weight_order(lid, weight, pid)


def _zones(p: np.ndarray, margin: np.ndarray, level: np.ndarray, zones: Zones,
           unverifiable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    explained = np.isin(level, AUTO_AMOUNT_LEVELS)
    clear = margin >= zones.min_margin_bits
    code = np.select(
        [p < zones.review_probability, ~explained, p < zones.auto_probability, ~clear,
         unverifiable],
        ["below_review", "amount_not_explained", "below_auto", "ambiguous", "name_unverifiable"],
        "auto")
    zone = np.select([code == "below_review", code == "auto"], ["unmatched", "auto"], "review")
    return zone, code


def _allocations(chosen: pd.DataFrame, line_key: pd.api.extensions.ExtensionArray,
                 parcela_id: pd.api.extensions.ExtensionArray, terms: LateTerms) -> pd.DataFrame:
    """The baixa each proposed pair would write: what the line paid, split into parts."""
    level = chosen["amount_level"].to_numpy()
    paid, open_cents = chosen["amt"].to_numpy(np.int64), chosen["open"].to_numpy(np.int64)
    parts = explain(paid, open_cents, chosen["lag"].to_numpy(np.int64), terms)
    late = level == AMOUNT_LEVELS.index("late_fees")
    discount = level == AMOUNT_LEVELS.index("discount")
    # A partial or merely close payment records what arrived, as principal: never the rest.
    gross = np.where(late | discount | (level == AMOUNT_LEVELS.index("exact")), open_cents, paid)
    return pd.DataFrame({
        "line_key": line_key.take(chosen["lid"].to_numpy()),
        "parcela_id": parcela_id.take(chosen["pid"].to_numpy()),
        "kind": KIND_NAMES[level], "amount_cents": paid, "gross_cents": gross,
        "multa_cents": np.where(late, parts.multa, 0),
        "juros_cents": np.where(late, parts.juros, 0),
        "desconto_cents": np.where(discount, parts.desconto, 0),
        "taxa_cents": 0,
        "days_late": np.where(late, parts.days_late, 0)})[ALLOCATION_COLUMNS]


def splits(outcome: Outcome, lines: pd.DataFrame, parcelas: pd.DataFrame,
           pairs: pd.DataFrame) -> Outcome:
    """One parcela paid by two transfers: two lines, each less than the parcela, the same
    counterpart, adding up to its open amount exactly. Proposed for review as one group,
    each line a partial baixa; never automatic, never the parcela settled by one of them."""
    line_key = lines["line_key"].array
    auto = outcome.decisions["decision"].to_numpy() == "auto"
    auto_by_lid = auto[rows_of_lines(outcome.decisions, lines)]
    lid = pairs["lid"].to_numpy()
    # Two transfers of one payer: only lines whose memo names someone, joined on the
    # parcela and the name at once (joined on the parcela alone, a common first name's
    # partial candidates met each other by the million at dense 1M, all thrown away).
    keep = ((pairs["amount_level"].to_numpy() == AMOUNT_LEVELS.index("partial"))
            & ~auto_by_lid[lid] & pairs["has_counterpart"].to_numpy(bool))
    partial = pairs.loc[keep, ["lid", "pid", "amt", "open", "cp", "weight", "probability"]]
    if partial.empty:
        return outcome
    both = partial.merge(partial, on=["pid", "cp"], suffixes=("_a", "_b"))
    both = both[(both["lid_a"] < both["lid_b"]) & (both["amt_a"] + both["amt_b"] == both["open_a"])]
    if both.empty:
        return outcome
    both = both.assign(w=both["weight_a"] + both["weight_b"]).sort_values(
        ["w", "pid"], ascending=[False, True])
    parcela_id = parcelas["parcela_id"].array
    holder = _holders(outcome.allocations, line_key, parcela_id, both["pid"].to_numpy(),
                      np.r_[both["lid_a"].to_numpy(), both["lid_b"].to_numpy()])
    # The greedy pick goes by integer ids: Arrow keys taken one by one cost 14 µs each.
    used_lines: set[int] = set()
    rows = []  # (lid, pid, amount, probability) per line of an accepted split
    for lid_a, lid_b, pid, amt_a, amt_b, p_a, p_b in zip(*(both[c].tolist() for c in (
            "lid_a", "lid_b", "pid", "amt_a", "amt_b", "probability_a", "probability_b")),
            strict=True):
        if lid_a in used_lines or lid_b in used_lines:
            continue
        if holder.get(pid, lid_a) not in (lid_a, lid_b):
            continue  # another line holds the parcela
        used_lines.update((lid_a, lid_b))
        holder[pid] = lid_a
        rows += [(lid_a, pid, amt_a, p_a), (lid_b, pid, amt_b, p_b)]
    # Keys for the accepted rows only, in one take each; the frames are built as before.
    lid, pid, amount, score = (list(column) for column in zip(*rows, strict=True)) if rows \
        else ([], [], [], [])
    keys = np.asarray(line_key.take(np.array(lid, np.int64)), object).tolist()
    parcela_ids = np.asarray(parcela_id.take(np.array(pid, np.int64)), object).tolist()
    split = decision_frame(keys, "review", "split_payment", parcela_id=parcela_ids, kind="split",
                           score=score)
    allocations = pd.DataFrame(
        [(k, p, "split", a, a, 0, 0, 0, 0, 0) for k, p, a in zip(keys, parcela_ids, amount,
                                                                   strict=True)],
        columns=ALLOCATION_COLUMNS)
    return outcome.replacing(split, allocations)


def _holders(allocations: pd.DataFrame, line_key: pd.api.extensions.ExtensionArray,
             parcela_id: pd.api.extensions.ExtensionArray, pids: np.ndarray,
             lids: np.ndarray) -> dict[int, int]:
    """pid -> lid of the line holding it (the last allocation of it, as a dict of all of
    them would say), for the parcelas `pids`. A split only asks whether the holder is one
    of its two lines, so holders are looked up among `lids` alone; any other line holds
    as -1, which is no line."""
    pids, lids = np.unique(pids), np.unique(lids)
    wanted = pd.Series(parcela_id.take(pids))
    held = allocations[is_in(allocations["parcela_id"], wanted)]
    pid = pids[pd.Index(wanted).get_indexer(held["parcela_id"])]
    at = pd.Index(line_key.take(lids)).get_indexer(held["line_key"])
    lid = np.where(at >= 0, lids[np.maximum(at, 0)], -1)
    return dict(zip(pid.tolist(), lid.tolist(), strict=True))
