"""Many-to-one matching: one bank credit that pays several open contas-a-receber at once.

Two shapes are common in Brazilian statements (shared/notes/statements.md §6.2, §6.3):

* boleto batches: the bank credits a day's liquidated boletos as one line ("CRED COBRANCA
  SIMPLES", "LIQUIDO DE COBRANCA", "COB COMPE"), each title net of the account's tariff:
  line = sum(open - tariff);
* card payouts: the acquirer pays a brand and product's sales as one line, each net of the
  MDR: line = sum(open - round(open * mdr)), every title rounded on its own.

Fees are learned from the lines themselves unless `KnownFees` (confirmed history) has them:
a batch line votes for every fee under which some subset of its candidates adds up to it.
The true fee recurs across an account's lines (tariff) or an acquirer and product's (MDR);
fees that fit by chance scatter. An MDR's per-title rounding (half up, down, up) is learned
the same way; until one rule explains the lines, a title's fee may round either way.

A line's pool: the residual receber parcelas due in the kind's lag window, closest first,
at most max_pool. Parcelas whose text names another channel (another acquirer, the other
product or brand, boleto for a card) are never candidates. Those naming the line's channel
are searched alone; the whole pool only when fewer than two do.

The search is an exact bounded subset-sum by meet-in-the-middle: the subsets of each half
of a pool that stay under the amount are enumerated sorted (amounts are positive, so the
rest can never be completed), and each left sum looks its complement up among the right
ones. Pools of one size are solved together as the rows of one matrix.

A subset is `unique` when no other subset fits, counting up to two titles more than
max_titles (a batch just over the bound would otherwise leave a chance fit as the only
one found), and when the pool was not cut at max_pool. Otherwise the alternatives are
counted and the engine sends the line to review. The search runs in rounds: the unique,
conflict-free proposals are given out, and lines that had one of their parcelas among their
candidates are searched again without them; pools too large for a cheap first round are
searched harder in the next. Lines the search cannot settle are reported in `skipped`.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
import pandas as pd

from recon.money import format_brl

log = logging.getLogger(__name__)

BOLETO, CARD = "boleto_batch", "card_payout"
CREDITO, DEBITO = "credito", "debito"
PRODUCTS = (CREDITO, DEBITO)
ACQUIRERS = ("Cielo", "Rede", "Stone", "Getnet", "PagSeguro", "Mercado Pago")
BRANDS = ("VISA", "MASTER", "ELO", "AMEX", "HIPER", "DINERS")

LEARN_ITEMS = 12  # a line votes with its 12 closest candidates: 2^12 subsets, all sizes
LEARN_LINES = 200  # lines voting per account or acquirer and product
MAX_ROUNDS = 4  # searches, each without the parcelas given out by the previous ones
MAX_FITS = 1_000  # beyond this many fitting subsets a proposal would help no reviewer
# A subset is unique only if nothing else fits with up to max_titles + 2 titles: a batch
# just over the bound (9 boletos in one credit) would otherwise leave a chance fit of 8 or
# fewer as the only one found. Larger subsets are counted, never proposed.
UNIQUENESS_MARGIN = 2
MAX_HALF_SUBSETS = 1 << 11  # subsets of half a pool under the amount; past it, hopeless
# Round by round the cap grows: a cheap first pass settles most lines and gives their
# parcelas out, so the pools still too large are smaller when searched harder.
HALF_CAPS = (1 << 10, MAX_HALF_SUBSETS)
MDR_NEIGHBOURS = 2  # bp either side of an MDR peak: rounding lets one payout fit them too
PEAK_DOMINANCE = 2.0  # a learned fee outweighs every fee outside its neighbourhood this much
VOTE_SHARE = 0.2  # ...and is agreed on by this share of the lines that voted
_DENSE_TITLES = 8  # titles of a half enumerated before pruning pays for its sorting
_CHUNK_ROWS = 1 << 10  # pools solved per matrix when a half has 2^8 subsets; fewer above,
# down to 2^6 rows (rows are padded to their largest; MAX_HALF_SUBSETS bounds that)
_VOTE_ENTRIES = 1 << 19  # subset sums per matrix when voting (4 MB of int64 per array)
_NOT_SEARCHED, _TOO_MANY, _TOO_LARGE = -2, -1, -3
# How an acquirer rounds each title's MDR fee. Unknown, a fee may be rounded either way
# (the brief's ±1 centavo a title); each acquirer has one rule, learned like the rate, and
# an exact rule lets k-title subsets fit by chance k+1 times less often.
ROUNDINGS = ("either way", "half up", "down", "up")
ROUNDING_AGREEMENT = 0.95  # share of the lines that fit either way an exact rule must fit
_OUT_OF_REACH = 1 << 40  # net value of a title that cannot be in the set: no sum reaches it


@dataclass(frozen=True, slots=True)
class BatchSettings:
    max_titles: int = 8
    max_pool: int = 40
    boleto_credit_lag_days: tuple[int, int] = (0, 5)  # credit date - due date
    card_payout_lag_days: tuple[int, int] = (0, 2)
    max_tariff_cents: int = 1000
    mdr_range_bp: tuple[int, int] = (50, 600)
    min_votes: int = 2  # batch lines agreeing before a learned fee is trusted
    time_budget_s: float = 5.0  # total search time; lines left over are reported, not guessed

    def __post_init__(self) -> None:
        if not 2 <= self.max_titles <= self.max_pool:
            raise ValueError(f"max_titles must be in 2..max_pool, got {self.max_titles}")
        if self.max_pool > 60:  # subsets are int64 bitmasks; 2^30 sums per half is too many
            raise ValueError(f"max_pool must be at most 60, got {self.max_pool}")


@dataclass(frozen=True, slots=True)
class KnownFees:
    boleto_tariff_cents: Mapping[str, int] = field(default_factory=dict)  # conta -> tariff
    mdr_bp: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (acquirer, product)


@dataclass
class BatchResult:
    allocations: pd.DataFrame  # one row per (line, parcela); net_cents adds up to the line
    groups: pd.DataFrame  # one row per proposed line
    skipped: pd.DataFrame  # batch-looking lines with no proposal, and why
    learned: KnownFees  # known fees plus those learned here


ALLOCATION_COLUMNS = ["line_key", "parcela_id", "kind", "gross_cents", "fee_cents", "net_cents"]
GROUP_COLUMNS = ["line_key", "kind", "acquirer", "product", "fee_model", "fee_param",
                 "n_parcelas", "alternatives", "fee_learned_from", "explanation"]
SKIPPED_COLUMNS = ["line_key", "reason"]


# --- Bank memos ------------------------------------------------------------------------------

_ANY_BATCH = re.compile(r"COBRANCA|COB COMPE|BOLETO|TITULO|CIELO|REDE|STONE|GETNET|PAG|MERCADO")
_ANY_BATCH_UPPER = "COBRAN|COB COMPE|BOLETO|T[IÍ]TULO|CIELO|REDE|STONE|GETNET|PAG|MERCADO"
_TRANSFER = re.compile(r"\bPIX\b|\bTED\b|\bDOC\b|\bTRANSF")  # a PIX *from* Stone is no payout
# Anticipations carry a rate per day anticipated on top of the MDR; debits from acquirers
# (rent, chargebacks) are no sales. Neither fits the fee model, so neither is guessed.
_NOT_A_PAYOUT = re.compile(
    r"ANTECIP|P/ ?ORDEM|DEBITO AUTOMATICO|ALUGUEL|TARIFA|ESTORNO|CHARGEBACK|CANCELAMENTO")
# BB's bare "COBRANCA" is one boleto credited gross: a 1:1 line, so it is left out on purpose.
_BOLETO_BATCH = re.compile(
    r"\b(?:CRED(?:ITO)?|LIQ(?:UIDO|UIDACAO)?|CR)\.? (?:DE )?COBRANCA\b"
    r"|\bCOB COMPE\b"
    r"|\b(?:DEPOSITO|CREDITO|RECEBIMENTO)S? (?:RECEBIDOS? )?(?:POR|DE) BOLETOS?\b"
    r"|\bBOLETOS? RECEBIDOS?\b"
    r"|\bLIQUIDACAO (?:DE )?(?:BOLETOS|TITULOS)\b")
_BRAND_WORDS = r"VISA|MAST(?:ER(?:CARD)?)?|ELO|HIPER(?:CARD)?|AMEX|DINERS|MAESTRO|CABAL|JCB"
_LINE_ACQUIRERS = tuple((name, re.compile(pattern)) for name, pattern in (
    ("Cielo", r"\bCIELO\b"),
    # Never bare REDE: Caixa prints "REDE COMPARTILHADA" and "REDE SHOP" (§6.3).
    ("Rede", rf"\bREDECARD\b|^(?:RECEBIMENTO )?REDE (?:{_BRAND_WORDS})\b"),
    ("Stone", r"\bSTONE\b"),
    ("Getnet", r"\bGETNET\b"),
    ("PagSeguro", r"\bPAG ?SEGURO\b|\bPAGBANK VENDAS?\b"),
    ("Mercado Pago", r"\bMERCADO ?PAGO\b")))
_DEBIT_WORDS = re.compile(r"\bDEB(?:ITO)?\b|\bDEBIT\b|\bDB ?\d|\bMAESTRO\b|\bELECTR(?:ON)?\b")
_CREDIT_WORDS = re.compile(r"\bCRED(?:ITO)?\b|\bCREDIT\b|\bCD ?\d")
_BRAND_PATTERNS = tuple(re.compile(p) for p in (
    r"\bVISA\b|\bELECTR(?:ON)?\b", r"\bMAST(?:ER\w*)?\b|\bMAESTRO\b", r"\bELO\b",
    r"\bAMEX\b|\bAMERICAN EXPRESS\b", r"\bHIPER(?:CARD)?\b", r"\bDINERS\b"))


def batch_kind(memo: str) -> tuple[str, str | None, str | None] | None:
    """What a credit's memo says it batches.

    Returns ('boleto_batch', None, None), ('card_payout', acquirer, 'credito'|'debito'|None)
    (None when the memo does not name the product, as Mercado Pago's does not), or None.
    """
    facts = _memo_facts(memo) if isinstance(memo, str) else None
    return None if facts is None else facts[:3]


def _fold(text: str) -> str:
    """Upper case, accents dropped, spaces collapsed; ASCII only, which the patterns are."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(ascii_text.upper().split())


@lru_cache(maxsize=1 << 14)  # statements repeat the same few batch memos all year
def _memo_facts(memo: str) -> tuple[str, str | None, str | None, int] | None:
    text = _fold(memo)
    if not _ANY_BATCH.search(text) or _TRANSFER.search(text):
        return None
    if _BOLETO_BATCH.search(text):
        return BOLETO, None, None, -1
    acquirer = next((name for name, pattern in _LINE_ACQUIRERS if pattern.search(text)), None)
    if acquirer is None or _NOT_A_PAYOUT.search(text):
        return None
    return CARD, acquirer, _memo_product(text, acquirer), _brand(text)


def _memo_product(text: str, acquirer: str) -> str | None:
    debit, credit = bool(_DEBIT_WORDS.search(text)), bool(_CREDIT_WORDS.search(text))
    if debit != credit:
        return DEBITO if debit else CREDITO
    # Getnet names only the debit products ("GETNET-VISA" is credit, "GETNET-MAESTRO" debit).
    return CREDITO if acquirer == "Getnet" and not debit else None


def _brand(text: str) -> int:
    found = [i for i, pattern in enumerate(_BRAND_PATTERNS) if pattern.search(text)]
    return found[0] if len(found) == 1 else -1


# --- What a parcela's text says about how it is paid ----------------------------------------
# Run over whole columns as plain regular expressions, which pandas hands to Arrow when
# pyarrow is installed; `\b` would send them back to Python, so word edges are spelled out.
# The text is upper-cased, accents kept.

def _word(pattern: str) -> str:
    edge = "[^0-9A-ZÀ-Ý]"
    return f"(?:^|{edge})(?:{pattern})(?:{edge}|$)"


_P_ANY = ("BOLETO|CART|CARD|MAQUININHA|CIELO|REDE|STONE|GETNET|PAG|MERCADO|VISA|ELECTR|MAST"
          "|MAESTRO|ELO|AMEX|AMERICAN|HIPER|DINERS|CR[EÉ]DITO|D[EÉ]BITO")
_P_BOLETO = _word("BOLETOS?")  # not COBRANÇA: "cobrança" is any billing, not the channel
_P_CARD = _word("CART(?:AO|ÃO|OES|ÕES)|CARD|MAQUININHA")
_P_ACQUIRER_ANY = "CIELO|REDE|STONE|GETNET|PAG ?SEGURO|PAGBANK|MERCADO ?PAGO"
_P_ACQUIRERS = tuple(_word(p) for p in (
    "CIELO", "REDE(?:CARD)?", "STONE", "GETNET", "PAG ?SEGURO|PAGBANK", "MERCADO ?PAGO"))
_P_PRODUCTS = (_word("CR[EÉ]DITO"), _word("D[EÉ]BITO"))
_P_BRANDS = tuple(_word(p) for p in (
    "VISA|ELECTRON?|ELECTR", "MAST(?:ER[A-Z]*)?|MAESTRO", "ELO", "AMEX|AMERICAN EXPRESS",
    "HIPER(?:CARD)?", "DINERS"))
_REDE = ACQUIRERS.index("Rede")
HINT_COLUMNS = ("boleto", "card", "acquirer", "product", "brand")  # -1: not named


def _parcela_hints(parcelas: pd.DataFrame) -> np.ndarray:
    """One row per parcela: (boleto, card, acquirer, product, brand) named in its text.

    The contact may name an acquirer too (sales registered to "Cielo S.A."), but a brand
    or a product in a person's name says nothing.
    """
    hints = np.tile(np.array([0, 0, -1, -1, -1], np.int16), (len(parcelas), 1))
    text = _upper(parcelas["descricao"])
    rows = np.flatnonzero(_has(text, _P_ANY))
    hints[rows] = _description_hints(text.iloc[rows])
    contact = _upper(parcelas["contact_name"])
    rows = np.flatnonzero(_has(contact, _P_ACQUIRER_ANY))
    named = _named_acquirer(contact.iloc[rows], with_rede=False)
    hints[rows, 2] = np.where(hints[rows, 2] >= 0, hints[rows, 2], named)
    hints[rows, 1] |= named >= 0
    return hints


def _upper(texts: pd.Series) -> pd.Series:
    return texts.astype("str").str.upper().reset_index(drop=True)


def _has(texts: pd.Series, pattern: str) -> np.ndarray:
    return texts.str.contains(pattern, regex=True, na=False).to_numpy(bool)


def _description_hints(text: pd.Series) -> np.ndarray:
    out = np.tile(np.array([0, 0, -1, -1, -1], np.int16), (len(text), 1))
    out[:, 0] = _has(text, _P_BOLETO)
    acquirer = _named_acquirer(text, with_rede=True)
    card = _has(text, _P_CARD) | ((acquirer >= 0) & (acquirer != _REDE))
    # "rede" alone is a network, a chain, a hammock: the acquirer only beside a card word
    acquirer[(acquirer == _REDE) & ~card] = -1
    card |= acquirer >= 0
    out[:, 1], out[:, 2] = card, acquirer
    rows = np.flatnonzero(card)
    out[rows, 3] = _only_one(text.iloc[rows], _P_PRODUCTS)
    out[rows, 4] = _only_one(text.iloc[rows], _P_BRANDS)
    return out


def _named_acquirer(text: pd.Series, with_rede: bool) -> np.ndarray:
    patterns = [p if with_rede or i != _REDE else "$^" for i, p in enumerate(_P_ACQUIRERS)]
    return _only_one(text, patterns)


def _only_one(text: pd.Series, patterns) -> np.ndarray:
    """Index of the one pattern the text matches; -1 for none or several."""
    if len(text) == 0:
        return np.zeros(0, np.int16)
    found = np.stack([_has(text, p) for p in patterns], 1)
    return np.where(found.sum(1) == 1, found.argmax(1), -1).astype(np.int16)


# --- Candidate pools -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Lines:
    """The batch-looking lines, as arrays."""

    key: np.ndarray
    account: np.ndarray  # conta_financeira_id
    day: np.ndarray  # posted_on in days since the epoch
    amount: np.ndarray
    is_card: np.ndarray
    acquirer: np.ndarray  # index into ACQUIRERS, -1 for boletos
    product: np.ndarray  # index into PRODUCTS, -1 unknown
    brand: np.ndarray  # index into BRANDS, -1 unknown


@dataclass(frozen=True, slots=True)
class _Pools:
    """Each line's candidates, closest due date first, in two tiers laid end to end.

    Tier 0 holds the parcelas whose text names the line's channel, tier 1 every candidate.
    slot_par/slot_dist are the slots; start[t, i] and size[t, i] place line i's pool in
    tier t; found[t, i] counts the candidates before the max_pool cap.
    """

    slot_par: np.ndarray
    slot_dist: np.ndarray
    slot_product: np.ndarray  # product the parcela's text names, -1 none
    slot_line: np.ndarray  # line whose pool the slot is in
    start: np.ndarray
    size: np.ndarray
    found: np.ndarray


def _batch_lines(lines: pd.DataFrame) -> _Lines:
    credit = lines[lines["amount_cents"].to_numpy() > 0].reset_index(drop=True)
    maybe = np.flatnonzero(_has(_upper(credit["memo"]), _ANY_BATCH_UPPER))
    codes, memos = pd.factorize(credit["memo"].iloc[maybe])
    facts = [_memo_facts(m) if isinstance(m, str) else None for m in memos.tolist()] + [None]
    keep = np.array([f is not None for f in facts])[codes]
    rows = credit.iloc[maybe[keep]]
    facts = [facts[c] for c in codes[keep]]
    return _Lines(
        key=rows["line_key"].to_numpy(object),
        account=rows["conta_financeira_id"].astype(str).to_numpy(object),
        day=_days(rows["posted_on"]),
        amount=rows["amount_cents"].to_numpy(np.int64),
        is_card=np.array([f[0] == CARD for f in facts], bool),
        acquirer=np.array([ACQUIRERS.index(f[1]) if f[1] else -1 for f in facts], np.int16),
        product=np.array([PRODUCTS.index(f[2]) if f[2] else -1 for f in facts], np.int16),
        brand=np.array([f[3] for f in facts], np.int16))


def _days(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values).to_numpy("datetime64[D]").astype(np.int64)


def _build_pools(ln: _Lines, due: np.ndarray, hints: np.ndarray,
                 settings: BatchSettings) -> _Pools:
    """Candidates per line: due in its lag window, not naming another channel, closest first."""
    lags = np.array([settings.boleto_credit_lag_days, settings.card_payout_lag_days])
    lag_lo, lag_hi = lags[ln.is_card.astype(int), 0], lags[ln.is_card.astype(int), 1]
    order = np.argsort(due, kind="stable")
    first = np.searchsorted(due[order], ln.day - lag_hi, "left")
    last = np.searchsorted(due[order], ln.day - lag_lo, "right")
    line, par = _expand_ranges(first, np.maximum(last - first, 0))
    par = order[par]
    named, ruled_out = _channel_match(ln, line, hints[par])
    line, par, named = line[~ruled_out], par[~ruled_out], named[~ruled_out]
    dist = np.abs(ln.day[line] - due[par])
    closest = np.lexsort((par, dist, line))
    line, par, named, dist = line[closest], par[closest], named[closest], dist[closest]
    tiers = [_tier(line, named, len(ln.key), settings.max_pool),
             _tier(line, np.ones(len(line), bool), len(ln.key), settings.max_pool)]
    offset = np.cumsum([0] + [len(t[0]) for t in tiers])
    return _Pools(
        slot_par=np.concatenate([par[t[0]] for t in tiers]),
        slot_dist=np.concatenate([dist[t[0]] for t in tiers]),
        slot_product=hints[np.concatenate([par[t[0]] for t in tiers]), 3],
        slot_line=np.concatenate([line[t[0]] for t in tiers]),
        start=np.stack([t[1] + o for t, o in zip(tiers, offset, strict=False)]),
        size=np.stack([t[2] for t in tiers]), found=np.stack([t[3] for t in tiers]))


def _expand_ranges(first: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, position) for positions first[i] .. first[i] + count[i] - 1 of every i."""
    owner = np.repeat(np.arange(len(first)), count)
    within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    return owner, np.repeat(first, count) + within


def _channel_match(ln: _Lines, line: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per (line, parcela): does the parcela name the line's channel, or another one?"""
    boleto, card, acquirer, product, brand = (h[:, i] for i in range(len(HINT_COLUMNS)))
    is_card = ln.is_card[line]
    l_acq, l_prod, l_brand = ln.acquirer[line], ln.product[line], ln.brand[line]
    other_card = ((acquirer >= 0) & (acquirer != l_acq)
                  | (l_prod >= 0) & (product >= 0) & (product != l_prod)
                  | (l_brand >= 0) & (brand >= 0) & (brand != l_brand))
    ruled_out = np.where(is_card, (boleto > 0) | other_card, card > 0)
    named = np.where(is_card, (acquirer >= 0) & (acquirer == l_acq), boleto > 0)
    return named, ruled_out


def _tier(line: np.ndarray, member: np.ndarray, n_lines: int, cap: int):
    """Slots of one tier (the first `cap` members of each line) and each line's segment."""
    rows = np.flatnonzero(member)
    found = np.bincount(line[rows], minlength=n_lines)
    rank = np.arange(len(rows)) - np.repeat(np.cumsum(found) - found, found)
    rows = rows[rank < cap]
    size = np.minimum(found, cap)
    return rows, np.cumsum(size) - size, size, found


# --- Subset sums -----------------------------------------------------------------------------

@lru_cache(maxsize=64)
def _popcount(n: int) -> np.ndarray:
    """Titles in subset number j of n titles (bit i of j set: title i is in)."""
    sizes = np.zeros(1 << n, np.int64)
    for i in range(n):
        sizes[1 << i: 2 << i] = sizes[: 1 << i] + 1
    return sizes


def _subset_sums(values: np.ndarray) -> np.ndarray:
    """All 2^n subset sums of every row, built by doubling: column j sums the bits of j."""
    m, n = values.shape
    sums = np.zeros((m, 1 << n), np.int64)
    for i in range(n):
        sums[:, 1 << i: 2 << i] = sums[:, : 1 << i] + values[:, i: i + 1]
    return sums


@dataclass(frozen=True, slots=True)
class _Fits:
    """Per problem: fitting subsets (or _TOO_MANY / _NOT_SEARCHED), the closest one."""

    count: np.ndarray
    mask: np.ndarray  # bit i: slot i of the problem's pool
    dist: np.ndarray  # sum of the days between the line and each title's due date


def _sorted_subsets(hi: np.ndarray, limit: np.ndarray, kmax: int, cap: int):
    """Per row, the subsets of at most kmax titles with sum(hi) <= limit, sorted by sum(hi).

    A subset is one int64 key, sum << h | mask (bit i: title i), so sorting keys sorts
    sums and carries the masks along. The first titles are enumerated densely (2^8 subsets
    at most) and sorted once. Each further title doubles the list: the subsets with it are
    those without it plus (value << h | bit); both runs are sorted, so a stable sort
    (timsort) merges them in linear time. Every net is positive, so a sum past the limit can
    never be completed and is dropped at once.

    A row with more than `cap` such subsets is given up (flagged): with N subsets a half,
    about N^2 / limit subsets fit by chance, so such a line has hundreds of answers and no
    search would tell them apart. So is a row whose amount does not fit the key (over
    2^40 centavos with 20 titles a half). Rows are padded at the end with sum limit.max() + 1.

    Returns (sum_hi, mask), each (rows, subsets), and the flags.
    """
    h = hi.shape[1]
    flagged = limit >= 1 << (60 - h)
    limit = np.where(flagged, 0, limit)
    beyond, dense = int(limit.max()) + 1, min(h, _DENSE_TITLES)
    hi = np.minimum(hi, beyond)  # no title above the limit is ever kept: keeps keys small
    sums = _subset_sums(hi[:, :dense])
    sums[(sums > limit[:, None]) | (_popcount(dense) > kmax)] = beyond
    keys = np.sort(sums << h | np.arange(1 << dense), axis=1)
    titles = (1 << h) - 1
    for i in range(dense, h):
        keys = _keep_useful(keys, beyond << h, flagged, cap)
        grown = keys + (hi[:, i: i + 1] << h | 1 << i)
        grown[(grown >> h > limit[:, None]) | (np.bitwise_count(keys & titles) >= kmax)] = (
            beyond << h)
        keys = np.concatenate([keys, grown], 1)
        keys.sort(axis=1, kind="stable")
    keys = _keep_useful(keys, beyond << h, flagged, cap)
    return (keys >> h, keys & titles), flagged


def _keep_useful(keys: np.ndarray, past: int, flagged: np.ndarray, cap: int) -> np.ndarray:
    """Sorted keys cut after the last one below `past` in any row; rows with more than
    `cap` are flagged and emptied."""
    useful = (keys < past).sum(1)
    flagged |= useful > cap
    keys = keys[:, : max(1, int(np.where(flagged, 0, useful).max()))]
    if flagged.any():
        keys[flagged] = past  # a view of a list only this function still holds
    return keys


def _meet_in_the_middle(lo, hi, dist, target, slack, kmax, cap) -> _Fits:
    """Subsets of 2..kmax + UNIQUENESS_MARGIN titles with sum(lo) <= target <= sum(hi), for
    each row at once; the closest of at most kmax titles is kept, all are counted.

    lo == hi for a tariff (exact); for an MDR hi - lo is the title's rounding freedom, so
    sum(hi) lies in [target, target + slack]. The right half's sums are offset row by row,
    so one searchsorted looks up every left-half sum's complement in every row.
    """
    m, n = lo.shape
    half, counted_up_to = n // 2, kmax + UNIQUENESS_MARGIN
    limit = target + slack
    (a_hi, a_mask), a_over = _sorted_subsets(hi[:, :half], limit, counted_up_to, cap)
    (b_hi, b_mask), b_over = _sorted_subsets(hi[:, half:], limit, counted_up_to, cap)
    # A title's net is hi, or hi - 1 where its MDR fee may round either way: sum(lo) is
    # sum(hi) less the number of such titles in the subset.
    loose = _bits(hi > lo)
    stride = int(limit.max()) + 2  # b_hi <= limit.max() + 1 (padding): rows never overlap
    flat = (b_hi + (np.arange(m) * stride)[:, None]).ravel()
    rows, cols = np.nonzero(a_hi <= limit[:, None])
    low = np.maximum(target[rows] - a_hi[rows, cols], 0) + rows * stride
    left = np.searchsorted(flat, low, "left")
    high = limit[rows] - a_hi[rows, cols] + rows * stride
    # Most left sums find no complement: look up the end of the range only where one is.
    hits = np.zeros(len(left), np.int64)
    some = np.flatnonzero(flat[np.minimum(left, len(flat) - 1)] <= high)
    hits[some] = np.searchsorted(flat, high[some], "right") - left[some]
    per_row = np.bincount(rows, weights=hits, minlength=m)
    take = np.flatnonzero((hits > 0) & (per_row[rows] <= MAX_FITS * 4))
    r, pos = _expand_ranges(left[take], hits[take])
    r, ca = rows[take][r], cols[take][r]
    cb = pos - r * b_hi.shape[1]
    size = np.bitwise_count(a_mask[r, ca]) + np.bitwise_count(b_mask[r, cb])
    mask = a_mask[r, ca] | (b_mask[r, cb] << half)
    total_hi = a_hi[r, ca] + b_hi[r, cb]
    ok = ((size >= 2) & (size <= counted_up_to) & (total_hi >= target[r])
          & (total_hi - np.bitwise_count(mask & loose[r]) <= target[r]))
    r, mask = r[ok], mask[ok]
    fits = _closest_per_row(m, r, mask, _mask_sums(mask, dist[r]),
                            too_many=per_row > MAX_FITS * 4, kmax=kmax)
    fits.count[a_over | b_over] = _TOO_LARGE
    return fits


def _bits(flags: np.ndarray) -> np.ndarray:
    """Each row of booleans as an int64 bitmask (column j: bit j)."""
    return (flags.astype(np.int64) << np.arange(flags.shape[1])).sum(1)


def _mask_sums(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sum of values[j] over the bits j set in each mask (one row of values per mask)."""
    bits = (mask[:, None] >> np.arange(values.shape[1])) & 1
    return (bits * values).sum(1)


def _closest_per_row(m: int, row, mask, dist, too_many, kmax: int) -> _Fits:
    """Count each row's fits; keep the closest in date of those with at most kmax titles
    (mask 0 when every fit is larger)."""
    count = np.bincount(row, minlength=m).astype(np.int64)
    best_mask, best_dist = np.zeros(m, np.int64), np.zeros(m, np.int64)
    small = np.bitwise_count(mask) <= kmax
    row, mask, dist = row[small], mask[small], dist[small]
    if len(row):
        order = np.lexsort((mask, dist, row))
        first = order[np.r_[True, row[order][1:] != row[order][:-1]]]
        best_mask[row[first]], best_dist[row[first]] = mask[first], dist[first]
    count[too_many | (count > MAX_FITS)] = _TOO_MANY
    return _Fits(count, best_mask, best_dist)


# --- Problems: a line's pool under one fee ---------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Problems:
    line: np.ndarray
    start: np.ndarray  # first slot of the pool
    n: np.ndarray  # titles of the pool considered
    tariff: np.ndarray  # centavos per title, -1 for an MDR
    bp: np.ndarray  # MDR in basis points, -1 for a tariff
    product: np.ndarray  # the fee's product when the memo names none, else -1
    rounding: np.ndarray  # index into ROUNDINGS (MDR only)

    def __len__(self) -> int:
        return len(self.line)

    def take(self, rows: np.ndarray) -> _Problems:
        return _Problems(*(getattr(self, f)[rows] for f in self.__slots__))


def _net_bounds(gross: np.ndarray, tariff: np.ndarray, bp: np.ndarray, rounding: np.ndarray):
    """Lowest and highest net of each title: gross - tariff, or gross - MDR fee, the fee
    rounded by the row's rule (either way: rounded down for the highest net, up for the
    lowest)."""
    out = gross >= _OUT_OF_REACH
    if (bp < 0).all():  # tariffs only: exact, one array serves as both bounds
        net = gross - tariff[:, None]
        net[(net <= 0) | out] = _OUT_OF_REACH  # a title the fee would swallow is in no batch
        return net, net
    exact = np.where(out, 0, gross) * np.maximum(bp, 0)[:, None]
    down, up, half = exact // 10_000, -((-exact) // 10_000), (exact + 5_000) // 10_000
    rule = rounding[:, None]
    fee_hi = np.select([rule == 1, rule == 3], [half, up], down)  # fee of the highest net
    fee_lo = np.select([rule == 1, rule == 2], [half, down], up)
    is_mdr = (bp >= 0)[:, None]
    lo = np.where(is_mdr, gross - fee_lo, gross - tariff[:, None])
    hi = np.where(is_mdr, gross - fee_hi, lo)
    out |= lo <= 0
    return np.where(out, _OUT_OF_REACH, lo), np.where(out, _OUT_OF_REACH, hi)


def _solve(problems: _Problems, pools: _Pools, ctx: _Context) -> _Fits:
    """Every problem's fits; problems past the deadline stay _NOT_SEARCHED.

    Pools of one size are solved together, smallest first, so an exhausted budget leaves
    the most expensive lines unsearched rather than the cheapest. Large pools go a few rows
    at a time: their pruned subset counts vary a lot, and rows are padded to the largest.
    """
    fits = _Fits(np.full(len(problems), _NOT_SEARCHED, np.int64),
                 np.zeros(len(problems), np.int64), np.zeros(len(problems), np.int64))
    for n in np.unique(problems.n):
        rows = _by_breadth(problems, np.flatnonzero(problems.n == n), pools, ctx)
        per_chunk = max(1, _CHUNK_ROWS >> max(0, min(n - n // 2, 12) - _DENSE_TITLES))
        for chunk in np.split(rows, np.arange(per_chunk, len(rows), per_chunk)):
            if ctx.out_of_time():
                return fits
            part = problems.take(chunk)
            slot = part.start[:, None] + np.arange(n)
            par = pools.slot_par[slot]
            gross = np.where(ctx.given[par], _OUT_OF_REACH, ctx.gross[par])
            # Under a product's MDR, a sale whose text names the other product is no member.
            named = pools.slot_product[slot]
            gross = np.where((part.product[:, None] >= 0) & (named >= 0)
                             & (named != part.product[:, None]), _OUT_OF_REACH, gross)
            lo, hi = _net_bounds(gross, part.tariff, part.bp, part.rounding)
            # Rounded either way, each title may be a centavo short: sum(hi) - sum(lo) is at
            # most the number of titles counted.
            slack = np.where((part.bp >= 0) & (part.rounding == 0),
                             ctx.settings.max_titles + UNIQUENESS_MARGIN, 0)
            found = _meet_in_the_middle(lo, hi, pools.slot_dist[slot], ctx.amount[part.line],
                                        slack, ctx.settings.max_titles, ctx.half_cap)
            fits.count[chunk], fits.mask[chunk], fits.dist[chunk] = (
                found.count, found.mask, found.dist)
    return fits


def _by_breadth(problems: _Problems, rows: np.ndarray, pools: _Pools, ctx: _Context):
    """Rows ordered by amount over average title: about how many subsets stay under the
    amount. Rows of a chunk are padded to the one with most, so alike rows go together."""
    slot = problems.start[rows][:, None] + np.arange(problems.n[rows[0]])
    breadth = ctx.amount[problems.line[rows]] / ctx.gross[pools.slot_par[slot]].mean(1)
    return rows[np.argsort(breadth, kind="stable")]


@dataclass
class _Context:
    settings: BatchSettings
    gross: np.ndarray  # open_cents per parcela row
    amount: np.ndarray  # amount_cents per line
    deadline: float
    given: np.ndarray  # parcelas already given to a line in an earlier round
    half_cap: int = MAX_HALF_SUBSETS  # this round's subsets a half may keep under the amount

    def out_of_time(self) -> bool:
        return time.perf_counter() > self.deadline


# --- Learning the fees -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Fee:
    """One fee a line may be searched under."""

    model: str  # 'tariff' | 'mdr'
    param: int
    product: int  # index into PRODUCTS for an MDR, -1 unknown
    source: str  # 'known' | 'votes'
    votes: int  # lines that agreed (0 when known)
    rounding: int = 0  # an MDR's per-title rounding: index into ROUNDINGS


def _learning_pools(pools: _Pools, line: np.ndarray, bucket: np.ndarray):
    """Which of the candidate voters vote, and the pool each votes with.

    line and bucket (account, or acquirer and product) are given per candidate. A line
    votes with its named tier when that has two titles, else with all its candidates,
    LEARN_ITEMS of them at most. Per bucket the LEARN_LINES lines with the smallest pools
    vote: a small pool gives a clean vote, and a few hundred lines settle a fee as well as
    a year of them. Returns the chosen candidates' positions, pool starts and sizes.
    """
    tier = np.where(pools.size[0, line] >= 2, 0, 1)
    n = np.minimum(pools.size[tier, line], LEARN_ITEMS)
    order = np.lexsort((line, n, bucket))
    order = order[n[order] >= 2]
    group = bucket[order]
    first = np.searchsorted(group, group, "left")
    order = order[np.arange(len(order)) - first < LEARN_LINES]
    return order, pools.start[tier[order], line[order]], n[order]


def _votes(rows, starts, ns, pools: _Pools, ctx: _Context, model: str, span: tuple[int, int]):
    """(line, fee) pairs each line votes for: fees under which a subset of it fits."""
    kmax, out_line, out_fee = ctx.settings.max_titles, [], []
    for n in np.unique(ns):
        pick = np.flatnonzero(ns == n)
        sizes = _popcount(n)[None, :]
        per_chunk = max(1, _VOTE_ENTRIES >> n)
        for chunk in np.split(pick, np.arange(per_chunk, len(pick), per_chunk)):
            gross = ctx.gross[pools.slot_par[starts[chunk][:, None] + np.arange(n)]]
            sums = _subset_sums(gross)
            fitting = (sizes >= 2) & (sizes <= kmax)
            vote = _tariff_votes if model == "tariff" else _mdr_votes
            r, fee = vote(sums, sizes, ctx.amount[rows[chunk]], fitting, span)
            out_line.append(rows[chunk][r])
            out_fee.append(fee)
    line, fee = np.concatenate(out_line or [[]]), np.concatenate(out_fee or [[]])
    pairs = np.unique(np.stack([line, fee]).astype(np.int64), axis=1)
    return pairs[0], pairs[1]


def _tariff_votes(sums, sizes, amount, fitting, span):
    """t such that sum(open) - k*t = line, for some k-subset: exact in centavos."""
    extra = sums - amount[:, None]
    k = np.maximum(sizes, 1)
    ok = fitting & (extra >= span[0] * k) & (extra <= span[1] * k) & (extra % k == 0)
    r, c = np.nonzero(ok)
    return r, extra[r, c] // sizes[0, c]


def _mdr_votes(sums, sizes, amount, fitting, span):
    """bp for which sum(open) - line lies within the per-title rounding of sum(open) * bp."""
    fee = sums - amount[:, None]
    r, c = np.nonzero(fitting & (fee > 0))
    fee, total, k = fee[r, c], sums[r, c], sizes[0, c]
    low = np.maximum(-((k - fee) * 10_000 // total), span[0])
    high = np.minimum((fee + k) * 10_000 // total, span[1])
    ok = (low <= high) & (high - low <= 20)  # a wider band is too small a sum to say anything
    r, low, high = r[ok], low[ok], high[ok]
    owner, bp = _expand_ranges(low, high - low + 1)
    return r[owner], bp


def _tally(line: np.ndarray, fee: np.ndarray, bucket: np.ndarray, n_buckets: int, width: int):
    """Per bucket and fee: lines voting, and their weight (each line spreads 1 over its fees)."""
    if len(line) == 0:
        return np.zeros((n_buckets, width)), np.zeros((n_buckets, width), np.int64)
    per_line = np.bincount(line)[line]
    cell = bucket[line] * width + fee
    weight = np.bincount(cell, weights=1.0 / per_line, minlength=n_buckets * width)
    count = np.bincount(cell, minlength=n_buckets * width)
    return weight.reshape(n_buckets, width), count.reshape(n_buckets, width)


def _peaks(weight: np.ndarray, count: np.ndarray, around: int, wanted: int, min_votes: int):
    """Up to `wanted` fees that clearly dominate the rest of the votes, strongest first.

    A chance fit scatters; the true fee recurs. Each peak needs min_votes lines and
    PEAK_DOMINANCE times the weight of any fee outside the peaks' neighbourhoods.
    """
    free, peaks = weight.copy(), []
    for _ in range(wanted):
        top = int(np.argmax(free))
        if free[top] <= 0 or count[top] < min_votes:
            break
        peaks.append(top)
        free[max(0, top - around): top + around + 1] = 0
    while peaks and weight[peaks[-1]] < PEAK_DOMINANCE * free.max():
        last = peaks.pop()  # a peak the noise matches is no peak; give its share back
        free[max(0, last - around): last + around + 1] = weight[max(0, last - around):
                                                                last + around + 1]
        for kept in peaks:
            free[max(0, kept - around): kept + around + 1] = 0
    return peaks


def _needed_votes(voter_bucket: np.ndarray, n_buckets: int, min_votes: int) -> np.ndarray:
    """Lines a learned fee needs per bucket: min_votes, and VOTE_SHARE of those voting (two
    lines agreeing settle a small ledger, not one where twenty others disagree)."""
    voters = np.bincount(voter_bucket, minlength=n_buckets)
    return np.maximum(min_votes, np.ceil(VOTE_SHARE * voters)).astype(np.int64)


def _learn_tariffs(ln: _Lines, pools: _Pools, ctx: _Context, known: KnownFees):
    """conta -> _Fee: known tariffs, plus those the account's batch lines agree on."""
    fees = {a: _Fee("tariff", int(t), -1, "known", 0) for a, t in known.boleto_tariff_cents.items()}
    accounts, bucket = np.unique(ln.account, return_inverse=True)
    rows = np.flatnonzero(~ln.is_card & ~np.isin(ln.account, list(fees)))
    if len(rows) == 0 or ctx.out_of_time():
        return fees
    chosen, starts, ns = _learning_pools(pools, rows, bucket[rows])
    rows = rows[chosen]
    span = (0, ctx.settings.max_tariff_cents)
    line, fee = _votes(rows, starts, ns, pools, ctx, "tariff", span)
    weight, count = _tally(line, fee, bucket, len(accounts), span[1] + 1)
    needed = _needed_votes(bucket[rows], len(accounts), ctx.settings.min_votes)
    for b, account in enumerate(accounts):
        for t in _peaks(weight[b], count[b], 0, 1, needed[b]):
            fees[account] = _Fee("tariff", t, -1, "votes", int(count[b, t]))
    return fees


def _learn_mdrs(ln: _Lines, pools: _Pools, ctx: _Context, known: KnownFees):
    """(acquirer, product) -> [_Fee]: known MDRs plus those the payouts agree on.

    A memo that does not name the product (Mercado Pago's) leaves two peaks, crédito and
    débito; the higher is crédito, as it always is in the Brazilian market (§6.3).
    """
    fees: dict[tuple[int, int], list[_Fee]] = {}
    for (acquirer, product), bp in known.mdr_bp.items():
        if acquirer not in ACQUIRERS or product not in PRODUCTS:
            log.warning("known MDR for (%r, %r) ignored: acquirer one of %s, product one of %s",
                        acquirer, product, ACQUIRERS, PRODUCTS)
            continue
        fee = _Fee("mdr", int(bp), PRODUCTS.index(product), "known", 0)
        fees[(ACQUIRERS.index(acquirer), fee.product)] = [fee]
    bucket = ln.acquirer.astype(np.int64) * 3 + ln.product + 1  # product -1, 0, 1
    missing = [b for b in np.unique(bucket[ln.is_card]) if _mdr_missing(fees, b)]
    rows = np.flatnonzero(ln.is_card & np.isin(bucket, missing))
    if len(rows) == 0 or ctx.out_of_time():
        return fees
    chosen, starts, ns = _learning_pools(pools, rows, bucket[rows])
    rows = rows[chosen]
    lo, hi = ctx.settings.mdr_range_bp
    line, bp = _votes(rows, starts, ns, pools, ctx, "mdr", (lo, hi))
    weight, count = _tally(line, bp - lo, bucket, len(ACQUIRERS) * 3, hi - lo + 1)
    needed = _needed_votes(bucket[rows], len(ACQUIRERS) * 3, ctx.settings.min_votes)
    peaks = {b: [p + lo for p in _peaks(weight[b], count[b], MDR_NEIGHBOURS,
                                        2 if b % 3 == 0 else 1, needed[b])]
             for b in missing}
    voters = _Voters(rows, starts, ns, bucket[rows])
    for b, chosen in _refine_mdrs(peaks, weight, lo, voters, pools, ctx).items():
        _file_mdrs(fees, b, sorted(chosen, reverse=True), count[b], lo)
    return fees


def _mdr_missing(fees, b: int) -> bool:
    """Does bucket b (acquirer * 3 + product + 1) still need an MDR learned?"""
    acquirer, product = divmod(int(b), 3)
    products = [product - 1] if product else [0, 1]
    return any((acquirer, p) not in fees for p in products)


@dataclass(frozen=True, slots=True)
class _Voters:
    """Lines that voted, with the pool each voted with and its bucket."""

    line: np.ndarray
    start: np.ndarray
    n: np.ndarray
    bucket: np.ndarray


def _refine_mdrs(peaks: dict[int, list[int]], weight: np.ndarray, lo: int, voters: _Voters,
                 pools: _Pools, ctx: _Context) -> dict[int, list[int]]:
    """For each vote peak, the bp next to it under which the most voting lines fit exactly.

    Rounding lets a payout fit a bp or two around the true MDR, so votes alone can tie;
    exact per-title rounding (each title's fee rounded down or up) settles it. All
    candidates of all buckets are solved at once.
    """
    candidates = [(b, j, bp) for b, found in peaks.items() for j, peak in enumerate(found)
                  for bp in range(max(lo, peak - MDR_NEIGHBOURS),
                                  min(lo + weight.shape[1] - 1, peak + MDR_NEIGHBOURS) + 1)]
    which = [np.flatnonzero(voters.bucket == b) for b, _, _ in candidates]
    owner = np.repeat(np.arange(len(candidates)), [len(w) for w in which])
    rows = np.concatenate(which or [np.zeros(0, np.int64)])
    bps = np.array([c[2] for c in candidates], np.int64)[owner]
    none = np.full(len(rows), -1, np.int64)
    problems = _Problems(voters.line[rows], voters.start[rows], voters.n[rows], none, bps, none,
                         np.zeros(len(rows), np.int64))
    count = _solve(problems, pools, ctx).count
    fitted = np.bincount(owner, weights=(count > 0) | (count == _TOO_MANY),
                         minlength=len(candidates))
    best: dict[tuple[int, int], tuple] = {}
    for (b, j, bp), lines_fitted in zip(candidates, fitted, strict=True):
        score = (lines_fitted, weight[b, bp - lo], -abs(bp - peaks[b][j]))
        if (b, j) not in best or score > best[(b, j)][0]:
            best[(b, j)] = (score, bp)
    return {b: [best[(b, j)][1] for j in range(len(found))] for b, found in peaks.items()}


def _file_mdrs(fees: dict, bucket: int, chosen: list[int], count: np.ndarray, lo: int) -> None:
    acquirer, product = divmod(int(bucket), 3)
    learned = [_Fee("mdr", bp, -1, "votes", int(count[bp - lo])) for bp in chosen]
    if product and learned:  # the memo named the product
        fees[(acquirer, product - 1)] = [replace(learned[0], product=product - 1)]
    elif len(learned) == 2:  # the higher is crédito
        for p, fee in enumerate(learned):
            fees.setdefault((acquirer, p), [replace(fee, product=p)])
    # One peak alone is not used: which product it is cannot be told, and the lines of the
    # other product, searched under it, would find chance fits.


# --- Search ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Options:
    """The fees each line is searched under, one row per (line, fee)."""

    line: np.ndarray
    fee: list[_Fee]  # parallel to line
    tariff: np.ndarray
    bp: np.ndarray
    product: np.ndarray  # the fee's product where the memo names none (restricts titles)
    rounding: np.ndarray  # index into ROUNDINGS


def _fee_options(ln: _Lines, tariffs: dict[str, _Fee], mdrs: dict) -> _Options:
    """(line, fee) for every fee a line may be searched under.

    A line whose memo names no product gets both products' MDRs, each searched over the
    sales not naming the other, and none unless both are known: under one alone, a line of
    the other product would find chance fits.
    """
    parts: list[tuple[np.ndarray, _Fee]] = []
    for account, fee in tariffs.items():
        parts.append((np.flatnonzero(~ln.is_card & (ln.account == account)), fee))
    for (acquirer, product), fees in mdrs.items():
        both = all((acquirer, p) in mdrs for p in range(len(PRODUCTS)))
        ours = ln.is_card & (ln.acquirer == acquirer)
        ours &= (ln.product == product) | ((ln.product < 0) & both)
        parts += [(np.flatnonzero(ours), fee) for fee in fees]
    line = np.concatenate([rows for rows, _ in parts] or [np.zeros(0, np.int64)])
    fees = [fee for rows, fee in parts for _ in rows]
    order = np.argsort(line, kind="stable")
    line, fees = line[order], [fees[i] for i in order]
    return _Options(
        line=line, fee=fees,
        tariff=np.array([f.param if f.model == "tariff" else -1 for f in fees], np.int64),
        bp=np.array([f.param if f.model == "mdr" else -1 for f in fees], np.int64),
        product=np.where(ln.product[line] < 0,
                         np.array([f.product if f.model == "mdr" else -1 for f in fees],
                                  np.int64), -1),
        rounding=np.array([f.rounding for f in fees], np.int64))


def _learn_rounding(ln: _Lines, pools: _Pools, options: _Options, ctx: _Context) -> _Options:
    """Each MDR's per-title rounding: the exact rule that fits (nearly) every line that fits
    with the fee rounded either way, else either way.

    The lines searched under an MDR vote, LEARN_LINES at most, with their learning pools;
    all rules of all fees are solved at once.
    """
    kinds = {id(f): f for f in options.fee if f.model == "mdr"}
    if not kinds or ctx.out_of_time():
        return options
    fee_no = {key: i for i, key in enumerate(kinds)}
    which = np.array([fee_no.get(id(f), -1) for f in options.fee], np.int64)
    mdr = np.flatnonzero(which >= 0)
    chosen, starts, ns = _learning_pools(pools, options.line[mdr], which[mdr])
    rows = mdr[chosen]
    per_rule = len(rows)
    take = np.tile(rows, len(ROUNDINGS))
    problems = _Problems(options.line[take], np.tile(starts, len(ROUNDINGS)),
                         np.tile(ns, len(ROUNDINGS)), options.tariff[take], options.bp[take],
                         options.product[take], np.repeat(np.arange(len(ROUNDINGS)), per_rule))
    count = _solve(problems, pools, ctx).count
    fitted = ((count > 0) | (count == _TOO_MANY)).reshape(len(ROUNDINGS), per_rule)
    lines_fitted = np.stack([np.bincount(which[rows], weights=f, minlength=len(kinds))
                             for f in fitted])  # (rule, fee)
    rule = {}
    for key, i in fee_no.items():
        best = 1 + int(np.argmax(lines_fitted[1:, i]))
        agree = lines_fitted[best, i] >= ROUNDING_AGREEMENT * lines_fitted[0, i]
        rule[key] = best if agree and lines_fitted[0, i] >= ctx.settings.min_votes else 0
    fees = [replace(f, rounding=rule[id(f)]) if id(f) in rule else f for f in options.fee]
    return replace(options, fee=fees, rounding=np.array([f.rounding for f in fees], np.int64))


@dataclass(frozen=True, slots=True)
class _Attempts:
    """Every (line, fee) searched in the tier that decided the line."""

    line: np.ndarray
    tier: np.ndarray
    option: np.ndarray
    fits: _Fits
    capped: np.ndarray  # the pool searched held only the max_pool closest candidates


def _search(ln: _Lines, pools: _Pools, options: _Options, ctx: _Context,
            active: np.ndarray) -> _Attempts:
    """Named tier first; the whole pool for lines with (almost) no named candidates.

    A line's attempts are those of the last tier it was searched in.
    """
    pending = active.copy()
    parts: list[tuple[np.ndarray, int, _Fits]] = []
    for tier in (0, 1):
        size = pools.size[tier]
        # The whole pool only when under two candidates name the channel: where parcelas
        # name it, a fit that needs unnamed ones while leaving named ones out is a chance fit
        # far more often than a sale registered without its label.
        eligible = pending & (size >= 2) & ((pools.size[0] < 2) if tier else True)
        sel = np.flatnonzero(eligible[options.line])
        line = options.line[sel]
        fits = _solve(_Problems(line, pools.start[tier, line], size[line], options.tariff[sel],
                                options.bp[sel], options.product[sel], options.rounding[sel]),
                      pools, ctx)
        parts.append((sel, tier, fits))
        pending[line[fits.count != 0]] = False  # found, too many, or out of time
    option = np.concatenate([sel for sel, _, _ in parts])
    tier = np.concatenate([np.full(len(sel), t) for sel, t, _ in parts])
    line = options.line[option]
    last = np.full(len(ln.key), -1)
    np.maximum.at(last, line, tier)
    keep = tier == last[line]
    fits = _Fits(*(np.concatenate([getattr(f, name) for _, _, f in parts])[keep]
                   for name in ("count", "mask", "dist")))
    line, tier = line[keep], tier[keep]
    return _Attempts(line, tier, option[keep], fits,
                     pools.found[tier, line] > pools.size[tier, line])


# --- Proposals and conflicts -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Proposals:
    line: np.ndarray
    tier: np.ndarray
    option: np.ndarray
    mask: np.ndarray
    alternatives: np.ndarray
    dist: np.ndarray

    def take(self, rows: np.ndarray) -> _Proposals:
        return _Proposals(*(getattr(self, f)[rows] for f in self.__slots__))

    def plus(self, *others: _Proposals) -> _Proposals:
        return _Proposals(*(np.concatenate([getattr(p, f) for p in (self, *others)])
                            for f in self.__slots__))

    @staticmethod
    def none() -> _Proposals:
        return _Proposals(*(np.zeros(0, np.int64) for _ in _Proposals.__slots__))


def _propose(has_fee: np.ndarray, attempts: _Attempts) -> tuple[_Proposals, np.ndarray]:
    """Each line's closest fitting subset across its fees, and the line's outcome:
    0 proposed, 1 nothing fits, 2 too many fit, 3 not searched, 4 no fee to search with,
    5 pool too large, 6 only subsets of more than max_titles fit, 7 one fit in a capped
    pool."""
    line, count, n_lines = attempts.line, attempts.fits.count, len(has_fee)
    outcome = np.where(has_fee, 1, 4)
    total = np.bincount(line, weights=np.maximum(count, 0), minlength=n_lines).astype(np.int64)
    outcome[line[count > 0]] = 0
    # One fit among the max_pool closest of more candidates is no unique fit: the rest
    # were never searched.
    capped = np.zeros(n_lines, bool)
    capped[line[attempts.capped]] = True
    outcome[capped & (total == 1)] = 7
    outcome[line[count == _TOO_MANY]] = 2
    outcome[line[count == _TOO_LARGE]] = 5
    outcome[line[count == _NOT_SEARCHED]] = 3
    larger_only = np.zeros(n_lines, bool)
    larger_only[line[(count > 0) & (attempts.fits.mask == 0)]] = True
    fit = np.flatnonzero((count > 0) & (attempts.fits.mask != 0))
    larger_only[line[fit]] = False
    outcome[larger_only & (outcome == 0)] = 6
    order = fit[np.lexsort((attempts.option[fit], attempts.fits.dist[fit], line[fit]))]
    first = order[np.r_[True, line[order][1:] != line[order][:-1]]] if len(order) else order
    first = first[outcome[line[first]] == 0]
    return _Proposals(line[first], attempts.tier[first], attempts.option[first],
                      attempts.fits.mask[first], total[line[first]] - 1,
                      attempts.fits.dist[first]), outcome


def _titles(proposals: _Proposals, pools: _Pools) -> tuple[np.ndarray, np.ndarray]:
    """(proposal, parcela row) for every title of every proposal."""
    bits = (proposals.mask[:, None] >> np.arange(63)) & 1
    owner, position = np.nonzero(bits)
    slot = pools.start[proposals.tier[owner], proposals.line[owner]] + position
    return owner, pools.slot_par[slot]


def _resolve_conflicts(proposals: _Proposals, owner, par, keys: np.ndarray, n_par: int):
    """Give each parcela to one line: unique proposals first, then the closest in date.

    Greedy in that order, done in rounds: a proposal first in line for all its parcelas is
    accepted; one that wants a parcela already given loses. Returns accepted flags and,
    per proposal, the proposal that took a parcela from it (-1 if none).
    """
    titles = np.bincount(owner, minlength=len(proposals.line))
    mean_dist = proposals.dist / np.maximum(titles, 1)
    key_rank = np.unique(keys[proposals.line], return_inverse=True)[1]
    rank = np.empty(len(titles), np.int64)
    rank[np.lexsort((key_rank, mean_dist, proposals.alternatives > 0))] = np.arange(len(titles))
    alive, accepted = np.ones(len(titles), bool), np.zeros(len(titles), bool)
    holder = np.full(n_par, -1)
    while alive.any():
        live = alive[owner]
        first = np.full(n_par, len(titles))
        np.minimum.at(first, par[live], rank[owner[live]])
        wins = live & (first[par] == rank[owner])
        won = alive & (np.bincount(owner, weights=wins, minlength=len(titles)) == titles)
        accepted |= won
        holder[par[won[owner]]] = owner[won[owner]]
        blocked = live & (holder[par] >= 0) & ~won[owner]
        alive &= ~won & (np.bincount(owner, weights=blocked, minlength=len(titles)) == 0)
    taken_by = np.full(len(titles), -1)
    lost = ~accepted[owner] & (holder[par] >= 0)
    taken_by[owner[lost]] = holder[par[lost]]
    return accepted, taken_by


# --- Output ----------------------------------------------------------------------------------

def _fees_per_title(gross: np.ndarray, owner: np.ndarray, fee: np.ndarray, is_mdr: np.ndarray,
                    rounding: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Each title's fee so that the nets add up to the line exactly.

    A tariff is the same for every title, and so is an MDR rounded by a learned rule. An
    MDR rounded either way is rounded half up, then the few centavos the acquirer rounded
    the other way are moved to the titles whose exact fee is nearest the other side (largest
    fractions first when it took more).
    """
    exact = gross * np.where(is_mdr, fee, 0)
    by_rule = np.select([rounding == 2, rounding == 3],
                        [exact // 10_000, -((-exact) // 10_000)], (exact + 5_000) // 10_000)
    rounded = np.where(is_mdr, by_rule, fee)
    remainder = exact % 10_000
    short = np.bincount(owner, weights=gross - rounded, minlength=len(amount)).astype(np.int64)
    short -= amount  # positive: the acquirer kept that many centavos more than rounded
    up = is_mdr & (remainder > 0) & (remainder < 5_000)
    down = is_mdr & (remainder >= 5_000)
    rounded = rounded + _nudge(owner, up, -remainder, np.maximum(short, 0))
    return rounded - _nudge(owner, down, remainder, np.maximum(-short, 0))


def _nudge(owner, eligible, priority, wanted) -> np.ndarray:
    """1 for the first `wanted[owner]` eligible titles of each owner, by priority."""
    rows = np.flatnonzero(eligible)
    rows = rows[np.lexsort((priority[rows], owner[rows]))]
    counts = np.bincount(owner[rows], minlength=len(wanted))
    rank = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    out = np.zeros(len(owner), np.int64)
    out[rows[rank < wanted[owner[rows]]]] = 1
    return out


_PRODUCT_WORDS = {CREDITO: "credit", DEBITO: "debit", None: "card"}


def _explain(kind: str, acquirer: str | None, product: str | None, fee: _Fee, k: int,
             gross: int, fee_total: int, alternatives: int, tier: int, pool_size: int,
             pool_found: int) -> str:
    """'4 boletos R$ 1.234,56 minus tariff R$ 2,50 each; tariff learned from 31 lines; ...'"""
    if kind == BOLETO:
        text = f"{k} boletos {format_brl(gross)} minus tariff {_brl(fee.param)} each"
        what, channel = "tariff", "boleto"
    else:
        text = (f"{k} {acquirer} {_PRODUCT_WORDS[product]} sales {format_brl(gross)} minus MDR "
                f"{fee.param / 100:.2f} % ({format_brl(fee_total)}, each title's fee rounded "
                f"{ROUNDINGS[fee.rounding]})")
        what, channel = "MDR", acquirer
    text += (f"; {what} known" if fee.source == "known"
             else f"; {what} learned from {fee.votes} lines")
    among = f"the {pool_size} closest of {pool_found}" if pool_found > pool_size else pool_size
    text += (f"; among {among} parcelas naming {channel}" if tier == 0
             else f"; among {among} candidate parcelas")
    if alternatives:
        text += f"; {alternatives} other subset{'s' if alternatives > 1 else ''} also fit"
    return text


_brl = lru_cache(maxsize=1 << 10)(format_brl)  # tariffs repeat line after line


def _receivable(parcelas: pd.DataFrame) -> pd.DataFrame:
    """Open contas-a-receber: only money coming in can be in a credit."""
    keep = parcelas["open_cents"].to_numpy() > 0
    if "kind" in parcelas:  # the store's layout says receber/pagar; a bare frame is receber
        keep &= parcelas["kind"].to_numpy(object) == "receber"
    return parcelas[keep].reset_index(drop=True)


def find_batches(lines: pd.DataFrame, parcelas: pd.DataFrame,
                 settings: BatchSettings = BatchSettings(),
                 known: KnownFees = KnownFees()) -> BatchResult:
    """Propose, for each batch-looking credit, the residual parcelas it pays.

    Args:
      lines: line_key, conta_financeira_id, posted_on, amount_cents, memo. Debits and
        lines whose memo is no batch (see batch_kind) are ignored.
      parcelas: parcela_id, due_on, open_cents, descricao, contact_name (and optionally
        kind: only 'receber' is used), already without those matched 1:1.
      settings: bounds of the search.
      known: confirmed fees; they win over learned ones.

    Returns:
      A BatchResult; see the column lists ALLOCATION_COLUMNS, GROUP_COLUMNS, SKIPPED_COLUMNS.
    """
    began = time.perf_counter()
    ln, pool = _batch_lines(lines), _receivable(parcelas)
    ctx = _Context(settings, pool["open_cents"].to_numpy(np.int64), ln.amount,
                   began + settings.time_budget_s, np.zeros(len(pool), bool))
    pools = _build_pools(ln, _days(pool["due_on"]), _parcela_hints(pool), settings)
    tariffs = _learn_tariffs(ln, pools, ctx, known)
    mdrs = _learn_mdrs(ln, pools, ctx, known)
    options = _learn_rounding(ln, pools, _fee_options(ln, tariffs, mdrs), ctx)
    accepted, outcome, taken_by = _rounds(ln, pools, options, ctx)
    owner, par = _titles(accepted, pools)
    allocations = _allocations(ln, pool, options, accepted, owner, par)
    result = BatchResult(
        allocations=allocations, groups=_groups(ln, pools, options, accepted, allocations),
        skipped=_skipped(ln, pools, settings, outcome, taken_by, ctx),
        learned=_learned(known, tariffs, mdrs))
    log.info("batches: %d batch-looking lines, %d proposed (%d unique), %d skipped, %.2f s",
             len(ln.key), len(result.groups), int((result.groups["alternatives"] == 0).sum()),
             len(result.skipped), time.perf_counter() - began)
    return result


def _touched(pools: _Pools, given: np.ndarray, n_lines: int) -> np.ndarray:
    """Lines with one of the given parcelas among their candidates."""
    hit = np.isin(pools.slot_par, given)
    return np.bincount(pools.slot_line[hit], minlength=n_lines) > 0


def _rounds(ln: _Lines, pools: _Pools, options: _Options, ctx: _Context):
    """Search, give out the unique conflict-free proposals, and search again without them.

    A parcela given to a line's only fitting subset is no longer a candidate for the others,
    so some of their alternatives vanish and some pools shrink under MAX_HALF_SUBSETS. Only
    lines with a given parcela among their candidates are searched again; the others keep
    their proposal. A round that gives out nothing unique is the last: the standing
    proposals, alternatives or not, go out by the conflict rule (unique first, then the
    closest in date; losers lose).

    Returns the accepted proposals, each line's outcome (see _propose) and, per line left
    without a proposal after losing a conflict, the line that took its parcela (-1 elsewhere).
    """
    has_fee = np.bincount(options.line, minlength=len(ln.key)) > 0
    active, outcome = has_fee.copy(), np.where(has_fee, 1, 4)
    taken_by = np.full(len(ln.key), -1)
    standing, kept = _Proposals.none(), []
    for round_no in range(MAX_ROUNDS):
        ctx.half_cap = HALF_CAPS[min(round_no, len(HALF_CAPS) - 1)]
        found, found_outcome = _propose(has_fee, _search(ln, pools, options, ctx, active))
        outcome[active] = found_outcome[active]
        standing = standing.take(np.flatnonzero(~active[standing.line])).plus(found)
        owner, par = _titles(standing, pools)
        won, took = _resolve_conflicts(standing, owner, par, ln.key, len(ctx.given))
        sure = won & (standing.alternatives == 0)
        deeper = round_no + 1 < len(HALF_CAPS) and (outcome == 5).any()
        last = round_no == MAX_ROUNDS - 1 or not (sure.any() or deeper) or ctx.out_of_time()
        give = won if last else sure
        kept.append(standing.take(np.flatnonzero(give)))
        ctx.given[par[give[owner]]] = True
        lost = np.flatnonzero((took >= 0) & give[np.maximum(took, 0)])
        taken_by[standing.line[lost]] = standing.line[took[lost]]  # unless a later round finds
        if last:
            break
        standing = standing.take(np.flatnonzero(~give))
        # Search again where a candidate was given out (removing candidates can make a
        # subset unique or a pool small enough, never make a subset fit where none did),
        # and where the pool was too large for this round's cap.
        settled = np.isin(np.arange(len(ln.key)), np.concatenate([k.line for k in kept]))
        active = ((_touched(pools, par[give[owner]], len(ln.key)) & np.isin(outcome, (0, 2, 5))
                   | (outcome == 5) & deeper) & ~settled)
    accepted = _Proposals.none().plus(*kept)
    outcome[accepted.line] = 0
    taken_by[accepted.line] = -1
    return accepted, outcome, taken_by


def _allocations(ln, pool, options, proposals, owner, par) -> pd.DataFrame:
    fee = np.array([f.param for f in options.fee], np.int64)[proposals.option[owner]]
    is_mdr = options.bp[proposals.option[owner]] >= 0
    gross = pool["open_cents"].to_numpy(np.int64)[par]
    index = np.unique(owner, return_inverse=True)[1]
    line = proposals.line[owner]
    amount = np.zeros(index.max() + 1 if len(index) else 0, np.int64)
    amount[index] = ln.amount[line]
    fees = _fees_per_title(gross, index, fee, is_mdr, options.rounding[proposals.option[owner]],
                           amount)
    kind = np.where(ln.is_card[line], CARD, BOLETO)
    return pd.DataFrame({
        "line_key": ln.key[line], "parcela_id": pool["parcela_id"].to_numpy(object)[par],
        "kind": kind.astype(object), "gross_cents": gross, "fee_cents": fees,
        "net_cents": gross - fees}, columns=ALLOCATION_COLUMNS)


def _groups(ln, pools, options, proposals, allocations) -> pd.DataFrame:
    line, fees = proposals.line, [options.fee[o] for o in proposals.option]
    is_card = ln.is_card[line]
    kind = np.where(is_card, CARD, BOLETO).astype(object)
    acquirer = np.where(is_card, np.array(ACQUIRERS, object)[np.maximum(ln.acquirer[line], 0)],
                        None)
    product = np.array([f.product for f in fees], np.int64)
    product = np.where(product >= 0, product, ln.product[line])
    product = np.where(is_card & (product >= 0),
                       np.array(PRODUCTS, object)[np.maximum(product, 0)], None)
    n_titles = np.bitwise_count(proposals.mask).astype(np.int64)
    sums = allocations.groupby("line_key")[["gross_cents", "fee_cents"]].sum()
    gross, fee_total = sums.reindex(ln.key[line]).to_numpy(np.int64).T
    pool_size = pools.size[proposals.tier, line]
    pool_found = pools.found[proposals.tier, line]
    explanation = [_explain(*row) for row in zip(
        kind, acquirer, product, fees, n_titles.tolist(), gross.tolist(), fee_total.tolist(),
        proposals.alternatives.tolist(), proposals.tier.tolist(), pool_size.tolist(),
        pool_found.tolist(), strict=True)]
    return pd.DataFrame({
        "line_key": ln.key[line], "kind": kind, "acquirer": acquirer, "product": product,
        "fee_model": np.array([f.model for f in fees], object),
        "fee_param": np.array([f.param for f in fees], np.int64), "n_parcelas": n_titles,
        "alternatives": proposals.alternatives.astype(np.int64),
        "fee_learned_from": np.array([f.source for f in fees], object),
        "explanation": np.array(explanation, object)}, columns=GROUP_COLUMNS)


def _skipped(ln, pools, settings, outcome, taken_by, ctx) -> pd.DataFrame:
    reasons = {}
    for i in np.flatnonzero(outcome != 0):
        reasons[i] = _reason(ln, pools, settings, int(outcome[i]), i, ctx)
    for i in np.flatnonzero(taken_by >= 0):
        reasons[i] = f"conflict: its subset shares a parcela with line {ln.key[taken_by[i]]}"
    return pd.DataFrame([(ln.key[i], reasons[i]) for i in sorted(reasons)],
                        columns=SKIPPED_COLUMNS)


def _reason(ln, pools, settings, outcome: int, i: int, ctx: _Context) -> str:
    found, size = int(pools.found[1, i]), int(pools.size[1, i])
    if outcome == 3 or (outcome == 4 and ctx.out_of_time()):
        return "budget exhausted: line not searched"
    if outcome == 4:
        what = (f"tariff of {ln.account[i]}" if not ln.is_card[i] else
                f"MDR of {ACQUIRERS[ln.acquirer[i]]} "
                f"{PRODUCTS[ln.product[i]] if ln.product[i] >= 0 else 'credito/debito'}")
        return (f"fee unknown: {what} neither known nor agreed on by "
                f"{settings.min_votes} batch lines")
    if outcome == 2:
        return f"ambiguous: more than {MAX_FITS} subsets fit"
    if outcome == 7:
        return (f"pool too large: one subset fits among the {size} closest of {found} "
                f"candidates, the others were not searched")
    if outcome == 6:
        return (f"no subset: only subsets of more than {settings.max_titles} titles fit "
                f"(max_titles)")
    if outcome == 5:
        return (f"pool too large: over {MAX_HALF_SUBSETS} subsets of half of its {size} "
                f"candidates stay under the amount, too many would fit by chance")
    if found < 2:
        return f"no subset: {found} open parcela{'s' if found != 1 else ''} due in the window"
    if found > size:
        return f"pool too large: no subset among the {size} closest of {found} parcelas"
    return f"no subset: none of the {found} candidate parcelas adds up to the line"


def _learned(known: KnownFees, tariffs: dict, mdrs: dict) -> KnownFees:
    return KnownFees(
        boleto_tariff_cents={a: f.param for a, f in tariffs.items()},
        mdr_bp={**{(ACQUIRERS[a], PRODUCTS[p]): fees[0].param
                   for (a, p), fees in mdrs.items() if p >= 0 and fees},
                **known.mdr_bp})
