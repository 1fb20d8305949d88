"""The `recon` command. The only module that prints; everything else logs.

Exit codes (for cron wrappers):
  0  the run succeeded and there is nothing for a person to look at
  3  the run succeeded; there are exceptions to review (see the report)
  1  the run failed (Conta Azul refused or unreachable, store unusable, ...)
     or its report was written but could not be emailed or posted (--email, --notify)
  2  usage or configuration error (including a review item that cannot be approved as asked)
  4  another recon process holds the company's lock; nothing was done
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from recon import __version__
from recon.auth_cli import add_auth
from recon.config import load_config
from recon.dates import yesterday_sao_paulo
from recon.errors import ConfigError, LockHeld, ReconError, ReviewError
from recon.logs import configure_logging
from recon.memory import tune_process_memory
from recon.pipeline import (
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_USAGE,
    RunResult,
    RunWindow,
    catch_up_window,
    run,
)
from recon.progress import Progress, Silent, TerminalBar
from recon.report_cli import (
    add_delivery_arguments,
    add_report_commands,
    deliver_failure,
    deliver_run,
    prepare_delivery,
)
from recon.review_cli import add_review_commands
from recon.setup_cli import add_setup_commands
from recon.statements_cli import add_statements

EPILOG = """exit codes: 0 clean, 3 done with exceptions to review, 1 run failed, 2 usage/config error,
4 another recon holds the company's lock"""


def main(argv: list[str] | None = None) -> int:
    tune_process_memory()
    parser = build_parser()
    args = parser.parse_args(argv)
    log_file, max_bytes, backups = log_file_of(args)
    configure_logging(args.verbose - args.quiet, log_file, max_bytes=max_bytes, backups=backups)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"recon: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ReviewError as exc:
        print(f"recon: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LockHeld as exc:
        print(f"recon: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except ReconError as exc:
        print(f"recon: run failed: {exc}", file=sys.stderr)
        return EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recon", description="Reconcile bank statements with Conta Azul parcelas.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"recon {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less log output")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(commands)
    _add_demo(commands)
    _add_standin(commands)
    add_auth(commands)
    add_statements(commands)
    add_review_commands(commands)
    add_report_commands(commands)
    add_setup_commands(commands)
    _accept_verbosity_anywhere(parser)
    return parser


def _accept_verbosity_anywhere(parser: argparse.ArgumentParser) -> None:
    """`recon run -q` as well as `recon -q run`: people type both."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if not any("--quiet" in a.option_strings for a in sub._actions):
                    sub.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                                     help="more log output")
                    sub.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS,
                                     help="less log output (-q errors only; cron)")
                _accept_verbosity_anywhere(sub)


def _add_run(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "run", help="pull, match, settle and report for a date window",
        description="Run the nightly pipeline once.",
        epilog="example: recon run --config recon.toml --from 2026-11-01 --to 2026-11-21 --dry-run\n"
               "         recon run --config recon.toml --email --notify   (nightly, from cron; a "
               "failed send exits 1)\n"
               + EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("--config", type=Path, default=Path("recon.toml"), help="TOML config file")
    cmd.add_argument("--from", dest="start", type=_iso_date,
                     help="first bank date (YYYY-MM-DD); without dates: every day since the "
                          "last successful run, up to yesterday (catch-up after missed nights)")
    cmd.add_argument("--to", dest="end", type=_iso_date, help="last bank date (YYYY-MM-DD)")
    cmd.add_argument("--dry-run", action="store_true", help="plan and report, write nothing to Conta Azul")
    add_delivery_arguments(cmd)  # --email, --notify: sent after the run is recorded
    cmd.set_defaults(handler=_run_command)


def _add_demo(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "demo", help="run the real pipeline on the bundled demo against a local stand-in",
        description="Start the Conta Azul stand-in on 127.0.0.1, run the pipeline on fixtures/demo.",
        epilog="example: recon demo --out demo-out")
    cmd.add_argument("--out", type=Path, default=Path("demo-out"), help="folder for the demo's files")
    cmd.add_argument("--fixtures", type=Path, default=None, help="demo fixture folder")
    cmd.set_defaults(handler=_demo_command)


def _add_standin(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "standin", help="serve the Conta Azul stand-in from a state file (for manual testing)",
        epilog="example: recon standin --state demo-out/contaazul_state.json --port 8765")
    cmd.add_argument("--state", type=Path, required=True)
    cmd.add_argument("--port", type=int, default=0)
    cmd.set_defaults(handler=_standin_command)


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from exc


def _run_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    # Delivery settings are checked first: a typo in [email] must not cost a night's run.
    delivery = prepare_delivery(config, email=args.email, notify_chat=args.notify)
    if args.start or args.end:
        window = RunWindow(args.start or args.end, args.end or args.start)
    else:  # the nightly case: every day since the last successful run, up to yesterday
        window = catch_up_window(config, yesterday_sao_paulo())
    try:
        result = run(config, window, dry_run=args.dry_run, progress=progress_for(args))
    except LockHeld:
        raise  # another recon is at work on this company: nothing failed
    except Exception as exc:
        deliver_failure(delivery, window.start, window.end, describe_failure(exc))
        raise
    print_summary(result)
    return deliver_run(delivery, result)  # a failed send: exit 1, the run stays recorded


def describe_failure(exc: BaseException) -> str:
    """What a failure alert says: our errors are written for the reader (file, field, what
    to do) and carry no secret; anything else is a bug, named by its type."""
    if isinstance(exc, ReconError):
        return str(exc)
    return f"unexpected error ({type(exc).__name__}: {exc}); please report it with the log"


def _demo_command(args: argparse.Namespace) -> int:
    from recon.demo import run_demo

    result, state_path = run_demo(args.out, args.fixtures)
    print_summary(result)
    print(f"stand-in state after the run: {state_path}")
    print_demo_review(args.out, state_path)
    return 0


def print_demo_review(out: Path, state_path: Path) -> None:
    """The review queue the demo left, and the commands that decide it."""
    from recon.review import pending_items
    from recon.review_cli import print_item
    from recon.store import Store

    with Store(out / "recon.duckdb") as store:
        items = pending_items(store)
    if not items:
        return
    config = out / "recon.toml"
    # The way this recon was started (`.venv/bin/recon` after `make demo`), so the commands
    # below can be pasted as they are.
    recon = sys.argv[0] if Path(sys.argv[0]).name == "recon" else "recon"
    print(f"\nwaiting for a person ({recon} review --config {config}):\n")
    for item in items:
        print_item(item)
    first = items[0]["item_id"]
    port = 8765
    print("to approve one and settle it now, serve the stand-in again and apply:")
    print(f"  {recon} standin --state {state_path} --port {port} &")
    print(f"  export RECON_CONTAAZUL_API_URL=http://127.0.0.1:{port} "
          f"RECON_CONTAAZUL_TOKEN_URL=http://127.0.0.1:{port}/oauth2/token")
    print(f"  {recon} approve --config {config} {first} --apply --note 'conferido'")
    print(f"  {recon} history --config {config} --line {items[0]['line_key']}")
    print(f"or reject it (never proposed again): {recon} reject --config {config} {first}")


def _standin_command(args: argparse.Namespace) -> int:
    from recon.contaazul import standin

    return standin.main(["--state", str(args.state), "--port", str(args.port)])


def print_summary(result: RunResult) -> None:
    c = result.counts
    mode = " (dry run: nothing written)" if result.dry_run else ""
    print(f"run {result.run_id}: {result.window.start} to {result.window.end}{mode}")
    print(f"  statement lines      {c.get('lines', 0)}")
    # Parcelas and lines: a batch credit is one line settling several parcelas.
    print(f"  settled              {c.get('settled', 0)} parcelas "
          f"({c.get('auto', 0)} lines matched automatically)")
    print(f"  to review            {c.get('review', 0)}")
    print(f"  unmatched lines      {c.get('unmatched', 0)}")
    print(f"  files rejected       {c.get('files_rejected', 0)}, lines rejected {c.get('lines_rejected', 0)}")
    if c.get("write_errors"):
        print(f"  WRITE ERRORS         {c['write_errors']}")
    print(f"report: {result.report_path}")
    print(f"exceptions: {result.csv_path}")


def progress_for(args: argparse.Namespace) -> Progress:
    """A bar for a person at a terminal; nothing for cron, pipes, or -q."""
    if args.quiet or not sys.stderr.isatty():
        return Silent()
    return TerminalBar(sys.stderr)


def log_file_of(args: argparse.Namespace) -> tuple[Path | None, int, int]:
    """The rotating log file of the config the command was given (none without a config, or
    with one that does not load: the command itself then says what is wrong)."""
    path = getattr(args, "config", None)
    if not isinstance(path, Path) or not path.is_file():
        return None, 0, 0
    try:
        config = load_config(path)
    except ConfigError:
        return None, 0, 0
    if not config.get("log.file"):
        return None, 0, 0
    return config.path("log.file"), config.get("log.max_bytes"), config.get("log.backups")


if __name__ == "__main__":
    raise SystemExit(main())
