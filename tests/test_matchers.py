"""The matching engine on small hand-built cases, through a real DuckDB store."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from matchers.arithmetic import LateTerms, explain
from matchers.assign import assign, runner_up
from matchers.engine import MatchSettings, match_run
from matchers.explain import explain_decision
from matchers.normalize import (
    block_token,
    clean_memo,
    clean_name,
    clean_names,
    document_key,
    memo_keys,
    number_keys,
)
from recon.load import lines_frame
from recon.records import BankAccount, StatementLine
from recon.store import Store

RUN = "r1"
DAY = date(2026, 11, 10)
ITAU = BankAccount("341", "1500", "12345")


def line(key: str, cents: int, memo: str, on: date = DAY) -> StatementLine:
    return StatementLine(account=ITAU, posted_on=on, amount_cents=cents, memo=memo, fitid=key,
                         source_file="itau.ofx", source_line=1, line_key=key)


def parcela(pid: str, cents: int, contact: str | None, due: date = DAY, kind: str = "receber",
            descricao: str = "Venda", contact_id: str | None = None) -> dict:
    return {"run_id": RUN, "parcela_id": pid, "kind": kind, "descricao": descricao,
            "due_on": due, "status": "open", "total_cents": cents, "paid_cents": 0,
            "open_cents": cents, "contact_id": contact_id or (contact and f"c-{contact}"),
            "contact_name": contact}


def run_case(tmp_path, lines, parcelas, settings=None, pessoas=()):
    store = Store(tmp_path / "m.duckdb")
    if pessoas:
        store.insert_frame("pessoas", pd.DataFrame(
            [{"run_id": RUN, "id": i, "nome": n, "documento": d} for i, n, d in pessoas]))
    store.insert_frame("statement_lines", lines_frame(lines, "conta-itau", RUN))
    store.insert_frame("parcelas", pd.DataFrame(parcelas))
    store.insert_frame("run_lines", pd.DataFrame({"run_id": RUN,
                                                  "line_key": [ln.line_key for ln in lines]}))
    match_run(store, RUN, settings or MatchSettings())
    decisions = store.query_frame("SELECT * FROM decisions").set_index("line_key")
    allocations = store.query_frame("SELECT * FROM allocations")
    pairs = store.query_frame("SELECT * FROM candidate_pairs")
    store.close()
    return decisions, allocations, pairs


def filler(n: int = 40) -> list[dict]:
    """Other open parcelas, so the run looks like a company and not a toy."""
    return [parcela(f"f{i}", 10_000 + 137 * i, f"Cliente Diverso {i:03d}",
                    due=DAY + timedelta(days=i % 20 - 10)) for i in range(n)]


def test_a_clear_match_settles_automatically_with_its_explanation(tmp_path):
    decisions, allocations, pairs = run_case(
        tmp_path, [line("L1", 123_456, "PIX RECEBIDO - JOAO CARLOS PEREIRA 10/11")],
        [parcela("P1", 123_456, "João Carlos Pereira"), *filler()])
    row = decisions.loc["L1"]
    assert (row["decision"], row["parcela_id"], row["kind"]) == ("auto", "P1", "one_to_one")
    [alloc] = allocations.to_dict("records")
    assert (alloc["amount_cents"], alloc["gross_cents"], alloc["multa_cents"]) == (123_456, 123_456, 0)
    pair = pairs[(pairs.line_key == "L1") & (pairs.parcela_id == "P1")].iloc[0].to_dict()
    text = explain_decision({**row.to_dict(), "line_key": "L1"}, pair)
    assert "amount exact" in text and "name 1.00" in text and "date same day" in text


def test_same_amount_collision_is_resolved_by_name_or_goes_to_review(tmp_path):
    plans = [parcela(f"S{i}", 9_990, name, descricao="Assinatura Plus")
             for i, name in enumerate(["Ana Beatriz Costa", "Bruno Ferreira", "Carla Mendes"])]
    decisions, _, _ = run_case(
        tmp_path, [line("named", 9_990, "PIX RECEBIDO - BRUNO FERREIRA"),
                   line("anon", 9_990, "TED 237.1234")], [*plans, *filler()])
    assert (decisions.loc["named", "decision"], decisions.loc["named", "parcela_id"]) == (
        "auto", "S1")
    assert decisions.loc["anon", "decision"] != "auto"  # never guessed


def test_weekly_supplier_payment_settles_this_weeks_parcela_not_last_weeks(tmp_path):
    week = [parcela(f"W{i}", -0 + 250_000, "Papelaria Alves Moreira ME", kind="pagar",
                    due=DAY - timedelta(days=7 * (2 - i)), descricao=f"Semana {i}")
            for i in range(3)]  # W0 two weeks ago and W1 last week were skipped: still open
    decisions, _, _ = run_case(
        tmp_path, [line("L1", -250_000, "Pagamento de Boleto - PAPELARIA ALVES MOREIRA ME")],
        [*week, *filler()])
    assert (decisions.loc["L1", "decision"], decisions.loc["L1", "parcela_id"]) == ("auto", "W2")


def test_late_payment_is_split_into_principal_multa_and_juros(tmp_path):
    # R$ 1.000,00 due 10 days before: multa 2 % R$ 20,00 + juros 1 % a.m. x 10 d R$ 3,33
    decisions, allocations, _ = run_case(
        tmp_path, [line("L1", 102_333, "PIX RECEBIDO - MARIA APARECIDA LIMA")],
        [parcela("P1", 100_000, "Maria Aparecida Lima", due=DAY - timedelta(days=10)),
         *filler()])
    assert (decisions.loc["L1", "decision"], decisions.loc["L1", "kind"]) == ("auto", "late_fees")
    [alloc] = allocations.to_dict("records")
    assert (alloc["gross_cents"], alloc["multa_cents"], alloc["juros_cents"]) == (
        100_000, 2_000, 333)
    assert alloc["gross_cents"] + alloc["multa_cents"] + alloc["juros_cents"] == alloc["amount_cents"]
    text = explain_decision({"reason_code": "auto"}, None, allocation={**alloc})
    assert "multa 2 %" in text and "juros 1 % a.m. x 10 dias" in text


def test_partial_payment_is_proposed_and_never_settles_the_parcela_in_full(tmp_path):
    decisions, allocations, _ = run_case(
        tmp_path, [line("L1", 30_000, "PIX RECEBIDO - RENATA MONTEIRO DIAS")],
        [parcela("P1", 81_240, "Renata Monteiro Dias"), *filler()])
    assert decisions.loc["L1", "decision"] == "review"
    assert decisions.loc["L1", "kind"] == "partial"
    [alloc] = allocations.to_dict("records")
    assert alloc["gross_cents"] == 30_000  # what arrived, not the parcela's R$ 812,40


def test_two_transfers_that_add_up_to_a_parcela_are_proposed_together(tmp_path):
    decisions, allocations, _ = run_case(
        tmp_path, [line("A", 40_000, "PIX RECEBIDO - OTAVIO CAMPOS BRITO"),
                   line("B", 60_000, "PIX RECEBIDO - OTAVIO CAMPOS BRITO",
                        on=DAY + timedelta(days=2))],
        [parcela("P1", 100_000, "Otávio Campos Brito"), *filler()])
    assert set(decisions.loc[["A", "B"], "kind"]) == {"split"}
    assert set(decisions.loc[["A", "B"], "decision"]) == {"review"}
    assert allocations.groupby("parcela_id")["amount_cents"].sum()["P1"] == 100_000


def test_a_parcela_is_never_given_to_two_lines(tmp_path):
    decisions, allocations, _ = run_case(
        tmp_path, [line("A", 55_500, "PIX RECEBIDO - LUCAS NUNES"),
                   line("B", 55_500, "PIX RECEBIDO - LUCAS NUNES")],
        [parcela("P1", 55_500, "Lucas Nunes"), *filler()])
    assert (allocations["parcela_id"] == "P1").sum() == 1
    assert "auto" not in set(decisions["decision"])  # two identical lines: a person decides


def boleto_batches() -> tuple[list, list, int]:
    titles = [(f"B{i}", cents) for i, cents in enumerate([35_000, 12_050, 80_000, 41_230, 9_990])]
    batch1, batch2 = titles[:3], titles[3:]
    tariff = 250
    lines = [line("C1", sum(c - tariff for _, c in batch1), "CRED COBRANCA SIMPLES"),
             line("C2", sum(c - tariff for _, c in batch2), "CRED COBRANCA SIMPLES",
                  on=DAY + timedelta(days=1))]
    parcelas = [parcela(pid, cents, f"Sacado {pid}", due=DAY - timedelta(days=2),
                        descricao=f"Boleto {pid}") for pid, cents in titles]
    return lines, [*parcelas, *filler()], tariff


def test_a_batch_search_out_of_time_leaves_the_credit_unmatched_and_says_so(tmp_path):
    lines, parcelas, _ = boleto_batches()
    decisions, allocations, _ = run_case(tmp_path, lines, parcelas,
                                         MatchSettings(batch_search_seconds=0.0))
    assert set(decisions["decision"]) == {"unmatched"}  # nothing guessed
    assert allocations.empty
    assert all("not searched" in text for text in decisions["detail"])


def test_boleto_batch_net_of_tariff_is_proposed_with_the_fee_as_taxa(tmp_path):
    lines, parcelas, tariff = boleto_batches()
    decisions, allocations, _ = run_case(tmp_path, lines, parcelas)
    assert decisions.loc["C1", "decision"] == "review"
    mine = allocations[allocations["line_key"] == "C1"]
    assert set(mine["parcela_id"]) == {"B0", "B1", "B2"}
    assert set(mine["taxa_cents"]) == {tariff}
    assert mine["amount_cents"].sum() == lines[0].amount_cents


def test_late_fee_arithmetic_tries_bank_compensation_days():
    paid = np.array([102_333, 102_300, 100_000, 97_000])
    open_cents = np.array([100_000, 100_000, 100_000, 100_000])
    lag = np.array([10, 11, 5, -3])  # the second was credited a day after payment
    found = explain(paid, open_cents, lag, LateTerms())
    assert found.late.tolist() == [True, True, False, False]
    assert found.discount.tolist() == [False, False, False, True]  # 3 % early discount
    assert (found.multa[0], found.juros[0], found.days_late[0]) == (2_000, 333, 10)


def test_global_assignment_beats_greedy_and_margins_name_the_rival():
    lines, parcelas = np.array([0, 0, 1]), np.array([0, 1, 0])
    weight = np.array([5.0, 4.0, 4.5])  # greedy takes (0,0) and leaves line 1 without
    chosen = assign(lines, parcelas, weight)
    assert sorted(chosen.tolist()) == [1, 2]
    best_other, rival = runner_up(lines, parcelas, weight, chosen)
    assert best_other.tolist() == [5.0, 5.0] and rival.tolist() == [0, 0]


@pytest.mark.parametrize(("memo", "counterpart"), [
    ("PIX RECEBIDO - JOAO DA SILVA 12/03", "JOAO DA SILVA"),
    ("PIX TRANSF  ANTONIO CO26/01", "ANTONIO CO"),
    (("Transferência recebida pelo Pix - CLÍNICA SORRISO LTDA - 67.890.123/0001-45 - "
      "BCO DO BRASIL S.A. (0001) Agência: 1234 Conta: 5678-9"), "CLINICA SORRISO"),
    ("PIX RECEBIDO - Cp :60701190-MARIA JOSE", "MARIA JOSE"),
])
def test_memo_boilerplate_is_removed(memo, counterpart):
    assert clean_memo(memo) == counterpart


def test_keys_are_valid_documents_and_long_numbers_not_dates():
    keys = memo_keys("Pix - Recebido - 28/11 10:13 028.599.645-25 NF 123456")
    assert keys == ["doc:02859964525", "num:123456"]
    assert document_key("028.599.645-26") is None  # wrong check digit
    assert block_token("ANTONIO COSTA LIMA") == block_token("ANTONIO CO") == "ANTONIO CO"


def test_a_named_payer_against_a_parcela_without_contact_is_not_settled_blind(tmp_path):
    decisions, _, _ = run_case(
        tmp_path, [line("L1", 9_597, "TED-TRANSF ELET DISPON REMET.PAULO RIBEIRO NUNES")],
        [parcela("P1", 9_597, None, descricao="Venda cartão Visa crédito - Cielo"), *filler()])
    assert decisions.loc["L1", "decision"] != "auto"


def test_a_cpf_printed_in_the_memo_is_an_exact_key(tmp_path):
    decisions, _, pairs = run_case(
        tmp_path, [line("L1", 45_000, "Pix - Recebido - 10/11 09:12 028.599.645-25")],
        [parcela("P1", 45_000, "Leticia Araujo Oliveira", contact_id="c1"),
         parcela("P2", 45_000, "Outra Pessoa Qualquer", contact_id="c2"), *filler()],
        pessoas=[("c1", "Leticia Araujo Oliveira", "02859964525"),
                 ("c2", "Outra Pessoa Qualquer", "11144477735")])
    keyed = pairs.set_index("parcela_id").loc["P1"]
    assert keyed["key_level"] == 0 and keyed["key_bits"] > 0  # same_document
    assert (decisions.loc["L1", "decision"], decisions.loc["L1", "parcela_id"]) == ("auto", "P1")


def test_early_payment_with_discount_records_the_desconto(tmp_path):
    # R$ 500,00 due in 5 days, paid early with 2 % off: R$ 490,00
    decisions, allocations, _ = run_case(
        tmp_path, [line("L1", 49_000, "PIX RECEBIDO - FABIO CASTRO DUARTE")],
        [parcela("P1", 50_000, "Fábio Castro Duarte", due=DAY + timedelta(days=5)), *filler()])
    assert (decisions.loc["L1", "decision"], decisions.loc["L1", "kind"]) == ("auto", "discount")
    [alloc] = allocations.to_dict("records")
    assert (alloc["gross_cents"], alloc["desconto_cents"]) == (50_000, 1_000)
    assert alloc["gross_cents"] - alloc["desconto_cents"] == alloc["amount_cents"]
    assert "desconto R$ 10,00 (2 % of R$ 500,00)" in explain_decision({"reason_code": "auto"}, None,
                                                                      allocation=alloc)


@pytest.mark.parametrize("confirmed_before", [True, False])
def test_a_counterpart_confirmed_before_is_learned_as_the_contacts_alias(tmp_path, confirmed_before):
    # The memo names a payment processor, not the contact: only history can vouch for it.
    memo = "PIX RECEBIDO - ACME PAGAMENTOS"
    beta = {"contact": "Comercial Beta Ltda", "contact_id": "c-beta"}
    store = Store(tmp_path / "m.duckdb")
    earlier = [line("L0", 51_000, memo, on=DAY - timedelta(days=30))]
    store.insert_frame("statement_lines", lines_frame(earlier, "conta-itau", "r0"))
    store.insert_frame("parcelas", pd.DataFrame([{**parcela("P0", 51_000, **beta), "run_id": "r0"}]))
    if confirmed_before:
        store.execute(
            """INSERT INTO settlements (line_key, parcela_id, run_id, state, tag, amount_cents,
                   data_pagamento, conta_financeira_id, updated_at)
               VALUES ('L0', 'P0', 'r0', 'confirmed', 'recon:L0', 51000, ?, 'conta-itau', now())""",
            [DAY - timedelta(days=30)])
    store.insert_frame("statement_lines", lines_frame([line("L1", 77_700, memo)], "conta-itau", RUN))
    store.insert_frame("parcelas", pd.DataFrame([parcela("P1", 77_700, **beta), *filler()]))
    store.insert_frame("run_lines", pd.DataFrame({"run_id": [RUN], "line_key": ["L1"]}))
    match_run(store, RUN, MatchSettings())
    [decision] = store.query("SELECT * FROM decisions WHERE line_key = 'L1'")
    [pair] = store.query("SELECT key_level FROM candidate_pairs WHERE parcela_id = 'P1'")
    store.close()
    assert decision["parcela_id"] == "P1"
    if confirmed_before:
        assert pair["key_level"] == 2 and decision["decision"] == "auto"  # known_alias
    else:
        assert decision["decision"] == "review"  # the same line, with no history: a person looks
        assert decision["reason_code"] in ("below_auto", "name_unverifiable")


NAMES = ["Maria da Silva LTDA.", "JOSÉ  CONCEIÇÃO\tME", "  Farmácia S.A. ", "Straße Cia", "«João»",
         "ﬁnance EIRELI", "Ǆemal S/A", "日本 株式会社", "a\x1cb", "x\u00a0y", "", " ", None, "Ø ME",
         "EPP-LTDA.ME", "ltda.me", "A\u0301B\u0327", "x\u2028y", "S A", "a\x00b"]


@pytest.mark.parametrize("names", [NAMES, NAMES[:1], [None], []],
                         ids=["mixed", "one", "none", "empty"])
def test_clean_names_cleans_each_name_as_clean_name_does(names):
    assert clean_names(names).to_pylist() == [clean_name(n) for n in names]


@pytest.mark.parametrize(("text", "keys"), [
    ("Venda 50440", ["num:50440"]), ("NF 007 - 0000 e 00012345/1234", ["num:0", "num:12345",
                                                                     "num:1234"]),
    ("123 ٣٣٣٣ 12e3", []), (None, []), ("", []), ("é1234é", ["num:1234"])])
def test_number_keys_are_the_runs_of_four_or_more_digits(text, keys):
    found = number_keys(pa.array([text, "9999", text], pa.string())).to_pylist()
    assert found == [keys, ["num:9999"], keys]  # runs stop at the end of each text


def _date_bits(amount_levels: list[str], lags: list[int]) -> np.ndarray:
    """Date bits of pairs with these amount levels and lags, under a model whose u comes
    from random pairs a year either way of the due date."""
    from matchers.model import (
        AMOUNT_LEVELS,
        KEY_LEVELS,
        NAME_LEVELS,
        Model,
        date_level,
        m_from_history,
        u_from_sample,
    )
    from matchers.scoring import bit_codes, coded_weights

    random_lags = np.random.default_rng(3).integers(-365, 366, 200_000)
    n = len(random_lags)
    u = u_from_sample({"amount": np.full(n, AMOUNT_LEVELS.index("partial"), np.int8),
                       "date": date_level(random_lags),
                       "name": np.full(n, NAME_LEVELS.index("name<0.60"), np.int8),
                       "key": np.full(n, KEY_LEVELS.index("no_key"), np.int8)})
    model = Model(m=m_from_history(None)[0], u=u, prior_bits=-16.0)
    k = len(lags)
    lv = {"amount": np.array([AMOUNT_LEVELS.index(a) for a in amount_levels], np.int8),
          "date": date_level(np.array(lags)),
          "name": np.zeros(k, np.int8), "key": np.full(k, KEY_LEVELS.index("no_key"), np.int8)}
    u_pairs = {s: np.asarray(model.u[s])[lv[s]] for s in ("amount", "name", "key")}
    return coded_weights(bit_codes(lv, u_pairs, model), model)["date"]


def test_a_discount_paid_days_before_the_due_date_is_evidence_for_it_months_before_is_not():
    # A discount (the arithmetic only explains payments on or before the due date) paid on
    # the day or days before weighs for the pair; random pairs rarely fall that close.
    on_day, days_early, months_early = _date_bits(["discount"] * 3, [0, -9, -200])
    assert on_day > 3 and days_early > 2
    assert months_early < 0
    # For an exact amount a week early stays weak: the parcela due next week is the weekly
    # supplier's rival, and must not gain on this week's by its date.
    week_early, months_early_exact, on_time = _date_bits(["exact"] * 3, [-9, -200, 0])
    assert week_early == months_early_exact < 0 < on_time


def test_a_lines_probability_counts_its_rivals_and_the_chance_it_pays_nothing():
    from matchers.model import probability
    from matchers.scoring import line_posterior

    # Line 0: one strong pair, its rivals ruled out. Line 1: two pairs the evidence cannot
    # tell apart. Line 2: this week's parcela and last week's, left open (another period).
    lid = np.array([0, 0, 0, 1, 1, 2, 2])
    weight = np.array([3.0, -20.0, -25.0, 8.0, 8.0, 8.0, 7.0])
    rivals = np.array([True, True, True, True, True, True, False])
    p = line_posterior(lid, weight, unmatched=0.2, rivals=rivals)
    alone = probability(weight)
    # 2^3 against 'none' (0.2) rather than against 1: likelier than the pair alone says.
    assert p[0] == pytest.approx(8 / 8.2, abs=1e-6) and p[0] > alone[0]
    assert p[1] < 1e-6
    # Each alone is near certain; together they share the line.
    assert alone[3] > 0.99 and p[3] == pytest.approx(p[4]) and p[3] < 0.5
    # Last week's parcela is not this line's alternative: it does not dilute this week's.
    assert p[5] == pytest.approx(2**8 / (2**8 + 0.2))
    with pytest.raises(ValueError):
        line_posterior(lid[::-1], weight, unmatched=0.2, rivals=rivals)


def _one_boleto_credit(tmp_path, history: bool):
    """A day's single cobrança credit (no other batch line to agree on a tariff with),
    with or without an earlier batch of the same account settled and confirmed."""
    lines, parcelas, tariff = boleto_batches()
    store = Store(tmp_path / "m.duckdb")
    earlier = line("H1", 2 * (20_000 - tariff), "CRED COBRANCA SIMPLES",
                   on=DAY - timedelta(days=30))
    store.insert_frame("statement_lines", lines_frame([lines[0], earlier], "conta-itau", RUN))
    store.insert_frame("parcelas", pd.DataFrame(parcelas))
    store.insert_frame("run_lines", pd.DataFrame({"run_id": RUN, "line_key": ["C1"]}))
    if history:
        store.insert_frame("settlements", pd.DataFrame([{
            "line_key": "H1", "parcela_id": f"old{i}", "run_id": "r0", "state": "confirmed",
            "tag": "t", "amount_cents": 20_000 - tariff, "data_pagamento": DAY - timedelta(days=30),
            "conta_financeira_id": "conta-itau", "updated_at": pd.Timestamp("2026-10-11", tz="UTC"),
            "gross_cents": 20_000, "taxa_cents": tariff} for i in range(2)]))
    match_run(store, RUN, MatchSettings())
    decisions = store.query_frame("SELECT * FROM decisions").set_index("line_key")
    allocations = store.query_frame("SELECT * FROM allocations")
    store.close()
    return decisions, allocations, tariff


def test_a_tariff_confirmed_before_lets_a_lone_boleto_credit_be_proposed(tmp_path):
    decisions, allocations, _ = _one_boleto_credit(tmp_path / "new", history=False)
    assert decisions.loc["C1", "decision"] == "unmatched"  # one line cannot agree with itself
    assert "fee unknown" in decisions.loc["C1", "detail"]
    decisions, allocations, tariff = _one_boleto_credit(tmp_path / "known", history=True)
    assert decisions.loc["C1", "decision"] == "review"
    assert set(allocations["parcela_id"]) == {"B0", "B1", "B2"}
    assert set(allocations["taxa_cents"]) == {tariff}
    assert "known" in decisions.loc["C1", "detail"]


def test_fees_from_history_read_the_latest_tariff_and_the_mdr_per_acquirer_and_product():
    from matchers.batch_stage import fees_from_history

    settled = pd.DataFrame({
        "conta": ["itau", "itau", "itau", "bb", "cielo", "cielo", "cielo"],
        "memo": ["CRED COBRANCA SIMPLES"] * 3 + ["COB COMPE"]
                + ["CIELO VDA CREDITO VISA CIELO SA"] * 2 + ["CIELO VDA DEBITO ELO CIELO SA"],
        "gross_cents": [10_000, 20_000, 30_000, 5_000, 10_000, 30_000, 10_000],
        "taxa_cents": [290, 290, 250, 195, 315, 945, 149]})  # newest first: itau repriced
    fees = fees_from_history(settled)
    assert fees.boleto_tariff_cents == {"itau": 290, "bb": 195}
    assert fees.mdr_bp == {("Cielo", "credito"): 315, ("Cielo", "debito"): 149}
    assert fees_from_history(settled.iloc[:0]).mdr_bp == {}


def test_em_does_not_learn_from_a_subscribers_other_months_that_payments_come_a_month_late():
    from dataclasses import replace

    from matchers.model import (
        AMOUNT_LEVELS,
        DATE_LEVELS,
        DISCOUNT_DATE,
        KEY_LEVELS,
        Model,
        m_from_history,
    )
    from matchers.scoring import COMBINATION_COLUMNS, U_OVERRIDDEN, bit_codes, coded_weights, em

    # 300 lines, each paying this month's plan on the day, each with last month's plan of the
    # same subscriber open too: the same name and price, 31+ days away.
    n = 300
    date = np.tile([DATE_LEVELS.index("same_day"), DATE_LEVELS.index("32+_late")], n)
    lv = {"amount": np.full(2 * n, AMOUNT_LEVELS.index("exact"), np.int8),
          "date": date.astype(np.int8), "name": np.zeros(2 * n, np.int8),
          "key": np.full(2 * n, KEY_LEVELS.index("no_key"), np.int8)}
    # u of the date as random pairs of a year-long ledger have it (most lags are far).
    random_lags = [0.003, 0.008, 0.011, 0.022, 0.042, 0.427, 0.008, 0.03, 0.449]
    u = {"amount": np.full(5, 0.01), "date": np.array(random_lags),
         "name": np.full(6, 0.001), "key": np.full(5, 0.2),
         DISCOUNT_DATE: np.full(len(DATE_LEVELS), 0.25)}
    model = Model(m=m_from_history(None)[0], u=u, prior_bits=-12.0)
    codes = bit_codes(lv, {s: np.asarray(u[s])[lv[s]] for s in U_OVERRIDDEN}, model)
    before = coded_weights(codes, model)
    weight = model.prior_bits + sum(before.values())
    frame = pd.DataFrame({"lid": np.repeat(np.arange(n), 2), "weight": weight,
                          "probability": 1 / (1 + np.exp2(-weight)),
                          **{f"{s}_level": lv[s] for s in lv},
                          **{COMBINATION_COLUMNS[s]: codes.index[s] for s in lv}})
    learned, after = em(frame, model, replace(codes, index={}))
    this_month, last_month = coded_weights(codes, learned)["date"][:2]
    assert last_month <= before["date"][1]  # a month late is not learned as typical
    assert this_month >= before["date"][0]
    assert after[0] - after[1] > weight[0] - weight[1]  # this month's leads last month's by more
    # The weights EM gives are the prior and the learned bits, added as scoring adds them.
    assert np.array_equal(after, learned.prior_bits + sum(coded_weights(codes, learned).values()))


def test_name_similarity_is_the_same_whatever_the_chunks_rapidfuzz_gets(monkeypatch):
    """Name pairs go to rapidfuzz in chunks (memory); every pair, the last partial chunk's
    and the cut comparison's included, must come back where it belongs."""
    from rapidfuzz import fuzz

    from matchers import scoring

    counterparts = ["MARIA SILVA", "JOSE SOUZA ALV", "ANTONIO CO", "EMPRESA XYZ LTDA", ""]
    names = ["MARIA DA SILVA", "JOSE SOUZA ALVES", "ANTONIO COSTA LIMA", "XYZ EMPRESA", "ANA"]
    vocab = scoring.Vocab.of(np.array(counterparts, object), np.array(names, object))
    cp = np.repeat(np.arange(len(counterparts)), len(names))
    nm = np.tile(np.arange(len(names)), len(counterparts))
    whole = scoring.name_similarity(cp, nm, vocab)
    monkeypatch.setattr(scoring, "NAME_CHUNK", 3)
    chunked = scoring.name_similarity(cp, nm, scoring.Vocab.of(vocab.counterparts, vocab.names))
    np.testing.assert_array_equal(chunked, whole)
    # and the values are the scorers' own: WRatio, or the cut ratio where it is higher
    assert whole[1 * len(names) + 1] == 1.0  # 'JOSE SOUZA ALV' is a cut of the full name
    assert whole[3 * len(names) + 3] == fuzz.WRatio("EMPRESA XYZ LTDA", "XYZ EMPRESA") / 100
    assert np.isnan(whole[4 * len(names)])  # the memo names nobody
