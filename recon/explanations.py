"""Stored decisions explained from the store: each pair's signals, the split of the amount,
the runner-up. Shared by the report and `recon review`.

Everything a list of decisions needs is read in a few queries for the whole list, never
a few per decision: a year's backfill reports tens of thousands of lines, and three
queries each (each a scan of candidate_pairs) made its report take minutes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import pandas as pd

from matchers.explain import explain_decision
from recon.store import Store

Row = dict[str, Any]
PairKey = tuple[str, str, str]  # run_id, line_key, parcela_id


def explain_rows(store: Store, rows: list[Row], language: str = "en") -> list[Row]:
    """Each row's `reason` (rows are `decisions` rows, or carry the same columns with their
    run_id): its pair, its rival's pair and its allocation, read for all rows at once."""
    own = [_own_key(row) for row in rows]
    rivals = [_rival_key(row) for row in rows]
    pairs = stored_rows(store, "candidate_pairs", [k for k in own + rivals if k])
    allocations = stored_rows(store, "allocations", [k for k in own if k])
    for row, key, rival in zip(rows, own, rivals, strict=True):
        row["reason"] = explain_decision(
            row, pairs.get(key) if key else None, pairs.get(rival) if rival else None,
            allocations.get(key) if key else None, language=language)
    return rows


def _own_key(row: Row) -> PairKey | None:
    return (row["run_id"], row["line_key"], row["parcela_id"]) if row.get("parcela_id") else None


def _rival_key(row: Row) -> PairKey | None:
    if not (row.get("rival_parcela_id") or row.get("rival_line_key")):
        return None
    return (row["run_id"], row.get("rival_line_key") or row["line_key"],
            row.get("rival_parcela_id") or row.get("parcela_id"))


def stored_rows(store: Store, table: str, keys: Iterable[PairKey]) -> dict[PairKey, Row]:
    """Rows of a table keyed by (run_id, line_key, parcela_id), for these keys, in one join."""
    wanted = pd.DataFrame(list(set(keys)), columns=["run_id", "line_key", "parcela_id"],
                          dtype=object)
    if wanted.empty:
        return {}
    store.replace_temp("wanted_pairs", wanted)
    found = store.query(f"SELECT t.* FROM {table} t "
                        "JOIN wanted_pairs w USING (run_id, line_key, parcela_id)")
    return {(r["run_id"], r["line_key"], r["parcela_id"]): r for r in found}


def grouped(rows: Iterable[Row], *key: str) -> dict[tuple[Any, ...], list[Row]]:
    """Rows by the values of `key`, each group in the rows' order."""
    groups: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in key)].append(row)
    return groups
