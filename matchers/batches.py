"""Many-to-one matching: one bank credit that pays several open contas-a-receber at once.

Two shapes are common in Brazilian statements (shared/notes/statements.md §6.2, §6.3):

* boleto batches: the bank credits a day's liquidated boletos as one line ("CRED COBRANCA
  SIMPLES", "LIQUIDO DE COBRANCA", "COB COMPE"), each title net of the account's tariff:
  line = sum(open - tariff);
* card payouts: the acquirer pays a brand and product's sales as one line, each net of the
  MDR: line = sum(open - round(open * mdr)), every title rounded on its own.

Fees are learned from the lines themselves unless `KnownFees` (confirmed history) has them:
a batch line votes for every fee under which some subset of its candidates adds up to it.
The true fee recurs across an account's lines (tariff) or an acquirer and product's (MDR);
fees that fit by chance scatter. An MDR's per-title rounding (half up, down, up) is learned
the same way; until one rule explains the lines, a title's fee may round either way.

A line's pool: the residual receber parcelas due in the kind's lag window, closest first,
at most max_pool. Parcelas whose text names another channel (another acquirer, the other
product or brand, boleto for a card) are never candidates. Those naming the line's channel
are searched alone; the whole pool only when fewer than two do.

The search is an exact bounded subset-sum by meet-in-the-middle: the subsets of each half
of a pool that stay under the amount are enumerated sorted (amounts are positive, so the
rest can never be completed), and each left sum looks its complement up among the right
ones. Pools of one size are solved together as the rows of one matrix.

A subset is `unique` when no other subset fits, counting up to two titles more than
max_titles (a batch just over the bound would otherwise leave a chance fit as the only
one found), and when the pool was not cut at max_pool. Otherwise the alternatives are
counted and the engine sends the line to review. The search runs in rounds: the unique,
conflict-free proposals are given out, and lines that had one of their parcelas among their
candidates are searched again without them; pools too large for a cheap first round are
searched harder in the next. Lines the search cannot settle are reported in `skipped`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
import pandas as pd

from matchers.batch_text import (
    ACQUIRERS,
    ANY_BATCH_UPPER,
    BOLETO,
    CARD,
    CREDITO,
    DEBITO,
    HINT_COLUMNS,
    PRODUCTS,
    batch_kind,  # noqa: F401  (re-exported: public API)
    has,
    memo_facts,
    parcela_hints,
    upper,
)
from matchers.subset_sums import (
    DENSE_TITLES,
    MAX_FITS,
    NOT_SEARCHED,
    TOO_LARGE,
    TOO_MANY,
    UNIQUENESS_MARGIN,
    Fits,
    expand_ranges,
    meet_in_the_middle,
    popcount,
    subset_sums,
)
from recon.money import format_brl

log = logging.getLogger(__name__)

LEARN_ITEMS = 12  # a line votes with its 12 closest candidates: 2^12 subsets, all sizes
LEARN_LINES = 200  # lines voting per account or acquirer and product
MAX_ROUNDS = 4  # searches, each without the parcelas given out by the previous ones
MAX_HALF_SUBSETS = 1 << 11  # subsets of half a pool under the amount; past it, hopeless
# Round by round the cap grows: a cheap first pass settles most lines and gives their
# parcelas out, so the pools still too large are smaller when searched harder.
HALF_CAPS = (1 << 10, MAX_HALF_SUBSETS)
MDR_NEIGHBOURS = 2  # bp either side of an MDR peak: rounding lets one payout fit them too
PEAK_DOMINANCE = 2.0  # a learned fee outweighs every fee outside its neighbourhood this much
VOTE_SHARE = 0.2  # ...and is agreed on by this share of the lines that voted
_CHUNK_ROWS = 1 << 10  # pools solved per matrix when a half has 2^8 subsets; fewer above,
# down to 2^6 rows (rows are padded to their largest; MAX_HALF_SUBSETS bounds that)
_VOTE_ENTRIES = 1 << 19  # subset sums per matrix when voting (4 MB of int64 per array)
# How an acquirer rounds each title's MDR fee. Unknown, a fee may be rounded either way
# (the brief's ±1 centavo a title); each acquirer has one rule, learned like the rate, and
# an exact rule lets k-title subsets fit by chance k+1 times less often.
ROUNDINGS = ("either way", "half up", "down", "up")
ROUNDING_AGREEMENT = 0.95  # share of the lines that fit either way an exact rule must fit
# The search budget is counted in subset sums enumerated, not in wall-clock time, so that
# the same statement and ledger always get the same proposals: under a clock, a busy server
# searched fewer lines (the benchmark's dense 1M batches read 14.7 % in a slow run and 16.7 %
# in a quiet one). A second of budget is what the project VM (2 cores) does in one: 15-18M
# sums per second of find_batches, 100k to 1M lines, sparse and dense (2026-12-07).
WORK_PER_SECOND = 20_000_000
_OUT_OF_REACH = 1 << 40  # net value of a title that cannot be in the set: no sum reaches it


@dataclass(frozen=True, slots=True)
class BatchSettings:
    max_titles: int = 8
    max_pool: int = 40
    boleto_credit_lag_days: tuple[int, int] = (0, 5)  # credit date - due date
    card_payout_lag_days: tuple[int, int] = (0, 2)
    max_tariff_cents: int = 1000
    mdr_range_bp: tuple[int, int] = (50, 600)
    min_votes: int = 2  # batch lines agreeing before a learned fee is trusted
    time_budget_s: float = 5.0  # search budget, in seconds of the project VM (WORK_PER_SECOND);
    # lines left over are reported, not guessed

    def __post_init__(self) -> None:
        if not 2 <= self.max_titles <= self.max_pool:
            raise ValueError(f"max_titles must be in 2..max_pool, got {self.max_titles}")
        if self.max_pool > 60:  # subsets are int64 bitmasks; 2^30 sums per half is too many
            raise ValueError(f"max_pool must be at most 60, got {self.max_pool}")


@dataclass(frozen=True, slots=True)
class KnownFees:
    boleto_tariff_cents: Mapping[str, int] = field(default_factory=dict)  # conta -> tariff
    mdr_bp: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (acquirer, product)


@dataclass
class BatchResult:
    allocations: pd.DataFrame  # one row per (line, parcela); net_cents adds up to the line
    groups: pd.DataFrame  # one row per proposed line
    skipped: pd.DataFrame  # batch-looking lines with no proposal, and why
    learned: KnownFees  # known fees plus those learned here


ALLOCATION_COLUMNS = ["line_key", "parcela_id", "kind", "gross_cents", "fee_cents", "net_cents"]
GROUP_COLUMNS = ["line_key", "kind", "acquirer", "product", "fee_model", "fee_param",
                 "n_parcelas", "alternatives", "fee_learned_from", "explanation"]
SKIPPED_COLUMNS = ["line_key", "reason"]


# --- Candidate pools -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Lines:
    """The batch-looking lines, as arrays."""

    key: np.ndarray
    account: np.ndarray  # conta_financeira_id
    day: np.ndarray  # posted_on in days since the epoch
    amount: np.ndarray
    is_card: np.ndarray
    acquirer: np.ndarray  # index into ACQUIRERS, -1 for boletos
    product: np.ndarray  # index into PRODUCTS, -1 unknown
    brand: np.ndarray  # index into BRANDS, -1 unknown


@dataclass(frozen=True, slots=True)
class _Pools:
    """Each line's candidates, closest due date first, in two tiers laid end to end.

    Tier 0 holds the parcelas whose text names the line's channel, tier 1 every candidate.
    slot_par/slot_dist are the slots; start[t, i] and size[t, i] place line i's pool in
    tier t; found[t, i] counts the candidates before the max_pool cap.
    """

    slot_par: np.ndarray
    slot_dist: np.ndarray
    slot_product: np.ndarray  # product the parcela's text names, -1 none
    slot_line: np.ndarray  # line whose pool the slot is in
    start: np.ndarray
    size: np.ndarray
    found: np.ndarray


def _batch_lines(lines: pd.DataFrame) -> _Lines:
    credit = lines[lines["amount_cents"].to_numpy() > 0].reset_index(drop=True)
    maybe = np.flatnonzero(has(upper(credit["memo"]), ANY_BATCH_UPPER))
    codes, memos = pd.factorize(credit["memo"].iloc[maybe])
    facts = [memo_facts(m) if isinstance(m, str) else None for m in memos.tolist()] + [None]
    keep = np.array([f is not None for f in facts])[codes]
    rows = credit.iloc[maybe[keep]]
    facts = [facts[c] for c in codes[keep]]
    return _Lines(
        key=rows["line_key"].to_numpy(object),
        account=rows["conta_financeira_id"].astype(str).to_numpy(object),
        day=_days(rows["posted_on"]),
        amount=rows["amount_cents"].to_numpy(np.int64),
        is_card=np.array([f[0] == CARD for f in facts], bool),
        acquirer=np.array([ACQUIRERS.index(f[1]) if f[1] else -1 for f in facts], np.int16),
        product=np.array([PRODUCTS.index(f[2]) if f[2] else -1 for f in facts], np.int16),
        brand=np.array([f[3] for f in facts], np.int16))


def _days(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values).to_numpy("datetime64[D]").astype(np.int64)


def _build_pools(ln: _Lines, due: np.ndarray, hints: np.ndarray,
                 settings: BatchSettings) -> _Pools:
    """Candidates per line: due in its lag window, not naming another channel, closest first
    (ties by parcela row).

    Which parcelas a line may take depends only on its channel (card or boleto, acquirer,
    product, brand): a few dozen classes. Each class's parcelas are listed once per tier,
    by due date (the first max_pool of each day, with each day's count), and a line's pool
    is read off its window's days, nearest first, up to max_pool. Pairing every line with every parcela of its window made 80M pairs in a dense
    1M ledger (2,000 open parcelas a line), gigabytes sorted to keep 40 of each.
    """
    lags = np.array([settings.boleto_credit_lag_days, settings.card_payout_lag_days])
    lag_lo, lag_hi = lags[ln.is_card.astype(int), 0], lags[ln.is_card.astype(int), 1]
    classes, line_class = _distinct_rows(np.stack([ln.is_card, ln.acquirer, ln.product,
                                                   ln.brand], 1))
    members, group_of = _class_members(ln, classes, line_class, due, hints,
                                       settings.max_pool)
    # A line reads days day - lag_lo (distance lag_lo) back to day - lag_hi.
    width = int(max(lags[:, 1] - lags[:, 0])) + 1 if len(ln.key) else 1
    dist = lag_lo[:, None] + np.arange(width)
    in_window = dist <= lag_hi[:, None]
    tiers = []
    for tier in (0, 1):
        group = np.broadcast_to((line_class * 2 + tier)[:, None], dist.shape)
        first, count = group_of(group, ln.day[:, None] - dist)
        count = np.where(in_window, count, 0)
        found = count.sum(1)
        before = np.cumsum(count, 1) - count  # candidates on nearer days
        taken = np.clip(settings.max_pool - before, 0, count)
        line_day, position = expand_ranges(first.ravel(), taken.ravel())
        size = taken.sum(1)
        tiers.append((members[position], dist.ravel()[line_day], line_day // width,
                      np.cumsum(size) - size, size, found))
    offset = np.cumsum([0] + [len(t[0]) for t in tiers])
    slot_par = np.concatenate([t[0] for t in tiers])
    return _Pools(
        slot_par=slot_par, slot_dist=np.concatenate([t[1] for t in tiers]),
        slot_product=hints[slot_par, 3], slot_line=np.concatenate([t[2] for t in tiers]),
        start=np.stack([t[3] + o for t, o in zip(tiers, offset, strict=False)]),
        size=np.stack([t[4] for t in tiers]), found=np.stack([t[5] for t in tiers]))


def _class_members(ln: _Lines, classes: np.ndarray, line_class: np.ndarray, due: np.ndarray,
                   hints: np.ndarray, max_pool: int):
    """Per class of lines and tier (group class * 2 + tier), the first max_pool parcelas it
    may take of each due day (a pool reads no more of one day), in order of due date then
    row; and a lookup (group, day) -> (first position among them, how many there are in
    all)."""
    # Parcelas repeat a few hint rows: the channel test runs on each class and hint row.
    kinds, hint_kind = _distinct_rows(hints)
    rep = np.zeros(len(classes), np.int64)
    rep[line_class] = np.arange(len(line_class))  # a line of each class
    line = np.repeat(rep, len(kinds))
    named, ruled_out = _channel_match(ln, line, np.tile(kinds, (len(classes), 1)))
    allowed = np.stack([named & ~ruled_out, ~ruled_out], 1).reshape(len(classes), len(kinds), 2)
    by_due = np.argsort(due, kind="stable")
    kind_by_due = hint_kind[by_due]
    low = int(due.min()) - 1 if len(due) else 0
    span = (int(due.max()) + 2 - low) if len(due) else 2
    day_by_due = due[by_due] - low
    counts = np.zeros((len(classes) * 2, span), np.int64)
    members, group_day = [], []
    for c in range(len(classes)):
        for tier in (0, 1):
            group = c * 2 + tier
            take = allowed[c, kind_by_due, tier]
            day = day_by_due[take]
            counts[group] = np.bincount(day, minlength=span)
            rank = np.arange(len(day)) - (np.cumsum(counts[group]) - counts[group])[day]
            members.append(by_due[take][rank < max_pool])
            group_day.append(group * span + day[rank < max_pool])
    members = np.concatenate(members or [np.zeros(0, np.int64)])
    keys = np.concatenate(group_day or [np.zeros(0, np.int64)])

    def group_of(group: np.ndarray, day: np.ndarray):
        at = np.clip(day - low, 0, span - 1)
        return np.searchsorted(keys, group * span + at, "left"), counts[group, at]

    return members, group_of


def _distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of small integers (each in -1..14) and each row's index among them,
    by one integer code per row (np.unique over rows sorts them as bytes, 10x slower)."""
    code = ((rows.astype(np.int64) + 1) << (4 * np.arange(rows.shape[1]))).sum(1)
    _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    return rows[first], inverse.reshape(-1)


def _channel_match(ln: _Lines, line: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per (line, parcela): does the parcela name the line's channel, or another one?"""
    boleto, card, acquirer, product, brand = (h[:, i] for i in range(len(HINT_COLUMNS)))
    is_card = ln.is_card[line]
    l_acq, l_prod, l_brand = ln.acquirer[line], ln.product[line], ln.brand[line]
    other_card = ((acquirer >= 0) & (acquirer != l_acq)
                  | (l_prod >= 0) & (product >= 0) & (product != l_prod)
                  | (l_brand >= 0) & (brand >= 0) & (brand != l_brand))
    ruled_out = np.where(is_card, (boleto > 0) | other_card, card > 0)
    named = np.where(is_card, (acquirer >= 0) & (acquirer == l_acq), boleto > 0)
    return named, ruled_out


# --- Problems: a line's pool under one fee ---------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Problems:
    line: np.ndarray
    start: np.ndarray  # first slot of the pool
    n: np.ndarray  # titles of the pool considered
    tariff: np.ndarray  # centavos per title, -1 for an MDR
    bp: np.ndarray  # MDR in basis points, -1 for a tariff
    product: np.ndarray  # the fee's product when the memo names none, else -1
    rounding: np.ndarray  # index into ROUNDINGS (MDR only)

    def __len__(self) -> int:
        return len(self.line)

    def take(self, rows: np.ndarray) -> _Problems:
        return _Problems(*(getattr(self, f)[rows] for f in self.__slots__))


def _net_bounds(gross: np.ndarray, tariff: np.ndarray, bp: np.ndarray, rounding: np.ndarray):
    """Lowest and highest net of each title: gross - tariff, or gross - MDR fee, the fee
    rounded by the row's rule (either way: rounded down for the highest net, up for the
    lowest)."""
    out = gross >= _OUT_OF_REACH
    if (bp < 0).all():  # tariffs only: exact, one array serves as both bounds
        net = gross - tariff[:, None]
        net[(net <= 0) | out] = _OUT_OF_REACH  # a title the fee would swallow is in no batch
        return net, net
    exact = np.where(out, 0, gross) * np.maximum(bp, 0)[:, None]
    down, up, half = exact // 10_000, -((-exact) // 10_000), (exact + 5_000) // 10_000
    rule = rounding[:, None]
    fee_hi = np.select([rule == 1, rule == 3], [half, up], down)  # fee of the highest net
    fee_lo = np.select([rule == 1, rule == 2], [half, down], up)
    is_mdr = (bp >= 0)[:, None]
    lo = np.where(is_mdr, gross - fee_lo, gross - tariff[:, None])
    hi = np.where(is_mdr, gross - fee_hi, lo)
    out |= lo <= 0
    return np.where(out, _OUT_OF_REACH, lo), np.where(out, _OUT_OF_REACH, hi)


def _solve(problems: _Problems, pools: _Pools, ctx: _Context) -> Fits:
    """Every problem's fits; problems past the deadline stay NOT_SEARCHED.

    Pools of one size are solved together, smallest first, so an exhausted budget leaves
    the most expensive lines unsearched rather than the cheapest. Large pools go a few rows
    at a time: their pruned subset counts vary a lot, and rows are padded to the largest.
    """
    fits = Fits(np.full(len(problems), NOT_SEARCHED, np.int64),
                 np.zeros(len(problems), np.int64), np.zeros(len(problems), np.int64))
    for n in np.unique(problems.n):
        rows = _by_breadth(problems, np.flatnonzero(problems.n == n), pools, ctx)
        per_chunk = max(1, _CHUNK_ROWS >> max(0, min(n - n // 2, 12) - DENSE_TITLES))
        for chunk in np.split(rows, np.arange(per_chunk, len(rows), per_chunk)):
            if ctx.out_of_budget():
                return fits
            part = problems.take(chunk)
            slot = part.start[:, None] + np.arange(n)
            par = pools.slot_par[slot]
            gross = np.where(ctx.given[par], _OUT_OF_REACH, ctx.gross[par])
            # Under a product's MDR, a sale whose text names the other product is no member.
            named = pools.slot_product[slot]
            gross = np.where((part.product[:, None] >= 0) & (named >= 0)
                             & (named != part.product[:, None]), _OUT_OF_REACH, gross)
            lo, hi = _net_bounds(gross, part.tariff, part.bp, part.rounding)
            # Rounded either way, each title may be a centavo short: sum(hi) - sum(lo) is at
            # most the number of titles counted.
            slack = np.where((part.bp >= 0) & (part.rounding == 0),
                             ctx.settings.max_titles + UNIQUENESS_MARGIN, 0)
            found = meet_in_the_middle(lo, hi, pools.slot_dist[slot], ctx.amount[part.line],
                                        slack, ctx.settings.max_titles, ctx.half_cap)
            ctx.spend(len(chunk) * (min(1 << (n // 2), ctx.half_cap)
                                    + min(1 << (n - n // 2), ctx.half_cap)))
            fits.count[chunk], fits.mask[chunk], fits.dist[chunk] = (
                found.count, found.mask, found.dist)
    return fits


def _by_breadth(problems: _Problems, rows: np.ndarray, pools: _Pools, ctx: _Context):
    """Rows ordered by amount over average title: about how many subsets stay under the
    amount. Rows of a chunk are padded to the one with most, so alike rows go together."""
    slot = problems.start[rows][:, None] + np.arange(problems.n[rows[0]])
    breadth = ctx.amount[problems.line[rows]] / ctx.gross[pools.slot_par[slot]].mean(1)
    return rows[np.argsort(breadth, kind="stable")]


@dataclass
class _Context:
    settings: BatchSettings
    gross: np.ndarray  # open_cents per parcela row
    amount: np.ndarray  # amount_cents per line
    budget: float  # subset sums the search may enumerate (see WORK_PER_SECOND)
    given: np.ndarray  # parcelas already given to a line in an earlier round
    half_cap: int = MAX_HALF_SUBSETS  # this round's subsets a half may keep under the amount
    work_done: float = 0.0

    def out_of_budget(self) -> bool:
        return self.work_done >= self.budget

    def spend(self, subset_sums: float) -> None:
        self.work_done += subset_sums


# --- Learning the fees -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Fee:
    """One fee a line may be searched under."""

    model: str  # 'tariff' | 'mdr'
    param: int
    product: int  # index into PRODUCTS for an MDR, -1 unknown
    source: str  # 'known' | 'votes'
    votes: int  # lines that agreed (0 when known)
    rounding: int = 0  # an MDR's per-title rounding: index into ROUNDINGS


def _learning_pools(pools: _Pools, line: np.ndarray, bucket: np.ndarray):
    """Which of the candidate voters vote, and the pool each votes with.

    line and bucket (account, or acquirer and product) are given per candidate. A line
    votes with its named tier when that has two titles, else with all its candidates,
    LEARN_ITEMS of them at most. Per bucket the LEARN_LINES lines with the smallest pools
    vote: a small pool gives a clean vote, and a few hundred lines settle a fee as well as
    a year of them. Returns the chosen candidates' positions, pool starts and sizes.
    """
    tier = np.where(pools.size[0, line] >= 2, 0, 1)
    n = np.minimum(pools.size[tier, line], LEARN_ITEMS)
    order = np.lexsort((line, n, bucket))
    order = order[n[order] >= 2]
    group = bucket[order]
    first = np.searchsorted(group, group, "left")
    order = order[np.arange(len(order)) - first < LEARN_LINES]
    return order, pools.start[tier[order], line[order]], n[order]


def _votes(rows, starts, ns, pools: _Pools, ctx: _Context, model: str, span: tuple[int, int]):
    """(line, fee) pairs each line votes for: fees under which a subset of it fits."""
    kmax, out_line, out_fee = ctx.settings.max_titles, [], []
    for n in np.unique(ns):
        pick = np.flatnonzero(ns == n)
        sizes = popcount(n)[None, :]
        per_chunk = max(1, _VOTE_ENTRIES >> n)
        for chunk in np.split(pick, np.arange(per_chunk, len(pick), per_chunk)):
            gross = ctx.gross[pools.slot_par[starts[chunk][:, None] + np.arange(n)]]
            sums = subset_sums(gross)
            ctx.spend(sums.size)
            fitting = (sizes >= 2) & (sizes <= kmax)
            vote = _tariff_votes if model == "tariff" else _mdr_votes
            r, fee = vote(sums, sizes, ctx.amount[rows[chunk]], fitting, span)
            out_line.append(rows[chunk][r])
            out_fee.append(fee)
    line, fee = np.concatenate(out_line or [[]]), np.concatenate(out_fee or [[]])
    pairs = np.unique(np.stack([line, fee]).astype(np.int64), axis=1)
    return pairs[0], pairs[1]


def _tariff_votes(sums, sizes, amount, fitting, span):
    """t such that sum(open) - k*t = line, for some k-subset: exact in centavos."""
    extra = sums - amount[:, None]
    k = np.maximum(sizes, 1)
    ok = fitting & (extra >= span[0] * k) & (extra <= span[1] * k) & (extra % k == 0)
    r, c = np.nonzero(ok)
    return r, extra[r, c] // sizes[0, c]


def _mdr_votes(sums, sizes, amount, fitting, span):
    """bp for which sum(open) - line lies within the per-title rounding of sum(open) * bp."""
    fee = sums - amount[:, None]
    r, c = np.nonzero(fitting & (fee > 0))
    fee, total, k = fee[r, c], sums[r, c], sizes[0, c]
    low = np.maximum(-((k - fee) * 10_000 // total), span[0])
    high = np.minimum((fee + k) * 10_000 // total, span[1])
    ok = (low <= high) & (high - low <= 20)  # a wider band is too small a sum to say anything
    r, low, high = r[ok], low[ok], high[ok]
    owner, bp = expand_ranges(low, high - low + 1)
    return r[owner], bp


def _tally(line: np.ndarray, fee: np.ndarray, bucket: np.ndarray, n_buckets: int, width: int):
    """Per bucket and fee: lines voting, and their weight (each line spreads 1 over its fees)."""
    if len(line) == 0:
        return np.zeros((n_buckets, width)), np.zeros((n_buckets, width), np.int64)
    per_line = np.bincount(line)[line]
    cell = bucket[line] * width + fee
    weight = np.bincount(cell, weights=1.0 / per_line, minlength=n_buckets * width)
    count = np.bincount(cell, minlength=n_buckets * width)
    return weight.reshape(n_buckets, width), count.reshape(n_buckets, width)


def _peaks(weight: np.ndarray, count: np.ndarray, around: int, wanted: int, min_votes: int):
    """Up to `wanted` fees that clearly dominate the rest of the votes, strongest first.

    A chance fit scatters; the true fee recurs. Each peak needs min_votes lines and
    PEAK_DOMINANCE times the weight of any fee outside the peaks' neighbourhoods.
    """
    free, peaks = weight.copy(), []
    for _ in range(wanted):
        top = int(np.argmax(free))
        if free[top] <= 0 or count[top] < min_votes:
            break
        peaks.append(top)
        free[max(0, top - around): top + around + 1] = 0
    while peaks and weight[peaks[-1]] < PEAK_DOMINANCE * free.max():
        last = peaks.pop()  # a peak the noise matches is no peak; give its share back
        free[max(0, last - around): last + around + 1] = weight[max(0, last - around):
                                                                last + around + 1]
        for kept in peaks:
            free[max(0, kept - around): kept + around + 1] = 0
    return peaks


def _needed_votes(voter_bucket: np.ndarray, n_buckets: int, min_votes: int) -> np.ndarray:
    """Lines a learned fee needs per bucket: min_votes, and VOTE_SHARE of those voting (two
    lines agreeing settle a small ledger, not one where twenty others disagree)."""
    voters = np.bincount(voter_bucket, minlength=n_buckets)
    return np.maximum(min_votes, np.ceil(VOTE_SHARE * voters)).astype(np.int64)


def _learn_tariffs(ln: _Lines, pools: _Pools, ctx: _Context, known: KnownFees):
    """conta -> _Fee: known tariffs, plus those the account's batch lines agree on."""
    fees = {a: _Fee("tariff", int(t), -1, "known", 0) for a, t in known.boleto_tariff_cents.items()}
    accounts, bucket = np.unique(ln.account, return_inverse=True)
    rows = np.flatnonzero(~ln.is_card & ~np.isin(ln.account, list(fees)))
    if len(rows) == 0 or ctx.out_of_budget():
        return fees
    chosen, starts, ns = _learning_pools(pools, rows, bucket[rows])
    rows = rows[chosen]
    span = (0, ctx.settings.max_tariff_cents)
    line, fee = _votes(rows, starts, ns, pools, ctx, "tariff", span)
    weight, count = _tally(line, fee, bucket, len(accounts), span[1] + 1)
    needed = _needed_votes(bucket[rows], len(accounts), ctx.settings.min_votes)
    for b, account in enumerate(accounts):
        for t in _peaks(weight[b], count[b], 0, 1, needed[b]):
            fees[account] = _Fee("tariff", t, -1, "votes", int(count[b, t]))
    return fees


def _learn_mdrs(ln: _Lines, pools: _Pools, ctx: _Context, known: KnownFees):
    """(acquirer, product) -> [_Fee]: known MDRs plus those the payouts agree on.

    A memo that does not name the product (Mercado Pago's) leaves two peaks, crédito and
    débito; the higher is crédito, as it always is in the Brazilian market (§6.3).
    """
    fees: dict[tuple[int, int], list[_Fee]] = {}
    for (acquirer, product), bp in known.mdr_bp.items():
        if acquirer not in ACQUIRERS or product not in PRODUCTS:
            log.warning("known MDR for (%r, %r) ignored: acquirer one of %s, product one of %s",
                        acquirer, product, ACQUIRERS, PRODUCTS)
            continue
        fee = _Fee("mdr", int(bp), PRODUCTS.index(product), "known", 0)
        fees[(ACQUIRERS.index(acquirer), fee.product)] = [fee]
    bucket = ln.acquirer.astype(np.int64) * 3 + ln.product + 1  # product -1, 0, 1
    missing = [b for b in np.unique(bucket[ln.is_card]) if _mdr_missing(fees, b)]
    rows = np.flatnonzero(ln.is_card & np.isin(bucket, missing))
    if len(rows) == 0 or ctx.out_of_budget():
        return fees
    chosen, starts, ns = _learning_pools(pools, rows, bucket[rows])
    rows = rows[chosen]
    lo, hi = ctx.settings.mdr_range_bp
    line, bp = _votes(rows, starts, ns, pools, ctx, "mdr", (lo, hi))
    weight, count = _tally(line, bp - lo, bucket, len(ACQUIRERS) * 3, hi - lo + 1)
    needed = _needed_votes(bucket[rows], len(ACQUIRERS) * 3, ctx.settings.min_votes)
    peaks = {b: [p + lo for p in _peaks(weight[b], count[b], MDR_NEIGHBOURS,
                                        2 if b % 3 == 0 else 1, needed[b])]
             for b in missing}
    voters = _Voters(rows, starts, ns, bucket[rows])
    for b, chosen in _refine_mdrs(peaks, weight, lo, voters, pools, ctx).items():
        _file_mdrs(fees, b, sorted(chosen, reverse=True), count[b], lo)
    return fees


def _mdr_missing(fees, b: int) -> bool:
    """Does bucket b (acquirer * 3 + product + 1) still need an MDR learned?"""
    acquirer, product = divmod(int(b), 3)
    products = [product - 1] if product else [0, 1]
    return any((acquirer, p) not in fees for p in products)


@dataclass(frozen=True, slots=True)
class _Voters:
    """Lines that voted, with the pool each voted with and its bucket."""

    line: np.ndarray
    start: np.ndarray
    n: np.ndarray
    bucket: np.ndarray


def _refine_mdrs(peaks: dict[int, list[int]], weight: np.ndarray, lo: int, voters: _Voters,
                 pools: _Pools, ctx: _Context) -> dict[int, list[int]]:
    """For each vote peak, the bp next to it under which the most voting lines fit exactly.

    Rounding lets a payout fit a bp or two around the true MDR, so votes alone can tie;
    exact per-title rounding (each title's fee rounded down or up) settles it. All
    candidates of all buckets are solved at once.
    """
    candidates = [(b, j, bp) for b, found in peaks.items() for j, peak in enumerate(found)
                  for bp in range(max(lo, peak - MDR_NEIGHBOURS),
                                  min(lo + weight.shape[1] - 1, peak + MDR_NEIGHBOURS) + 1)]
    which = [np.flatnonzero(voters.bucket == b) for b, _, _ in candidates]
    owner = np.repeat(np.arange(len(candidates)), [len(w) for w in which])
    rows = np.concatenate(which or [np.zeros(0, np.int64)])
    bps = np.array([c[2] for c in candidates], np.int64)[owner]
    none = np.full(len(rows), -1, np.int64)
    problems = _Problems(voters.line[rows], voters.start[rows], voters.n[rows], none, bps, none,
                         np.zeros(len(rows), np.int64))
    count = _solve(problems, pools, ctx).count
    fitted = np.bincount(owner, weights=(count > 0) | (count == TOO_MANY),
                         minlength=len(candidates))
    best: dict[tuple[int, int], tuple] = {}
    for (b, j, bp), lines_fitted in zip(candidates, fitted, strict=True):
        score = (lines_fitted, weight[b, bp - lo], -abs(bp - peaks[b][j]))
        if (b, j) not in best or score > best[(b, j)][0]:
            best[(b, j)] = (score, bp)
    return {b: [best[(b, j)][1] for j in range(len(found))] for b, found in peaks.items()}


def _file_mdrs(fees: dict, bucket: int, chosen: list[int], count: np.ndarray, lo: int) -> None:
    acquirer, product = divmod(int(bucket), 3)
    learned = [_Fee("mdr", bp, -1, "votes", int(count[bp - lo])) for bp in chosen]
    if product and learned:  # the memo named the product
        fees[(acquirer, product - 1)] = [replace(learned[0], product=product - 1)]
    elif len(learned) == 2:  # the higher is crédito
        for p, fee in enumerate(learned):
            fees.setdefault((acquirer, p), [replace(fee, product=p)])
    # One peak alone is not used: which product it is cannot be told, and the lines of the
    # other product, searched under it, would find chance fits.


# --- Search ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Options:
    """The fees each line is searched under, one row per (line, fee)."""

    line: np.ndarray
    fee: list[_Fee]  # parallel to line
    tariff: np.ndarray
    bp: np.ndarray
    product: np.ndarray  # the fee's product where the memo names none (restricts titles)
    rounding: np.ndarray  # index into ROUNDINGS


def _fee_options(ln: _Lines, tariffs: dict[str, _Fee], mdrs: dict) -> _Options:
    """(line, fee) for every fee a line may be searched under.

    A line whose memo names no product gets both products' MDRs, each searched over the
    sales not naming the other, and none unless both are known: under one alone, a line of
    the other product would find chance fits.
    """
    parts: list[tuple[np.ndarray, _Fee]] = []
    for account, fee in tariffs.items():
        parts.append((np.flatnonzero(~ln.is_card & (ln.account == account)), fee))
    for (acquirer, product), fees in mdrs.items():
        both = all((acquirer, p) in mdrs for p in range(len(PRODUCTS)))
        ours = ln.is_card & (ln.acquirer == acquirer)
        ours &= (ln.product == product) | ((ln.product < 0) & both)
        parts += [(np.flatnonzero(ours), fee) for fee in fees]
    line = np.concatenate([rows for rows, _ in parts] or [np.zeros(0, np.int64)])
    fees = [fee for rows, fee in parts for _ in rows]
    order = np.argsort(line, kind="stable")
    line, fees = line[order], [fees[i] for i in order]
    return _Options(
        line=line, fee=fees,
        tariff=np.array([f.param if f.model == "tariff" else -1 for f in fees], np.int64),
        bp=np.array([f.param if f.model == "mdr" else -1 for f in fees], np.int64),
        product=np.where(ln.product[line] < 0,
                         np.array([f.product if f.model == "mdr" else -1 for f in fees],
                                  np.int64), -1),
        rounding=np.array([f.rounding for f in fees], np.int64))


def _learn_rounding(ln: _Lines, pools: _Pools, options: _Options, ctx: _Context) -> _Options:
    """Each MDR's per-title rounding: the exact rule that fits (nearly) every line that fits
    with the fee rounded either way, else either way.

    The lines searched under an MDR vote, LEARN_LINES at most, with their learning pools;
    all rules of all fees are solved at once.
    """
    kinds = {id(f): f for f in options.fee if f.model == "mdr"}
    if not kinds or ctx.out_of_budget():
        return options
    fee_no = {key: i for i, key in enumerate(kinds)}
    which = np.array([fee_no.get(id(f), -1) for f in options.fee], np.int64)
    mdr = np.flatnonzero(which >= 0)
    chosen, starts, ns = _learning_pools(pools, options.line[mdr], which[mdr])
    rows = mdr[chosen]
    per_rule = len(rows)
    take = np.tile(rows, len(ROUNDINGS))
    problems = _Problems(options.line[take], np.tile(starts, len(ROUNDINGS)),
                         np.tile(ns, len(ROUNDINGS)), options.tariff[take], options.bp[take],
                         options.product[take], np.repeat(np.arange(len(ROUNDINGS)), per_rule))
    count = _solve(problems, pools, ctx).count
    fitted = ((count > 0) | (count == TOO_MANY)).reshape(len(ROUNDINGS), per_rule)
    lines_fitted = np.stack([np.bincount(which[rows], weights=f, minlength=len(kinds))
                             for f in fitted])  # (rule, fee)
    rule = {}
    for key, i in fee_no.items():
        best = 1 + int(np.argmax(lines_fitted[1:, i]))
        agree = lines_fitted[best, i] >= ROUNDING_AGREEMENT * lines_fitted[0, i]
        rule[key] = best if agree and lines_fitted[0, i] >= ctx.settings.min_votes else 0
    # One new fee per learned fee, shared by its lines as the old one was (a copy per
    # line took 0.3 s at 1M).
    ruled = {key: replace(kinds[key], rounding=r) for key, r in rule.items()}
    fees = [ruled.get(id(f), f) for f in options.fee]
    return replace(options, fee=fees, rounding=np.array([f.rounding for f in fees], np.int64))


@dataclass(frozen=True, slots=True)
class _Attempts:
    """Every (line, fee) searched in the tier that decided the line."""

    line: np.ndarray
    tier: np.ndarray
    option: np.ndarray
    fits: Fits
    capped: np.ndarray  # the pool searched held only the max_pool closest candidates


def _search(ln: _Lines, pools: _Pools, options: _Options, ctx: _Context,
            active: np.ndarray) -> _Attempts:
    """Named tier first; the whole pool for lines with (almost) no named candidates.

    A line's attempts are those of the last tier it was searched in.
    """
    pending = active.copy()
    parts: list[tuple[np.ndarray, int, Fits]] = []
    for tier in (0, 1):
        size = pools.size[tier]
        # The whole pool only when under two candidates name the channel: where parcelas
        # name it, a fit that needs unnamed ones while leaving named ones out is a chance fit
        # far more often than a sale registered without its label.
        eligible = pending & (size >= 2) & ((pools.size[0] < 2) if tier else True)
        sel = np.flatnonzero(eligible[options.line])
        line = options.line[sel]
        fits = _solve(_Problems(line, pools.start[tier, line], size[line], options.tariff[sel],
                                options.bp[sel], options.product[sel], options.rounding[sel]),
                      pools, ctx)
        parts.append((sel, tier, fits))
        pending[line[fits.count != 0]] = False  # found, too many, or out of time
    option = np.concatenate([sel for sel, _, _ in parts])
    tier = np.concatenate([np.full(len(sel), t) for sel, t, _ in parts])
    line = options.line[option]
    last = np.full(len(ln.key), -1)
    np.maximum.at(last, line, tier)
    keep = tier == last[line]
    fits = Fits(*(np.concatenate([getattr(f, name) for _, _, f in parts])[keep]
                   for name in ("count", "mask", "dist")))
    line, tier = line[keep], tier[keep]
    return _Attempts(line, tier, option[keep], fits,
                     pools.found[tier, line] > pools.size[tier, line])


# --- Proposals and conflicts -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Proposals:
    line: np.ndarray
    tier: np.ndarray
    option: np.ndarray
    mask: np.ndarray
    alternatives: np.ndarray
    dist: np.ndarray

    def take(self, rows: np.ndarray) -> _Proposals:
        return _Proposals(*(getattr(self, f)[rows] for f in self.__slots__))

    def plus(self, *others: _Proposals) -> _Proposals:
        return _Proposals(*(np.concatenate([getattr(p, f) for p in (self, *others)])
                            for f in self.__slots__))

    @staticmethod
    def none() -> _Proposals:
        return _Proposals(*(np.zeros(0, np.int64) for _ in _Proposals.__slots__))


def _propose(has_fee: np.ndarray, attempts: _Attempts) -> tuple[_Proposals, np.ndarray]:
    """Each line's closest fitting subset across its fees, and the line's outcome:
    0 proposed, 1 nothing fits, 2 too many fit, 3 not searched, 4 no fee to search with,
    5 pool too large, 6 only subsets of more than max_titles fit, 7 one fit in a capped
    pool."""
    line, count, n_lines = attempts.line, attempts.fits.count, len(has_fee)
    outcome = np.where(has_fee, 1, 4)
    total = np.bincount(line, weights=np.maximum(count, 0), minlength=n_lines).astype(np.int64)
    outcome[line[count > 0]] = 0
    # One fit among the max_pool closest of more candidates is no unique fit: the rest
    # were never searched.
    capped = np.zeros(n_lines, bool)
    capped[line[attempts.capped]] = True
    outcome[capped & (total == 1)] = 7
    outcome[line[count == TOO_MANY]] = 2
    outcome[line[count == TOO_LARGE]] = 5
    outcome[line[count == NOT_SEARCHED]] = 3
    larger_only = np.zeros(n_lines, bool)
    larger_only[line[(count > 0) & (attempts.fits.mask == 0)]] = True
    fit = np.flatnonzero((count > 0) & (attempts.fits.mask != 0))
    larger_only[line[fit]] = False
    outcome[larger_only & (outcome == 0)] = 6
    order = fit[np.lexsort((attempts.option[fit], attempts.fits.dist[fit], line[fit]))]
    first = order[np.r_[True, line[order][1:] != line[order][:-1]]] if len(order) else order
    first = first[outcome[line[first]] == 0]
    return _Proposals(line[first], attempts.tier[first], attempts.option[first],
                      attempts.fits.mask[first], total[line[first]] - 1,
                      attempts.fits.dist[first]), outcome


def _titles(proposals: _Proposals, pools: _Pools) -> tuple[np.ndarray, np.ndarray]:
    """(proposal, parcela row) for every title of every proposal."""
    bits = (proposals.mask[:, None] >> np.arange(63)) & 1
    owner, position = np.nonzero(bits)
    slot = pools.start[proposals.tier[owner], proposals.line[owner]] + position
    return owner, pools.slot_par[slot]


def _resolve_conflicts(proposals: _Proposals, owner, par, keys: np.ndarray, n_par: int):
    """Give each parcela to one line: unique proposals first, then the closest in date.

    Greedy in that order, done in rounds: a proposal first in line for all its parcelas is
    accepted; one that wants a parcela already given loses. Returns accepted flags and,
    per proposal, the proposal that took a parcela from it (-1 if none).
    """
    titles = np.bincount(owner, minlength=len(proposals.line))
    mean_dist = proposals.dist / np.maximum(titles, 1)
    key_rank = np.unique(keys[proposals.line], return_inverse=True)[1]
    rank = np.empty(len(titles), np.int64)
    rank[np.lexsort((key_rank, mean_dist, proposals.alternatives > 0))] = np.arange(len(titles))
    alive, accepted = np.ones(len(titles), bool), np.zeros(len(titles), bool)
    holder = np.full(n_par, -1)
    while alive.any():
        live = alive[owner]
        first = np.full(n_par, len(titles))
        np.minimum.at(first, par[live], rank[owner[live]])
        wins = live & (first[par] == rank[owner])
        won = alive & (np.bincount(owner, weights=wins, minlength=len(titles)) == titles)
        accepted |= won
        holder[par[won[owner]]] = owner[won[owner]]
        blocked = live & (holder[par] >= 0) & ~won[owner]
        alive &= ~won & (np.bincount(owner, weights=blocked, minlength=len(titles)) == 0)
    taken_by = np.full(len(titles), -1)
    lost = ~accepted[owner] & (holder[par] >= 0)
    taken_by[owner[lost]] = holder[par[lost]]
    return accepted, taken_by


# --- Output ----------------------------------------------------------------------------------

def _fees_per_title(gross: np.ndarray, owner: np.ndarray, fee: np.ndarray, is_mdr: np.ndarray,
                    rounding: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Each title's fee so that the nets add up to the line exactly.

    A tariff is the same for every title, and so is an MDR rounded by a learned rule. An
    MDR rounded either way is rounded half up, then the few centavos the acquirer rounded
    the other way are moved to the titles whose exact fee is nearest the other side (largest
    fractions first when it took more).
    """
    exact = gross * np.where(is_mdr, fee, 0)
    by_rule = np.select([rounding == 2, rounding == 3],
                        [exact // 10_000, -((-exact) // 10_000)], (exact + 5_000) // 10_000)
    rounded = np.where(is_mdr, by_rule, fee)
    remainder = exact % 10_000
    short = np.bincount(owner, weights=gross - rounded, minlength=len(amount)).astype(np.int64)
    short -= amount  # positive: the acquirer kept that many centavos more than rounded
    up = is_mdr & (remainder > 0) & (remainder < 5_000)
    down = is_mdr & (remainder >= 5_000)
    rounded = rounded + _nudge(owner, up, -remainder, np.maximum(short, 0))
    return rounded - _nudge(owner, down, remainder, np.maximum(-short, 0))


def _nudge(owner, eligible, priority, wanted) -> np.ndarray:
    """1 for the first `wanted[owner]` eligible titles of each owner, by priority."""
    rows = np.flatnonzero(eligible)
    rows = rows[np.lexsort((priority[rows], owner[rows]))]
    counts = np.bincount(owner[rows], minlength=len(wanted))
    rank = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    out = np.zeros(len(owner), np.int64)
    out[rows[rank < wanted[owner[rows]]]] = 1
    return out


_PRODUCT_WORDS = {CREDITO: "credit", DEBITO: "debit", None: "card"}


def _explain(kind: str, acquirer: str | None, product: str | None, fee: _Fee, k: int,
             gross: int, fee_total: int, alternatives: int, tier: int, pool_size: int,
             pool_found: int) -> str:
    """'4 boletos R$ 1.234,56 minus tariff R$ 2,50 each; tariff learned from 31 lines; ...'"""
    if kind == BOLETO:
        text = f"{k} boletos {format_brl(gross)} minus tariff {_brl(fee.param)} each"
        what, channel = "tariff", "boleto"
    else:
        text = (f"{k} {acquirer} {_PRODUCT_WORDS[product]} sales {format_brl(gross)} minus MDR "
                f"{fee.param / 100:.2f} % ({format_brl(fee_total)}, each title's fee rounded "
                f"{ROUNDINGS[fee.rounding]})")
        what, channel = "MDR", acquirer
    text += (f"; {what} known" if fee.source == "known"
             else f"; {what} learned from {fee.votes} lines")
    among = f"the {pool_size} closest of {pool_found}" if pool_found > pool_size else pool_size
    text += (f"; among {among} parcelas naming {channel}" if tier == 0
             else f"; among {among} candidate parcelas")
    if alternatives:
        text += f"; {alternatives} other subset{'s' if alternatives > 1 else ''} also fit"
    return text


_brl = lru_cache(maxsize=1 << 10)(format_brl)  # tariffs repeat line after line


def _receivable(parcelas: pd.DataFrame) -> pd.DataFrame:
    """Open contas-a-receber: only money coming in can be in a credit."""
    keep = parcelas["open_cents"].to_numpy() > 0
    if "kind" in parcelas:  # the store's layout says receber/pagar; a bare frame is receber
        keep &= parcelas["kind"].to_numpy(object) == "receber"
    return parcelas[keep].reset_index(drop=True)


def find_batches(lines: pd.DataFrame, parcelas: pd.DataFrame,
                 settings: BatchSettings = BatchSettings(),
                 known: KnownFees = KnownFees()) -> BatchResult:
    """Propose, for each batch-looking credit, the residual parcelas it pays.

    Args:
      lines: line_key, conta_financeira_id, posted_on, amount_cents, memo. Debits and
        lines whose memo is no batch (see batch_kind) are ignored.
      parcelas: parcela_id, due_on, open_cents, descricao, contact_name (and optionally
        kind: only 'receber' is used), already without those matched 1:1.
      settings: bounds of the search.
      known: confirmed fees; they win over learned ones.

    Returns:
      A BatchResult; see the column lists ALLOCATION_COLUMNS, GROUP_COLUMNS, SKIPPED_COLUMNS.
    """
    began = time.perf_counter()
    ln, pool = _batch_lines(lines), _receivable(parcelas)
    ctx = _Context(settings, pool["open_cents"].to_numpy(np.int64), ln.amount,
                   settings.time_budget_s * WORK_PER_SECOND, np.zeros(len(pool), bool))
    pools = _build_pools(ln, _days(pool["due_on"]), parcela_hints(pool), settings)
    tariffs = _learn_tariffs(ln, pools, ctx, known)
    mdrs = _learn_mdrs(ln, pools, ctx, known)
    options = _learn_rounding(ln, pools, _fee_options(ln, tariffs, mdrs), ctx)
    accepted, outcome, taken_by = _rounds(ln, pools, options, ctx)
    owner, par = _titles(accepted, pools)
    allocations = _allocations(ln, pool, options, accepted, owner, par)
    result = BatchResult(
        allocations=allocations, groups=_groups(ln, pools, options, accepted, allocations),
        skipped=_skipped(ln, pools, settings, outcome, taken_by, ctx),
        learned=_learned(known, tariffs, mdrs))
    log.info("batches: %d batch-looking lines, %d proposed (%d unique), %d skipped, %.2f s, "
             "%.0f subset sums", len(ln.key), len(result.groups),
             int((result.groups["alternatives"] == 0).sum()), len(result.skipped),
             time.perf_counter() - began, ctx.work_done)
    return result


def _touched(pools: _Pools, given: np.ndarray, n_lines: int, n_par: int) -> np.ndarray:
    """Lines with one of the given parcelas in the pool they are searched in: the named
    tier when it holds two, else every candidate (see _search). A parcela given out of the
    other tier changes nothing the line's search sees; searching it again found the same."""
    is_given = np.zeros(n_par, bool)
    is_given[given] = True
    hit = is_given[pools.slot_par]
    tier = (np.arange(len(pools.slot_par)) >= pools.size[0].sum()).astype(np.int8)
    searched = np.where(pools.size[0] >= 2, 0, 1).astype(np.int8)
    hit &= tier == searched[pools.slot_line]
    return np.bincount(pools.slot_line[hit], minlength=n_lines) > 0


def _rounds(ln: _Lines, pools: _Pools, options: _Options, ctx: _Context):
    """Search, give out the unique conflict-free proposals, and search again without them.

    A parcela given to a line's only fitting subset is no longer a candidate for the others,
    so some of their alternatives vanish and some pools shrink under MAX_HALF_SUBSETS. Only
    lines with a given parcela among their candidates are searched again; the others keep
    their proposal. A round that gives out nothing unique is the last: the standing
    proposals, alternatives or not, go out by the conflict rule (unique first, then the
    closest in date; losers lose).

    Returns the accepted proposals, each line's outcome (see _propose) and, per line left
    without a proposal after losing a conflict, the line that took its parcela (-1 elsewhere).
    """
    has_fee = np.bincount(options.line, minlength=len(ln.key)) > 0
    active, outcome = has_fee.copy(), np.where(has_fee, 1, 4)
    taken_by = np.full(len(ln.key), -1)
    standing, kept = _Proposals.none(), []
    for round_no in range(MAX_ROUNDS):
        ctx.half_cap = HALF_CAPS[min(round_no, len(HALF_CAPS) - 1)]
        found, found_outcome = _propose(has_fee, _search(ln, pools, options, ctx, active))
        outcome[active] = found_outcome[active]
        standing = standing.take(np.flatnonzero(~active[standing.line])).plus(found)
        owner, par = _titles(standing, pools)
        won, took = _resolve_conflicts(standing, owner, par, ln.key, len(ctx.given))
        sure = won & (standing.alternatives == 0)
        deeper = round_no + 1 < len(HALF_CAPS) and (outcome == 5).any()
        last = round_no == MAX_ROUNDS - 1 or not (sure.any() or deeper) or ctx.out_of_budget()
        give = won if last else sure
        kept.append(standing.take(np.flatnonzero(give)))
        ctx.given[par[give[owner]]] = True
        lost = np.flatnonzero((took >= 0) & give[np.maximum(took, 0)])
        taken_by[standing.line[lost]] = standing.line[took[lost]]  # unless a later round finds
        if last:
            break
        standing = standing.take(np.flatnonzero(~give))
        # Search again where a candidate was given out (removing candidates can make a
        # subset unique or a pool small enough, never make a subset fit where none did),
        # and where the pool was too large for this round's cap.
        settled = np.isin(np.arange(len(ln.key)), np.concatenate([k.line for k in kept]))
        active = ((_touched(pools, par[give[owner]], len(ln.key), len(ctx.given))
                   & np.isin(outcome, (0, 2, 5))
                   | (outcome == 5) & deeper) & ~settled)
    accepted = _Proposals.none().plus(*kept)
    outcome[accepted.line] = 0
    taken_by[accepted.line] = -1
    return accepted, outcome, taken_by


def _allocations(ln, pool, options, proposals, owner, par) -> pd.DataFrame:
    fee = np.array([f.param for f in options.fee], np.int64)[proposals.option[owner]]
    is_mdr = options.bp[proposals.option[owner]] >= 0
    gross = pool["open_cents"].to_numpy(np.int64)[par]
    index = np.unique(owner, return_inverse=True)[1]
    line = proposals.line[owner]
    amount = np.zeros(index.max() + 1 if len(index) else 0, np.int64)
    amount[index] = ln.amount[line]
    fees = _fees_per_title(gross, index, fee, is_mdr, options.rounding[proposals.option[owner]],
                           amount)
    kind = np.where(ln.is_card[line], CARD, BOLETO)
    return pd.DataFrame({
        "line_key": ln.key[line], "parcela_id": pool["parcela_id"].to_numpy(object)[par],
        "kind": kind.astype(object), "gross_cents": gross, "fee_cents": fees,
        "net_cents": gross - fees}, columns=ALLOCATION_COLUMNS)


def _groups(ln, pools, options, proposals, allocations) -> pd.DataFrame:
    line, fees = proposals.line, [options.fee[o] for o in proposals.option]
    is_card = ln.is_card[line]
    kind = np.where(is_card, CARD, BOLETO).astype(object)
    acquirer = np.where(is_card, np.array(ACQUIRERS, object)[np.maximum(ln.acquirer[line], 0)],
                        None)
    product = np.array([f.product for f in fees], np.int64)
    product = np.where(product >= 0, product, ln.product[line])
    product = np.where(is_card & (product >= 0),
                       np.array(PRODUCTS, object)[np.maximum(product, 0)], None)
    n_titles = np.bitwise_count(proposals.mask).astype(np.int64)
    sums = allocations.groupby("line_key")[["gross_cents", "fee_cents"]].sum()
    gross, fee_total = sums.reindex(ln.key[line]).to_numpy(np.int64).T
    pool_size = pools.size[proposals.tier, line]
    pool_found = pools.found[proposals.tier, line]
    explanation = [_explain(*row) for row in zip(
        kind, acquirer, product, fees, n_titles.tolist(), gross.tolist(), fee_total.tolist(),
        proposals.alternatives.tolist(), proposals.tier.tolist(), pool_size.tolist(),
        pool_found.tolist(), strict=True)]
    return pd.DataFrame({
        "line_key": ln.key[line], "kind": kind, "acquirer": acquirer, "product": product,
        "fee_model": np.array([f.model for f in fees], object),
        "fee_param": np.array([f.param for f in fees], np.int64), "n_parcelas": n_titles,
        "alternatives": proposals.alternatives.astype(np.int64),
        "fee_learned_from": np.array([f.source for f in fees], object),
        "explanation": np.array(explanation, object)}, columns=GROUP_COLUMNS)


def _skipped(ln, pools, settings, outcome, taken_by, ctx) -> pd.DataFrame:
    reasons = {}
    for i in np.flatnonzero(outcome != 0):
        reasons[i] = _reason(ln, pools, settings, int(outcome[i]), i, ctx)
    for i in np.flatnonzero(taken_by >= 0):
        reasons[i] = f"conflict: its subset shares a parcela with line {ln.key[taken_by[i]]}"
    return pd.DataFrame([(ln.key[i], reasons[i]) for i in sorted(reasons)],
                        columns=SKIPPED_COLUMNS)


def _reason(ln, pools, settings, outcome: int, i: int, ctx: _Context) -> str:
    found, size = int(pools.found[1, i]), int(pools.size[1, i])
    if outcome == 3 or (outcome == 4 and ctx.out_of_budget()):
        return "budget exhausted: line not searched"
    if outcome == 4:
        what = (f"tariff of {ln.account[i]}" if not ln.is_card[i] else
                f"MDR of {ACQUIRERS[ln.acquirer[i]]} "
                f"{PRODUCTS[ln.product[i]] if ln.product[i] >= 0 else 'credito/debito'}")
        return (f"fee unknown: {what} neither known nor agreed on by "
                f"{settings.min_votes} batch lines")
    if outcome == 2:
        return f"ambiguous: more than {MAX_FITS} subsets fit"
    if outcome == 7:
        return (f"pool too large: one subset fits among the {size} closest of {found} "
                f"candidates, the others were not searched")
    if outcome == 6:
        return (f"no subset: only subsets of more than {settings.max_titles} titles fit "
                f"(max_titles)")
    if outcome == 5:
        return (f"pool too large: over {MAX_HALF_SUBSETS} subsets of half of its {size} "
                f"candidates stay under the amount, too many would fit by chance")
    if found < 2:
        return f"no subset: {found} open parcela{'s' if found != 1 else ''} due in the window"
    if found > size:
        return f"pool too large: no subset among the {size} closest of {found} parcelas"
    return f"no subset: none of the {found} candidate parcelas adds up to the line"


def _learned(known: KnownFees, tariffs: dict, mdrs: dict) -> KnownFees:
    return KnownFees(
        boleto_tariff_cents={a: f.param for a, f in tariffs.items()},
        mdr_bp={**{(ACQUIRERS[a], PRODUCTS[p]): fees[0].param
                   for (a, p), fees in mdrs.items() if p >= 0 and fees},
                **known.mdr_bp})
