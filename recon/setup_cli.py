"""`recon init` (a commented starter config) and `recon check` (is this install ready?).

`check` runs each check on its own and says, for each failure, what to do; it never writes
to Conta Azul and never prints a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recon.config import SETTINGS, Config, load_config
from recon.errors import ConfigError, ReconError
from recon.pipeline import EXIT_FAILED, EXIT_OK, EXIT_USAGE, build_client, statement_options
from recon.sources.inbox import InboxResult

FORMATTER = argparse.RawDescriptionHelpFormatter
# Sections a new install edits; the rest keep their defaults, shown commented out.
_SECTIONS_TO_FILL = {"contaazul.client_id", "contaazul.client_secret_file", "statements.inbox",
                     "email.recipients", "email.smtp_host"}


def add_setup_commands(commands: argparse._SubParsersAction) -> None:
    init = commands.add_parser(
        "init", help="write a commented starter config and check it",
        description="Write a starter recon.toml: every setting with its default and meaning, "
                    "the ones to fill in first uncommented.",
        epilog="example: recon init --config /srv/recon/empresa/recon.toml", formatter_class=FORMATTER)
    init.add_argument("--config", type=Path, default=Path("recon.toml"), help="file to write")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=_init_command)
    check = commands.add_parser(
        "check", help="check the config, the secrets, the store, the inbox and Conta Azul",
        description="Check that a nightly run can work: config valid, client secret readable, "
                    "store writable, inbox readable, Conta Azul reachable, every statement "
                    "account mapped to a conta financeira. Writes nothing to Conta Azul.",
        epilog="example: recon check --config recon.toml", formatter_class=FORMATTER)
    check.add_argument("--config", type=Path, default=Path("recon.toml"), help="TOML config file")
    check.set_defaults(handler=_check_command)


# -- init ----------------------------------------------------------------------------------

def starter_config() -> str:
    """Every setting, grouped by section, with its meaning; defaults commented out."""
    lines = ["# recon configuration. Every key can also be set by the environment variable",
             "# named beside it (the environment wins). Secrets never go in this file.", ""]
    section = None
    for s in SETTINGS:
        if s.section != section:
            section = s.section
            lines += ["", f"[{section}]"]
        dotted = f"{s.section}.{s.key}"
        prefix = "" if dotted in _SECTIONS_TO_FILL else "# "
        lines.append(f"# {s.help} ({s.env})")
        lines.append(f"{prefix}{s.key} = {_toml_value(s.default)}")
    lines += ["", "# Tie a statement file to a conta financeira when its bank, branch and number",
              "# do not identify it (see README, Configuration).",
              "# [[accounts]]", '# files = "itau-*.ofx"', '# conta_financeira_id = "..."',
              "", "# What may settle without a person (see README, People in control).",
              "# [policy]", '# auto_max_amount = "5000.00"', "# max_lag_days = 45",
              '# never_contacts = ["12.345.678/0001-90"]', '# never_categories = ["Empréstimos"]', ""]
    return "\n".join(lines)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _init_command(args: argparse.Namespace) -> int:
    path: Path = args.config
    if path.exists() and not args.force:
        print(f"recon: {path} exists; use --force to overwrite it")
        return EXIT_USAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(starter_config(), encoding="utf-8")
    load_config(path, environ={})  # what we wrote must load: a broken template is our bug
    print(f"wrote {path}. Next: set contaazul.client_id and the secret file, then")
    print(f"  recon auth login --config {path}")
    print(f"  recon check --config {path}")
    return EXIT_OK


# -- check ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def _check_command(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"FAIL config: {exc}")
        return EXIT_USAGE
    probe = _Probe(config)
    results = [Check("config", True, f"{config.source} is valid")]
    results += [_safely(name, lambda run_check=run_check: run_check(probe))
                for name, run_check in CHECKS]
    for result in results:
        print(f"{'ok  ' if result.ok else 'FAIL'} {result.name}: {result.detail}")
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def _safely(name: str, run_check: Callable[[], str]) -> Check:
    try:
        return Check(name, True, run_check())
    except (ReconError, OSError) as exc:
        return Check(name, False, str(exc))


class _Probe:
    """What the checks look at, each fetched once: the accounts check needs both the parsed
    inbox and Conta Azul's contas, which their own checks already read (a failure is kept
    too, so an unreachable Conta Azul costs its retries once)."""

    def __init__(self, config: Config):
        self.config = config
        self._found: dict[str, Any] = {}

    def inbox(self) -> InboxResult:
        from recon.sources.inbox import read_inbox

        return self._once("inbox", lambda: read_inbox(self.config.path("statements.inbox"),
                                                      statement_options(self.config)))

    def conta_azul(self) -> tuple[list, dict]:
        return self._once("conta_azul", lambda: asyncio.run(_pull_contas(self.config)))

    def _once(self, name: str, fetch: Callable[[], Any]) -> Any:
        if name not in self._found:
            try:
                self._found[name] = fetch()
            except (ReconError, OSError) as exc:
                self._found[name] = exc
        found = self._found[name]
        if isinstance(found, Exception):
            raise found
        return found


def _secret(probe: _Probe) -> str:
    probe.config.client_secret()
    return "client secret readable (value not shown)"


def _store(probe: _Probe) -> str:
    path = probe.config.path("store.path")
    folder = path.parent
    if not folder.exists():
        return f"{folder} will be created on the first run"
    if not os.access(folder, os.W_OK):
        raise ReconError(f"cannot write in {folder}: give the user running recon write access")
    return f"{path} can be written"


def _inbox(probe: _Probe) -> str:
    inbox = probe.inbox()
    lines = sum(len(f.lines) for f in inbox.files)
    text = f"{len(inbox.files)} statement files, {lines} lines"
    if inbox.rejects:
        raise ReconError(f"{text}; {len(inbox.rejects)} files cannot be read: "
                         + "; ".join(f"{r.file}: {r.reason}" for r in inbox.rejects[:3]))
    return text


def _conta_azul(probe: _Probe) -> str:
    contas, company = probe.conta_azul()
    name = company.get("razao_social") or company.get("nome_fantasia") or "?"
    return f"connected to {name}; {len(contas)} contas financeiras"


async def _pull_contas(config: Config) -> tuple[list, dict]:
    from recon.contaazul import api

    async with build_client(config) as client:
        return await api.contas_financeiras(client), await api.connected_company(client)


def _accounts(probe: _Probe) -> str:
    from recon.ingest import contas_of

    contas, _ = probe.conta_azul()
    mapped, problems = 0, []
    for statement in probe.inbox().files:
        try:
            mapped += len(contas_of(statement, contas, probe.config))
        except ReconError as exc:
            problems.append(str(exc))
    if problems:
        raise ReconError("; ".join(problems[:3]))
    return f"{mapped} statement accounts tied to a conta financeira"


CHECKS: tuple[tuple[str, Callable[[_Probe], str]], ...] = (
    ("client secret", _secret),
    ("store", _store),
    ("inbox", _inbox),
    ("Conta Azul", _conta_azul),
    ("accounts", _accounts),
)
