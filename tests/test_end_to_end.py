"""The whole pipeline against the stand-in over real loopback sockets, through the CLI."""

from __future__ import annotations

import asyncio
import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest
from support import (
    EXPECTED_AUTO,
    WINDOW,
    make_demo_clean,
    parcelas_by_description,
    recon_run,
    writes,
)

from recon.cli import main
from recon.contaazul.standin import StandIn
from recon.demo import default_fixtures, prepare_demo_folder
from recon.store import Store

BAIXA_SUFFIX = "/baixa"


def test_run_settles_the_clear_matches_with_one_baixa_and_one_patch_each(demo, capsys):
    folder, server = demo
    assert recon_run(folder) == 3  # done, with exceptions to review

    posts = [e for e in writes(server) if e.method == "POST"]
    patches = [e for e in writes(server) if e.method == "PATCH"]
    assert len(posts) == len(patches) == len(EXPECTED_AUTO)
    assert all(e.status == 200 for e in posts + patches)
    parcelas = parcelas_by_description(server)
    for descricao, amount in EXPECTED_AUTO.items():
        parcela = parcelas[descricao]
        assert parcela["status"] == "QUITADO", descricao
        [baixa] = parcela["baixas"]
        assert str(baixa["composicao_valor"]["valor_bruto"]) == amount
        assert baixa["observacao"].startswith("recon:")
        assert "[recon] Conciliado com extrato" in parcela["nota"]
    # every POST carried the bank date and the statement's conta financeira
    itau = server.snapshot()["contas_financeiras"][0]["id"]
    luz = next(e for e in posts if e.body["composicao_valor"]["valor_bruto"] == Decimal("245.37"))
    assert luz.body["data_pagamento"] == "2026-11-04" and luz.body["conta_financeira"] == itau
    # the PATCH sent the versao the parcela had after its baixa
    assert all(isinstance(e.body.get("versao"), int) for e in patches)
    # happy path: one read, one baixa, one PATCH per settled parcela
    detail_reads = [e for e in server.journal if e.method == "GET" and "/parcelas/" in e.path]
    assert len(detail_reads) == len(EXPECTED_AUTO)
    # the late payment carried its multa as such, not as principal
    [late] = parcelas["Fornecimento de pães - outubro"]["baixas"]
    assert Decimal(str(late["composicao_valor"]["multa"])) == 20
    # nothing ambiguous was written: three R$ 99,90 plans due that day, two memos naming nobody
    for parcela in parcelas.values():
        if parcela["descricao"] == "Assinatura mensal":
            assert parcela["baixas"] == []


def test_late_evening_pix_is_settled_on_its_own_business_day(demo):
    folder, server = demo
    recon_run(folder)
    [baixa] = parcelas_by_description(server)["Clareamento - parcela 1/2"]["baixas"]
    assert baixa["data_pagamento"] == "2026-11-05"  # posted 22:30 BRT, 01:30 UTC the next day


def test_second_run_writes_nothing_new(demo):
    folder, server = demo
    recon_run(folder)
    first = len(writes(server))
    before = server.snapshot()
    assert recon_run(folder) == 3
    assert len(writes(server)) == first
    assert server.snapshot()["parcelas"] == before["parcelas"]


def test_dry_run_writes_nothing_and_still_reports(demo, capsys):
    folder, server = demo
    assert recon_run(folder, "--dry-run") == 3
    assert writes(server) == []
    assert "dry run" in capsys.readouterr().out
    [report] = (folder / "reports").glob("*/report.html")
    assert "simulação" in report.read_text(encoding="utf-8")


def test_malformed_file_is_reported_by_name_and_the_rest_completes(demo):
    folder, server = demo
    recon_run(folder)
    [exceptions] = (folder / "reports").glob("*/exceptions.csv")
    rows = list(csv.DictReader(exceptions.read_text(encoding="utf-8").splitlines()))
    rejected = [r for r in rows if r["kind"] == "rejected_file"]
    assert [r["file"] for r in rejected] == ["extrato-santander-corrompido.ofx"]
    assert "incomplete" in rejected[0]["reason"] and rejected[0]["hint"]
    assert len([e for e in writes(server) if e.method == "POST"]) == len(EXPECTED_AUTO)
    html = next((folder / "reports").glob("*/report.html")).read_text(encoding="utf-8")
    assert "extrato-santander-corrompido.ofx" in html


def test_report_and_csv_list_every_exception_kind(demo):
    folder, _ = demo
    recon_run(folder)
    [exceptions] = (folder / "reports").glob("*/exceptions.csv")
    kinds = [r["kind"] for r in csv.DictReader(exceptions.read_text(encoding="utf-8").splitlines())]
    assert kinds.count("review") == 2  # the two R$ 99,90 PIX that name nobody
    rows = list(csv.DictReader(exceptions.read_text(encoding="utf-8").splitlines()))
    for review in (r for r in rows if r["kind"] == "review"):
        # each proposal says why (in the report's language, Portuguese by default): its
        # probability, each signal's bits, and the rival
        assert "p=" in review["reason"] and "valor exato" in review["reason"]
        assert "segundo colocado" in review["reason"] and "bits" in review["reason"]
    assert kinds.count("unmatched_line") == 3
    assert "unpaid_parcela" in kinds
    [as_json] = (folder / "reports").glob("*/exceptions.json")
    document = json.loads(as_json.read_text(encoding="utf-8"))
    assert document["schema"] == 1 and document["columns"][0] == "kind"
    assert [r["kind"] for r in document["rows"]] == kinds  # the same rows as the CSV
    assert all(isinstance(r["amount"], str | None) for r in document["rows"])  # never a float


def test_the_report_speaks_english_when_asked(demo, monkeypatch):
    folder, _ = demo
    monkeypatch.setenv("RECON_REPORT_LANGUAGE", "en")
    recon_run(folder)
    [report] = (folder / "reports").glob("*/report.html")
    html = report.read_text(encoding="utf-8")
    assert 'lang="en"' in html and "Bank reconciliation" in html and "To review" in html
    assert "R$ 1,500.00" in html and "2026-11-03" in html  # English number and date formats
    assert "amount exact" in html and "runner-up" in html
    monkeypatch.setenv("RECON_REPORT_LANGUAGE", "fr")
    assert recon_run(folder) == 2  # not a language the report speaks: a configuration error


def test_store_records_the_run_and_money_as_integer_centavos(demo):
    folder, _ = demo
    recon_run(folder)
    with Store(folder / "recon.duckdb") as store:
        [run] = store.query("SELECT status, exit_code FROM runs")
        types = {r["column_name"]: r["data_type"] for r in store.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'statement_lines'")}
        settled = store.query("SELECT count(*) AS n FROM settlements WHERE state = 'annotated'")
    assert run == {"status": "succeeded", "exit_code": 3}
    assert types["amount_cents"] == "BIGINT" and types["posted_on"] == "DATE"
    assert settled[0]["n"] == len(EXPECTED_AUTO)


def test_a_baixa_that_landed_before_a_crash_is_not_sent_again(demo):
    """Simulate a kill between the POST and the ledger update: the row is left at `sent`."""
    folder, server = demo
    recon_run(folder)
    with Store(folder / "recon.duckdb") as store:
        store.execute("UPDATE settlements SET state = 'sent', baixa_id = NULL")
    posts_before = sum(e.method == "POST" for e in server.journal)
    recon_run(folder)
    assert sum(e.method == "POST" for e in server.journal) == posts_before
    with Store(folder / "recon.duckdb") as store:
        states = {r["state"] for r in store.query("SELECT state FROM settlements")}
        missing = store.query("SELECT count(*) AS n FROM settlements WHERE baixa_id IS NULL")
    assert states == {"annotated"} and missing[0]["n"] == 0
    for descricao in EXPECTED_AUTO:
        assert len(parcelas_by_description(server)[descricao]["baixas"]) == 1


def test_an_intent_that_never_reached_conta_azul_is_sent_exactly_once(demo, tmp_path):
    """Kill after the plan was written, before anything was sent: the next run applies the
    plan (each parcela read first) and sends each baixa once."""
    folder, server = demo
    assert recon_run(folder, "--dry-run") == 3
    with Store(folder / "recon.duckdb") as store:
        store.execute(
            """INSERT INTO settlements (line_key, parcela_id, run_id, state, tag, amount_cents,
                   data_pagamento, conta_financeira_id, updated_at)
               SELECT d.line_key, d.parcela_id, d.run_id, 'intent',
                   'recon:' || d.line_key, abs(l.amount_cents), l.posted_on, l.conta_financeira_id,
                   now()
               FROM decisions d JOIN statement_lines l USING (line_key)
               WHERE d.decision = 'auto' AND d.kind = 'one_to_one'""")
    recon_run(folder)
    for descricao in EXPECTED_AUTO:
        assert len(parcelas_by_description(server)[descricao]["baixas"]) == 1


def settle_by_hand(folder: Path, parcela_id: str, amount: str, conta_id: str) -> None:
    """What a person does in Conta Azul's UI, done through the API with the company's token."""
    from recon.config import load_config
    from recon.pipeline import build_client

    async def go():
        async with build_client(load_config(folder / "recon.toml")) as client:
            await client.post(f"/v1/financeiro/eventos-financeiros/parcelas/{parcela_id}/baixa", {
                "data_pagamento": "2026-11-04", "conta_financeira": conta_id,
                "composicao_valor": {"valor_bruto": Decimal(amount)}, "observacao": "pago no caixa"})

    asyncio.run(go())


def test_parcela_settled_by_a_person_before_the_run_is_left_alone(demo):
    folder, server = demo
    luz = parcelas_by_description(server)["Conta de luz"]
    settle_by_hand(folder, luz["id"], "245.37", server.snapshot()["contas_financeiras"][0]["id"])
    recon_run(folder)
    [baixa] = parcelas_by_description(server)["Conta de luz"]["baixas"]
    assert baixa["observacao"] == "pago no caixa"
    posted_to = [e.path for e in writes(server) if e.method == "POST"]
    assert sum(luz["id"] in path for path in posted_to) == 1  # only the person's
    [exceptions] = (folder / "reports").glob("*/exceptions.csv")
    unmatched = [r["memo"] for r in csv.DictReader(exceptions.read_text(encoding="utf-8").splitlines())
                 if r["kind"] == "unmatched_line"]
    assert "PAGAMENTO DE TITULO LIGHT" in unmatched


def test_revoked_refresh_token_fails_the_run_with_exit_1_and_no_secret_in_output(demo, capsys):
    folder, _ = demo
    (folder / "tokens.json").write_text(json.dumps({"refresh_token": "revoked-long-ago"}))
    assert recon_run(folder) == 1
    err = capsys.readouterr().err
    assert "run `recon auth login` again" in err
    assert "revoked-long-ago" not in err and "demo-secret" not in err
    with Store(folder / "recon.duckdb") as store:
        [run] = store.query("SELECT status, exit_code FROM runs")
    assert run == {"status": "failed", "exit_code": 1}


def test_configuration_error_exits_2(demo, capsys):
    folder, _ = demo
    (folder / "bad.toml").write_text("[matching]\nauto_treshold = 1\n")
    assert main(["run", "--config", str(folder / "bad.toml")]) == 2
    assert "auto_treshold" in capsys.readouterr().err


def test_clean_run_exits_0(demo):
    folder, _ = demo
    make_demo_clean(folder)
    assert main(["run", "--config", str(folder / "recon.toml"), "--from", "2026-11-05",
                 "--to", "2026-11-05"]) == 0


def test_an_overlapping_download_adds_no_line_twice(demo):
    folder, server = demo
    inbox = folder / "inbox"
    (inbox / "itau-2026-11-again.ofx").write_bytes((inbox / "itau-2026-11.ofx").read_bytes())
    recon_run(folder)
    with Store(folder / "recon.duckdb") as store:
        lines = store.query("SELECT count(*) AS n FROM statement_lines")[0]["n"]
        itau = store.query("SELECT lines_read, lines_new FROM statement_files "
                           "WHERE file LIKE 'itau-%' ORDER BY file")
    assert lines == 14  # 10 Itaú + 2 Nubank + 2 Bradesco, as without the copy
    # whichever copy is read first brings the lines; the other adds none
    assert sorted((r["lines_read"], r["lines_new"]) for r in itau) == [(10, 0), (10, 10)]
    assert len([e for e in writes(server) if e.method == "POST"]) == len(EXPECTED_AUTO)


def test_a_file_of_an_unknown_account_is_rejected_listing_the_accounts(demo):
    folder, server = demo
    inbox = folder / "inbox"
    text = (inbox / "nubank-2026-11.ofx").read_text(encoding="utf-8")
    (inbox / "nubank-2026-11.ofx").write_text(text.replace("<ACCTID>98765432", "<ACCTID>11112222"),
                                              encoding="utf-8")
    recon_run(folder)
    [exceptions] = (folder / "reports").glob("*/exceptions.csv")
    rows = [r for r in csv.DictReader(exceptions.read_text(encoding="utf-8").splitlines())
            if r["file"] == "nubank-2026-11.ofx"]
    assert [r["kind"] for r in rows] == ["rejected_file"]
    assert "260/1/11112222 matches no conta financeira" in rows[0]["reason"]
    assert "Nubank PJ" in rows[0]["hint"] and "[[accounts]]" in rows[0]["hint"]
    assert parcelas_by_description(server)["Clareamento - parcela 1/2"]["baixas"] == []


def test_no_secret_or_token_reaches_logs_output_or_reports_even_at_debug(demo, capsys):
    folder, _server = demo
    assert main(["-vv", "run", "--config", str(folder / "recon.toml"), "--from",
                 WINDOW.start.isoformat(), "--to", WINDOW.end.isoformat()]) == 3
    captured = capsys.readouterr()
    tokens = json.loads((folder / "tokens.json").read_text())
    secrets_seen = [
        (folder / "client_secret").read_text(), tokens["refresh_token"], tokens["access_token"],
        "demo-refresh-token-0",  # the refresh token the run started with
    ]
    reports = "".join(p.read_text(encoding="utf-8") for p in (folder / "reports").rglob("*.*"))
    for secret in secrets_seen:
        assert secret not in captured.out + captured.err
        assert secret not in reports
    assert "HTTP GET" in captured.err  # the debug log did run


def test_without_annotation_each_parcela_costs_one_write_and_no_read(demo, monkeypatch):
    folder, server = demo
    monkeypatch.setenv("RECON_SETTLE_ANNOTATE_PARCELA", "false")
    recon_run(folder)
    api_calls = [e for e in server.journal if e.path.startswith("/v1/")]
    settle_calls = [e for e in api_calls if "/parcelas/" in e.path]
    assert [e.method for e in settle_calls] == ["POST"] * len(EXPECTED_AUTO)
    changed_checks = [e for e in api_calls if "data_alteracao_de" in e.query]
    assert len(changed_checks) == 2  # one look at what changed, for receber and pagar
    for descricao in EXPECTED_AUTO:
        parcela = parcelas_by_description(server)[descricao]
        assert len(parcela["baixas"]) == 1 and parcela["nota"] == ""
    assert recon_run(folder) == 3 and len([e for e in server.journal if e.method == "POST"
                                           and e.path.startswith("/v1/")]) == len(EXPECTED_AUTO)


def test_a_statement_whose_balances_do_not_add_up_is_reported_as_a_gap(demo):
    folder, _ = demo
    earlier = (default_fixtures() / "inbox" / "itau-2026-11.ofx").read_bytes().decode("cp1252")
    start = earlier.index("<STMTTRN>")
    end = earlier.index("</BANKTRANLIST>")
    one_line = ("<STMTTRN>\r\n<TRNTYPE>CREDIT\r\n<DTPOSTED>20261101100000[-03:EST]\r\n"
                "<TRNAMT>10.00\r\n<FITID>20261101001\r\n<MEMO>PIX TRANSF  TESTE\r\n</STMTTRN>\r\n")
    earlier = (earlier[:start] + one_line + earlier[end:]).replace(
        "<BALAMT>7845.79\r\n<DTASOF>20261106", "<BALAMT>5000.00\r\n<DTASOF>20261101").replace(
        "<DTSTART>20261102", "<DTSTART>20261101").replace("<DTEND>20261106", "<DTEND>20261101")
    (folder / "inbox" / "itau-2026-10-31.ofx").write_bytes(earlier.encode("cp1252"))
    assert recon_run(folder) == 3
    [exceptions] = (folder / "reports").glob("*/exceptions.csv")
    gaps = [r for r in csv.DictReader(exceptions.read_text(encoding="utf-8").splitlines())
            if r["kind"] == "statement_gap"]
    # 5.000,00 on 01/11 plus the Itaú lines of 02-06/11 (4.727,67) is not the 7.845,79 stated
    assert [(g["date"], g["amount"]) for g in gaps] == [("2026-11-02", "-1881.88")]
    assert "Itaú PJ" in gaps[0]["reason"] and "doubled" in gaps[0]["reason"]


def run_against(folder: Path, monkeypatch, faults=None) -> tuple[int, StandIn]:
    """One run against a stand-in started on the folder's state with these faults."""
    from recon.contaazul.standin import Faults

    with StandIn(state_path=folder / "contaazul_state.json", faults=faults or Faults()) as server:
        monkeypatch.setenv("RECON_CONTAAZUL_API_URL", server.api_url)
        monkeypatch.setenv("RECON_CONTAAZUL_TOKEN_URL", server.token_url)
        return recon_run(folder), server


def ledger_states(folder: Path) -> dict[str, str]:
    with Store(folder / "recon.duckdb") as store:
        return {r["parcela_id"]: r["state"] for r in store.query("SELECT * FROM settlements")}


@pytest.fixture
def quiet_demo(tmp_path, monkeypatch):
    """The demo folder without a running server: each test starts its own, with faults."""
    prepare_demo_folder(tmp_path / "demo", default_fixtures())
    for name, value in {"RECON_CONTAAZUL_REQUESTS_PER_SECOND": "1000",
                        "RECON_CONTAAZUL_RETRY_BACKOFF_SECONDS": "0.001",
                        "RECON_CONTAAZUL_RETRY_MAX_DELAY_SECONDS": "0.01"}.items():
        monkeypatch.setenv(name, value)
    return tmp_path / "demo"


def test_a_landed_baixa_whose_lookup_fails_stays_unknown_and_is_resolved_next_run(quiet_demo, monkeypatch):
    from recon.contaazul.standin import Faults

    faults = Faults(ambiguous_write_rate=1.0, fail_next={"list_baixas": 1000}, seed=1)
    code, server = run_against(quiet_demo, monkeypatch, faults)
    assert code == 3
    assert set(ledger_states(quiet_demo).values()) == {"unknown"}  # never `failed`
    first_posts = sum(e.method == "POST" and e.path.startswith("/v1/") for e in server.journal)
    assert first_posts == len(EXPECTED_AUTO)
    [exceptions] = (quiet_demo / "reports").glob("*/exceptions.csv")
    assert exceptions.read_text(encoding="utf-8").count("write_error") == len(EXPECTED_AUTO)

    code, server = run_against(quiet_demo, monkeypatch)
    assert not any(e.method == "POST" and e.path.startswith("/v1/") for e in server.journal)
    assert set(ledger_states(quiet_demo).values()) == {"annotated"}
    for descricao in EXPECTED_AUTO:
        assert len(parcelas_by_description(server)[descricao]["baixas"]) == 1


def test_a_baixa_whose_patch_fails_stays_confirmed_and_is_annotated_next_run(quiet_demo, monkeypatch):
    from recon.contaazul.standin import Faults

    _code, server = run_against(quiet_demo, monkeypatch, Faults(fail_next={"patch_parcela": 1000}))
    assert set(ledger_states(quiet_demo).values()) == {"confirmed"}
    _code, server = run_against(quiet_demo, monkeypatch)
    assert not any(e.method == "POST" and e.path.startswith("/v1/") for e in server.journal)
    assert set(ledger_states(quiet_demo).values()) == {"annotated"}
    for descricao in EXPECTED_AUTO:
        parcela = parcelas_by_description(server)[descricao]
        assert len(parcela["baixas"]) == 1 and "[recon]" in parcela["nota"]
