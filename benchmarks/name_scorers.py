"""Which rapidfuzz scorer tells a bank memo's counterpart from look-alike names.

Generates a labelled workload (benchmarks/matching_data.py) and takes every line of the 1:1
kinds whose memo names someone (clean, collision, weekly, late, discount, partial) with the
parcela it pays: the true pairs. For each, decoys: other parcelas of the same direction (receber
or pagar) with a contact, `--random` drawn at random and `--hard` among the names most like the
true contact's (the longest common prefix, then the most words in common: same first name and
surname, the same surnames in another order). A decoy that agrees with the true name in every
character the memo shows (Itaú keeps 10) is a "twin": no scorer can tell it apart, so twins are
counted, never drawn. Memos go through `matchers.normalize.clean_memo`, names through
`clean_name`, and every scorer sees the same two strings.

Per scorer: ROC AUC of true pairs against decoys, the recall of true pairs at the operating
point that lets 0.1 % of decoys through (ties split), the shares of true pairs and of decoys
scoring >= 90; per bank; with the parcela's `descricao` as a second name to compare; with memos
cleaned three ways (clean_memo, clean_memo keeping a cut surname it takes for a company suffix,
rapidfuzz's default_process alone); and the speed of `rapidfuzz.process.cpdist`. Run:

    .venv/bin/python benchmarks/name_scorers.py [--parcelas 20000] [--lines N] [--seed 1]
        [--random 5] [--hard 5] [--speed-pairs 200000] [--workers 2]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from os.path import commonprefix
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process, utils
from rapidfuzz.distance import JaroWinkler

if __package__ in (None, ""):  # run as a script: make `benchmarks.` importable like in tests
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.matching_data import generate
from matchers.normalize import clean_memo, clean_name
from recon.sources.keys import fold_text

SCORED_KINDS = ("clean", "collision", "weekly", "late", "discount", "partial")
BANK_NAMES = {"341": "Itaú", "237": "Bradesco", "001": "BB", "260": "Nubank"}
TARGET_FPR = 0.001  # decoys let through at the operating threshold
HIGH = 90  # a usual "same name" threshold: the share of decoys above it is the risk
PREFIX_MIN_LENGTH = 6  # a memo name shorter than this is not compared as a prefix
ENGINE_PARTIAL_MIN = 5  # matchers.scoring.MIN_PARTIAL_LENGTH at 19bf6e6
PREFIX_WINDOW = 60  # sorted neighbours searched for the longest common prefixes

Batch = Callable[[list[str], list[str], int], np.ndarray]  # memo names, names, workers -> 0..100


# -- the prefix-aware scorer ------------------------------------------------------------------

def anchored(a: str, b: str, min_length: int = PREFIX_MIN_LENGTH) -> tuple[str, str] | None:
    """The shorter string and the start of the longer one cut to its length, or None when the
    shorter has fewer than `min_length` characters or both are as long.

    Banks cut names at a fixed width (Itaú PIX at 10 characters, mid-word: 'TATIANE TE' for
    'TATIANE TEIXEIRA GOMES'), so the shorter text is read as the start of the longer.
    """
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) < min_length or len(short) == len(long):
        return None
    return short, long[: len(short)]


def prefix_ratio(a: str, b: str, min_length: int = PREFIX_MIN_LENGTH) -> float:
    """ratio of the shorter string with the start of the longer; 0 where `anchored` is None."""
    pair = anchored(a, b, min_length)
    return fuzz.ratio(*pair) if pair else 0.0


def prefix_score(memo_name: str, name: str, base=fuzz.WRatio,
                 min_length: int = PREFIX_MIN_LENGTH) -> float:
    """max(base(memo, name), prefix_ratio(memo, name)): 0..100. With base=WRatio, the scorer
    this benchmark recommends."""
    return max(base(memo_name, name), prefix_ratio(memo_name, name, min_length))


def prefix_scores(memo_names: list[str], names: list[str], workers: int = 1, base=fuzz.WRatio,
                  min_length: int = PREFIX_MIN_LENGTH) -> np.ndarray:
    """prefix_score over aligned lists, in rapidfuzz's C loops: both strings cut to the shorter's
    length are `anchored`'s pair."""
    count = len(names)
    memo_lengths = np.fromiter(map(len, memo_names), np.int64, count)
    name_lengths = np.fromiter(map(len, names), np.int64, count)
    shorter = np.minimum(memo_lengths, name_lengths)
    used = (shorter >= min_length) & (memo_lengths != name_lengths)
    cut = shorter.tolist()
    prefix = _cpdist([m[:k] for m, k in zip(memo_names, cut)],
                     [n[:k] for n, k in zip(names, cut)], fuzz.ratio, workers)
    return np.maximum(_cpdist(memo_names, names, base, workers), np.where(used, prefix, 0.0))


def engine_scores(memo_names: list[str], names: list[str], workers: int = 1) -> np.ndarray:
    """How matchers.scoring.name_score compared a memo with one name at commit 19bf6e6
    (token_set_ratio, or partial_ratio where both have 5+ characters), over lists."""
    long_enough = np.fromiter((min(len(m), len(n)) >= ENGINE_PARTIAL_MIN
                               for m, n in zip(memo_names, names)), bool, len(names))
    partial = _cpdist(memo_names, names, fuzz.partial_ratio, workers)
    token_set = _cpdist(memo_names, names, fuzz.token_set_ratio, workers)
    return np.where(long_enough, np.maximum(token_set, partial), token_set)


def _cpdist(a: list[str], b: list[str], scorer, workers: int, scale: float = 1.0) -> np.ndarray:
    scores = process.cpdist(a, b, scorer=scorer, workers=workers, dtype=np.float32)
    return scores.astype(np.float64) * scale


def _plain(scorer, scale: float = 1.0) -> Batch:
    return lambda a, b, workers: _cpdist(a, b, scorer, workers, scale)


def _prefix(base) -> Batch:
    return lambda a, b, workers: prefix_scores(a, b, workers, base)


SCORERS: dict[str, Batch] = {
    "ratio": _plain(fuzz.ratio),
    "partial_ratio": _plain(fuzz.partial_ratio),
    "token_set_ratio": _plain(fuzz.token_set_ratio),
    "token_sort_ratio": _plain(fuzz.token_sort_ratio),
    "WRatio": _plain(fuzz.WRatio),
    "partial_token_set_ratio": _plain(fuzz.partial_token_set_ratio),
    "JaroWinkler x100": _plain(JaroWinkler.normalized_similarity, 100.0),
    "prefix ∨ token_set_ratio": _prefix(fuzz.token_set_ratio),
    "prefix ∨ WRatio": _prefix(fuzz.WRatio),
    "HEAD name_score (tset ∨ partial)": engine_scores,
}


# -- metrics ------------------------------------------------------------------------------------

def roc_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """P(a true pair outscores a decoy), ties counting half (Mann-Whitney U / n1 n2)."""
    positives, negatives = np.asarray(positives, float), np.asarray(negatives, float)
    if not len(positives) or not len(negatives):
        return float("nan")
    ranks = pd.Series(np.concatenate([positives, negatives])).rank(method="average").to_numpy()
    n1 = len(positives)
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * len(negatives)))


def operating_point(negatives: np.ndarray, fpr: float = TARGET_FPR) -> tuple[float, float]:
    """(cut, q): accept a pair scoring above `cut`, and a share q of those scoring exactly `cut`,
    so that exactly `fpr` of the decoys get through: the ROC curve's point at that rate, ties
    split evenly (a score cannot tell tied pairs apart, so no threshold does better)."""
    negatives = np.asarray(negatives, float)
    allowed = fpr * len(negatives)
    if allowed >= len(negatives):
        return -np.inf, 1.0
    cut = float(np.sort(negatives)[::-1][int(np.floor(allowed))])
    above, tied = (negatives > cut).sum(), (negatives == cut).sum()
    return cut, float((allowed - above) / tied)


def accepted(scores: np.ndarray, point: tuple[float, float]) -> float:
    """Share of `scores` accepted at an operating point: recall on true pairs, FPR on decoys."""
    scores = np.asarray(scores, float)
    if not len(scores):
        return float("nan")
    cut, q = point
    return float((scores > cut).mean() + q * (scores == cut).mean())


def recall_at_fpr(positives: np.ndarray, negatives: np.ndarray,
                  fpr: float = TARGET_FPR) -> float:
    return accepted(positives, operating_point(negatives, fpr))


def share_at_least(scores: np.ndarray, level: float = HIGH) -> float:
    scores = np.asarray(scores, float)
    return float((scores >= level).mean()) if len(scores) else float("nan")


# -- memos ------------------------------------------------------------------------------------

def shown_prefix(memo: str, name: str) -> str | None:
    """The start of the name (folded) that the memo prints when it cuts the name short, None
    when the whole name is there: 'TATIANE TE' for 'PIX QRS TATIANE TE23/10'."""
    memo, name = fold_text(memo), fold_text(name)
    k = len(name)
    while k and name[:k] not in memo:
        k -= 1
    return None if k == len(name) else name[:k]


def is_twin(shown: str | None, other_folded: str) -> bool:
    """Another name (folded) reads the same in every character the memo shows (`shown_prefix`
    of the true name): no scorer can tell them apart."""
    return shown is not None and other_folded.startswith(shown)


def leftover_words(memo_name: str, name: str) -> list[str]:
    """Words of the cleaned memo that are not in the name (the last may be a cut word):
    what clean_memo failed to remove, on a true pair."""
    words, known = memo_name.split(), set(name.split())
    return [w for i, w in enumerate(words) if w not in known
            and not (i == len(words) - 1 and any(k.startswith(w) for k in known))]


_SHORT_SUFFIX = r" (ME|SA|EPP|CIA)(?=\d|\s*$)"


def keep_short_suffix(memo: str, memo_name: str) -> str:
    """clean_memo's name with a last 'ME', 'SA', 'EPP' or 'CIA' put back when clean_memo dropped
    it as a company suffix where the memo ends or glues on a date. Where Itaú cuts names that is
    the start of a surname: 'PIX QRS EDUARDO ME29/02' is EDUARDO ME[NDES], and 'EDUARDO' alone
    reads as a perfect prefix of every Eduardo."""
    found = re.search(re.escape(memo_name) + _SHORT_SUFFIX, fold_text(memo))
    return f"{memo_name} {found.group(1)}" if memo_name and found else memo_name


def plain_form(text: str | None) -> str:
    """A memo or name through rapidfuzz's own default_process only: no clean_memo."""
    return utils.default_process(fold_text(text or ""))


# -- pairs ------------------------------------------------------------------------------------

def true_pairs(workload) -> pd.DataFrame:
    """One row per (line, parcela) of SCORED_KINDS whose memo has a name left after cleaning."""
    truth = workload.truth[workload.truth["kind"].isin(SCORED_KINDS)]
    lines = workload.lines[["line_key", "memo", "bank_code"]]
    parcelas = workload.parcelas[["parcela_id", "kind", "contact_id", "contact_name", "descricao"]]
    pairs = (truth[["line_key", "parcela_id", "kind"]].rename(columns={"kind": "truth_kind"})
             .merge(lines, on="line_key").merge(parcelas, on="parcela_id"))
    pairs = pairs[pairs["contact_name"].notna()].copy()
    pairs["memo_name"] = pairs["memo"].map(clean_memo)
    pairs["name"] = pairs["contact_name"].map(clean_name)
    pairs["descricao_name"] = pairs["descricao"].map(clean_name)
    pairs["shown"] = pd.Series([shown_prefix(m, n) for m, n in zip(pairs["memo"],
                                                                    pairs["contact_name"])],
                               index=pairs.index, dtype=object)
    return pairs[pairs["memo_name"] != ""].reset_index(drop=True)


def lcp_neighbours(name: str, sorted_names: np.ndarray, window: int = PREFIX_WINDOW) -> list[str]:
    """Names near `name` in sorted order, longest common prefix first (ties in sorted order)."""
    at = int(np.searchsorted(sorted_names, name))
    near = [n for n in sorted_names[max(0, at - window): at + window] if n != name]
    return sorted(near, key=lambda n: -len(commonprefix([name, n])))


def token_neighbours(name: str, index: dict[str, list[str]], rng) -> list[str]:
    """Names sharing words with `name`, most words first, ties in random order."""
    shared = Counter(n for token in sorted(set(name.split())) for n in index.get(token, ())
                     if n != name)
    names = list(shared)
    rng.shuffle(names)
    return sorted(names, key=lambda n: -shared[n])


def decoy_pairs(pairs: pd.DataFrame, parcelas: pd.DataFrame, rng, n_random: int,
                n_hard: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Decoys per true pair (column `pair` is its row in `pairs`), tagged random, prefix (the
    longest common prefix with the true name: half the hard ones, rounded up) or tokens (the
    most words in common); twins never drawn. Also, per true pair, whether its direction's
    ledger holds a twin (among the PREFIX_WINDOW names either side in sorted order)."""
    pool = parcelas[parcelas["contact_name"].notna()][
        ["parcela_id", "kind", "contact_name", "descricao"]].copy()
    pool["name"] = pool["contact_name"].map(clean_name)
    by_kind = {}
    for kind, group in pool.groupby("kind"):
        group = group.reset_index(drop=True)
        by_name = group.groupby("name").indices
        index = defaultdict(list)
        for n in by_name:
            for token in sorted(set(n.split())):
                index[token].append(n)
        by_kind[kind] = (group, by_name, np.array(sorted(by_name)), index,
                         {n: fold_text(d) for n, d in zip(group["name"], group["contact_name"])})
    n_prefix, rows = (n_hard + 1) // 2, []
    has_twin = np.zeros(len(pairs), bool)
    for i, pair in enumerate(pairs.itertuples(index=False)):
        group, by_name, sorted_names, index, folded = by_kind[pair.kind]

        def twin(n: str, shown=pair.shown, folded=folded) -> bool:
            return is_twin(shown, folded[n])

        near = lcp_neighbours(pair.name, sorted_names)
        has_twin[i] = any(twin(n) for n in near)
        chosen: dict[str, str] = {}
        for n in near:
            if len(chosen) == n_prefix:
                break
            if not twin(n):
                chosen[n] = "prefix"
        for n in token_neighbours(pair.name, index, rng):
            if len(chosen) == n_hard:
                break
            if n not in chosen and not twin(n):
                chosen[n] = "tokens"
        drawn = 0
        for n in sorted_names[rng.permutation(len(sorted_names))[: 4 * n_random + 8]]:
            if drawn == n_random:
                break
            if n != pair.name and n not in chosen and not twin(n):
                chosen[n], drawn = "random", drawn + 1
        for n, decoy_type in chosen.items():
            row = rng.choice(by_name[n])
            rows.append((i, decoy_type, group.at[row, "contact_name"], group.at[row, "descricao"]))
    decoys = pd.DataFrame(rows, columns=["pair", "decoy_type", "contact_name", "descricao"])
    source = pairs.iloc[decoys["pair"].to_numpy()].reset_index(drop=True)
    for column in ("memo", "bank_code", "memo_name", "truth_kind"):
        decoys[column] = source[column].to_numpy()
    decoys["name"] = decoys["contact_name"].map(clean_name)
    decoys["descricao_name"] = decoys["descricao"].map(clean_name)
    return decoys, has_twin


# -- measuring ------------------------------------------------------------------------------

Scores = dict[str, tuple[np.ndarray, np.ndarray]]  # scorer -> (true pair scores, decoy scores)


def score_all(pairs: pd.DataFrame, decoys: pd.DataFrame, workers: int, memo: str = "memo_name",
              against: tuple[str, ...] = ("name",)) -> Scores:
    """Per scorer, (true scores, decoy scores): the best over the `against` columns."""
    out = {}
    for label, batch in SCORERS.items():
        sides = []
        for frame in (pairs, decoys):
            memos = frame[memo].tolist()
            sides.append(np.max([batch(memos, frame[c].tolist(), workers) for c in against], 0))
        out[label] = (sides[0], sides[1])
    return out


def time_scorers(memos: list[str], names: list[str], workers: int,
                 repeats: int = 3) -> dict[str, float]:
    """Pairs per second of each scorer over the aligned lists, best of `repeats`."""
    speeds = {}
    for label, batch in SCORERS.items():
        best = np.inf
        for _ in range(repeats):
            began = time.perf_counter()
            batch(memos, names, workers)
            best = min(best, time.perf_counter() - began)
        speeds[label] = len(memos) / best
    return speeds


def _pct(x: float) -> str:
    return "n/a" if np.isnan(x) else f"{100 * x:.1f}%"


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned first column, the others right-aligned, widths to fit."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(" ".join(c.ljust(w) if i == 0 else c.rjust(w)
                              for i, (c, w) in enumerate(zip(r, widths)))
                     for r in [header, *rows])


def report(pairs: pd.DataFrame, decoys: pd.DataFrame, has_twin: np.ndarray, args) -> None:
    kinds = decoys["decoy_type"].to_numpy()
    hard = kinds != "random"
    banks = [b for b in BANK_NAMES if (pairs["bank_code"] == b).any()]
    in_bank = {b: ((pairs["bank_code"] == b).to_numpy(), (decoys["bank_code"] == b).to_numpy())
               for b in banks}
    print(f"\n{len(pairs):,} true pairs; {len(decoys):,} decoys: {(~hard).sum():,} random, "
          f"{(kinds == 'prefix').sum():,} longest common prefix, "
          f"{(kinds == 'tokens').sum():,} most words in common")
    print("per bank: true pairs / with a twin in the ledger (left out, no scorer can tell): "
          + ", ".join(f"{BANK_NAMES[b]} {tb.sum():,} / {_pct(has_twin[tb].mean())}"
                      for b, (tb, _) in in_bank.items()))
    leftovers = Counter((b, w) for b, m, n in zip(pairs["bank_code"], pairs["memo_name"],
                                                  pairs["name"]) for w in leftover_words(m, n))
    print("words clean_memo leaves on true pairs that are not in the name: "
          + (", ".join(f"{BANK_NAMES[b]} {w!r} x{c}" for (b, w), c in leftovers.most_common(8))
             or "none"))

    scores = score_all(pairs, decoys, args.workers)
    fpr = f"{100 * TARGET_FPR:g}%"
    print(f"\n== All banks. AUC: true pairs vs decoys (all, random, by prefix, by words). Recall "
          f"at {fpr} FPR (ties split): vs all decoys and vs hard ones; cut = score there ==")
    rows = []
    for label, (t, f) in scores.items():
        point = operating_point(f)
        rows.append([label, f"{roc_auc(t, f):.4f}"]
                    + [f"{roc_auc(t, f[kinds == k]):.4f}" for k in ("random", "prefix", "tokens")]
                    + [_pct(accepted(t, point)), f"{point[0]:.1f}",
                       _pct(recall_at_fpr(t, f[hard])),
                       _pct(share_at_least(t))]
                    + [_pct(share_at_least(f[kinds == k])) for k in ("random", "prefix", "tokens")])
    print(_table(["scorer", "AUC", "rand", "prefix", "words", "recall", "cut", "rec hard",
                  f"true>={HIGH}", f"rand>={HIGH}", f"pref>={HIGH}", f"words>={HIGH}"], rows))

    print(f"\n== Per bank at the all-bank {fpr} operating point: AUC / recall / decoys through ==")
    rows = []
    for label, (t, f) in scores.items():
        point = operating_point(f)
        rows.append([label] + [f"{roc_auc(t[tb], f[fb]):.4f} {_pct(accepted(t[tb], point)):>6} "
                               f"{_pct(accepted(f[fb], point)):>5}" for tb, fb in in_bank.values()])
    print(_table(["scorer"] + [BANK_NAMES[b] for b in banks], rows))

    print(f"\n== Per bank: true pairs >= {HIGH} / hard decoys >= {HIGH} ==")
    rows = [[label] + [f"{_pct(share_at_least(t[tb])):>6} {_pct(share_at_least(f[fb & hard])):>5}"
                       for tb, fb in in_bank.values()] for label, (t, f) in scores.items()]
    print(_table(["scorer"] + [BANK_NAMES[b] for b in banks], rows))

    with_desc = score_all(pairs, decoys, args.workers, against=("name", "descricao_name"))
    desc_only = score_all(pairs, decoys, args.workers, against=("descricao_name",))
    print(f"\n== Does the parcela's descricao add anything? AUC / recall at {fpr} FPR ==")
    rows = [[label] + [f"{roc_auc(*s[label]):.4f} {_pct(recall_at_fpr(*s[label])):>6}"
                       for s in (scores, with_desc, desc_only)] for label in SCORERS]
    print(_table(["scorer", "contact name", "max(name, descricao)", "descricao alone"], rows))

    kept = score_all(*(frame.assign(memo_name=[keep_short_suffix(m, n) for m, n in
                                               zip(frame["memo"], frame["memo_name"])])
                       for frame in (pairs, decoys)), args.workers)
    plain = score_all(*(frame.assign(memo_name=frame["memo"].map(plain_form),
                                     name=frame["contact_name"].map(plain_form))
                        for frame in (pairs, decoys)), args.workers)
    itau = in_bank.get("341")
    print(f"\n== Memo cleaning: AUC / recall at {fpr} FPR (/ Itaú AUC) with clean_memo as is, "
          "with a last ME/SA/EPP/CIA kept (keep_short_suffix), and with no clean_memo/clean_name "
          "but rapidfuzz's default_process ==")
    rows = []
    for label in SCORERS:
        cells = []
        for s in (scores, kept, plain):
            cell = f"{roc_auc(*s[label]):.4f} {_pct(recall_at_fpr(*s[label])):>6}"
            if itau is not None and s is not plain:
                cell += f" / {roc_auc(s[label][0][itau[0]], s[label][1][itau[1]]):.4f}"
            cells.append(cell)
        rows.append([label, *cells])
    print(_table(["scorer", "clean_memo", "keep_short_suffix", "default_process"], rows))

    memos = pd.concat([pairs["memo_name"], decoys["memo_name"]]).to_numpy(object)
    names = pd.concat([pairs["name"], decoys["name"]]).to_numpy(object)
    pick = np.random.default_rng(args.seed).integers(0, len(memos), args.speed_pairs)
    speeds = time_scorers(memos[pick].tolist(), names[pick].tolist(), args.workers)
    print(f"\n== Speed: process.cpdist, workers={args.workers}, {args.speed_pairs:,} cleaned "
          "pairs, best of 3 ==")
    print(_table(["scorer", "M pairs/s"], [[k, f"{v / 1e6:.2f}"] for k, v in speeds.items()]))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Which name scorer separates counterparts.")
    parser.add_argument("--parcelas", type=int, default=20_000)
    parser.add_argument("--lines", type=int, default=None, help="default: as many as parcelas")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=4, help="account i is at bank i %% 4")
    parser.add_argument("--random", type=int, default=5, help="random decoys per true pair")
    parser.add_argument("--hard", type=int, default=5, help="look-alike decoys per true pair")
    parser.add_argument("--speed-pairs", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    began = time.perf_counter()
    workload = generate(args.parcelas, args.lines or args.parcelas, seed=args.seed,
                        accounts=args.accounts, dense=False)
    pairs = true_pairs(workload)
    decoys, has_twin = decoy_pairs(pairs, workload.parcelas, np.random.default_rng(args.seed),
                                   args.random, args.hard)
    print(f"{args.parcelas:,} parcelas, seed {args.seed}: pairs built in "
          f"{time.perf_counter() - began:.1f} s")
    report(pairs, decoys, has_twin, args)


if __name__ == "__main__":
    main()
