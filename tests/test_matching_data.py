"""The labelled matching workload and the scorer of the matching-quality benchmark."""

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not installed

from benchmarks.matching_data import (
    ACQUIRERS,
    LINE_SHARES,
    MIN_UNPAID,
    ONE_TO_ONE_KINDS,
    RUN_ID,
    generate,
    kind_counts,
    plan_counts,
)
from benchmarks.matching_quality import (
    auto_score,
    candidate_stats,
    import_features,
    kind_table,
    line_outcomes,
    load_workload,
    parse_args,
    report,
    review_rate,
    run_engine,
    wrong_autos,
)
from recon.store import Store

N = 6_000


@pytest.fixture(scope="module")
def workload():
    return generate(N, N, seed=11, accounts=4, dense=True)


@pytest.fixture(scope="module")
def paid(workload):
    """Paid truth rows with their line and parcela beside them."""
    rows = workload.truth.dropna(subset=["line_key", "parcela_id"])
    lines = workload.lines[["line_key", "posted_on", "amount_cents", "memo"]]
    parcelas = workload.parcelas[["parcela_id", "kind", "due_on", "open_cents", "contact_id"]]
    return (rows.merge(lines.rename(columns={"amount_cents": "line_cents"}), on="line_key")
            .merge(parcelas.rename(columns={"kind": "side"}), on="parcela_id"))


def test_same_seed_same_workload_other_seed_another():
    first, again = generate(800, 800, seed=5, accounts=3, dense=False), generate(
        800, 800, seed=5, accounts=3, dense=False)
    for name in ("parcelas", "lines", "truth", "contacts"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))
    other = generate(800, 800, seed=6, accounts=3, dense=False)
    assert not first.lines["memo"].equals(other.lines["memo"])


def test_each_kind_has_its_share_of_the_lines(workload):
    lines = kind_counts(workload.truth)["lines"] / N
    for kind, share in LINE_SHARES.items():
        if kind in ("collision", "ambiguous"):
            continue  # look-alike names move a few named collisions to ambiguous
        assert lines[kind] == pytest.approx(share, abs=0.002), kind
    both = lines["collision"] + lines["ambiguous"]
    assert both == pytest.approx(LINE_SHARES["collision"] + LINE_SHARES["ambiguous"], abs=0.002)
    assert LINE_SHARES["ambiguous"] - 0.002 <= lines["ambiguous"] <= LINE_SHARES["ambiguous"] + 0.01
    assert kind_counts(workload.truth)["parcelas"]["unpaid"] >= MIN_UNPAID * N


def test_store_layouts_and_types(workload):
    assert list(workload.lines.columns) == [
        "line_key", "file", "source_line", "bank_code", "branch", "account_number",
        "conta_financeira_id", "posted_on", "amount_cents", "memo", "fitid", "first_run_id"]
    assert list(workload.parcelas.columns) == [
        "run_id", "parcela_id", "kind", "descricao", "due_on", "status", "total_cents",
        "paid_cents", "open_cents", "contact_id", "contact_name"]
    assert workload.lines["amount_cents"].dtype == np.int64
    assert workload.parcelas["open_cents"].dtype == np.int64
    assert workload.lines["line_key"].is_unique and workload.parcelas["parcela_id"].is_unique
    assert (workload.lines["amount_cents"] != 0).all()
    assert (workload.parcelas["open_cents"] > 0).all()


def test_every_line_and_parcela_has_a_truth_row(workload):
    truth = workload.truth
    assert set(truth["line_key"].dropna()) == set(workload.lines["line_key"])
    assert set(truth["parcela_id"].dropna()) == set(workload.parcelas["parcela_id"])
    assert truth.loc[truth["kind"] == "bank_only", "parcela_id"].isna().all()
    assert truth.loc[truth["kind"] == "unpaid", "line_key"].isna().all()


def test_parts_add_up_and_lines_equal_their_parcelas(paid):
    parts = (paid["principal_cents"] + paid["multa_cents"] + paid["juros_cents"]
             - paid["desconto_cents"] - paid["fee_cents"])
    assert (parts == paid["amount_cents"]).all()
    per_line = paid.groupby("line_key").agg(total=("amount_cents", "sum"),
                                            line=("line_cents", "first"))
    assert (per_line["total"] == per_line["line"].abs()).all()
    credit = paid["line_cents"] > 0
    assert (credit == (paid["side"] == "receber")).all()


def test_batches_are_their_parcelas_minus_fees(paid):
    boletos = paid[paid["kind"] == "boleto_batch"].groupby("line_key")
    assert (boletos["fee_cents"].nunique() == 1).all()  # one tariff per title in a batch
    net = boletos["principal_cents"].sum() - boletos["fee_cents"].first() * boletos.size()
    assert (net == boletos["line_cents"].first()).all() and (boletos.size() >= 2).all()
    cards = paid[paid["kind"] == "card_payout"]
    by_line = cards.groupby("line_key")
    rates = by_line["fee_cents"].sum() / by_line["principal_cents"].sum()
    mdr = sorted({a[1] / 10_000 for a in ACQUIRERS} | {a[2] / 10_000 for a in ACQUIRERS})
    assert rates.map(lambda r: min(abs(r - m) for m in mdr)).max() < 0.001
    sums = cards.groupby("line_key").agg(gross=("principal_cents", "sum"), fee=("fee_cents", "sum"),
                                         line=("line_cents", "first"))
    assert (sums["gross"] - sums["fee"] == sums["line"]).all()


def test_late_payments_carry_multa_and_pro_rata_juros(paid):
    late = paid[paid["kind"] == "late"]
    days = (late["posted_on"] - late["due_on"]).dt.days
    assert (days > 0).all()
    assert (late["multa_cents"] - late["principal_cents"] * 0.02).abs().max() <= 0.5
    assert (late["juros_cents"] - late["principal_cents"] * 0.01 * days / 30).abs().max() <= 0.5
    early = paid[paid["kind"] == "discount"]
    assert (early["posted_on"] < early["due_on"]).all() and (early["desconto_cents"] > 0).all()


def test_a_parcela_is_paid_by_one_line_except_split_transfers(paid):
    lines_per_parcela = paid.groupby("parcela_id").agg(n=("line_key", "nunique"),
                                                        kind=("kind", "first"))
    assert (lines_per_parcela.loc[lines_per_parcela["kind"] == "split2", "n"] == 2).all()
    assert (lines_per_parcela.loc[lines_per_parcela["kind"] != "split2", "n"] == 1).all()
    one_to_one = paid[paid["kind"].isin(ONE_TO_ONE_KINDS + ("ambiguous",))]
    assert (one_to_one.groupby("line_key")["parcela_id"].nunique() == 1).all()


def test_weekly_payments_belong_to_this_weeks_parcela(workload, paid):
    weekly = paid[paid["kind"] == "weekly"]
    same = weekly.merge(workload.parcelas, on=["contact_id", "open_cents"], suffixes=("", "_other"))
    same = same[same["parcela_id"] != same["parcela_id_other"]]
    gap_own = (weekly["posted_on"] - weekly["due_on"]).dt.days.abs().max()
    gap_other = (same["posted_on"] - same["due_on_other"]).dt.days.abs()
    assert len(same) > 0 and gap_own < gap_other.min()  # another week is never as close


def test_ambiguous_lines_share_amount_and_day_with_another_parcela(workload, paid):
    ambiguous = paid[paid["kind"] == "ambiguous"]
    group = workload.parcelas.groupby(["open_cents", "due_on"]).size().rename("size")
    sizes = ambiguous.join(group, on=["open_cents", "due_on"])["size"]
    assert len(ambiguous) > 0 and (sizes >= 2).all()


def test_documents_have_valid_check_digits(workload):
    for doc in workload.contacts["documento"].head(200):
        digits = [int(c) for c in doc]
        for length in (len(digits) - 2, len(digits) - 1):
            weights = (list(range(length + 1, 1, -1)) if len(digits) == 11
                       else ([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2] if length == 12
                             else [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]))
            rest = sum(d * w for d, w in zip(digits, weights)) % 11
            assert digits[length] == (0 if rest < 2 else 11 - rest), doc


def test_few_parcelas_scale_the_paid_kinds_down():
    plan = plan_counts(1_000, 5_000)
    lines = sum(v for k, v in plan.items() if k != "decoys")
    assert lines == 5_000 and plan["bank_only"] > LINE_SHARES["bank_only"] * 5_000
    small = generate(1_000, 5_000, seed=2, accounts=2, dense=True)
    assert kind_counts(small.truth)["parcelas"]["unpaid"] >= MIN_UNPAID * 1_000


TRUTH = pd.DataFrame({
    "line_key": ["l1", "l2", "l3", "l4", "l5", "l5", "l6", None],
    "parcela_id": ["p1", "p2", "p3", None, "p5", "p6", "p7", "p9"],
    "kind": ["clean", "clean", "late", "bank_only", "boleto_batch", "boleto_batch", "ambiguous",
             "unpaid"]})
DECISIONS = pd.DataFrame({
    "line_key": ["l1", "l2", "l3", "l4", "l5", "l6"],
    "parcela_id": ["p1", "p9", "p3", "p2", "p6", "p7"],
    "decision": ["auto", "auto", "review", "auto", "review", "auto"]})


def test_scorer_precision_recall_and_wrong_settlements():
    outcomes = line_outcomes(DECISIONS, TRUTH)
    score = auto_score(outcomes)  # 1:1 kinds: l1 right, l2 wrong, l3 only reviewed
    assert (score.autos, score.right, score.eligible) == (2, 1, 3)
    assert score.precision == pytest.approx(0.5) and score.recall == pytest.approx(1 / 3)
    wrong = wrong_autos(outcomes)
    assert sorted(wrong["line_key"]) == ["l2", "l4"]  # the guess on ambiguous l6 was right
    assert dict(zip(wrong["line_key"], wrong["chosen_kind"])) == {"l2": "unpaid", "l4": "clean"}
    assert review_rate(outcomes) == pytest.approx(2 / 6)


def test_kind_table_counts_each_outcome():
    table = kind_table(line_outcomes(DECISIONS, TRUTH))
    assert table.loc["clean"].tolist() == [2, 1, 1, 0, 0, 0]
    # a batch is right only when the whole set of its parcelas is proposed
    assert table.loc["boleto_batch", "review_wrong"] == 1
    assert table.loc["bank_only", "auto_wrong"] == 1
    assert table["lines"].sum() == len(DECISIONS)


def test_calibration_table_says_how_often_each_band_of_probability_was_right():
    from benchmarks.matching_quality import calibration_table

    scored = DECISIONS.assign(score=[0.999, 0.97, 0.4, 1.0, 0.6, 0.35])
    table = calibration_table(line_outcomes(scored, TRUTH))
    # l1 (right) and l4 (wrong, at exactly 1.0) share the top band; l2 (wrong) at 0.97.
    top = table.iloc[-1]
    assert (top["proposals"], top["right"]) == (2, 0.5)
    assert top["mean_probability"] == pytest.approx((0.999 + 1.0) / 2)
    assert table["proposals"].sum() == len(scored)
    assert table.loc[table.index[table.index.map(lambda b: 0.97 in b)][0], "right"] == 0.0


def test_candidate_stats():
    stats = candidate_stats(np.array([0, 1, 2, 3, 94]))
    assert (stats["max"], stats["pairs"], stats["none"]) == (94, 100, 1)
    assert stats["mean"] == pytest.approx(20.0)
    assert candidate_stats(np.array([], int))["pairs"] == 0


def test_quality_benchmark_runs_the_current_engine_end_to_end():
    small = generate(300, 300, seed=3, accounts=2, dense=True)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "b.duckdb") as store:
        load_workload(store, replace(small, lines=import_features(small.lines)), RUN_ID)
        engine = run_engine(store, RUN_ID)
    outcomes = line_outcomes(engine.decisions, small.truth, engine.allocations)
    assert len(outcomes) == 300 and outcomes["kind"].notna().all()
    assert engine.seconds > 0 and engine.peak_mb > 0
    assert wrong_autos(outcomes).empty  # a small dense ledger: no wrong automatic baixa


def test_report_lists_a_wrong_settlement_with_the_right_parcela():
    small = generate(300, 300, seed=3, accounts=2, dense=True)
    truth = small.truth.dropna(subset=["line_key", "parcela_id"])
    clean = truth[truth["kind"] == "clean"].iloc[0]
    unpaid = small.truth.loc[small.truth["kind"] == "unpaid", "parcela_id"].iloc[0]
    decisions = pd.DataFrame({"line_key": small.lines["line_key"], "parcela_id": None,
                              "decision": "unmatched"})
    decisions.loc[decisions["line_key"] == clean["line_key"], ["parcela_id", "decision"]] = [
        unpaid, "auto"]
    timings = {"generate": 0.1, "load": 0.1, "match": 0.1, "peak_mb": 1.0, "peak_before_mb": 1.0,
               "normalise": 0.1, "stages": {"stage": 0.05}}
    text = report(parse_args(["--parcelas", "300"]), small, line_outcomes(decisions, small.truth),
                  timings, np.zeros(300, int))
    assert "wrong automatic settlements: 1 of 1 autos" in text
    assert "clean -> unpaid 1" in text
    assert f"-> {unpaid} (unpaid" in text and f"truth: {clean['parcela_id']}" in text
