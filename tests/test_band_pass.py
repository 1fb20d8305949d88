"""The band pass's charge and discount probes reach every pair the arithmetic explains.

The pass joins on keys of the amounts (matchers.candidates._amount_key, _log_key) instead
of comparing every line with every parcela in the window: a probe that missed a key would
silently lose late payments and discounts. Here every pair of a few thousand lines and
parcelas is checked by brute force: the pass returns exactly the pairs the SQL filter
(_explainable) accepts over the whole cross product, and among them every pair
matchers.arithmetic.explain explains. Then the hot-block rule: a line the arithmetic
explains on too many parcelas keeps only those its name vouches for."""

import numpy as np
import pyarrow as pa
import pytest

from matchers.arithmetic import COMPENSATION_DAYS, LateTerms, explain
from matchers.candidates import (
    _DIFFERENCE,
    HOT_KEY_BLOCKS,
    Blocking,
    _explainable,
    _lag_filter,
    band_pass_sql,
)
from recon.store import Store

TERMS = LateTerms()


def _payments(rng: np.random.Generator, open_cents: np.ndarray, due: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Lines paying each parcela late (each charge variant, compensation shift and a
    centavo either way), early with each discount, and at unrelated amounts."""
    amounts, days = [], []
    for cents, on in zip(open_cents.tolist(), due.tolist(), strict=True):
        for multa_bp, juros_bp in ((TERMS.multa_bp, TERMS.juros_month_bp),
                                   (TERMS.multa_bp, 0), (0, TERMS.juros_month_bp)):
            lag = int(rng.integers(1, 61))
            late = max(lag - int(rng.choice(COMPENSATION_DAYS)), 0)
            charge = (cents * multa_bp + 5_000) // 10_000 + (
                cents * juros_bp * late + 150_000) // 300_000
            amounts.append(cents + charge + int(rng.integers(-1, 2)))
            days.append(on + lag)
        rate = int(rng.choice(TERMS.discount_bp))
        amounts.append(cents - (cents * rate + 5_000) // 10_000 + int(rng.integers(-1, 2)))
        days.append(on - int(rng.integers(0, 11)))
        amounts.append(int(cents * rng.uniform(0.9, 1.1)))
        days.append(on + int(rng.integers(-15, 70)))
    return np.maximum(np.array(amounts), 1), np.array(days)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_band_pass_finds_every_explainable_pair(tmp_path, seed):
    rng = np.random.default_rng(seed)
    n = 400
    # Log-uniform from R$ 0,50 to R$ 50.000: small amounts have the widest centavo margins.
    open_cents = np.exp(rng.uniform(np.log(50), np.log(5_000_000), n)).astype(np.int64)
    # Popular prices repeat, as plans do: many parcelas of one amount in the same weeks.
    open_cents[: n // 4] = 9_990
    due = rng.integers(20_000, 20_090, n)
    amt, day = _payments(rng, open_cents, due)
    b = Blocking(hot_block=len(amt) * n)  # the probes alone: no line is too crowded here
    with Store(tmp_path / "band.duckdb") as store:
        _stage(store, amt, day, [""] * len(amt), open_cents, due, [""] * n)
        pairs = _band_pairs(store, b)
        brute = store.query_arrays(f"""
            SELECT lid, pid FROM (
                SELECT l.lid, p.pid, {_DIFFERENCE}
                FROM m_lines l, m_parc p
                WHERE {_lag_filter(b)} AND l.amt <> p.open
                  AND abs(l.amt - p.open) * 10000 <= p.open * {round(b.band_pct * 100)})
            WHERE {_explainable(TERMS)}""")
    expected = set(zip(brute["lid"].tolist(), brute["pid"].tolist(), strict=True))
    assert len(expected) > 3 * n  # the workload really has explainable pairs to find
    assert pairs == expected
    # And the arithmetic's own verdict, over the whole cross product in the window and band.
    lid, pid = np.divmod(np.arange(len(amt) * n), n)
    lag = day[lid] - due[pid]
    paid, owed = amt[lid], open_cents[pid]
    near = ((lag >= -b.early_days) & (lag <= b.late_days) & (paid != owed)
            & (np.abs(paid - owed) * 10_000 <= owed * round(b.band_pct * 100)))
    verdict = explain(paid[near], owed[near], lag[near], TERMS)
    explained = near.copy()
    explained[near] = verdict.late | verdict.discount
    missing = {(int(a), int(c)) for a, c in zip(lid[explained], pid[explained], strict=True)
               } - pairs
    assert not missing


def _stage(store: Store, amt, day, line_tok: list[str], open_cents, due,
           parc_tok: list[str]) -> None:
    """m_lines, m_parc and m_residue as the engine stages them (one direction, no keys;
    every line in the residue)."""
    empty = pa.array([[]], pa.list_(pa.string()))
    store.replace_temp("m_lines", pa.table({
        "lid": np.arange(len(amt)), "dir": np.zeros(len(amt), np.int8), "amt": amt,
        "day": day, "btok": line_tok, "keys": empty.take([0] * len(amt))}))
    store.replace_temp("m_parc", pa.table({
        "pid": np.arange(len(open_cents)), "dir": np.zeros(len(open_cents), np.int8),
        "open": open_cents, "due": due, "btok": parc_tok,
        "keys": empty.take([0] * len(open_cents))}))
    store.replace_temp("m_residue", pa.table({"lid": np.arange(len(amt))}))


def _band_pairs(store: Store, b: Blocking) -> set[tuple[int, int]]:
    found = store.query_arrays(
        f"SELECT DISTINCT lid, pid FROM ({band_pass_sql(b, 'm_residue', TERMS)})")
    return set(zip(found["lid"].tolist(), found["pid"].tolist(), strict=True))


@pytest.mark.parametrize("plans", [20, 21, 300])
def test_a_late_payment_explained_on_too_many_parcelas_is_left_to_its_name(tmp_path, plans):
    """R$ 101,93 is R$ 99,90 plus 2 % multa and a day of juros for every plan due that
    day: past hot_block (20) such parcelas, only the one whose contact the memo names is a
    candidate (the exact pass's rule for twenty R$ 99,90 due the same week)."""
    due = 20_400
    tokens = ["MARIA"] + [f"CLIENTE{i}" for i in range(1, plans)]
    with Store(tmp_path / "band.duckdb") as store:
        _stage(store, [10_193, 10_193], [due + 1, due + 1], ["MARIA", ""], [9_990] * plans,
               [due] * plans, tokens)
        pairs = _band_pairs(store, Blocking())
    named, anonymous = {p for lid, p in pairs if lid == 0}, {p for lid, p in pairs if lid == 1}
    if plans <= Blocking().hot_block:
        assert named == anonymous == set(range(plans))
    else:
        assert named == {0} and anonymous == set()


def test_a_block_of_hundreds_is_not_paired_but_leaves_the_rest_of_the_line(tmp_path):
    """A (amount key, fortnight) block of more than HOT_KEY_BLOCKS x hot_block parcelas (300
    R$ 99,90 plans due the same day) is not paired with the lines its arithmetic reaches:
    such a line is crowded there whatever else it reaches. What it reaches outside the
    block still counts: R$ 101,93 a day after the plans fall due is also R$ 104,01 less a
    2 % discount, due five days later, and that parcela stays its candidate (pairing the
    whole block made it 'crowded' and left it none)."""
    due, plans = 20_400, 300
    assert plans > Blocking().hot_block * HOT_KEY_BLOCKS
    with Store(tmp_path / "band.duckdb") as store:
        _stage(store, [10_193], [due + 1], [""], [9_990] * plans + [10_401],
               [due] * plans + [due + 6], [""] * (plans + 1))
        pairs = _band_pairs(store, Blocking())
    assert pairs == {(0, plans)}
