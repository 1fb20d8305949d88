from datetime import date

from recon.continuity import StatedBalance, balance_gaps, coverage_gaps, end_of_day_balance

D = date


def test_balances_that_add_up_give_no_gap():
    balances = [StatedBalance("c", D(2026, 11, 1), 10000, "a.ofx"),
                StatedBalance("c", D(2026, 11, 5), 13000, "b.ofx")]
    lines = [("c", D(2026, 11, 2), 5000), ("c", D(2026, 11, 5), -2000), ("c", D(2026, 11, 1), 999)]
    assert balance_gaps(balances, lines) == []


def test_lines_that_do_not_add_up_between_two_balances_are_found():
    balances = [StatedBalance("c", D(2026, 11, 1), 10000, "a.ofx"),
                StatedBalance("c", D(2026, 11, 5), 13000, "b.ofx")]
    [gap] = balance_gaps(balances, [("c", D(2026, 11, 2), 5000)])
    assert (gap.start, gap.end, gap.difference_cents) == (D(2026, 11, 2), D(2026, 11, 5), -2000)
    assert "doubled" in gap.detail and "b.ofx" in gap.detail


def test_a_doubled_download_shows_as_more_movement_than_the_bank_made():
    balances = [StatedBalance("c", D(2026, 11, 1), 0, "a"), StatedBalance("c", D(2026, 11, 2), 500, "b")]
    [gap] = balance_gaps(balances, [("c", D(2026, 11, 2), 500), ("c", D(2026, 11, 2), 500)])
    assert gap.difference_cents == -500 and "doubled" in gap.detail
    [gap] = balance_gaps(balances, [])
    assert gap.difference_cents == 500 and "missing" in gap.detail


def test_accounts_are_checked_separately_and_same_day_balances_count_once():
    balances = [StatedBalance("c1", D(2026, 11, 1), 0, "a"), StatedBalance("c1", D(2026, 11, 1), 0, "b"),
                StatedBalance("c2", D(2026, 11, 1), 0, "x"), StatedBalance("c2", D(2026, 11, 3), 100, "y")]
    gaps = balance_gaps(balances, [("c1", D(2026, 11, 2), 100), ("c2", D(2026, 11, 2), 100)])
    assert gaps == []


def test_opening_balance_is_the_previous_days_closing():
    assert end_of_day_balance(D(2026, 11, 3), 700, "opening") == (D(2026, 11, 2), 700)
    assert end_of_day_balance(D(2026, 11, 3), 700, "closing") == (D(2026, 11, 3), 700)


def test_days_no_statement_covers_are_reported():
    periods = [(D(2026, 11, 1), D(2026, 11, 3)), (D(2026, 11, 6), D(2026, 11, 9))]
    gaps = coverage_gaps("c", periods, (D(2026, 11, 2), D(2026, 11, 12)))
    assert [(g.start, g.end) for g in gaps] == [(D(2026, 11, 4), D(2026, 11, 5)),
                                                 (D(2026, 11, 10), D(2026, 11, 12))]
    assert coverage_gaps("c", [(D(2026, 11, 1), D(2026, 11, 30))], (D(2026, 11, 2), D(2026, 11, 6))) == []


def test_a_balance_dated_after_the_statement_period_is_not_used(tmp_path):
    from recon.config import load_config
    from recon.ingest import load_statements, record_gaps
    from recon.records import Balance, ContaFinanceira, StatementFile, StatementLine
    from recon.sources.inbox import InboxResult
    from recon.sources.keys import bank_account
    from recon.store import Store

    account = bank_account("341", "1234", "567890")
    conta = ContaFinanceira("c1", "Itaú", "ITAU", "341", "1234", "56789-0", "CONTA_CORRENTE")

    def statement(name, day, cents, balance_on, balance):
        line = StatementLine(name, 10, account, day, cents, "PIX", None, f"{name}-k")
        return StatementFile(name, "ofx", (account,), (line,), period=(day, day),
                             balances=(Balance(account, balance_on, balance, "closing"),))

    inbox = InboxResult(files=(
        statement("a.ofx", D(2026, 11, 2), 1000, D(2026, 11, 2), 5000),
        # stated on the download day, after its period: must not be compared
        statement("b.ofx", D(2026, 11, 3), 1000, D(2026, 11, 20), 9999),
        statement("c.ofx", D(2026, 11, 4), 500, D(2026, 11, 4), 6500),
    ), rejects=())
    with Store(tmp_path / "s.duckdb") as store:
        load_statements(store, "r1", inbox, [conta], load_config(None, environ={}))
        assert record_gaps(store, "r1", (D(2026, 11, 2), D(2026, 11, 4))) == 0
        assert [r["on_date"] for r in store.query("SELECT on_date FROM balances ORDER BY 1")] == [
            D(2026, 11, 2), D(2026, 11, 4)]
