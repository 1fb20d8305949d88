"""Exact bounded subset sums by meet-in-the-middle, many pools at once as rows of a matrix:
the numeric core of the batch pass, kept apart from matchers/batches.py because it knows
nothing of memos, fees or lines, only title values, targets and the subsets that fit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

MAX_FITS = 1_000  # beyond this many fitting subsets a proposal would help no reviewer
# A subset is unique only if nothing else fits with up to max_titles + 2 titles: a batch
# just over the bound (9 boletos in one credit) would otherwise leave a chance fit of 8 or
# fewer as the only one found. Larger subsets are counted, never proposed.
UNIQUENESS_MARGIN = 2
DENSE_TITLES = 8  # titles of a half enumerated before pruning pays for its sorting
NOT_SEARCHED, TOO_MANY, TOO_LARGE = -2, -1, -3


# --- Subset sums -----------------------------------------------------------------------------

@lru_cache(maxsize=64)
def popcount(n: int) -> np.ndarray:
    """Titles in subset number j of n titles (bit i of j set: title i is in)."""
    sizes = np.zeros(1 << n, np.int64)
    for i in range(n):
        sizes[1 << i: 2 << i] = sizes[: 1 << i] + 1
    return sizes


def subset_sums(values: np.ndarray) -> np.ndarray:
    """All 2^n subset sums of every row, built by doubling: column j sums the bits of j."""
    m, n = values.shape
    sums = np.zeros((m, 1 << n), np.int64)
    for i in range(n):
        sums[:, 1 << i: 2 << i] = sums[:, : 1 << i] + values[:, i: i + 1]
    return sums


@dataclass(frozen=True, slots=True)
class Fits:
    """Per problem: fitting subsets (or TOO_MANY / NOT_SEARCHED), the closest one."""

    count: np.ndarray
    mask: np.ndarray  # bit i: slot i of the problem's pool
    dist: np.ndarray  # sum of the days between the line and each title's due date


def _sorted_subsets(hi: np.ndarray, limit: np.ndarray, kmax: int, cap: int):
    """Per row, the subsets of at most kmax titles with sum(hi) <= limit, sorted by sum(hi).

    A subset is one int64 key, sum << h | mask (bit i: title i), so sorting keys sorts
    sums and carries the masks along. The first titles are enumerated densely (2^8 subsets
    at most) and sorted once. Each further title doubles the list: the subsets with it are
    those without it plus (value << h | bit); both runs are sorted, so a stable sort
    (timsort) merges them in linear time. Every net is positive, so a sum past the limit can
    never be completed and is dropped at once.

    A row with more than `cap` such subsets is given up (flagged): with N subsets a half,
    about N^2 / limit subsets fit by chance, so such a line has hundreds of answers and no
    search would tell them apart. So is a row whose amount does not fit the key (over
    2^40 centavos with 20 titles a half). A given-up row leaves the matrix at once: in a
    dense ledger most rows are, and carrying them to the last title cost most of the work.
    Rows are padded at the end with sum limit.max() + 1 (given-up rows hold only that).

    Returns (sum_hi, mask), each (rows, subsets), and the flags.
    """
    h = hi.shape[1]
    flagged = limit >= 1 << (60 - h)
    limit = np.where(flagged, 0, limit)
    beyond, dense = int(limit.max()) + 1, min(h, DENSE_TITLES)
    past = beyond << h
    hi = np.minimum(hi, beyond)  # no title above the limit is ever kept: keeps keys small
    flagged |= _surely_more(hi, limit, kmax, cap)
    rows = np.flatnonzero(~flagged)  # rows still enumerated, in the order of keys' rows
    sums = subset_sums(hi[rows, :dense])
    sums[(sums > limit[rows, None]) | (popcount(dense) > kmax)] = beyond
    keys = np.sort(sums << h | np.arange(1 << dense), axis=1)
    titles = (1 << h) - 1
    for i in range(dense, h):
        keys, rows = _keep_useful(keys, rows, past, flagged, cap)
        grown = keys + (hi[rows, i: i + 1] << h | 1 << i)
        grown[(grown >> h > limit[rows, None]) | (np.bitwise_count(keys & titles) >= kmax)] = (
            past)
        keys = np.concatenate([keys, grown], 1)
        keys.sort(axis=1, kind="stable")
    keys, rows = _keep_useful(keys, rows, past, flagged, cap)
    out = np.full((len(hi), keys.shape[1]), past, np.int64)
    out[rows] = keys
    return (out >> h, out & titles), flagged


@lru_cache(maxsize=64)
def _binomials(n: int) -> np.ndarray:
    """C(r, j) for r, j <= n, saturated at 2^40 (only compared with caps of a few 1000)."""
    table = np.zeros((n + 1, n + 1), np.int64)
    for r in range(n + 1):
        for j in range(r + 1):
            table[r, j] = min(math.comb(r, j), 1 << 40)
    return table


def _surely_more(hi: np.ndarray, limit: np.ndarray, kmax: int, cap: int) -> np.ndarray:
    """Rows that certainly have more than `cap` subsets of at most kmax titles under the
    limit, known without enumerating them: with the titles sorted, every j-subset of the r
    smallest weighs at most the r-th smallest plus the j - 1 before it, so when that window
    is under the limit, all C(r, j) of them are. A dense ledger's half pools are mostly
    such rows, and enumerating each up to the cap was most of the search."""
    ordered = np.sort(hi, axis=1)
    prefix = np.concatenate([np.zeros((len(hi), 1), np.int64), np.cumsum(ordered, 1)], 1)
    binomials = _binomials(hi.shape[1])
    at_least = np.ones(len(hi), np.int64)  # the empty subset
    for j in range(1, min(kmax, hi.shape[1]) + 1):
        windows = (prefix[:, j:] - prefix[:, :-j] <= limit[:, None]).sum(1)  # sorted: a prefix
        at_least += binomials[np.where(windows > 0, windows + j - 1, 0), j]
    return at_least > cap


def _keep_useful(keys: np.ndarray, rows: np.ndarray, past: int, flagged: np.ndarray,
                 cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys cut after the last one below `past` in any row, without the rows that
    have more than `cap` (flagged; also those flagged before)."""
    useful = (keys < past).sum(1)
    flagged[rows[useful > cap]] = True
    keep = ~flagged[rows]
    width = max(1, int(useful[keep].max())) if keep.any() else 1
    if keep.all():
        return keys[:, :width], rows
    return keys[keep, :width], rows[keep]


def meet_in_the_middle(lo, hi, dist, target, slack, kmax, cap) -> Fits:
    """Subsets of 2..kmax + UNIQUENESS_MARGIN titles with sum(lo) <= target <= sum(hi), for
    each row at once; the closest of at most kmax titles is kept, all are counted.

    lo == hi for a tariff (exact); for an MDR hi - lo is the title's rounding freedom, so
    sum(hi) lies in [target, target + slack]. The right half's sums are offset row by row,
    so one searchsorted looks up every left-half sum's complement in every row.
    """
    m, n = lo.shape
    half, counted_up_to = n // 2, kmax + UNIQUENESS_MARGIN
    limit = target + slack
    (a_hi, a_mask), a_over = _sorted_subsets(hi[:, :half], limit, counted_up_to, cap)
    (b_hi, b_mask), b_over = _sorted_subsets(hi[:, half:], limit, counted_up_to, cap)
    # A title's net is hi, or hi - 1 where its MDR fee may round either way: sum(lo) is
    # sum(hi) less the number of such titles in the subset.
    loose = _bits(hi > lo)
    stride = int(limit.max()) + 2  # b_hi <= limit.max() + 1 (padding): rows never overlap
    flat = (b_hi + (np.arange(m) * stride)[:, None]).ravel()
    rows, cols = np.nonzero(a_hi <= limit[:, None])
    low = np.maximum(target[rows] - a_hi[rows, cols], 0) + rows * stride
    left = np.searchsorted(flat, low, "left")
    high = limit[rows] - a_hi[rows, cols] + rows * stride
    # Most left sums find no complement: look up the end of the range only where one is.
    hits = np.zeros(len(left), np.int64)
    some = np.flatnonzero(flat[np.minimum(left, len(flat) - 1)] <= high)
    hits[some] = np.searchsorted(flat, high[some], "right") - left[some]
    per_row = np.bincount(rows, weights=hits, minlength=m)
    take = np.flatnonzero((hits > 0) & (per_row[rows] <= MAX_FITS * 4))
    r, pos = expand_ranges(left[take], hits[take])
    r, ca = rows[take][r], cols[take][r]
    cb = pos - r * b_hi.shape[1]
    size = np.bitwise_count(a_mask[r, ca]) + np.bitwise_count(b_mask[r, cb])
    mask = a_mask[r, ca] | (b_mask[r, cb] << half)
    total_hi = a_hi[r, ca] + b_hi[r, cb]
    ok = ((size >= 2) & (size <= counted_up_to) & (total_hi >= target[r])
          & (total_hi - np.bitwise_count(mask & loose[r]) <= target[r]))
    r, mask = r[ok], mask[ok]
    fits = _closest_per_row(m, r, mask, _mask_sums(mask, dist[r]),
                            too_many=per_row > MAX_FITS * 4, kmax=kmax)
    fits.count[a_over | b_over] = TOO_LARGE
    return fits


def _bits(flags: np.ndarray) -> np.ndarray:
    """Each row of booleans as an int64 bitmask (column j: bit j)."""
    return (flags.astype(np.int64) << np.arange(flags.shape[1])).sum(1)


def _mask_sums(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sum of values[j] over the bits j set in each mask (one row of values per mask)."""
    bits = (mask[:, None] >> np.arange(values.shape[1])) & 1
    return (bits * values).sum(1)


def _closest_per_row(m: int, row, mask, dist, too_many, kmax: int) -> Fits:
    """Count each row's fits; keep the closest in date of those with at most kmax titles
    (mask 0 when every fit is larger)."""
    count = np.bincount(row, minlength=m).astype(np.int64)
    best_mask, best_dist = np.zeros(m, np.int64), np.zeros(m, np.int64)
    small = np.bitwise_count(mask) <= kmax
    row, mask, dist = row[small], mask[small], dist[small]
    if len(row):
        order = np.lexsort((mask, dist, row))
        first = order[np.r_[True, row[order][1:] != row[order][:-1]]]
        best_mask[row[first]], best_dist[row[first]] = mask[first], dist[first]
    count[too_many | (count > MAX_FITS)] = TOO_MANY
    return Fits(count, best_mask, best_dist)


def expand_ranges(first: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, position) for positions first[i] .. first[i] + count[i] - 1 of every i."""
    owner = np.repeat(np.arange(len(first)), count)
    within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    return owner, np.repeat(first, count) + within
