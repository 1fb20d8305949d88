"""The report's words and number formats, per language: Portuguese by default, English
available (`report.language`). Amounts are always reais; only how they are written changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from recon.money import format_brl

Formatter = Callable[..., str]

LABELS: dict[str, dict[str, str]] = {
    "pt": {
        "html_lang": "pt-BR", "title": "Conciliação bancária", "run": "Execução",
        "period": "período", "to": "a", "dry_run": "simulação (nada foi gravado no Conta Azul)",
        "lines_read": "Lançamentos lidos", "settled_auto": "Baixados automaticamente",
        "to_review": "Para revisar", "partials": "Parciais e divididos",
        "unmatched": "Sem parcela", "unpaid": "Parcelas sem pagamento",
        "files_rejected": "Arquivos rejeitados", "write_errors": "Erros ao gravar",
        "amount_read": "movimentado", "amount_unexplained": "sem explicação",
        "charts": "Tendência", "auto_rate": "Baixas automáticas nas últimas execuções",
        "unexplained_by_account": "Valor sem explicação por conta",
        "review_title": "Para revisar", "no_review": "Nada a revisar.",
        "partials_title": "Pagamentos parciais e divididos",
        "partials_intro": "O dinheiro chegou, mas não no valor da parcela: confira antes de aprovar.",
        "no_partials": "Nenhum.", "number": "Nº", "date": "Data", "amount": "Valor",
        "statement": "Extrato", "candidates": "Candidatos (sinais em bits · probabilidade)",
        "reason": "Motivo", "line": "linha", "no_contact": "sem contato", "due": "venc.",
        "gross": "bruto", "fee": "taxa", "net": "líquido", "signal_amount": "valor",
        "signal_date": "prazo", "days": "dias", "signal_name": "nome", "signal_key": "chave",
        "approve_hint": "recon approve", "unmatched_title": "Lançamentos do extrato sem parcela",
        "all_matched": "Todos os lançamentos encontraram parcela.",
        "retorno_title": "Boletos que o banco diz ter liquidado, sem conciliação",
        "retorno": "Retorno", "nosso_numero": "nosso número",
        "retorno_no_credit": "nenhum lançamento do extrato desta conta neste dia soma este "
                             "crédito: o extrato do dia está na pasta?",
        "retorno_no_parcela": "nenhuma parcela em aberto deste pagador vence em {due} com este "
                              "valor: já baixada à mão, ou falta no Conta Azul?",
        "unpaid_title": "Parcelas vencidas sem pagamento", "due_date": "Vencimento",
        "open": "Em aberto", "parcela": "Parcela", "contact": "Contato", "kind": "Tipo",
        "overdue": "Atraso", "receber": "a receber", "pagar": "a pagar", "none_f": "Nenhuma.",
        "rejected_title": "Arquivos e linhas rejeitados", "file": "Arquivo",
        "field_value": "Campo e valor", "what_to_do": "O que fazer",
        "whole_file": "arquivo inteiro", "none_m": "Nenhum.",
        "dropped": "Linhas ignoradas (saldo, totais)",
        "gaps_title": "Extratos incompletos ou duplicados", "account": "Conta",
        "difference": "Diferença", "detail": "Detalhe",
        "write_errors_title": "Erros ao gravar no Conta Azul", "state": "Situação",
        "settled_title": "Baixados automaticamente", "no_settled": "Nenhuma baixa nesta execução.",
        "more_in_csv": "… e mais {n}: a lista completa está em exceptions.csv, ao lado deste relatório.",
        "more_settled": "… e mais {n}: `recon history --run {run}` lista todas.",
        "annotated": "baixada e anotada", "confirmed": "baixada", "simulated": "simulada",
        "not_sent": "não enviada", "files_title": "Arquivos lidos", "format": "Formato",
        "read": "Lidos", "new": "Novos", "already": "Já importados",
        "ignored": "Ignorados (saldo, totais)", "rejected": "Rejeitados", "ok": "ok",
        "rejected_because": "rejeitado:",
        "footer": "Gerado por recon. Valores em reais; datas de negócio em horário de São Paulo.",
        "proposal": "Proposta", "approve": "Aprovar", "full_report": "Relatório completo",
        "no_parcela": "nenhuma parcela", "lines_rejected": "Linhas rejeitadas",
        "gaps_short": "Extratos incompletos", "report": "Relatório",
        "open_report": "abrir relatório",
    },
    "en": {
        "html_lang": "en", "title": "Bank reconciliation", "run": "Run", "period": "period",
        "to": "to", "dry_run": "dry run (nothing was written to Conta Azul)",
        "lines_read": "Bank lines read", "settled_auto": "Settled automatically",
        "to_review": "To review", "partials": "Partial and split", "unmatched": "No parcela",
        "unpaid": "Parcelas not paid", "files_rejected": "Files rejected",
        "write_errors": "Write errors", "amount_read": "moved",
        "amount_unexplained": "unexplained", "charts": "Trend",
        "auto_rate": "Automatic settlements over the last runs",
        "unexplained_by_account": "Unexplained money by account",
        "review_title": "To review", "no_review": "Nothing to review.",
        "partials_title": "Partial and split payments",
        "partials_intro": "Money arrived, but not the parcela's amount: check before approving.",
        "no_partials": "None.", "number": "No.", "date": "Date", "amount": "Amount",
        "statement": "Statement", "candidates": "Candidates (signals in bits · probability)",
        "reason": "Why", "line": "line", "no_contact": "no contact", "due": "due",
        "gross": "gross", "fee": "fee", "net": "net", "signal_amount": "amount",
        "signal_date": "date", "days": "days", "signal_name": "name", "signal_key": "key",
        "approve_hint": "recon approve", "unmatched_title": "Bank lines with no parcela",
        "all_matched": "Every bank line found a parcela.",
        "retorno_title": "Boletos the bank says it liquidated, not reconciled",
        "retorno": "Retorno", "nosso_numero": "nosso número",
        "retorno_no_credit": "no statement line of this account that day adds up to this "
                             "credit: is that day's statement in the inbox?",
        "retorno_no_parcela": "no open receivable of this payer is due {due} for this value: "
                              "settled by hand already, or missing in Conta Azul?",
        "unpaid_title": "Overdue parcelas with no payment", "due_date": "Due",
        "open": "Open", "parcela": "Parcela", "contact": "Contact", "kind": "Kind",
        "overdue": "Overdue", "receber": "receivable", "pagar": "payable", "none_f": "None.",
        "rejected_title": "Rejected files and lines", "file": "File",
        "field_value": "Field and value", "what_to_do": "What to do",
        "whole_file": "whole file", "none_m": "None.",
        "dropped": "Lines ignored (balances, totals)",
        "gaps_title": "Incomplete or duplicated statements", "account": "Account",
        "difference": "Difference", "detail": "Detail",
        "write_errors_title": "Errors writing to Conta Azul", "state": "State",
        "settled_title": "Settled automatically", "no_settled": "No baixa in this run.",
        "more_in_csv": "… and {n} more: exceptions.csv, beside this report, lists every one.",
        "more_settled": "… and {n} more: `recon history --run {run}` lists every one.",
        "annotated": "settled and noted", "confirmed": "settled", "simulated": "simulated",
        "not_sent": "not sent", "files_title": "Files read", "format": "Format",
        "read": "Read", "new": "New", "already": "Already imported",
        "ignored": "Ignored (balances, totals)", "rejected": "Rejected", "ok": "ok",
        "rejected_because": "rejected:",
        "footer": "Made by recon. Amounts in reais; business dates in São Paulo time.",
        "proposal": "Proposal", "approve": "Approve", "full_report": "Full report",
        "no_parcela": "no parcela", "lines_rejected": "Lines rejected",
        "gaps_short": "Incomplete statements", "report": "Report",
        "open_report": "open the report",
    },
}


def money(language: str) -> Formatter:
    """R$ 1.234,56 in Portuguese, R$ 1,234.56 in English."""
    if language == "pt":
        return format_brl

    def english(cents: int) -> str:
        return format_brl(cents).replace(".", "\x00").replace(",", ".").replace("\x00", ",")

    return english


def thousands(language: str) -> Formatter:
    """12.345 in Portuguese, 12,345 in English."""
    separator = "." if language == "pt" else ","

    def formatted(value: int) -> str:
        return f"{value:,}".replace(",", separator)

    return formatted


def day(language: str) -> Formatter:
    """dd/mm/aaaa in Portuguese, yyyy-mm-dd in English."""
    pattern = "%d/%m/%Y" if language == "pt" else "%Y-%m-%d"

    def formatted(value: date | datetime | None) -> str:
        return "" if value is None else value.strftime(pattern)

    return formatted


def short_day(language: str) -> Formatter:
    pattern = "%d/%m" if language == "pt" else "%m-%d"

    def formatted(value: date | datetime | None) -> str:
        return "" if value is None else value.strftime(pattern)

    return formatted
