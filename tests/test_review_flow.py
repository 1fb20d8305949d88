"""People in control, through the real CLI against the stand-in: the review queue, approvals
and rejections (and what they teach), approval policies, undo, history, the company lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from support import EXPECTED_AUTO, WINDOW, parcelas_by_description, recon, recon_run, writes

from recon.errors import ConfigError
from recon.lock import lock_path
from recon.policy import AmountLimit, AutoMatch, Policy, hold_reason, parse_policy
from recon.store import Store

ROOT = Path(__file__).resolve().parents[1]


def store_rows(folder: Path, sql: str, params=()) -> list[dict]:
    with Store(folder / "recon.duckdb") as store:
        return store.query(sql, params)


def pending(folder: Path) -> dict[int, dict]:
    """Pending items: id -> the line and the parcela proposed."""
    rows = store_rows(folder, """
        SELECT i.item_id, i.line_key, d.parcela_id FROM review_items i
        JOIN decisions d ON d.run_id = i.run_id AND d.line_key = i.line_key
        WHERE i.status = 'pending' ORDER BY i.item_id""")
    return {r["item_id"]: r for r in rows}


def recon_baixas(server) -> dict[str, int]:
    return {p["id"]: sum(str(b.get("observacao") or "").startswith("recon:") for b in p["baixas"])
            for p in server.snapshot()["parcelas"]}


def posts_to(server, parcela_id: str) -> int:
    return sum(e.method == "POST" and parcela_id in e.path for e in writes(server))


# -- the queue -----------------------------------------------------------------------------

def test_review_lists_each_suggestion_with_its_candidates_and_reasons(demo, capsys):
    folder, _ = demo
    assert recon_run(folder) == 3
    capsys.readouterr()
    assert recon(folder, "review") == 0
    out = capsys.readouterr().out
    items = pending(folder)
    assert len(items) == 2  # the two R$ 99,90 subscriptions nobody can tell apart
    for item_id, item in items.items():
        assert f"#{item_id} " in out and item["parcela_id"] in out
    assert out.count("why: ") == 2 and "runner-up" in out and "candidate: parcela" in out
    assert "recon approve" in out


def test_an_approval_is_recorded_with_who_and_settled_by_the_next_run(demo, capsys):
    folder, server = demo
    recon_run(folder)
    item_id, item = next(iter(pending(folder).items()))
    assert recon(folder, "approve", str(item_id), "--by", "marta", "--note", "boleto conferido") == 0
    assert posts_to(server, item["parcela_id"]) == 0  # nothing written until a run or --apply
    assert recon_run(folder) in (0, 3)
    assert recon_baixas(server)[item["parcela_id"]] == 1
    [verdict] = store_rows(folder, "SELECT * FROM review_verdicts")
    assert (verdict["verdict"], verdict["decided_by"], verdict["note"]) == (
        "approve", "marta", "boleto conferido")
    [row] = store_rows(folder, "SELECT state, source, item_id FROM settlements WHERE parcela_id = ?",
                       [item["parcela_id"]])
    assert row == {"state": "annotated", "source": "approved", "item_id": item_id}
    assert item_id not in pending(folder)
    # a third run writes nothing more for it
    recon_run(folder)
    assert recon_baixas(server)[item["parcela_id"]] == 1
    capsys.readouterr()
    recon(folder, "history", "--parcela", item["parcela_id"])
    history = capsys.readouterr().out
    assert "user:marta" in history and "approved" in history and "confirmed" in history


def test_approve_apply_settles_at_once_and_twice_is_refused(demo, capsys):
    folder, server = demo
    recon_run(folder)
    item_id, item = next(iter(pending(folder).items()))
    assert recon(folder, "approve", str(item_id), "--apply") == 0
    assert recon_baixas(server)[item["parcela_id"]] == 1
    capsys.readouterr()
    assert recon(folder, "approve", str(item_id)) == 2
    assert f"review item {item_id} is already approved" in capsys.readouterr().err
    assert recon(folder, "approve", "999") == 2
    assert "there is no review item 999" in capsys.readouterr().err


def test_approving_another_candidate_settles_that_one(demo):
    folder, server = demo
    recon_run(folder)
    item_id, item = next(iter(pending(folder).items()))
    [other] = store_rows(folder, """
        SELECT c.parcela_id FROM candidate_pairs c JOIN review_items i USING (run_id, line_key)
        WHERE i.item_id = ? AND c.parcela_id <> ? ORDER BY c.parcela_id LIMIT 1""",
                         [item_id, item["parcela_id"]])
    assert recon(folder, "approve", str(item_id), "--parcela", other["parcela_id"], "--apply") == 0
    counts = recon_baixas(server)
    assert counts[other["parcela_id"]] == 1 and counts[item["parcela_id"]] == 0


def test_a_rejected_pair_is_never_proposed_again(demo):
    folder, server = demo
    recon_run(folder)
    item_id, item = next(iter(pending(folder).items()))
    assert recon(folder, "reject", str(item_id), "--note", "não é deste cliente") == 0
    for _ in range(2):
        recon_run(folder)
        [run] = store_rows(folder, "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1")
        proposed = store_rows(folder, """
            SELECT parcela_id FROM candidate_pairs WHERE run_id = ? AND line_key = ?
            UNION ALL SELECT parcela_id FROM allocations WHERE run_id = ? AND line_key = ?""",
                              [run["run_id"], item["line_key"], run["run_id"], item["line_key"]])
        assert proposed, "the line is looked at again"
        assert item["parcela_id"] not in {r["parcela_id"] for r in proposed}
    assert recon_baixas(server)[item["parcela_id"]] == 0
    # the line is back in the queue with another proposal, under a new number
    again = [i for i in pending(folder).values() if i["line_key"] == item["line_key"]]
    assert again and again[0]["parcela_id"] != item["parcela_id"]
    assert again[0]["item_id"] != item_id


# -- what approvals teach --------------------------------------------------------------------

@pytest.mark.parametrize("approved", [True, False])
def test_an_approved_payer_alias_raises_the_score_of_the_same_payers_next_payment(tmp_path,
                                                                                  approved):
    """Month 1: 'PIX RECEBIDO - ACME PAGAMENTOS' names a processor, not the contact: review.
    A person approves it. Month 2: the same processor pays the same contact's next parcela."""
    import pandas as pd
    from test_matchers import DAY, filler, line, parcela

    from matchers.engine import MatchSettings, match_run
    from recon.load import lines_frame
    from recon.review import sync_queue

    memo = "PIX RECEBIDO - ACME PAGAMENTOS"
    beta = {"contact": "Comercial Beta Ltda", "contact_id": "c-beta"}
    (tmp_path / "recon.toml").write_text('[store]\npath = "m.duckdb"\n', encoding="utf-8")
    with Store(tmp_path / "m.duckdb") as store:
        store.insert_frame("statement_lines", lines_frame([line("L0", 51_000, memo, on=DAY)],
                                                          "conta-itau", "r0"))
        store.insert_frame("parcelas", pd.DataFrame([{**p, "run_id": "r0"} for p in
                                                     [parcela("P0", 51_000, **beta), *filler()]]))
        store.insert_frame("run_lines", pd.DataFrame({"run_id": ["r0"], "line_key": ["L0"]}))
        store.execute("INSERT INTO runs (run_id, started_at, window_from, window_to, dry_run, "
                      "status) VALUES ('r0', now(), ?, ?, false, 'succeeded')", [DAY, DAY])
        match_run(store, "r0", MatchSettings())
        sync_queue(store, "r0")
        [first] = store.query("SELECT decision, parcela_id FROM decisions")
        [item] = store.query("SELECT item_id FROM review_items")
    assert first == {"decision": "review", "parcela_id": "P0"}
    if approved:
        assert recon(tmp_path, "approve", str(item["item_id"]), "--by", "marta") == 0
    later = date.fromordinal(DAY.toordinal() + 30)
    with Store(tmp_path / "m.duckdb") as store:
        store.insert_frame("statement_lines", lines_frame([line("L1", 77_700, memo, on=later)],
                                                          "conta-itau", "r1"))
        store.insert_frame("parcelas", pd.DataFrame([{**p, "run_id": "r1"} for p in [
            parcela("P1", 77_700, due=later, **beta), *filler()]]))
        store.insert_frame("run_lines", pd.DataFrame({"run_id": ["r1"], "line_key": ["L1"]}))
        match_run(store, "r1", MatchSettings())
        [decision] = store.query("SELECT * FROM decisions WHERE run_id = 'r1'")
        [pair] = store.query("SELECT key_level, weight FROM candidate_pairs "
                             "WHERE run_id = 'r1' AND parcela_id = 'P1'")
    assert decision["parcela_id"] == "P1"
    if approved:
        assert pair["key_level"] == 2 and decision["decision"] == "auto"  # known_alias
    else:
        assert pair["key_level"] != 2 and decision["decision"] == "review"


# -- policies --------------------------------------------------------------------------------

def add_config(folder: Path, text: str) -> None:
    config = folder / "recon.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


def test_policies_hold_back_automatic_matches_and_say_which(demo):
    folder, server = demo
    add_config(folder, '[policy]\nauto_max_amount = "1000.00"\n'
                       'never_contacts = ["JOÃO SILVA"]\nnever_categories = ["Despesas operacionais"]\n')
    assert recon_run(folder) == 3
    by_description = parcelas_by_description(server)
    # bank lines above R$ 1.000,00 (the late bread payment arrived as R$ 1.020,00)
    above = {"Mensalidade novembro", "Projeto de vitrine - parcela 2/3",
             "Fornecimento de pães - outubro"}
    by_contact = {"Consulta nutricional"}
    by_category = {"Aluguel novembro", "Conta de luz"}
    held_back = above | by_contact | by_category
    for descricao in EXPECTED_AUTO:
        held = descricao in held_back
        assert (len(by_description[descricao]["baixas"]) == 0) == held, descricao
    rows = store_rows(folder, """
        SELECT d.reason_code, d.detail, p.descricao FROM decisions d
        JOIN parcelas p ON p.parcela_id = d.parcela_id AND p.run_id = d.run_id
        WHERE d.reason_code = 'policy'""")
    detail = {r["descricao"]: r["detail"] for r in rows}
    assert set(detail) == held_back
    assert all(text.startswith("held by policy: ") for text in detail.values())
    assert all("auto_max_amount R$ 1.000,00" in detail[d] for d in above)
    assert all("never_contacts" in detail[d] for d in by_contact)
    assert all("category Despesas operacionais is in never_categories" in detail[d]
               for d in by_category)
    assert len(pending(folder)) == 2 + len(held_back)  # held matches wait in the queue
    [report] = (folder / "reports").glob("*/report.html")
    assert "held by policy" in report.read_text(encoding="utf-8")


def test_a_policy_per_account_and_direction_and_the_other_rules():
    match = AutoMatch(amount_cents=150_000, conta_financeira_id="itau", kind="pagar",
                      posted_on=date(2026, 11, 20), due_on=date(2026, 11, 4), contact_id="c1",
                      contact_name="Distribuidora Sul Ltda", documento="12345678000195",
                      categorias=("Empréstimos",))
    assert hold_reason(Policy(), match) == ""
    assert "R$ 1.000,00" in hold_reason(Policy(limits=(AmountLimit(100_000, "itau", "pagar"),)), match)
    assert hold_reason(Policy(limits=(AmountLimit(100_000, "itau", "receber"),)), match) == ""
    assert hold_reason(Policy(limits=(AmountLimit(100_000, "bradesco"),)), match) == ""
    assert "16 days" in hold_reason(Policy(max_lag_days=10), match)
    assert hold_reason(Policy(max_lag_days=16), match) == ""
    by_document = parse_policy({"never_contacts": ["12.345.678/0001-95"]}, "t")
    by_name = parse_policy({"never_contacts": ["distribuidora sul ltda"]}, "t")
    assert "never_contacts" in hold_reason(by_document, match)
    assert "never_contacts" in hold_reason(by_name, match)
    assert "never_categories" in hold_reason(parse_policy({"never_categories": ["emprestimos"]},
                                                          "t"), match)


@pytest.mark.parametrize(("table", "message"), [
    ({"auto_max": "10"}, "policy.auto_max"),
    ({"auto_max_amount": "dez reais"}, "not an amount"),
    ({"limits": [{"auto_max_amount": "10", "direction": "saida"}]}, "direction must be one of"),
    ({"limits": [{"direction": "pagar"}]}, "needs auto_max_amount"),
    ({"never_contacts": "Fulano"}, "list of strings"),
    ({"max_lag_days": -1}, "policy.max_lag_days"),
])
def test_a_policy_mistake_is_named(table, message):
    with pytest.raises(ConfigError, match=message):
        parse_policy(table, "recon.toml")


# -- undo ------------------------------------------------------------------------------------

def seen_by_a_person(server) -> dict[str, dict]:
    """Each parcela as the API shows it: the status derived for today (the stored one is only
    refreshed on a write), without versao and timestamps (every write moves them)."""
    from recon.contaazul.standin_core import business_today, derive_status

    state = server.snapshot()
    today = business_today(state)
    return {p["id"]: {**{k: v for k, v in p.items() if k not in ("versao", "data_alteracao")},
                      "status": derive_status(p, today)} for p in state["parcelas"]}


def test_undo_restores_the_stand_ins_state_and_the_next_run_does_not_redo_it(demo, capsys):
    folder, server = demo
    before = seen_by_a_person(server)
    recon_run(folder)
    [run] = store_rows(folder, "SELECT run_id FROM runs")
    assert sum(recon_baixas(server).values()) == len(EXPECTED_AUTO)
    capsys.readouterr()
    assert recon(folder, "undo", run["run_id"], "--by", "marta") == 0
    assert capsys.readouterr().out.count("undone: baixa") == len(EXPECTED_AUTO)
    after = seen_by_a_person(server)
    changed = {pid: {k: (before[pid].get(k), after[pid].get(k)) for k in after[pid]
                     if after[pid].get(k) != before[pid].get(k)} for pid in after
               if after[pid] != before[pid]}
    assert changed == {}
    states = {r["state"] for r in store_rows(folder, "SELECT state FROM settlements")}
    assert states == {"undone"}
    deletes = [e for e in writes(server) if e.method == "DELETE"]
    assert len(deletes) == len(EXPECTED_AUTO)
    # an undone match is taken as a rejection: the nightly run does not settle it again
    recon_run(folder)
    assert sum(recon_baixas(server).values()) == 0
    assert recon(folder, "undo", run["run_id"]) == 2  # nothing left to undo, and it says so
    assert "10 undone" in capsys.readouterr().err


def test_undo_refuses_a_parcela_changed_since_and_undoes_the_rest(demo, capsys):
    import asyncio

    from recon.config import load_config
    from recon.pipeline import build_client

    folder, server = demo
    recon_run(folder)
    luz = parcelas_by_description(server)["Conta de luz"]

    async def person_edits_the_nota():
        async with build_client(load_config(folder / "recon.toml")) as client:
            await client.patch(f"/v1/financeiro/eventos-financeiros/parcelas/{luz['id']}",
                               {"versao": luz["versao"], "nota": luz["nota"] + "\nconferido"})

    asyncio.run(person_edits_the_nota())
    [run] = store_rows(folder, "SELECT run_id FROM runs")
    capsys.readouterr()
    assert recon(folder, "undo", run["run_id"]) == 3
    out = capsys.readouterr().out
    assert "REFUSED: parcela " + luz["id"] in out and "changed in Conta Azul" in out
    counts = recon_baixas(server)
    assert counts[luz["id"]] == 1 and sum(counts.values()) == 1
    [row] = store_rows(folder, "SELECT state FROM settlements WHERE parcela_id = ?", [luz["id"]])
    assert row["state"] == "annotated"


# -- one run at a time -----------------------------------------------------------------------

def child_run(folder: Path, server) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RECON_CONTAAZUL_API_URL": server.api_url,
           "RECON_CONTAAZUL_TOKEN_URL": server.token_url}
    return subprocess.Popen(
        [sys.executable, "-m", "recon", "run", "--config", str(folder / "recon.toml"),
         "--from", WINDOW.start.isoformat(), "--to", WINDOW.end.isoformat()],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_holder(folder: Path, pid: int, timeout: float = 60.0) -> None:
    path = lock_path(folder / "recon.duckdb")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and f'"pid": {pid}' in path.read_text(encoding="utf-8"):
            return
        time.sleep(0.02)
    raise AssertionError("the first run never took the lock")


@pytest.fixture
def slow_demo(tmp_path, monkeypatch):
    """The demo against a stand-in answering each request after 50 ms: a run takes seconds."""
    from recon.contaazul.standin import Faults, StandIn
    from recon.demo import default_fixtures, prepare_demo_folder

    state_path = prepare_demo_folder(tmp_path / "demo", default_fixtures())
    with StandIn(state_path=state_path, faults=Faults(latency_seconds=0.05)) as server:
        monkeypatch.setenv("RECON_CONTAAZUL_API_URL", server.api_url)
        monkeypatch.setenv("RECON_CONTAAZUL_TOKEN_URL", server.token_url)
        monkeypatch.setenv("RECON_CONTAAZUL_REQUESTS_PER_SECOND", "1000")
        yield tmp_path / "demo", server


def test_a_second_run_is_refused_while_one_holds_the_company_and_says_who(slow_demo, capsys):
    folder, server = slow_demo
    first = child_run(folder, server)
    try:
        wait_for_holder(folder, first.pid)
        capsys.readouterr()
        assert recon_run(folder) == 4
        err = capsys.readouterr().err
        assert f"pid {first.pid}" in err and "`recon run`" in err
        assert recon(folder, "review") == 4  # every command waits its turn
    finally:
        assert first.wait(timeout=120) == 3
    counts = recon_baixas(server)
    assert sum(counts.values()) == len(EXPECTED_AUTO) and max(counts.values()) == 1
    assert recon_run(folder) in (0, 3)  # the lock was released


def test_a_killed_run_leaves_no_stale_lock(slow_demo):
    folder, server = slow_demo
    first = child_run(folder, server)
    wait_for_holder(folder, first.pid)
    # Killed once it talks to the API, not in the middle of rotating its refresh token: a kill
    # there loses the new token (a known hazard of rotating tokens, see the README).
    deadline = time.monotonic() + 60
    while not any(e.path.startswith("/v1/") for e in server.journal):
        assert time.monotonic() < deadline, "the run never reached the API"
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert recon_run(folder) in (0, 3)
    counts = recon_baixas(server)
    assert sum(counts.values()) == len(EXPECTED_AUTO) and max(counts.values()) == 1


def test_undo_without_a_known_versao_refuses_when_other_baixas_exist():
    from recon.records import Baixa, ParcelaDetail, ParcelaStatus
    from recon.undo import _changed_since

    ours = Baixa("b-ours", date(2026, 11, 4), 10_000, "recon:L1 run:r1", "recon:L1")
    theirs = Baixa("b-person", date(2026, 11, 5), 5_000, "pago no caixa", "")
    row = {"parcela_id": "p1", "versao_after": None}

    def parcela(*baixas: Baixa, versao: int = 3) -> ParcelaDetail:
        return ParcelaDetail("p1", versao, ParcelaStatus.SETTLED, 0, "", baixas)

    assert _changed_since(parcela(ours), row, ours) == ""
    assert "1 other baixa" in _changed_since(parcela(ours, theirs), row, ours)
    annotated = {**row, "versao_after": 3}
    assert _changed_since(parcela(ours, theirs, versao=3), annotated, ours) == ""  # versao decides
    assert "versao 4, recon left 3" in _changed_since(parcela(ours, versao=4), annotated, ours)


def test_resume_finishes_a_killed_runs_plan_without_pulling_or_matching(demo):
    folder, server = demo
    recon_run(folder, "--dry-run")  # decisions, no writes
    with Store(folder / "recon.duckdb") as store:
        # what a kill leaves: two baixas planned and never sent, one sent with no answer
        store.execute(
            """INSERT INTO settlements (line_key, parcela_id, run_id, state, tag, amount_cents,
                   data_pagamento, conta_financeira_id, updated_at)
               SELECT d.line_key, d.parcela_id, d.run_id,
                      CASE WHEN row_number() OVER (ORDER BY d.line_key) = 1 THEN 'sent'
                           ELSE 'intent' END,
                      'recon:' || d.line_key, abs(l.amount_cents), l.posted_on,
                      l.conta_financeira_id, now()
               FROM decisions d JOIN statement_lines l USING (line_key)
               WHERE d.decision = 'auto' AND d.kind = 'one_to_one'
               ORDER BY d.line_key LIMIT 3""")
        planned = {r["parcela_id"] for r in store.query(
            "SELECT parcela_id FROM settlements WHERE state = 'intent'")}
    before = len(server.journal)
    assert recon(folder, "resume") == 0
    paths = [e.path for e in server.journal[before:]]
    assert not any(p.endswith("/buscar") or "conta-financeira" in p for p in paths)  # no pull
    counts = recon_baixas(server)
    assert {pid for pid, n in counts.items() if n} == planned and max(counts.values()) == 1
    rows = store_rows(folder, "SELECT state FROM settlements")
    assert len(planned) == 2
    # the one `sent` with no baixa behind it is abandoned (the next run plans it again)
    assert sorted(r["state"] for r in rows) == ["abandoned", "annotated", "annotated"]
    recon_run(folder)
    assert max(recon_baixas(server).values()) == 1
