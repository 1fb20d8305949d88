"""Delivery of a run's report: email over SMTP, and a chat webhook (Slack-compatible JSON).

The builders (settings, subject, message, payload) are pure; only `send_email` and
`post_webhook` do I/O, so the content is testable without a server. The SMTP password
and the webhook URL (which is itself the credential) are secrets: read only from the
environment or a 0600 file, kept out of reprs, logs and exception messages.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import httpx

from recon.config import SETTINGS, Config, read_secret_file
from recon.errors import ConfigError, NotifyError
from reports.labels import LABELS, day

log = logging.getLogger(__name__)

PASSWORD_ENV = "RECON_EMAIL_PASSWORD"
WEBHOOK_ENV = "RECON_NOTIFY_WEBHOOK_URL"
SECURITY_MODES = ("starttls", "ssl", "none")
# What makes a run worth a person's attention: the same counts as exit code 3.
EXCEPTION_COUNTS = ("review", "unmatched", "files_rejected", "lines_rejected", "write_errors",
                    "statement_gaps")
# Subject parts: count key, singular, plural (only the non-zero ones are said).
_SUBJECT_PARTS = {
    "pt": (("review", "para revisar", "para revisar"),
           ("unmatched", "sem parcela", "sem parcela"),
           ("files_rejected", "arquivo rejeitado", "arquivos rejeitados"),
           ("lines_rejected", "linha rejeitada", "linhas rejeitadas"),
           ("statement_gaps", "extrato incompleto", "extratos incompletos"),
           ("write_errors", "erro ao gravar", "erros ao gravar")),
    "en": (("review", "to review", "to review"),
           ("unmatched", "with no parcela", "with no parcela"),
           ("files_rejected", "file rejected", "files rejected"),
           ("lines_rejected", "line rejected", "lines rejected"),
           ("statement_gaps", "incomplete statement", "incomplete statements"),
           ("write_errors", "write error", "write errors")),
}
# (nothing to review, settled one, settled many, "to" between dates, dry run)
_SUBJECT_WORDS = {"pt": ("nada a revisar", "baixado", "baixados", "a", "simulação"),
                  "en": ("nothing to review", "settled", "settled", "to", "dry run")}
_PASSWORD_HELP = f"{PASSWORD_ENV} or email.password_file (a 0600 file)"
_WEBHOOK_HELP = f"{WEBHOOK_ENV} or notify.webhook_url_file (a 0600 file)"


@dataclass(frozen=True, slots=True)
class EmailSettings:
    host: str
    port: int
    security: str
    sender: str
    recipients: tuple[str, ...]
    username: str = ""
    password: str = field(default="", repr=False)  # never shown in a repr
    timeout: float = 30.0
    always: bool = False

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"


# -- settings --------------------------------------------------------------------------------

def email_settings(config: Config, environ: Mapping[str, str] | None = None) -> EmailSettings:
    """The `[email]` settings, checked before anything is run: ConfigError names the key."""
    env = os.environ if environ is None else environ
    username = config.get("email.username")
    settings = EmailSettings(
        host=_required(config, "email.smtp_host", "the SMTP server"),
        port=config.get("email.smtp_port"),
        security=_security(config),
        sender=config.get("email.sender") or username,
        recipients=parse_recipients(config.get("email.recipients")),
        username=username,
        password=_password(config, env) if username else "",
        timeout=config.get("email.timeout_seconds"),
        always=config.get("email.always"))
    if not settings.recipients:
        _missing(config, "email.recipients", "whom to send the report to (comma-separated)")
    if "@" not in settings.sender:
        _missing(config, "email.sender", "the From address (an email address)")
    if settings.security == "none" and settings.username:
        log.warning("email.security = none: the SMTP password crosses the network unencrypted; "
                    "use it only with a relay on this machine")
    return settings


def parse_recipients(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in re.split(r"[,;]", text or "") if part.strip())


def webhook_url(config: Config, environ: Mapping[str, str] | None = None) -> str:
    """The chat webhook URL, from the environment or its 0600 file (never from the TOML)."""
    env = os.environ if environ is None else environ
    url = env.get(WEBHOOK_ENV, "").strip()
    if not url and config.get("notify.webhook_url_file"):
        url = read_secret_file(config.path("notify.webhook_url_file"))
    if not url:
        raise ConfigError(f"--notify needs the chat webhook URL: set {_WEBHOOK_HELP}",
                          key="notify.webhook_url_file", source=config.source)
    if not url.startswith(("https://", "http://")):
        # The URL is a credential: say what is wrong with it without showing it.
        raise ConfigError(f"the chat webhook URL must start with https:// (from {_WEBHOOK_HELP})",
                          key="notify.webhook_url_file", source=config.source)
    return url


def _required(config: Config, key: str, what: str) -> str:
    value = str(config.get(key)).strip()
    if not value:
        _missing(config, key, what)
    return value


def _missing(config: Config, key: str, what: str) -> None:
    env = next(s.env for s in SETTINGS if f"{s.section}.{s.key}" == key)
    raise ConfigError(f"--email needs {what}: set {key} (or {env})", key=key, source=config.source)


def _security(config: Config) -> str:
    security = str(config.get("email.security")).strip().lower()
    if security not in SECURITY_MODES:
        raise ConfigError(f"{security!r} is not one of {', '.join(SECURITY_MODES)}",
                          key="email.security", source=config.source)
    return security


def _password(config: Config, env: Mapping[str, str]) -> str:
    if env.get(PASSWORD_ENV):
        return env[PASSWORD_ENV]
    if config.get("email.password_file"):
        return read_secret_file(config.path("email.password_file"))
    raise ConfigError(f"email.username is set but there is no SMTP password: set {_PASSWORD_HELP}",
                      key="email.password_file", source=config.source)


# -- content ---------------------------------------------------------------------------------

def something_to_report(counts: Mapping[str, int]) -> bool:
    return any(counts.get(key, 0) for key in EXCEPTION_COUNTS)


def subject(counts: Mapping[str, int], window_from: date, window_to: date, *,
            dry_run: bool = False, language: str = "pt") -> str:
    """`recon: 2 para revisar, 3 sem parcela — 02/11/2026 a 06/11/2026` (or in English)."""
    nothing, one_settled, many_settled, to, simulated = _SUBJECT_WORDS[language]
    parts = [f"{counts[key]} {one if counts[key] == 1 else many}"
             for key, one, many in _SUBJECT_PARTS[language] if counts.get(key)]
    settled = counts.get("settled", 0)
    summary = ", ".join(parts) or (
        f"{nothing}, {settled} {one_settled if settled == 1 else many_settled}")
    when = day(language)
    period = when(window_from) if window_from == window_to else (
        f"{when(window_from)} {to} {when(window_to)}")
    return f"recon: {summary} — {period}" + (f" ({simulated})" if dry_run else "")


def subject_of(context: Mapping[str, Any]) -> str:
    run = context["run"]
    return subject(context["counts"], run["window_from"], run["window_to"],
                   dry_run=bool(run.get("dry_run")), language=context.get("language", "pt"))


def report_link(config: Config, run_id: str, report_path: Path) -> str:
    """Where a person opens the report: under notify.report_base_url if set, else the path."""
    base = str(config.get("notify.report_base_url")).strip()
    return f"{base.rstrip('/')}/{run_id}/report.html" if base else str(report_path)


def build_message(context: Mapping[str, Any], html: str, text: str, csv_bytes: bytes,
                  sender: str, recipients: tuple[str, ...] | list[str],
                  subject: str) -> EmailMessage:
    """multipart/mixed: multipart/alternative (text, then the HTML report) + exceptions.csv.

    The plain text comes first because clients show the last alternative they can render.
    """
    message = _plain_message(subject, text, sender, recipients, str(context["run"]["run_id"]))
    message.add_alternative(html, subtype="html", charset="utf-8")
    message.add_attachment(csv_bytes, maintype="text", subtype="csv", filename="exceptions.csv",
                           params={"charset": "utf-8"})
    return message


# A failed nightly run: (subject word, first sentence, what to do).
_FAILURE_WORDS = {
    "pt": ("FALHOU", "A execução do recon falhou; nenhum relatório foi gerado desta vez.",
           ("O que fazer: veja o log ({log}), corrija a causa e rode `recon run` de novo. Uma nova "
            "execução retoma de onde esta parou e nunca baixa uma parcela duas vezes.")),
    "en": ("FAILED", "The recon run failed; no report was written this time.",
           ("What to do: read the log ({log}), fix the cause and run `recon run` again. A new run "
            "takes over where this one stopped and never settles a parcela twice.")),
}
FAILURE_TEXT_LIMIT = 600  # characters of the error shown; the log has all of it


def failure_subject(window_from: date, window_to: date, language: str = "pt") -> str:
    """`recon: FALHOU — 02/11/2026 a 06/11/2026`: a nightly failure is never silent (a
    clean night sends nothing unless email.always, so silence would look like success)."""
    when, to = day(language), _SUBJECT_WORDS[language][3]
    period = when(window_from) if window_from == window_to else (
        f"{when(window_from)} {to} {when(window_to)}")
    return f"recon: {_FAILURE_WORDS[language][0]} — {period}"


def failure_text(error: str, log_path: Path | str, language: str = "pt") -> str:
    _, said, what_to_do = _FAILURE_WORDS[language]
    shown = error if len(error) <= FAILURE_TEXT_LIMIT else error[:FAILURE_TEXT_LIMIT] + " …"
    return f"{said}\n\n{shown}\n\n{what_to_do.format(log=log_path)}\n"


def failure_message(subject_line: str, text: str, sender: str,
                    recipients: tuple[str, ...] | list[str]) -> EmailMessage:
    return _plain_message(subject_line, text, sender, recipients, "recon-failed")


def _plain_message(subject_line: str, text: str, sender: str,
                   recipients: tuple[str, ...] | list[str], idstring: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject_line
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(idstring=idstring)
    message.set_content(text, subtype="plain", charset="utf-8")
    return message


def failure_payload(subject_line: str, text: str) -> dict[str, Any]:
    return {"text": f"*{_slack_escape(subject_line)}*\n{_slack_escape(text.strip())}"}


def webhook_payload(context: Mapping[str, Any], link: str) -> dict[str, Any]:
    """Slack-compatible: `text` for every receiver, `blocks` for the ones that render them."""
    counts = context["counts"]
    t = LABELS[context.get("language", "pt")]
    figures = [(t["lines_read"], counts.get("lines", 0)),
               (t["settled_auto"], counts.get("settled", 0)),
               (t["to_review"], counts.get("review", 0)),
               (t["unmatched"], counts.get("unmatched", 0)),
               (t["unpaid"], len(context.get("unpaid_parcelas", []))),
               (t["files_rejected"], counts.get("files_rejected", 0))]
    title = _slack_escape(subject_of(context))
    where = _slack_escape(link)
    shown = (f"<{where}|{t['open_report']}>" if link.startswith(("https://", "http://"))
             else f"`{where}`")
    return {
        "text": f"*{title}*\n" + " · ".join(f"{label} {n}" for label, n in figures)
                + f"\n{t['report']}: {where}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{label}*\n{n}"}
                                           for label, n in figures]},
            {"type": "context", "elements": [{"type": "mrkdwn",
                                              "text": f"{t['report']}: {shown}"}]},
        ],
    }


def _slack_escape(text: str) -> str:
    """Slack's mrkdwn reserves &, < and >; a path or memo must not turn into markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- I/O -------------------------------------------------------------------------------------

def send_email(message: EmailMessage, settings: EmailSettings) -> None:
    """Send over SMTP; every failure becomes a NotifyError naming the server and the fix."""
    try:
        refused = _send(message, settings)
    except (smtplib.SMTPException, OSError) as exc:
        # `from None`: the original may carry the server's echo of the AUTH exchange.
        raise _smtp_error(exc, settings) from None
    for address, (code, reply) in refused.items():
        log.warning("SMTP server %s refused recipient %s (%s %s)", settings.server, address,
                    code, _reply_text(reply, settings))
    log.info("report emailed to %d recipient(s) via %s", len(settings.recipients) - len(refused),
             settings.server)


def _send(message: EmailMessage, settings: EmailSettings) -> dict[str, tuple[int, bytes]]:
    with _connect(settings) as smtp:
        if settings.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.username:
            smtp.login(settings.username, settings.password)
        return smtp.send_message(message)


def _connect(settings: EmailSettings) -> smtplib.SMTP:
    if settings.security == "ssl":
        return smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                context=ssl.create_default_context())
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)


def _smtp_error(exc: Exception, settings: EmailSettings) -> NotifyError:
    where = f"SMTP server {settings.server}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return NotifyError(
            f"{where} refused the login of {settings.username!r} ({exc.smtp_code} "
            f"{_reply_text(exc.smtp_error, settings)}): check email.username and the password in "
            f"{_PASSWORD_HELP}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return NotifyError(f"{where} does not offer what email.security = {settings.security!r} "
                           f"needs ({exc}): check email.security (starttls, ssl or none) and "
                           "email.smtp_port (587 is usually starttls, 465 ssl)")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return NotifyError(f"{where} refused every recipient "
                           f"({', '.join(exc.recipients)}): check email.recipients")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return NotifyError(f"{where} refused the sender {exc.sender!r} ({exc.smtp_code} "
                           f"{_reply_text(exc.smtp_error, settings)}): check email.sender")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return NotifyError(f"TLS with {where} failed ({exc}): check email.security and "
                           "email.smtp_port (587 is usually starttls, 465 ssl), and that the "
                           "server's certificate is trusted by this machine")
    if isinstance(exc, smtplib.SMTPResponseException):
        return NotifyError(f"{where} answered {exc.smtp_code} "
                           f"{_reply_text(exc.smtp_error, settings)}: see the server's message")
    return NotifyError(f"could not talk to {where} ({type(exc).__name__}: "
                       f"{_redact(str(exc), settings.password)}): check email.smtp_host, "
                       "email.smtp_port, email.security and the network")


def _reply_text(reply: bytes | str, settings: EmailSettings) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return _redact(text, settings.password)


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def post_webhook(url: str, payload: dict[str, Any], timeout: float = 10.0) -> None:
    """POST the payload; NotifyError on no answer or a non-2xx one (the URL is never shown).

    The CLI keeps httpx's request log (which shows the URL) at WARNING and above.
    """
    try:
        response = httpx.post(url, json=payload, timeout=timeout)
    except httpx.HTTPError as exc:
        raise NotifyError(
            f"the chat webhook could not be reached ({type(exc).__name__}: "
            f"{_redact(str(exc), url)}): check the network and the URL in {_WEBHOOK_HELP}"
        ) from None
    if not response.is_success:
        raise NotifyError(
            f"the chat webhook answered {response.status_code} "
            f"{_redact(response.text[:200], url)!r}: check the URL in {_WEBHOOK_HELP}")
    log.info("chat notification posted (%d)", response.status_code)
