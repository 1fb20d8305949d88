"""`recon report` and the delivery behind `recon run --email / --notify`.

Delivery comes after the run is recorded and its report written, so a mail server or
chat webhook that fails never loses a run: the run stays `succeeded` in the store, the
report stays on disk, and the command exits 1 saying what was not sent and why.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from recon import notify
from recon.config import Config, load_config
from recon.errors import NotifyError, ReconError
from recon.lock import locked_store
from recon.pipeline import EXIT_FAILED, EXIT_OK, EXIT_USAGE, RunResult
from recon.store import Store

EXAMPLES = """examples:
  recon report                                   (the latest run's report, written again)
  recon report 20261104T020000-ab12 --email      (and email it)
  recon report --notify                          (post the latest run's figures to the chat)

exit codes: 0 written (and sent), 1 written but not sent, 2 usage/config error (unknown run),
4 another recon holds the company's lock"""


@dataclass(frozen=True)
class Delivery:
    """Where a report goes, checked before any work is done."""

    config: Config
    email: notify.EmailSettings | None = None
    webhook_url: str | None = field(default=None, repr=False)  # the URL is a credential

    @property
    def wanted(self) -> bool:
        return self.email is not None or self.webhook_url is not None


def add_report_commands(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "report", help="write a stored run's report again, and email or post it",
        description="Write report.html and exceptions.csv of a stored run (the latest without "
                    "RUN_ID) and optionally send them.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("run_id", nargs="?", metavar="RUN_ID", help="a run id (see `recon history`)")
    cmd.add_argument("--config", type=Path, default=Path("recon.toml"), help="TOML config file")
    add_delivery_arguments(cmd)
    cmd.set_defaults(handler=_report_command)


def add_delivery_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--email", action="store_true",
                     help="email the report ([email] settings; skipped when there is nothing to "
                          "report unless email.always)")
    cmd.add_argument("--notify", action="store_true",
                     help="post the headline figures and the report's link to the chat webhook")


def prepare_delivery(config: Config, *, email: bool, notify_chat: bool) -> Delivery:
    """The settings each asked channel needs; a ConfigError (exit 2) before anything runs."""
    return Delivery(config=config,
                    email=notify.email_settings(config) if email else None,
                    webhook_url=notify.webhook_url(config) if notify_chat else None)


def deliver_run(delivery: Delivery, result: RunResult) -> int:
    """After `recon run`: send what was asked; the run's exit code, or 1 if a send failed."""
    if not delivery.wanted or result.report_path is None or result.csv_path is None:
        return result.exit_code
    try:
        with locked_store(delivery.config, "recon run (delivery)") as store:
            context = _context(delivery.config, store, result.run_id)
    except ReconError as exc:
        _not_sent(result.report_path, "the report could not be sent", exc)
        return EXIT_FAILED
    sent = deliver(delivery, context, result.report_path, result.csv_path)
    return result.exit_code if sent else EXIT_FAILED


def deliver(delivery: Delivery, context: dict[str, Any], html_path: Path, csv_path: Path) -> bool:
    """Each channel asked, independently (a failed email does not stop the chat post)."""
    ok = True
    if delivery.email is not None:
        ok = _email(delivery, delivery.email, context, html_path, csv_path) and ok
    if delivery.webhook_url is not None:
        ok = _post(delivery, delivery.webhook_url, context, html_path) and ok
    return ok


def _email(delivery: Delivery, settings: notify.EmailSettings, context: dict[str, Any],
           html_path: Path, csv_path: Path) -> bool:
    from reports.text import render_text

    if not (settings.always or notify.something_to_report(context["counts"])):
        print("nothing to report: no email sent (set email.always = true to send anyway)")
        return True
    # A local path means nothing in a recipient's mail client; a served report does.
    link = (notify.report_link(delivery.config, context["run"]["run_id"], html_path)
            if delivery.config.get("notify.report_base_url") else None)
    message = notify.build_message(
        context, html_path.read_text(encoding="utf-8"), render_text(context, link=link),
        csv_path.read_bytes(),
        settings.sender, settings.recipients, notify.subject_of(context))
    try:
        notify.send_email(message, settings)
    except NotifyError as exc:
        _not_sent(html_path, "the email could not be sent", exc)
        return False
    print(f"emailed to {', '.join(settings.recipients)}: {message['Subject']}")
    return True


def _post(delivery: Delivery, url: str, context: dict[str, Any], html_path: Path) -> bool:
    link = notify.report_link(delivery.config, context["run"]["run_id"], html_path)
    try:
        notify.post_webhook(url, notify.webhook_payload(context, link),
                            timeout=delivery.config.get("notify.timeout_seconds"))
    except NotifyError as exc:
        _not_sent(html_path, "the chat notification could not be posted", exc)
        return False
    print("posted to the chat webhook")
    return True


def deliver_failure(delivery: Delivery, window_from: date, window_to: date,
                    error: str) -> None:
    """A run that failed tells the same channels it would have reported to: a clean night
    sends nothing (unless email.always), so a silent failure would read as a clean night.
    A failure to send this is printed; the run's own error stays what the command exits with."""
    if not delivery.wanted:
        return
    config = delivery.config
    language = config.get("report.language")
    log_path = config.path("log.file") if config.get("log.file") else "recon.log"
    subject_line = notify.failure_subject(window_from, window_to, language)
    text = notify.failure_text(error, log_path, language)
    if delivery.email is not None:
        settings = delivery.email
        try:
            notify.send_email(notify.failure_message(subject_line, text, settings.sender,
                                                     settings.recipients), settings)
            print(f"emailed the failure to {', '.join(settings.recipients)}", file=sys.stderr)
        except NotifyError as exc:
            print(f"recon: the failure could not be emailed either: {exc}", file=sys.stderr)
    if delivery.webhook_url is not None:
        try:
            notify.post_webhook(delivery.webhook_url, notify.failure_payload(subject_line, text),
                                timeout=config.get("notify.timeout_seconds"))
            print("posted the failure to the chat webhook", file=sys.stderr)
        except NotifyError as exc:
            print(f"recon: the failure could not be posted either: {exc}", file=sys.stderr)


def _not_sent(report_path: Path, what: str, exc: Exception) -> None:
    print(f"recon: report written to {report_path} but {what}: {exc}", file=sys.stderr)


# -- recon report ----------------------------------------------------------------------------

def _report_command(args: argparse.Namespace) -> int:
    from reports.build import write_reports

    config = load_config(args.config)
    delivery = prepare_delivery(config, email=args.email, notify_chat=args.notify)
    with locked_store(config, "recon report") as store:
        run = _stored_run(store, args.run_id)
        if run is None:
            store_path = config.path("store.path")
            print(f"recon: no `recon run` with id {args.run_id!r} in {store_path}: see "
                  "`recon history`" if args.run_id else "recon: no run recorded yet",
                  file=sys.stderr)
            return EXIT_USAGE
        html_path, csv_path = write_reports(store, run["run_id"], config.path("report.dir"),
                                            config.get("report.language"),
                                            config.get("report.max_rows"))
        context = _context(delivery.config, store, run["run_id"])
    if run["status"] != "succeeded":
        print(f"note: run {run['run_id']} ended {run['status']}; its report shows what it "
              "recorded before that", file=sys.stderr)
    print(f"report: {html_path}\nexceptions: {csv_path}")
    return EXIT_OK if deliver(delivery, context, html_path, csv_path) else EXIT_FAILED


def _stored_run(store: Store, run_id: str | None) -> dict[str, Any] | None:
    """The run asked for, or the latest pipeline run (not a resume, approve or undo)."""
    rows = store.query(
        """SELECT run_id, status FROM runs WHERE coalesce(command, 'run') = 'run'
             AND (run_id = $id OR $id IS NULL)
           ORDER BY started_at DESC LIMIT 1""", {"id": run_id})
    return rows[0] if rows else None


def _context(config: Config, store: Store, run_id: str) -> dict[str, Any]:
    from reports.context import build_context  # reports depend on the store, not the reverse

    return build_context(store, run_id, config.get("report.language"),
                         config.get("report.max_rows"))
