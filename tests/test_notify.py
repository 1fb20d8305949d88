"""Email and chat delivery of the report, against a real SMTP server (aiosmtpd) and a real
HTTP receiver started by each test on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support import WINDOW, make_demo_clean, recon, recon_run
from test_reports import context as sample_context

from recon import notify
from recon.cli import main
from recon.config import load_config
from recon.errors import ConfigError, NotifyError
from recon.store import Store
from reports.text import WIDTH, render_text

# aiosmtpd is in the `test` extra; without it these tests are skipped, not broken.
aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
aiosmtpd_smtp = pytest.importorskip("aiosmtpd.smtp")

USER = "recon@empresa.test"
PASSWORD = "smtp-pass-never-shown-7f3a"
RECIPIENTS = ["financeiro@empresa.test", "contador@empresa.test"]
WEBHOOK_TOKEN = "T000/B000/webhook-token-never-shown"


# -- a real SMTP server ----------------------------------------------------------------------

class Mailbox:
    """aiosmtpd handler: keeps each message parsed, and each login attempt."""

    def __init__(self, accept_login: bool = True):
        self.accept_login = accept_login
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.logins: list[tuple[str, bool]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's hook name
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (self.accept_login and isinstance(auth_data, aiosmtpd_smtp.LoginPassword)
              and auth_data == (USER.encode(), PASSWORD.encode()))
        self.logins.append((mechanism, ok))
        return aiosmtpd_smtp.AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535


def free_port() -> int:
    # aiosmtpd's Controller must be told its port (it connects to it to start up).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def smtp_server(mailbox: Mailbox | None = None, **smtp: object) -> Iterator[tuple[Mailbox, int]]:
    mailbox = mailbox or Mailbox()
    port = free_port()
    smtp.setdefault("auth_require_tls", False)  # plain SMTP + AUTH, loopback only
    controller = aiosmtpd_controller.Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=mailbox.authenticate, **smtp)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def use_smtp(monkeypatch, port: int, security: str = "none", **extra: str) -> None:
    for name, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SECURITY": security,
                        "USERNAME": USER, "SENDER": "recon <recon@empresa.test>",
                        "RECIPIENTS": ", ".join(RECIPIENTS), **extra}.items():
        monkeypatch.setenv(f"RECON_EMAIL_{name}", value)
    monkeypatch.setenv(notify.PASSWORD_ENV, PASSWORD)


def parts_of(message: EmailMessage) -> tuple[str, str, list[dict[str, str]]]:
    """The text and HTML alternatives and the attached CSV's rows."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_filename() == "exceptions.csv"
    return text, html, list(csv.DictReader(io.StringIO(attachment.get_content())))


def stored_run(folder: Path) -> dict:
    with Store(folder / "recon.duckdb") as store:
        return store.query("SELECT * FROM runs ORDER BY started_at DESC LIMIT 1")[0]


def review_count(folder: Path, run_id: str) -> int:
    with Store(folder / "recon.duckdb") as store:
        return store.query("SELECT count(*) AS n FROM decisions WHERE run_id = ? "
                           "AND decision = 'review'", [run_id])[0]["n"]


def pending_items(folder: Path, run_id: str) -> list[int]:
    with Store(folder / "recon.duckdb") as store:
        rows = store.query("SELECT item_id FROM review_items WHERE run_id = ? "
                           "AND status = 'pending'", [run_id])
    assert rows
    return [r["item_id"] for r in rows]


# -- (a) the demo, end to end ----------------------------------------------------------------

def test_run_emails_the_report_as_text_html_and_csv(demo, monkeypatch, capsys):
    folder, _ = demo
    with smtp_server() as (mailbox, port):
        use_smtp(monkeypatch, port)
        code = main(["-vv", "run", "--config", str(folder / "recon.toml"), "--from",
                     WINDOW.start.isoformat(), "--to", WINDOW.end.isoformat(), "--email"])
    out, err = capsys.readouterr()
    assert code == 3  # the run's own exit code: sent, with exceptions to review

    [(recipients, message)] = mailbox.messages
    assert recipients == RECIPIENTS
    assert mailbox.logins == [("PLAIN", True)]
    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/csv"]
    run = stored_run(folder)
    reviews = review_count(folder, run["run_id"])
    assert reviews > 0
    window = f"{WINDOW.start:%d/%m/%Y} a {WINDOW.end:%d/%m/%Y}"
    assert message["Subject"].startswith(f"recon: {reviews} para revisar")
    assert message["Subject"].endswith(window)

    text, html, rows = parts_of(message)
    assert "Para revisar" in html and "Lançamentos do extrato sem parcela" in html
    assert "Para revisar (" in text and window in text
    for item_id in pending_items(folder, run["run_id"]):  # each numbered, with its command
        assert f"#{item_id}  " in text and f"recon approve {item_id}" in text
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert [r for r in rows if r["kind"] == "review"]
    report_dir = Path(run["report_path"]).parent
    on_disk = (report_dir / "exceptions.csv").read_text(encoding="utf-8")
    assert rows == list(csv.DictReader(io.StringIO(on_disk)))

    assert f"emailed to {', '.join(RECIPIENTS)}" in out
    assert "report emailed to 2 recipient(s)" in err  # the logs are in what we searched
    assert PASSWORD not in out + err


# -- (b) the two TLS modes, and the two AUTH mechanisms in clear -----------------------------

@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_plain_smtp_logs_in_with_each_mechanism(mechanism, tmp_path):
    other = "LOGIN" if mechanism == "PLAIN" else "PLAIN"
    with smtp_server(auth_exclude_mechanism=[other]) as (mailbox, port):
        notify.send_email(small_message(), settings(port, "none"))
    assert mailbox.logins == [(mechanism, True)]
    assert len(mailbox.messages) == 1


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_modes_verify_the_certificate_and_log_in(security, tmp_path, monkeypatch):
    cert, key = self_signed_certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    tls = ({"tls_context": server_tls, "require_starttls": True, "auth_require_tls": True}
           if security == "starttls" else {"ssl_context": server_tls})
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust our own CA, verify as in production
    with smtp_server(**tls) as (mailbox, port):
        notify.send_email(small_message(), settings(port, security))
    assert mailbox.logins == [("PLAIN", True)]
    assert len(mailbox.messages) == 1


def test_an_untrusted_certificate_is_refused_with_what_to_check(tmp_path, monkeypatch):
    cert, key = self_signed_certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
    with smtp_server(tls_context=server_tls, require_starttls=True,
                     auth_require_tls=True) as (mailbox, port), \
            pytest.raises(NotifyError) as caught:
        notify.send_email(small_message(), settings(port, "starttls"))
    assert f"127.0.0.1:{port}" in str(caught.value) and "certificate" in str(caught.value)
    assert mailbox.messages == [] and mailbox.logins == []


def small_message() -> EmailMessage:
    return notify.build_message(sample_context(), "<p>relatório</p>", "relatório", b"kind\n",
                                USER, RECIPIENTS, "recon: teste")


def settings(port: int, security: str) -> notify.EmailSettings:
    return notify.EmailSettings(host="127.0.0.1", port=port, security=security, sender=USER,
                                recipients=tuple(RECIPIENTS), username=USER, password=PASSWORD,
                                timeout=10)


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost: with `cryptography` if installed, else the
    openssl command; the test is skipped only when neither is there."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        _certificate_with_cryptography(cert, key)
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor the openssl command is available")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True)
    return cert, key


def _certificate_with_cryptography(cert: Path, key: Path) -> None:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


# -- (c) nothing to report: no email, unless email.always ------------------------------------

def clean_run(folder: Path) -> int:
    return recon(folder, "run", "--from", "2026-11-05", "--to", "2026-11-05", "--email")


@pytest.mark.parametrize("always", [False, True])
def test_a_clean_run_sends_no_email_unless_always(always, demo, monkeypatch, capsys):
    folder, _ = demo
    make_demo_clean(folder)
    with smtp_server() as (mailbox, port):
        use_smtp(monkeypatch, port, ALWAYS="true" if always else "false")
        assert clean_run(folder) == 0
    out = capsys.readouterr().out
    if not always:
        assert mailbox.messages == [] and mailbox.logins == []
        assert "nothing to report: no email sent" in out
        return
    [(_, message)] = mailbox.messages
    assert message["Subject"] == "recon: nada a revisar, 1 baixado — 05/11/2026"
    text, _, rows = parts_of(message)
    assert "Nada a revisar." in text
    # parcelas due without a payment are listed, but alone they are not worth an email
    assert {r["kind"] for r in rows} == {"unpaid_parcela"}


# -- (d) a refused login does not lose the run -----------------------------------------------

def test_a_refused_login_exits_1_and_keeps_the_run_and_its_report(demo, monkeypatch, capsys):
    folder, server = demo
    with smtp_server(Mailbox(accept_login=False)) as (mailbox, port):
        use_smtp(monkeypatch, port)
        assert recon_run(folder, "--email") == 1
    err = capsys.readouterr().err
    run = stored_run(folder)
    assert run["status"] == "succeeded" and run["exit_code"] == 3
    assert Path(run["report_path"]).is_file()
    assert f"report written to {run['report_path']} but the email could not be sent" in err
    assert f"SMTP server 127.0.0.1:{port} refused the login of '{USER}' (535" in err
    assert "check email.username and the password in RECON_EMAIL_PASSWORD" in err
    assert PASSWORD not in err
    assert mailbox.messages == []
    assert mailbox.logins and not any(ok for _, ok in mailbox.logins)  # smtplib tries each
    # the settlements were made all the same: delivery comes after the run
    assert any(e.method == "POST" for e in server.journal)


def test_an_unreachable_server_names_host_and_port(demo, monkeypatch, capsys):
    folder, _ = demo
    use_smtp(monkeypatch, free_port())  # nobody listens there
    assert recon_run(folder, "--email") == 1
    err = capsys.readouterr().err
    assert "could not talk to SMTP server 127.0.0.1:" in err and "check email.smtp_host" in err
    assert stored_run(folder)["status"] == "succeeded"


# -- (e) the chat webhook --------------------------------------------------------------------

class Receiver(BaseHTTPRequestHandler):
    posts: list[tuple[str, dict]]
    status = 200

    def do_POST(self) -> None:  # http.server's hook name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.posts.append((self.path, json.loads(body)))
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:  # quiet: the test reads `posts`
        pass


@contextmanager
def webhook_receiver(status: int = 200) -> Iterator[tuple[list, str]]:
    posts: list[tuple[str, dict]] = []
    handler = type("Handler", (Receiver,), {"posts": posts, "status": status})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield posts, f"http://127.0.0.1:{httpd.server_address[1]}/services/{WEBHOOK_TOKEN}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_notify_posts_the_headline_and_the_report_path(demo, monkeypatch, capsys):
    folder, _ = demo
    with webhook_receiver() as (posts, url):
        monkeypatch.setenv(notify.WEBHOOK_ENV, url)
        assert main(["-vv", "run", "--config", str(folder / "recon.toml"), "--from",
                     WINDOW.start.isoformat(), "--to", WINDOW.end.isoformat(), "--notify"]) == 3
    out, err = capsys.readouterr()
    run = stored_run(folder)
    [(path, payload)] = posts
    assert path == f"/services/{WEBHOOK_TOKEN}"
    reviews = review_count(folder, run["run_id"])
    assert f"Para revisar {reviews}" in payload["text"]
    assert "Lançamentos lidos 14" in payload["text"]
    assert run["report_path"] in payload["text"]
    fields = {f["text"].split("\n")[0].strip("*"): f["text"].split("\n")[1]
              for f in payload["blocks"][1]["fields"]}
    assert fields["Para revisar"] == str(reviews)
    assert "posted to the chat webhook" in out
    assert WEBHOOK_TOKEN not in out + err


def test_notify_links_the_served_report_and_a_refusal_exits_1(demo, monkeypatch, capsys):
    folder, _ = demo
    recon_run(folder)
    run_id = stored_run(folder)["run_id"]
    monkeypatch.setenv("RECON_NOTIFY_REPORT_BASE_URL", "https://relatorios.empresa.test/recon/")
    with webhook_receiver(status=404) as (posts, url):
        monkeypatch.setenv(notify.WEBHOOK_ENV, url)
        assert recon(folder, "report", "--notify") == 1
    [(_, payload)] = posts
    link = f"https://relatorios.empresa.test/recon/{run_id}/report.html"
    assert link in payload["text"] and f"<{link}|abrir relatório>" in json.dumps(
        payload["blocks"], ensure_ascii=False)
    err = capsys.readouterr().err
    assert "the chat notification could not be posted: the chat webhook answered 404" in err
    assert WEBHOOK_TOKEN not in err


# -- (f) recon report re-sends a stored run --------------------------------------------------

def test_report_rewrites_and_emails_a_stored_run(demo, monkeypatch, capsys):
    folder, _ = demo
    assert recon_run(folder) == 3
    first = stored_run(folder)
    Path(first["report_path"]).unlink()
    capsys.readouterr()
    with smtp_server() as (mailbox, port):
        use_smtp(monkeypatch, port)
        assert recon(folder, "report", first["run_id"], "--email") == 0
        assert recon(folder, "report", "--email") == 0  # without RUN_ID: the latest run
    out = capsys.readouterr().out
    assert Path(first["report_path"]).is_file()
    assert f"report: {first['report_path']}" in out
    assert len(mailbox.messages) == 2
    subjects = {message["Subject"] for _, message in mailbox.messages}
    assert len(subjects) == 1 and next(iter(subjects)).startswith("recon: ")
    for _, message in mailbox.messages:
        _, html, rows = parts_of(message)
        assert first["run_id"] in html
        assert {r["run_id"] for r in rows} == {first["run_id"]}


def test_report_of_an_unknown_run_is_a_usage_error(demo, capsys):
    folder, _ = demo
    assert recon(folder, "report", "20990101T000000-beef") == 2
    assert "no `recon run` with id '20990101T000000-beef'" in capsys.readouterr().err


# -- settings are checked before the run -----------------------------------------------------

def test_email_without_recipients_is_a_config_error_before_anything_runs(demo, monkeypatch,
                                                                         capsys):
    folder, server = demo
    use_smtp(monkeypatch, 25, RECIPIENTS="")
    assert recon_run(folder, "--email") == 2
    err = capsys.readouterr().err
    assert "--email needs whom to send the report to" in err and "email.recipients" in err
    assert server.journal == [] and not (folder / "recon.duckdb").exists()


def test_email_without_a_host_names_the_key(tmp_path, monkeypatch):
    monkeypatch.delenv("RECON_EMAIL_SMTP_HOST", raising=False)
    with pytest.raises(ConfigError, match=r"set email.smtp_host \(or RECON_EMAIL_SMTP_HOST\)"):
        notify.email_settings(load_config(None, environ={}), environ={})


def test_the_password_comes_from_a_0600_file_never_from_the_toml(tmp_path):
    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    secret.chmod(0o644)
    config = tmp_path / "recon.toml"
    config.write_text('[email]\nsmtp_host = "smtp.empresa.test"\nusername = "u@empresa.test"\n'
                      'recipients = "a@empresa.test"\npassword_file = "smtp-password"\n',
                      encoding="utf-8")
    with pytest.raises(ConfigError, match="chmod 600"):
        notify.email_settings(load_config(config, environ={}), environ={})
    secret.chmod(0o600)
    loaded = notify.email_settings(load_config(config, environ={}), environ={})
    assert loaded.password == PASSWORD and PASSWORD not in repr(loaded)
    assert loaded.sender == "u@empresa.test" and loaded.port == 587
    config.write_text('[email]\npassword = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="RECON_EMAIL_PASSWORD or email.password_file"):
        load_config(config, environ={})


def test_the_webhook_url_is_never_shown_even_when_wrong(tmp_path):
    with pytest.raises(ConfigError) as caught:
        notify.webhook_url(load_config(None, environ={}),
                           environ={notify.WEBHOOK_ENV: "hooks.slack.com/" + WEBHOOK_TOKEN})
    assert "https://" in str(caught.value) and WEBHOOK_TOKEN not in str(caught.value)


# -- pure content ----------------------------------------------------------------------------

@pytest.mark.parametrize(("counts", "expected"), [
    ({"review": 2, "unmatched": 3}, "recon: 2 para revisar, 3 sem parcela — 02/11/2026 a 06/11/2026"),
    ({"files_rejected": 1, "lines_rejected": 2, "write_errors": 1},
     "recon: 1 arquivo rejeitado, 2 linhas rejeitadas, 1 erro ao gravar — 02/11/2026 a 06/11/2026"),
    ({"settled": 4}, "recon: nada a revisar, 4 baixados — 02/11/2026 a 06/11/2026"),
], ids=["review-and-unmatched", "rejects-and-errors", "clean"])
def test_subject_says_what_needs_a_person(counts, expected):
    assert notify.subject(counts, date(2026, 11, 2), date(2026, 11, 6)) == expected
    assert notify.something_to_report(counts) == ("nada a revisar" not in expected)


def test_text_report_is_brazilian_and_fits_a_mail_client():
    context = sample_context(reason="sem parcela aberta " * 12)
    context["review"][0]["item_id"] = 7
    text = render_text(context)
    assert "#7  03/11/2026  R$ 1.234,56" in text
    assert "Proposta: Mensalidade – Ana & Cia · venc. 03/11/2026 · R$ 1.234,56" in text
    assert "x.ofx, linha 40: TRNAMT = “   .  ”: not an amount" in text
    assert "Itaú PJ: 04/11/2026 a 05/11/2026 · R$ 120,00" in text
    assert max(len(line) for line in text.splitlines()) <= WIDTH


def test_the_subject_and_the_chat_post_speak_the_report_language():
    counts = {"review": 2, "unmatched": 1, "settled": 8}
    assert notify.subject(counts, date(2026, 11, 2), date(2026, 11, 6), language="en") == (
        "recon: 2 to review, 1 with no parcela — 2026-11-02 to 2026-11-06")
    assert notify.subject({"settled": 1}, date(2026, 11, 5), date(2026, 11, 5),
                          dry_run=True) == "recon: nada a revisar, 1 baixado — 05/11/2026 (simulação)"
    context = {"language": "en", "counts": counts, "unpaid_parcelas": [],
               "run": {"window_from": date(2026, 11, 2), "window_to": date(2026, 11, 6)}}
    payload = notify.webhook_payload(context, "/srv/reports/r1/report.html")
    assert "To review 2" in payload["text"] and "Report: /srv/reports/r1/report.html" in payload["text"]


# -- (f) a failed run is not silent -----------------------------------------------------------

LOST_TOKEN = "rt-lost-after-a-rotation"


def lose_the_refresh_token(folder: Path) -> None:
    """The nightly run's most likely failure: Conta Azul no longer knows our refresh token."""
    from recon.contaazul.tokens import TokenFile, Tokens

    TokenFile(folder / "tokens.json").write(Tokens(refresh_token=LOST_TOKEN))


def test_a_failed_run_emails_and_posts_what_failed_and_what_to_do(demo, monkeypatch, capsys):
    folder, _ = demo
    lose_the_refresh_token(folder)
    with smtp_server() as (mailbox, port), webhook_receiver() as (posts, url):
        use_smtp(monkeypatch, port)
        monkeypatch.setenv(notify.WEBHOOK_ENV, url)
        code = main(["run", "--config", str(folder / "recon.toml"), "--from",
                     WINDOW.start.isoformat(), "--to", WINDOW.end.isoformat(), "--email",
                     "--notify"])
    out, err = capsys.readouterr()
    assert code == 1 and stored_run(folder)["status"] == "failed"
    [(recipients, message)] = mailbox.messages
    assert recipients == RECIPIENTS
    assert message["Subject"] == (f"recon: FALHOU — {WINDOW.start:%d/%m/%Y} a "
                                  f"{WINDOW.end:%d/%m/%Y}")
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "recon auth login" in body  # the error's own advice reaches the reader
    assert "rode `recon run` de novo" in body and "recon.log" in body
    [(_, payload)] = posts
    assert payload["text"].startswith("*recon: FALHOU") and "recon auth login" in payload["text"]
    assert "emailed the failure" in err and "posted the failure" in err
    for secret in (LOST_TOKEN, PASSWORD, WEBHOOK_TOKEN):
        assert secret not in body + payload["text"] + out + err


def test_a_failed_run_whose_alert_cannot_be_sent_still_exits_with_its_own_failure(
        demo, monkeypatch, capsys):
    folder, _ = demo
    lose_the_refresh_token(folder)
    use_smtp(monkeypatch, free_port())  # nobody listens there
    code = main(["run", "--config", str(folder / "recon.toml"), "--from",
                 WINDOW.start.isoformat(), "--to", WINDOW.end.isoformat(), "--email"])
    err = capsys.readouterr().err
    assert code == 1
    assert "the failure could not be emailed either" in err
    assert "run failed" in err and "recon auth login" in err


def test_a_run_stopped_by_another_running_recon_sends_no_alert(demo, monkeypatch, capsys):
    from recon.lock import company_lock

    folder, _ = demo
    with smtp_server() as (mailbox, port), company_lock(folder / "recon.duckdb", "recon run"):
        use_smtp(monkeypatch, port)
        code = main(["run", "--config", str(folder / "recon.toml"), "--from",
                     WINDOW.start.isoformat(), "--to", WINDOW.end.isoformat(), "--email"])
    assert code == 4 and mailbox.messages == []
