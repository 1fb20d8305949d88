from datetime import date

import pandas as pd
import pytest

from matchers.candidates import Blocking, candidates_sql
from matchers.decide import ScoredPair, Thresholds, decide
from matchers.normalize import clean_memo, clean_name
from matchers.scoring import Scores, amount_score, date_score, name_score
from recon.store import Store

LIMITS = Thresholds(auto=0.9, review=0.5, min_margin=0.15)


@pytest.mark.parametrize(
    ("memo", "name"),
    [
        ("PIX RECEBIDO - JOAO DA SILVA 12/03", "JOAO DA SILVA"),
        ("TED 237.1234ACME COMERCIO", "ACME COMERCIO"),
        ("Transfe Pix Rem: Padaria Pão Quente 02/09", "PADARIA PAO QUENTE"),
        ("PIX TRANSF  JOAO SI12/03", "JOAO SI"),
    ],
)
def test_clean_memo_keeps_the_counterpart(memo, name):
    assert clean_memo(memo) == name


def test_names_fold_accents_and_company_suffixes():
    assert clean_name("Clínica Sorriso Ltda.") == "CLINICA SORRISO"


def test_truncated_bank_names_still_match_but_short_noise_does_not():
    assert name_score("PIX TRANSF  JOAO SI05/11", "João Silva", "Consulta") == 1.0
    assert name_score("PIX TRANSF  ANA 05/11", "Mariana Souza", "Aulas") < 0.9


def test_amount_score_exact_beats_close_and_close_is_capped():
    assert amount_score(0, 10000, 5.0) == 1.0
    assert 0 < amount_score(100, 10000, 5.0) <= 0.5
    assert amount_score(600, 10000, 5.0) == 0.0


def test_date_score_decays_with_lag():
    assert date_score(0) == 1.0
    assert date_score(7) == pytest.approx(0.5)
    assert date_score(-3) == date_score(3) > date_score(30)


def test_exact_amount_without_name_evidence_goes_to_review():
    total = Scores(amount=1.0, date=1.0, name=0.0).total
    assert LIMITS.review <= total < LIMITS.auto


def test_clear_match_is_automatic():
    decisions = decide(["l1"], [ScoredPair("l1", "p1", 0.97, True)], LIMITS)
    assert [(d.decision, d.parcela_id) for d in decisions] == [("auto", "p1")]


def test_same_amount_collision_without_names_goes_to_review_never_guessed():
    pairs = [ScoredPair(line, p, 0.6, True) for line in ("l1", "l2") for p in ("p1", "p2", "p3")]
    decisions = decide(["l1", "l2"], pairs, LIMITS)
    assert {d.decision for d in decisions} == {"review"}
    assert len({d.parcela_id for d in decisions}) == 2  # suggestions never share a parcela


def test_names_resolve_a_same_amount_collision():
    pairs = [ScoredPair("l1", "p1", 0.98, True), ScoredPair("l1", "p2", 0.62, True),
             ScoredPair("l2", "p2", 0.97, True), ScoredPair("l2", "p1", 0.61, True)]
    decisions = {d.line_key: d for d in decide(["l1", "l2"], pairs, LIMITS)}
    assert (decisions["l1"].decision, decisions["l1"].parcela_id) == ("auto", "p1")
    assert (decisions["l2"].decision, decisions["l2"].parcela_id) == ("auto", "p2")


def test_a_parcela_is_never_given_to_two_lines():
    pairs = [ScoredPair("l1", "p1", 0.99, True), ScoredPair("l2", "p1", 0.95, True)]
    decisions = {d.line_key: d for d in decide(["l1", "l2"], pairs, LIMITS)}
    assert decisions["l1"].parcela_id == "p1"
    assert decisions["l1"].decision == "review"  # the rival line is too close to be sure
    assert decisions["l2"].decision == "unmatched"
    assert "better-matching" in decisions["l2"].reason


def test_inexact_amount_never_settles_automatically():
    decisions = decide(["l1"], [ScoredPair("l1", "p1", 0.95, False)], LIMITS)
    assert decisions[0].decision == "review"
    assert "amount differs" in decisions[0].reason


def test_lines_without_candidates_are_unmatched_with_a_reason():
    decisions = decide(["l9"], [], LIMITS)
    assert decisions[0].decision == "unmatched" and "no open parcela" in decisions[0].reason


def test_blocking_sql_respects_direction_amount_and_one_sided_window(tmp_path):
    store = Store(tmp_path / "t.duckdb")
    lines = pd.DataFrame([
        ("credit", "f", 1, None, None, None, "c", date(2026, 11, 10), 10000, "PIX", None, "r"),
        ("debit", "f", 2, None, None, None, "c", date(2026, 11, 10), -10000, "PAG", None, "r"),
    ], columns=["line_key", "file", "source_line", "bank_code", "branch", "account_number",
                "conta_financeira_id", "posted_on", "amount_cents", "memo", "fitid", "first_run_id"])
    store.insert_frame("statement_lines", lines)
    store.insert_frame("run_lines", pd.DataFrame({"run_id": ["r", "r"], "line_key": ["credit", "debit"]}))
    parcelas = [
        ("rec-on-time", "receber", date(2026, 11, 8), 10000),
        ("rec-close-amount", "receber", date(2026, 11, 10), 10400),
        ("rec-far-amount", "receber", date(2026, 11, 10), 12000),
        ("rec-due-long-after", "receber", date(2026, 12, 30), 10000),
        ("rec-due-long-before", "receber", date(2026, 8, 1), 10000),
        ("pag-on-time", "pagar", date(2026, 11, 10), 10000),
    ]
    store.insert_frame("parcelas", pd.DataFrame(
        [("r", pid, kind, "", due, "open", cents, 0, cents, None, None)
         for pid, kind, due, cents in parcelas],
        columns=["run_id", "parcela_id", "kind", "descricao", "due_on", "status", "total_cents",
                 "paid_cents", "open_cents", "contact_id", "contact_name"]))
    blocking = Blocking(due_window_before_days=60, due_window_after_days=10, amount_tolerance_pct=5.0)
    pairs = {(r["line_key"], r["parcela_id"]) for r in store.query(candidates_sql(blocking), {"run_id": "r"})}
    assert pairs == {("credit", "rec-on-time"), ("credit", "rec-close-amount"), ("debit", "pag-on-time")}


def test_inexact_candidates_are_capped_per_line_but_exact_ones_never_are(tmp_path):
    store = Store(tmp_path / "t.duckdb")
    store.insert_frame("statement_lines", pd.DataFrame(
        [("l1", "f", 1, None, None, None, "c", date(2026, 11, 10), 100000, "PIX", None, "r")],
        columns=["line_key", "file", "source_line", "bank_code", "branch", "account_number",
                 "conta_financeira_id", "posted_on", "amount_cents", "memo", "fitid", "first_run_id"]))
    store.insert_frame("run_lines", pd.DataFrame({"run_id": ["r"], "line_key": ["l1"]}))
    parcelas = [(f"exact-{n}", 100000) for n in range(30)] + [(f"close-{n:02d}", 100000 + 10 * (n + 1))
                                                              for n in range(40)]
    store.insert_frame("parcelas", pd.DataFrame(
        [("r", pid, "receber", "", date(2026, 11, 10), "open", cents, 0, cents, None, None)
         for pid, cents in parcelas],
        columns=["run_id", "parcela_id", "kind", "descricao", "due_on", "status", "total_cents",
                 "paid_cents", "open_cents", "contact_id", "contact_name"]))
    blocking = Blocking(60, 10, 5.0, max_inexact_per_line=5)
    found = {r["parcela_id"] for r in store.query(candidates_sql(blocking), {"run_id": "r"})}
    assert {p for p in found if p.startswith("exact")} == {f"exact-{n}" for n in range(30)}
    assert {p for p in found if p.startswith("close")} == {f"close-{n:02d}" for n in range(5)}
