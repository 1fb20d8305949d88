"""Configuration: a TOML file, every key overridable by an environment variable.

Each setting is declared once below with its TOML path, its environment
variable and its default; the README's table is the same list. Secrets (the
client secret) are read only from the environment or from a 0600 file.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recon.errors import ConfigError
from recon.policy import Policy, parse_policy


@dataclass(frozen=True, slots=True)
class Setting:
    section: str
    key: str
    env: str
    default: Any
    kind: type
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("contaazul", "api_url", "RECON_CONTAAZUL_API_URL", "https://api-v2.contaazul.com", str,
            "Base URL of the Conta Azul API v2"),
    Setting("contaazul", "token_url", "RECON_CONTAAZUL_TOKEN_URL",
            "https://auth.contaazul.com/oauth2/token", str, "OAuth token endpoint"),
    Setting("contaazul", "authorize_url", "RECON_CONTAAZUL_AUTHORIZE_URL",
            "https://auth.contaazul.com/login", str, "Where `recon auth login` sends the browser"),
    Setting("contaazul", "redirect_uri", "RECON_CONTAAZUL_REDIRECT_URI",
            "http://127.0.0.1:8765/callback", str,
            "Loopback redirect URI registered for the app (`recon auth login` listens there)"),
    Setting("contaazul", "client_id", "RECON_CONTAAZUL_CLIENT_ID", "", str, "OAuth client id"),
    Setting("contaazul", "client_secret_file", "RECON_CONTAAZUL_CLIENT_SECRET_FILE", "", str,
            "0600 file holding the client secret (or set RECON_CONTAAZUL_CLIENT_SECRET)"),
    Setting("contaazul", "token_file", "RECON_CONTAAZUL_TOKEN_FILE", "tokens.json", str,
            "0600 file holding the rotating refresh token"),
    Setting("contaazul", "timeout_seconds", "RECON_CONTAAZUL_TIMEOUT_SECONDS", 30.0, float,
            "Timeout of each HTTP call"),
    Setting("contaazul", "max_concurrency", "RECON_CONTAAZUL_MAX_CONCURRENCY", 4, int,
            "Requests in flight at once"),
    Setting("contaazul", "requests_per_second", "RECON_CONTAAZUL_REQUESTS_PER_SECOND", 8.0, float,
            "Request starts per second (the API allows 10/s per connected company)"),
    Setting("contaazul", "requests_per_minute", "RECON_CONTAAZUL_REQUESTS_PER_MINUTE", 480.0, float,
            "Request starts per minute (the API allows 600/min per connected company)"),
    Setting("contaazul", "retry_attempts", "RECON_CONTAAZUL_RETRY_ATTEMPTS", 5, int,
            "Tries of a read (transport error, 429, 5xx) or of a write refused with 429"),
    Setting("contaazul", "retry_backoff_seconds", "RECON_CONTAAZUL_RETRY_BACKOFF_SECONDS", 0.5, float,
            "First retry delay; each next one is 4x longer, with ±20% jitter"),
    Setting("contaazul", "retry_max_delay_seconds", "RECON_CONTAAZUL_RETRY_MAX_DELAY_SECONDS", 8.0,
            float, "Longest wait between tries, Retry-After included"),
    Setting("settle", "annotate_parcela", "RECON_SETTLE_ANNOTATE_PARCELA", True, bool,
            "PATCH each settled parcela's nota with the reconciliation (costs 2 more requests each)"),
    Setting("statements", "inbox", "RECON_STATEMENTS_INBOX", "inbox", str,
            "Folder with the bank statement files"),
    Setting("statements", "csv_layout", "RECON_STATEMENTS_CSV_LAYOUT", "", str,
            "CSV layout to use when detection is ambiguous (a preset or one of csv_layouts)"),
    Setting("store", "path", "RECON_STORE", "recon.duckdb", str, "DuckDB store file"),
    Setting("store", "memory_limit", "RECON_STORE_MEMORY_LIMIT", "2GB", str,
            "Memory DuckDB may use before it spills to a .tmp folder beside the store (e.g. 1GB, 512MB)"),
    Setting("report", "dir", "RECON_REPORT_DIR", "reports", str,
            "Folder where each run's report is written"),
    Setting("report", "language", "RECON_REPORT_LANGUAGE", "pt", str,
            "Language of the report, its email and exceptions.csv reasons: pt or en"),
    Setting("report", "max_rows", "RECON_REPORT_MAX_ROWS", 500, int,
            "Rows the report page (and its email) shows per section; exceptions.csv has all"),
    Setting("schedule", "max_catch_up_days", "RECON_SCHEDULE_MAX_CATCH_UP_DAYS", 31, int,
            "`recon run` without dates covers every day since the last successful run, at most "
            "this many"),
    Setting("log", "file", "RECON_LOG_FILE", "recon.log", str,
            "Log file (INFO and up, whatever -q says), rotated by size; empty for none"),
    Setting("log", "max_bytes", "RECON_LOG_MAX_BYTES", 5_000_000, int,
            "Size at which the log file is rotated"),
    Setting("log", "backups", "RECON_LOG_BACKUPS", 5, int, "Rotated log files kept"),
    Setting("matching", "due_window_before_days", "RECON_MATCHING_DUE_WINDOW_BEFORE_DAYS", 60, int,
            "Parcelas due up to this many days before a bank line are candidates"),
    Setting("matching", "due_window_after_days", "RECON_MATCHING_DUE_WINDOW_AFTER_DAYS", 10, int,
            "Parcelas due up to this many days after a bank line are candidates"),
    Setting("matching", "amount_tolerance_pct", "RECON_MATCHING_AMOUNT_TOLERANCE_PCT", 5.0, float,
            "Amount band (%) searched for late fees, discounts and rounding"),
    Setting("matching", "max_candidates", "RECON_MATCHING_MAX_CANDIDATES", 25, int,
            "Candidate parcelas kept per bank line (best weights first)"),
    Setting("matching", "hot_block", "RECON_MATCHING_HOT_BLOCK", 20, int,
            "Parcelas of one amount and week, or explaining one line's late/early amount, "
            "beyond which the line must name its payer"),
    Setting("matching", "auto_probability", "RECON_MATCHING_AUTO_PROBABILITY", 0.99, float,
            "Match probability at or above which a match may settle automatically"),
    Setting("matching", "review_probability", "RECON_MATCHING_REVIEW_PROBABILITY", 0.30, float,
            "Match probability at or above which a match is proposed for review"),
    Setting("matching", "min_margin_bits", "RECON_MATCHING_MIN_MARGIN_BITS", 4.0, float,
            "Lead (log2 odds) the best match needs over any rival to settle automatically"),
    Setting("matching", "batch_search_seconds", "RECON_MATCHING_BATCH_SEARCH_SECONDS", 5.0, float,
            "Search budget for batch credits (boletos, card payouts) per run, in seconds of a "
            "2-core machine counted as work, so a rerun decides the same whatever the load; "
            "lines not reached are reported as not searched"),
    Setting("matching", "multa_pct", "RECON_MATCHING_MULTA_PCT", 2.0, float,
            "Late-payment fine (%) the company charges, to explain late amounts"),
    Setting("matching", "juros_month_pct", "RECON_MATCHING_JUROS_MONTH_PCT", 1.0, float,
            "Late-payment interest (% a month, pro rata die), to explain late amounts"),
    Setting("email", "smtp_host", "RECON_EMAIL_SMTP_HOST", "", str,
            "SMTP server the report is sent through (`--email`)"),
    Setting("email", "smtp_port", "RECON_EMAIL_SMTP_PORT", 587, int,
            "SMTP port (587 for starttls, 465 for ssl)"),
    Setting("email", "security", "RECON_EMAIL_SECURITY", "starttls", str,
            "starttls, ssl (TLS from the first byte) or none (loopback relays only)"),
    Setting("email", "username", "RECON_EMAIL_USERNAME", "", str,
            "SMTP login; empty for a relay that needs none"),
    Setting("email", "password_file", "RECON_EMAIL_PASSWORD_FILE", "", str,
            "0600 file holding the SMTP password (or set RECON_EMAIL_PASSWORD)"),
    Setting("email", "sender", "RECON_EMAIL_SENDER", "", str,
            "From address of the report (default: the username)"),
    Setting("email", "recipients", "RECON_EMAIL_RECIPIENTS", "", str,
            "Comma-separated addresses the report is sent to"),
    Setting("email", "always", "RECON_EMAIL_ALWAYS", False, bool,
            "Send the email even when there is nothing to report"),
    Setting("email", "timeout_seconds", "RECON_EMAIL_TIMEOUT_SECONDS", 30.0, float,
            "Timeout of each SMTP operation"),
    Setting("notify", "webhook_url_file", "RECON_NOTIFY_WEBHOOK_URL_FILE", "", str,
            "0600 file holding the chat webhook URL (or set RECON_NOTIFY_WEBHOOK_URL)"),
    Setting("notify", "report_base_url", "RECON_NOTIFY_REPORT_BASE_URL", "", str,
            "Where the report folder is served; notifications link `<url>/<run id>/report.html`"),
    Setting("notify", "timeout_seconds", "RECON_NOTIFY_TIMEOUT_SECONDS", 10.0, float,
            "Timeout of the chat webhook call"),
)


# Secrets someone might try to write in the TOML file, and where they belong instead.
_SECRETS_OUTSIDE_THE_FILE = {
    ("email", "password"): "RECON_EMAIL_PASSWORD or email.password_file (a 0600 file)",
    ("notify", "webhook_url"): "RECON_NOTIFY_WEBHOOK_URL or notify.webhook_url_file (a 0600 file)",
}


def settings_table() -> str:
    """The README's table of settings, made from SETTINGS (a test keeps the README in step)."""
    rows = ["| TOML key | Environment variable | Default | Meaning |", "|---|---|---|---|"]
    rows += [f"| `{s.section}.{s.key}` | `{s.env}` | `{s.default}` | {s.help} |" for s in SETTINGS]
    return "\n".join(rows)


@dataclass(frozen=True, slots=True)
class AccountMapping:
    """Ties statement files to a Conta Azul conta financeira when the file cannot say."""

    conta_financeira_id: str
    files: str = ""  # glob on the file name, e.g. "itau-*.ofx"
    bank_code: str | None = None
    branch: str | None = None
    number: str | None = None


@dataclass(frozen=True)
class Config:
    values: Mapping[str, Any]
    accounts: tuple[AccountMapping, ...] = ()
    base_dir: Path = field(default_factory=Path.cwd)
    source: str = "defaults"
    secret_from_env: str | None = field(default=None, repr=False)  # never shown in a repr
    csv_layout_tables: Mapping[str, Any] = field(default_factory=dict)  # [statements.csv_layouts.X]
    policy: Policy = field(default_factory=Policy)  # [policy]: what may settle without a person

    def get(self, dotted: str) -> Any:
        return self.values[dotted]

    def path(self, dotted: str) -> Path:
        """A path setting, relative paths taken from the config file's folder."""
        raw = Path(os.path.expanduser(str(self.values[dotted])))
        return raw if raw.is_absolute() else self.base_dir / raw

    def client_secret(self) -> str:
        if self.secret_from_env:
            return self.secret_from_env
        secret_file = self.values["contaazul.client_secret_file"]
        if not secret_file:
            raise ConfigError(
                "no Conta Azul client secret: set RECON_CONTAAZUL_CLIENT_SECRET or "
                "contaazul.client_secret_file (a 0600 file)",
                key="contaazul.client_secret_file",
                source=self.source,
            )
        return read_secret_file(self.path("contaazul.client_secret_file"))


def read_secret_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise ConfigError(f"secret file {path} does not exist") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"secret file {path} is readable by others: run chmod 600 {path}")
    return path.read_text(encoding="utf-8").strip()


def load_config(path: Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Defaults, then the TOML file, then the environment (highest)."""
    env = os.environ if environ is None else environ
    document: dict[str, Any] = {}
    base_dir = Path.cwd()
    source = "defaults"
    if path is not None:
        document = _read_toml(path)
        base_dir = path.resolve().parent
        source = str(path)
    values = {f"{s.section}.{s.key}": _resolve(s, document, env, source) for s in SETTINGS}
    _check_unknown_keys(document, source)
    _check_choices(values, source)
    accounts = tuple(_account(entry, source) for entry in document.get("accounts", []))
    tables = document.get("statements", {}).get("csv_layouts", {})
    return Config(values=values, accounts=accounts, base_dir=base_dir, source=source,
                  csv_layout_tables=tables, policy=parse_policy(document.get("policy", {}), source),
                  secret_from_env=env.get("RECON_CONTAAZUL_CLIENT_SECRET") or None)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist; run `recon demo` for an example") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _resolve(setting: Setting, document: dict[str, Any], env: Mapping[str, str], source: str) -> Any:
    if setting.env in env:
        return _coerce(setting, env[setting.env], f"environment {setting.env}")
    section = document.get(setting.section, {})
    if setting.key in section:
        return _coerce(setting, section[setting.key], source)
    return setting.default


def _coerce(setting: Setting, raw: Any, where: str) -> Any:
    dotted = f"{setting.section}.{setting.key}"
    try:
        if setting.kind is bool and isinstance(raw, str):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        return setting.kind(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{raw!r} is not a valid {setting.kind.__name__}", key=dotted, source=where
        ) from exc


# Settings that take one of a few words; anything else would fail later, far from the config.
CHOICES = {"report.language": ("pt", "en")}


# Counts that make no sense below one (a report showing no row of a section).
AT_LEAST_ONE = ("report.max_rows",)


def _check_choices(values: Mapping[str, Any], source: str) -> None:
    for dotted, allowed in CHOICES.items():
        if values[dotted] not in allowed:
            raise ConfigError(f"{values[dotted]!r} is not one of {', '.join(allowed)}",
                              key=dotted, source=source)
    for dotted in AT_LEAST_ONE:
        if values[dotted] < 1:
            raise ConfigError(f"{values[dotted]!r} must be 1 or more", key=dotted, source=source)


def _check_unknown_keys(document: dict[str, Any], source: str) -> None:
    known = {(s.section, s.key) for s in SETTINGS}
    for section, body in document.items():
        if section in ("accounts", "policy"):
            continue  # checked by their own parsers
        if not isinstance(body, dict):
            raise ConfigError("expected a [section] table", key=section, source=source)
        for key in body:
            if (section, key) == ("statements", "csv_layouts"):
                continue  # the user's own CSV layouts, checked when they are built
            if (section, key) not in known:
                if section == "contaazul" and key == "client_secret":
                    raise ConfigError(
                        "the client secret must not be written in the config file; use "
                        "RECON_CONTAAZUL_CLIENT_SECRET or client_secret_file",
                        key="contaazul.client_secret", source=source)
                if (section, key) in _SECRETS_OUTSIDE_THE_FILE:
                    raise ConfigError(
                        "this secret must not be written in the config file; use "
                        f"{_SECRETS_OUTSIDE_THE_FILE[(section, key)]}",
                        key=f"{section}.{key}", source=source)
                raise ConfigError("unknown setting (typo?)", key=f"{section}.{key}", source=source)


def _account(entry: dict[str, Any], source: str) -> AccountMapping:
    if "conta_financeira_id" not in entry:
        raise ConfigError("each [[accounts]] entry needs conta_financeira_id", key="accounts",
                          source=source)
    return AccountMapping(
        conta_financeira_id=str(entry["conta_financeira_id"]),
        files=str(entry.get("files", "")),
        bank_code=_opt_str(entry.get("bank_code")),
        branch=_opt_str(entry.get("branch")),
        number=_opt_str(entry.get("number")),
    )


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
