"""Boleto batch credits split by the bank's own cobrança retorno.

Many banks credit a day's liquidated boletos as one amount ("líquido de cobrança"), net of
a tariff per title. From amounts and dates alone a dense ledger's batch has thousands of
subsets that fit (BENCHMARKS.md, batch ceiling); the retorno (CNAB 240 segments T/U) says
which titles were paid, with each one's due date, face value, payer, interest, tariff and
net. So: the titles credited on a day to an account add up, to the centavo, to one credit
line of that day (net of tariffs, or gross where the bank debits tariffs apart), and each
title is the open receivable due that day for that face value of the payer it names.

A line the statement calls a cobrança credit, whose every title is pinned to one parcela
by the payer's CPF/CNPJ or full name, whose figures add up, and none of whose parcelas an
automatic decision holds, settles automatically: the bank itself lists what it paid.
Anything less (a title found by amount and date only, or not at all, a parcela held
elsewhere, figures that do not add up) goes to a person with what was found. Banks that
credit each boleto apart are paired title by title (`_one_by_one`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matchers.batch_text import says_cobranca
from matchers.decide import ALLOCATION_COLUMNS, Outcome, decision_frame, is_in, rows_of_lines
from matchers.normalize import clean_names, document_keys
from recon.money import format_brl

# The columns `retorno_titles` gives a run (dates as day numbers), see engine.retorno_inputs.
TITLE_COLUMNS = ["file", "source_line", "conta", "nosso_numero", "due", "face_cents",
                 "payer_document", "payer_name", "fee_cents", "interest_cents",
                 "discount_cents", "rebate_cents", "paid_cents", "net_cents", "occurred",
                 "credited"]
# How a title was tied to its parcela, strongest first; the first two name the payer.
BY_DOCUMENT, BY_NAME, BY_AMOUNT_DATE = "document", "name", "amount_date"
NAMED = (BY_DOCUMENT, BY_NAME)


def retorno_decisions(outcome: Outcome, lines: pd.DataFrame, parcelas: pd.DataFrame,
                      titles: pd.DataFrame) -> tuple[Outcome, pd.DataFrame]:
    """The run's decisions with every credit line a retorno explains decided anew (`auto`
    with one allocation per title when all of it is certain, `review` otherwise), and what
    became of each title (RESULT_COLUMNS): the ones no credit or no parcela was found for
    are the report's to show."""
    if titles.empty:
        return outcome, _results(titles.assign(title=0, line_key=None, parcela_id=None))
    titles = titles.reset_index(drop=True).assign(title=lambda t: np.arange(len(t)))
    everything = titles
    sums = _sums(titles)
    credits = _open_credits(lines, outcome, titles, sums)
    paired = _credit_lines(sums, credits)
    grouped = pd.concat([titles.merge(paired[paired["file"] != WHOLE_DAY], on=KEY),
                         titles.merge(paired[paired["file"] == WHOLE_DAY].drop(columns="file"),
                                      on=KEY[:2])], ignore_index=True)
    alone = _one_by_one(titles[~titles["title"].isin(grouped["title"])],
                        credits[~credits["line_key"].isin(grouped["line_key"])])
    titles = pd.concat([grouped, alone], ignore_index=True)
    if titles.empty:
        return outcome, _results(everything.assign(line_key=None, parcela_id=None))
    # Titles are found among every open receivable, then those another decision holds are
    # let go: found among the rest only, a title whose parcela is held would take its
    # twin (the same payer's other boleto of that day and value) instead.
    links = title_parcelas(titles, parcelas[(parcelas["dir"] == 0).to_numpy()])
    links, overruled = _against_held(links, outcome, titles["line_key"])
    titles = titles.merge(links, on="title", how="left")
    decisions, allocations = _decided(titles)
    results = _results(everything.merge(titles[["title", "line_key", "parcela_id"]],
                                        on="title", how="left"))
    return (outcome.replacing(pd.concat([decisions, overruled], ignore_index=True),
                              allocations), results)


RESULT_COLUMNS = ["conta", "file", "source_line", "nosso_numero", "due", "face_cents",
                  "payer_name", "paid_cents", "net_cents", "credited", "line_key",
                  "parcela_id", "status"]
MATCHED, NO_CREDIT, NO_PARCELA = "matched", "no_credit", "no_parcela"


def _results(titles: pd.DataFrame) -> pd.DataFrame:
    """Per title: the credit line it was found in and the parcela it was tied to, if any,
    and so its status."""
    line, parcela = titles["line_key"].notna(), titles["parcela_id"].notna()
    status = np.select([line & parcela, line], [MATCHED, NO_PARCELA], NO_CREDIT)
    return titles.assign(status=status)[RESULT_COLUMNS].reset_index(drop=True)


def _against_held(links: pd.DataFrame, outcome: Outcome, links_lines: pd.Series
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The links no other decision stands against, and the decisions they overrule. An
    automatic decision holding the parcela wins: the title is let go. A proposal for
    review loses to a title the retorno names by its payer (the bank says the boleto paid
    it; the proposal was unsure by definition): that line is left unmatched, saying why.
    `links_lines`: the lines the retorno pairs, decided anew anyway."""
    allocated = outcome.allocations[["line_key", "parcela_id"]].merge(
        outcome.decisions[["line_key", "decision"]], on="line_key")
    by_auto = is_in(links["parcela_id"], allocated.loc[allocated["decision"] == "auto",
                                                       "parcela_id"])
    proposed = allocated[allocated["decision"] == "review"]
    wins = links["by"].isin(NAMED).to_numpy() & ~by_auto
    keep = ~by_auto & (wins | ~is_in(links["parcela_id"], proposed["parcela_id"]))
    taken = links.loc[wins & keep, "parcela_id"]
    losers = proposed[is_in(proposed["parcela_id"], taken)
                      & ~is_in(proposed["line_key"], links_lines)].drop_duplicates("line_key")
    kept = links[keep]
    overruled = decision_frame(
        losers["line_key"].to_numpy(object), "unmatched", "candidates_taken",
        detail=[f"parcela {p} is a boleto the bank's cobrança retorno says it liquidated"
                for p in losers["parcela_id"]])
    return kept, overruled


KEY = ["conta", "credited", "file"]
WHOLE_DAY = ""  # `file` of a group of every file of an account's day


def _sums(titles: pd.DataFrame) -> pd.DataFrame:
    """Per account, credit day and file, and per account and day (file WHOLE_DAY): the
    titles' net and gross sums. A bank credits each retorno's titles (one per day and
    convênio) as one amount, or a day's as one."""
    files = titles.groupby(KEY, as_index=False, sort=True).agg(
        net=("net_cents", "sum"), paid=("paid_cents", "sum"))
    days = titles.groupby(KEY[:2], as_index=False, sort=True).agg(
        net=("net_cents", "sum"), paid=("paid_cents", "sum"), files=("file", "nunique"))
    return pd.concat([files, days[days["files"] > 1].drop(columns="files").assign(
        file=WHOLE_DAY)], ignore_index=True)


def _open_credits(lines: pd.DataFrame, outcome: Outcome, titles: pd.DataFrame,
                  sums: pd.DataFrame) -> pd.DataFrame:
    """(line_key, conta, credited, amt, says_cobranca) of the run's credits no automatic
    decision took whose amount some title, or some sum of titles, could be."""
    decided = outcome.decisions["decision"].to_numpy()[rows_of_lines(outcome.decisions, lines)]
    amounts = np.union1d(np.union1d(sums["net"].to_numpy(), sums["paid"].to_numpy()),
                         np.union1d(titles["net_cents"].to_numpy(), titles["paid_cents"]))
    open_lines = lines[(lines["dir"] == 0).to_numpy() & (decided != "auto")
                       & np.isin(lines["amt"].to_numpy(), amounts)]
    return pd.DataFrame({"line_key": open_lines["line_key"].to_numpy(object),
                         "conta": open_lines["conta"].to_numpy(object),
                         "credited": open_lines["day"].to_numpy(np.int64),
                         "amt": open_lines["amt"].to_numpy(np.int64),
                         "says_cobranca": says_cobranca(open_lines["memo"])})


def _credit_lines(sums: pd.DataFrame, credit: pd.DataFrame) -> pd.DataFrame:
    """(conta, credited, file, line_key, gross, says_cobranca) for each retorno group one
    open credit of its account and day equals, net of tariffs or gross (tariffs debited
    apart). A group two lines could be, or a line two groups could be, is left to the other
    passes; so is a day whose files are credited one by one, as a whole."""
    fits = pd.concat([
        sums.merge(credit, left_on=["conta", "credited", "net"],
                   right_on=["conta", "credited", "amt"]).assign(gross=False),
        sums.merge(credit, left_on=["conta", "credited", "paid"],
                   right_on=["conta", "credited", "amt"]).assign(gross=True)])
    fits = fits.drop_duplicates([*KEY, "line_key"])  # net == paid: no tariff
    one = (fits.groupby(KEY)["line_key"].transform("size") == 1) & (
        fits.groupby("line_key")["file"].transform("size") == 1)
    fits = fits[one.to_numpy()]
    by_file = (fits["file"] != WHOLE_DAY).to_numpy()
    days = pd.MultiIndex.from_frame(fits[KEY[:2]])
    day_of_a_file = days.isin(days[by_file])
    return fits.loc[by_file | ~day_of_a_file, [*KEY, "line_key", "gross", "says_cobranca"]]


def _one_by_one(titles: pd.DataFrame, credit: pd.DataFrame) -> pd.DataFrame:
    """Titles credited one by one (BB credits each boleto gross, 'COBRANCA', and debits
    its tariff apart): the titles of an account, day and amount paid (or net) with as many
    open credits of that account, day and amount, each title with one of them. Which of k
    equal credits pays which of k equal titles no one can tell, and nothing depends on it:
    each baixa has the same amount, date and account. Counts that differ (a PIX of the
    same amount that day) pair none of them. Only credits the statement calls a cobrança
    take part: one title's amount is common enough that a PIX may equal it."""
    out, key = [], ["conta", "credited", "amt"]
    credit = credit[credit["says_cobranca"].to_numpy(bool)]
    for column, gross in (("paid_cents", True), ("net_cents", False)):
        if titles.empty or credit.empty:
            break
        mine = titles.assign(amt=titles[column]).sort_values(["title"])
        theirs = credit.sort_values("line_key")
        counts = mine.groupby(key).size().rename("titles").reset_index().merge(
            theirs.groupby(key).size().rename("lines").reset_index(), on=key)
        even = counts.loc[counts["titles"] == counts["lines"], key]
        mine, theirs = mine.merge(even, on=key), theirs.merge(even, on=key)
        mine["nth"], theirs["nth"] = mine.groupby(key).cumcount(), theirs.groupby(key).cumcount()
        pairs = mine.merge(theirs[[*key, "nth", "line_key", "says_cobranca"]], on=[*key, "nth"])
        out.append(pairs.drop(columns=["amt", "nth"]).assign(gross=gross))
        titles = titles[~titles["title"].isin(pairs["title"])]
        credit = credit[~credit["line_key"].isin(pairs["line_key"])]
    return pd.concat(out, ignore_index=True) if out else titles.iloc[:0]


def title_parcelas(titles: pd.DataFrame, parcelas: pd.DataFrame) -> pd.DataFrame:
    """(title, pid, parcela_id, by): each title's open receivable, due on its due date for
    its face value, found by the payer's CPF/CNPJ, else by the payer's full name, else as
    the only such parcela of anyone (never one whose contact has another document). Titles
    with none, or with two equally found, are left out."""
    wanted = titles[["title", "due", "face_cents", "payer_document", "payer_name"]].assign(
        doc=lambda t: document_keys(t["payer_document"].tolist()),
        name=lambda t: np.asarray(clean_names(t["payer_name"].tolist()).to_pylist(), object))
    # Only parcelas of a due day and value some title has: strings of the few, not of all.
    parcelas = parcelas[np.isin(_day_and_value(parcelas["due"], parcelas["open"]),
                                _day_and_value(titles["due"], titles["face_cents"]))]
    pool = pd.DataFrame({"pid": parcelas["pid"].to_numpy(), "parcela_id": parcelas[
        "parcela_id"].to_numpy(object), "due": parcelas["due"].to_numpy(np.int64),
        "face_cents": parcelas["open"].to_numpy(np.int64),
        "pdoc": parcelas["document"].to_numpy(object), "pname": parcelas["name"].to_numpy(
            object)})
    block = wanted.merge(pool, on=["due", "face_cents"])
    other_document = block["doc"].notna() & block["pdoc"].notna() & (block["doc"] != block["pdoc"])
    block = block[~other_document.to_numpy()]
    by = np.select([block["doc"].notna() & (block["doc"] == block["pdoc"]),
                    (block["name"] != "") & (block["name"] == block["pname"])],
                   [BY_DOCUMENT, BY_NAME], BY_AMOUNT_DATE)
    block = block.assign(by=by, rank=pd.Categorical(by, [*NAMED, BY_AMOUNT_DATE]).codes)
    best = block[block["rank"] == block.groupby("title")["rank"].transform("min")]
    unique = best.groupby("title")["pid"].transform("size") == 1
    found = best[unique.to_numpy()]
    # A parcela two titles point at is neither's: the retorno or the ledger holds a repeat.
    found = found[found.groupby("pid")["title"].transform("size").to_numpy() == 1]
    return found[["title", "pid", "parcela_id", "by"]]


def _day_and_value(day: pd.Series, cents: pd.Series) -> np.ndarray:
    """One integer per (day number, centavos): days since 1970 fit in 20 bits, and any
    amount below R$ 10^10 in the 43 bits left."""
    return (day.to_numpy(np.int64) << 43) | cents.to_numpy(np.int64)


def _decided(titles: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One decision per paired line and one allocation per title tied to a parcela."""
    adds_up = titles["paid_cents"] == (titles["face_cents"] + titles["interest_cents"]
                                       - titles["discount_cents"] - titles["rebate_cents"])
    titles = titles.assign(
        adds_up=adds_up.to_numpy() & (titles["net_cents"] <= titles["paid_cents"]).to_numpy(),
        named=titles["by"].isin(NAMED).to_numpy())
    per_line = titles.groupby("line_key", sort=True).agg(
        titles=("title", "size"), named=("named", "sum"), found=("pid", "count"),
        adds_up=("adds_up", "all"), first=("parcela_id", "first"), file=("file", "first"),
        paid=("paid_cents", "sum"), net=("net_cents", "sum"), gross=("gross", "first"),
        says_cobranca=("says_cobranca", "first"))
    certain = ((per_line["named"] == per_line["titles"]) & per_line["adds_up"]
               & per_line["says_cobranca"]).to_numpy()
    keys = per_line.index.to_numpy(object)
    decisions = decision_frame(
        keys, np.where(certain, "auto", "review"),
        np.where(certain, "retorno", "retorno_unsure"),
        parcela_id=per_line["first"].to_numpy(object), kind="retorno_batch",
        score=np.where(certain, 1.0, np.nan), detail=[
            _detail(row) for row in per_line.itertuples()])
    # Only a title whose parts add up has a baixa to propose: its parts are what is written.
    return decisions, _allocations(titles[titles["pid"].notna() & titles["adds_up"]])


def _detail(row) -> str:  # type: ignore[no-untyped-def]
    credited = "gross, tariffs debited apart" if row.gross else "net of tariffs"
    return (f"cobrança retorno {row.file}: {row.titles} titles paid {format_brl(row.paid)}, "
            f"credited {format_brl(row.paid if row.gross else row.net)} ({credited}); "
            f"{row.found} matched to open parcelas, {row.named} of them by the payer's "
            f"CPF/CNPJ or name" + ("" if row.adds_up else "; figures do not add up")
            + ("" if row.says_cobranca else "; the statement does not call it a cobrança"))


def _allocations(titles: pd.DataFrame) -> pd.DataFrame:
    """The baixa of each title: its face value as principal, the bank's interest and
    discount, and its tariff as `taxa` where the credit was net of it; the parts add up
    to what the line brought for it."""
    tariff = np.where(titles["gross"].to_numpy(bool), 0,
                      titles["paid_cents"].to_numpy() - titles["net_cents"].to_numpy())
    return pd.DataFrame({
        "line_key": titles["line_key"].to_numpy(object),
        "parcela_id": titles["parcela_id"].to_numpy(object), "kind": "retorno",
        "amount_cents": titles["paid_cents"].to_numpy() - tariff,
        "gross_cents": titles["face_cents"].to_numpy(),
        "multa_cents": 0, "juros_cents": titles["interest_cents"].to_numpy(),
        "desconto_cents": (titles["discount_cents"] + titles["rebate_cents"]).to_numpy(),
        "taxa_cents": tariff,
        "days_late": np.maximum(titles["occurred"].to_numpy() - titles["due"].to_numpy(), 0),
    })[ALLOCATION_COLUMNS]
