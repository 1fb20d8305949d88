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


def assign(lines: np.ndarray, parcelas: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Indexes of the chosen pairs among (lines[k], parcelas[k], weight[k]); only positive
    weights are eligible. Lines and parcelas are dense ids from 0.

    The graph splits into connected components; a component of one pair is that pair, the
    rest are solved exactly together, and oversized ones greedily.
    """
    eligible = np.flatnonzero(weight > 0)
    if len(eligible) == 0:
        return eligible
    component = _components(lines[eligible], parcelas[eligible])
    size = np.bincount(component)[component]
    single = eligible[size == 1]
    exact = eligible[(size > 1) & (size <= MAX_EXACT_EDGES)]
    giant = eligible[size > MAX_EXACT_EDGES]
    chosen = [single, _solve_exact(lines, parcelas, weight, exact),
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
                 eligible: np.ndarray) -> np.ndarray:
    if len(eligible) == 0:
        return eligible
    li, line_ids = np.unique(lines[eligible], return_inverse=True)
    pj, parcela_ids = np.unique(parcelas[eligible], return_inverse=True)
    n, m, k = len(li), len(pj), len(eligible)
    ranked = np.argsort(line_ids.astype(np.int64) * m + parcela_ids)  # pairs are distinct
    tie = np.empty(k)
    tie[ranked] = np.arange(k) * TIE_EPSILON
    w = weight[eligible] - tie
    big = w.max().item() + 1.0  # weights in bits, not money
    # Rows: real lines 0..n-1, dummy lines n..n+m-1. Columns: real parcelas 0..m-1,
    # dummy parcelas m..m+n-1.
    rows = np.concatenate([line_ids, np.arange(n), n + np.arange(m), n + parcela_ids])
    cols = np.concatenate([parcela_ids, m + np.arange(n), np.arange(m), m + line_ids])
    cost = np.concatenate([2 * big - w, np.full(n, big), np.full(m, big), np.full(k, 1e-6)])
    graph = csr_matrix((cost, (rows, cols)), shape=(n + m, n + m))
    _, matched_col = min_weight_full_bipartite_matching(graph)
    chosen_parcela = matched_col[:n]
    mask = chosen_parcela[line_ids] == parcela_ids
    return eligible[mask]


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
    -1 where there is none."""
    size = int(key.max()) + 1 if len(key) else 0
    top1, top2 = np.full(size, -1), np.full(size, -1)
    if size == 0:
        return top1, top2
    order = line_weight_order(key, weight, np.arange(len(key)))  # ties in index order
    ordered = key[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    top1[ordered[starts]] = order[starts]
    has_second = np.r_[starts[1:], len(order)] - starts > 1
    top2[ordered[starts[has_second]]] = order[starts[has_second] + 1]
    return top1, top2


def line_weight_order(lid: np.ndarray, weight: np.ndarray, pid: np.ndarray) -> np.ndarray:
    """np.lexsort((pid, -weight, lid)) by two stable sorts of integers: pairs by (line,
    parcela) (cheap when they come as sorted runs, as the passes' pairs do), then by line
    and the rank of -weight. lexsort's three sorts took 6 s for 8M pairs, this 2-3 s."""
    if len(lid) == 0:
        return np.zeros(0, np.int64)
    lid, pid = lid.astype(np.int64), pid.astype(np.int64)
    by_pair = np.argsort(lid * (int(pid.max()) + 1) + pid, kind="stable")
    values, rank = np.unique(-weight, return_inverse=True)
    return by_pair[np.argsort(lid[by_pair] * len(values) + rank[by_pair], kind="stable")]
