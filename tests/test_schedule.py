"""The nightly job: catching up after missed nights, and the exit codes cron and systemd see."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from support import EXPECTED_AUTO, parcelas_by_description, recon

from recon import cli, pipeline
from recon.store import Store

ROOT = Path(__file__).resolve().parents[1]


def runs(folder: Path) -> list[dict]:
    with Store(folder / "recon.duckdb") as store:
        return store.query("SELECT * FROM runs ORDER BY started_at")


def test_one_run_catches_up_on_three_missed_nights(demo, monkeypatch):
    folder, server = demo
    # The night of 02/11 ran; the machine was off the next three nights.
    assert recon(folder, "run", "--from", "2026-11-02", "--to", "2026-11-02") in (0, 3)
    monkeypatch.setattr(cli, "yesterday_sao_paulo", lambda: date(2026, 11, 5))
    assert recon(folder, "run") == 3
    last = runs(folder)[-1]
    assert (last["window_from"], last["window_to"]) == (date(2026, 11, 3), date(2026, 11, 5))
    with Store(folder / "recon.duckdb") as store:
        covered = store.query(
            """SELECT min(l.posted_on) AS first, max(l.posted_on) AS last, count(*) AS n
               FROM run_lines r JOIN statement_lines l USING (line_key) WHERE r.run_id = ?""",
            [last["run_id"]])[0]
        expected = store.query("SELECT count(*) AS n FROM statement_lines "
                               "WHERE posted_on BETWEEN '2026-11-03' AND '2026-11-05'")[0]
        settled_days = {r["posted_on"] for r in store.query(
            """SELECT l.posted_on FROM settlements s JOIN statement_lines l USING (line_key)
               WHERE s.state = 'annotated' AND s.run_id = ?""", [last["run_id"]])}
    assert (covered["first"], covered["last"]) == (date(2026, 11, 3), date(2026, 11, 5))
    assert covered["n"] == expected["n"]
    assert settled_days and settled_days <= {date(2026, 11, d) for d in (3, 4, 5)}
    # the same night again covers yesterday again and writes nothing twice
    assert recon(folder, "run") in (0, 3)
    last = runs(folder)[-1]
    assert (last["window_from"], last["window_to"]) == (date(2026, 11, 5), date(2026, 11, 5))
    by_description = parcelas_by_description(server)
    assert all(len(by_description[d]["baixas"]) <= 1 for d in EXPECTED_AUTO)


def test_catch_up_is_bounded_and_says_what_it_left(demo, monkeypatch, capsys):
    folder, _ = demo
    assert recon(folder, "run", "--from", "2026-11-01", "--to", "2026-11-01") in (0, 3)
    monkeypatch.setenv("RECON_SCHEDULE_MAX_CATCH_UP_DAYS", "2")
    monkeypatch.setattr(cli, "yesterday_sao_paulo", lambda: date(2026, 11, 6))
    recon(folder, "run")
    last = runs(folder)[-1]
    assert (last["window_from"], last["window_to"]) == (date(2026, 11, 5), date(2026, 11, 6))
    assert "recon run --from 2026-11-02 --to 2026-11-04" in capsys.readouterr().err


def test_dry_runs_and_failed_runs_do_not_count_as_covered(demo, monkeypatch):
    folder, _ = demo
    assert recon(folder, "run", "--from", "2026-11-02", "--to", "2026-11-05", "--dry-run") == 3
    monkeypatch.setattr(cli, "yesterday_sao_paulo", lambda: date(2026, 11, 5))
    assert recon(folder, "run") in (0, 3)
    last = runs(folder)[-1]
    assert (last["window_from"], last["window_to"]) == (date(2026, 11, 5), date(2026, 11, 5))


def test_every_exit_code_is_documented_in_the_readme_and_the_cli():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| (\d) \| (.+) \|$", readme, flags=re.MULTILINE))
    codes = {name: value for name, value in vars(pipeline).items() if name.startswith("EXIT_")}
    assert set(map(int, table)) == set(codes.values())
    assert all(f"  {code}  " in cli.__doc__ for code in codes.values())
    # the shipped schedules run `recon run` without dates and treat 3 and 4 as a normal night
    service = (ROOT / "deploy" / "recon.service").read_text(encoding="utf-8")
    assert "SuccessExitStatus=3" in service and "SuccessExitStatus=4" in service
    assert re.search(r"^ExecStart=\S+/recon .*\brun --config \S+", service, flags=re.MULTILINE)
    cron = (ROOT / "deploy" / "crontab").read_text(encoding="utf-8")
    assert "case $rc in 0|3|4) ;;" in cron and "recon --quiet run --config" in cron
    assert "--from" not in cron and "--from" not in service  # catch-up needs no dates
