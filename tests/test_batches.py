"""The many-to-one pass: boleto batches net of a tariff, card payouts net of an MDR."""

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not installed

from benchmarks.batches_bench import residual_inputs
from benchmarks.matching_data import ACQUIRERS, BOLETO_CREDIT, CARD_MEMOS, generate
from matchers.batches import BatchSettings, KnownFees, batch_kind, find_batches

CIELO_VISA_CREDIT = "CIELO VDA CREDITO VISA CIELO SA"
CIELO_SALE = "Venda cartão Visa crédito - Cielo"


def lines_frame(*rows) -> pd.DataFrame:
    """(line_key, conta, posted_on, amount_cents, memo) rows."""
    frame = pd.DataFrame(rows, columns=["line_key", "conta_financeira_id", "posted_on",
                                        "amount_cents", "memo"])
    return frame.assign(posted_on=pd.to_datetime(frame["posted_on"]),
                        amount_cents=frame["amount_cents"].astype("int64"))


def parcelas_frame(*rows) -> pd.DataFrame:
    """(parcela_id, due_on, open_cents, descricao) rows; no contacts."""
    frame = pd.DataFrame(rows, columns=["parcela_id", "due_on", "open_cents", "descricao"])
    return frame.assign(due_on=pd.to_datetime(frame["due_on"]),
                        open_cents=frame["open_cents"].astype("int64"), contact_name=None)


def half_up(cents: int, bp: int) -> int:
    return (cents * bp + 5_000) // 10_000


def payout(*sales: int, bp: int = 315) -> int:
    return sum(s - half_up(s, bp) for s in sales)


def sets(result) -> dict[str, set[str]]:
    return {k: set(g["parcela_id"]) for k, g in result.allocations.groupby("line_key")}


# --- What a memo batches ----------------------------------------------------------------------

@pytest.mark.parametrize("memo", sorted(set(BOLETO_CREDIT.values())))
def test_boleto_batch_memos(memo):
    assert batch_kind(memo) == ("boleto_batch", None, None)


@pytest.mark.parametrize(("memo", "acquirer", "product"), [
    (CARD_MEMOS[(a * 2 + debit) * 3 + b], ACQUIRERS[a][0],
     None if ACQUIRERS[a][0] == "Mercado Pago" else ("debito" if debit else "credito"))
    for a in range(len(ACQUIRERS)) for debit in (0, 1) for b in range(3)])
def test_card_payout_memos_name_acquirer_and_product(memo, acquirer, product):
    assert batch_kind(memo) == ("card_payout", acquirer, product)


@pytest.mark.parametrize(("memo", "expected"), [
    ("REDE VISA CD0102737975", ("card_payout", "Rede", "credito")),
    ("REDE HIPER CRED REDECARD S A", ("card_payout", "Rede", "credito")),
    ("GETNET-MAESTRO", ("card_payout", "Getnet", "debito")),
    ("CARTAO VISA ELECTRON CIELO SA", ("card_payout", "Cielo", "debito")),
    ("RECEBIMENTO FORNECEDOR CIELO SA", ("card_payout", "Cielo", None)),
    ("REDE COMPARTILHADA", None),  # Caixa's ATM network, not the acquirer (statements §6.3)
    ("REDE SHOP", None),
    ("COBRANÇA", None),  # BB credits each boleto gross: a 1:1 line
    ("PAGTO ELETRON COBRANCA ACME", None),
    ("TARIFA REGISTRO TITULO", None),
    ("STONE PAGAMENTOS S.A CARTAO ANTECIP", None),  # anticipation: another fee model
    ("Transferência recebida pelo Pix - FULANO - 123 - MERCADO PAGO IP LTDA (0323)", None),
    ("PIX RECEBIDO - JOAO DA SILVA 12/03", None),
], ids=lambda v: v if isinstance(v, str) else None)
def test_memo_kinds_and_lookalikes(memo, expected):
    assert batch_kind(memo) == expected


# --- Boleto batches ---------------------------------------------------------------------------

def test_boleto_batch_of_three_net_of_a_known_tariff_is_found_and_unique():
    lines = lines_frame(("L1", "c1", "2024-03-08", 10_000 + 23_456 + 31_000 - 3 * 250,
                         "CRED COBRANCA SIMPLES"))
    parcelas = parcelas_frame(
        ("P1", "2024-03-05", 10_000, "Venda 1"), ("P2", "2024-03-06", 23_456, "Venda 2"),
        ("P3", "2024-03-07", 31_000, "Venda 3"), ("P4", "2024-03-06", 12_345, "Venda 4"),
        ("P5", "2024-03-07", 50_505, "Venda 5"), ("P6", "2024-02-01", 777, "Venda 6"))
    result = find_batches(lines, parcelas, BatchSettings(), KnownFees({"c1": 250}))

    assert sets(result) == {"L1": {"P1", "P2", "P3"}}
    group = result.groups.iloc[0]
    assert (group["kind"], group["fee_model"], group["fee_param"]) == (
        "boleto_batch", "tariff", 250)
    assert (group["n_parcelas"], group["alternatives"], group["fee_learned_from"]) == (
        3, 0, "known")
    assert group["explanation"].startswith("3 boletos R$ 644,56 minus tariff R$ 2,50 each")
    assert result.allocations["fee_cents"].tolist() == [250, 250, 250]
    assert result.allocations["net_cents"].sum() == lines["amount_cents"].iloc[0]
    assert result.skipped.empty


def test_tariff_is_learned_from_three_lines_of_one_account():
    tariff, weeks = 195, ("2024-03-08", "2024-03-22", "2024-04-05")
    titles = [(12_000, 30_150), (8_800, 41_000, 5_025), (64_990, 19_990)]
    lines = lines_frame(*[(f"L{w}", "c1", day, sum(t) - len(t) * tariff, "LIQUIDO DE COBRANCA")
                          for w, (day, t) in enumerate(zip(weeks, titles, strict=True))])
    parcelas = parcelas_frame(*[
        (f"P{w}{i}", pd.Timestamp(day) - pd.Timedelta(days=1 + i), cents, f"Boleto {w}{i}")
        for w, (day, t) in enumerate(zip(weeks, titles, strict=True))
        for i, cents in enumerate(t)])
    result = find_batches(lines, parcelas)

    assert result.learned.boleto_tariff_cents == {"c1": tariff}
    assert sets(result) == {f"L{w}": {f"P{w}{i}" for i in range(len(t))}
                            for w, t in enumerate(titles)}
    assert set(result.groups["fee_learned_from"]) == {"votes"}
    assert (result.groups["fee_param"] == tariff).all()


def test_without_agreeing_lines_the_tariff_stays_unknown_and_nothing_is_guessed():
    lines = lines_frame(("L1", "c1", "2024-03-08", 10_000 + 20_000 - 2 * 250, "COB COMPE"))
    parcelas = parcelas_frame(("P1", "2024-03-06", 10_000, "Boleto 1"),
                              ("P2", "2024-03-07", 20_000, "Boleto 2"))
    result = find_batches(lines, parcelas)

    assert result.allocations.empty
    assert result.skipped["reason"].iloc[0].startswith("fee unknown: tariff of c1")


# --- Card payouts -----------------------------------------------------------------------------

def test_card_payout_with_learned_mdr_splits_the_fee_per_title():
    days = ("2024-05-02", "2024-05-09", "2024-05-16")
    sales = [(12_990, 4_550, 30_000), (8_875, 19_999), (2_345, 15_000, 7_777, 10_001)]
    lines = lines_frame(*[(f"L{d}", "c1", day, payout(*s), CIELO_VISA_CREDIT)
                          for d, (day, s) in enumerate(zip(days, sales, strict=True))])
    parcelas = parcelas_frame(*[(f"P{d}{i}", day, cents, CIELO_SALE)
                                for d, (day, s) in enumerate(zip(days, sales, strict=True))
                                for i, cents in enumerate(s)])
    result = find_batches(lines, parcelas)

    assert result.learned.mdr_bp == {("Cielo", "credito"): 315}
    assert len(result.groups) == 3 and (result.groups["alternatives"] == 0).all()
    assert set(result.groups["product"]) == {"credito"}
    allocations = result.allocations.set_index("parcela_id")
    for d, s in enumerate(sales):
        for i, cents in enumerate(s):
            assert allocations.at[f"P{d}{i}", "fee_cents"] == half_up(cents, 315)
    nets = result.allocations.groupby("line_key")["net_cents"].sum()
    assert nets.to_dict() == lines.set_index("line_key")["amount_cents"].to_dict()
    assert "MDR 3.15 %" in result.groups["explanation"].iloc[0]


def test_acquirer_rounding_either_way_still_splits_to_the_exact_line_amount():
    """Fees rounded down on one payout and up on another: no exact rule, ±1 a title."""
    bp, first, second = 289, (10_050, 20_070), (11_111, 7_013)
    down = sum(s - s * bp // 10_000 for s in first)
    up = sum(s + (-s * bp) // 10_000 for s in second)
    lines = lines_frame(("L1", "c1", "2024-06-03", down, "CART. CREDIT - Stone Pagamento - VISA"),
                        ("L2", "c1", "2024-06-10", up, "CART. CREDIT - Stone Pagamento - VISA"))
    sale = "Venda cartão Visa crédito - Stone"
    parcelas = parcelas_frame(*[(f"A{i}", "2024-06-03", s, sale) for i, s in enumerate(first)],
                              *[(f"B{i}", "2024-06-10", s, sale) for i, s in enumerate(second)])
    result = find_batches(lines, parcelas, BatchSettings(),
                          KnownFees(mdr_bp={("Stone", "credito"): bp}))

    assert sets(result) == {"L1": {"A0", "A1"}, "L2": {"B0", "B1"}}
    assert "rounded either way" in result.groups["explanation"].iloc[0]
    allocations = result.allocations
    assert allocations.groupby("line_key")["net_cents"].sum().to_dict() == {"L1": down, "L2": up}
    exact = allocations["gross_cents"] * bp / 10_000
    assert ((allocations["fee_cents"] - exact).abs() < 1).all()


def test_sales_need_not_name_the_acquirer():
    payouts = [("2024-05-02", (12_990, 4_550)), ("2024-05-09", (8_875, 19_999))]
    lines = lines_frame(*[(f"L{d}", "c1", day, payout(*s), CIELO_VISA_CREDIT)
                          for d, (day, s) in enumerate(payouts)])
    parcelas = parcelas_frame(("P00", "2024-05-02", 12_990, "Venda 1"),
                              ("P01", "2024-05-01", 4_550, "Venda 2"),
                              ("P10", "2024-05-09", 8_875, "Venda 3"),
                              ("P11", "2024-05-08", 19_999, "Venda 4"))
    result = find_batches(lines, parcelas, BatchSettings(),
                          KnownFees(mdr_bp={("Cielo", "credito"): 315}))

    assert sets(result) == {"L0": {"P00", "P01"}, "L1": {"P10", "P11"}}


def test_a_sale_naming_another_acquirer_is_never_a_candidate():
    lines = lines_frame(("L1", "c1", "2024-05-02", payout(12_990, 4_550), CIELO_VISA_CREDIT))
    parcelas = parcelas_frame(("P1", "2024-05-02", 12_990, CIELO_SALE),
                              ("P2", "2024-05-02", 4_550, "Venda cartão Visa crédito - Rede"))
    result = find_batches(lines, parcelas, BatchSettings(),
                          KnownFees(mdr_bp={("Cielo", "credito"): 315}))

    assert result.allocations.empty
    assert result.skipped["reason"].iloc[0].startswith("no subset")


# --- Ambiguity, conflicts, what is not a batch, the budget ------------------------------------

def test_two_fitting_subsets_are_reported_as_alternatives():
    lines = lines_frame(("L1", "c1", "2024-03-08", 50_000 - 2 * 100, "CRED COBRANCA SIMPLES"))
    parcelas = parcelas_frame(*[(f"P{i}", "2024-03-06", cents, f"Boleto {i}")
                                for i, cents in enumerate((10_000, 20_000, 30_000, 40_000))])
    result = find_batches(lines, parcelas, BatchSettings(), KnownFees({"c1": 100}))

    assert result.groups["alternatives"].tolist() == [1]
    assert sets(result)["L1"] in ({"P0", "P3"}, {"P1", "P2"})
    assert "1 other subset also fit" in result.groups["explanation"].iloc[0]


def test_a_parcela_is_never_given_to_two_lines():
    lines = lines_frame(("L1", "c1", "2024-03-08", 30_000 - 2 * 100, "CRED COBRANCA SIMPLES"),
                        ("L2", "c2", "2024-03-08", 30_000 - 2 * 100, "LIQUIDO DE COBRANCA"))
    parcelas = parcelas_frame(("P1", "2024-03-06", 10_000, "Boleto 1"),
                              ("P2", "2024-03-07", 20_000, "Boleto 2"))
    result = find_batches(lines, parcelas, BatchSettings(), KnownFees({"c1": 100, "c2": 100}))

    assert not result.allocations["parcela_id"].duplicated().any()
    assert sets(result) == {"L1": {"P1", "P2"}}  # equal claims: the first line key wins
    assert result.skipped.to_dict("records") == [
        {"line_key": "L2", "reason": "conflict: its subset shares a parcela with line L1"}]


def test_a_unique_claim_frees_the_other_line_from_its_alternatives():
    """L1 fits only {P1, P2}; L2 fits {P1, P3} or {P4, P5}: once P1 goes to L1, L2 is unique."""
    lines = lines_frame(("L1", "c1", "2024-03-08", 10_000 + 20_000 - 200, "CRED COBRANCA SIMPLES"),
                        ("L2", "c1", "2024-03-08", 10_000 + 35_000 - 200, "CRED COBRANCA SIMPLES"))
    parcelas = parcelas_frame(("P1", "2024-03-06", 10_000, "Boleto 1"),
                              ("P2", "2024-03-06", 20_000, "Boleto 2"),
                              ("P3", "2024-03-06", 35_000, "Boleto 3"),
                              ("P4", "2024-03-06", 15_000, "Boleto 4"),
                              ("P5", "2024-03-06", 30_000, "Boleto 5"))
    result = find_batches(lines, parcelas, BatchSettings(), KnownFees({"c1": 100}))

    assert sets(result) == {"L1": {"P1", "P2"}, "L2": {"P4", "P5"}}
    assert result.groups["alternatives"].tolist() == [0, 0]


def test_a_memo_that_is_no_batch_is_ignored():
    lines = lines_frame(("L1", "c1", "2024-03-08", 30_000 - 2 * 250, "PIX RECEBIDO - JOAO SILVA"),
                        ("L2", "c1", "2024-03-08", -(30_000 - 2 * 250), "CRED COBRANCA SIMPLES"))
    parcelas = parcelas_frame(("P1", "2024-03-06", 10_000, "Boleto 1"),
                              ("P2", "2024-03-07", 20_000, "Boleto 2"))
    result = find_batches(lines, parcelas, BatchSettings(), KnownFees({"c1": 250}))

    assert result.allocations.empty and result.groups.empty and result.skipped.empty


def test_an_exhausted_budget_leaves_lines_reported_not_guessed():
    lines = lines_frame(("L1", "c1", "2024-03-08", 30_000 - 2 * 250, "CRED COBRANCA SIMPLES"))
    parcelas = parcelas_frame(("P1", "2024-03-06", 10_000, "Boleto 1"),
                              ("P2", "2024-03-07", 20_000, "Boleto 2"))
    result = find_batches(lines, parcelas, BatchSettings(time_budget_s=0.0), KnownFees({"c1": 250}))

    assert result.allocations.empty
    assert result.skipped.to_dict("records") == [
        {"line_key": "L1", "reason": "budget exhausted: line not searched"}]


def test_a_batch_larger_than_max_titles_is_not_proposed():
    titles = (1_000, 2_000, 3_000, 4_000)
    lines = lines_frame(("L1", "c1", "2024-03-08", sum(titles) - 4 * 100, "COB COMPE"))
    parcelas = parcelas_frame(*[(f"P{i}", "2024-03-06", c, "Boleto") for i, c in enumerate(titles)])
    result = find_batches(lines, parcelas, BatchSettings(max_titles=3), KnownFees({"c1": 100}))

    assert result.allocations.empty
    assert "more than 3 titles" in result.skipped["reason"].iloc[0]


# --- On the labelled workload -----------------------------------------------------------------

@pytest.fixture(scope="module")
def workload_result():
    workload = generate(5_000, 5_000, seed=3, accounts=3, dense=False)
    lines, parcelas = residual_inputs(workload, blind=False)
    return workload, lines, find_batches(lines, parcelas)


def test_every_proposal_adds_up_and_no_parcela_is_used_twice(workload_result):
    _, lines, result = workload_result
    nets = result.allocations.groupby("line_key")["net_cents"].sum()
    amounts = lines.set_index("line_key")["amount_cents"]
    assert (nets == amounts.reindex(nets.index)).all()
    assert not result.allocations["parcela_id"].duplicated().any()
    assert (result.allocations["gross_cents"] - result.allocations["fee_cents"]
            == result.allocations["net_cents"]).all()


def test_unique_proposals_are_the_true_sets_and_fees_are_learned(workload_result):
    workload, _, result = workload_result
    truth = workload.truth[workload.truth["kind"].isin(["boleto_batch", "card_payout"])]
    true_sets = truth.groupby("line_key")["parcela_id"].agg(set)
    unique = result.groups.loc[result.groups["alternatives"] == 0, "line_key"]
    proposed = sets(result)
    assert len(unique) > 0.85 * len(true_sets)
    assert all(proposed[k] == true_sets.get(k) for k in unique)
    assert len(result.learned.mdr_bp) == 12


def test_the_budget_counts_work_not_time_so_a_slow_clock_changes_no_proposal(monkeypatch):
    workload = generate(3_000, 3_000, seed=4, accounts=2, dense=True)
    lines, parcelas = residual_inputs(workload, blind=False)
    # A budget that reaches some lines and not others.
    settings = BatchSettings(time_budget_s=0.0027)  # 54,000 of the 55,892 sums it needs
    quiet = find_batches(lines, parcelas, settings)
    clock = iter(range(0, 10**9, 1000))  # every reading of the clock 1,000 s later
    monkeypatch.setattr("matchers.batches.time.perf_counter", lambda: float(next(clock)))
    busy = find_batches(lines, parcelas, settings)

    assert sets(busy) == sets(quiet) and len(sets(quiet)) > 0
    assert busy.skipped.equals(quiet.skipped)
    assert (quiet.skipped["reason"] == "budget exhausted: line not searched").any()
