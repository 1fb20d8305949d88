"""The pairwise scorer of the splink baseline benchmark (pure: splink is not needed)."""

import importlib
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not installed

from benchmarks.splink_baseline import pair_metrics

# Two clean pairs, a late one, a boleto batch (one line, two parcelas), a bank-only line and an
# unpaid parcela: the last two have one id missing and are no pair.
TRUTH = pd.DataFrame(
    [("L1", "P1", "clean"), ("L2", "P2", "clean"), ("L3", "P3", "late"),
     ("L4", "P4", "boleto_batch"), ("L4", "P5", "boleto_batch"), ("L5", None, "bank_only"),
     (None, "P6", "unpaid")],
    columns=["line_key", "parcela_id", "kind"])


def predicted(*pairs) -> pd.DataFrame:
    return pd.DataFrame(list(pairs), columns=["line_key", "parcela_id"])


def test_scores_against_every_true_pair():
    # right, wrong parcela, right (one of the batch's two), a bank-only line given a parcela
    got = pair_metrics(predicted(("L1", "P1"), ("L2", "P3"), ("L4", "P4"), ("L5", "P6")), TRUTH)
    assert got == {"precision": 0.5, "recall": 0.4, "f1": pytest.approx(4 / 9),
                   "tp": 2, "predicted": 4, "true": 5}


def test_kinds_keep_only_those_lines_and_true_pairs():
    pairs = predicted(("L1", "P1"), ("L2", "P3"), ("L3", "P3"), ("L5", "P6"))
    assert pair_metrics(pairs, TRUTH, ["clean"]) == {
        "precision": 0.5, "recall": 0.5, "f1": 0.5, "tp": 1, "predicted": 2, "true": 2}
    assert pair_metrics(pairs, TRUTH, ["late", "clean"])["tp"] == 2


def test_a_repeated_pair_counts_once():
    got = pair_metrics(predicted(("L1", "P1"), ("L1", "P1")), TRUTH)
    assert (got["tp"], got["predicted"], got["precision"]) == (1, 1, 1.0)


def test_no_predictions_scores_zero_recall_and_no_precision():
    got = pair_metrics(predicted(), TRUTH)
    assert math.isnan(got["precision"])
    assert (got["recall"], got["f1"], got["tp"], got["true"]) == (0.0, 0.0, 0, 5)


def test_the_module_imports_without_splink(monkeypatch):
    monkeypatch.setitem(sys.modules, "splink", None)  # `import splink` now raises ImportError
    monkeypatch.delitem(sys.modules, "benchmarks.splink_baseline")
    module = importlib.import_module("benchmarks.splink_baseline")
    assert module.pair_metrics(predicted(("L1", "P1")), TRUTH)["tp"] == 1
