"""Signals of each candidate pair -> comparison levels -> Fellegi-Sunter weights.

Pure numpy over the candidate frame; the engine fetches the frame and stores the result.
Each signal keeps its own columns (level and bits), so the explanation of a decision is the
list of its contributions, and the report can show which signal carried it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from matchers.arithmetic import Explained, LateTerms, explain
from matchers.model import (
    AMOUNT_LEVELS,
    DISCOUNT_DATE,
    KEY_LEVELS,
    Model,
    date_level,
    name_level,
    observed,
    tf_u,
)

# Ways an unrelated amount can pass the late/discount arithmetic: 3 charge variants x 3
# compensation shifts x 3 centavos of slack, each one centavo value (see cent_density).
EXPLAINED_CHANCES = 27
EM_ROUNDS = 2
EM_PSEUDOCOUNT = 50.0  # the priors' weight, in pairs, while m is re-estimated from the run
TOP_NAME_SCORE = 100.0
START_CHARS = 3
MIN_PREFIX = 6  # a memo name this long or longer may be a bank's truncation of the contact's


@dataclass(frozen=True)
class Vocab:
    """The run's distinct memo counterparts and contact names; pairs refer to them by code,
    so no string is fetched or copied per pair."""

    counterparts: np.ndarray  # object
    names: np.ndarray  # object
    _starts: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, counterparts: np.ndarray, names: np.ndarray) -> Vocab:
        return cls(np.asarray(counterparts, object), np.asarray(names, object))

    def starts(self) -> tuple[np.ndarray, np.ndarray]:
        """Codes of each string's first START_CHARS characters, comparable across sides."""
        if self._starts is None:
            heads = pd.Series(np.concatenate([self.counterparts, self.names])).str[:START_CHARS]
            codes = pd.factorize(heads)[0]
            object.__setattr__(self, "_starts", (codes[:len(self.counterparts)],
                                                 codes[len(self.counterparts):]))
        return self._starts


def name_similarity(cp: np.ndarray, nm: np.ndarray, vocab: Vocab) -> np.ndarray:
    """Name similarity per pair in [0, 1] (NaN where the memo names nobody or the parcela has
    no contact): WRatio, or where one name may be a bank's cut of the other, the ratio of the
    shorter against the longer cut to its length ('ANTONIO CO' vs 'ANTONIO COSTA LIMA' is
    1.0). Measured in benchmarks/name_scorers.py: the best separation of the true contact
    from look-alikes (AUC 0.999); token_set_ratio gave 1.0 to reordered names. Computed
    once per distinct (counterpart, name) pair, in two native rapidfuzz passes."""
    out = np.full(len(cp), np.nan)
    cp_len = np.fromiter((len(x) for x in vocab.counterparts), np.int64, len(vocab.counterparts))
    nm_len = np.fromiter((len(x) for x in vocab.names), np.int64, len(vocab.names))
    known = (cp >= 0) & (nm >= 0)
    known[known] = (cp_len[cp[known]] > 0) & (nm_len[nm[known]] > 0)
    if not known.any():
        return out
    width = max(len(vocab.names), 1)
    unique, inverse = distinct_codes(cp[known].astype(np.int64) * width + nm[known])
    ca, nb = unique // width, unique % width
    a, b = vocab.counterparts[ca], vocab.names[nb]
    scores = pairwise(a, b, fuzz.WRatio)
    la, lb = cp_len[ca], nm_len[nb]
    short_len = np.minimum(la, lb)
    # The cut comparison can only raise a score: skip pairs already at the top level, and
    # pairs whose names start differently (a bank's cut keeps the start of the name).
    same_start = vocab.starts()[0][ca] == vocab.starts()[1][nb]
    cut = np.flatnonzero((short_len >= MIN_PREFIX) & (la != lb) & (scores < TOP_NAME_SCORE)
                         & same_start)
    if len(cut):
        a_is_short = la[cut] < lb[cut]
        shorts = np.where(a_is_short, a[cut], b[cut])
        prefix = pairwise(shorts, np.asarray(_cut_to(np.where(a_is_short, b[cut], a[cut]),
                                                     short_len[cut]), object), fuzz.ratio)
        scores[cut] = np.maximum(scores[cut], prefix)
    out[known] = scores[inverse] / 100.0
    return out


# Pairs per rapidfuzz call. A call holds its view of every string it is given at once
# (about 90 bytes a pair: +491 MB for 5.1M name pairs in one call, +69 MB chunked), and on these
# VMs memory not used recently costs 8-9 ms a MB to touch (BENCHMARKS.md); chunks
# reuse the same few MB.
NAME_CHUNK = 1 << 18


def pairwise(a: np.ndarray, b: np.ndarray, scorer: Callable[..., float]) -> np.ndarray:
    """scorer(a[i], b[i]) for each i (object arrays of str), on every core, by chunks."""
    out = np.empty(len(a))
    for start in range(0, len(a), NAME_CHUNK):
        end = start + NAME_CHUNK
        out[start:end] = process.cpdist(a[start:end].tolist(), b[start:end].tolist(),
                                        scorer=scorer, workers=-1)
    return out


def distinct_codes(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct values of non-negative codes, and each code's index among them.
    pd.factorize hashes: with millions of distinct codes its table misses the cache on
    every probe (2 s for 7M codes at 1M). Sorting each code with its position packed into
    the low bits is one native sort of integers (0.2 s), and gives both."""
    n = len(codes)
    shift = max(n - 1, 1).bit_length()
    if n == 0 or int(codes.max()).bit_length() + shift > 63:
        inverse, unique = pd.factorize(codes, sort=True)
        return np.asarray(unique, np.int64), inverse
    packed = np.sort((codes << shift) | np.arange(n, dtype=np.int64))
    ordered = packed >> shift
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    inverse = np.empty(n, np.int64)
    inverse[packed & ((1 << shift) - 1)] = np.cumsum(first) - 1
    return ordered[first], inverse


def _cut_to(texts: np.ndarray, lengths: np.ndarray) -> list[str]:
    """Each text cut to its length. A Python slice per text: the vectorised cut (fixed-width
    code points, tail zeroed) copied every text at the longest one's width, 12x slower
    (9 s of the dense 1M run)."""
    return [text[:length] for text, length in zip(texts.tolist(), lengths.tolist(),
                                                  strict=True)]


@dataclass(frozen=True)
class Scored:
    frame: pd.DataFrame  # the candidate frame plus levels and weight
    codes: BitCodes  # the frame's COMBINATION_COLUMNS index these tables


def amount_level(paid: np.ndarray, open_cents: np.ndarray, explained: Explained,
                 band_pct: float) -> np.ndarray:
    close = np.abs(paid - open_cents) * 10_000 <= open_cents * round(band_pct * 100)
    level = np.select(
        [paid == open_cents, explained.late, explained.discount, close, paid < open_cents],
        [AMOUNT_LEVELS.index(name) for name in AMOUNT_LEVELS], default=-1)
    return level.astype(np.int8)


def key_level(frame: pd.DataFrame) -> np.ndarray:
    same_doc = frame["same_document"].to_numpy(bool)
    same_number = frame["same_number"].to_numpy(bool)
    alias = frame["known_alias"].to_numpy(bool)
    other_doc = frame["line_has_document"].to_numpy(bool) & ~same_doc
    return np.select([same_doc, same_number, alias, other_doc],
                     [KEY_LEVELS.index(k) for k in KEY_LEVELS[:4]],
                     default=KEY_LEVELS.index("no_key")).astype(np.int8)


def levels(frame: pd.DataFrame, terms: LateTerms, band_pct: float, vocab: Vocab
           ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Comparison levels per signal, and the name similarity."""
    paid, open_cents = frame["amt"].to_numpy(np.int64), frame["open"].to_numpy(np.int64)
    lag = frame["lag"].to_numpy(np.int64)
    # The amount first: the arithmetic's parts (four integers per pair) are let go before
    # the name comparison, the stage of the run holding the most memory.
    amount = amount_level(paid, open_cents, explain(paid, open_cents, lag, terms), band_pct)
    similarity = name_similarity(frame["cp"].to_numpy(np.int64), frame["nm"].to_numpy(np.int64),
                                 vocab)
    return ({"amount": amount, "date": date_level(lag), "name": name_level(similarity),
             "key": key_level(frame)}, similarity)


@dataclass(frozen=True)
class TermFrequencies:
    """The term frequencies u_overrides reads, per parcela (by pid) and per line (by lid):
    a pair's are gathered only for the pairs whose u uses them (most pairs use one or
    none), not copied into every pair's frame."""

    parcela: Mapping[str, np.ndarray]  # tf_amount, tf_amount_others, tf_contact, tf_unit,
    # cent_density
    line: Mapping[str, np.ndarray]  # tf_name

    def at(self, column: str, frame: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
        """The column's value for the pairs at these rows of frame."""
        if column in self.line:
            return self.line[column][frame["lid"].to_numpy()[rows]]
        return self.parcela[column][frame["pid"].to_numpy()[rows]]


def score(frame: pd.DataFrame, model: Model, terms: LateTerms, band_pct: float,
          vocab: Vocab, tf: TermFrequencies) -> Scored:
    lv, similarity = levels(frame, terms, band_pct, vocab)
    codes = bit_codes(lv, u_overrides(frame, lv, model, tf), model)
    total = coded_total(codes, model)
    # Each pair's (level, u) combinations are kept: they do not change while EM
    # re-estimates m, so EM need not find them again from each pair's u. The bits per
    # signal are not: the candidate bound works them out, under EM's m, for the pairs it
    # keeps (four float columns of every pair scored, 700 MB at dense 1M, held for nothing).
    columns = {COMBINATION_COLUMNS[signal]: index.astype(np.int32)
               for signal, index in codes.index.items()}
    codes = replace(codes, index={})  # the frame holds the index, in half the bytes
    columns["name_sim"] = similarity
    for signal in lv:
        columns[f"{signal}_level"] = lv[signal]
    columns["weight"] = total
    return Scored(with_columns(frame, columns), codes)


def with_columns(frame: pd.DataFrame, columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """frame with these columns set or added, over the same arrays. Setting a frame's column
    copies the array (pandas' copy-on-write) and assign() copies the frame: 0.2 s for the
    17 columns scoring adds to 800k pairs, against 2 ms for a new frame over the arrays."""
    out = {c: frame[c].to_numpy() for c in frame.columns}
    out.update(columns)
    return pd.DataFrame(out, index=frame.index, copy=False)


SIGNAL_NAMES = ("amount", "date", "name", "key")
COMBINATION_COLUMNS = {signal: f"combination_{signal}" for signal in SIGNAL_NAMES}


def em(frame: pd.DataFrame, model: Model, tables: BitCodes, rounds: int = EM_ROUNDS
       ) -> tuple[Model, np.ndarray]:
    """`rounds` of expectation-maximisation of m over the run's candidate pairs (the run's
    own data sharpens m; u, from random pairs, stays): the model with the last m, and every
    pair's weight under it. Levels and u do not change between rounds: each pair's (level,
    u) combinations were found when it was scored (its COMBINATION_COLUMNS, into `tables`),
    each round's weights are computed per combination, and a round in between needs only
    each pair's share of its line (`line_share`). The bits per signal are left to
    `coded_weights`, for the pairs a caller keeps: at dense 1M, four float columns of 22M
    pairs of which the candidate bound keeps 8M."""
    if rounds <= 0 or len(frame) == 0:
        return model, frame["weight"].to_numpy()
    lv = {s: frame[f"{s}_level"].to_numpy() for s in SIGNAL_NAMES}
    codes = replace(tables, index={s: frame[c].to_numpy() for s, c in COMBINATION_COLUMNS.items()})
    lid, total = frame["lid"].to_numpy(), frame["weight"].to_numpy()
    for _ in range(rounds):
        model = em_m(lv, line_share(lid, total, model.unmatched), model)
        total = coded_total(codes, model)
    return model, total


def line_share(lid: np.ndarray, weight: np.ndarray, unmatched: float) -> np.ndarray:
    """How much each pair counts as a match when m is re-estimated: its share of its line
    (the line's candidates and 'none'), not its probability alone. Alone, a subscriber's
    other months (the same name and price, a month away) each counted nearly as a match,
    and m learned that payments come a month late: at dense 100k, m for 16-31 and 32+ days
    late came out 0.12 and 0.13 where the true matches show 0.02 and 0.004. Pairs in any
    order (a line's sums by bincount); weights within ±60 bits, as `probability` has them."""
    scaled = np.exp2(np.clip(weight, -60, 60))
    per_line = np.bincount(lid, weights=scaled)
    return scaled / (per_line[lid] + unmatched)


def line_posterior(lid: np.ndarray, weight: np.ndarray, unmatched: float,
                   rivals: np.ndarray) -> np.ndarray:
    """Per pair, the probability that its line pays its parcela rather than another of its
    candidates or none (pairs grouped by line, as the engine keeps them). A pair's own
    probability, 2^W / (1 + 2^W), weighs it against every other way the line could go as
    if each were still as likely as before any evidence; here the line's other candidates
    count with their own evidence, and 'none' with the prior chance of a line paying
    nothing. A full name on a plan price whose look-alikes the evidence ruled out is
    likelier than its pair alone says; two parcelas the evidence cannot tell apart share
    the line. Only `rivals` compete: another period's parcela of a recurring payment
    (`other_period`) is not this line's alternative, as it is not its runner-up."""
    if len(weight) == 0:
        return np.zeros(0)
    starts = np.r_[0, np.flatnonzero(lid[1:] != lid[:-1]) + 1]
    if np.any(lid[1:] < lid[:-1]):
        raise ValueError("line_posterior needs the pairs grouped by line")
    size = np.diff(np.r_[starts, len(weight)])
    top = np.repeat(np.maximum.reduceat(weight, starts), size)
    scaled = np.exp2(weight - top)  # at most 1: no overflow, whatever the weights
    pool = np.repeat(np.add.reduceat(np.where(rivals, scaled, 0.0), starts), size)
    total = pool + np.where(rivals, 0.0, scaled)  # a pair always counts itself
    return scaled / (total + unmatched * np.exp2(np.clip(-top, -1000, 1000)))


def em_m(lv: Mapping[str, np.ndarray], p: np.ndarray, model: Model) -> Model:
    """m re-estimated from the pairs: each pair counts towards its levels as much as it is
    likely a match (p). The priors stay in as pseudo-counts, so a small run cannot talk the
    model into anything."""
    m = {}
    for signal, prior in model.m.items():
        level, rows = observed(lv, signal)
        weight = p if rows is None else p[rows]
        valid = level >= 0
        if not valid.all():  # levels are rarely missing: copy only when some are
            level, weight = level[valid], weight[valid]
        counts = np.bincount(level, weights=weight, minlength=len(prior))
        m[signal] = np.maximum(
            (counts + EM_PSEUDOCOUNT * np.asarray(prior)) / (weight.sum() + EM_PSEUDOCOUNT),
            1e-4)
    return replace(model, m=m)


U_OVERRIDDEN = ("amount", "name", "key")


# What the arithmetic made of a pair's amount, as the date's bits depend on it.
NOT_EXPLAINED, LATE_FEES, DISCOUNTED = 0, 1, 2


def _explanation(amount_level: np.ndarray) -> np.ndarray:
    return np.select([amount_level == AMOUNT_LEVELS.index("late_fees"),
                      amount_level == AMOUNT_LEVELS.index("discount")],
                     [LATE_FEES, DISCOUNTED], NOT_EXPLAINED)


def u_overrides(frame: pd.DataFrame, lv: Mapping[str, np.ndarray], model: Model,
                tf: TermFrequencies) -> dict[str, np.ndarray]:
    """Per pair u for the signals whose chance agreement depends on the value: exact amounts
    and strong names by term frequency, explained amounts by centavo density, aliases by
    the contact's share. Each starts from its level's u, and the pairs a condition picks
    take the condition's u (the later assignment wins where two conditions hold)."""
    exact = lv["amount"] == AMOUNT_LEVELS.index("exact")
    strong_name = lv["name"] <= 1
    amount_u = np.asarray(model.u["amount"])[lv["amount"]]
    # An amount the arithmetic explains to the centavo is about as rare, by chance, as an
    # exact one: a few centavos of slack over the spread of amounts.
    rows = np.flatnonzero(_explanation(lv["amount"]) != NOT_EXPLAINED)
    amount_u[rows] = np.minimum(EXPLAINED_CHANCES * tf.at("cent_density", frame, rows), 1.0)
    rows = np.flatnonzero(exact)
    amount_u[rows] = tf.at("tf_amount", frame, rows)
    rows = np.flatnonzero(exact & strong_name)
    amount_u[rows] = tf.at("tf_amount_others", frame, rows)
    # A strong name agreement is as likely by chance as the name is common among the
    # parcelas: the contact's own share, or the share its truncated form reaches.
    name_u = np.asarray(model.u["name"])[lv["name"]]
    rows = np.flatnonzero(strong_name)
    name_u[rows] = np.maximum(np.maximum(tf.at("tf_contact", frame, rows),
                                         tf.at("tf_name", frame, rows)),
                              tf.at("tf_unit", frame, rows))
    # A memo counterpart confirmed before for this contact agrees by chance as often as the
    # contact's parcelas come up among all of them.
    key_u = np.asarray(model.u["key"])[lv["key"]]
    rows = np.flatnonzero(lv["key"] == KEY_LEVELS.index("known_alias"))
    key_u[rows] = np.maximum(tf.at("tf_contact", frame, rows), tf.at("tf_unit", frame, rows))
    return {"amount": amount_u, "name": name_u, "key": key_u}


@dataclass(frozen=True)
class BitCodes:
    """Per signal, the distinct (level, u) combinations the pairs take, and each pair's
    index into them. A pair's bits are its combination's: log2 is computed per combination
    (thousands) and gathered, not per pair (millions, each round of EM)."""

    index: Mapping[str, np.ndarray]  # per pair
    level: Mapping[str, np.ndarray]  # per combination
    u: Mapping[str, np.ndarray]  # per combination, for the U_OVERRIDDEN signals
    explanation: np.ndarray  # per date combination: NOT_EXPLAINED, LATE_FEES or DISCOUNTED


def joined_tables(parts: Sequence[BitCodes]) -> tuple[BitCodes, list[dict[str, int]]]:
    """The combination tables of several passes one after the other (a combination two
    passes share is there twice, with the same bits), and per pass the offset of its
    tables in them: what its pairs' indexes become when the passes' pairs are stacked.
    The index is left empty: the stacked pairs carry it."""
    offsets = [{s: sum(len(q.level[s]) for q in parts[:k]) for s in SIGNAL_NAMES}
               for k in range(len(parts))]
    tables = BitCodes(
        index={}, level={s: np.concatenate([q.level[s] for q in parts]) for s in SIGNAL_NAMES},
        u={s: np.concatenate([q.u[s] for q in parts]) for s in U_OVERRIDDEN},
        explanation=np.concatenate([q.explanation for q in parts]))
    return tables, offsets


def bit_codes(lv: Mapping[str, np.ndarray], u: Mapping[str, np.ndarray], model: Model
              ) -> BitCodes:
    index, level, u_of = {}, {}, {}
    for signal in U_OVERRIDDEN:
        index[signal], level[signal], u_of[signal] = _combinations(
            lv[signal], u[signal], np.asarray(model.u[signal]))
    # Date bits take no per-pair u (their level's); they depend on how the amount is
    # explained.
    n_date = len(model.u["date"])
    kinds = (NOT_EXPLAINED, LATE_FEES, DISCOUNTED)
    index["date"] = _explanation(lv["amount"]) * n_date + lv["date"].astype(np.int64)
    level["date"] = np.tile(np.arange(n_date), len(kinds))
    return BitCodes(index, level, u_of, np.repeat(kinds, n_date))


def _combinations(level: np.ndarray, u: np.ndarray, level_u: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pair's index into (level, u) combinations, and the combinations' levels and u:
    every level with every distinct u (a few thousand term frequencies). One hash of the
    u values and one multiply-add per pair: each further pass over millions of pairs cost
    as much as the log2 it saves."""
    n = len(level_u)
    if len(level) and level.min() < 0:  # level -1 indexes the last, as numpy's m[-1] did
        level = np.where(level < 0, level + n, level)
    codes, values = pd.factorize(u, use_na_sentinel=False)
    return (codes * n + level, np.tile(np.arange(n), len(values)),
            np.repeat(np.asarray(values, float), n))


def coded_weights(codes: BitCodes, model: Model) -> dict[str, np.ndarray]:
    """log2(m/u) per signal and pair, computed per combination of BitCodes."""
    return {signal: _signal_bits(codes, model, signal) for signal in SIGNAL_NAMES}


def coded_total(codes: BitCodes, model: Model) -> np.ndarray:
    """Each pair's weight: the prior and its bits of every signal, added as
    `prior + sum(coded_weights(...).values())` adds them (the same float result), one
    signal's array at a time instead of four held at once."""
    total = np.zeros(len(codes.index[SIGNAL_NAMES[0]]))
    for signal in SIGNAL_NAMES:
        total += _signal_bits(codes, model, signal)
    return np.add(total, model.prior_bits, out=total)


def _signal_bits(codes: BitCodes, model: Model, signal: str) -> np.ndarray:
    table = model.bits(signal, codes.level[signal], codes.u.get(signal))
    if signal == "date":
        # The late-fee arithmetic already used the date (juros are charged per day late),
        # so that lateness is no evidence against it. A discount only says the payment
        # came on or before the due date: how long before is weighed against random
        # pairs that did too.
        table = np.where(codes.explanation == LATE_FEES, np.maximum(table, 0.0), table)
        discounted = codes.explanation == DISCOUNTED
        table[discounted] = model.bits(DISCOUNT_DATE, codes.level["date"][discounted])
    return table[codes.index[signal]]


def sample_u_levels(lines: pd.DataFrame, parcelas: pd.DataFrame, terms: LateTerms,
                    band_pct: float, size: int, vocab: Vocab, seed: int = 7
                    ) -> dict[str, np.ndarray]:
    """Levels of random same-direction pairs: what unrelated pairs look like in this run."""
    rng = np.random.default_rng(seed)
    # Only the few columns levels read, taken by row number: a copy of each side's rows
    # (memos and keys included) cost more than the sample.
    line = {c: lines[c].to_numpy() for c in ("amt", "day", "cp", "has_document")}
    parcela = {c: parcelas[c].to_numpy() for c in ("open", "due", "nm", "has_document")}
    frames = []
    for direction in (0, 1):
        lside = np.flatnonzero(lines["dir"].to_numpy() == direction)
        pside = np.flatnonzero(parcelas["dir"].to_numpy() == direction)
        if len(lside) == 0 or len(pside) == 0:
            continue
        n = max(1, size * len(lside) // max(len(lines), 1))
        li = lside[rng.integers(0, len(lside), n)]
        pj = pside[rng.integers(0, len(pside), n)]
        frames.append(pd.DataFrame({
            "amt": line["amt"][li], "open": parcela["open"][pj],
            "lag": line["day"][li] - parcela["due"][pj],
            "cp": line["cp"][li], "nm": parcela["nm"][pj],
            "has_counterpart": True, "has_name": True,
            "same_document": False, "same_number": False, "known_alias": False,
            "line_has_document": line["has_document"][li] & parcela["has_document"][pj]}))
    if not frames:
        return {s: np.zeros(0, np.int8) for s in ("amount", "date", "name", "key")}
    sample = pd.concat(frames, ignore_index=True)
    lv, _ = levels(sample, terms, band_pct, vocab)
    lv["amount"] = np.where(lv["amount"] < 0, len(AMOUNT_LEVELS) - 1, lv["amount"]).astype(np.int8)
    # Random pairs are almost never on the same key; the floor in u_from_sample covers it.
    return lv


# Term frequencies are shares of at least this many parcelas. A small run's few open parcelas
# are not the world its payers and prices come from: with 7 parcelas a unique name would
# otherwise count as a 1-in-7 coincidence.
MIN_UNIVERSE = 1_000


def tf_columns(parcelas: pd.DataFrame) -> pd.DataFrame:
    """Share of same-direction parcelas with the same open amount, and with the same contact.
    `contact` is the frame's code of contact_id (-1 where there is none)."""
    # Each key factorized once and groups numbered by arithmetic on the codes (factorizing
    # each key again per group, and every million-row group code, was most of the cost).
    direction = pd.factorize(parcelas["dir"].to_numpy())[0]
    amount = _combined(direction, pd.factorize(parcelas["open"].to_numpy())[0])
    contact = parcelas["contact"].to_numpy() + 1  # 0: no contact id
    no_contact = (contact == 0) | (parcelas["contact_id"] == "").to_numpy(bool)
    per_dir = np.maximum(_sizes(direction), MIN_UNIVERSE)
    same_amount = _sizes(amount)
    same_contact = np.where(no_contact, per_dir, _sizes(_combined(direction, contact)))
    # Same amount, same contact: a weekly supplier's own parcelas. Once the name agrees, the
    # amount's coincidence is with other contacts' parcelas only (the name already counted
    # this contact's), or the two signals would discount the same parcelas twice.
    own = np.where(no_contact, 1, _sizes(pd.factorize(_combined(amount, contact))[0]))
    return parcelas.assign(tf_unit=1.0 / per_dir, tf_amount=tf_u(same_amount, 1) / per_dir,
                           tf_amount_others=tf_u(same_amount - own + 1, 1) / per_dir,
                           tf_contact=tf_u(same_contact, 1) / per_dir,
                           cent_density=cent_density(parcelas, per_dir))


def _combined(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """One code per pair of codes (both >= 0)."""
    return major * (minor.max(initial=-1) + 1) + minor


def _sizes(code: np.ndarray) -> np.ndarray:
    """Per row, how many rows share its code (codes >= 0)."""
    return np.bincount(code)[code]


def group_sizes(*keys: np.ndarray) -> np.ndarray:
    """Per row, how many rows share its values of every key (groupby(keys).transform("size")
    for keys without nulls)."""
    codes = group_codes(*keys)
    return np.bincount(codes)[codes]


def group_codes(*keys: np.ndarray) -> np.ndarray:
    """A code per row, equal for rows equal in every key (keys without nulls): hashed
    integer codes, three times faster than a pandas groupby on the same columns."""
    group = np.zeros(len(keys[0]), np.int64)
    for key in keys:
        code, values = pd.factorize(key)
        group = group * len(values) + code
    return pd.factorize(group)[0]


DENSITY_BAND = 0.02  # ±2 % around an amount


def cent_density(parcelas: pd.DataFrame, per_dir: np.ndarray) -> np.ndarray:
    """Per parcela, the chance that an unrelated amount falls on one given centavo near its
    amount: the share of same-direction amounts within ±2 %, spread over that band's centavos.
    What an amount explained to the centavo by arithmetic is worth by chance."""
    out = np.zeros(len(parcelas))
    amounts = parcelas["open"].to_numpy(np.int64)
    for direction in (0, 1):
        rows = np.flatnonzero(parcelas["dir"].to_numpy() == direction)
        # Searched in ascending order, each search starting where the last one ended, among
        # the amounts as floats (as numpy compares them with the float bounds anyway, but
        # converting them on every call): 4x faster at a million parcelas, same indices.
        order = np.argsort(amounts[rows], kind="stable")
        ordered = amounts[rows][order]
        as_float = ordered.astype(np.float64)
        low, high = np.empty(len(rows), np.int64), np.empty(len(rows), np.int64)
        low[order] = np.searchsorted(as_float, ordered * (1 - DENSITY_BAND), side="left")
        high[order] = np.searchsorted(as_float, ordered * (1 + DENSITY_BAND), side="right")
        band_cents = np.maximum(2 * DENSITY_BAND * amounts[rows], 1.0)
        out[rows] = (high - low) / per_dir[rows] / band_cents
    return out
