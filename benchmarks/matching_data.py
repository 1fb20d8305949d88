"""A seeded, labelled reconciliation workload: parcelas, bank lines and the truth between them.

Each kind of case a Brazilian company's statement brings is a known share of the bank lines,
with its ground truth: clean PIX/TED, plan subscriptions sharing amount and due day (named, or
with no name at all: `ambiguous`), weekly same-amount suppliers, multa and juros, early-payment
discounts, partial and split payments, boleto batches net of tariffs, card payouts net of MDR,
bank-only lines and unpaid parcelas. Vectorised, so 1M x 1M builds in seconds. Time it with:

    .venv/bin/python benchmarks/matching_data.py [--sizes 10000 100000 1000000] [--dense]
"""

from __future__ import annotations

import argparse
import resource
import string
import sys
import time
import unicodedata
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd

RUN_ID = "bench"
START = np.datetime64("2024-01-01", "D")
SPARSE_PER_YEAR = 10_000  # not dense: the span grows so the ledger keeps a 10k/year density
LINE_SHARES = {"clean": .41, "collision": .08, "ambiguous": .03, "weekly": .06, "late": .07,
               "discount": .03, "partial": .02, "split2": .04, "boleto_batch": .02,
               "card_payout": .02, "bank_only": .22}
# Kinds where a line pays one parcela that a careful person can name (not `ambiguous`).
ONE_TO_ONE_KINDS = ("clean", "collision", "weekly", "late", "discount", "partial", "split2")
BATCH_MEAN = {"boleto_batch": 4, "card_payout": 5}  # parcelas per batched line, on average
WEEKLY_SKIPPED = 0.10  # weeks a supplier goes unpaid: last week's parcela stays open, a trap
DECOY_SHARE = 0.02  # open parcelas at plan prices on subscription due days
MIN_UNPAID = 0.04
PLANS = np.array([4990, 7990, 9990, 12990, 14990, 19990, 29990, 49990])
PLAN_WEIGHTS = np.array([.08, .12, .45, .10, .10, .07, .05, .03])
PLAN_NAMES = np.array("Essencial Básico Plus Pro Premium Família Empresa Max".split(), object)
DUE_DAYS = (5, 10, 15, 20, 25)
LITERAL, NAMED, ANONYMOUS = 0, 1, 2  # how a line's memo is written

FIRST = ("João Maria José Ana Antônio Francisca Carlos Paulo Adriana Lucas Luiz Juliana Marcos "
         "Márcia Pedro Fernanda Rafael Patrícia Gabriel Aline Daniel Sandra Marcelo Camila Bruno "
         "Amanda Rodrigo Letícia Felipe Bianca Thiago Larissa Gustavo Vanessa Leonardo Bruna "
         "Mateus Jéssica André Natália Ricardo Renata Eduardo Cristina Fábio Tatiane Sérgio Luana "
         "Vinícius Beatriz Otávio Débora Caio Simone Heitor Lívia Samuel Raquel Igor Sônia").split()
SURNAMES = ("Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa Ribeiro "
            "Martins Carvalho Almeida Lopes Soares Fernandes Vieira Barbosa Rocha Dias Nascimento "
            "Andrade Moreira Nunes Marques Machado Mendes Freitas Cardoso Ramos Gonçalves Santana "
            "Teixeira Araújo Correia Pinto Cavalcanti Monteiro Moura Batista Campos Barros Duarte "
            "Farias Castro Azevedo Reis Brito").split()
TRADES = ("Padaria Comercial Distribuidora Transportes Construtora Farmácia Mercado Clínica "
          "Restaurante Papelaria Oficina Laboratório Academia Confecções Serviços Tecnologia "
          "Logística Gráfica Ótica Agropecuária").split()
SUFFIXES = ("Ltda", "ME", "EPP", "S.A.", "Eireli")

BANKS = ("341", "237", "001", "260")  # Itaú, Bradesco, Banco do Brasil, Nubank: account i % 4
# statements.md §6.1, per (bank, credit?). {up} is the name upper-cased without accents, {disp}
# as the ERP has it, {up:10} its first 10 characters (Itaú cuts PIX names and glues the date).
NAMED_MEMOS = {
    ("341", True): ["PIX TRANSF  {up:10}{ddmm}", "PIX QRS {up:10}{ddmm}", "TED 237.1234{up:13}"],
    ("341", False): ["SISPAG {up:18}", "PIX TRANSF  {up:10}{ddmm}"],
    ("237", True): ["Transfe Pix Rem: {disp} {ddmm}", "TED-TRANSF ELET DISPON REMET.{up}"],
    ("237", False): ["PAGTO ELETRON COBRANCA {up}", "TRANSF CC PARA CC PJ {up}"],
    ("001", True): ["Pix - Recebido - {ddmm} {hhmm} {up}",
                    "Pix - Recebido - {ddmm} {hhmm} {doc} {up}",
                    "Transferência recebida - {ddmm} 1234 56789-0 {up}"],
    ("001", False): ["Pix - Enviado - {ddmm} {hhmm} {disp}", "Pagamento de Boleto - {up}"],
    ("260", True): [("Transferência recebida pelo Pix - {up} - {doc} - ITAÚ UNIBANCO S.A. (0341) "
                     "Agência: 1500 Conta: 12345-6")],
    ("260", False): [("Transferência enviada pelo Pix - {up} - {doc} - BCO BRADESCO S.A. (0237) "
                      "Agência: 3381 Conta: 98765-4"), "Pagamento de boleto efetuado - {up}"]}
ANONYMOUS_MEMOS = {"341": ["TED 237.1234", "DOC D 237.1234"],
                   "237": ["DOC/TED INTERNET", "TRANSF FDOS DOC-E H BANK"],
                   "001": ["TED-CRÉDITO EM CONTA", "DOC CRÉDITO EM CONTA", "TRANSFERÊNCIA ON LINE"],
                   "260": ["Transferência Recebida"]}
# Banks or contracts that credit a day's boletos net of the tariff per title (§6.2; BB credits
# each gross and debits the fee apart, which is a clean 1:1 line plus a bank-only tarifa).
BOLETO_CREDIT = {"341": "CRED COBRANCA SIMPLES", "237": "LIQUIDO DE COBRANCA",
                 "001": "COB COMPE", "260": "Depósito Recebido por Boleto"}
BOLETO_TARIFF = np.array([150, 195, 250, 290, 350, 450])  # centavos per title, one per account
# Acquirer, MDR crédito and débito in basis points, memos (§6.3; {b} brand, {r} Rede's
# 4-letter brand). PagSeguro and Mercado Pago appear there by name only: the phrasing is ours.
ACQUIRERS = (("Cielo", 315, 149, "CIELO VDA CREDITO {b} CIELO SA", "CIELO VDA DEBITO {b} CIELO SA"),
             ("Rede", 305, 145, "REDE {r} CD0102737975", "REDE {r} DB0038957299"),
             ("Stone", 289, 139, "CART. CREDIT - Stone Pagamento - {b}",
              "CART. DEBIT - Stone Pagamento, {b}"),
             ("Getnet", 309, 159, "GETNET-{b}", "GETNET-{b} DEBITO"),
             ("PagSeguro", 319, 199, "PAGSEGURO VENDAS CREDITO {b}", "PAGSEGURO VENDAS DEBITO {b}"),
             ("Mercado Pago", 303, 199, "MERCADO PAGO LIBERACAO DE DINHEIRO",
              "MERCADO PAGO LIBERACAO DE DINHEIRO"))
BRANDS = (("Visa", "VISA", "VISA"), ("Mastercard", "MASTER", "MAST"), ("Elo", "ELO", "ELO "))
CARD_MEMOS = np.array([a[3 + debit].format(b=b[1], r=b[2]) for a in ACQUIRERS for debit in (0, 1)
                       for b in BRANDS], object)
CARD_SALES = np.array([f"Venda cartão {b[0]} {p} - {a[0]}" for a in ACQUIRERS
                       for p in ("crédito", "débito") for b in BRANDS], object)
MDR_BP = np.array([[a[1], a[2]] for a in ACQUIRERS])
BANK_ONLY = (  # bank ("" any), memo, sign, lowest and highest centavos: §6.4
    ("341", "TAR PACOTE ITAU DEZ 23", -1, 3_900, 12_900),
    ("341", "APL APLIC AUT MAIS", -1, 1e4, 5e6),
    ("341", "RES APLIC AUT MAIS", 1, 1e4, 5e6), ("341", "REND PAGO APLIC AUT MAIS", 1, 10, 20_000),
    ("237", "Pacote Servicos Padronizado Prioritarios", -1, 1_900, 8_900),
    ("237", "Aplic.autom.investfacil*", -1, 1e4, 2e6), ("237", "Resgate Inv Fac", 1, 1e4, 2e6),
    ("237", "PAGTO ELETRONICO TRIBUTO INTERNET --SIMPLES NACIONAL", -1, 5e4, 2e6),
    ("001", "TARIFA PACOTE DE SERVIÇOS", -1, 2_900, 9_900), ("001", "BB Rende Fácil", -1, 1e4, 2e6),
    ("001", "COBRANÇA DE I.O.F.", -1, 5, 5_000), ("260", "Aplicação RDB", -1, 1e4, 1e6),
    ("260", "Resgate RDB", 1, 1e4, 1e6), ("", "IOF", -1, 5, 5_000),
    ("", "TARIFA REGISTRO TITULO", -1, 150, 450), ("", "DEB CESTA", -1, 1_500, 6_000))
TRUTH_COLUMNS = ["line_key", "parcela_id", "kind", "amount_cents", "principal_cents", "multa_cents",
                 "juros_cents", "desconto_cents", "fee_cents"]


@dataclass(frozen=True)
class Workload:
    parcelas: pd.DataFrame  # the store's `parcelas` layout
    lines: pd.DataFrame  # the store's `statement_lines` layout
    # One row per (line, parcela) paid, plus unpaid parcelas (no line) and bank-only lines (no
    # parcela). On paid rows principal + multa + juros - desconto - fee = amount_cents.
    truth: pd.DataFrame
    contacts: pd.DataFrame  # the store's `pessoas` layout


def generate(n_parcelas: int, n_lines: int, *, seed: int, accounts: int, dense: bool,
             run_id: str = RUN_ID) -> Workload:
    plan = plan_counts(n_parcelas, n_lines)
    ctx = _context(np.random.default_rng(seed), n_parcelas, accounts, dense)
    parts = [_one_to_one(ctx, plan[kind], kind)
             for kind in ("clean", "late", "discount", "partial")]
    parts += [_collisions(ctx, plan["collision"], plan["ambiguous"], plan["decoys"]),
              _weekly(ctx, plan["weekly"]), _split2(ctx, plan["split2"]),
              _boleto_batches(ctx, plan["boleto_batch"]), _card_payouts(ctx, plan["card_payout"]),
              _bank_only(ctx, plan["bank_only"])]
    parts.append(_unpaid(ctx, n_parcelas - sum(len(p[0]) for p in parts)))
    return _assemble(ctx, parts, run_id)


def plan_counts(n_parcelas: int, n_lines: int) -> dict[str, int]:
    """Lines per kind from LINE_SHARES, scaled down (bank-only lines fill in) when the parcelas
    would not cover them and still leave MIN_UNPAID of them open."""
    per_line = {**{k: 1.0 for k in LINE_SHARES}, "split2": 0.5, "bank_only": 0.0,
                "weekly": 1 / (1 - WEEKLY_SKIPPED), **BATCH_MEAN}
    decoys = int(DECOY_SHARE * n_parcelas)
    need = sum(LINE_SHARES[k] * n_lines * per_line[k] for k in LINE_SHARES)
    scale = min(1.0, max(0.0, n_parcelas * (1 - MIN_UNPAID) - decoys) / max(need, 1))
    plan = {k: int(LINE_SHARES[k] * n_lines * scale) for k in LINE_SHARES if k != "bank_only"}
    plan["split2"] -= plan["split2"] % 2  # two lines per parcela
    return {**plan, "bank_only": n_lines - sum(plan.values()), "decoys": decoys}


def _context(rng, n_parcelas: int, accounts: int, dense: bool) -> SimpleNamespace:
    span = 365 if dense else int(365 * max(1.0, n_parcelas / SPARSE_PER_YEAR))
    days = START + np.arange(span)
    people = _people(rng, max(60, n_parcelas // 8))  # 90 % in the ERP, 10 % strangers who PIX
    contacts = pd.concat([people, _companies(rng, max(30, n_parcelas // 16))], ignore_index=True)
    return SimpleNamespace(
        rng=rng, span=span, accounts=accounts, contacts=contacts,
        up=contacts["up"].to_numpy(object), disp=contacts["disp"].to_numpy(object),
        doc=contacts["doc"].to_numpy(object), contact_ids=_ids("C", np.arange(len(contacts))),
        persons=np.arange(len(people) * 9 // 10),
        strangers=np.arange(len(people) * 9 // 10, len(people)),
        companies=np.arange(len(people), len(contacts)),
        due_slots=np.flatnonzero(np.isin((days - days.astype("datetime64[M]")).astype(int) + 1,
                                         DUE_DAYS)),
        bank_of=np.array([BANKS[a % len(BANKS)] for a in range(accounts)], object),
        tariff=rng.choice(BOLETO_TARIFF, accounts))


def _people(rng, n: int) -> pd.DataFrame:
    digits = rng.integers(0, 10, (n, 9))
    return _pool(rng, n, [FIRST, SURNAMES, SURNAMES], digits, CPF_WEIGHTS, "###.###.###-##")


def _companies(rng, n: int) -> pd.DataFrame:
    digits = np.column_stack([rng.integers(0, 10, (n, 8)), np.tile([0, 0, 0, 1], (n, 1))])
    return _pool(rng, n, [TRADES, SURNAMES, SURNAMES, SUFFIXES], digits, CNPJ_WEIGHTS,
                 "##.###.###/####-##")


def _pool(rng, n: int, word_lists, digits, weights, pattern: str) -> pd.DataFrame:
    """Contacts named by one word of each list: distinct names while the combinations last."""
    sizes = np.array([len(words) for words in word_lists])
    pick = rng.choice(sizes.prod(), n, replace=n > sizes.prod())
    index = pick[:, None] // np.r_[1, np.cumprod(sizes)[:-1]] % sizes
    return _named(list(zip(word_lists, index.T)), _check_digits(digits, weights), pattern)


CPF_WEIGHTS = (np.arange(10, 1, -1), np.arange(11, 1, -1))
CNPJ_WEIGHTS = (np.array([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]),
                np.array([6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]))


def _check_digits(digits: np.ndarray, weights) -> np.ndarray:
    """Valid CPF/CNPJ check digits: a matcher may verify them, so the data must pass."""
    for w in weights:
        rest = digits @ w % 11
        digits = np.column_stack([digits, np.where(rest < 2, 0, 11 - rest)])
    return digits


def _named(parts, digits: np.ndarray, pattern: str) -> pd.DataFrame:
    """Names as the ERP keeps them and as banks print them, documents bare and formatted."""
    columns = {}
    for key, form in (("disp", str), ("up", _fold)):
        text = pd.Series(np.array([form(w) for w in parts[0][0]], object)[parts[0][1]])
        for words, index in parts[1:]:
            text = text + " " + np.array([form(w) for w in words], object)[index]
        columns[key] = text.to_numpy(object)
    shaped = np.empty((len(digits), len(pattern)), np.uint8)
    shaped[:, [i for i, ch in enumerate(pattern) if ch == "#"]] = digits + ord("0")
    for i, ch in enumerate(pattern):
        shaped[:, i] = shaped[:, i] if ch == "#" else ord(ch)
    columns["doc"] = _text(shaped)
    columns["documento"] = _text((digits + ord("0")).astype(np.uint8))
    return pd.DataFrame(columns)


def _text(byte_rows: np.ndarray) -> np.ndarray:
    """Rows of ASCII codes to Python strings, without formatting each one in Python."""
    rows = np.ascontiguousarray(byte_rows, np.uint8)
    return rows.view(f"S{rows.shape[1]}").ravel().astype(str).astype(object)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()


def _ids(prefix: str, numbers: np.ndarray) -> np.ndarray:
    digits = np.asarray(numbers)[:, None] // 10 ** np.arange(7, -1, -1) % 10 + ord("0")
    return _text(np.column_stack([np.full(len(digits), ord(prefix)), digits]))


def _amounts(rng, n: int, median, sigma: float = 0.9, round_share: float = 0.35) -> np.ndarray:
    """Log-normal centavos, a share rounded to whole R$ 10 the way people price things."""
    cents = np.maximum(np.exp(rng.normal(np.log(median), sigma, n)), 500).astype(np.int64)
    rounded = rng.random(n) < round_share
    cents[rounded] = np.maximum(1000, (cents[rounded] + 500) // 1000 * 1000)
    return cents


def _frame(**columns) -> pd.DataFrame:
    n = max(len(v) for v in columns.values() if np.ndim(v))
    return pd.DataFrame({k: v if np.ndim(v) else np.broadcast_to(v, n) for k, v in columns.items()})


def _parcelas(due, receber, cents, contact, descricao, slot=False) -> pd.DataFrame:
    return _frame(due=due, receber=receber, open_cents=cents, contact=contact,
                  descricao=descricao, slot=slot)


def _lines(posted, amount, contact=-1, style=NAMED, memo=None, account=-1) -> pd.DataFrame:
    return _frame(posted=posted, amount=amount, contact=contact, style=style, memo=memo,
                  account=account)


def _truth(line, parcela, kind, amount, principal=None, *, multa=0, juros=0, desconto=0, fee=0):
    return _frame(line=line, parcela=parcela, kind=kind, amount_cents=amount,
                  principal_cents=amount if principal is None else principal, multa_cents=multa,
                  juros_cents=juros, desconto_cents=desconto, fee_cents=fee)


def _simple(ctx, n: int, receber_share: float = 0.65):
    """Ordinary sales and purchases: due date, direction, amount, contact, description."""
    rng = ctx.rng
    receber = rng.random(n) < receber_share
    cents = _amounts(rng, n, np.where(receber, 45_000, 90_000))
    contact = np.where(receber & (rng.random(n) < .75), rng.choice(ctx.persons, n),
                       rng.choice(ctx.companies, n))
    numbers = pd.Series(rng.integers(1000, 99_999, n)).astype(str)
    descricao = np.where(receber, "Venda " + numbers, "NF " + numbers + " - compra")
    return rng.integers(0, ctx.span, n), receber, cents, contact, descricao


def _one_to_one(ctx, n: int, kind: str):
    """One line for one parcela: clean, late (multa + juros), discounted, or a partial payment."""
    rng = ctx.rng
    due, receber, cents, contact, descricao = _simple(ctx, n, 1.0 if kind == "discount" else .65)
    cents, parts = np.maximum(cents, 5_000), {}
    if kind == "clean":
        lag, paid = rng.choice([-2, -1, 0, 0, 0, 0, 1, 1, 2, 3, 5], n), cents  # most on the day
    elif kind == "late":  # multa 2 % once; juros 1 % a.m. pro rata die: P x 1 % x days / 30
        lag = np.minimum(1 + rng.geometric(1 / 10, n), 45)  # past ~60 days the 5 % band ends
        parts = {"multa": (cents * 2 + 50) // 100, "juros": (cents * lag + 1_500) // 3_000}
        paid = cents + parts["multa"] + parts["juros"]
    elif kind == "discount":
        lag = -rng.integers(1, 11, n)
        parts = {"desconto": (cents * rng.choice([100, 200, 300, 500], n) + 5_000) // 10_000}
        paid = cents - parts["desconto"]
    else:  # partial: a round part, R$ 300 of R$ 812,40
        lag = rng.integers(0, 8, n)
        paid = np.clip(cents * rng.uniform(.2, .8, n) // 1_000 * 1_000, 1_000, cents - 1_000)
    paid, i = paid.astype(np.int64), np.arange(n)
    return (_parcelas(due, receber, cents, contact, descricao),
            _lines(due + lag, np.where(receber, paid, -paid), contact),
            _truth(i, i, kind, paid, paid if kind == "partial" else cents, **parts))


def _split2(ctx, n_lines: int):
    n = n_lines // 2
    due, receber, cents, contact, descricao = _simple(ctx, n)
    first = (cents * ctx.rng.uniform(.3, .7, n)).astype(np.int64)
    paid = np.concatenate([first, cents - first])
    day1 = due + ctx.rng.integers(0, 3, n)
    return (_parcelas(due, receber, cents, contact, descricao),
            _lines(np.concatenate([day1, day1 + ctx.rng.integers(0, 4, n)]),
                   np.tile(np.where(receber, 1, -1), 2) * paid, np.tile(contact, 2)),
            _truth(np.arange(2 * n), np.tile(np.arange(n), 2), "split2", paid))


def _collisions(ctx, n_named: int, n_anon: int, n_decoys: int):
    """Plan subscriptions due on the 5th, 10th, ...: many share the amount and the day."""
    rng, n = ctx.rng, n_named + n_anon + n_decoys
    plan, due = rng.choice(len(PLANS), n, p=PLAN_WEIGHTS), rng.choice(ctx.due_slots, n)
    _, group, size = np.unique(plan * ctx.span + due, return_inverse=True, return_counts=True)
    role = np.full(n, NAMED)
    role[rng.permutation(n)[:n_decoys]] = -1  # left open, at the same price and day
    # A memo with no name cannot be told apart when another parcela shares price and day.
    shared = rng.permutation(np.flatnonzero((role == NAMED) & (size[group] >= 2)))
    role[shared[:n_anon]] = ANONYMOUS
    cents, contact, paid = PLANS[plan], rng.choice(ctx.persons, n), np.flatnonzero(role >= 0)
    line = np.full(n, -1)
    line[paid] = np.arange(len(paid))
    kind = np.select([role == NAMED, role == ANONYMOUS], ["collision", "ambiguous"], "unpaid")
    return (_parcelas(due, True, cents, contact, "Assinatura " + PLAN_NAMES[plan], slot=True),
            _lines(due[paid] + rng.choice([0, 0, 0, 1, 1, 2, 3], len(paid)), cents[paid],
                   contact[paid], style=role[paid]),
            _truth(line, np.arange(n), kind, np.where(role >= 0, cents, 0)))


def _weekly(ctx, n_paid: int):
    """Same supplier, same amount every week; a skipped week leaves last week's parcela open."""
    rng, total = ctx.rng, round(n_paid / (1 - WEEKLY_SKIPPED))
    n_series = max(1, total // 16)
    length = rng.multinomial(total, np.full(n_series, 1 / n_series))
    series = np.repeat(np.arange(n_series), length)
    week = np.arange(total) - np.repeat(np.cumsum(length) - length, length)
    due = rng.integers(0, max(1, ctx.span - 7 * length.max()), n_series)[series] + 7 * week
    cents = _amounts(rng, n_series, 150_000, round_share=0.8)[series]
    contact = rng.choice(ctx.companies, n_series)[series]
    paid = np.ones(total, bool)
    paid[rng.choice(total, total - n_paid, replace=False)] = False
    idx, line = np.flatnonzero(paid), np.full(total, -1)
    line[idx] = np.arange(len(idx))
    descricao = ("Fornecimento semanal - semana " + pd.Series(week + 1).astype(str)).to_numpy()
    return (_parcelas(due, False, cents, contact, descricao),
            _lines(due[idx] + rng.choice([0, 0, 0, 1, 2], len(idx)), -cents[idx], contact[idx]),
            _truth(line, np.arange(total), np.where(paid, "weekly", "unpaid"),
                   np.where(paid, cents, 0)))


def _batch_sizes(rng, n: int, mean: float) -> np.ndarray:
    """At least two parcelas a batch and exactly round(n * mean) in all, so counts are planned."""
    if n == 0:
        return np.zeros(0, np.int64)
    return 2 + rng.multinomial(round(n * mean) - 2 * n, np.full(n, 1 / n))


def _sum_by(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    totals, ends = np.concatenate([[0], np.cumsum(values)]), np.cumsum(sizes)
    return totals[ends] - totals[ends - sizes]


def _boleto_batches(ctx, n: int):
    """A day's boletos credited as one line, net of the account's tariff per title."""
    rng, k = ctx.rng, _batch_sizes(ctx.rng, n, BATCH_MEAN["boleto_batch"])
    batch, credit_day = np.repeat(np.arange(n), k), rng.integers(5, ctx.span, n)
    due = credit_day[batch] - rng.integers(1, 5, len(batch))  # paid by the due date, D+1..D+4
    cents, account = _amounts(rng, len(batch), 35_000), rng.integers(0, ctx.accounts, n)
    fee = ctx.tariff[account][batch]
    numbers = pd.Series(rng.integers(10_000, 999_999, len(batch))).astype(str)
    return (_parcelas(due, True, cents, rng.choice(ctx.persons, len(batch)),
                      ("Boleto " + numbers).to_numpy(object)),
            _lines(credit_day, _sum_by(cents - fee, k), style=LITERAL, account=account,
                   memo=np.array([BOLETO_CREDIT[b] for b in ctx.bank_of], object)[account]),
            _truth(batch, np.arange(len(batch)), "boleto_batch", cents - fee, cents, fee=fee))


def _card_payouts(ctx, n: int):
    """An acquirer's payout: sales of one brand and product, each net of the MDR."""
    rng, k = ctx.rng, _batch_sizes(ctx.rng, n, BATCH_MEAN["card_payout"])
    batch = np.repeat(np.arange(n), k)
    acquirer, debit = rng.integers(0, len(ACQUIRERS), n), (rng.random(n) < .3).astype(int)
    combo = (acquirer * 2 + debit) * len(BRANDS) + rng.integers(0, len(BRANDS), n)
    payday = rng.integers(0, ctx.span, n)  # a sale's due date is its expected payout day
    cents = _amounts(rng, len(batch), 12_000, round_share=0.1)
    fee = (cents * MDR_BP[acquirer, debit][batch] + 5_000) // 10_000
    contact = np.where(rng.random(len(batch)) < .6, rng.choice(ctx.persons, len(batch)), -1)
    return (_parcelas(payday[batch], True, cents, contact, CARD_SALES[combo][batch]),
            _lines(payday + rng.choice([0, 0, 1], n), _sum_by(cents - fee, k), style=LITERAL,
                   memo=CARD_MEMOS[combo]),
            _truth(batch, np.arange(len(batch)), "card_payout", cents - fee, cents, fee=fee))


def _bank_only(ctx, n: int):
    """Tarifas, IOF, sweeps, tributos in the account's bank's words; PIX from strangers,
    half of them at plan prices."""
    rng, account = ctx.rng, ctx.rng.integers(0, ctx.accounts, n)
    bank, memo, sign, low, high = (np.array(column) for column in zip(*BANK_ONLY))
    row = np.zeros(n, int)
    for code in np.unique(ctx.bank_of[account]):
        here = ctx.bank_of[account] == code
        row[here] = rng.choice(np.flatnonzero(np.isin(bank, ["", code])), here.sum())
    cents = np.exp(rng.uniform(np.log(low[row]), np.log(high[row]))).astype(np.int64)
    stranger = rng.random(n) < .15
    pix = np.where(rng.random(n) < .5, rng.choice(PLANS, n), _amounts(rng, n, 30_000))
    amount = np.where(stranger, pix, sign[row].astype(int) * cents)
    return (_parcelas(np.zeros(0, np.int64), False, np.zeros(0, np.int64), -1, ""),
            _lines(rng.integers(0, ctx.span, n), amount, account=account,
                   contact=np.where(stranger, rng.choice(ctx.strangers, n), -1),
                   style=np.where(stranger, NAMED, LITERAL),
                   memo=np.where(stranger, None, memo[row].astype(object))),
            _truth(np.arange(n), -1, "bank_only", np.abs(amount), 0))


def _unpaid(ctx, n: int):
    due, receber, cents, contact, descricao = _simple(ctx, n)
    return (_parcelas(due, receber, cents, contact, descricao),
            _lines(np.zeros(0, np.int64), np.zeros(0, np.int64)),
            _truth(-1, np.arange(n), "unpaid", 0))


def _assemble(ctx, parts, run_id: str) -> Workload:
    parcelas = pd.concat([p[0] for p in parts], ignore_index=True)
    lines = pd.concat([p[1] for p in parts], ignore_index=True)
    account = lines["account"].to_numpy().copy()
    account[account < 0] = ctx.rng.integers(0, ctx.accounts, int((account < 0).sum()))
    memo, shown = _memos(ctx, lines, ctx.bank_of[account])
    truth = _relabel_lookalikes(ctx, parcelas, _offset_truth(parts), shown)
    # Random ids, so neither ids nor row order tell which builder made a row; rows in statement
    # order (account, date) and parcelas by due date, sorted as integers (strings are slow).
    parcela_no, line_no = ctx.rng.permutation(len(parcelas)), ctx.rng.permutation(len(lines))
    parcela_ids, line_keys = _ids("P", parcela_no), _ids("L", line_no)
    order = np.lexsort((line_no, lines["posted"].to_numpy(), account))
    out_lines = _lines_out(ctx, lines, line_keys, account, memo, run_id).iloc[order]
    in_file = pd.Series(account[order]).groupby(account[order]).cumcount()
    out_lines["source_line"] = in_file.to_numpy() + 1
    out_parcelas = _parcelas_out(ctx, parcelas, parcela_ids, run_id).iloc[
        np.lexsort((parcela_no, parcelas["due"].to_numpy()))]
    return Workload(parcelas=out_parcelas.reset_index(drop=True),
                    lines=out_lines.reset_index(drop=True),
                    truth=_truth_out(truth, line_keys, parcela_ids),
                    contacts=_contacts_out(ctx, run_id))


def _offset_truth(parts) -> pd.DataFrame:
    frames, lines_before, parcelas_before = [], 0, 0
    for parcelas, lines, truth in parts:
        frames.append(truth.assign(
            line=np.where(truth["line"] >= 0, truth["line"] + lines_before, -1),
            parcela=np.where(truth["parcela"] >= 0, truth["parcela"] + parcelas_before, -1)))
        lines_before, parcelas_before = lines_before + len(lines), parcelas_before + len(parcelas)
    return pd.concat(frames, ignore_index=True)


def _memos(ctx, lines: pd.DataFrame, bank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Named and anonymous lines written as their account's bank writes them; also how many
    characters of the name each memo shows (0 = all)."""
    rng, style, credit = ctx.rng, lines["style"].to_numpy(), lines["amount"].to_numpy() > 0
    memo, shown = lines["memo"].to_numpy(object).copy(), np.zeros(len(lines), int)
    for code in BANKS:
        anonymous = np.flatnonzero((bank == code) & (style == ANONYMOUS))
        texts = np.array(ANONYMOUS_MEMOS[code], object)
        memo[anonymous] = texts[rng.integers(0, len(texts), len(anonymous))]
        for direction in (True, False):
            rows = np.flatnonzero((bank == code) & (style == NAMED) & (credit == direction))
            templates = NAMED_MEMOS[(code, direction)]
            pick = rng.integers(0, len(templates), len(rows))
            for t, template in enumerate(templates):
                chosen = rows[pick == t]
                memo[chosen], shown[chosen] = _fill(template, _name_columns(ctx, lines, chosen))
    return memo, shown


def _fill(template: str, columns: pd.DataFrame) -> tuple[np.ndarray, int]:
    """'PIX TRANSF  {up:10}{ddmm}' over whole columns at once; {field:n} keeps n characters."""
    text, shown = pd.Series("", index=columns.index, dtype=object), 0
    for literal, field, width, _ in string.Formatter().parse(template):
        text = text + literal
        if field:
            text = text + (columns[field].str[:int(width)] if width else columns[field])
            shown = int(width) if width and field == "up" else shown
    return text.to_numpy(object), shown


DDMM = np.array([f"{d:02d}/{m:02d}" for d in range(32) for m in range(13)], object)
HHMM = np.array([f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)], object)


def _name_columns(ctx, lines: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    contact = lines["contact"].to_numpy()[rows]
    posted = START + lines["posted"].to_numpy()[rows]
    month = posted.astype("datetime64[M]")
    day = (posted - month).astype(int) + 1
    return pd.DataFrame({
        "up": ctx.up[contact], "disp": ctx.disp[contact], "doc": ctx.doc[contact],
        "ddmm": DDMM[day * 13 + month.astype(int) % 12 + 1],
        "hhmm": HHMM[ctx.rng.integers(7 * 60, 22 * 60, len(rows))]})


def _relabel_lookalikes(ctx, parcelas: pd.DataFrame, truth: pd.DataFrame, shown) -> pd.DataFrame:
    """A named subscription payment is ambiguous too when another parcela of its price and due
    day has the same name in as many characters as the memo prints (Itaú keeps 10)."""
    named = truth.index[truth["kind"].eq("collision")]
    line, parcela = truth.loc[named, "line"].to_numpy(), truth.loc[named, "parcela"].to_numpy()
    slot = parcelas[parcelas["slot"].to_numpy()]
    for chars in np.unique(shown[line]):
        names = pd.Series(ctx.up[slot["contact"].to_numpy()], index=slot.index)
        key = slot[["open_cents", "due"]].assign(name=names.str[:chars] if chars else names)
        size = key.groupby(["open_cents", "due", "name"])["due"].transform("size")
        which = shown[line] == chars
        clash = size.loc[parcela[which]].to_numpy() >= 2
        truth.loc[named[which][clash], "kind"] = "ambiguous"
    return truth


def _parcelas_out(ctx, parcelas: pd.DataFrame, ids: np.ndarray, run_id: str) -> pd.DataFrame:
    contact, due = parcelas["contact"].to_numpy(), parcelas["due"].to_numpy()
    cents = parcelas["open_cents"].to_numpy(np.int64)
    return pd.DataFrame({
        "run_id": run_id, "parcela_id": ids,
        "kind": np.where(parcelas["receber"].to_numpy(), "receber", "pagar"),
        "descricao": parcelas["descricao"].to_numpy(object),
        "due_on": (START + due).astype("datetime64[s]"),
        "status": np.where(due < ctx.span, "overdue", "open"), "total_cents": cents,
        "paid_cents": np.zeros(len(cents), np.int64), "open_cents": cents,
        "contact_id": np.where(contact >= 0, ctx.contact_ids[contact], None),
        "contact_name": np.where(contact >= 0, ctx.disp[contact], None)})


def _lines_out(ctx, lines, keys, account, memo, run_id: str) -> pd.DataFrame:
    files = np.array([f"synthetic-{bank}-{a}.ofx" for a, bank in enumerate(ctx.bank_of)], object)
    return pd.DataFrame({
        "line_key": keys, "file": files[account], "source_line": 0,
        "bank_code": ctx.bank_of[account], "branch": (1_000 + 37 * account).astype(str),
        "account_number": (10_000 + 7_919 * account).astype(str),
        "conta_financeira_id": np.char.add("conta-", account.astype(str)),
        "posted_on": (START + lines["posted"].to_numpy()).astype("datetime64[s]"),
        "amount_cents": lines["amount"].to_numpy(np.int64), "memo": memo, "fitid": None,
        "first_run_id": run_id})


def _truth_out(truth: pd.DataFrame, line_keys: np.ndarray, parcela_ids: np.ndarray) -> pd.DataFrame:
    line, parcela = truth["line"].to_numpy(), truth["parcela"].to_numpy()
    out = truth.assign(line_key=np.where(line >= 0, line_keys[line], None),
                       parcela_id=np.where(parcela >= 0, parcela_ids[parcela], None))
    return out[TRUTH_COLUMNS].astype({c: np.int64 for c in TRUTH_COLUMNS[3:]})


def _contacts_out(ctx, run_id: str) -> pd.DataFrame:
    known = np.setdiff1d(np.arange(len(ctx.up)), ctx.strangers)  # strangers are not in the ERP
    return pd.DataFrame({"run_id": run_id, "id": ctx.contact_ids[known], "nome": ctx.disp[known],
                         "documento": ctx.contacts["documento"].to_numpy(object)[known]})


def retorno_titles(workload: Workload) -> pd.DataFrame:
    """The cobrança retornos of the workload's boleto batches, as `retorno_titles` rows: each
    batch's titles liquidated the day before the credit, with the payer's CPF/CNPJ and
    name (registered boletos carry both), face value, tariff and net. One file per batch
    (an account may have several convênios, each credited apart)."""
    truth = workload.truth[workload.truth["kind"] == "boleto_batch"]
    titles = truth.merge(workload.parcelas[["parcela_id", "due_on", "contact_id"]],
                         on="parcela_id").merge(
        workload.lines[["line_key", "posted_on", "conta_financeira_id", "bank_code"]],
        on="line_key").merge(
        workload.contacts[["id", "nome", "documento"]].rename(columns={"id": "contact_id"}),
        on="contact_id", how="left")
    titles = titles.sort_values(["conta_financeira_id", "posted_on", "line_key", "parcela_id"],
                                ignore_index=True)
    credited = pd.to_datetime(titles["posted_on"])
    # One file per batch (a convênio's day), numbered within its account's day.
    batch = titles.groupby(["conta_financeira_id", "posted_on"])["line_key"].rank(
        method="dense").astype(int)
    in_file = titles.groupby("line_key").cumcount()
    return pd.DataFrame({
        "conta_financeira_id": titles["conta_financeira_id"],
        "nosso_numero": pd.Series(np.arange(len(titles)) + 10_000_000).astype(str),
        "movement": "06", "occurred_on": (credited - pd.Timedelta(days=1)).dt.date,
        "file": ("COB_" + titles["conta_financeira_id"].astype(str) + "_"
                 + credited.dt.strftime("%Y%m%d") + "_" + batch.astype(str) + ".RET"),
        "source_line": 3 + 2 * in_file.to_numpy(), "bank_code": titles["bank_code"],
        "seu_numero": titles["parcela_id"].str.slice(1), "due_on": titles["due_on"],
        "face_cents": titles["principal_cents"],
        "payer_document": titles["documento"].fillna("").str.replace(r"\D", "", regex=True),
        "payer_name": titles["nome"].fillna("").str.upper().str.slice(0, 40),
        "fee_cents": titles["fee_cents"], "interest_cents": 0, "discount_cents": 0,
        "rebate_cents": 0, "iof_cents": 0, "paid_cents": titles["principal_cents"],
        "net_cents": titles["amount_cents"], "other_expenses_cents": 0,
        "other_credits_cents": 0, "credited_on": credited.dt.date, "first_run_id": RUN_ID})


def kind_counts(truth: pd.DataFrame) -> pd.DataFrame:
    """Lines and parcelas per kind (a batch counts once as a line, k times as parcelas)."""
    lines = truth.dropna(subset=["line_key"]).drop_duplicates("line_key")["kind"].value_counts()
    parcelas = truth.dropna(subset=["parcela_id"]).drop_duplicates("parcela_id")["kind"]
    parcelas = parcelas.value_counts()
    return pd.DataFrame({"lines": lines, "parcelas": parcelas}).fillna(0).astype(int)


def reset_peak_rss() -> None:
    """Restart the kernel's high-water mark, so the next peak is one step's own (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as handle:
            return next(int(r.split()[1]) / 1024 for r in handle if r.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description="Time the labelled matching workload.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--dense", action="store_true", help="one 365-day ledger at every size")
    args = parser.parse_args()
    for n in args.sizes:
        reset_peak_rss()
        began = time.perf_counter()
        workload = generate(n, n, seed=args.seed, accounts=args.accounts, dense=args.dense)
        print(f"{n:>9,} parcelas x {n:,} lines ({'dense' if args.dense else 'sparse'}): "
              f"{time.perf_counter() - began:6.2f} s, peak RSS {peak_rss_mb():,.0f} MB")
    print(kind_counts(workload.truth).to_string())


# --- What the ceiling scripts share (benchmarks/batch_ceiling.py, careful_ceiling.py) ------

def sampling_parser(doc: str, sizes: list[int], sample: int) -> argparse.ArgumentParser:
    """Which workloads to generate and how many of their lines to sample."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=sizes)
    parser.add_argument("--dense", action="store_true")
    parser.add_argument("--sample", type=int, default=sample)
    parser.add_argument("--seed", type=int, default=1)
    return parser


def day_numbers(values: pd.Series) -> np.ndarray:
    """Dates as days since 1970-01-01, as the engine compares them."""
    return values.to_numpy().astype("datetime64[D]").astype(np.int64)


def each_workload(args: argparse.Namespace, columns: list[str]):
    """A Markdown table's head, then per size its name and workload (as generate makes it,
    4 accounts); how long each took goes to stderr."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for n in args.sizes:
        began = time.perf_counter()
        yield (f"{n:,} {'dense' if args.dense else 'sparse'}",
               generate(n, n, seed=args.seed, accounts=4, dense=args.dense))
        print(f"<!-- {n:,}: {time.perf_counter() - began:.0f} s -->", file=sys.stderr)


if __name__ == "__main__":
    main()
