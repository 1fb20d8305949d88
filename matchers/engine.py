"""Matching for one run: candidates from the store, scores, decisions back into it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from matchers.candidates import Blocking, candidates_sql
from matchers.decide import Decision, ScoredPair, Thresholds, decide
from matchers.scoring import Scores, amount_score, date_score, name_score
from recon.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MatchSettings:
    blocking: Blocking
    thresholds: Thresholds


def match_run(store: Store, run_id: str, settings: MatchSettings) -> list[Decision]:
    frame = store.query_frame(candidates_sql(settings.blocking), {"run_id": run_id})
    scored = score_candidates(frame, settings.blocking.amount_tolerance_pct)
    store.insert_frame("candidates", scored.assign(run_id=run_id))
    line_keys = [row["line_key"] for row in store.query(
        "SELECT line_key FROM run_lines WHERE run_id = $run_id", {"run_id": run_id})]
    pairs = [
        ScoredPair(row.line_key, row.parcela_id, row.score, int(row.amount_diff_cents) == 0)
        for row in scored.itertuples(index=False)
    ]
    decisions = decide(line_keys, pairs, settings.thresholds)
    store.insert_frame("decisions", decisions_frame(run_id, decisions))
    log.info("run %s: %d lines, %d candidate pairs, %d auto", run_id, len(line_keys), len(pairs),
             sum(d.decision == "auto" for d in decisions))
    return decisions


def score_candidates(frame: pd.DataFrame, tolerance_pct: float) -> pd.DataFrame:
    columns = ["line_key", "parcela_id", "amount_diff_cents", "lag_days",
               "amount_score", "date_score", "name_score", "score"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for line_key, parcela_id, diff, open_cents, lag, memo, contact, descricao in zip(
        frame["line_key"], frame["parcela_id"], frame["amount_diff_cents"].astype(int),
        frame["open_cents"].astype(int), frame["lag_days"].astype(int), frame["memo"],
        frame["contact_name"], frame["descricao"], strict=True,
    ):
        scores = Scores(
            amount=amount_score(diff, open_cents, tolerance_pct),
            date=date_score(lag),
            name=name_score(memo, contact, descricao),
        )
        rows.append((line_key, parcela_id, diff, lag, scores.amount, scores.date, scores.name,
                     scores.total))
    return pd.DataFrame(rows, columns=columns)


def decisions_frame(run_id: str, decisions: list[Decision]) -> pd.DataFrame:
    return pd.DataFrame(
        [(run_id, d.line_key, d.parcela_id, d.decision, d.score, d.runner_up_score, d.reason)
         for d in decisions],
        columns=["run_id", "line_key", "parcela_id", "decision", "score", "runner_up_score", "reason"],
    )
