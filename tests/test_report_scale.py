"""The report after a run of the labelled benchmark workload: every kind of decision the
matcher makes (batch credits and card payouts to review included) reaches the HTML, the CSV
and the JSON."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from markupsafe import escape

from benchmarks.engine_snapshot import prepare
from benchmarks.matching_data import RUN_ID
from benchmarks.report_bench import matched_store
from recon.store import Store
from reports.build import write_reports


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("report-scale")
    with Store(prepare(1_500, False, 3, folder / "run.duckdb")) as store:
        matched_store(store)
        decisions = store.query(
            "SELECT kind, decision, count(*) AS n FROM decisions GROUP BY ALL")
        _html, exceptions = write_reports(store, RUN_ID, folder / "report")
    return exceptions, {(d["kind"], d["decision"]): d["n"] for d in decisions}


def test_batch_and_card_payout_proposals_are_exported_without_a_pair_score(written) -> None:
    exceptions, decided = written
    batches = sum(n for (kind, decision), n in decided.items()
                  if kind in ("boleto_batch", "card_payout") and decision == "review")
    assert batches > 0, "the workload must have batch credits to review"
    rows = list(csv.DictReader(exceptions.read_text(encoding="utf-8").splitlines()))
    review = [r for r in rows if r["kind"] == "review"]
    # One row per proposed line; a batch has no single pair's probability to show.
    assert len(review) >= batches
    assert any(r["score"] == "" and r["reason"] for r in review)
    document = json.loads((exceptions.parent / "exceptions.json").read_text(encoding="utf-8"))
    assert [r["kind"] for r in document["rows"]] == [r["kind"] for r in rows]


def test_every_review_and_unmatched_line_is_in_the_html(written) -> None:
    exceptions, _ = written
    html = (exceptions.parent / "report.html").read_text(encoding="utf-8")
    rows = list(csv.DictReader(exceptions.read_text(encoding="utf-8").splitlines()))
    shown = [r for r in rows if r["kind"] in ("review", "unmatched_line")]
    assert shown and all(str(escape(r["memo"])) in html for r in shown)


def test_recon_review_shows_a_batch_proposal_with_each_parcela(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from recon.review import pending_items, sync_queue
    from recon.review_cli import print_item

    with Store(prepare(1_500, False, 3, tmp_path / "run.duckdb")) as store:
        matched_store(store)
        sync_queue(store, RUN_ID)
        items = [i for i in pending_items(store) if i["kind"] in ("boleto_batch", "card_payout")]
        assert items
        print_item(items[0], detailed=True)
    shown = capsys.readouterr().out
    assert shown.count("proposed: parcela") == len(items[0]["proposal"]) >= 2
    assert "why: " in shown


def test_a_large_run_shows_the_first_rows_of_each_section_and_says_where_the_rest_are(
        tmp_path: Path) -> None:
    with Store(prepare(1_500, False, 3, tmp_path / "run.duckdb")) as store:
        matched_store(store)
        counts = {d["decision"]: d["n"] for d in store.query(
            "SELECT decision, count(*) AS n FROM decisions GROUP BY ALL")}
        # The settled section has a row per baixa: a batch credit settles several parcelas.
        [baixas] = store.query("SELECT count(*) AS n FROM decisions d JOIN allocations a "
                               "USING (run_id, line_key) WHERE d.decision = 'auto'")
        assert baixas["n"] > counts["auto"]  # the workload's retornos settle whole batches
        _html, exceptions = write_reports(store, RUN_ID, tmp_path / "report", "en", max_rows=40)
    html = (exceptions.parent / "report.html").read_text(encoding="utf-8")
    rows = list(csv.DictReader(exceptions.read_text(encoding="utf-8").splitlines()))
    unmatched = sum(r["kind"] == "unmatched_line" for r in rows)
    assert unmatched == counts["unmatched"] > 40  # the CSV keeps every exception
    assert f"and {unmatched - 40:,} more: exceptions.csv" in html
    assert f"and {baixas['n'] - 40:,} more: `recon history --run {RUN_ID}`" in html
    # The section's heading still counts them all; its table holds max_rows lines.
    section = html.split('id="unmatched-lines"')[1].split("<h2")[0]
    assert f"({unmatched})" in section and section.count("<tr>") == 40 + 1


def test_report_max_rows_below_one_is_refused(tmp_path: Path) -> None:
    from recon.config import load_config
    from recon.errors import ConfigError

    with pytest.raises(ConfigError, match="report.max_rows"):
        load_config(None, {"RECON_REPORT_MAX_ROWS": "0"})
