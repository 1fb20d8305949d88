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
