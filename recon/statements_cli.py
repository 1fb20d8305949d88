"""`recon statements FILE...`: what recon reads from bank files, without touching Conta Azul.

The first thing to run when a bank file looks wrong: per file the detected
format, bank, layout and accounts, then every line kept and every line
rejected or dropped, with the reason. A cobrança retorno shows its titles instead of
lines: what the bank says each boleto paid, and when it was credited.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from recon.config import load_config
from recon.errors import InputError
from recon.money import format_brl, from_cents
from recon.records import RetornoFile, RetornoTitle, StatementFile
from recon.sources.inbox import SourceOptions, read_source, source_options

KEPT_COLUMNS = ("file", "status", "line", "date", "amount", "memo", "line_key", "reason")


def add_statements(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "statements", help="show what recon reads from bank files (no Conta Azul access)",
        description=__doc__.splitlines()[0],
        epilog="examples:\n  recon statements inbox/*.ofx\n"
               "  recon statements --format csv extrato.csv > linhas.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("files", nargs="+", type=Path, metavar="FILE")
    cmd.add_argument("--format", choices=("text", "csv", "json"), default="text")
    cmd.add_argument("--config", type=Path, help="read csv_layout and csv_layouts from this config")
    cmd.add_argument("--csv-layout", default="", help="CSV layout to use (a preset or your own)")
    cmd.set_defaults(handler=_statements_command)


def _statements_command(args: argparse.Namespace) -> int:
    options = _options(args)
    results = [_read(path, options) for path in args.files]
    if args.format == "json":
        json.dump([_as_json(path, result) for path, result in results], sys.stdout,
                  ensure_ascii=False, indent=2, default=str)
        print()
    elif args.format == "csv":
        _write_csv([row for path, result in results for row in _rows(path, result)])
    else:
        for path, result in results:
            _print_text(path, result)
    return 3 if any(isinstance(r, InputError) for _, r in results) else 0


def _options(args: argparse.Namespace) -> SourceOptions:
    if args.config is None:
        return source_options(args.csv_layout, {}, "--csv-layout")
    config = load_config(args.config)
    layout = args.csv_layout or config.get("statements.csv_layout")
    return source_options(layout, config.csv_layout_tables, config.source)


Result = StatementFile | RetornoFile | InputError


def _read(path: Path, options: SourceOptions) -> tuple[Path, Result]:
    try:
        return path, read_source(path, options)
    except InputError as exc:
        return path, exc


def _rows(path: Path, result: Result) -> list[dict[str, Any]]:
    if isinstance(result, InputError):
        return [{"file": path.name, "status": "file rejected", "reason": str(result)}]
    if isinstance(result, RetornoFile):
        kept = [{"file": path.name, "status": "title", "line": t.source_line,
                 "date": t.credited_on or t.occurred_on, "amount": from_cents(t.paid_cents),
                 "memo": _title_memo(t)} for t in result.titles]
        dropped = result.rejects
    else:
        kept = [{"file": path.name, "status": "kept", "line": ln.source_line,
                 "date": ln.posted_on, "amount": from_cents(ln.amount_cents), "memo": ln.memo,
                 "line_key": ln.line_key} for ln in result.lines]
        dropped = result.dropped
    other = [{"file": path.name, "status": r.kind, "line": r.line,
              "reason": "; ".join(p for p in (r.reason, f"field {r.field}" if r.field else "",
                                              f"value {r.value!r}" if r.value is not None else "",
                                              r.hint) if p)}
             for r in dropped]
    return sorted(kept + other, key=lambda row: (row.get("line") or 0))


MOVEMENTS = {"02": "entrada confirmada", "03": "entrada rejeitada", "06": "liquidação",
             "09": "baixa", "14": "vencimento alterado", "17": "liquidação após baixa"}


def _title_memo(title: RetornoTitle) -> str:
    """One title as a reader checks it against the bank's site: what happened, which title,
    whose, due when, for how much, and what the bank kept and credited."""
    due = f"{title.due_on:%d/%m/%Y}" if title.due_on else "?"
    payer = title.payer_name or title.payer_document or "payer not given"
    return (f"{title.movement} {MOVEMENTS.get(title.movement, '')}: nosso número "
            f"{title.nosso_numero}, {payer}, due {due}, face {format_brl(title.face_cents)}, "
            f"tariff {format_brl(title.fee_cents)}, net {format_brl(title.net_cents)}")


def _write_csv(rows: list[dict[str, Any]]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=KEPT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in KEPT_COLUMNS})


def _as_json(path: Path, result: Result) -> dict[str, Any]:
    if isinstance(result, InputError):
        return {"file": path.name, "error": str(result)}
    if isinstance(result, RetornoFile):
        return {"file": path.name, "format": "cnab240-retorno", "bank": result.bank_code,
                "titles": [{field: getattr(t, field) for field in t.__slots__}
                           for t in result.titles], "lines": _rows(path, result)}
    return {"file": path.name, "format": result.format, "bank": result.bank, "layout": result.layout,
            "accounts": [a.label() for a in result.accounts],
            "period": list(result.period) if result.period else None,
            "balances": [{"account": b.account.label(), "on": b.on, "kind": b.kind,
                          "amount": from_cents(b.cents)} for b in result.balances],
            "lines": _rows(path, result)}


def _print_text(path: Path, result: Result) -> None:
    if isinstance(result, InputError):
        print(f"{path.name}: REJECTED: {result}\n")
        return
    if isinstance(result, RetornoFile):
        _print_retorno(path, result)
        return
    accounts = ", ".join(a.label() for a in result.accounts) or "none stated"
    period = f"{result.period[0]:%d/%m/%Y} to {result.period[1]:%d/%m/%Y}" if result.period else "?"
    print(f"{path.name}: {result.format}, bank {result.bank or '?'}, layout {result.layout or '-'}, "
          f"account {accounts}, period {period}")
    print(f"  {len(result.lines)} kept, "
          f"{sum(r.kind == 'dropped' for r in result.dropped)} dropped, "
          f"{sum(r.kind == 'rejected' for r in result.dropped)} rejected")
    for row in _rows(path, result):
        where = f"line {row['line']}" if row.get("line") else "file"
        if row["status"] == "kept":
            print(f"  {where:>10}  {row['date']:%d/%m/%Y}  {format_brl(int(row['amount'] * 100)):>16}"
                  f"  {row['memo'][:60]:<60}  {row['line_key']}")
        else:
            print(f"  {where:>10}  {row['status'].upper()}: {row['reason']}")
    print()


def _print_retorno(path: Path, result: RetornoFile) -> None:
    liquidated = [t for t in result.titles if t.liquidated]
    print(f"{path.name}: cnab240 cobrança retorno, bank {result.bank_code}, "
          f"{len(result.titles)} title{'' if len(result.titles) == 1 else 's'} "
          f"({len(liquidated)} liquidated, "
          f"{format_brl(sum(t.net_cents for t in liquidated))} net), "
          f"{len(result.rejects)} rejected")
    for row in _rows(path, result):
        where = f"line {row['line']}" if row.get("line") else "file"
        if row["status"] == "title":
            date = f"{row['date']:%d/%m/%Y}" if row["date"] else "no date  "
            print(f"  {where:>10}  {date}  {format_brl(int(row['amount'] * 100)):>16}"
                  f"  {row['memo']}")
        else:
            print(f"  {where:>10}  {row['status'].upper()}: {row['reason']}")
    print()
