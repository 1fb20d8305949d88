"""The pure pieces of the name-scorer benchmark: the prefix-aware scorer and the metrics."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not installed

from benchmarks.matching_data import generate
from benchmarks.name_scorers import (
    accepted,
    anchored,
    decoy_pairs,
    is_twin,
    keep_short_suffix,
    lcp_neighbours,
    leftover_words,
    main,
    operating_point,
    prefix_ratio,
    prefix_score,
    prefix_scores,
    recall_at_fpr,
    roc_auc,
    shown_prefix,
    token_neighbours,
    true_pairs,
)
from matchers.normalize import clean_memo, clean_name
from recon.sources.keys import fold_text


def test_anchored_cuts_the_longer_to_the_shorter_either_way():
    assert anchored("JOAO CARLO", "JOAO CARLOS SILVA") == ("JOAO CARLO", "JOAO CARLO")
    assert anchored("JOAO CARLOS SILVA", "JOAO CARLO") == ("JOAO CARLO", "JOAO CARLO")
    assert anchored("JOAO", "JOAO CARLOS SILVA") is None  # too short to say anything
    assert anchored("ANA LIMA", "ANA LIMA") is None  # as long: plain ratio's business
    assert anchored("JOAO", "JOAO CARLOS", min_length=4) == ("JOAO", "JOAO")


def test_prefix_score_reads_a_truncated_memo_as_the_start_of_the_name():
    memo = clean_memo("PIX TRANSF  JOAO CARLO12/03")
    assert memo == "JOAO CARLO"
    true = prefix_score(memo, clean_name("João Carlos Silva"))
    look_alike = prefix_score(memo, clean_name("Joana Carla"))
    assert true == 100
    assert look_alike < 90
    assert prefix_score(memo, clean_name("João Camargo Silva")) < 90  # same first name
    # WRatio alone gives the truncation far less, and the look-alike nearly as much
    from rapidfuzz import fuzz

    assert fuzz.WRatio(memo, "JOAO CARLOS SILVA") < 95
    assert prefix_ratio(memo, "JOAO CARLOS SILVA") == 100


def test_prefix_score_keeps_word_order_and_whole_names_apart():
    exact = prefix_score("ANA LIMA SOUZA", "ANA LIMA SOUZA")
    permuted = prefix_score("ANA LIMA SOUZA", "ANA SOUZA LIMA")
    assert exact == 100
    assert 90 <= permuted < exact  # WRatio scales token_set by 0.95
    # a memo that still carries a suffix reads the contact as its start
    assert prefix_score("MERCADO BARROS MARQUES ME", "MERCADO BARROS MARQUES") == 100
    # a name inside another is not its start: partial_ratio would say 100
    assert prefix_score("ANA RAMOS ARAUJO", "LUANA RAMOS ARAUJO") < 97


def test_prefix_scores_is_prefix_score_over_lists():
    memos = ["JOAO CARLO", "ANA LIMA SOUZA", "EDUARDO", "", "TATIANE TE", "D"]
    names = ["JOAO CARLOS SILVA", "ANA SOUZA LIMA", "EDUARDO MENDES LIMA", "ANA", "TATIANE SILVA",
             "DANIEL ROCHA"]
    batch = prefix_scores(memos, names, workers=2)
    assert batch == pytest.approx([prefix_score(m, n) for m, n in zip(memos, names)], abs=1e-3)
    assert batch[3] == 0 and batch[5] <= 60  # empty memo; one letter is no prefix (WRatio: 60)


def test_roc_auc_counts_ties_half():
    assert roc_auc([90, 100], [10, 20, 30]) == 1.0
    assert roc_auc([10], [20, 30]) == 0.0
    assert roc_auc([50, 50], [50, 50, 50]) == 0.5
    assert roc_auc([100, 80], [80, 10]) == pytest.approx((1 + 1 + 0.5 + 1) / 4)
    assert np.isnan(roc_auc([], [1.0]))


def test_operating_point_splits_ties_at_the_cut():
    decoys = np.array([100.0] * 2 + [50.0] * 998)  # 0.1 % of 1000 is one decoy: half of two
    cut, q = operating_point(decoys, 0.001)
    assert (cut, q) == (100.0, 0.5)
    assert accepted(decoys, (cut, q)) == pytest.approx(0.001)
    assert recall_at_fpr([100.0] * 10, decoys, 0.001) == 0.5  # tied with them: no better
    assert recall_at_fpr([100.0] * 9 + [40.0], np.array([100.0] + [50.0] * 999), 0.001) == 0.9
    assert recall_at_fpr([99.0, 60.0], np.array([100.0] * 5 + [50.0] * 995), 0.001) == 0.0
    assert recall_at_fpr([1.0], np.array([], float)) == 1.0


def test_shown_prefix_and_twins():
    shown = shown_prefix("PIX QRS TATIANE TE23/10", "Tatiane Teixeira Gomes")
    assert shown == "TATIANE TE"
    assert shown_prefix("Transfe Pix Rem: Tatiane Teixeira Gomes 23/10",
                        "Tatiane Teixeira Gomes") is None  # printed whole
    assert is_twin(shown, fold_text("Tatiane Teles Souza"))
    assert not is_twin(shown, fold_text("Tatiane Tavares Souza"))
    assert not is_twin(None, fold_text("Tatiane Teixeira Gomes"))


def test_leftover_words_allows_a_cut_last_word():
    assert leftover_words("TATIANE TE", "TATIANE TEIXEIRA GOMES") == []
    assert leftover_words("SISPAG CLINICA MARQUES AR", "CLINICA MARQUES ARAUJO") == ["SISPAG"]
    assert leftover_words("JOSE ROCHA ITAU UNIBANCO", "JOSE ROCHA") == ["ITAU", "UNIBANCO"]


def test_keep_short_suffix_puts_back_a_cut_surname():
    memo = "PIX QRS EDUARDO ME29/02"
    assert keep_short_suffix(memo, clean_memo(memo)) == "EDUARDO ME"
    assert keep_short_suffix(memo, "EDUARDO") == "EDUARDO ME"
    assert keep_short_suffix("TED 237.1234ANA DUARTE SA", "ANA DUARTE") == "ANA DUARTE SA"
    assert keep_short_suffix("PIX QRS JOAO MENDES SA", "JOAO MENDES SA") == "JOAO MENDES SA"
    assert keep_short_suffix("PIX TRANSF  JOAO CARLO12/03", "JOAO CARLO") == "JOAO CARLO"
    assert keep_short_suffix("DOC D 237.1234", "") == ""


def test_neighbours_by_prefix_and_by_words():
    names = np.array(sorted(["ANA LIMA SOUZA", "ANA LIMA SILVA", "ANA LOPES SILVA",
                             "BRUNO LIMA SOUZA", "ANA SOUZA LIMA"]))
    assert lcp_neighbours("ANA LIMA SOUZA", names)[0] == "ANA LIMA SILVA"
    index = {}
    for n in names:
        for token in set(n.split()):
            index.setdefault(token, []).append(n)
    assert token_neighbours("ANA LIMA SOUZA", index, np.random.default_rng(0))[0] == \
        "ANA SOUZA LIMA"


@pytest.fixture(scope="module")
def small():
    workload = generate(3_000, 3_000, seed=3, accounts=4, dense=False)
    pairs = true_pairs(workload)
    decoys, has_twin = decoy_pairs(pairs, workload.parcelas, np.random.default_rng(3), 5, 5)
    return pairs, decoys, has_twin


def test_decoys_are_other_names_of_the_same_direction_and_never_twins(small):
    pairs, decoys, has_twin = small
    assert set(pairs["bank_code"]) == {"341", "237", "001", "260"}
    assert (pairs["memo_name"] != "").all()
    source = pairs.iloc[decoys["pair"]].reset_index(drop=True)
    assert (decoys["name"] != source["name"]).all()
    assert not any(is_twin(s, fold_text(n))
                   for s, n in zip(source["shown"], decoys["contact_name"]))
    assert set(decoys["decoy_type"]) == {"random", "prefix", "tokens"}
    assert decoys.groupby("pair").size().max() <= 10
    assert has_twin.shape == (len(pairs),)
    assert not has_twin[(pairs["bank_code"] != "341").to_numpy()].any()  # whole names shown


def test_main_prints_every_table(capsys):
    main(["--parcelas", "2000", "--speed-pairs", "2000", "--workers", "1"])
    out = capsys.readouterr().out
    for title in ("All banks", "Per bank", "descricao", "Memo cleaning", "Speed"):
        assert title in out
    assert "prefix ∨ WRatio" in out
