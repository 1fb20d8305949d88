"""Sentences from stored decisions: each signal's contribution, the runner-up and the margin.

The engine stores numbers (levels, bits, probability, rival, margin, a reason code); this
module turns one decision into text where it is shown (report, exceptions.csv, `recon
review`), so storing a million decisions never formats a million sentences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from matchers.arithmetic import LateTerms, describe_discount, describe_late
from matchers.model import AMOUNT_LEVELS, KEY_LEVELS, NAME_LEVELS
from recon.money import format_brl

REASONS = {
    "auto": "clear match",
    "below_auto": "probability below the automatic threshold",
    "amount_not_explained": "the amount differs and no fee, interest or discount explains it",
    "ambiguous": "another candidate is nearly as likely",
    "below_review": "best candidate is too unlikely to propose",
    "no_candidate": "no open parcela with this direction, amount and due date",
    "candidates_taken": "every candidate parcela went to a better-matching bank line",
    "name_unverifiable": "the memo names a payer that is not the parcela's contact, or there is "
                         "no contact to compare with",
    "split_payment": "two transfers from the same payer add up to the parcela",
    "batch": "several parcelas add up to this credit net of fees",
    "batch_ambiguous": "several sets of parcelas add up to this credit: pick the right one",
    "retorno": "the bank's cobrança retorno lists the boletos this credit pays, each one "
               "found by its payer, due date and face value",
    "retorno_unsure": "the bank's cobrança retorno adds up to this credit, but not every "
                      "boleto in it was found by its payer, its figures do not add up, or the "
                      "statement does not call the credit a cobrança",
    "policy": "a clear match, held back by a policy in the config",
    "rejected_before": "a person rejected this proposal before",
}


REASONS_PT = {
    "auto": "correspondência clara",
    "below_auto": "probabilidade abaixo do limite para baixa automática",
    "amount_not_explained": "o valor difere e nenhuma multa, juros ou desconto explica a diferença",
    "ambiguous": "outro candidato é quase tão provável",
    "below_review": "o melhor candidato é improvável demais para sugerir",
    "no_candidate": "nenhuma parcela em aberto com este sentido, valor e vencimento",
    "candidates_taken": "todas as parcelas candidatas ficaram com lançamentos mais parecidos",
    "name_unverifiable": "o extrato cita um pagador que não é o contato da parcela, ou a parcela "
                         "não tem contato para comparar",
    "split_payment": "duas transferências do mesmo pagador somam o valor da parcela",
    "batch": "várias parcelas somam este crédito, descontadas as tarifas",
    "batch_ambiguous": "mais de um conjunto de parcelas soma este crédito: escolha o certo",
    "retorno": "o retorno de cobrança do banco lista os boletos que este crédito paga, cada "
               "um achado pelo pagador, vencimento e valor",
    "retorno_unsure": "o retorno de cobrança do banco soma este crédito, mas nem todo boleto "
                      "dele foi achado pelo pagador, os valores não fecham, ou o extrato não "
                      "chama o crédito de cobrança",
    "policy": "correspondência clara, retida por uma política da configuração",
    "rejected_before": "uma pessoa já recusou esta sugestão",
}

# The words of a sentence, per language; the numbers are the same in both.
WORDS = {
    "en": {"amount": "amount", "diff": "diff", "date": "date", "same_day": "same day",
           "late": "late", "early": "early", "d": "d", "name": "name",
           "no_name": "memo names nobody", "runner_up": "runner-up",
           "best_candidate": "best candidate", "margin": "margin", "bits": "bits",
           "bank_line": "bank line {key} for the same parcela", "less_fee": "less fee",
           "amount_levels": {"exact": "exact", "late_fees": "late fees", "discount": "discount",
                             "close": "close", "partial": "partial"},
           "key_levels": {"same_document": "same document", "same_number": "same number",
                          "known_alias": "known alias", "other_document": "other document"}},
    "pt": {"amount": "valor", "diff": "dif.", "date": "data", "same_day": "no mesmo dia",
           "late": "depois", "early": "antes", "d": "d", "name": "nome",
           "no_name": "extrato não cita pagador", "runner_up": "segundo colocado",
           "best_candidate": "melhor candidato", "margin": "margem", "bits": "bits",
           "bank_line": "lançamento {key} para a mesma parcela", "less_fee": "menos tarifa",
           "amount_levels": {"exact": "exato", "late_fees": "com multa e juros",
                             "discount": "com desconto", "close": "próximo",
                             "partial": "parcial"},
           "key_levels": {"same_document": "mesmo CPF/CNPJ", "same_number": "mesmo nº de documento",
                          "known_alias": "pagador já confirmado", "other_document": "outro CPF/CNPJ"}},
}


def _bits(value: float) -> str:
    return f"{value:+.1f}"


def signal_phrases(pair: Mapping[str, Any], language: str = "en") -> list[str]:
    """'amount exact (+11.2)', 'date 2 d late (+3.1)', 'name 0.97 (+9.8)', ..."""
    w = WORDS[language]
    amount = w["amount_levels"][AMOUNT_LEVELS[int(pair["amount_level"])]]
    lag = int(pair["lag_days"])
    when = w["same_day"] if lag == 0 else f"{abs(lag)} {w['d']} {w['late' if lag > 0 else 'early']}"
    diff = format_brl(int(pair["amount_diff_cents"]))
    phrases = [f"{w['amount']} {amount} ({w['diff']} {diff}, {_bits(pair['amount_bits'])})",
               f"{w['date']} {when} ({_bits(pair['date_bits'])})"]
    name_level = NAME_LEVELS[int(pair["name_level"])]
    if name_level == "no_name":
        phrases.append(f"{w['no_name']} (0)")
    else:
        phrases.append(f"{w['name']} {pair['name_sim']:.2f} ({_bits(pair['name_bits'])})")
    key = KEY_LEVELS[int(pair["key_level"])]
    if key != "no_key":
        phrases.append(f"{w['key_levels'][key]} ({_bits(pair['key_bits'])})")
    return phrases


def explain_decision(decision: Mapping[str, Any], pair: Mapping[str, Any] | None,
                     rival: Mapping[str, Any] | None = None,
                     allocation: Mapping[str, Any] | None = None,
                     terms: LateTerms | None = None, language: str = "en") -> str:
    """One paragraph: why this decision, from its stored numbers (in English or Portuguese;
    a decision's free-text `detail` is shown as stored)."""
    w = WORDS[language]
    code = decision.get("reason_code") or ""
    text = [(REASONS_PT if language == "pt" else REASONS).get(code, code)]
    if decision.get("detail"):
        text.append(str(decision["detail"]))
    if pair is not None:
        text.append(f"p={pair['probability']:.3f}: " + ", ".join(signal_phrases(pair, language)))
    if allocation is not None:
        split = _split_phrase(allocation, terms or LateTerms(), language)
        if split:
            text.append(split)
    if rival is not None:
        margin = decision.get("margin_bits")
        margin_text = "" if margin is None or (isinstance(margin, float) and math.isnan(margin)) \
            else f", {w['margin']} {margin:.1f} {w['bits']}"
        who = (f"parcela {decision['rival_parcela_id']}" if decision.get("rival_parcela_id")
               else w["bank_line"].format(key=decision.get("rival_line_key")))
        label = w["best_candidate"] if decision.get("decision") == "unmatched" else w["runner_up"]
        text.append(f"{label}: {who}, p={rival['probability']:.3f}{margin_text}")
    return "; ".join(text)


def _split_phrase(allocation: Mapping[str, Any], terms: LateTerms, language: str) -> str:
    kind = allocation.get("kind")
    if kind == "late_fees":
        return describe_late(int(allocation["gross_cents"]), int(allocation["multa_cents"]),
                             int(allocation["juros_cents"]),
                             int(allocation.get("days_late") or 0), terms, language)
    if kind == "discount":
        return describe_discount(int(allocation["gross_cents"]),
                                 int(allocation["desconto_cents"]), language)
    if allocation.get("taxa_cents"):
        return (f"{format_brl(int(allocation['gross_cents']))} {WORDS[language]['less_fee']} "
                f"{format_brl(int(allocation['taxa_cents']))}")
    return ""
