"""The benchmark's own tools: the snapshot comparison that proves a speed change kept every
decision, and the matching benchmark measuring the matcher in a process of its own."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks import engine_snapshot, matching_bench


def _snapshot(folder: Path, probability: float = 0.97) -> Path:
    folder.mkdir()
    pd.DataFrame({"line_key": ["a", "b"], "parcela_id": ["p1", None],
                  "decision": ["auto", "unmatched"]}).to_parquet(folder / "decisions.parquet")
    pd.DataFrame({"line_key": ["a"], "parcela_id": ["p1"], "valor_bruto_cents": [1000]}
                 ).to_parquet(folder / "allocations.parquet")
    pd.DataFrame({"line_key": ["a", "a"], "parcela_id": ["p1", "p2"],
                  "probability": [probability, 0.2]}).to_parquet(
        folder / "candidate_pairs.parquet")
    return folder


def test_compare_finds_no_difference_between_equal_snapshots(tmp_path: Path) -> None:
    assert engine_snapshot.compare(_snapshot(tmp_path / "a"), _snapshot(tmp_path / "b")) == []


def test_compare_names_the_table_column_and_values_that_differ(tmp_path: Path) -> None:
    found = engine_snapshot.compare(_snapshot(tmp_path / "a"),
                                    _snapshot(tmp_path / "b", probability=0.9700000001))
    assert len(found) == 1
    assert found[0].startswith("candidate_pairs.probability: 1 rows differ")
    assert "0.97" in found[0] and "0.9700000001" in found[0]


def test_benchmark_measures_the_matcher_in_its_own_process_and_scores_it(
        monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(matching_bench, "peak_rss_mb", lambda: 0.0, raising=False)
    row = matching_bench.measure(1_500, dense=False, seed=4, splink=False)
    # The peak is the child's (it imported pandas, DuckDB and the matcher), not zero.
    assert row.peak_mb > 50
    assert row.autos > 500 and row.wrong_autos == 0
    assert 0 < row.candidates_mean <= row.candidates_max <= 25
    assert 0.9 < row.precision <= 1.0
    assert {"stage", "assign", "store"} <= set(row.stages)


def test_the_batch_ceiling_counts_every_subset_of_the_size_that_adds_up():
    from itertools import combinations

    import numpy as np

    from benchmarks.batch_ceiling import count_fits

    assert count_fits(np.array([1, 2, 3, 4]), 2, 5) == 2  # {1, 4}, {2, 3}
    assert count_fits(np.array([500, 500, 500]), 2, 1000) == 3  # equal titles are distinct
    values = np.random.default_rng(5).integers(1, 60, 14)
    for size, target in ((3, 90), (4, 120), (5, 101)):
        brute = sum(sum(c) == target for c in combinations(values.tolist(), size))
        assert count_fits(values, size, target) == brute
    assert count_fits(np.array([7, 9]), 2, 3) == 0


def test_the_careful_ceiling_counts_only_parcelas_a_person_could_not_tell_apart():
    import numpy as np

    from benchmarks.careful_ceiling import rivals

    day = np.datetime64("2024-09-13")
    line = pd.DataFrame({"kind": ["collision"], "parcela_id": ["P1"], "counterpart": ["PEDRO ANDR"],
                         "amount": [9990], "day": [day.astype(np.int64)], "receber": [True],
                         "contact": ["C1"], "true_distance": [3]})
    parcelas = pd.DataFrame({
        "parcela_id": ["P1", "P2", "P3", "P4", "P5", "P6"],
        "contact_name": ["Pedro Andrade Costa", "Pedro Andrade Pinto", "Pedro Andrade Lima",
                         "Pedro Andrade Costa", "Pedro Alves", "Pedro Andrade Reis"],
        "contact_id": ["C1", "C2", "C3", "C1", "C4", "C5"],
        "open_cents": [9990, 9990, 9990, 9990, 9990, 12990],
        "kind": ["receber"] * 6,
        "due_on": [day - 3, day + 2, day + 10, day + 4, day, day]})
    # P2: another Pedro Andr... as close as P1; P3 too far; P4 the payer's own later one,
    # further than P1; P5 another name; P6 another amount.
    assert rivals(line, parcelas, slack=3).tolist() == [1]
    assert rivals(line, parcelas, slack=0).tolist() == [1]
    assert rivals(line.assign(counterpart="PEDRO"), parcelas, slack=3).tolist() == [-1]


def test_memory_bench_gaps_time_one_child_per_gap(capsys) -> None:
    from benchmarks import memory_bench

    assert memory_bench.main(["--gb", "0.02", "--gaps", "0", "0.1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 0")]
    assert [row.split(" | ")[0] for row in rows] == ["| 0 s", "| 0.1 s"]
    for row in rows:  # each child wrote the arrays twice and timed both
        first, again = (float(t) for t in row.split(" | ")[2].rstrip(" |").split(", "))
        assert first > 0 and again > 0


def test_the_workloads_retornos_list_each_batch_s_titles_adding_up_to_its_credit() -> None:
    from benchmarks.matching_data import generate, retorno_titles
    from matchers.normalize import document_key

    workload = generate(3_000, 3_000, seed=2, accounts=2, dense=True)
    titles = retorno_titles(workload)
    batches = workload.truth[workload.truth["kind"] == "boleto_batch"]
    assert len(titles) == len(batches) > 0
    lines = workload.lines.set_index("line_key")
    for file, rows in titles.groupby("file"):
        [line_key] = batches.loc[batches["parcela_id"].isin(
            "P" + rows["seu_numero"]), "line_key"].unique()  # one batch a file
        line = lines.loc[line_key]
        assert rows["net_cents"].sum() == line["amount_cents"]
        assert set(rows["credited_on"]) == {pd.Timestamp(line["posted_on"]).date()}
        assert set(rows["conta_financeira_id"]) == {line["conta_financeira_id"]}
    parcelas = workload.parcelas.set_index("parcela_id").loc["P" + titles["seu_numero"]]
    assert (titles["face_cents"].to_numpy() == parcelas["open_cents"].to_numpy()).all()
    assert (titles["paid_cents"] - titles["fee_cents"] == titles["net_cents"]).all()
    assert all(document_key(d) for d in titles["payer_document"])  # valid CPFs, digits only
