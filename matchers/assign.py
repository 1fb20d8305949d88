"""Global one-to-one assignment and the margin each assigned pair holds over its rivals.

Line-by-line or greedy matching is what gives "the weekly payment matched to last week's
parcela": the first line to look takes the parcela another line needed more. Here all pairs
of a run are assigned at once to maximise the total match weight (a min-cost bipartite
matching on the sparse candidate graph, scipy's LAPJVsp), with "leave unmatched" always
available at zero, so a pair is only taken if its weight is positive.

The sparse solver needs a perfect matching to exist. Each line gets a private dummy parcela
and each parcela a private dummy line (both "unmatched"), and for every real pair (i, j) the
two dummies d_i and e_j are joined by a free edge, so whatever real pairs are chosen, the
leftover dummies can pair up. With real edges costing 2C - w and dummy edges C, every
perfect matching costs (n + m)C - sum(w of chosen pairs): minimising it maximises the weight.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching

TIE_EPSILON = 1e-9  # breaks exact ties towards lower ids, so reruns assign the same way
# The exact solver's time grows faster than linearly with a component's size. A component
# larger than this (thousands of same-price plans in one dense ledger) is assigned greedily
# by weight; its pairs rarely clear the margin an automatic settlement needs anyway.
MAX_EXACT_EDGES = 50_000
# Components solved per call of the exact solver, in nodes (lines and parcelas).
GROUP_NODES = 4_096


def assign(lines: np.ndarray, parcelas: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Indexes of the chosen pairs among (lines[k], parcelas[k], weight[k]); only positive
    weights are eligible. Lines and parcelas are dense ids from 0.

    The graph splits into connected components; a component of one pair is that pair, the
    rest are solved exactly, and oversized ones greedily.
    """
    eligible = np.flatnonzero(weight > 0)
    if len(eligible) == 0:
        return eligible
    component = _components(lines[eligible], parcelas[eligible])
    size = np.bincount(component)[component]
    single = eligible[size == 1]
    exact = (size > 1) & (size <= MAX_EXACT_EDGES)
    giant = eligible[size > MAX_EXACT_EDGES]
    chosen = [single, _solve_exact(lines, parcelas, weight, eligible[exact], component[exact]),
              greedy(lines, parcelas, weight, giant)]
    return np.sort(np.concatenate(chosen))


def _components(lines: np.ndarray, parcelas: np.ndarray) -> np.ndarray:
    """Component label of each pair in the bipartite line-parcela graph."""
    # Node numbers by hashing: only which pairs share a component matters, not its label.
    li, pj = pd.factorize(lines)[0], pd.factorize(parcelas)[0]
    n = int(li.max()) + 1
    nodes = n + int(pj.max()) + 1
    graph = coo_matrix((np.ones(len(li)), (li, n + pj)), shape=(nodes, nodes))
    _, label = connected_components(graph, directed=False)
    return label[li]


def greedy(lines: np.ndarray, parcelas: np.ndarray, weight: np.ndarray,
           eligible: np.ndarray) -> np.ndarray:
    """Best weight first, ties by ids; a line and a parcela are used once."""
    order = eligible[np.lexsort((parcelas[eligible], lines[eligible], -weight[eligible]))]
    used_lines, used_parcelas, chosen = set(), set(), []
    for k in order.tolist():
        line, parcela = int(lines[k]), int(parcelas[k])
        if line in used_lines or parcela in used_parcelas:
            continue
        used_lines.add(line)
        used_parcelas.add(parcela)
        chosen.append(k)
    return np.array(chosen, dtype=np.int64)


def _solve_exact(lines: np.ndarray, parcelas: np.ndarray, weight: np.ndarray,
                 eligible: np.ndarray, component: np.ndarray) -> np.ndarray:
    """The optimal pairs among `eligible`; component is each one's component label.

    The weights with their tie-breaks, and the dummy costs, are those of one problem over
    all eligible pairs; the solver then runs on groups of whole components. Components
    share no node, so a group's optimum is the whole problem's optimum there; but the
    solver's work per augmenting path grows with the graph it is given (one call over the
    300k nodes of a 1M-line run took 8 s, 30 times the 100k run's).
    """
    if len(eligible) == 0:
        return eligible
    line_ids = np.unique(lines[eligible], return_inverse=True)[1]
    pj, parcela_ids = np.unique(parcelas[eligible], return_inverse=True)
    m, k = len(pj), len(eligible)
    ranked = np.argsort(line_ids.astype(np.int64) * m + parcela_ids)  # pairs are distinct
    tie = np.empty(k)
    tie[ranked] = np.arange(k) * TIE_EPSILON
    w = weight[eligible] - tie
    big = w.max().item() + 1.0  # weights in bits, not money
    picked = [pairs[_solve_group(line_ids[pairs], parcela_ids[pairs], w[pairs], big)]
              for pairs in _component_groups(component, line_ids, parcela_ids)]
    return eligible[np.sort(np.concatenate(picked))]


def _component_groups(component: np.ndarray, line_ids: np.ndarray,
                      parcela_ids: np.ndarray) -> list[np.ndarray]:
    """Positions of the pairs by groups of whole components, about GROUP_NODES nodes (lines
    and parcelas) a group; a larger component is a group alone."""
    labels, component = np.unique(component, return_inverse=True)
    nodes = np.zeros(len(labels), np.int64)
    for ids in (line_ids, parcela_ids):  # every node lies in one component
        of_node = np.zeros(int(ids.max()) + 1, np.int64)
        of_node[ids] = component
        nodes += np.bincount(of_node, minlength=len(labels))
    group = ((np.cumsum(nodes) - nodes) // GROUP_NODES)[component]
    order = np.argsort(group, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(group[order])) + 1)


def _solve_group(line_ids: np.ndarray, parcela_ids: np.ndarray, w: np.ndarray,
                 big: float) -> np.ndarray:
    """Positions of the optimal pairs of whole components (ids renumbered in their order)."""
    li, line_ids = np.unique(line_ids, return_inverse=True)
    pj, parcela_ids = np.unique(parcela_ids, return_inverse=True)
    n, m, k = len(li), len(pj), len(w)
    # Rows: real lines 0..n-1, dummy lines n..n+m-1. Columns: real parcelas 0..m-1,
    # dummy parcelas m..m+n-1.
    rows = np.concatenate([line_ids, np.arange(n), n + np.arange(m), n + parcela_ids])
    cols = np.concatenate([parcela_ids, m + np.arange(n), np.arange(m), m + line_ids])
    cost = np.concatenate([2 * big - w, np.full(n, big), np.full(m, big), np.full(k, 1e-6)])
    graph = csr_matrix((cost, (rows, cols)), shape=(n + m, n + m))
    _, matched_col = min_weight_full_bipartite_matching(graph)
    return np.flatnonzero(matched_col[:n][line_ids] == parcela_ids)


def runner_up(lines: np.ndarray, parcelas: np.ndarray, weight: np.ndarray,
              chosen: np.ndarray, excluded: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """For each chosen pair: the strongest rival among the other pairs of its line and of its
    parcela (-inf when it has none), and the index of that rival pair (-1 if none).

    A rival counts for what choosing it would really gain: another line that holds a
    parcela of its own gives up that pair's weight to take ours, so its claim is reduced by
    that loss (a customer's confident payment elsewhere is no rival for this parcela); the
    same for another parcela of our line held by some other line. `excluded` pairs are
    never rivals."""
    best_other = np.full(len(chosen), -np.inf)
    rival = np.full(len(chosen), -1)
    if len(chosen) == 0:
        return best_other, rival
    held_by_line = _held(lines, weight, chosen)
    held_by_parcela = _held(parcelas, weight, chosen)
    barred = np.zeros(len(weight), bool) if excluded is None else excluded
    # Rivals on our line compete for other parcelas: discount what their holders would lose.
    line_rivals = np.where(barred, -np.inf,
                           weight - np.maximum(0.0, held_by_parcela[parcelas] - weight))
    # Rivals for our parcela are other lines: discount what they would lose.
    parcela_rivals = np.where(barred, -np.inf,
                              weight - np.maximum(0.0, held_by_line[lines] - weight))
    for key, rival_weight in ((lines, line_rivals), (parcelas, parcela_rivals)):
        top1, top2 = _top_two(key, rival_weight)
        first, second = top1[key[chosen]], top2[key[chosen]]
        other = np.where(first == chosen, second, first)
        value = np.where(other >= 0, rival_weight[np.maximum(other, 0)], -np.inf)
        better = (other >= 0) & (value > best_other)
        best_other[better], rival[better] = value[better], other[better]
    return best_other, rival


def _held(key: np.ndarray, weight: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Per key value, the weight of the chosen pair holding it (-inf if none holds it)."""
    size = int(key.max()) + 1 if len(key) else 0
    held = np.full(size, -np.inf)
    held[key[chosen]] = weight[chosen]
    return held


def _top_two(key: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per key value (dense ids from 0), the indexes of its best and second-best weights,
    -1 where there is none; equal weights in index order (weights are never NaN).

    Each key's pairs are made contiguous (the engine's come sorted by line already) and
    the best two taken with reductions over the runs: sorting every pair by weight, as
    line_weight_order does, took seconds at 4M pairs."""
    size = int(key.max()) + 1 if len(key) else 0
    top1, top2 = np.full(size, -1), np.full(size, -1)
    if size == 0:
        return top1, top2
    order = None if bool(np.all(key[1:] >= key[:-1])) else stable_order(key)
    ordered = key if order is None else key[order]
    w = weight if order is None else weight[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    run = np.cumsum(np.r_[False, ordered[1:] != ordered[:-1]])  # run of each position
    first = _first_best(w, starts, run, np.ones(len(w), bool))
    rest = np.ones(len(w), bool)
    rest[first] = False
    has_second = np.r_[starts[1:], len(w)] - starts > 1
    second = _first_best(w, starts, run, rest)[has_second]
    if order is not None:
        first, second = order[first], order[second]
    top1[ordered[starts]] = first
    top2[ordered[starts[has_second]]] = second
    return top1, top2


def _first_best(w: np.ndarray, starts: np.ndarray, run: np.ndarray,
                allowed: np.ndarray) -> np.ndarray:
    """Per run of positions (starting at starts), the first allowed position holding the
    run's largest allowed value (a run with none allowed gives a position past it)."""
    allowed_w = np.where(allowed, w, -np.inf)
    best = np.maximum.reduceat(allowed_w, starts)
    at_best = allowed & (allowed_w == best[run])
    return np.minimum.reduceat(np.where(at_best, np.arange(len(w)), len(w)), starts)


def stable_order(key: np.ndarray) -> np.ndarray:
    """np.argsort(key, kind="stable") for integer keys: each key (less the least) shifted
    up and its index put in the low bits of one uint64, whose plain sort (vectorised) ran 5
    times faster than an argsort of 4M pairs. Keys too wide for that are argsorted."""
    n = len(key)
    if n == 0:
        return np.zeros(0, np.int64)
    bits = max(1, (n - 1).bit_length())
    low = int(key.min())
    if int(key.max()) - low >= 1 << (64 - bits):
        return np.argsort(key, kind="stable")
    packed = (key - low).astype(np.uint64) << np.uint64(bits)
    packed |= np.arange(n, dtype=np.uint64)
    packed.sort()
    return (packed & np.uint64((1 << bits) - 1)).astype(np.int64)


def line_weight_order(lid: np.ndarray, weight: np.ndarray, pid: np.ndarray) -> np.ndarray:
    """np.lexsort((pid, -weight, lid)) by two stable sorts of integers: pairs by (line,
    parcela) (cheap when they come as sorted runs, as the passes' pairs do), then by line
    and the rank of -weight. lexsort's three sorts took 6 s for 8M pairs; np.unique's
    rank, a sort of every weight, took as long as both argsorts."""
    if len(lid) == 0:
        return np.zeros(0, np.int64)
    # Keys built in place, ids not copied when already int64: at dense 1M each array of
    # 22M pairs is 176 MB more of the run's peak.
    lid, pid = lid.astype(np.int64, copy=False), pid.astype(np.int64, copy=False)
    key = lid * (int(pid.max()) + 1)
    key += pid
    by_pair = np.argsort(key, kind="stable")
    rank = descending_rank(weight)
    key = lid[by_pair]
    key *= int(rank.max()) + 1
    key += rank[by_pair]
    del rank
    return by_pair[np.argsort(key, kind="stable")]


def descending_rank(weight: np.ndarray) -> np.ndarray:
    """Each weight's rank among the distinct weights, largest first (np.unique(-weight,
    return_inverse=True)[1]). Pairs take few distinct weights (sums of a few thousand
    combinations' bits): hashing them and sorting the distinct ones is cheaper than
    np.unique's sort of every pair. +0.0 makes -0.0 the same value as 0.0, as np.unique
    has it; NaN, if any, ranks last, as there."""
    codes, values = pd.factorize(-weight + 0.0, use_na_sentinel=False)
    rank = np.empty(len(values), np.int64)
    rank[np.argsort(np.asarray(values))] = np.arange(len(values))
    return rank[codes]


def lexsorted(*keys: np.ndarray) -> np.ndarray:
    """np.lexsort(keys) for integer keys (the last one primary): a stable sort per key."""
    order = stable_order(keys[0])
    for key in keys[1:]:
        order = order[stable_order(key[order])]
    return order
