"""The store's insert beside other work (how the matcher writes its candidates while it
decides): the rows land, a refusal is raised where the caller waits, and the caller's own
error wins and leaves the store usable."""

import pyarrow as pa
import pytest

from recon.errors import StoreError
from recon.store import Store


def rows(n: int) -> pa.Table:
    return pa.table({"run_id": ["r1"] * n, "id": [f"P{i}" for i in range(n)],
                     "nome": [f"CLIENTE {i}" for i in range(n)],
                     "documento": [None] * n})


def test_rows_inserted_aside_are_there_when_the_block_ends_and_the_block_used_the_store(
        tmp_path):
    with Store(tmp_path / "s.duckdb") as store:
        store.execute("CREATE TEMP TABLE scratch AS SELECT 1 AS x")
        with store.inserting_aside("pessoas", rows(50_000)):
            # The caller's own connection keeps working (and its temp tables with it).
            seen = store.query("SELECT x FROM scratch")
        assert seen == [{"x": 1}]
        counted = store.query("SELECT count(*) AS n, count(DISTINCT id) AS ids, "
                              "min(nome) AS first FROM pessoas WHERE run_id = 'r1'")
    assert counted == [{"n": 50_000, "ids": 50_000, "first": "CLIENTE 0"}]


def test_a_refused_insert_raises_where_the_caller_waits_and_names_the_store(tmp_path):
    path = tmp_path / "s.duckdb"
    bad = rows(10).append_column("no_such_column", pa.array(range(10)))
    done = []
    with Store(path) as store:
        with pytest.raises(StoreError, match=rf"the store {path} refused.*no_such_column"), \
                store.inserting_aside("pessoas", bad):
            done.append("block ran")
        assert done == ["block ran"]
        assert store.query("SELECT count(*) AS n FROM pessoas") == [{"n": 0}]


def test_the_blocks_error_comes_first_and_the_store_stays_usable(tmp_path):
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(ZeroDivisionError), store.inserting_aside("pessoas", rows(1_000)):
            _ = 1 / 0
        # The insert was waited for, not cut off: the rows are there, and the store answers.
        assert store.query("SELECT count(*) AS n FROM pessoas") == [{"n": 1_000}]
        store.insert_frame("pessoas", rows(1))
        assert store.query("SELECT count(*) AS n FROM pessoas") == [{"n": 1_001}]
