"""Decisions per bank line: global one-to-one assignment, then decision zones.

Pairs are taken best first, so a parcela is never given to two lines. A pair
settles automatically only when its amount is exact, its score is high, and
it leads every competing pair (other parcelas for the line, other lines for
the parcela) by a clear margin: twenty R$ 99,90 subscriptions due the same
day go to a human unless the names tell them apart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ScoredPair:
    line_key: str
    parcela_id: str
    score: float
    amount_exact: bool


@dataclass(frozen=True, slots=True)
class Thresholds:
    auto: float
    review: float
    min_margin: float


@dataclass(frozen=True, slots=True)
class Decision:
    line_key: str
    parcela_id: str | None
    decision: str  # auto | review | unmatched
    score: float | None
    runner_up_score: float | None
    reason: str


def decide(line_keys: list[str], pairs: list[ScoredPair], limits: Thresholds) -> list[Decision]:
    best_other = _runner_up_index(pairs)
    assigned = _assign_one_to_one(pairs)
    decisions = []
    for line_key in sorted(line_keys):
        pair = assigned.get(line_key)
        if pair is None:
            decisions.append(Decision(line_key, None, "unmatched", None, None, _why_unmatched(line_key, pairs)))
            continue
        runner_up = best_other(pair)
        decisions.append(_zone(pair, runner_up, limits))
    return decisions


def _assign_one_to_one(pairs: list[ScoredPair]) -> dict[str, ScoredPair]:
    """Greedy by score, ties broken by ids so reruns decide the same way."""
    ordered = sorted(pairs, key=lambda p: (-p.score, p.line_key, p.parcela_id))
    used_parcelas: set[str] = set()
    assigned: dict[str, ScoredPair] = {}
    for pair in ordered:
        if pair.line_key in assigned or pair.parcela_id in used_parcelas:
            continue
        assigned[pair.line_key] = pair
        used_parcelas.add(pair.parcela_id)
    return assigned


def _runner_up_index(pairs: list[ScoredPair]):  # type: ignore[no-untyped-def]
    by_line: dict[str, list[ScoredPair]] = defaultdict(list)
    by_parcela: dict[str, list[ScoredPair]] = defaultdict(list)
    for pair in pairs:
        by_line[pair.line_key].append(pair)
        by_parcela[pair.parcela_id].append(pair)

    def best_other(pair: ScoredPair) -> float | None:
        rivals = [p.score for p in by_line[pair.line_key] if p.parcela_id != pair.parcela_id]
        rivals += [p.score for p in by_parcela[pair.parcela_id] if p.line_key != pair.line_key]
        return max(rivals) if rivals else None

    return best_other


def _zone(pair: ScoredPair, runner_up: float | None, limits: Thresholds) -> Decision:
    margin = pair.score - (runner_up or 0.0)
    if pair.score < limits.review:
        reason = f"best candidate scores {pair.score:.2f}, below the review floor {limits.review:.2f}"
        return Decision(pair.line_key, None, "unmatched", pair.score, runner_up, reason)
    held = _why_not_auto(pair, margin, runner_up, limits)
    if held:
        return Decision(pair.line_key, pair.parcela_id, "review", pair.score, runner_up, held)
    reason = f"exact amount, score {pair.score:.2f}, margin {margin:.2f} over the next candidate"
    return Decision(pair.line_key, pair.parcela_id, "auto", pair.score, runner_up, reason)


def _why_not_auto(pair: ScoredPair, margin: float, runner_up: float | None, limits: Thresholds) -> str:
    if not pair.amount_exact:
        return "amount differs from the parcela's open amount"
    if pair.score < limits.auto:
        return f"score {pair.score:.2f} below the automatic threshold {limits.auto:.2f}"
    if runner_up is not None and margin < limits.min_margin:
        return f"ambiguous: runner-up scores {runner_up:.2f}, margin {margin:.2f} < {limits.min_margin:.2f}"
    return ""


def _why_unmatched(line_key: str, pairs: list[ScoredPair]) -> str:
    if any(p.line_key == line_key for p in pairs):
        return "every candidate parcela went to a better-matching bank line"
    return "no open parcela with this direction, amount and due date"
