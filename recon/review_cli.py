"""`recon review`, `approve`, `reject`, `undo`, `history`, `resume`: people in control.

Every command takes the company's lock (a nightly run in progress makes them wait
their turn with a clear message) and records who did what in the store.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recon.config import Config, load_config
from recon.history import decisions_of, events_of, recent_runs
from recon.lock import locked_store
from recon.money import format_brl
from recon.pipeline import (
    EXIT_EXCEPTIONS,
    EXIT_OK,
    RunResult,
    RunWindow,
    build_client,
    new_run_id,
    operation,
    resume_async,
)
from recon.review import Verdict, approve, default_reviewer, pending_items, reject
from recon.undo import undo, undo_targets

FORMATTER = argparse.RawDescriptionHelpFormatter


def add_review_commands(commands: argparse._SubParsersAction) -> None:
    _add(commands, "review", "list the suggestions waiting for a person",
         "examples:\n  recon review\n  recon review 12 14   (details of items 12 and 14)",
         _review_command).add_argument("items", nargs="*", type=int, metavar="ID")
    cmd = _add(commands, "approve", "approve suggestions; the next run settles them (or --apply)",
               "examples:\n  recon approve 12 14\n  recon approve 12 --parcela <parcela id>\n"
               "  recon approve 12 --apply --note 'cliente confirmou por telefone'",
               _approve_command)
    _verdict_arguments(cmd)
    cmd.add_argument("--apply", action="store_true", help="settle in Conta Azul now")
    cmd = _add(commands, "reject", "reject suggestions; a rejected pair is never proposed again",
               "examples:\n  recon reject 13 --note 'não é deste cliente'", _reject_command)
    _verdict_arguments(cmd)
    cmd = _add(commands, "undo", "delete the baixas a run (or one match) created and restore notas",
               "examples:\n  recon undo 20261104T020000-ab12\n  recon undo --parcela <id>\n"
               "  recon undo --line <line key>", _undo_command)
    cmd.add_argument("run_id", nargs="?", metavar="RUN_ID")
    cmd.add_argument("--line", help="only this bank line's baixas")
    cmd.add_argument("--parcela", help="only this parcela's baixas")
    cmd.add_argument("--by", default=default_reviewer(), help="who is undoing (default: your user)")
    cmd = _add(commands, "history", "what was decided, by whom, written and answered",
               "examples:\n  recon history\n  recon history --run 20261104T020000-ab12\n"
               "  recon history --parcela <id>", _history_command)
    target = cmd.add_mutually_exclusive_group()
    target.add_argument("--run", help="one run: its decisions and every write")
    target.add_argument("--parcela", help="one parcela across runs")
    target.add_argument("--line", help="one bank line across runs")
    cmd.add_argument("--limit", type=int, default=20, help="runs listed without a filter")
    _add(commands, "resume", "finish what a killed run left and settle approved items",
         "example: recon resume --config recon.toml", _resume_command)


def _add(commands: argparse._SubParsersAction, name: str, summary: str, examples: str,
         handler: Any) -> argparse.ArgumentParser:
    cmd = commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".",
                              epilog=examples, formatter_class=FORMATTER)
    cmd.add_argument("--config", type=Path, default=Path("recon.toml"), help="TOML config file")
    cmd.set_defaults(handler=handler)
    return cmd


def _verdict_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("items", nargs="+", type=int, metavar="ID")
    cmd.add_argument("--parcela", help="the candidate parcela meant (one item only)")
    cmd.add_argument("--by", default=default_reviewer(), help="who decides (default: your user)")
    cmd.add_argument("--note", default="", help="why, for the audit trail")


# -- review --------------------------------------------------------------------------------

def _review_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with locked_store(config, "recon review") as store:
        items = pending_items(store, args.items or None)
    if not items:
        print("nothing to review" if not args.items else "no such pending item")
        return EXIT_OK
    for item in items:
        print_item(item, detailed=bool(args.items))
    print(f"{len(items)} pending. Approve: recon approve ID... | reject: recon reject ID... "
          "| details: recon review ID")
    return EXIT_OK


def print_item(item: dict[str, Any], *, detailed: bool = False) -> None:
    print(f"#{item['item_id']}  {item['posted_on']:%d/%m/%Y}  {format_brl(int(item['amount_cents']))}"
          f"  {item['memo']}")
    print(f"     {item['file']}" + (f", line {item['source_line']}" if item.get("source_line") else ""))
    for allocation in item["proposal"]:
        due = f", due {allocation['due_on']:%d/%m/%Y}" if allocation.get("due_on") else ""
        parts = "".join(f", {name} {format_brl(int(allocation[f'{name}_cents']))}"
                        for name in ("multa", "juros", "desconto", "taxa")
                        if allocation.get(f"{name}_cents"))
        print(f"     proposed: parcela {allocation['parcela_id']} {allocation.get('descricao') or ''}"
              f" ({allocation.get('contact_name') or 'no contact'}){due}, settles "
              f"{format_brl(int(allocation['gross_cents']))}{parts}")
    print(f"     why: {item['reason']}")
    shown = item["candidates"] if detailed else item["candidates"][:3]
    others = [c for c in shown if c["parcela_id"] not in {a["parcela_id"] for a in item["proposal"]}]
    for candidate in others:
        print(f"     candidate: parcela {candidate['parcela_id']} {candidate.get('descricao') or ''}"
              f" ({candidate.get('contact_name') or 'no contact'}), open "
              f"{format_brl(int(candidate['open_cents']))}, p={candidate['probability']:.3f}")
    print()


# -- approve / reject ----------------------------------------------------------------------

def _approve_command(args: argparse.Namespace) -> int:
    config = _record_verdicts(args, approve, "approved", "")
    if not args.apply:
        print("the next `recon run` settles them in Conta Azul (or run `recon resume` now)")
        return EXIT_OK
    result = asyncio.run(resume_async(config, "approve --apply"))
    print(f"settled {result.counts.get('settled', 0)} in Conta Azul"
          + (f"; {result.counts['write_errors']} could not be written (see `recon history "
             f"--run {result.run_id}`)" if result.counts.get("write_errors") else ""))
    return EXIT_EXCEPTIONS if result.counts.get("write_errors") else EXIT_OK


def _reject_command(args: argparse.Namespace) -> int:
    _record_verdicts(args, reject, "rejected", " will not be proposed for this line again")
    return EXIT_OK


def _record_verdicts(args: argparse.Namespace, decide: Callable[..., Verdict], done: str,
                     consequence: str) -> Config:
    """Each item's verdict, under the lock, said back to the person who gave it."""
    config = load_config(args.config)
    _check_parcela_option(args)
    with locked_store(config, f"recon {args.command}") as store:
        for item_id in args.items:
            verdict = decide(store, item_id, by=args.by, note=args.note, parcela_id=args.parcela)
            print(f"{done} #{item_id} by {verdict.by}: parcela "
                  f"{', '.join(verdict.parcela_ids)}{consequence}")
    return config


def _check_parcela_option(args: argparse.Namespace) -> None:
    if args.parcela and len(args.items) != 1:
        raise SystemExit("recon: --parcela names the parcela of one item; give one ID")


# -- undo / resume -------------------------------------------------------------------------

def _undo_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    return asyncio.run(_undo_async(config, args))


async def _undo_async(config: Config, args: argparse.Namespace) -> int:
    from datetime import datetime

    from recon.dates import SAO_PAULO

    today = datetime.now(tz=SAO_PAULO).date()
    result = RunResult(run_id=new_run_id(), window=RunWindow(today, today), dry_run=False)
    async with operation(config, result, "undo") as store, build_client(config) as client:
        rows = undo_targets(store, run_id=args.run_id, line_key=args.line, parcela_id=args.parcela)
        outcome = await undo(store, client, rows, by=args.by)
    for row in outcome.undone:
        print(f"undone: baixa {row['baixa_id']} on parcela {row['parcela_id']} "
              f"({format_brl(int(row['amount_cents']))}, line {row['line_key']})")
    for row, reason in outcome.refused:
        print(f"REFUSED: parcela {row['parcela_id']}: {reason}")
    return EXIT_EXCEPTIONS if outcome.refused else EXIT_OK


def _resume_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    result = asyncio.run(resume_async(config))
    print(f"resume {result.run_id}: settled {result.counts.get('settled', 0)}, "
          f"not written {result.counts.get('write_errors', 0)}")
    return EXIT_EXCEPTIONS if result.counts.get("write_errors") else EXIT_OK


# -- history -------------------------------------------------------------------------------

def _history_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with locked_store(config, "recon history") as store:
        if not (args.run or args.parcela or args.line):
            _print_runs(recent_runs(store, args.limit))
            return EXIT_OK
        decisions = decisions_of(store, run_id=args.run, line_key=args.line,
                                 parcela_id=args.parcela)
        events = events_of(store, run_id=args.run, line_key=args.line, parcela_id=args.parcela)
    if not decisions and not events:
        print("nothing recorded for that")
        return EXIT_OK
    print("decided:")
    for d in decisions:
        who = "rule" if d["decision"] == "auto" else "matcher"
        print(f"  {d['started_at']:%d/%m/%Y %H:%M} run {d['run_id']}  line {d['line_key']} "
              f"({d['posted_on']:%d/%m/%Y} {format_brl(int(d['amount_cents']))} {d['memo']})"
              f" -> {d['decision']} {d['parcela_id'] or ''} [{who}: {d['reason_code'] or ''}"
              + (f", p={d['score']:.3f}" if d["score"] is not None else "") + "]"
              + (f" {d['detail']}" if d["detail"] else ""))
    print("done:")
    for e in events:
        print(f"  {e['happened_at']:%d/%m/%Y %H:%M:%S} {e['actor']:<14} {e['event']:<10} "
              f"parcela {e['parcela_id'] or '-'} line {e['line_key'] or '-'}"
              + (f" item #{e['item_id']}" if e["item_id"] is not None else "")
              + (f": {e['detail']}" if e["detail"] else ""))
    return EXIT_OK


def _print_runs(runs: list[dict[str, Any]]) -> None:
    if not runs:
        print("no runs yet")
        return
    for r in runs:
        window = f"{r['window_from']} to {r['window_to']}"
        mode = " dry-run" if r["dry_run"] else ""
        print(f"{r['run_id']}  {r['command']:<16} {r['started_at']:%d/%m/%Y %H:%M}  "
              f"{r['status']:<9} {window}{mode}  auto {r['auto']}, review {r['review']}, "
              f"unmatched {r['unmatched']}, baixas {r['baixas']}"
              + (f"  error: {r['error']}" if r["error"] else ""))
