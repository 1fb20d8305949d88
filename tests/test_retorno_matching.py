"""A day's boleto batch credit split by the bank's cobrança retorno (matchers.retorno),
through match_run on a real DuckDB store: twenty R$ 99,90 plans due the same day, four of
them paid in one credit net of a tariff per title."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from matchers.engine import MatchSettings, match_run
from matchers.explain import explain_decision
from recon.load import RETORNO_COLUMNS, lines_frame
from recon.records import BankAccount, StatementLine
from recon.store import Store

RUN = "r1"
DUE = date(2026, 11, 5)
CREDIT_DAY = date(2026, 11, 9)
PLAN, TARIFF = 9_990, 290
ITAU = BankAccount("341", "1500", "12345")


def cpf(seed: int) -> str:
    """A valid CPF (right check digits) from a 9-digit seed."""
    digits = [int(c) for c in f"{seed:09d}"]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(digits, range(length + 1, 1, -1)))
        digits.append(0 if total % 11 < 2 else 11 - total % 11)
    return "".join(map(str, digits))


FIRST = ["Ana", "Bruno", "Carla", "Diego", "Elisa", "Fabio", "Gisele", "Heitor", "Iara", "Joao"]
LAST = ["Souza Lima", "Pereira Rocha"]
SUBSCRIBERS = [(f"c{i}", f"{FIRST[i % 10]} {LAST[i // 10]}", cpf(123_456_000 + i))
               for i in range(20)]


def title(i: int, *, interest: int = 0, document: bool = True, name: str | None = None,
          credited: date = CREDIT_DAY, face: int = PLAN, file: str = "COB0911.RET") -> dict:
    _, contact_name, document_number = SUBSCRIBERS[i]
    paid = face + interest
    return {"conta_financeira_id": "conta-itau", "nosso_numero": f"9000{i:04d}",
            "movement": "06", "occurred_on": credited - timedelta(days=1),
            "file": file, "source_line": 3 + 2 * i, "bank_code": "341",
            "seu_numero": f"{i}", "due_on": DUE, "face_cents": face,
            "payer_document": document_number if document else "",
            "payer_name": (contact_name if name is None else name).upper()[:40],
            "fee_cents": TARIFF, "interest_cents": interest, "discount_cents": 0,
            "rebate_cents": 0, "iof_cents": 0, "paid_cents": paid, "net_cents": paid - TARIFF,
            "other_expenses_cents": 0, "other_credits_cents": 0, "credited_on": credited,
            "first_run_id": RUN}


def line(key: str, cents: int, memo: str = "CRED COBRANCA SIMPLES",
         on: date = CREDIT_DAY) -> StatementLine:
    return StatementLine(account=ITAU, posted_on=on, amount_cents=cents, memo=memo, fitid=key,
                         source_file="itau.ofx", source_line=1, line_key=key)


def run(tmp_path, titles: list[dict], lines: list[StatementLine],  # type: ignore[no-untyped-def]
        subscribers: list[tuple[str, str, str]] = SUBSCRIBERS, extra_parcelas: tuple = ()):
    store = Store(tmp_path / "r.duckdb")
    store.insert_frame("pessoas", pd.DataFrame(
        [{"run_id": RUN, "id": cid, "nome": name, "documento": doc}
         for cid, name, doc in subscribers]))
    store.insert_frame("parcelas", pd.DataFrame([
        {"run_id": RUN, "parcela_id": f"P{i:02d}", "kind": "receber",
         "descricao": "Plano mensal", "due_on": DUE, "status": "open", "total_cents": PLAN,
         "paid_cents": 0, "open_cents": PLAN, "contact_id": cid, "contact_name": name}
        for i, (cid, name, _) in enumerate(subscribers)] + list(extra_parcelas)))
    store.insert_frame("statement_lines", lines_frame(lines, "conta-itau", RUN))
    store.insert_frame("run_lines", pd.DataFrame({"run_id": RUN,
                                                  "line_key": [ln.line_key for ln in lines]}))
    if titles:
        store.insert_frame("retorno_titles", pd.DataFrame(titles)[RETORNO_COLUMNS])
    match_run(store, RUN, MatchSettings())
    decisions = store.query_frame("SELECT * FROM decisions").set_index("line_key")
    allocations = store.query_frame("SELECT * FROM allocations ORDER BY parcela_id")
    store.close()
    return decisions, allocations


def net(titles: list[dict]) -> int:
    return sum(t["net_cents"] for t in titles)


def test_a_batch_credit_the_retorno_lists_settles_each_title_with_its_tariff(tmp_path):
    titles = [title(3), title(7, interest=212), title(11), title(15)]
    decisions, allocations = run(tmp_path, titles, [line("C1", net(titles))])
    row = decisions.loc["C1"]
    assert (row["decision"], row["reason_code"], row["kind"]) == ("auto", "retorno",
                                                                  "retorno_batch")
    assert list(allocations["parcela_id"]) == ["P03", "P07", "P11", "P15"]
    assert set(allocations["taxa_cents"]) == {TARIFF}
    assert set(allocations["gross_cents"]) == {PLAN}
    assert list(allocations["juros_cents"]) == [0, 212, 0, 0]
    parts = (allocations["gross_cents"] + allocations["multa_cents"] + allocations["juros_cents"]
             - allocations["desconto_cents"] - allocations["taxa_cents"])
    assert list(parts) == list(allocations["amount_cents"])
    assert allocations["amount_cents"].sum() == net(titles)  # the whole credit, no more
    assert "COB0911.RET" in row["detail"] and "4 titles" in row["detail"]
    assert "retorno" in explain_decision(row.to_dict(), None)


def test_a_credit_of_the_gross_with_tariffs_debited_apart_carries_no_taxa(tmp_path):
    titles = [title(1), title(2)]
    decisions, allocations = run(tmp_path, titles,
                                 [line("C1", sum(t["paid_cents"] for t in titles))])
    assert decisions.loc["C1", "decision"] == "auto"
    assert set(allocations["taxa_cents"]) == {0}
    assert list(allocations["amount_cents"]) == [PLAN, PLAN]


def test_a_title_found_by_amount_and_date_alone_sends_the_credit_to_a_person(tmp_path):
    # Title 5 names no payer the ledger knows: among twenty R$ 99,90 plans due that day it
    # could be anyone's, so nothing is guessed for it; the others are still proposed.
    titles = [title(3), title(5, document=False, name="FULANO DE TAL")]
    decisions, allocations = run(tmp_path, titles, [line("C1", net(titles))])
    assert decisions.loc["C1", "decision"] == "review"
    assert decisions.loc["C1", "reason_code"] == "retorno_unsure"
    assert list(allocations["parcela_id"]) == ["P03"]
    assert "1 of them by the payer" in decisions.loc["C1", "detail"]


def test_a_title_matched_by_its_full_name_without_a_document_is_certain(tmp_path):
    titles = [title(4, document=False), title(6)]
    decisions, allocations = run(tmp_path, titles, [line("C1", net(titles))])
    assert decisions.loc["C1", "decision"] == "auto"
    assert list(allocations["parcela_id"]) == ["P04", "P06"]


def test_a_payer_document_of_someone_else_is_never_matched_by_name(tmp_path):
    # The name says subscriber 8, the CPF says subscriber 9: the document wins (it names
    # the payer; a name is spelled many ways), and subscriber 8's plan is not touched.
    other = title(8)
    other["payer_document"] = SUBSCRIBERS[9][2]
    titles = [other]
    decisions, allocations = run(tmp_path, titles, [line("C1", net(titles))])
    assert decisions.loc["C1", "decision"] == "auto"
    assert list(allocations["parcela_id"]) == ["P09"]


def test_a_name_two_contacts_share_ties_a_title_to_neither(tmp_path):
    # Subscriber 12 renamed as subscriber 2: without a document the title could be either's.
    twins = list(SUBSCRIBERS)
    twins[12] = (twins[12][0], twins[2][1], twins[12][2])
    titles = [title(2, document=False), title(6)]
    decisions, allocations = run(tmp_path, titles, [line("C1", net(titles))], twins)
    assert decisions.loc["C1", "decision"] == "review"
    assert list(allocations["parcela_id"]) == ["P06"]


@pytest.mark.parametrize("shift", ["another_day", "another_sum"])
def test_a_retorno_that_does_not_add_up_to_the_credit_decides_nothing(tmp_path, shift):
    titles = [title(3), title(7)]
    credit = line("C1", net(titles) + (1 if shift == "another_sum" else 0),
                  on=CREDIT_DAY + timedelta(days=1 if shift == "another_day" else 0))
    decisions, allocations = run(tmp_path, titles, [credit])
    assert decisions.loc["C1", "reason_code"] not in ("retorno", "retorno_unsure")
    assert not set(allocations["parcela_id"]) & {"P03", "P07"}


def test_two_credits_of_the_same_amount_that_day_are_left_to_the_other_passes(tmp_path):
    titles = [title(3), title(7)]
    decisions, _ = run(tmp_path, titles, [line("C1", net(titles)), line("C2", net(titles))])
    assert not decisions["reason_code"].isin(["retorno", "retorno_unsure"]).any()


def test_a_parcela_another_line_settles_is_not_taken_again(tmp_path):
    # Subscriber 3 also paid by PIX, matched on its own: the retorno's title for the same
    # parcela cannot settle it twice; the credit goes to a person.
    titles = [title(3), title(7)]
    pix = line("X1", PLAN, f"PIX RECEBIDO {SUBSCRIBERS[3][1].upper()}", on=DUE)
    decisions, allocations = run(tmp_path, titles, [line("C1", net(titles)), pix])
    assert decisions.loc["X1", "decision"] == "auto"
    assert decisions.loc["C1", "decision"] == "review"
    assert list(allocations[allocations["line_key"] == "C1"]["parcela_id"]) == ["P07"]
    assert list(allocations[allocations["parcela_id"] == "P03"]["line_key"]) == ["X1"]


def test_two_retornos_of_a_day_credited_apart_each_settle_their_own_line(tmp_path):
    # Two convênios on one account: a retorno and a credit each, the same day.
    first = [title(1, file="A.RET"), title(2, file="A.RET")]
    second = [title(3, file="B.RET"), title(4, file="B.RET"), title(5, file="B.RET")]
    decisions, allocations = run(tmp_path, first + second,
                                 [line("C1", net(first)), line("C2", net(second))])
    assert set(decisions.loc[["C1", "C2"], "decision"]) == {"auto"}
    by_line = allocations.groupby("line_key")["parcela_id"].apply(list).to_dict()
    assert by_line == {"C1": ["P01", "P02"], "C2": ["P03", "P04", "P05"]}


def test_two_retornos_of_a_day_credited_as_one_settle_it_together(tmp_path):
    titles = [title(1, file="A.RET"), title(2, file="B.RET"), title(3, file="B.RET")]
    decisions, allocations = run(tmp_path, titles, [line("C1", net(titles))])
    assert decisions.loc["C1", "decision"] == "auto"
    assert list(allocations["parcela_id"]) == ["P01", "P02", "P03"]


def test_a_title_whose_parcela_is_held_does_not_take_the_payers_twin_boleto(tmp_path):
    # Subscriber 3 owes two boletos of the same value due the same day; a PIX naming them
    # settles one (either could be it). The retorno's title cannot tell which one the bank
    # liquidated beyond the one the PIX took: it takes neither, a person decides.
    titles = [title(3), title(7)]
    cid, name, _ = SUBSCRIBERS[3]
    twin = {"run_id": RUN, "parcela_id": "P03b", "kind": "receber", "descricao": "Plano",
            "due_on": DUE, "status": "open", "total_cents": PLAN, "paid_cents": 0,
            "open_cents": PLAN, "contact_id": cid, "contact_name": name}
    pix = line("X1", PLAN, f"PIX RECEBIDO {name.upper()}", on=DUE)
    decisions, allocations = run(tmp_path, titles, [line("C1", net(titles)), pix],
                                 extra_parcelas=[twin])
    assert decisions.loc["C1", "decision"] == "review"
    assert list(allocations[allocations["line_key"] == "C1"]["parcela_id"]) == ["P07"]


def test_a_title_named_by_its_payer_overrules_another_lines_proposal_for_review(tmp_path):
    # A PIX of R$ 90,00 from subscriber 3 was proposed (a partial payment of their plan)
    # for review; the bank's retorno says the plan was paid by boleto. The proposal goes,
    # saying why, and the credit settles.
    titles = [title(3), title(7)]
    name = SUBSCRIBERS[3][1]
    pix = line("X1", 9_000, f"PIX RECEBIDO {name.upper()}", on=DUE)
    decisions, allocations = run(tmp_path, titles, [line("C1", net(titles)), pix])
    assert decisions.loc["C1", "decision"] == "auto"
    assert (decisions.loc["X1", "decision"], decisions.loc["X1", "reason_code"]) == (
        "unmatched", "candidates_taken")
    assert "P03" in decisions.loc["X1", "detail"] and "retorno" in decisions.loc["X1", "detail"]
    assert set(allocations["line_key"]) == {"C1"}


def test_without_the_retorno_the_same_pix_stays_proposed(tmp_path):
    name = SUBSCRIBERS[3][1]
    pix = line("X1", 9_000, f"PIX RECEBIDO {name.upper()}", on=DUE)
    decisions, allocations = run(tmp_path, [], [line("C1", 2 * PLAN - 2 * TARIFF), pix])
    assert decisions.loc["X1", "decision"] == "review"
    assert list(allocations.loc[allocations["line_key"] == "X1", "parcela_id"]) == ["P03"]


def test_a_credit_the_statement_does_not_call_a_cobranca_goes_to_a_person(tmp_path):
    # A PIX that equals the day's retorno to the centavo: likely a coincidence; a person
    # looks before anything is settled with it.
    titles = [title(3), title(7)]
    decisions, allocations = run(tmp_path, titles,
                                 [line("C1", net(titles), "PIX RECEBIDO MARIA DAS DORES")])
    assert (decisions.loc["C1", "decision"], decisions.loc["C1", "reason_code"]) == (
        "review", "retorno_unsure")
    assert "does not call it a cobrança" in decisions.loc["C1", "detail"]
    assert list(allocations["parcela_id"]) == ["P03", "P07"]


def test_boletos_credited_one_by_one_gross_each_settle_with_their_own_credit(tmp_path):
    # BB credits each liquidated boleto gross ('COBRANÇA') and debits its tariff apart.
    # Three of the day's R$ 99,90 titles and three equal credits: each credit takes one
    # (which one, no one can tell, and nothing depends on it); a fourth title of R$ 150,00
    # finds its own credit by amount.
    titles = [title(1), title(2), title(3), title(4, face=15_000)]
    credits = [line(f"C{i}", PLAN, "COBRANÇA") for i in range(3)] + [line("C9", 15_000,
                                                                         "COBRANÇA")]
    extra = [{"run_id": RUN, "parcela_id": "P04b", "kind": "receber", "descricao": "Plano",
              "due_on": DUE, "status": "open", "total_cents": 15_000, "paid_cents": 0,
              "open_cents": 15_000, "contact_id": SUBSCRIBERS[4][0],
              "contact_name": SUBSCRIBERS[4][1]}]
    decisions, allocations = run(tmp_path, titles, credits, extra_parcelas=extra)
    assert set(decisions.loc[["C0", "C1", "C2", "C9"], "decision"]) == {"auto"}
    by_line = dict(zip(allocations["line_key"], allocations["parcela_id"]))
    assert sorted(by_line[k] for k in ("C0", "C1", "C2")) == ["P01", "P02", "P03"]
    assert by_line["C9"] == "P04b"
    assert set(allocations["taxa_cents"]) == {0}  # the tariff is its own debit line


def test_equal_titles_and_a_different_count_of_equal_credits_pair_none(tmp_path):
    # Two R$ 99,90 titles, three R$ 99,90 cobrança credits that day (one of another
    # retorno not read yet): which two are these titles' is a person's call. A PIX of the
    # same amount is no cobrança credit and does not count.
    titles = [title(1), title(2)]
    credits = [line(f"C{i}", PLAN, "COBRANÇA") for i in range(3)] + [
        line("X1", PLAN, "PIX RECEBIDO FULANO")]
    decisions, _ = run(tmp_path, titles, credits)
    assert not decisions["reason_code"].isin(["retorno", "retorno_unsure"]).any()
    decisions, _ = run(tmp_path / "two", titles, credits[1:])
    assert list(decisions.loc[["C1", "C2"], "decision"]) == ["auto", "auto"]
    assert decisions.loc["X1", "reason_code"] not in ("retorno", "retorno_unsure")


def test_a_pix_equal_to_one_title_is_not_taken_for_it(tmp_path):
    # Subscriber 3 pays R$ 99,90 by PIX the day a retorno lists subscriber 1's boleto of
    # R$ 99,90 credited apart: the PIX keeps its own match.
    titles = [title(1)]
    pix = line("X1", PLAN, f"PIX RECEBIDO {SUBSCRIBERS[3][1].upper()}")
    decisions, allocations = run(tmp_path, titles, [pix])
    assert decisions.loc["X1", "reason_code"] not in ("retorno", "retorno_unsure")
    assert list(allocations.loc[allocations["line_key"] == "X1", "parcela_id"]) == ["P03"]


def test_each_title_s_fate_is_kept_for_the_report(tmp_path):
    # Title 3 pays a parcela through the day's credit; title 9 is credited the next day,
    # which the statement shows without it; title 5 is in the credit but owes nothing open
    # (its parcela settled by hand before).
    titles = [title(3), title(5, face=12_345)]
    next_day = CREDIT_DAY + timedelta(days=1)
    later = [title(9, credited=next_day)]
    run(tmp_path, titles + later, [line("C1", net(titles)),
                                   line("X1", 5_000, "PIX RECEBIDO FULANO", on=next_day)])
    with Store(tmp_path / "r.duckdb") as store:
        fate = {r["nosso_numero"]: (r["status"], r["line_key"], r["parcela_id"])
                for r in store.query("SELECT * FROM retorno_results WHERE run_id = ?", [RUN])}
    assert fate == {"90000003": ("matched", "C1", "P03"),
                    "90000005": ("no_parcela", "C1", None),
                    "90000009": ("no_credit", None, None)}
