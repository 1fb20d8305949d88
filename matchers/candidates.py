"""Candidate pairs by blocking: SQL built by small pure functions, run by the store.

Every pass is an equi-join on keys the two sides share, followed by an exact residual
filter, never a join on one key with a range in WHERE (quadratic on hot amounts; see
shared/notes/performance.md). Passes, each over the engine's `m_lines` and `m_parc` tables:

- keys: a CPF/CNPJ or document number printed in the memo equals one of the parcela's;
- exact: same direction and amount, due date in the one-sided window, joined on
  (direction, amount, week) with the line probing every week the window touches. A block
  (direction, amount, week) with more than `hot_block` parcelas (twenty R$ 99,90 plans due
  the same week) is reached only through the name's block token: without a name such a
  line cannot be told apart anyway, and joining it would cost O(block) per line;
- band: the amount within a few percent (late fees, discounts, rounding), for lines the
  exact pass left without a confident match: where the late/discount arithmetic could
  explain the amount, joined on (direction, amount key, 14-day bin), or the name token
  or a key is shared. A line the arithmetic explains on more than `hot_block` parcelas
  (R$ 101,93: R$ 99,90 plus multa and a day's juros, for every plan due that day) is
  left to its name token and keys, as in the exact pass;
- partial: the line pays less than the parcela (a partial payment or half of a split),
  joined on (direction, name block token, 14-day bin): only a name can propose those.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from matchers.arithmetic import COMPENSATION_DAYS, ROUNDING_SLACK_CENTS, LateTerms

BIN_DAYS = 14


@dataclass(frozen=True, slots=True)
class Blocking:
    late_days: int = 60  # a line may be this many days after the due date
    early_days: int = 10  # or this many before it
    band_pct: float = 5.0  # amount band of the band pass, either way
    hot_block: int = 20  # parcelas per (amount, week) block before a name is required
    max_key_parcelas: int = 200  # a key on more parcelas than this is boilerplate, not a key
    max_key_lines: int = 50  # a number printed on more lines than this is boilerplate too
    max_candidates: int = 25  # per line, best weights kept


def _lag_filter(b: Blocking, line: str = "l", parcela: str = "p") -> str:
    return f"{line}.day - {parcela}.due BETWEEN {-int(b.early_days)} AND {int(b.late_days)}"


def _probe_bins(b: Blocking, width: int, alias: str = "bin") -> str:
    """The due-date bins a line's window touches, as an unnest over a range."""
    return (f"unnest(range((day - {int(b.late_days)}) // {width}, "
            f"(day + {int(b.early_days)}) // {width} + 1)) AS {alias}")


def key_pass_sql(b: Blocking) -> str:
    return f"""
        WITH lk AS (SELECT lid, dir, day, unnest(keys) AS k FROM m_lines),
             pk AS (SELECT pid, dir, due, unnest(keys) AS k FROM m_parc),
             usable AS (
                 SELECT k FROM pk GROUP BY k HAVING count(*) <= {int(b.max_key_parcelas)}
                 INTERSECT
                 SELECT k FROM lk GROUP BY k HAVING count(*) <= {int(b.max_key_lines)})
        SELECT DISTINCT l.lid, p.pid, 'key' AS pass
        FROM lk l JOIN pk p ON p.dir = l.dir AND p.k = l.k
        WHERE l.k IN (SELECT k FROM usable) AND {_lag_filter(b)}"""


def exact_pass_sql(b: Blocking) -> str:
    hot = int(b.hot_block)
    return f"""
        WITH blocks AS (
                 SELECT pid, dir, open, due, btok, due // 7 AS week,
                        count(*) OVER (PARTITION BY dir, open, due // 7) > {hot} AS hot
                 FROM m_parc),
             probes AS (SELECT lid, dir, amt, day, btok, {_probe_bins(b, 7, 'week')} FROM m_lines)
        SELECT l.lid, p.pid, 'exact' AS pass
        FROM probes l JOIN blocks p
          ON p.dir = l.dir AND p.open = l.amt AND p.week = l.week AND NOT p.hot
        WHERE {_lag_filter(b)}
        UNION ALL
        SELECT l.lid, p.pid, 'exact_named' AS pass
        FROM probes l JOIN blocks p
          ON p.dir = l.dir AND p.open = l.amt AND p.week = l.week AND p.hot AND p.btok = l.btok
        WHERE {_lag_filter(b)} AND l.btok <> ''"""


def _band_bp(b: Blocking) -> int:
    """The band in basis points: money is compared in integers, never float."""
    return round(b.band_pct * 100)


def band_pass_sql(b: Blocking, residue: str, terms: LateTerms) -> str:
    """Lines in `residue` (a table of lids) against parcelas within band_pct of their amount,
    where something could explain the difference or vouch for the payer: an amount the
    late/discount arithmetic might give, the same name token, or a shared key. A different
    payer at a nearby amount could never be proposed, and such pairs were 97 % of the band
    (168 per residue line in a dense ledger). The engine checks the evidence exactly.

    Each reason is its own equi-join, reaching only where it can hold: charges only on a
    parcela due before the line and below its amount, through the few keys of the amount
    less its juros the arithmetic could reach (_amount_key; on 1 % amount buckets a line
    met every parcela up to 5 % below it, and the filter threw away 98 % of those rows);
    a discount only on one due on or after the line's day, through the few keys of the
    amounts each discount rate could have been taken from (_discount_probes; on 1 % amount
    buckets a line met every parcela up to 5 % above it, 108M rows for 457k lines of a
    dense 1M ledger, of which 3 % were a discount). A pair found by two reasons comes twice
    (the engine drops repeats)."""
    probes = _charge_probes(b, terms)
    # Discounts probe the keys of rate 0 (the plain log amount): one more column only when
    # no charge uses that rate.
    name = {rate: f"key_{i}" for i, rate in enumerate(sorted({*probes, 0}))}
    keys = "".join(f", {_amount_key(rate, 'open', 'due')} AS {key}" for rate, key in name.items())
    key_names = "".join(f", {key}" for key in name.values())
    band = f"abs(l.amt - p.open) * 10000 <= p.open * {_band_bp(b)}"
    late = " UNION ALL ".join(
        f"""SELECT l.lid, {_GROUP}, {_DIFFERENCE}
            FROM ({sql}) l JOIN cool_{name[rate]} p
              ON p.dir = l.dir AND p.{name[rate]} = l.key AND p.bin = l.bin
            WHERE {_lag_filter(b)} AND l.amt > p.open AND {band}"""
        for rate, sql in probes.items())
    early_bins = (f"unnest(range(day // {BIN_DAYS}, (day + {int(b.early_days)}) // {BIN_DAYS} + 1))"
                  " AS bin")
    # The parcelas the arithmetic's joins reach: not those of a block (one amount key, one
    # fortnight) holding more than HOT_KEY_BLOCKS times hot_block of them. A line reaching
    # such a block is crowded (the hot rule below) whatever else it reaches, and pairing it
    # with the whole block was 85 % of the dense 1M ledger's band rows, all thrown away.
    cap = int(b.hot_block) * HOT_KEY_BLOCKS
    # The few such blocks, then the parcelas outside them (a window count over every
    # parcela cost 0.5 s per key column at 1M, where no block is that large).
    cool = "".join(
        f"""cool_{key} AS (SELECT p.* FROM groups p ANTI JOIN (
                 SELECT dir, {key} AS key, bin FROM groups GROUP BY ALL HAVING sum(n) > {cap}
             ) h ON h.dir = p.dir AND h.key = p.{key} AND h.bin = p.bin),
             """ for key in name.values())
    return f"""
        WITH parc AS (SELECT pid, dir, open, due, btok, due // {BIN_DAYS} AS bin{keys}
                      FROM m_parc),
             -- The arithmetic reads a parcela's amount and due day only: the joins pair
             -- lines with each (direction, amount, due day) once, however many parcelas
             -- share it (1.45 a group at dense 1M, 2.3 among round amounts), and the
             -- explained groups are expanded to their parcelas for uncrowded lines only.
             groups AS (SELECT dir, open, due, bin{key_names}, count(*) AS n
                        FROM parc GROUP BY ALL),
             residue AS (SELECT * FROM m_lines WHERE lid IN (SELECT lid FROM {residue})),
             {cool}
             late AS ({late}),
             above AS ({_discount_probes(b, terms)}),
             -- a second unnest in the same SELECT would zip with the first, not multiply
             early_probes AS (SELECT *, {early_bins} FROM above),
             early AS (
                 SELECT l.lid, {_GROUP}, {_DIFFERENCE}
                 FROM early_probes l JOIN cool_{name[0]} p
                   ON p.dir = l.dir AND p.{name[0]} = l.key AND p.bin = l.bin
                 WHERE {_lag_filter(b)} AND l.amt < p.open AND {band}),
             explained_groups AS (
                 SELECT DISTINCT lid, dir, open, due, n
                 FROM (SELECT * FROM late UNION ALL SELECT * FROM early)
                 WHERE {_explainable(terms)}),
             -- The exact pass's hot-block rule: a line whose amount the arithmetic could
             -- explain on more than hot_block parcelas is left to its name and keys.
             crowded AS (SELECT lid FROM explained_groups GROUP BY lid
                         HAVING sum(n) > {int(b.hot_block)}),
             -- crowded lines' groups dropped before they are expanded to parcelas
             explained AS (
                 SELECT e.lid, p.pid
                 FROM (SELECT * FROM explained_groups ANTI JOIN crowded USING (lid)) e
                 JOIN parc p ON p.dir = e.dir AND p.open = e.open AND p.due = e.due),
             named_probes AS (SELECT lid, dir, amt, day, btok, {_probe_bins(b, BIN_DAYS)}
                              FROM residue WHERE btok <> ''),
             line_keys AS (SELECT lid, dir, amt, day, unnest(keys) AS k FROM residue),
             key_probes AS (SELECT *, {_probe_bins(b, BIN_DAYS)} FROM line_keys),
             parc_keys AS (SELECT pid, dir, open, due, due // {BIN_DAYS} AS bin,
                                  unnest(keys) AS k FROM m_parc)
        SELECT lid, pid, 'band' AS pass FROM explained
        UNION ALL
        SELECT l.lid, p.pid, 'band' AS pass
        FROM named_probes l JOIN parc p ON p.dir = l.dir AND p.btok = l.btok AND p.bin = l.bin
        WHERE {_lag_filter(b)} AND l.amt <> p.open AND {band}
        UNION ALL
        SELECT DISTINCT l.lid, p.pid, 'band' AS pass
        FROM key_probes l JOIN parc_keys p ON p.dir = l.dir AND p.k = l.k AND p.bin = l.bin
        WHERE {_lag_filter(b)} AND l.amt <> p.open AND {band}"""


def _charge_probes(b: Blocking, terms: LateTerms) -> dict[int, str]:
    """Per juros rate of the charges _explainable lets through, the rows (lid, dir, amt,
    day, key, bin) of `residue` probing the parcelas' _amount_key of that rate: the keys
    each charge of the rate could reach (_key_probes), in the bins of the late days.

    For lag >= 1 (see _amount_key), multa - rate * min(lag, fewest) / 30 - curve <= D
    (less the margin) and D <= multa - rate * most / 30 (plus the margin); whatever the
    margin, D lies where 0 < bp <= band and 1 <= lag <= late_days put it."""
    fewest, most = max(COMPENSATION_DAYS), min(COMPENSATION_DAYS)
    curve, band = _curve_bp(b), _band_bp(b)
    late_bins = (f"unnest(range((day - {int(b.late_days)}) // {BIN_DAYS}, "
                 f"(day - 1) // {BIN_DAYS} + 1)) AS bin")
    charges = sorted({(terms.multa_bp, terms.juros_month_bp), (terms.multa_bp, 0),
                      (0, terms.juros_month_bp)})
    probes = {}
    for rate in sorted({rate for _, rate in charges}):
        spans = [(multa + min(-rate * t / 30 for t in range(fewest + 1)) - curve,
                  multa - rate * most / 30) for multa, of_rate in charges if of_rate == rate]
        juros = (-rate / 30, -rate * b.late_days / 30)  # at the fewest and most days late
        probes[rate] = _key_probes(b, rate, spans, late_bins,
                                   (min(juros) - curve, max(juros) + band))
    return probes


def _discount_probes(b: Blocking, terms: LateTerms) -> str:
    """Rows (lid, dir, amt, day, key) of `residue`: per discount rate, the keys of rate 0
    (_amount_key: the plain log amount) of the open amounts that rate could have been
    taken from.

    _explainable lets a discount through where bp (the difference in basis points of the
    open amount, negative) is within `margin` of -rate, and the band keeps bp >= -band.
    The open amount is amt / (1 + bp / 10000), so its key lies between those of the two
    ends of bp's range. The margin is its centavos over the open amount, which exceeds
    the paid one: over `amt` it is larger, so no pair _explainable accepts is missed.

    Both ends grow with the rate, so where two rates' keys overlap (small amounts: wide
    margins) the higher rate starts after the lower one's last key: each key is probed
    once without a DISTINCT over millions of probe rows (5 s at 1M lines)."""
    rates = sorted(set(terms.discount_bp))
    if not rates:
        return "SELECT lid, dir, amt, day, 0 AS key FROM residue WHERE false"
    band, margin = _band_bp(b), f"{_EXPLAIN_MARGIN_CENTS * 10_000} / CAST(amt AS DOUBLE)"

    def key(bp: str, slack: float) -> str:
        return _key_bucket(f"{_log_amount(0, 'amt', 'day')} - 10000 * ln(1 + {bp} / 10000)"
                           f" + {slack}")

    first = {r: key(f"least({-r} + {margin}, 0)", -FLOAT_SLACK_BP) for r in rates}
    last = {r: key(f"greatest({-r} - {margin}, {-band})", FLOAT_SLACK_BP) for r in rates}
    starts = [first[rates[0]]] + [f"greatest({first[r]}, {last[before]} + 1)"
                                  for before, r in pairwise(rates)]
    return " UNION ALL ".join(
        f"SELECT lid, dir, amt, day, unnest(range({start}, {last[r]} + 1)) AS key"
        f" FROM residue" for start, r in zip(starts, rates, strict=True))


# Centavos explain may be off from the exact rates: its slack, and a half centavo for each
# of the two roundings; one more for float error.
_EXPLAIN_MARGIN_CENTS = 2 * ROUNDING_SLACK_CENTS + 2
# What the band's late and early joins keep of a parcela group (see band_pass_sql).
_GROUP = "p.dir, p.open, p.due, p.n"
# A pair's lag, bp (the paid amount's difference in basis points of the open amount) and
# the margin in bp _explainable allows it: what the band's late and early joins select.
_DIFFERENCE = (f"l.day - p.due AS lag, CAST(l.amt - p.open AS DOUBLE) * 10000 / p.open AS bp, "
               f"{_EXPLAIN_MARGIN_CENTS * 10_000} / CAST(p.open AS DOUBLE) AS margin")
# Width of an amount key's bucket (_amount_key), in basis points. A charge's span of keys
# is about 30 bp wide; a 50 bp bucket also let in every parcela of the line's own amount
# due within a fortnight (juros-only probes sit near D = 0): 118M of a dense 1M ledger's
# 280M joined rows, all thrown away. At 10 bp a line probes a few more keys and the join
# emits a fraction of the rows; the pairs are the same at any width.
KEY_BUCKET_BP = 10
# A band block (amount key, fortnight) of more than this many times hot_block parcelas is
# not paired with the lines reaching it (band_pass_sql): past hot_block they are crowded.
HOT_KEY_BLOCKS = 10
FLOAT_SLACK_BP = 0.001  # far more than the float error of keys of about 10^5


def _amount_key(rate: int, amount: str, day: str) -> str:
    """10000 ln(amount) - rate * day / 30 (the amount in basis points of its log, less the
    juros `rate` a month would add by `day`), in buckets of KEY_BUCKET_BP.

    For a line and a parcela, D = the line's key less the parcela's (unbucketed) is
    10000 ln(1 + bp / 10000) - rate * lag / 30, with bp and lag as in _explainable. A
    payment carrying multa plus that juros has D near the multa whatever its days late: a
    line reaches the parcelas its arithmetic could explain through a few keys, not every
    parcela a few percent below it."""
    return _key_bucket(_log_amount(rate, amount, day))


def _log_amount(rate: int, amount: str, day: str) -> str:
    """_amount_key before bucketing."""
    return f"(10000 * ln({amount}) - {int(rate)} * {day} / 30.0)"


def _key_bucket(value: str) -> str:
    return f"CAST(floor(({value}) / {KEY_BUCKET_BP}) AS BIGINT)"


def _curve_bp(b: Blocking) -> float:
    """How far 10000 ln(1 + bp / 10000) may fall below bp within the band: for |x| <= band,
    x - x^2 / (2 (1 - band)) <= ln(1 + x) <= x."""
    band = _band_bp(b)
    return band * band / (20_000 * (1 - band / 10_000))


def _key_probes(b: Blocking, rate: int, spans: list[tuple[float, float]], bins: str,
                bounds: tuple[float, float]) -> str:
    """Rows (lid, dir, amt, day, key, bin) of `residue`: the parcela keys (_amount_key with
    `rate`) a line reaches when D lies within a span (low, high) widened by the margin
    _explainable allows, and within `bounds` (where D lies whatever the margin: centavos of
    margin are most of a small amount's band), in the bins of `bins`. The margin is at
    most its centavos over the least open amount the band allows; keys two spans share
    are probed once."""
    margin = f"{_EXPLAIN_MARGIN_CENTS * 10_000} * {1 + _band_bp(b) / 10_000} / amt"
    line = _log_amount(rate, "amt", "day")
    least, most = bounds

    def key(d: str, slack: float) -> str:
        return _key_bucket(f"{line} - {d} + {slack}")

    ranges = " UNION ALL ".join(
        f"""SELECT lid, dir, amt, day, unnest(range(
                       {key(f"least({high} + {margin}, {most})", -FLOAT_SLACK_BP)},
                       {key(f"greatest({low} - {margin}, {least})", FLOAT_SLACK_BP)} + 1)) AS key
            FROM residue""" for low, high in spans)
    # a second unnest in the same SELECT would zip with the first, not multiply
    return f"SELECT *, {bins} FROM (SELECT DISTINCT * FROM ({ranges}))"


def _explainable(terms: LateTerms) -> str:
    """Over `band`'s columns (bp: the difference in basis points of the open amount), the
    amounts matchers.arithmetic.explain might explain, as a few comparisons that let
    through everything it would accept: per charge variant, the multa plus the juros of the
    fewest to the most days tried; per discount rate, that rate. Within `margin` (the
    centavos of rounding explain allows, in basis points)."""
    fewest, most = max(COMPENSATION_DAYS), min(COMPENSATION_DAYS)
    charges = [f"bp BETWEEN {int(m)} + {int(j)} * greatest(lag - {fewest}, 0) / 30.0 - margin"
               f" AND {int(m)} + {int(j)} * (lag - {most}) / 30.0 + margin"
               for m, j in ((terms.multa_bp, terms.juros_month_bp), (terms.multa_bp, 0),
                            (0, terms.juros_month_bp))]
    discounts = [f"abs(bp + {int(rate)}) <= margin" for rate in terms.discount_bp] or ["false"]
    return (f"(lag >= 1 AND bp > 0 AND ({' OR '.join(charges)}))"
            f" OR (lag <= 0 AND bp < 0 AND ({' OR '.join(discounts)}))")


def partial_pass_sql(b: Blocking, residue: str) -> str:
    """Lines in `residue` paying less than a parcela of a contact their memo names."""
    return f"""
        WITH parc AS (SELECT pid, dir, open, due, btok, due // {BIN_DAYS} AS bin
                      FROM m_parc WHERE btok <> ''),
             probes AS (SELECT lid, dir, amt, day, btok, {_probe_bins(b, BIN_DAYS)}
                        FROM m_lines WHERE btok <> '' AND lid IN (SELECT lid FROM {residue}))
        SELECT l.lid, p.pid, 'partial' AS pass
        FROM probes l JOIN parc p ON p.dir = l.dir AND p.btok = l.btok AND p.bin = l.bin
        WHERE {_lag_filter(b)} AND l.amt * 10000 < p.open * {10_000 - _band_bp(b)}"""


ALIAS_MIN_WORDS = 2


def aliases_sql() -> str:
    """Memo counterparts confirmed for a contact: our settled baixas and the pairs people
    approved in the review queue. Learned, never configured."""
    return f"""
        SELECT counterpart, any_value(contact_id) AS contact_id FROM (
        SELECT l.counterpart, p.contact_id
        FROM settlements s
        JOIN statement_lines l USING (line_key)
        JOIN parcelas p ON p.parcela_id = s.parcela_id AND p.run_id = s.run_id
        WHERE s.state IN ('confirmed', 'annotated')
          AND coalesce(l.counterpart, '') <> '' AND p.contact_id IS NOT NULL
        UNION
        SELECT l.counterpart, p.contact_id
        FROM pair_verdicts v  -- approved, and not undone or rejected since
        JOIN statement_lines l USING (line_key)
        JOIN parcelas p ON p.parcela_id = v.parcela_id AND p.run_id = v.run_id
        WHERE v.verdict = 'approve'
          AND coalesce(l.counterpart, '') <> '' AND p.contact_id IS NOT NULL)
        GROUP BY counterpart
        -- An alias must name one contact only, and look like a name: a memo word such as
        -- ASSINATURA, approved once, must not vouch for that contact's next R$ 99,90.
        HAVING count(DISTINCT contact_id) = 1
           AND len(regexp_extract_all(counterpart, '[A-Z]{{2,}}')) >= {ALIAS_MIN_WORDS}"""


def rejected_pairs_sql() -> str:
    """Pairs of this run a person rejected (their latest verdict): never proposed again."""
    return """
        SELECT l.lid, p.pid
        FROM pair_verdicts v
        JOIN m_lines l USING (line_key) JOIN m_parc p USING (parcela_id)
        WHERE v.verdict = 'reject'"""


def shared_key_codes_sql() -> str:
    """Keys a pair can share, numbered: a valid CPF/CNPJ ('doc:') or another number ('num:')
    printed on some line and on some parcela (a key on one side only is shared by no pair).
    Which pairs share one is found by the engine over the pairs' ids (engine.KeyIndex):
    joining every pair with the keys of both sides in SQL cost a pass over all pairs."""
    return """
        SELECT k, (row_number() OVER () - 1)::BIGINT AS code, k LIKE 'doc:%' AS document
        FROM (SELECT unnest(keys) AS k FROM m_lines
              INTERSECT
              SELECT unnest(keys) AS k FROM m_parc)
        WHERE k LIKE 'doc:%' OR k LIKE 'num:%'"""


def key_codes_sql(side: str, codes: str) -> str:
    """(id, code) of every key in `codes` printed on the rows of `side` (m_lines by lid,
    m_parc by pid)."""
    row = "lid" if side == "m_lines" else "pid"
    return f"""
        SELECT s.{row} AS id, c.code
        FROM (SELECT {row}, unnest(keys) AS k FROM {side}) s JOIN {codes} c USING (k)"""
